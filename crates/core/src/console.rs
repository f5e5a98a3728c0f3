//! [`Console`] is the one application state that the desktop app and the CLI both build, with
//! the same constructor, so that both front ends see the same profiles, store and keyring. Its
//! methods are the operations the front ends offer; each is one call for a Tauri command or a
//! CLI subcommand.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::Error;
use crate::actions::Actions;
use crate::audit::Log;
use crate::backend::{AdminBackend, ConnectionCheck, authd::Authd};
use crate::config::{BackendKind, Config, Profile, RawProfile};
use crate::http::{ClientOptions, HttpClient};
use crate::paths::Paths;
use crate::secrets::{KeyringStore, Namespace, SecretStore, Sensitive};
use crate::status::AppStatus;
use crate::store::Store;
use crate::sync::{self, SyncReport};
use crate::triage::{self, DetectReport, Detector, FindingFilter, FindingRow};

pub struct Console {
    paths: Paths,
    secrets: Arc<dyn SecretStore>,
    store: OnceCell<Store>,
    detector: OnceCell<Detector>,
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
        Ok(Self {
            paths,
            secrets,
            store: OnceCell::new(),
            detector: OnceCell::new(),
        })
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

    pub fn config_path(&self) -> std::path::PathBuf {
        self.paths.config_dir.join("config.toml")
    }

    pub fn config(&self) -> Result<Config, Error> {
        Ok(Config::load(&self.config_path())?)
    }

    /// The local store, opened (and migrated) on first use.
    pub async fn store(&self) -> Result<&Store, Error> {
        let path = self.paths.data_dir.join("gatehouse.db");
        Ok(self.store.get_or_try_init(|| Store::open(&path)).await?)
    }

    pub async fn audit_log(&self) -> Result<Log, Error> {
        Ok(Log::new(
            self.store().await?.clone(),
            Some(Arc::clone(&self.secrets)),
        ))
    }

    /// Validates the profile, puts its secret in the keyring, then writes the config file. The
    /// secret never touches the file.
    pub fn add_profile(
        &self,
        name: &str,
        raw: RawProfile,
        secret: Sensitive<String>,
    ) -> Result<Profile, Error> {
        let mut config = self.config()?;
        let profile = Profile::validate(name, raw)?;
        if config.get(name).is_ok() {
            return Err(crate::config::Error::Exists(name.to_string()).into());
        }
        self.secrets.put(&profile.secret_name()?, &secret)?;
        config.add(profile.clone())?;
        config.save()?;
        Ok(profile)
    }

    /// Removes the profile from the config and its secret from the keyring.
    pub fn remove_profile(&self, name: &str) -> Result<(), Error> {
        let mut config = self.config()?;
        let profile = config.remove(name)?;
        self.secrets.delete(&profile.secret_name()?)?;
        config.save()?;
        Ok(())
    }

    /// The named profile, or the default one (no keyring access: reading the cache works offline).
    pub fn profile(&self, profile: Option<&str>) -> Result<Profile, Error> {
        Ok(self.config()?.resolve(profile)?.clone())
    }

    /// The admin backend of a profile (the named one, or the default), with its secret from the keyring.
    pub fn backend(&self, profile: Option<&str>) -> Result<(Profile, Arc<dyn AdminBackend>), Error> {
        let config = self.config()?;
        let profile = config.resolve(profile)?.clone();
        let secret = self
            .secrets
            .get(&profile.secret_name()?)?
            .ok_or_else(|| crate::backend::Error::MissingSecret(profile.name.clone()))?;
        let http = HttpClient::new(ClientOptions {
            timeout: Some(profile.timeout),
            ca_file: profile.ca_file.clone(),
            ..Default::default()
        })?;
        let backend: Arc<dyn AdminBackend> = match profile.kind {
            BackendKind::Authd => Arc::new(Authd::new(
                http,
                profile.base_url.clone(),
                profile.client_id.clone(),
                secret,
            )),
            other => {
                return Err(crate::backend::Error::Unsupported {
                    backend: other.as_str(),
                    what: "be used yet: its adapter is not built (see the open issue for provider adapters)",
                }
                .into());
            }
        };
        Ok((profile, backend))
    }

    pub async fn test_profile(&self, profile: Option<&str>) -> Result<ConnectionCheck, Error> {
        let (_, backend) = self.backend(profile)?;
        Ok(backend.check().await?)
    }

    pub async fn sync(
        &self,
        profile: Option<&str>,
        progress: sync::Progress<'_>,
    ) -> Result<SyncReport, Error> {
        let (profile, backend) = self.backend(profile)?;
        let retention = self.config()?.activity_retention_days;
        let store = self.store().await?;
        let report = sync::sync(store, &profile.name, backend.as_ref(), retention, progress).await?;
        Ok(report)
    }

