//! The triage queue: findings, verdicts, suppressions.

use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::detect::feedback::ScopeKind;
use gatehouse_core::detect::{Feedback, Suppression};
use gatehouse_core::triage::{FindingFilter, FindingRow};
use tauri::State;

use crate::IpcError;

#[tauri::command]
#[specta::specta]
pub async fn list_findings(
    console: State<'_, Arc<Console>>,
    filter: FindingFilter,
) -> Result<Vec<FindingRow>, IpcError> {
    Ok(console.findings(None, &filter).await?)
}

/// Marks a finding a true or false positive (audited).
#[tauri::command]
#[specta::specta]
pub async fn set_verdict(console: State<'_, Arc<Console>>, feedback: Feedback) -> Result<(), IpcError> {
    Ok(console.set_verdict(None, &feedback).await?)
}

/// False positive + suppression of the place, network or client that made it fire (audited).
#[tauri::command]
#[specta::specta]
pub async fn suppress_finding(
    console: State<'_, Arc<Console>>,
    finding_id: String,
    scope: ScopeKind,
    note: Option<String>,
) -> Result<Suppression, IpcError> {
    Ok(console.suppress(None, &finding_id, scope, note).await?)
}
