//! [`Console`] is the one application state that the desktop app and the CLI both build, with
//! the same constructor, so that both front ends see the same profiles, store and keyring. Its
//! methods are the operations the front ends offer; each is one call for a Tauri command or a
//! CLI subcommand.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::Error;
use crate::actions::Actions;
use crate::audit::Log;
use crate::backend::{AdminBackend, ProfileCheck, authd::Authd, keycloak::Keycloak, kratos::Kratos};
use crate::config::{Config, KindSettings, Profile, RawProfile};
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
    /// Built from the config on first use; rebuilt when the config's GeoIP paths change.
    detector: std::sync::Mutex<Option<Arc<Detector>>>,
    demo: tokio::sync::Mutex<Option<crate::demo::DemoBackend>>,
    bulk_cancel: std::sync::atomic::AtomicBool,
    /// The shell was started with `--demo`: the first overview asks the UI to start it.
    demo_on_start: std::sync::atomic::AtomicBool,
    /// One sync at a time (the live loop and the analyst's button share it).
    sync_lock: tokio::sync::Mutex<()>,
    /// Ordered ids of recent list queries; invalidated whenever the store changes.
    lists: crate::views::ListCache,
}

/// What an analyst asks for, before it is expanded into steps (the dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    RevokeSession,
    RevokeUserSessions,
    RevokeToken,
    ForcePasswordReset,
    /// Forced reset with MFA, all sessions revoked, live tokens revoked (per user).
    Contain,
}

