//! A second, independent resource server for the demo: a few lines of axum behind
//! `gatehouse-guard`. It shares nothing with authd's request path: it fetches authd's JWKS
//! and follows the revocation feed over HTTP like any third-party API would, so when the
//! console revokes a stolen session, the thief's next call here is refused by the guard.
//!
//! Its decisions become activity rows in authd's store so the console sees them: path
//! `/rs/...` (the server's own routes), the guard's status and denial reason, and the caller
//! as the guard identified it (recorded even when the token was refused for revocation).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use gatehouse_guard::{AccessToken, Denied, Guard, GuardConfig, GuardLayer};
use serde_json::json;

use crate::activity::Activity;
use crate::config::API_AUDIENCE;
use crate::state::AppState;

/// Path prefix of every route of the resource server (how the console tells its rows apart).
pub const PREFIX: &str = "/rs";

/// A running resource server.
pub struct ResourceServer {
    pub base: String,
    pub guard: Guard,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        self.guard.stop();
        self.task.abort();
    }
}

/// Starts it on a free loopback port, verifying tokens of the authd at `authd_base` (whose
/// state records the decisions), on authd's clock so the demo's simulated time holds here too.
pub async fn start(state: AppState, authd_base: &str) -> anyhow::Result<ResourceServer> {
    let mut config = GuardConfig::for_authd(authd_base, &state.config.issuer, API_AUDIENCE);
    let clock = state.config.clock.clone();
    config.clock = Arc::new(move || clock.now());
    config.policy.max_lifetime_secs = Some(state.config.access_ttl.as_secs().max(60));
    let guard = Guard::start(config)
        .await
        .map_err(|e| anyhow::anyhow!("resource server guard: {e}"))?;
    let app = Router::new()
        .route(
            "/rs/reports",
            get(|Extension(t): Extension<AccessToken>| async move {
                Json(json!({ "owner": t.sub, "reports": ["q3-revenue", "q4-plan"] }))
            }),
        )
        .layer(GuardLayer::new(guard.clone()))
        .layer(middleware::from_fn_with_state(state, record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "demo resource server stopped");
        }
    });
    tracing::info!(%base, "demo resource server (gatehouse-guard) listening");
    Ok(ResourceServer { base, guard, task })
}

/// The simulated client address: `X-Forwarded-For` from a loopback peer (the demo's own
/// clients), else the peer.
fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !peer.is_loopback() {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next_back())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

async fn record(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let at_ms = state.now_ms();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(peer, req.headers());
    let user_agent = req
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let resp = next.run(req).await;
    let (token, reason) = match resp.extensions().get::<Denied>() {
        Some(d) => (d.token.clone(), Some(d.reason.as_str().to_owned())),
        None => (resp.extensions().get::<AccessToken>().cloned(), None),
    };
    let status = resp.status();
    state.recorder.record(Activity {
        at_ms,
        user_id: token.as_ref().and_then(|t| t.sub.parse().ok()),
        session_id: token.as_ref().and_then(|t| t.sid.clone()),
        jti: token.as_ref().map(|t| t.jti.clone()),
        client_ip: ip.to_string(),
        user_agent,
        method,
        path,
        status: status.as_u16(),
        denial_reason: reason.or_else(|| (!status.is_success()).then(|| format!("http_{}", status.as_u16()))),
        sensitive: false,
    });
    resp
}
