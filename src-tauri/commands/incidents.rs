//! Incidents and their signed reports. The save dialog is opened from here (Rust), so the
//! webview needs no dialog or file-system permission; "show in folder" only reveals files this
//! window exported.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gatehouse_core::Console;
use gatehouse_core::ErrorKind;
use gatehouse_core::incident::{Incident, IncidentUpdate, NewIncident};
use gatehouse_core::report::{ExportResult, ExportStage, ReportData, ReportFormat};
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use crate::IpcError;

/// The native save dialog, bound to the app at setup so the command itself is not generic
/// over the runtime. Returns the chosen path, `Ok(None)` when cancelled.
type Picker = dyn Fn(&str, &str) -> Result<Option<PathBuf>, String> + Send + Sync;
pub struct SaveDialog(Box<Picker>);

impl SaveDialog {
    pub fn new<R: Runtime>(app: AppHandle<R>) -> Self {
        Self(Box::new(move |name, ext| {
            app.dialog()
                .file()
                .set_title("Export incident report")
                .set_file_name(name)
                .add_filter(ext.to_uppercase(), &[ext])
                .blocking_save_file()
                .map(|p| p.into_path().map_err(|e| format!("not a local file: {e}")))
                .transpose()
        }))
    }
}

/// The files exported in this run, the only ones "show in folder" reveals.
#[derive(Default)]
pub struct Exported(Mutex<HashSet<PathBuf>>);

#[tauri::command]
#[specta::specta]
pub async fn list_incidents(console: State<'_, Arc<Console>>) -> Result<Vec<Incident>, IpcError> {
    Ok(console.incidents(None).await?)
}

/// Creates an incident from findings, sessions and users (audited).
#[tauri::command]
#[specta::specta]
pub async fn create_incident(
    console: State<'_, Arc<Console>>,
    incident: NewIncident,
) -> Result<Incident, IpcError> {
    Ok(console.create_incident(None, incident).await?)
}

/// An incident with its findings, actions and merged timeline.
#[tauri::command]
#[specta::specta]
pub async fn incident_view(console: State<'_, Arc<Console>>, id: String) -> Result<ReportData, IpcError> {
    Ok(console.incident(None, &id).await?)
}

/// Changes status, severity, title or notes (audited).
#[tauri::command]
#[specta::specta]
pub async fn update_incident(
    console: State<'_, Arc<Console>>,
    id: String,
    change: IncidentUpdate,
) -> Result<Incident, IpcError> {
    Ok(console.update_incident(None, &id, change).await?)
}

/// Asks where to save with the native dialog, then exports (signed manifest next to the file),
/// reporting each stage on `on_progress`. `None`: the analyst cancelled the dialog.
#[tauri::command]
#[specta::specta]
pub async fn export_report(
    console: State<'_, Arc<Console>>,
    dialog: State<'_, SaveDialog>,
    exported: State<'_, Exported>,
    id: String,
    format: ReportFormat,
    on_progress: Channel<ExportStage>,
) -> Result<Option<ExportResult>, IpcError> {
    let ext = format.as_str();
    let picked = (dialog.0)(&format!("{id}.{ext}"), ext).map_err(|message| IpcError {
        kind: ErrorKind::Validation,
        message,
    })?;
    let Some(path) = picked else {
        return Ok(None);
    };
    let result = console
        .export_report(None, &id, format, &path, &|stage| {
            let _ = on_progress.send(stage);
        })
        .await?;
    if let Ok(mut set) = exported.0.lock() {
        set.extend(result.files.iter().map(PathBuf::from));
    }
    Ok(Some(result))
}

/// Shows an exported file in the system's file manager.
#[tauri::command]
#[specta::specta]
pub async fn reveal_export(exported: State<'_, Exported>, path: String) -> Result<(), IpcError> {
    let path = PathBuf::from(path);
    let known = exported.0.lock().map(|s| s.contains(&path)).unwrap_or(false);
    if !known {
        return Err(IpcError {
            kind: ErrorKind::Validation,
            message: "only files exported in this window can be shown".into(),
        });
    }
    tauri_plugin_opener::reveal_item_in_dir(&path).map_err(|e| IpcError {
        kind: ErrorKind::Upstream,
        message: format!("cannot open the folder: {e}"),
    })
}
