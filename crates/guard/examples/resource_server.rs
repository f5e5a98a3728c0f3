//! A resource server protected by `gatehouse-guard`: a few lines of axum.
//!
//! ```text
//! cargo run -p gatehouse-guard --example resource_server -- http://127.0.0.1:8700 127.0.0.1:8800
//! ```
//! Arguments: authd's base URL (also its issuer), the address to listen on. `GUARD_FAIL_OPEN=1`
//! keeps serving when the revocation feed is stale. `GET /metrics` (unguarded) shows the counters.

use axum::routing::get;
use axum::{Extension, Json, Router};
use gatehouse_guard::{AccessToken, FailMode, Guard, GuardConfig, GuardLayer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut args = std::env::args().skip(1);
    let authd = args.next().unwrap_or_else(|| "http://127.0.0.1:8700".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8800".into());
    let mut config = GuardConfig::for_authd(&authd, &authd, "gatehouse-api");
    if std::env::var("GUARD_FAIL_OPEN").is_ok_and(|v| v == "1") {
        config.fail_mode = FailMode::Open;
    }
    let guard = Guard::start(config).await?;
    let metrics = guard.clone();
    let app = Router::new()
        .route(
            "/rs/reports",
            get(|Extension(t): Extension<AccessToken>| async move {
                Json(serde_json::json!({ "owner": t.sub, "reports": ["q3-revenue", "q4-plan"] }))
            }),
        )
        .layer(GuardLayer::new(guard))
        .route(
            "/metrics",
            get(move || async move { metrics.metrics().to_prometheus() }),
        );
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, %authd, "resource server up");
    axum::serve(listener, app).await?;
    Ok(())
}
