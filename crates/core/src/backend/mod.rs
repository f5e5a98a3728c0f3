//! Admin backends: what the console needs from an identity provider, behind one trait with
//! declared capabilities, so authd, Keycloak, Okta, Auth0 and Kratos fit without changing callers.
//! Callers ask `capabilities()` before offering an action and show what a provider cannot do.

pub mod auth0;
pub mod authd;
pub mod keycloak;
pub mod kratos;
pub mod okta;
pub mod vendor;

use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::config::BackendKind;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    #[error("{backend} cannot {what}")]
    Unsupported {
        backend: &'static str,
        what: &'static str,
    },
    #[error("no client secret for profile {0:?} in the OS keyring; run `gatehouse profile add` again")]
    MissingSecret(String),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    /// The credential works but lacks what this call needs; `missing` names the role or scope.
    #[error("{backend}: the credential lacks {missing}, needed to {action} ({message})")]
    MissingPermission {
        backend: &'static str,
        missing: String,
        action: String,
        message: String,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Http(e) => e.kind(),
            Error::Unsupported { .. } => ErrorKind::Validation,
            Error::MissingSecret(_) => ErrorKind::Unauthorized,
            Error::Secrets(e) => e.kind(),
            Error::MissingPermission { .. } => ErrorKind::Unauthorized,
        }
    }
}

/// What a backend can do. The UI and the CLI offer only what is declared here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub list_sessions_tenant_wide: bool,
    pub list_sessions_per_user: bool,
    pub activity: bool,
    pub revoke_session: bool,
    pub revoke_user_sessions: bool,
    pub revoke_token: bool,
    pub force_reset_with_mfa: bool,
    pub suspend_user: bool,
    /// Whether the provider refuses already-issued access tokens after a revocation. When false,
    /// a stolen access token stays usable until its `exp`.
    pub enforces_access_token_revocation: bool,
    /// The provider's access-token lifetime, when known (bounds the residual exposure).
    pub access_token_lifetime_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `active`, `suspended`, …, as the backend says.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub active: bool,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One access token issued under a session, as far as the backend tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub jti: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    pub session: Session,
    pub tokens: Vec<IssuedToken>,
}

/// One request seen by the backend. `event_id` is the backend's id, unique per profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub jti: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub denial_reason: Option<String>,
    pub sensitive: bool,
}

/// Where the provider itself placed the client of one activity event: Okta's System Log
/// (`client.geographicalContext`, `securityContext`), Auth0's `location_info`. Stored with the
/// event; detection prefers it to GeoIP (which only completes missing coordinates).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// As the provider writes it (Okta: the country's name; Auth0: ISO 3166 alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Latitude and longitude in degrees (both or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coords: Option<(f64, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    /// The provider flagged the client as an anonymizing proxy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proxy: bool,
}

impl Origin {
    /// `None` when it says nothing; coordinates out of range are dropped.
    pub fn nonempty(mut self) -> Option<Origin> {
        self.coords = self
            .coords
            .filter(|(la, lo)| (-90.0..=90.0).contains(la) && (-180.0..=180.0).contains(lo));
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&self.city) {
            self.city = None;
        }
        if blank(&self.country) {
            self.country = None;
        }
        if blank(&self.as_org) {
            self.as_org = None;
        }
        (self != Origin::default()).then_some(self)
    }
}

/// One activity event as sync stores it: the event, and where the provider placed its client.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    pub activity: Activity,
    pub origin: Option<Origin>,
}

impl Page<ActivityRecord> {
    /// The events without their origins (for [`AdminBackend::activity_page`] of adapters that
    /// read origins anyway).
    pub fn without_origins(self) -> Page<Activity> {
        Page {
            items: self.items.into_iter().map(|r| r.activity).collect(),
            cursor: self.cursor,
            more: self.more,
        }
    }
}

/// What the backend says a containment call did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct BackendOutcome {
    pub already_done: bool,
    pub sessions_revoked: Vec<String>,
    pub access_tokens_covered: Vec<IssuedToken>,
    /// Until when a covered token could still be accepted by this backend (None: not at all).
    pub backend_exposure_until: Option<DateTime<Utc>>,
}

impl BackendOutcome {
    /// One session revoked by an adapter call (`already_done`: the provider no longer knew it),
    /// with no token of its own covered.
    pub fn one_session(
        session_id: &str,
        already_done: bool,
        backend_exposure_until: Option<DateTime<Utc>>,
    ) -> BackendOutcome {
        BackendOutcome {
            already_done,
            sessions_revoked: if already_done {
                Vec::new()
            } else {
                vec![session_id.to_string()]
            },
            access_tokens_covered: Vec::new(),
            backend_exposure_until,
        }
    }
}

