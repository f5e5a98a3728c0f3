//! gatehouse-authd: the reference auth server the console runs against out of the box and the
//! target of the end-to-end tests.
//!
//! It is deliberately a *real* server — argon2id passwords, TOTP, EdDSA JWTs from
//! `gatehouse-jwt`, rotating refresh tokens, SQLite — because Gatehouse exists to contain stolen
//! sessions, and the console can only be trusted if what it verifies (revocation effective on
//! the next request, activity for every call, residual exposure) is really enforced somewhere.
//!
//! Map: [`state`] builds the shared state; [`http`] is the router; [`sessions`] and
//! [`revocation`] hold the containment logic; [`activity`] records API use off the request path;
//! [`keys`] owns signing keys and verifiers.

pub mod activity;
pub mod admin_clients;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod keys;
pub mod mfa;
pub mod ratelimit;
pub mod revocation;
pub mod secrets;
pub mod sessions;
pub mod state;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::Config;
pub use state::AppState;

/// A running authd: state, activity writer and housekeeping.
pub struct Server {
    state: AppState,
    writer: activity::Writer,
    housekeeping: JoinHandle<()>,
}

impl Server {
    /// Opens the database and loads keys and revocations. Does not listen yet.
    pub async fn open(config: Config) -> anyhow::Result<Server> {
        let (state, writer) = AppState::open(config).await?;
        let housekeeping = tokio::spawn(housekeeping(state.clone()));
        Ok(Server {
            state,
            writer,
            housekeeping,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    /// Serves until `shutdown` completes, then drains connections and flushes activity.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.router();
        let stop = self.state.shutdown.clone();
        let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.send_replace(true);
            })
            .await;
        self.close().await;
        result.map_err(Into::into)
    }

    /// Flushes recorded activity and closes the database.
    pub async fn close(self) {
        self.housekeeping.abort();
        self.state.shutdown.send_replace(true);
        self.state.recorder.flush().await;
        let pool = self.state.db.clone();
        drop(self.state);
        // Everything recorded so far is on disk (flush above). The writer itself ends once every
        // recorder handle is gone; a handle still held elsewhere (an embedding test, a stream
        // being torn down) must not hold shutdown hostage.
        let _ = tokio::time::timeout(Duration::from_millis(200), self.writer.join()).await;
        pool.close().await;
        tracing::info!("gatehouse-authd stopped");
    }
}

/// Every 30 s: prune expired revocations, reload keys (CLI rotation, retired-key expiry).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.revocations.prune(&state.db, state.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(pruned = n, "expired revocations pruned"),
            Err(e) => tracing::warn!(error = %e, "revocation pruning failed"),
        }
        if let Err(e) = state.keys.reload(&state.db).await {
            tracing::warn!(error = %e, "key reload failed");
        }
    }
}
