//! The Keycloak adapter (`/admin/realms/{realm}`), authenticated as a confidential client's
//! service account (client credentials). It needs the `realm-management` roles `view-users`,
//! `manage-users`, `view-events` and `view-realm`, and nothing broader.
//!
//! What Keycloak cannot do, said plainly: an admin cannot revoke one access token (RFC 7009
//! revocation only accepts the token's own client), so a stolen access token stays valid until
//! its `exp`, bounded by the realm's `accessTokenLifespan`; there is no session-by-id lookup (we
//! find a session through its user); login events exist only when the realm stores them.
//!
//! Offline sessions (long-lived offline tokens) are listed with a user's sessions, their ids
//! prefixed [`OFFLINE_PREFIX`]: Keycloak lists them per client UUID, which the user's consents
//! name in their `Offline Token` grant. Revoking all of a user's sessions revokes every consent,
//! which takes the offline tokens with it. The realm's admin events (when it stores them) are
//! read back so a verification can show Keycloak recorded our calls.
//!
//! Listings page with `first`/`max` and never trust a total: a short page is the end.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Digest;
use tokio::sync::Mutex;
use url::Url;

use super::{
    Activity, AdminBackend, BackendOutcome, Capabilities, ConnectionCheck, Error, Page, PlannedCall,
    ProfileCheck, ProviderAdminEvent, ProviderAdminEvents, Result, Session, SessionDetail, User, UserState,
    malformed, path_segment, unix_ms,
};
use crate::actions::ActionKind;
use crate::config::BackendKind;
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

const NAME: &str = "keycloak";
/// Users per page (Keycloak's own console asks for 100 at most).
const USERS_PER_PAGE: usize = 100;
/// Users whose sessions are read per sessions page.
const USERS_PER_SESSION_PAGE: usize = 50;
/// Events per request of `GET /events`.
const EVENTS_PER_PAGE: usize = 100;
/// Per-user reads queued at once (the client's gate caps what is in flight).
const FAN_OUT: usize = 4;
/// Admin events per request of `GET /admin-events`.
const ADMIN_EVENTS_PER_PAGE: usize = 100;
/// At most this many admin-event pages are read per question (the window is then cut short,
/// and the answer says so).
const ADMIN_EVENT_PAGES: usize = 20;
/// How an offline session's id starts: Keycloak gives an offline session the id of the login
/// session it came from, so the prefix keeps the two apart and marks it offline.
pub const OFFLINE_PREFIX: &str = "offline:";

pub const VIEW_USERS: &str = "view-users";
pub const MANAGE_USERS: &str = "manage-users";
pub const VIEW_EVENTS: &str = "view-events";
pub const VIEW_REALM: &str = "view-realm";
/// The `realm-management` roles the console needs.
pub const NEEDED_ROLES: [&str; 4] = [VIEW_USERS, MANAGE_USERS, VIEW_EVENTS, VIEW_REALM];
/// Roles that give far more than the console needs.
const BROAD_ROLES: [&str; 7] = [
    "realm-admin",
    "manage-realm",
    "manage-clients",
    "manage-identity-providers",
    "manage-authorization",
    "impersonation",
    "create-client",
];