/// A credential an action minted for the analyst to give to the account's owner (a recovery
/// code or link, a password-change ticket). It reaches the analyst once, in the action's result
/// (the CLI prints it, the desktop shows it); the audit log and the store keep only
/// [`Handover::audit_record`]: that it was made, its expiry and its SHA-256.
#[derive(Debug, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Handover {
    /// `recovery_code`, `recovery_link`, `password_change_ticket`, …
    pub kind: String,
    /// The credential itself. Serialized only as part of the result shown to the analyst.
    #[serde(serialize_with = "expose_handover")]
    #[specta(type = String)]
    pub url_or_code: crate::secrets::Sensitive<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// How to use it, in the analyst's words (e.g. where the code is entered, what must happen
    /// first).
    pub note: String,
}

fn expose_handover<S: serde::Serializer>(
    v: &crate::secrets::Sensitive<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

impl Handover {
    /// Hex SHA-256 of the credential: lets a later reader match a code the owner presents
    /// against the audit log without the log holding it.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.url_or_code.expose().as_bytes()))
    }

    /// What the audit log and the store keep of it (never the credential).
    pub fn audit_record(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "expires_at": self.expires_at,
            "sha256": self.sha256(),
        })
    }
}

impl Clone for Handover {
    fn clone(&self) -> Self {
        Handover {
            kind: self.kind.clone(),
            url_or_code: crate::secrets::Sensitive::new(self.url_or_code.expose().clone()),
            expires_at: self.expires_at,
            note: self.note.clone(),
        }
    }
}

impl PartialEq for Handover {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.url_or_code.expose() == other.url_or_code.expose()
            && self.expires_at == other.expires_at
            && self.note == other.note
    }
}

/// One entry of the provider's own audit trail of admin calls (Keycloak's admin events): what
/// the provider says was done to its users and sessions, and by which client.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAdminEvent {
    pub at: DateTime<Utc>,
    /// `CREATE`, `UPDATE`, `DELETE`, `ACTION`.
    pub operation: String,
    pub resource_type: Option<String>,
    /// The resource, relative to the realm or tenant (e.g. `users/{id}/logout`).
    pub resource_path: String,
    /// The client (id or UUID, as the provider says) that made the call.
    pub actor_client: Option<String>,
    pub actor_user: Option<String>,
    pub ip: Option<String>,
    pub error: Option<String>,
}

/// The provider's admin events in a window, with whether it stores them at all.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAdminEvents {
    /// Whether the provider is set to store admin events (None: it could not be read).
    pub recorded: Option<bool>,
    /// Newest first.
    pub events: Vec<ProviderAdminEvent>,
    /// What limits this answer (events off, the window cut short), in the analyst's words.
    pub notes: Vec<String>,
}

/// The state of a user as needed to verify a reset.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UserState {
    pub user: User,
    pub password_change_required: Option<bool>,
    pub mfa_required: Option<bool>,
    pub active_sessions: Vec<String>,
}

/// The result of `profile test`.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCheck {
    pub reachable: bool,
    pub authenticated: bool,
    /// Each permission we probed, with whether the credential has it.
    pub permissions: Vec<(String, bool)>,
    pub capabilities: Capabilities,
}

/// `profile test`'s full answer: the check, plus warnings (e.g. a credential broader than the
/// console needs) and what the provider cannot do at all.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ProfileCheck {
    #[serde(flatten)]
    pub check: ConnectionCheck,
    pub warnings: Vec<String>,
    pub limitations: Vec<String>,
}

/// One HTTP call an action makes on the provider, as the dry run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PlannedCall {
    pub method: String,
    /// The path on the provider, with the target's id filled in.
    pub path: String,
    /// What the call is for, when the path does not say.
    pub note: Option<String>,
}

