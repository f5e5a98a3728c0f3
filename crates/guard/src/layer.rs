//! The tower layer. Accepted requests carry the [`crate::AccessToken`] as a request extension
//! (for handlers) and a response extension (for outer layers); refused ones a [`crate::Denied`]
//! response extension. Works with axum (`Router::layer(GuardLayer::new(guard))`) and any tower
//! stack whose inner service answers with something that converts into an axum response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Denied, Guard, Reason};

#[derive(Clone)]
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    pub fn new(guard: Guard) -> GuardLayer {
        GuardLayer { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            guard: self.guard.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    guard: Guard,
    inner: S,
}

/// `Authorization: Bearer <token>` (scheme case-insensitive), nothing else.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let status = match self.reason {
            Reason::FeedStale => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let code = self.reason.as_str();
        let mut resp = (
            status,
            Json(serde_json::json!({ "error": code, "message": message(self.reason) })),
        )
            .into_response();
        // RFC 6750 s3: the error code is a fixed token from our closed set.
        let challenge = if status == StatusCode::UNAUTHORIZED && self.reason != Reason::MissingToken {
            format!("Bearer error=\"invalid_token\", error_description=\"{code}\"")
        } else {
            "Bearer".to_owned()
        };
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp.extensions_mut().insert(self);
        resp
    }
}

fn message(r: Reason) -> &'static str {
    match r {
        Reason::MissingToken => "a bearer access token is required",
        Reason::Token(_) => "the access token was refused",
        Reason::TokenRevoked | Reason::SessionRevoked | Reason::UserRevoked => "the access token was revoked",
        Reason::FeedStale => "revocation state is unavailable; try again later",
    }
}

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that is called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            match guard.check(bearer(req.headers())).await {
                Ok(token) => {
                    req.extensions_mut().insert(token.clone());
                    let mut resp = inner.call(req).await?.into_response();
                    // Outer layers (access logs, activity recorders) learn who was served.
                    resp.extensions_mut().insert(token);
                    Ok(resp)
                }
                Err(denied) => Ok(denied.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_authorization_yields_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
    }
}