pub struct Keycloak {
    http: HttpClient,
    base: Url,
    realm: String,
    client_id: String,
    secret: Sensitive<String>,
    token: Mutex<Option<(Sensitive<String>, Instant)>>,
    /// Sessions seen while listing, by id: Keycloak has no session-by-id endpoint, so a session
    /// is found again through its user.
    known: std::sync::Mutex<HashMap<String, Session>>,
    /// The realm's `accessTokenLifespan`, once read.
    access_lifespan: std::sync::Mutex<Option<u64>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRep {
    id: String,
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    required_actions: Vec<String>,
    #[serde(default)]
    totp: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRep {
    id: String,
    user_id: String,
    ip_address: Option<String>,
    start: i64,
    last_access: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRep {
    id: Option<String>,
    time: i64,
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<String>,
    session_id: Option<String>,
    ip_address: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RealmRep {
    access_token_lifespan: Option<u64>,
    events_enabled: Option<bool>,
    admin_events_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentRep {
    client_id: String,
    /// `{"client": <client UUID>, "key": "Offline Token"}` when the client holds offline tokens.
    #[serde(default)]
    additional_grants: Vec<GrantRep>,
}

#[derive(Deserialize)]
struct GrantRep {
    client: Option<String>,
    key: Option<String>,
}

impl ConsentRep {
    /// The client's UUID when it holds offline tokens of the user.
    fn offline_client(&self) -> Option<&str> {
        self.additional_grants
            .iter()
            .find(|g| g.key.as_deref() == Some("Offline Token"))
            .and_then(|g| g.client.as_deref())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthDetailsRep {
    client_id: Option<String>,
    user_id: Option<String>,
    ip_address: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminEventRep {
    time: i64,
    operation_type: String,
    resource_type: Option<String>,
    #[serde(default)]
    resource_path: String,
    auth_details: Option<AuthDetailsRep>,
    error: Option<String>,
}

impl From<AdminEventRep> for ProviderAdminEvent {
    fn from(e: AdminEventRep) -> Self {
        let auth = e.auth_details;
        ProviderAdminEvent {
            at: unix_ms(e.time),
            operation: e.operation_type,
            resource_type: e.resource_type,
            resource_path: e.resource_path,
            actor_client: auth.as_ref().and_then(|a| a.client_id.clone()),
            actor_user: auth.as_ref().and_then(|a| a.user_id.clone()),
            ip: auth.and_then(|a| a.ip_address),
            error: e.error,
        }
    }
}

/// Whether an admin event's resource path names `target` (a user or session id) as one of its
/// segments.
fn names(resource_path: &str, target: &str) -> bool {
    let id = target.strip_prefix(OFFLINE_PREFIX).unwrap_or(target);
    resource_path
        .split('/')
        .any(|seg| seg == id || seg == path_segment(id))
}

/// Login-event types that change credentials or second factors.
const SENSITIVE_EVENTS: [&str; 6] = [
    "UPDATE_PASSWORD",
    "UPDATE_CREDENTIAL",
    "UPDATE_TOTP",
    "REMOVE_TOTP",
    "REMOVE_CREDENTIAL",
    "UPDATE_EMAIL",
];

impl From<UserRep> for User {
    fn from(u: UserRep) -> Self {
        let name = [u.first_name.as_deref(), u.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        User {
            id: u.id,
            username: u.username,
            email: u.email,
            display_name: (!name.is_empty()).then_some(name),
            status: if u.enabled { "active" } else { "disabled" }.into(),
        }
    }
}

impl From<SessionRep> for Session {
    fn from(s: SessionRep) -> Self {
        Session {
            id: s.id,
            user_id: s.user_id,
            started_at: unix_ms(s.start),
            last_seen_at: s.last_access.map(unix_ms),
            expires_at: None,
            ip: s.ip_address,
            user_agent: None,
            active: true,
            revoked_at: None,
        }
    }
}

/// The activity cursor: the newest event already delivered, as `time_ms:event_id`.
fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (t, id) = c.split_once(':')?;
    Some((t.parse().ok()?, id.to_string()))
}

/// An event's id: Keycloak's own when it sends one, else a digest of the event itself.
fn event_id(raw: &serde_json::Value, e: &EventRep) -> String {
    match &e.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let digest = sha2::Sha256::digest(raw.to_string().as_bytes());
            format!("kc-{}", hex::encode(&digest[..12]))
        }
    }
}

/// The `realm-management` client roles in an access token's claims, when it carries them.
fn token_roles(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let roles = claims
        .get("resource_access")?
        .get("realm-management")?
        .get("roles")?
        .as_array()?;
    Some(
        roles
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect(),
    )
}

/// A password nobody knows, long and mixed enough for common password policies.
fn unknown_password() -> Sensitive<String> {
    let bytes: [u8; 24] = rand::random();
    Sensitive::new(format!(
        "{}Aa1!",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl Keycloak {
    pub fn new(
        http: HttpClient,
        base: Url,
        realm: String,
        client_id: String,
        secret: Sensitive<String>,
    ) -> Keycloak {
        Keycloak {
            http,
            base,
            realm,
            client_id,
            secret,
            token: Mutex::new(None),
            known: std::sync::Mutex::new(HashMap::new()),
            access_lifespan: std::sync::Mutex::new(None),
        }
    }

    fn root(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The admin path of the realm, as the dry run shows it and the calls use it.
    fn admin_path(&self, path: &str) -> String {
        format!("/admin/realms/{}{path}", path_segment(&self.realm))
    }

    fn realm_url(&self, path: &str) -> String {
        format!("{}/realms/{}{path}", self.root(), path_segment(&self.realm))
    }

    /// A cached service-account token, fetched again a minute before it expires.
    async fn admin_token(&self, force: bool) -> Result<String> {
        let mut cached = self.token.lock().await;
        if !force
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.expose().clone());
        }
        let url = self.realm_url("/protocol/openid-connect/token");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose().as_str()),
        ];
        let resp: TokenResponse = self
            .http
            .json(Idempotency::Idempotent, || {
                self.http.request(Method::POST, &url).form(&form)
            })
            .await
            .map_err(|e| match e {
                // Keycloak answers a bad client secret with 401 and an unknown client with 400/401.
                http::Error::Rejected { status, message } => http::Error::Unauthorized { status, message },
                other => other,
            })?;
        let lifetime = Duration::from_secs(resp.expires_in.saturating_sub(30).max(5));
        let token = resp.access_token.clone();
        *cached = Some((Sensitive::new(resp.access_token), Instant::now() + lifetime));
        Ok(token)
    }

    /// An authenticated admin call. A 401 refreshes the token once; a 403 names the
    /// `realm-management` role the call needs.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
        (needs, action): (&'static str, &str),
    ) -> Result<reqwest::Response> {
        let url = format!("{}{}", self.root(), self.admin_path(path));
        for force in [false, true] {
            let token = self.admin_token(force).await?;
            let result = self
                .http
                .send(idempotency, || {
                    let mut req = self
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(&token)
                        .query(query);
                    if let Some(b) = body {
                        req = req.json(b);
                    }
                    req
                })
                .await;
            match result {
                Err(http::Error::Unauthorized { status: 401, .. }) if !force => continue,
                Err(http::Error::Unauthorized { status: 403, message }) => {
                    return Err(Error::MissingPermission {
                        backend: NAME,
                        missing: format!("the realm-management role {needs}"),
                        action: action.to_string(),
                        message,
                    });
                }
                other => return other.map_err(Error::from),
            }
        }
        Err(Error::Http(http::Error::Unauthorized {
            status: 401,
            message: "service-account token refused".into(),
        }))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        needs: &'static str,
        what: &str,
    ) -> Result<T> {
        let resp = self
            .send(
                Method::GET,
                path,
                query,
                None,
                Idempotency::Idempotent,
                (needs, what),
            )
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::Error::Transport(format!("reading {what}: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(NAME, what, e))
    }

    /// The realm's settings; remembers `accessTokenLifespan` for the residual exposure.
    async fn realm(&self) -> Result<RealmRep> {
        let r: RealmRep = self.get("", &[], VIEW_REALM, "read the realm settings").await?;
        if let Ok(mut l) = self.access_lifespan.lock() {
            *l = r.access_token_lifespan;
        }
        Ok(r)
    }

    /// The access-token lifetime, read once (best effort: without `view-realm` it stays unknown).
    async fn lifespan(&self) -> Option<u64> {
        let cached = self.access_lifespan.lock().ok().and_then(|l| *l);
        match cached {
            Some(l) => Some(l),
            None => self.realm().await.ok().and_then(|r| r.access_token_lifespan),
        }
    }

    async fn users_at(&self, first: usize, max: usize, brief: bool) -> Result<Vec<UserRep>> {
        self.get(
            "/users",
            &[
                ("first", first.to_string()),
                ("max", max.to_string()),
                ("briefRepresentation", brief.to_string()),
            ],
            VIEW_USERS,
            "list users",
        )
        .await
    }

    async fn consents(&self, user_id: &str) -> Result<Vec<ConsentRep>> {
        self.get(
            &format!("/users/{}/consents", path_segment(user_id)),
            &[],
            VIEW_USERS,
            "list a user's consents",
        )
        .await
    }

    /// A user's sessions, then the offline sessions of each client holding offline tokens
    /// (marked by [`OFFLINE_PREFIX`]), remembered for later lookups by id.
    async fn sessions_of(&self, user_id: &str) -> Result<Vec<Session>> {
        let uid = path_segment(user_id);
        let reps: Vec<SessionRep> = self
            .get(
                &format!("/users/{uid}/sessions"),
                &[],
                VIEW_USERS,
                "list a user's sessions",
            )
            .await?;
        let mut sessions: Vec<Session> = reps.into_iter().map(Session::from).collect();
        let mut offline_ids = HashSet::new();
        for consent in self.consents(user_id).await? {
            let Some(client) = consent.offline_client() else {
                continue;
            };
            let reps: Vec<SessionRep> = self
                .get(
                    &format!("/users/{uid}/offline-sessions/{}", path_segment(client)),
                    &[],
                    VIEW_USERS,
                    "list a user's offline sessions",
                )
                .await?;
            for r in reps {
                // One offline session can hold tokens of several clients: list it once.
                if offline_ids.insert(r.id.clone()) {
                    let s = Session::from(r);
                    sessions.push(Session {
                        id: format!("{OFFLINE_PREFIX}{}", s.id),
                        ..s
                    });
                }
            }
        }
        if let Ok(mut known) = self.known.lock() {
            for s in &sessions {
                known.insert(s.id.clone(), s.clone());
            }
        }
        Ok(sessions)
    }

    fn remembered(&self, session_id: &str) -> Option<Session> {
        self.known.lock().ok()?.get(session_id).cloned()
    }

    /// Finds a session's user: from what was listed before, else by walking the users.
    async fn locate(&self, session_id: &str) -> Result<Option<Session>> {
        if let Some(s) = self.remembered(session_id) {
            return Ok(Some(s));
        }
        let mut first = 0;
        loop {
            let users = self.users_at(first, USERS_PER_PAGE, true).await?;
            let n = users.len();
            let found =
                super::for_each_concurrent(users, FAN_OUT, |u| async move { self.sessions_of(&u.id).await })
                    .await;
            for r in found {
                if let Some(s) = r?.into_iter().find(|s| s.id == session_id) {
                    return Ok(Some(s));
                }
            }
            if n < USERS_PER_PAGE {
                return Ok(None);
            }
            first += n;
        }
    }

    fn exposure(&self, lifespan: Option<u64>) -> Option<chrono::DateTime<Utc>> {
        lifespan
            .and_then(|s| chrono::Duration::try_seconds(s as i64))
            .map(|d| Utc::now() + d)
    }

    /// The roles the credential has: from the token's claims, else by probing the read calls
    /// (`manage-users` cannot be probed without changing something, so it stays unknown).
    async fn granted_roles(&self, token: &str) -> (Vec<(String, bool)>, Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let (permissions, roles) = match token_roles(token) {
            Some(roles) => (
                NEEDED_ROLES
                    .iter()
                    .map(|r| (format!("{r} (realm-management)"), roles.iter().any(|x| x == r)))
                    .collect::<Vec<_>>(),
                roles,
            ),
            None => {
                warnings.push(
                    "the service-account token carries no realm-management roles claim; read \
                     access was probed, manage-users could not be"
                        .to_string(),
                );
                let users = self.users_at(0, 1, true).await.is_ok();
                let events = self
                    .get::<serde_json::Value>("/events", &[("max", "1".into())], VIEW_EVENTS, "read events")
                    .await
                    .is_ok();
                let realm = self.realm().await.is_ok();
                (
                    vec![
                        ("view-users (realm-management)".to_string(), users),
                        (
                            "manage-users (realm-management, not determinable)".to_string(),
                            false,
                        ),
                        ("view-events (realm-management)".to_string(), events),
                        ("view-realm (realm-management)".to_string(), realm),
                    ],
                    Vec::new(),
                )
            }
        };
        for (perm, ok) in &permissions {
            if !ok {
                warnings.push(format!(
                    "missing {perm}: grant it to the service account of client {:?}",
                    http::sanitize(&self.client_id)
                ));
            }
        }
        let broad: Vec<&str> = BROAD_ROLES
            .iter()
            .copied()
            .filter(|b| roles.iter().any(|r| r == b))
            .collect();
        if !broad.is_empty() {
            warnings.push(format!(
                "the credential is broader than needed ({}): grant only {} of realm-management",
                broad.join(", "),
                NEEDED_ROLES.join(", ")
            ));
        }
        (permissions, roles, warnings)
    }
}

#[async_trait]
impl AdminBackend for Keycloak {
    fn kind(&self) -> BackendKind {
        BackendKind::Keycloak
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            list_sessions_tenant_wide: false,
            list_sessions_per_user: true,
            activity: true,
            revoke_session: true,
            revoke_user_sessions: true,
            revoke_token: false,
            force_reset_with_mfa: true,
            suspend_user: true,
            enforces_access_token_revocation: false,
            access_token_lifetime_secs: self.access_lifespan.lock().ok().and_then(|l| *l),
        }
    }

    fn limitations(&self) -> Vec<String> {
        vec![
            "An admin cannot revoke a single access token (RFC 7009 revocation accepts only the \
             token's own client): revoking its session stops refreshes, but the access token stays \
             valid at resource servers until its exp, up to the realm's accessTokenLifespan."
                .into(),
            "No realm-wide session listing in the public API: sessions are read user by user; \
             offline sessions are read per client holding the user's offline tokens (ids prefixed \
             offline:)."
                .into(),
            "Keycloak's admin events cross-check our calls only when the realm stores admin events \
             (adminEventsEnabled); otherwise verification rests on the re-read state alone."
                .into(),
            "Activity is the realm's login events (no per-request log), and only when the realm \
             stores events; events carry no user agent."
                .into(),
            "A forced reset sets a random temporary password nobody knows: the user recovers \
             through the realm's forgot-password email or an admin-sent execute-actions email."
                .into(),
        ]
    }

    async fn check(&self) -> Result<ConnectionCheck> {
        Ok(self.check_report().await?.check)
    }

    async fn check_report(&self) -> Result<ProfileCheck> {
        let discovery = self.realm_url("/.well-known/openid-configuration");
        let reachable = self
            .http
            .send(Idempotency::Idempotent, || {
                self.http.request(Method::GET, &discovery)
            })
            .await
            .is_ok();
        let mut warnings = Vec::new();
        let mut permissions = Vec::new();
        let mut authenticated = false;
        if reachable {
            match self.admin_token(true).await {
                Ok(token) => {
                    authenticated = true;
                    let (p, roles, w) = self.granted_roles(&token).await;
                    permissions = p;
                    warnings = w;
                    if roles.iter().any(|r| r == VIEW_REALM) || roles.is_empty() {
                        match self.realm().await {
                            Ok(r) => {
                                if r.events_enabled == Some(false) {
                                    warnings.push(
                                        "the realm does not store login events (eventsEnabled = \
                                         false): sync will find no activity"
                                            .into(),
                                    );
                                }
                                if r.admin_events_enabled == Some(false) {
                                    warnings.push(
                                        "the realm does not store admin events \
                                         (adminEventsEnabled = false): Keycloak keeps no record of \
                                         the console's calls to cross-check a containment against"
                                            .into(),
                                    );
                                }
                            }
                            Err(e) => warnings.push(format!("cannot read the realm settings: {e}")),
                        }
                    }
                }
                Err(e) => warnings.push(format!("the token endpoint refused the client: {e}")),
            }
        } else {
            warnings.push(format!(
                "realm {:?} does not answer at {}",
                http::sanitize(&self.realm),
                discovery
            ));
        }
        Ok(ProfileCheck {
            check: ConnectionCheck {
                reachable,
                authenticated,
                permissions,
                capabilities: self.capabilities(),
            },
            warnings,
            limitations: self.limitations(),
        })
    }

    async fn users_page(&self, cursor: Option<String>) -> Result<Page<User>> {
        let first = offset(cursor.as_deref())?;
        let users = self.users_at(first, USERS_PER_PAGE, false).await?;
        let n = users.len();
        Ok(Page {
            items: users.into_iter().map(User::from).collect(),
            cursor: Some((first + n).to_string()),
            more: n == USERS_PER_PAGE,
        })
    }

    /// The sessions of the next users (Keycloak lists sessions per user only).
    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>> {
        let first = offset(cursor.as_deref())?;
        let users = self.users_at(first, USERS_PER_SESSION_PAGE, true).await?;
        let n = users.len();
        let per_user =
            super::for_each_concurrent(users, FAN_OUT, |u| async move { self.sessions_of(&u.id).await })
                .await;
        let mut items = Vec::new();
        for r in per_user {
            items.extend(r?);
        }
        Ok(Page {
            items,
            cursor: Some((first + n).to_string()),
            more: n == USERS_PER_SESSION_PAGE,
        })
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.sessions_of(user_id).await
    }

    /// Keycloak drops a session when it ends: one seen before and gone now is reported inactive.
    async fn session(&self, session_id: &str) -> Result<SessionDetail> {
        let Some(seen) = self.locate(session_id).await? else {
            return Err(Error::Http(http::Error::NotFound {
                message: format!("no session {:?} in the realm", http::sanitize(session_id)),
            }));
        };
        let now = self.sessions_of(&seen.user_id).await?;
        let session = match now.into_iter().find(|s| s.id == session_id) {
            Some(s) => s,
            None => Session {
                active: false,
                ..seen
            },
        };
        Ok(SessionDetail {
            session,
            tokens: Vec::new(),
        })
    }

    /// Login events newer than the cursor, oldest first. Keycloak lists events newest first
    /// with offset paging, so the pages are read back to the cursor and delivered reversed.
    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>> {
        let after = match cursor.as_deref() {
            None => None,
            Some(c) => Some(
                parse_cursor(c)
                    .ok_or_else(|| malformed(NAME, "activity cursor", format!("{c:?} is not time:id")))?,
            ),
        };
        let mut query_base = Vec::new();
        if let Some((t, _)) = &after {
            // dateFrom is a day in the server's time zone: ask from the day before (any zone),
            // and make the exact cut below.
            let day = unix_ms(t.saturating_sub(86_400_000)).format("%Y-%m-%d");
            query_base.push(("dateFrom", day.to_string()));
        }
        let mut fresh: Vec<Activity> = Vec::new();
        let mut seen = HashSet::new();
        let mut first = 0usize;
        'pages: loop {
            let mut query = query_base.clone();
            query.push(("first", first.to_string()));
            query.push(("max", EVENTS_PER_PAGE.to_string()));
            let raw: Vec<serde_json::Value> = self
                .get("/events", &query, VIEW_EVENTS, "read login events")
                .await?;
            let n = raw.len();
            for v in raw {
                let e: EventRep =
                    serde_json::from_value(v.clone()).map_err(|err| malformed(NAME, "login event", err))?;
                let id = event_id(&v, &e);
                if let Some((t, last)) = &after
                    && (e.time < *t || (e.time == *t && id <= *last))
                {
                    if e.time < *t {
                        break 'pages;
                    }
                    continue;
                }
                if !seen.insert(id.clone()) {
                    continue;
                }
                fresh.push(Activity {
                    event_id: id,
                    at: unix_ms(e.time),
                    user_id: e.user_id,
                    session_id: e.session_id,
                    jti: None,
                    ip: e.ip_address,
                    user_agent: None,
                    method: None,
                    sensitive: SENSITIVE_EVENTS.contains(&e.kind.as_str()),
                    path: Some(e.kind),
                    status: None,
                    denial_reason: e.error,
                });
            }
            if n < EVENTS_PER_PAGE {
                break;
            }
            first += n;
        }
        fresh.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
        let next = fresh
            .last()
            .map(|a| format!("{}:{}", a.at.timestamp_millis(), a.event_id))
            .or(cursor);
        Ok(Page {
            items: fresh,
            cursor: next,
            more: false,
        })
    }

    async fn user_state(&self, user_id: &str) -> Result<UserState> {
        let u: UserRep = self
            .get(
                &format!("/users/{}", path_segment(user_id)),
                &[],
                VIEW_USERS,
                "read a user",
            )
            .await?;
        let pcr = u.required_actions.iter().any(|a| a == "UPDATE_PASSWORD");
        let mfa = u.totp || u.required_actions.iter().any(|a| a == "CONFIGURE_TOTP");
        let active_sessions = self
            .sessions_of(user_id)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        Ok(UserState {
            user: u.into(),
            password_change_required: Some(pcr),
            mfa_required: Some(mfa),
            active_sessions,
        })
    }

    async fn revoke_session(&self, session_id: &str) -> Result<BackendOutcome> {
        // Found first, so the verification can tell "ended" from "never existed".
        self.locate(session_id).await?;
        let lifespan = self.lifespan().await;
        let (id, query) = match session_id.strip_prefix(OFFLINE_PREFIX) {
            Some(id) => (id, vec![("isOffline", "true".to_string())]),
            None => (session_id, Vec::new()),
        };
        let result = self
            .send(
                Method::DELETE,
                &format!("/sessions/{}", path_segment(id)),
                &query,
                None,
                Idempotency::Idempotent,
                (MANAGE_USERS, "revoke a session"),
            )
            .await;
        let already_done = match result {
            Ok(_) => false,
            Err(Error::Http(http::Error::NotFound { .. })) => true,
            Err(e) => return Err(e),
        };
        Ok(BackendOutcome::one_session(
            session_id,
            already_done,
            self.exposure(lifespan),
        ))
    }

    /// `POST /users/{id}/logout` (all sessions, and the user's not-before), then every consent
    /// with its offline tokens.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome> {
        let uid = path_segment(user_id);
        let before = self.sessions_of(user_id).await?;
        let lifespan = self.lifespan().await;
        self.send(
            Method::POST,
            &format!("/users/{uid}/logout"),
            &[],
            None,
            Idempotency::Idempotent,
            (MANAGE_USERS, "sign a user out"),
        )
        .await?;
        let consents = self.consents(user_id).await?;
        for c in &consents {
            let r = self
                .send(
                    Method::DELETE,
                    &format!("/users/{uid}/consents/{}", path_segment(&c.client_id)),
                    &[],
                    None,
                    Idempotency::Idempotent,
                    (MANAGE_USERS, "revoke a consent and its offline tokens"),
                )
                .await;
            match r {
                Ok(_) | Err(Error::Http(http::Error::NotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(BackendOutcome {
            already_done: before.is_empty() && consents.is_empty(),
            sessions_revoked: before.into_iter().map(|s| s.id).collect(),
            access_tokens_covered: Vec::new(),
            backend_exposure_until: self.exposure(lifespan),
        })
    }

    async fn revoke_token(&self, _jti: &str) -> Result<BackendOutcome> {
        Err(Error::Unsupported {
            backend: NAME,
            what: "revoke one access token as an admin (revoke its session; the token itself stays valid until exp)",
        })
    }

    /// A random temporary password nobody knows (so the stolen one stops working), the required
    /// actions `UPDATE_PASSWORD` (+ `CONFIGURE_TOTP`), then every session signed out.
    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome> {
        let uid = path_segment(user_id);
        let mut user: serde_json::Value = self
            .get(&format!("/users/{uid}"), &[], VIEW_USERS, "read a user")
            .await?;
        let password = unknown_password();
        let body = serde_json::json!({"type": "password", "value": password.expose(), "temporary": true});
        self.send(
            Method::PUT,
            &format!("/users/{uid}/reset-password"),
            &[],
            Some(&body),
            Idempotency::Idempotent,
            (MANAGE_USERS, "reset a password"),
        )
        .await?;
        let Some(obj) = user.as_object_mut() else {
            return Err(malformed(NAME, "user", "not a JSON object"));
        };
        let mut actions: Vec<String> = obj
            .get("requiredActions")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        let mut wanted = vec!["UPDATE_PASSWORD"];
        if require_mfa {
            wanted.push("CONFIGURE_TOTP");
        }
        for w in wanted {
            if !actions.iter().any(|a| a == w) {
                actions.push(w.to_string());
            }
        }
        obj.insert("requiredActions".into(), serde_json::json!(actions));
        self.send(
            Method::PUT,
            &format!("/users/{uid}"),
            &[],
            Some(&user),
            Idempotency::Idempotent,
            (MANAGE_USERS, "set a user's required actions"),
        )
        .await?;
        self.revoke_user_sessions(user_id).await
    }

    async fn token_revoked(&self, _jti: &str) -> Result<Option<bool>> {
        Ok(None)
    }

    async fn jwks(&self) -> Result<Option<Vec<u8>>> {
        let url = self.realm_url("/protocol/openid-connect/certs");
        let resp = self
            .http
            .send(Idempotency::Idempotent, || self.http.request(Method::GET, &url))
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::Error::Transport(e.to_string()))?;
        Ok(Some(bytes.to_vec()))
    }

    /// `GET /admin-events` newest first, `first`/`max` paged back to `since` (at most
    /// [`ADMIN_EVENT_PAGES`] pages), after reading whether the realm stores them at all.
    async fn admin_events(
        &self,
        since: chrono::DateTime<Utc>,
        target: Option<&str>,
    ) -> Result<Option<ProviderAdminEvents>> {
        let mut notes = Vec::new();
        let recorded = match self.realm().await {
            Ok(r) => r.admin_events_enabled,
            Err(e) => {
                notes.push(format!("whether the realm stores admin events is unknown: {e}"));
                None
            }
        };
        if recorded == Some(false) {
            notes.push(
                "the realm does not store admin events (adminEventsEnabled = false): Keycloak keeps \
                 no record of admin calls, ours included; events listed are from before it was \
                 turned off"
                    .into(),
            );
        }
        let since_ms = since.timestamp_millis();
        // dateFrom is a day in the server's time zone: ask from the day before (any zone), and
        // make the exact cut below.
        let day = unix_ms(since_ms.saturating_sub(86_400_000))
            .format("%Y-%m-%d")
            .to_string();
        let mut events = Vec::new();
        let mut first = 0usize;
        for page in 0.. {
            if page == ADMIN_EVENT_PAGES {
                notes.push(format!(
                    "stopped after {} admin events; older ones in the window were not read",
                    first
                ));
                break;
            }
            let raw: Vec<AdminEventRep> = self
                .get(
                    "/admin-events",
                    &[
                        ("dateFrom", day.clone()),
                        ("first", first.to_string()),
                        ("max", ADMIN_EVENTS_PER_PAGE.to_string()),
                    ],
                    VIEW_EVENTS,
                    "read admin events",
                )
                .await?;
            let n = raw.len();
            let mut older = false;
            for e in raw {
                if e.time < since_ms {
                    older = true;
                    continue;
                }
                if target.is_none_or(|t| names(&e.resource_path, t)) {
                    events.push(ProviderAdminEvent::from(e));
                }
            }
            if older || n < ADMIN_EVENTS_PER_PAGE {
                break;
            }
            first += n;
        }
        Ok(Some(ProviderAdminEvents {
            recorded,
            events,
            notes,
        }))
    }

    fn planned_calls(&self, kind: ActionKind, target: &str) -> Vec<PlannedCall> {
        let t = path_segment(target);
        let p = |m: &str, path: String, note: Option<&str>| PlannedCall::new(m, self.admin_path(&path), note);
        match kind {
            ActionKind::RevokeSession => {
                let mut calls = Vec::new();
                if self.remembered(target).is_none() {
                    calls.push(p(
                        "GET",
                        "/users?first=…&max=100 + /users/{id}/sessions".into(),
                        Some("find the session's user (no session-by-id endpoint)"),
                    ));
                }
                match target.strip_prefix(OFFLINE_PREFIX) {
                    Some(id) => calls.push(p(
                        "DELETE",
                        format!("/sessions/{}?isOffline=true", path_segment(id)),
                        Some("the offline session and its offline tokens"),
                    )),
                    None => calls.push(p(
                        "DELETE",
                        format!("/sessions/{t}"),
                        Some("back-channel logout to clients"),
                    )),
                }
                calls
            }
            ActionKind::RevokeUserSessions => vec![
                p("GET", format!("/users/{t}/sessions"), None),
                p("GET", format!("/users/{t}/consents"), None),
                p(
                    "GET",
                    format!("/users/{t}/offline-sessions/{{clientUuid}}"),
                    Some("each client holding offline tokens"),
                ),
                p(
                    "POST",
                    format!("/users/{t}/logout"),
                    Some("all sessions; sets the user's not-before"),
                ),
                p("GET", format!("/users/{t}/consents"), None),
                p(
                    "DELETE",
                    format!("/users/{t}/consents/{{clientId}}"),
                    Some("each consent, with its offline tokens"),
                ),
            ],
            ActionKind::ForcePasswordReset => vec![
                p("GET", format!("/users/{t}"), None),
                p(
                    "PUT",
                    format!("/users/{t}/reset-password"),
                    Some("a random temporary password, never stored or shown"),
                ),
                p(
                    "PUT",
                    format!("/users/{t}"),
                    Some("requiredActions += UPDATE_PASSWORD, CONFIGURE_TOTP"),
                ),
                p("POST", format!("/users/{t}/logout"), None),
                p(
                    "DELETE",
                    format!("/users/{t}/consents/{{clientId}}"),
                    Some("each consent"),
                ),
            ],
            ActionKind::RevokeToken => Vec::new(),
        }
    }
}

fn offset(cursor: Option<&str>) -> Result<usize> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .parse()
            .map_err(|_| malformed(NAME, "page cursor", format!("{c:?} is not an offset"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_the_token_claims() {
        let claims = serde_json::json!({"resource_access": {"realm-management": {"roles": ["view-users", "manage-users"]}}});
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        let token = format!("e30.{payload}.sig");
        assert_eq!(token_roles(&token).unwrap(), ["view-users", "manage-users"]);
        assert_eq!(token_roles("not-a-jwt"), None);
    }

    #[test]
    fn event_ids_are_stable_without_a_keycloak_id() {
        let v = serde_json::json!({"time": 1, "type": "LOGIN", "sessionId": "s"});
        let e: EventRep = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(event_id(&v, &e), event_id(&v, &e));
        assert!(event_id(&v, &e).starts_with("kc-"));
        assert_eq!(parse_cursor("17:kc-ab"), Some((17, "kc-ab".into())));
        assert_eq!(parse_cursor("x"), None);
    }
}
