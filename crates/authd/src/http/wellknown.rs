//! Health, JWKS and discovery: the unauthenticated documents clients bootstrap from.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{ADMIN_AUDIENCE, API_AUDIENCE};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut resp = Json(state.keys.jwks()).into_response();
    // Short: a rotated-in key must reach resource servers quickly.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}

async fn discovery(State(state): State<AppState>) -> Json<Value> {
    let iss = state.keys.issuer();
    Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/auth/login"),
        "refresh_endpoint": format!("{iss}/auth/refresh"),
        "end_session_endpoint": format!("{iss}/auth/logout"),
        "revocation_feed_endpoint": format!("{iss}/revocations"),
        "revocation_stream_endpoint": format!("{iss}/revocations/stream"),
        "admin_token_endpoint": format!("{iss}/admin/v1/token"),
        "admin_openapi": format!("{iss}/admin/v1/openapi.json"),
        "userinfo_endpoint": format!("{iss}/api/me"),
        "response_types_supported": ["token"],
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "access_token_audiences": { "api": API_AUDIENCE, "admin": ADMIN_AUDIENCE },
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "scope", "amr"],
        "scopes_supported": crate::sessions::USER_SCOPE.split(' ').collect::<Vec<_>>(),
        "amr_values_supported": ["pwd", "otp", "mfa"],
    }))
}
