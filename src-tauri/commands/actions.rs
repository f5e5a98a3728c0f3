//! Containment: the dry run, the run with progress, cancel; the token inspector; the audit log.

use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::actions::{ActionReport, ItemResult, Step};
use gatehouse_core::audit::{Entry, Verification};
use gatehouse_core::console::Intent;
use gatehouse_core::inspect::Inspection;
use serde::Serialize;
use tauri::State;
use tauri::ipc::Channel;

use crate::IpcError;

/// Exactly what would happen, step by step; nothing changes.
#[tauri::command]
#[specta::specta]
pub async fn plan_action(
    console: State<'_, Arc<Console>>,
    intent: Intent,
    targets: Vec<String>,
) -> Result<Vec<Step>, IpcError> {
    Ok(console.plan(None, intent, &targets).await?)
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub done: u32,
    pub total: u32,
}

/// Runs the confirmed steps (each audited and verified), reporting progress on `on_progress`.
#[tauri::command]
#[specta::specta]
pub async fn run_steps(
    console: State<'_, Arc<Console>>,
    steps: Vec<Step>,
    on_progress: Channel<Progress>,
) -> Result<Vec<ItemResult>, IpcError> {
    let report = move |done: usize, total: usize| {
        let _ = on_progress.send(Progress {
            done: u32::try_from(done).unwrap_or(u32::MAX),
            total: u32::try_from(total).unwrap_or(u32::MAX),
        });
    };
    Ok(console.run_steps(None, steps, 4, &report).await?)
}

/// Stops starting new steps of the running batch (started ones finish and are reported).
#[tauri::command]
#[specta::specta]
pub fn cancel_steps(console: State<'_, Arc<Console>>) {
    console.cancel_steps();
}

/// Revokes a token the analyst pasted into the inspector (after the dialog's confirmation):
/// verified by RFC 7662 introspection when the profile has an `[introspection]` client, else by
/// the backend's revocation list.
#[tauri::command]
#[specta::specta]
pub async fn revoke_held_token(
    console: State<'_, Arc<Console>>,
    token: String,
) -> Result<ActionReport, IpcError> {
    Ok(console
        .revoke_held_token(None, gatehouse_core::secrets::Sensitive::new(token))
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn inspect_token(console: State<'_, Arc<Console>>, token: String) -> Result<Inspection, IpcError> {
    Ok(console.inspect(&token, None).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn audit_recent(console: State<'_, Arc<Console>>, limit: u32) -> Result<Vec<Entry>, IpcError> {
    Ok(console.audit_recent(i64::from(limit.min(5_000))).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn audit_verify(console: State<'_, Arc<Console>>) -> Result<Verification, IpcError> {
    Ok(console
        .audit_log()
        .await?
        .verify()
        .await
        .map_err(gatehouse_core::Error::from)?)
}
