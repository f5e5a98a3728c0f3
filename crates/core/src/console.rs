//! [`Console`] is the one application state that the desktop app and the CLI both build, with
//! the same constructor, so that both front ends see the same profiles, store and keyring.

use std::sync::Arc;

use crate::Error;
use crate::paths::Paths;
use crate::secrets::{KeyringStore, Namespace, SecretStore};
use crate::status::AppStatus;

pub struct Console {
    paths: Paths,
    secrets: Arc<dyn SecretStore>,
}

impl Console {
    /// Opens the console with the OS's folders (or `GATEHOUSE_HOME`) and the platform keyring.
    pub fn open() -> Result<Self, Error> {
        let paths = Paths::discover()?;
        let secrets = Arc::new(KeyringStore::new(Namespace::current()?));
        Self::with(paths, secrets)
    }

    /// Opens the console over explicit dependencies (tests, embedding).
    pub fn with(paths: Paths, secrets: Arc<dyn SecretStore>) -> Result<Self, Error> {
        paths.ensure()?;
        Ok(Self { paths, secrets })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    /// Blocking: asks the keyring, which may take a D-Bus round trip.
    pub fn status(&self) -> AppStatus {
        AppStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            data_dir: self.paths.data_dir.display().to_string(),
            config_dir: self.paths.config_dir.display().to_string(),
            keyring: self.secrets.health(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MemoryStore;

    #[test]
    fn status_reports_version_folders_and_keyring() {
        let tmp = tempfile::tempdir().unwrap();
        let console = Console::with(Paths::under(tmp.path()), Arc::new(MemoryStore::default())).unwrap();
        let s = console.status();
        assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
        assert!(s.data_dir.ends_with("data"));
        assert!(s.keyring.reachable);
        assert!(tmp.path().join("data").is_dir());
    }
}
