//! The HTTP surface: one router, shared extractors and the layers every route gets.
//!
//! Layers, outermost first: error bodies normalised to JSON (framework rejections included),
//! header-size bound (431), body-size bound (413, tower-http), client-IP resolution. `/api` and
//! `/admin/v1` add their own guards. No layer logs headers or bodies: tokens and passwords
//! travel in them.

pub mod admin;
pub mod api;
pub mod auth;
pub mod feed;
pub mod wellknown;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;

use crate::error::ApiError;
use crate::state::AppState;

/// Builds the complete router for a state.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(wellknown::routes())
        .merge(auth::routes())
        .merge(feed::routes())
        .nest("/api", api::routes(state.clone()))
        .nest("/admin/v1", admin::routes(state.clone()))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(state.clone(), resolve_client))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), bound_headers))
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// The client as authd sees it: socket peer, or `X-Forwarded-For` through trusted proxies.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

async fn resolve_client(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ip = client_ip(peer, req.headers(), &state.config.trusted_proxies);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    req.extensions_mut().insert(Client { ip, user_agent });
    next.run(req).await
}

/// Walks `X-Forwarded-For` from the right while hops are trusted proxies; the first untrusted
/// hop is the client. Only consulted when the socket peer itself is trusted.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(s) = value.to_str() else {
            return peer;
        };
        for part in s.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    client
}

async fn bound_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let size: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if size > state.config.max_header_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers exceed {} bytes", state.config.max_header_bytes),
        )
        .into_response();
    }
    next.run(req).await
}

/// Gives every error response the `{"error","message"}` shape, including rejections produced
/// by axum or tower-http with a plain-text or empty body.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = status.canonical_reason().unwrap_or("error");
    let (mut parts, _) = resp.into_parts();
    let fresh = ApiError::new(status, code, message).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in &fresh_parts.headers {
        parts.headers.insert(k, v.clone());
    }
    parts.extensions.extend(fresh_parts.extensions);
    Response::from_parts(parts, body)
}

/// `Json<T>` whose rejections are JSON errors: 400 for malformed JSON or wrong fields, 413 for
/// an oversized body, 415 for a missing content type.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "request body is not valid JSON",
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        ),
        other => ApiError::new(other.status(), "invalid_request", other.body_text()),
    }
}

/// A body accepted as JSON or as `application/x-www-form-urlencoded` (OAuth-style token calls).
pub struct FormOrJson<T>(pub T);

impl<S, T> FromRequest<S> for FormOrJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            match axum::Form::<T>::from_request(req, state).await {
                Ok(axum::Form(v)) => Ok(FormOrJson(v)),
                Err(FormRejection::FailedToDeserializeForm(_))
                | Err(FormRejection::FailedToDeserializeFormBody(_)) => {
                    Err(ApiError::bad_request("form body is missing fields or malformed"))
                }
                Err(other) if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body too large",
                )),
                Err(other) => Err(ApiError::new(
                    other.status(),
                    "invalid_request",
                    other.body_text(),
                )),
            }
        } else {
            JsonBody::<T>::from_request(req, state)
                .await
                .map(|JsonBody(v)| FormOrJson(v))
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn xff_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let trusted = vec!["127.0.0.1".parse().unwrap()];
        assert_eq!(client_ip(peer, &xff("203.0.113.7"), &trusted), peer);
    }

    #[test]
    fn xff_through_trusted_proxies_yields_first_untrusted_hop() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = vec![lo, "10.0.0.1".parse().unwrap()];
        assert_eq!(
            client_ip(lo, &xff("198.51.100.1, 203.0.113.7, 10.0.0.1"), &trusted),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(lo, &HeaderMap::new(), &trusted), lo);
        assert_eq!(client_ip(lo, &xff("not-an-ip"), &trusted), lo);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
