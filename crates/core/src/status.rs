//! The console's own health: which build this is, where it keeps its data, and whether the OS
//! keyring that holds every credential answers. Shown on the status screen and by
//! `gatehouse status`.

use serde::Serialize;

use crate::secrets::KeyringHealth;

#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub version: String,
    pub data_dir: String,
    pub config_dir: String,
    pub keyring: KeyringHealth,
}
