use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::status::AppStatus;
use tauri::State;

use crate::IpcError;

/// Version, data folder and whether the OS keyring answers.
#[tauri::command]
#[specta::specta]
pub async fn app_status(console: State<'_, Arc<Console>>) -> Result<AppStatus, IpcError> {
    let console = Arc::clone(&console);
    tauri::async_runtime::spawn_blocking(move || console.status())
        .await
        .map_err(IpcError::join)
}
