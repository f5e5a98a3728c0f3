//! Profiles, the embedded demo, sync.

use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::backend::ProfileCheck;
use gatehouse_core::config::{ProfileView, RawProfile};
use gatehouse_core::console::Overview;
use gatehouse_core::secrets::Sensitive;
use gatehouse_core::sync::SyncReport;
use gatehouse_core::triage::DetectReport;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::IpcError;

/// A sync and the detection pass over what it brought.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutcome {
    pub sync: SyncReport,
    pub detection: DetectReport,
}

/// The "Connect to a backend" form. The secret goes straight to the OS keyring. Which fields a
/// kind uses is checked by the core (`Profile::validate`); empty strings mean "not given".
#[derive(Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ProfileForm {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub client_id: String,
    /// Client secret, API key or token, or private key; none for Kratos without auth.
    pub secret: Option<String>,
    pub realm: Option<String>,
    /// Kratos: `bearer` | `none`; Okta: `private_key_jwt` | `ssws`.
    pub auth: Option<String>,
    pub key_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub audience: Option<String>,
}

/// Profiles, last sync, GeoIP attribution, whether the demo runs.
#[tauri::command]
#[specta::specta]
pub async fn overview(console: State<'_, Arc<Console>>) -> Result<Overview, IpcError> {
    Ok(console.overview().await?)
}

/// Starts authd's simulator on loopback, adds the `demo` profile, syncs and detects.
#[tauri::command]
#[specta::specta]
pub async fn start_demo(console: State<'_, Arc<Console>>) -> Result<SyncOutcome, IpcError> {
    let (sync, detection) = console.start_demo(2).await?;
    Ok(SyncOutcome { sync, detection })
}

#[tauri::command]
#[specta::specta]
pub async fn add_profile(
    console: State<'_, Arc<Console>>,
    form: ProfileForm,
) -> Result<ProfileView, IpcError> {
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let raw = RawProfile {
        kind: form.kind,
        base_url: form.base_url,
        client_id: form.client_id,
        realm: given(form.realm),
        auth: given(form.auth),
        key_id: given(form.key_id),
        scopes: form.scopes.filter(|s| !s.is_empty()),
        audience: given(form.audience),
        ..Default::default()
    };
    let secret = given(form.secret).map(Sensitive::new);
    let profile = console.add_profile(&form.name, raw, secret)?;
    let config = console.config()?;
    Ok(config
        .views()
        .into_iter()
        .find(|v| v.name == profile.name)
        .ok_or_else(|| gatehouse_core::Error::Internal("profile vanished".into()))?)
}

/// Re-enter a refused or rotated credential: the new secret replaces the old one in the keyring.
#[tauri::command]
#[specta::specta]
pub async fn replace_profile_secret(
    console: State<'_, Arc<Console>>,
    name: String,
    secret: String,
) -> Result<(), IpcError> {
    Ok(console.replace_secret(&name, Sensitive::new(secret)).await?)
}

/// Reachability, authentication, what the credential may do, warnings (e.g. broader than
/// needed) and what the provider cannot do.
#[tauri::command]
#[specta::specta]
pub async fn test_profile(
    console: State<'_, Arc<Console>>,
    profile: Option<String>,
) -> Result<ProfileCheck, IpcError> {
    Ok(console.test_profile(profile.as_deref()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn sync_now(
    console: State<'_, Arc<Console>>,
    profile: Option<String>,
) -> Result<SyncOutcome, IpcError> {
    let (sync, detection) = console.sync_and_detect(profile.as_deref(), &|_, _| {}).await?;
    Ok(SyncOutcome { sync, detection })
}