/// What the shell shows before anything else: profiles, data age, GeoIP attribution.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub profiles: Vec<crate::config::ProfileView>,
    pub active_profile: Option<String>,
    pub last_sync: Option<chrono::DateTime<chrono::Utc>>,
    /// "IP geolocation by DB-IP" (or MaxMind's) when places come from that database.
    pub geoip_attribution: Option<String>,
    pub demo: Option<crate::demo::DemoInfo>,
    /// Start the demo now (the app was launched with `--demo`); true once.
    pub start_demo: bool,
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
            detector: std::sync::Mutex::new(None),
            demo: tokio::sync::Mutex::new(None),
            bulk_cancel: std::sync::atomic::AtomicBool::new(false),
            demo_on_start: std::sync::atomic::AtomicBool::new(false),
            sync_lock: tokio::sync::Mutex::new(()),
            lists: crate::views::ListCache::default(),
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

    /// The newest audit entries, newest first.
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<crate::audit::Entry>, Error> {
        Ok(crate::audit::recent(self.store().await?, limit).await?)
    }

    pub async fn audit_log(&self) -> Result<Log, Error> {
        Ok(Log::new(
            self.store().await?.clone(),
            Some(Arc::clone(&self.secrets)),
        ))
    }

    /// Validates the profile, puts its secret in the keyring, then writes the config file. The
    /// secret never touches the file. A kind that needs no secret (Kratos without auth) refuses
    /// one, and a kind that needs one refuses to go without: bad input loses nothing.
    pub fn add_profile(
        &self,
        name: &str,
        raw: RawProfile,
        secret: Option<Sensitive<String>>,
    ) -> Result<Profile, Error> {
        let mut config = self.config()?;
        let profile = Profile::validate(name, raw)?;
        if config.get(name).is_ok() {
            return Err(crate::config::Error::Exists(name.to_string()).into());
        }
        let invalid = |message: String| crate::config::Error::Invalid {
            profile: name.to_string(),
            message,
        };
        let secret = secret.filter(|s| !s.expose().is_empty());
        match (profile.secret_kind(), secret) {
            (Some(_), Some(secret)) => self.secrets.put(&profile.secret_name()?, &secret)?,
            (Some(kind), None) => return Err(invalid(format!("a {} is required", kind.label())).into()),
            (None, Some(_)) => {
                return Err(invalid(
                    "this profile uses no secret (set auth = \"bearer\" for an Ory Network API key)".into(),
                )
                .into());
            }
            (None, None) => {}
        }
        config.add(profile.clone())?;
        config.save()?;
        Ok(profile)
    }

    /// Replaces a profile's client secret in the keyring (a refused or rotated credential),
    /// audited without the secret.
    pub async fn replace_secret(&self, name: &str, secret: Sensitive<String>) -> Result<(), Error> {
        let profile = self.config()?.get(name)?.clone();
        self.secrets.put(&profile.secret_name()?, &secret)?;
        self.audit_log()
            .await?
            .append(crate::audit::NewEntry {
                actor: actor(),
                action: "profile.secret_replaced".into(),
                profile: Some(profile.name.clone()),
                target: Some(profile.name),
                detail: serde_json::json!({ "where": "OS keyring" }),
            })
            .await?;
        Ok(())
    }

    /// Sets a profile's standard OAuth client (`[introspection]`): validated, its secret to the
    /// keyring, then the config file; audited without the secret.
    pub async fn set_introspection(
        &self,
        name: &str,
        raw: crate::config::RawIntrospection,
        secret: Sensitive<String>,
    ) -> Result<Profile, Error> {
        let mut config = self.config()?;
        let current = config.get(name)?.clone();
        let mut updated = current.raw().clone();
        updated.introspection = Some(raw);
        let profile = Profile::validate(name, updated)?;
        if secret.expose().is_empty() {
            return Err(crate::config::Error::Invalid {
                profile: name.to_string(),
                message: "the introspection client's secret is required".into(),
            }
            .into());
        }
        self.secrets.put(&profile.introspection_secret_name()?, &secret)?;
        // Removing the default profile clears the default and adding it back restores it.
        config.remove(name)?;
        config.add(profile.clone())?;
        config.save()?;
        self.audit_log()
            .await?
            .append(crate::audit::NewEntry {
                actor: actor(),
                action: "profile.introspection_set".into(),
                profile: Some(name.to_string()),
                target: Some(name.to_string()),
                detail: serde_json::json!({
                    "client_id": profile.introspection.as_ref().map(|i| i.client_id.clone()),
                    "secret": "OS keyring",
                }),
            })
            .await?;
        Ok(profile)
    }

    /// The profile's standard OAuth client, when it configures one: endpoints named in the
    /// config win over discovered ones; the secret comes from the keyring.
    pub async fn oauth_client(&self, profile: &Profile) -> Result<Option<crate::oauth::OAuthClient>, Error> {
        let Some(cfg) = &profile.introspection else {
            return Ok(None);
        };
        let secret = self
            .secrets
            .get(&profile.introspection_secret_name()?)?
            .ok_or_else(|| {
                crate::backend::Error::MissingSecret(format!("{} (introspection client)", profile.name))
            })?;
        let http = HttpClient::new(ClientOptions {
            timeout: Some(profile.timeout),
            ca_file: profile.ca_file.clone(),
            ..Default::default()
        })?;
        let mut endpoints = match &cfg.issuer {
            Some(issuer) => crate::oauth::discover(&http, issuer).await?,
            None => crate::oauth::Endpoints {
                issuer: None,
                token: None,
                introspection: None,
                revocation: None,
            },
        };
        if let Some(u) = &cfg.introspection_endpoint {
            endpoints.introspection = Some(u.clone());
        }
        if let Some(u) = &cfg.revocation_endpoint {
            endpoints.revocation = Some(u.clone());
        }
        Ok(Some(crate::oauth::OAuthClient::new(
            http,
            endpoints,
            cfg.client_id.clone(),
            secret,
            cfg.auth,
        )))
    }

    /// Revokes a token the analyst holds (pasted JWT or opaque token) and verifies it, by RFC
    /// 7662 introspection when the profile has an `[introspection]` client.
    pub async fn revoke_held_token(
        &self,
        profile: Option<&str>,
        token: Sensitive<String>,
    ) -> Result<crate::actions::ActionReport, Error> {
        let actions = self.actions(profile).await?;
        let oauth = self.oauth_client(&self.profile(profile)?).await?;
        Ok(actions.revoke_held_token(&token, oauth.as_ref()).await?)
    }

    /// Removes the profile from the config and its secret from the keyring.
    pub fn remove_profile(&self, name: &str) -> Result<(), Error> {
        let mut config = self.config()?;
        let profile = config.remove(name)?;
        self.secrets.delete(&profile.secret_name()?)?;
        if profile.introspection.is_some() {
            self.secrets.delete(&profile.introspection_secret_name()?)?;
        }
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
        let secret = match profile.secret_kind() {
            Some(_) => Some(
                self.secrets
                    .get(&profile.secret_name()?)?
                    .ok_or_else(|| crate::backend::Error::MissingSecret(profile.name.clone()))?,
            ),
            None => None,
        };
        let http = HttpClient::new(ClientOptions {
            timeout: Some(profile.timeout),
            ca_file: profile.ca_file.clone(),
            ..Default::default()
        })?;
        let missing = || crate::backend::Error::MissingSecret(profile.name.clone());
        let backend: Arc<dyn AdminBackend> = match &profile.settings {
            KindSettings::Authd => Arc::new(Authd::new(
                http,
                profile.base_url.clone(),
                profile.client_id.clone(),
                secret.ok_or_else(missing)?,
            )),
            KindSettings::Keycloak { realm } => Arc::new(Keycloak::new(
                http,
                profile.base_url.clone(),
                realm.clone(),
                profile.client_id.clone(),
                secret.ok_or_else(missing)?,
            )),
            KindSettings::Kratos { .. } => Arc::new(Kratos::new(http, profile.base_url.clone(), secret)),
            KindSettings::Okta(auth) => {
                use crate::backend::okta::{AssertionAlgorithm, Okta, OktaAuth, OktaSettings};
                let secret = secret.ok_or_else(missing)?;
                // ITP user risk is raised on a forced reset when the profile asks for its scope.
                let set_user_risk = matches!(auth, crate::config::OktaAuth::PrivateKeyJwt { scopes, .. }
                    if scopes.iter().any(|s| s == crate::backend::okta::SCOPE_USER_RISK_MANAGE));
                let auth = match auth {
                    crate::config::OktaAuth::Ssws => OktaAuth::Ssws { token: secret },
                    crate::config::OktaAuth::PrivateKeyJwt { key_id, scopes } => OktaAuth::PrivateKeyJwt {
                        client_id: profile.client_id.clone(),
                        key_id: key_id.clone().unwrap_or_default(),
                        algorithm: AssertionAlgorithm::of_pem(secret.expose()),
                        private_key: secret,
                        scopes: scopes.clone(),
                    },
                };
                let mut settings = OktaSettings::new(profile.base_url.clone(), auth);
                settings.set_user_risk = set_user_risk;
                Arc::new(Okta::new(settings, http)?)
            }
            KindSettings::Auth0 { audience } => {
                use crate::backend::auth0::{Auth0, Auth0Settings};
                let mut settings = Auth0Settings::new(
                    profile.base_url.clone(),
                    profile.client_id.clone(),
                    secret.ok_or_else(missing)?,
                );
                settings.audience = Some(audience.clone());
                Arc::new(Auth0::new(settings, http)?)
            }
        };
        Ok((profile, backend))
    }

    /// Connectivity, authentication, the permissions the credential has, warnings when it is
    /// broader than needed, and what the provider cannot do.
    pub async fn test_profile(&self, profile: Option<&str>) -> Result<ProfileCheck, Error> {
        let (_, backend) = self.backend(profile)?;
        Ok(backend.check_report().await?)
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
    pub fn detector(&self) -> Result<Arc<Detector>, Error> {
        let mut slot = self
            .detector
            .lock()
            .map_err(|_| Error::Internal("detector lock poisoned".into()))?;
        if let Some(d) = slot.as_ref() {
            return Ok(Arc::clone(d));
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
        let d = Arc::new(Detector::new(crate::detect::Config::default(), enrich));
        *slot = Some(Arc::clone(&d));
        Ok(d)
    }

    /// Drops the detector so the next use rebuilds it from the current config (and replays).
    fn reload_detector(&self) {
        if let Ok(mut slot) = self.detector.lock() {
            *slot = None;
        }
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
        let _one_at_a_time = self.sync_lock.lock().await;
        let report = self.sync(profile, progress).await;
        self.lists.invalidate();
        let report = report?;
        let detected = self.detect(Some(&report.profile)).await;
        self.lists.invalidate();
        let detected = detected?;
        Ok((report, detected))
    }

    pub async fn overview(&self) -> Result<Overview, Error> {
        let config = self.config()?;
        let active = config.resolve(None).ok().map(|p| p.name.clone());
        let last_sync = match &active {
            Some(p) => sync::data_age(self.store().await?, p).await?.last_sync,
            None => None,
        };
        let detector = self.detector()?;
        if detector.geoip_paths().0.is_some() {
            // Opening the database is what reads its metadata for the attribution.
            detector.enricher().await?;
        }
        Ok(Overview {
            profiles: config.views(),
            active_profile: active,
            last_sync,
            geoip_attribution: detector.geoip_attribution(),
            demo: self.demo.lock().await.as_ref().map(|d| d.info.clone()),
            start_demo: self
                .demo_on_start
                .swap(false, std::sync::atomic::Ordering::SeqCst),
        })
    }

    pub fn request_demo_on_start(&self) {
        self.demo_on_start
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether any profile is configured (the live loop waits until one is).
    pub fn has_profile(&self) -> bool {
        self.config().is_ok_and(|c| c.resolve(None).is_ok())
    }

    /// Starts the embedded demo (authd + simulator on loopback), makes `demo` the default
    /// profile with a fresh secret in the keyring, and runs a first sync with detection.
    pub async fn start_demo(&self, days: u32) -> Result<(SyncReport, DetectReport), Error> {
        let authd = crate::demo::find_authd()?;
        let geoip = crate::demo::find_geoip()?;
        self.start_demo_with(&authd, &geoip, days).await
    }

    /// [`Self::start_demo`] with explicit paths to `gatehouse-authd` and the city database.
    pub async fn start_demo_with(
        &self,
        authd: &std::path::Path,
        geoip: &std::path::Path,
        days: u32,
    ) -> Result<(SyncReport, DetectReport), Error> {
        use crate::demo;
        let backend = demo::start(authd, geoip, &self.paths.data_dir.join("demo"), days.clamp(1, 14)).await?;
        let mut config = self.config()?;
        if config.get(demo::PROFILE).is_ok() {
            self.remove_profile(demo::PROFILE)?;
            config = self.config()?;
        }
        let raw = RawProfile {
            kind: "authd".into(),
            base_url: backend.info.url.clone(),
            client_id: demo::CLIENT_ID.into(),
            ..Default::default()
        };
        let profile = Profile::validate(demo::PROFILE, raw)?;
        self.secrets.put(&profile.secret_name()?, &backend.secret)?;
        config.add(profile)?;
        config.default_profile = Some(demo::PROFILE.into());
        if config.geoip_city.is_none() {
            config.geoip_city = Some(geoip.to_path_buf());
        }
        config.save()?;
        self.store().await?.forget_profile(demo::PROFILE).await?;
        self.reload_detector();
        *self.demo.lock().await = Some(backend);
        self.sync_and_detect(Some(demo::PROFILE), &|_, _| {}).await
    }

    pub async fn sessions_page(
        &self,
        profile: Option<&str>,
        query: &crate::views::SessionQuery,
    ) -> Result<crate::views::SessionPage, Error> {
        let profile = self.profile(profile)?;
        Ok(crate::views::sessions(self.store().await?, &profile.name, query, Some(&self.lists)).await?)
    }

    pub async fn users_page(
        &self,
        profile: Option<&str>,
        query: &crate::views::UserQuery,
    ) -> Result<crate::views::UserPage, Error> {
        let profile = self.profile(profile)?;
        Ok(crate::views::users(self.store().await?, &profile.name, query, Some(&self.lists)).await?)
    }

    /// Sparkline SVGs (requests per 30 minutes over the last 24 h of the profile's activity).
    pub async fn sparklines(
        &self,
        profile: Option<&str>,
        session_ids: &[String],
        theme: crate::render::Theme,
    ) -> Result<Vec<(String, String)>, Error> {
        let profile = self.profile(profile)?;
        let store = self.store().await?;
        let end = crate::views::newest_activity_ms(store, &profile.name)
            .await?
            .unwrap_or_else(crate::store::now_ms)
            + 1;
        let counts =
            crate::views::sparklines(store, &profile.name, session_ids, end, 48, 30 * 60_000).await?;
        let size = crate::render::Size {
            width: 96,
            height: 20,
        };
        Ok(session_ids
            .iter()
            .map(|id| {
                let c = counts.get(id).cloned().unwrap_or_default();
                (id.clone(), crate::render::sparkline_svg(&c, size, theme))
            })
            .collect())
    }

    pub async fn session_view(
        &self,
        profile: Option<&str>,
        session_id: &str,
        theme: crate::render::Theme,
    ) -> Result<crate::views::SessionView, Error> {
        let profile = self.profile(profile)?;
        let detector = self.detector()?;
        let mut enricher = detector.enricher().await?;
        let attribution = detector.geoip_attribution();
        Ok(crate::views::session_view(
            self.store().await?,
            &profile.name,
            session_id,
            &mut enricher,
            theme,
            attribution,
        )
        .await?)
    }

    pub async fn user_view(
        &self,
        profile: Option<&str>,
        user_id: &str,
        theme: crate::render::Theme,
    ) -> Result<crate::views::UserView, Error> {
        let profile = self.profile(profile)?;
        let detector = self.detector()?;
        detector.enricher().await?;
        let attribution = detector.geoip_attribution();
        Ok(crate::views::user_view(self.store().await?, &profile.name, user_id, theme, attribution).await?)
    }

    pub async fn findings(
        &self,
        profile: Option<&str>,
        filter: &FindingFilter,
    ) -> Result<Vec<FindingRow>, Error> {
        let profile = self.profile(profile)?;
        Ok(triage::list(self.store().await?, &profile.name, filter).await?)
    }

    /// One stored finding with its explanation and evidence.
    pub async fn finding(&self, profile: Option<&str>, id: &str) -> Result<FindingRow, Error> {
        let profile = self.profile(profile)?;
        Ok(triage::get(self.store().await?, &profile.name, id).await?)
    }

    /// Records a verdict on a finding, audited.
    pub async fn set_verdict(
        &self,
        profile: Option<&str>,
        feedback: &crate::detect::Feedback,
    ) -> Result<(), Error> {
        let profile = self.profile(profile)?;
        let log = self.audit_log().await?;
        let r = self
            .detector()?
            .set_verdict(&log, &profile.name, &actor(), feedback)
            .await;
        self.lists.invalidate();
        Ok(r?)
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
        let r = self
            .detector()?
            .suppress(&log, &profile.name, &actor(), finding_id, scope, note)
            .await;
        self.lists.invalidate();
        Ok(r?)
    }

    pub async fn actions(&self, profile: Option<&str>) -> Result<Actions, Error> {
        let (profile, backend) = self.backend(profile)?;
        let log = self.audit_log().await?;
        // Shared Signals (issue 9): a profile without an ssf table, or whose SET key cannot be
        // read, still acts; the reason is logged.
        let ssf = match self.ssf_transmitter(&profile, &log) {
            Ok(t) => t.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, profile = %profile.name, "SSF disabled for this run");
                None
            }
        };
        Ok(Actions {
            log,
            profile: profile.name,
            backend,
            actor: actor(),
            ssf,
        })
    }

    /// The provider's own record of admin calls in the last `hours` (Keycloak's admin events),
    /// optionally only those on one user or session: to cross-check what the console did.
    pub async fn provider_admin_events(
        &self,
        profile: Option<&str>,
        hours: u32,
        target: Option<&str>,
    ) -> Result<crate::backend::ProviderAdminEvents, Error> {
        let (_, backend) = self.backend(profile)?;
        let since = chrono::Utc::now() - chrono::Duration::hours(i64::from(hours));
        backend.admin_events(since, target).await?.ok_or_else(|| {
            crate::backend::Error::Unsupported {
                backend: backend.kind().as_str(),
                what: "list its admin events (it keeps no audit trail of admin calls the console can read)",
            }
            .into()
        })
    }

    /// The exact steps `intent` on `targets` would run, in order (the dry run; nothing changes).
    pub async fn plan(
        &self,
        profile: Option<&str>,
        intent: Intent,
        targets: &[String],
    ) -> Result<Vec<crate::actions::Step>, Error> {
        use crate::actions::ActionKind;
        let actions = self.actions(profile).await?;
        let mut steps = Vec::new();
        for t in targets {
            match intent {
                Intent::Contain => steps.extend(actions.plan_contain(t).await?),
                Intent::RevokeSession => steps.push(actions.step(ActionKind::RevokeSession, t)),
                Intent::RevokeUserSessions => steps.push(actions.step(ActionKind::RevokeUserSessions, t)),
                Intent::RevokeToken => {
                    steps.push(actions.step(ActionKind::RevokeToken, &crate::inspect::jti_of(t)?))
                }
                Intent::ForcePasswordReset => steps.push(actions.step(ActionKind::ForcePasswordReset, t)),
            }
        }
        Ok(steps)
    }

    /// Runs planned steps (intent and outcome audited, each verified), `concurrency` at a time,
    /// reporting progress; [`Self::cancel_steps`] stops starting new ones.
    pub async fn run_steps(
        &self,
        profile: Option<&str>,
        steps: Vec<crate::actions::Step>,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Vec<crate::actions::ItemResult>, Error> {
        let actions = self.actions(profile).await?;
        self.bulk_cancel.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(actions
            .bulk(steps, concurrency, &self.bulk_cancel, progress)
            .await)
    }

    pub fn cancel_steps(&self) {
        self.bulk_cancel.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Creates an incident from findings, sessions and users, audited.
    pub async fn create_incident(
        &self,
        profile: Option<&str>,
        new: crate::incident::NewIncident,
    ) -> Result<crate::incident::Incident, Error> {
        let profile = self.profile(profile)?;
        let log = self.audit_log().await?;
        let r = crate::incident::create(self.store().await?, &log, &profile.name, &actor(), new).await;
        Ok(r?)
    }

    /// The profile's incidents, newest first.
    pub async fn incidents(&self, profile: Option<&str>) -> Result<Vec<crate::incident::Incident>, Error> {
        let profile = self.profile(profile)?;
        Ok(crate::incident::list(self.store().await?, &profile.name).await?)
    }

    /// One incident with its users, sessions, findings, actions and merged timeline (no charts).
    pub async fn incident(
        &self,
        profile: Option<&str>,
        id: &str,
    ) -> Result<crate::report::ReportData, Error> {
        self.report_data(profile, id, false).await
    }

    /// Changes an incident's status, severity, title or notes, audited.
    pub async fn update_incident(
        &self,
        profile: Option<&str>,
        id: &str,
        change: crate::incident::IncidentUpdate,
    ) -> Result<crate::incident::Incident, Error> {
        let profile = self.profile(profile)?;
        let log = self.audit_log().await?;
        let r = crate::incident::update(self.store().await?, &log, &profile.name, &actor(), id, change).await;
        Ok(r?)
    }

    async fn report_data(
        &self,
        profile: Option<&str>,
        id: &str,
        charts: bool,
    ) -> Result<crate::report::ReportData, Error> {
        let profile = self.profile(profile)?;
        let store = self.store().await?;
        let incident = crate::incident::get(store, &profile.name, id).await?;
        let detector = self.detector()?;
        let mut enricher = detector.enricher().await?;
        let attribution = detector.geoip_attribution();
        Ok(crate::report::gather(store, incident, &mut enricher, attribution, charts, &actor()).await?)
    }

    /// Exports an incident as `format` to `path` with a signed manifest next to it (the signing
    /// key is created in the keyring on first use). Nothing is left behind on failure.
    pub async fn export_report(
        &self,
        profile: Option<&str>,
        id: &str,
        format: crate::report::ReportFormat,
        path: &std::path::Path,
        progress: &(dyn Fn(crate::report::ExportStage) + Send + Sync),
    ) -> Result<crate::report::ExportResult, Error> {
        use crate::report::ExportStage;
        progress(ExportStage::Gathering);
        let data = self.report_data(profile, id, true).await?;
        progress(ExportStage::Signing);
        let key = crate::report::manifest::signing_key(self.secrets.as_ref())?;
        progress(ExportStage::Writing);
        let path = path.to_path_buf();
        let result = tokio::task::spawn_blocking(move || crate::report::export(&data, format, &path, &key))
            .await
            .map_err(|e| Error::Internal(format!("export task: {e}")))??;
        // Who handed what out is part of the record: the export, its files and signing key.
        let profile_name = self.profile(profile)?.name;
        self.audit_log()
            .await?
            .append(crate::audit::NewEntry {
                actor: actor(),
                action: "report.export".into(),
                profile: Some(profile_name),
                target: Some(id.to_string()),
                detail: serde_json::json!({
                    "format": result.format,
                    "files": result.files,
                    "manifest": result.manifest,
                    "bytes": result.bytes,
                    "keyId": result.key_id,
                }),
            })
            .await?;
        progress(ExportStage::Done);
        Ok(result)
    }

    /// Checks an export's manifest signature and file hashes. Trusted keys: this machine's
    /// report key (if one was created) and `public_key_pem`, if given.
    pub fn verify_report(
        &self,
        path: &std::path::Path,
        public_key_pem: Option<&str>,
    ) -> Result<crate::report::Verification, Error> {
        use crate::report::manifest;
        let mut trusted = Vec::new();
        if let Some(pem) = public_key_pem {
            trusted.push(manifest::public_key_from_pem(pem).map_err(crate::report::Error::from)?);
        }
        if let Some(k) = manifest::existing_key(self.secrets.as_ref())? {
            trusted.push(k.verifying_key());
        }
        Ok(manifest::verify(path, &trusted).map_err(crate::report::Error::from)?)
    }

    /// This machine's report signing public key as PEM (the key is created on first use).
    pub fn report_public_key(&self) -> Result<String, Error> {
        use crate::report::manifest;
        let key = manifest::signing_key(self.secrets.as_ref())?;
        Ok(manifest::public_key_pem(&key.verifying_key())?)
    }

    pub async fn inspect(
        &self,
        token: &str,
        profile: Option<&str>,
    ) -> Result<crate::inspect::Inspection, Error> {
        // Malformed input is refused before any keyring or network access.
        crate::inspect::decode(token.trim(), chrono::Utc::now().timestamp())?;
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
            ..Default::default()
        };
        let p = console
            .add_profile("demo", raw, Some(Sensitive::new("s3cr3t-value".into())))
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

    #[test]
    fn a_secret_is_required_exactly_when_the_kind_uses_one() {
        let tmp = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::default());
        let console = Console::with(Paths::under(tmp.path()), secrets.clone()).unwrap();
        let oss = RawProfile {
            kind: "kratos".into(),
            base_url: "http://127.0.0.1:4434".into(),
            ..Default::default()
        };
        let e = console
            .add_profile("oss", oss.clone(), Some(Sensitive::new("stray".into())))
            .unwrap_err();
        assert!(e.to_string().contains("uses no secret"), "{e}");
        assert!(
            console.config().unwrap().get("oss").is_err(),
            "nothing was written"
        );
        console.add_profile("oss", oss, None).unwrap();
        let kc = RawProfile {
            kind: "keycloak".into(),
            base_url: "https://sso.example".into(),
            client_id: "gh".into(),
            realm: Some("acme".into()),
            ..Default::default()
        };
        let e = console.add_profile("kc", kc, None).unwrap_err();
        assert!(e.to_string().contains("client secret is required"), "{e}");
        assert!(console.config().unwrap().get("kc").is_err());
    }
}