    /// The store-backed detector, configured on first use: GeoIP databases from
    /// `GATEHOUSE_GEOIP` / `GATEHOUSE_ASN`, else from the config file.
    pub fn detector(&self) -> Result<&Detector, Error> {
        if let Some(d) = self.detector.get() {
            return Ok(d);
        }
        let config = self.config()?;
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        };
        let enrich = crate::enrich::EnrichConfig {
            city_db: env_path("GATEHOUSE_GEOIP").or(config.geoip_city),
            asn_db: env_path("GATEHOUSE_ASN").or(config.geoip_asn),
        };
        let _ = self
            .detector
            .set(Detector::new(crate::detect::Config::default(), enrich));
        self.detector
            .get()
            .ok_or_else(|| Error::Internal("detector not initialised".into()))
    }

    /// Feeds the detector what sync stored since its last pass (the whole retained activity on
    /// the first pass in this process) and stores the findings.
    pub async fn detect(&self, profile: Option<&str>) -> Result<DetectReport, Error> {
        let profile = self.profile(profile)?;
        let store = self.store().await?;
        Ok(self.detector()?.run(store, &profile.name).await?)
    }

    /// Sync, then detection over what arrived.
    pub async fn sync_and_detect(
        &self,
        profile: Option<&str>,
        progress: sync::Progress<'_>,
    ) -> Result<(SyncReport, DetectReport), Error> {
        let report = self.sync(profile, progress).await?;
        let detected = self.detect(Some(&report.profile)).await?;
        Ok((report, detected))
    }

    pub async fn findings(
        &self,
        profile: Option<&str>,
        filter: &FindingFilter,
    ) -> Result<Vec<FindingRow>, Error> {
        let profile = self.profile(profile)?;
        Ok(triage::list(self.store().await?, &profile.name, filter).await?)
    }

    /// Records a verdict on a finding, audited.
    pub async fn set_verdict(
        &self,
        profile: Option<&str>,
        feedback: &crate::detect::Feedback,
    ) -> Result<(), Error> {
        let profile = self.profile(profile)?;
        let log = self.audit_log().await?;
        Ok(self
            .detector()?
            .set_verdict(&log, &profile.name, &actor(), feedback)
            .await?)
    }

    /// Marks a finding a false positive and suppresses what made it fire, audited; re-scores.
    pub async fn suppress(
        &self,
        profile: Option<&str>,
        finding_id: &str,
        scope: crate::detect::feedback::ScopeKind,
        note: Option<String>,
    ) -> Result<crate::detect::Suppression, Error> {
        let profile = self.profile(profile)?;
        let log = self.audit_log().await?;
        Ok(self
            .detector()?
            .suppress(&log, &profile.name, &actor(), finding_id, scope, note)
            .await?)
    }

    pub async fn actions(&self, profile: Option<&str>) -> Result<Actions, Error> {
        let (profile, backend) = self.backend(profile)?;
        Ok(Actions {
            log: self.audit_log().await?,
            profile: profile.name,
            backend,
            actor: actor(),
        })
    }

    pub async fn inspect(
        &self,
        token: &str,
        profile: Option<&str>,
    ) -> Result<crate::inspect::Inspection, Error> {
        let (profile, backend) = self.backend(profile)?;
        let store = self.store().await?;
        Ok(crate::inspect::inspect(token, store, &profile.name, backend.as_ref()).await?)
    }
}

/// Who is acting, as recorded in the audit log: the OS user.
pub fn actor() -> String {
    std::env::var("GATEHOUSE_ACTOR")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "analyst".to_string())
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

    #[test]
    fn a_profile_secret_goes_to_the_keyring_not_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let console = Console::with(Paths::under(tmp.path()), secrets.clone()).unwrap();
        let raw = RawProfile {
            kind: "authd".into(),
            base_url: "http://127.0.0.1:9".into(),
            client_id: "console".into(),
            allow_insecure_http: false,
            ca_file: None,
            timeout_secs: None,
            realm: None,
        };
        let p = console
            .add_profile("demo", raw, Sensitive::new("s3cr3t-value".into()))
            .unwrap();
        let file = std::fs::read_to_string(console.config_path()).unwrap();
        assert!(!file.contains("s3cr3t-value"));
        assert_eq!(
            secrets.get(&p.secret_name().unwrap()).unwrap().unwrap().expose(),
            "s3cr3t-value"
        );
        console.remove_profile("demo").unwrap();
        assert!(secrets.get(&p.secret_name().unwrap()).unwrap().is_none());
    }
}
