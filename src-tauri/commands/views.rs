//! Lists and detail views, read from the local store; charts come as SVG from core's renderer.

use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::render::Theme;
use gatehouse_core::views::{SessionPage, SessionQuery, SessionView, UserPage, UserQuery, UserView};
use serde::Serialize;
use tauri::State;

use crate::IpcError;

#[tauri::command]
#[specta::specta]
pub async fn list_users(console: State<'_, Arc<Console>>, query: UserQuery) -> Result<UserPage, IpcError> {
    Ok(console.users_page(None, &query).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn list_sessions(
    console: State<'_, Arc<Console>>,
    query: SessionQuery,
) -> Result<SessionPage, IpcError> {
    Ok(console.sessions_page(None, &query).await?)
}

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Sparkline {
    pub session_id: String,
    pub svg: String,
}

#[tauri::command]
#[specta::specta]
pub async fn sparklines(
    console: State<'_, Arc<Console>>,
    session_ids: Vec<String>,
    theme: Theme,
) -> Result<Vec<Sparkline>, IpcError> {
    let ids: Vec<String> = session_ids.into_iter().take(500).collect();
    Ok(console
        .sparklines(None, &ids, theme)
        .await?
        .into_iter()
        .map(|(session_id, svg)| Sparkline { session_id, svg })
        .collect())
}

#[tauri::command]
#[specta::specta]
pub async fn session_view(
    console: State<'_, Arc<Console>>,
    session_id: String,
    theme: Theme,
) -> Result<SessionView, IpcError> {
    Ok(console.session_view(None, &session_id, theme).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn user_view(
    console: State<'_, Arc<Console>>,
    user_id: String,
    theme: Theme,
) -> Result<UserView, IpcError> {
    Ok(console.user_view(None, &user_id, theme).await?)
}
