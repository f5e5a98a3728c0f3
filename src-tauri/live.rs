//! Live mode: while the window is open, sync and detect periodically (backing off on errors),
//! tell the UI with a `LiveUpdate` event, and raise a desktop notification when findings become
//! high or critical. The work itself is `Console::sync_and_detect`; each tick also pushes the
//! Shared Signals outbox's due SETs (`Console::ssf_deliver_pending`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_core::Console;
use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;
use tauri_specta::Event;

use crate::IpcError;
use crate::commands::console::SyncOutcome;

/// The result of one background sync.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct LiveUpdate {
    pub at: DateTime<Utc>,
    pub outcome: Option<SyncOutcome>,
    pub error: Option<IpcError>,
    /// When the next background sync runs.
    pub next_in_secs: u32,
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);

fn interval() -> Duration {
    let secs = std::env::var("GATEHOUSE_LIVE_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30)
        .clamp(2, 3600);
    Duration::from_secs(secs)
}

/// Starts the loop on Tauri's async runtime; it ends with the app.
pub fn spawn<R: Runtime>(app: AppHandle<R>, console: Arc<Console>) {
    tauri::async_runtime::spawn(async move {
        let every = interval();
        let mut wait = every;
        loop {
            tokio::time::sleep(wait).await;
            if !console.has_profile() {
                wait = every;
                continue;
            }
            let (outcome, error) = match console.sync_and_detect(None, &|_, _| {}).await {
                Ok((sync, detection)) => {
                    wait = every;
                    (Some(SyncOutcome { sync, detection }), None)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "background sync failed");
                    wait = (wait * 2).min(MAX_BACKOFF);
                    (None, Some(IpcError::from(e)))
                }
            };
            // SETs whose first push failed (a receiver was down) wait in the outbox: retry the
            // due ones on every tick, sync or not.
            if let Err(e) = console.ssf_deliver_pending().await {
                tracing::warn!(error = %e, "Shared Signals delivery pass failed; SETs stay in the outbox");
            }
            if let Some(o) = &outcome
                && !o.detection.newly_actionable.is_empty()
            {
                notify(&app, o);
            }
            let update = LiveUpdate {
                at: Utc::now(),
                outcome,
                error,
                next_in_secs: u32::try_from(wait.as_secs()).unwrap_or(u32::MAX),
            };
            if let Err(e) = update.emit(&app) {
                tracing::warn!(error = %e, "cannot tell the window about a sync");
            }
        }
    });
}

fn notify<R: Runtime>(app: &AppHandle<R>, o: &SyncOutcome) {
    let n = o.detection.newly_actionable.len();
    let first = &o.detection.newly_actionable[0];
    let who = first.username.clone().unwrap_or_else(|| first.user_id.clone());
    let body = if n == 1 {
        format!(
            "{} finding for {who}: likely stolen session",
            first.severity.as_str()
        )
    } else {
        format!("{n} new high or critical findings, first for {who}")
    };
    if let Err(e) = app
        .notification()
        .builder()
        .title("Gatehouse: act now")
        .body(body)
        .show()
    {
        tracing::warn!(error = %e, "cannot show a desktop notification");
    }
}