impl PlannedCall {
    pub fn new(method: &str, path: impl Into<String>, note: Option<&str>) -> PlannedCall {
        PlannedCall {
            method: method.to_string(),
            path: path.into(),
            note: note.map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The position after this page: pass it back to continue, or store it to resume later.
    pub cursor: Option<String>,
    /// Whether more items were available when this page was read.
    pub more: bool,
}

#[async_trait]
pub trait AdminBackend: Send + Sync {
    fn kind(&self) -> BackendKind;
    fn capabilities(&self) -> Capabilities;
    /// Connectivity, authentication and which permissions the credential has.
    async fn check(&self) -> Result<ConnectionCheck>;
    async fn users_page(&self, cursor: Option<String>) -> Result<Page<User>>;
    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>>;
    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>>;
    async fn session(&self, session_id: &str) -> Result<SessionDetail>;
    /// Tenant-wide activity after `cursor`, oldest first (the cursor is opaque and only grows).
    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>>;
    /// [`Self::activity_page`] with where the provider placed each event's client, for providers
    /// whose logs say (Okta, Auth0); others place nothing and GeoIP does it all.
    async fn activity_records_page(&self, cursor: Option<String>) -> Result<Page<ActivityRecord>> {
        let page = self.activity_page(cursor).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|activity| ActivityRecord {
                    activity,
                    origin: None,
                })
                .collect(),
            cursor: page.cursor,
            more: page.more,
        })
    }
    async fn user_state(&self, user_id: &str) -> Result<UserState>;
    async fn revoke_session(&self, session_id: &str) -> Result<BackendOutcome>;
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome>;
    async fn revoke_token(&self, jti: &str) -> Result<BackendOutcome>;
    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome>;
    /// Whether the backend now refuses this token id (for verification after a token revocation).
    async fn token_revoked(&self, jti: &str) -> Result<Option<bool>>;
    /// The provider's published signing keys (a JWKS document), when it has one.
    async fn jwks(&self) -> Result<Option<Vec<u8>>>;

    /// The HTTP calls `kind` on `target` makes at this provider, in order, for the dry run.
    /// Empty when the adapter does not describe them.
    fn planned_calls(&self, _kind: crate::actions::ActionKind, _target: &str) -> Vec<PlannedCall> {
        Vec::new()
    }

    /// What this provider cannot do, in the analyst's words (shown by `profile test`).
    fn limitations(&self) -> Vec<String> {
        Vec::new()
    }

    /// [`Self::force_password_reset`], plus the credential it minted for the owner, if any
    /// (a recovery code, a password-change ticket). Providers that mint one override this.
    async fn force_reset(
        &self,
        user_id: &str,
        require_mfa: bool,
    ) -> Result<(BackendOutcome, Option<Handover>)> {
        Ok((self.force_password_reset(user_id, require_mfa).await?, None))
    }

    /// Checks a forced reset must pass besides the generic ones (password change, MFA, no
    /// session), read from the re-read user: `(what, ok)`.
    fn reset_checks(&self, _state: &UserState) -> Vec<(String, bool)> {
        Vec::new()
    }

    /// The provider's own record of admin calls since `since`, newest first; with `target`,
    /// only those on that user or session (the adapter knows how its ids appear in resource
    /// paths). None when the provider has no such trail the console can read.
    async fn admin_events(
        &self,
        _since: DateTime<Utc>,
        _target: Option<&str>,
    ) -> Result<Option<ProviderAdminEvents>> {
        Ok(None)
    }

    /// Whether a forced reset is possible at all. When it is but `capabilities()` says it cannot
    /// require MFA, the reset runs without that requirement and says so.
    fn can_force_reset(&self) -> bool {
        self.capabilities().force_reset_with_mfa
    }

    /// [`Self::check`] with warnings about the credential (e.g. broader than needed).
    async fn check_report(&self) -> Result<ProfileCheck> {
        let check = self.check().await?;
        Ok(ProfileCheck {
            check,
            warnings: Vec::new(),
            limitations: self.limitations(),
        })
    }
}

pub type PageStream<'a, T> = Pin<Box<dyn Stream<Item = Result<Page<T>>> + Send + 'a>>;

/// Walks a cursor-paged listing as a stream of pages, starting after `start`, until the backend
/// says there is no more. Each page carries the cursor that resumes after it.
pub fn pages<'a, T, F, Fut>(start: Option<String>, fetch: F) -> PageStream<'a, T>
where
    T: Send + 'a,
    F: Fn(Option<String>) -> Fut + Send + Sync + 'a,
    Fut: std::future::Future<Output = Result<Page<T>>> + Send + 'a,
{
    Box::pin(futures::stream::try_unfold(
        (Some(start), fetch),
        |(state, fetch)| async move {
            let Some(cursor) = state else { return Ok(None) };
            let page = fetch(cursor).await?;
            let next_state = page.more.then(|| page.cursor.clone());
            Ok(Some((page, (next_state, fetch))))
        },
    ))
}

/// Runs `f` over `items`, at most `concurrency` at a time, keeping the input order. The HTTP
/// client's [`crate::http::RateGate`] bounds what reaches the provider and pauses every worker
/// when the provider says its budget is spent, so this only decides how much work is queued.
pub async fn for_each_concurrent<T, R, F, Fut>(items: Vec<T>, concurrency: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = R>,
{
    use futures::StreamExt;
    futures::stream::iter(items)
        .map(f)
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Percent-encodes an id for use as one path segment (ids from a provider or an analyst are
/// never trusted to be path-safe).
pub(crate) fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A malformed answer from a provider: a clear error, and the caller stores nothing.
pub(crate) fn malformed(backend: &str, what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Http(crate::http::Error::Decode(format!(
        "{backend} {what}: {}",
        crate::http::sanitize(&detail.to_string())
    )))
}

pub(crate) fn unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

pub(crate) fn unix_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
