//! The Auth0 adapter: the Management API v2 (`https://{tenant}/api/v2`) with a client-credentials
//! token. Users page by offset (Auth0 serves the first 1,000 only), per-user sessions and the
//! session endpoints exist on Enterprise plans only, and tenant logs page by checkpoint
//! (`from` = the last `log_id`, `take` ≤ 100), oldest first.
//!
//! Auth0 cannot revoke an issued access token ("once issued, an access token cannot be
//! revoked"): containment ends sessions and refresh tokens, and the residual exposure is the
//! access-token lifetime of the tenant's APIs (24 h by default). A password-change ticket does
//! not disable the current password until the user completes it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Method, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::vendor::{self, PlannedCall, RateGate, ScopeProbe, segment};
use super::{
    Activity, ActivityRecord, AdminBackend, BackendOutcome, Capabilities, ConnectionCheck, Error, Handover,
    Origin, Page, Result, Session, SessionDetail, User, UserState,
};
use crate::config::BackendKind;
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

/// How an Auth0 profile connects.
pub struct Auth0Settings {
    /// The tenant's canonical domain as a base URL, e.g. `https://acme.eu.auth0.com` (the
    /// Management API is not served on custom domains). `http` only for loopback test servers.
    pub domain: Url,
    /// A machine-to-machine application authorized for the Management API.
    pub client_id: String,
    pub client_secret: Sensitive<String>,
    /// The Management API audience; `None` means `{domain}/api/v2/`.
    pub audience: Option<String>,
    /// Whether the tenant's plan has the sessions API (Enterprise). Without it, sessions are
    /// seen through refresh tokens and logs only.
    pub sessions_api: bool,
    /// The access-token lifetime of the tenant's APIs: the residual exposure after containment.
    pub access_token_lifetime_secs: u64,
    /// Requests in flight at most (bulk actions and per-user session reads).
    pub concurrency: usize,
}

impl Auth0Settings {
    /// Settings with the documented defaults: Enterprise sessions API on, 24 h access tokens,
    /// 4 requests in flight.
    pub fn new(domain: Url, client_id: impl Into<String>, client_secret: Sensitive<String>) -> Auth0Settings {
        Auth0Settings {
            domain,
            client_id: client_id.into(),
            client_secret,
            audience: None,
            sessions_api: true,
            access_token_lifetime_secs: 86_400,
            concurrency: 4,
        }
    }
}

/// Scopes Gatehouse uses, by what needs them.
pub const SCOPE_READ_USERS: &str = "read:users";
pub const SCOPE_UPDATE_USERS: &str = "update:users";
pub const SCOPE_READ_LOGS: &str = "read:logs";
pub const SCOPE_READ_SESSIONS: &str = "read:sessions";
pub const SCOPE_DELETE_SESSIONS: &str = "delete:sessions";
pub const SCOPE_READ_REFRESH_TOKENS: &str = "read:refresh_tokens";
pub const SCOPE_DELETE_REFRESH_TOKENS: &str = "delete:refresh_tokens";
pub const SCOPE_CREATE_TICKETS: &str = "create:user_tickets";
pub const SCOPE_DELETE_MFA: &str = "delete:guardian_enrollments";

/// Users per page; Auth0 serves at most the first 1,000 results of a listing.
const USERS_PER_PAGE: u64 = 100;
const USERS_CAP: u64 = 1_000;
/// Log entries per checkpoint page (Auth0's maximum).
const LOGS_TAKE: usize = 100;
/// Password-change ticket lifetime.
const TICKET_TTL_SECS: u64 = 86_400;

pub struct Auth0 {
    http: HttpClient,
    settings: Auth0Settings,
    gate: RateGate,
    token: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Sensitive<String>,
    until: Instant,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct Auth0User {
    user_id: String,
    email: Option<String>,
    username: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    #[serde(default)]
    blocked: bool,
}

impl From<Auth0User> for User {
    fn from(u: Auth0User) -> Self {
        User {
            username: u
                .username
                .clone()
                .or_else(|| u.email.clone())
                .or_else(|| u.nickname.clone())
                .unwrap_or_else(|| u.user_id.clone()),
            id: u.user_id,
            email: u.email,
            display_name: u.name,
            status: if u.blocked { "blocked" } else { "active" }.into(),
        }
    }
}

/// A session as `GET /sessions/{id}` and `GET /users/{id}/sessions` return it.
#[derive(Debug, Clone, Deserialize)]
pub struct Auth0Session {
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub authenticated_at: Option<DateTime<Utc>>,
    pub idle_expires_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_interacted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub device: SessionDevice,
    #[serde(default)]
    pub clients: Vec<SessionClient>,
}

/// The device facts Auth0 keeps per session: first and last IP, ASN and user agent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, specta::Type)]
pub struct SessionDevice {
    pub initial_user_agent: Option<String>,
    pub initial_ip: Option<String>,
    pub initial_asn: Option<String>,
    pub last_user_agent: Option<String>,
    pub last_ip: Option<String>,
    pub last_asn: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionClient {
    pub client_id: String,
}

impl From<Auth0Session> for Session {
    fn from(s: Auth0Session) -> Self {
        let now = Utc::now();
        let ends = [s.expires_at, s.idle_expires_at].into_iter().flatten().min();
        Session {
            active: ends.is_none_or(|e| e > now),
            id: s.id,
            user_id: s.user_id,
            started_at: s.created_at,
            last_seen_at: s.last_interacted_at.or(s.updated_at),
            expires_at: ends,
            ip: s.device.last_ip.or(s.device.initial_ip),
            user_agent: s.device.last_user_agent.or(s.device.initial_user_agent),
            revoked_at: None,
        }
    }
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<Auth0Session>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct RefreshToken {
    #[allow(dead_code)]
    id: String,
    session_id: Option<String>,
}

#[derive(Deserialize)]
struct RefreshTokenList {
    tokens: Vec<RefreshToken>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct Enrollment {
    status: Option<String>,
}

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
}

/// One tenant log entry (`GET /logs`), the fields Gatehouse reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Auth0Log {
    pub log_id: String,
    pub date: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Present on some event types; not in every log entry.
    pub session_id: Option<String>,
    #[serde(default)]
    pub details: Value,
    pub location_info: Option<LocationInfo>,
}

/// Where Auth0 placed a log entry's IP.
#[derive(Debug, Clone, Default, Deserialize, Serialize, specta::Type)]
pub struct LocationInfo {
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub city_name: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl Auth0Log {
    /// Where Auth0 placed the entry's IP (`location_info`; no network facts in tenant logs).
    pub fn origin(&self) -> Option<Origin> {
        let l = self.location_info.as_ref()?;
        Origin {
            city: l.city_name.clone(),
            country: l.country_code.clone().or_else(|| l.country_name.clone()),
            coords: l.latitude.zip(l.longitude),
            ..Origin::default()
        }
        .nonempty()
    }
}

/// Log types that mean a refusal (failed login, exchange, MFA, throttling).
fn is_failure(kind: &str) -> bool {
    (kind.starts_with('f') && kind != "feature")
        || matches!(
            kind,
            "limit_wc" | "limit_sul" | "limit_mu" | "pwd_leak" | "signup_pwd_leak" | "reset_pwd_leak"
        )
        || (kind.starts_with("gd_") && kind.contains("fail"))
}

/// Log types that change credentials, MFA or account state.
fn is_sensitive(kind: &str) -> bool {
    matches!(
        kind,
        "scp"
            | "scpr"
            | "sce"
            | "sapi"
            | "du"
            | "gd_unenroll"
            | "gd_enrollment_complete"
            | "gd_update_device_account"
            | "gd_recovery_succeed"
            | "sv"
    )
}

impl From<Auth0Log> for Activity {
    fn from(l: Auth0Log) -> Self {
        let failed = is_failure(&l.kind);
        let session_id = l.session_id.clone().or_else(|| {
            l.details
                .get("session_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        Activity {
            event_id: l.log_id,
            at: l.date,
            user_id: l.user_id,
            session_id,
            jti: None,
            ip: l.ip,
            user_agent: l.user_agent,
            method: None,
            path: Some(format!("auth0:{}", http::sanitize(&l.kind))),
            status: Some(if l.kind.starts_with("limit_") {
                429
            } else if failed {
                401
            } else {
                200
            }),
            denial_reason: failed.then(|| {
                l.description
                    .map(|d| http::sanitize(&d))
                    .unwrap_or(l.kind.clone())
            }),
            sensitive: is_sensitive(&l.kind),
        }
    }
}

fn now_plus(secs: u64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs.min(i64::MAX as u64 / 2) as i64)
}

impl Auth0 {
    /// An adapter over `http` (the one client, with its retries) for the tenant in `settings`.
    /// Nothing is sent until the first call; `check()` tests the credential.
    pub fn new(settings: Auth0Settings, http: HttpClient) -> Result<Auth0> {
        if !matches!(settings.domain.scheme(), "https" | "http") || settings.domain.host_str().is_none() {
            return Err(Error::Http(http::Error::Config(format!(
                "auth0 domain {} is not an http(s) URL",
                settings.domain
            ))));
        }
        if settings.client_id.trim().is_empty() {
            return Err(Error::Http(http::Error::Config(
                "auth0 client_id is empty".into(),
            )));
        }
        Ok(Auth0 {
            gate: RateGate::new(settings.concurrency, 1),
            http,
            settings,
            token: Mutex::new(None),
        })
    }

    fn base(&self) -> &str {
        self.settings.domain.as_str().trim_end_matches('/')
    }

    fn audience(&self) -> String {
        self.settings
            .audience
            .clone()
            .unwrap_or_else(|| format!("{}/api/v2/", self.base()))
    }

    /// The rate gate (its last seen quota, its concurrency).
    pub fn gate(&self) -> &RateGate {
        &self.gate
    }

    /// A cached Management API token and its granted scopes, fetched again a minute early.
    async fn token(&self, force: bool) -> Result<(String, Vec<String>)> {
        let mut cached = self.token.lock().await;
        if !force
            && let Some(c) = cached.as_ref()
            && Instant::now() < c.until
        {
            return Ok((c.token.expose().clone(), c.scopes.clone()));
        }
        let url = format!("{}/oauth/token", self.base());
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.expose(),
            "audience": self.audience(),
        });
        let resp = self
            .http
            .send(Idempotency::Idempotent, || {
                self.http.request(Method::POST, &url).json(&body)
            })
            .await?;
        let t: TokenResponse = vendor::read_json(resp, "auth0 POST /oauth/token").await?;
        let scopes = vendor::scopes(t.scope.as_deref().unwrap_or(""));
        let lifetime = Duration::from_secs(t.expires_in.saturating_sub(60).max(5));
        let token = t.access_token.clone();
        *cached = Some(CachedToken {
            token: Sensitive::new(t.access_token),
            until: Instant::now() + lifetime,
            scopes: scopes.clone(),
        });
        Ok((token, scopes))
    }

    /// One Management API call through the rate gate; a 401 refreshes the token once, a 403
    /// names `permission`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency: Idempotency,
        permission: &'static str,
    ) -> Result<Response> {
        let url = format!("{}/api/v2{path}", self.base());
        for force in [false, true] {
            let (token, _) = self.token(force).await?;
            let _slot = self.gate.acquire().await?;
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
                Ok(resp) => {
                    self.gate.observe(resp.headers());
                    return Ok(resp);
                }
                Err(http::Error::Unauthorized { status: 401, .. }) if !force => continue,
                Err(e) => return Err(vendor::needs(permission, e)),
            }
        }
        Err(Error::Http(http::Error::Unauthorized {
            status: 401,
            message: "the Management API token was refused".into(),
        }))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        permission: &'static str,
    ) -> Result<T> {
        let resp = self
            .send(
                Method::GET,
                path,
                query,
                None,
                Idempotency::Idempotent,
                permission,
            )
            .await?;
        vendor::read_json(resp, &format!("auth0 GET /api/v2{}", path_shape(path))).await
    }

    /// A state change whose repetition is harmless (deletes, revokes): retried on failure.
    async fn change(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        permission: &'static str,
    ) -> Result<()> {
        self.send(method, path, &[], body, Idempotency::Idempotent, permission)
            .await
            .map(drop)
    }

    /// All of a user's sessions (Enterprise), following the `next` checkpoint.
    pub async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<Auth0Session>> {
        let path = format!("/users/{}/sessions", segment(user_id));
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![("take", "50".to_string())];
            if let Some(f) = &from {
                query.push(("from", f.clone()));
            }
            let page: SessionList = self.get(&path, &query, SCOPE_READ_SESSIONS).await?;
            let empty = page.sessions.is_empty();
            out.extend(page.sessions);
            match page.next {
                Some(n) if !empty && from.as_deref() != Some(n.as_str()) => from = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// The session ids a user's refresh tokens belong to (sessions seen without the sessions API).
    async fn refresh_token_sessions(&self, user_id: &str) -> Result<Vec<String>> {
        let path = format!("/users/{}/refresh-tokens", segment(user_id));
        let mut ids = BTreeSet::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![("take", "50".to_string())];
            if let Some(f) = &from {
                query.push(("from", f.clone()));
            }
            let page: RefreshTokenList = self.get(&path, &query, SCOPE_READ_REFRESH_TOKENS).await?;
            let empty = page.tokens.is_empty();
            ids.extend(page.tokens.into_iter().filter_map(|t| t.session_id));
            match page.next {
                Some(n) if !empty && from.as_deref() != Some(n.as_str()) => from = Some(n),
                _ => return Ok(ids.into_iter().collect()),
            }
        }
    }

    /// A user's most recent log entries (up to `limit`, newest first) with where Auth0 placed
    /// each IP (`location_info`): the activity and places behind a finding.
    pub async fn user_logs(&self, user_id: &str, limit: usize) -> Result<Vec<Auth0Log>> {
        let path = format!("/users/{}/logs", segment(user_id));
        let mut out = Vec::new();
        // Auth0 pages user logs by offset, 100 at most per page, within its first 1,000.
        for page in 0..(USERS_CAP / LOGS_TAKE as u64) {
            if out.len() >= limit {
                break;
            }
            let logs: Vec<Auth0Log> = self
                .get(
                    &path,
                    &[
                        ("page", page.to_string()),
                        ("per_page", LOGS_TAKE.to_string()),
                        ("sort", "date:-1".into()),
                        ("include_totals", "false".into()),
                    ],
                    SCOPE_READ_LOGS,
                )
                .await?;
            let last = logs.len() < LOGS_TAKE;
            out.extend(logs);
            if last {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Revokes refresh tokens by id, 100 per call (`POST /refresh-tokens/revoke`).
    pub async fn revoke_refresh_tokens(&self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(100) {
            let body = json!({ "ids": chunk });
            self.change(
                Method::POST,
                "/refresh-tokens/revoke",
                Some(&body),
                SCOPE_DELETE_REFRESH_TOKENS,
            )
            .await?;
        }
        Ok(())
    }

    /// Creates a password-change ticket (a one-time link the analyst hands to the user). The
    /// current password keeps working until the user completes it.
    pub async fn password_change_ticket(&self, user_id: &str) -> Result<Handover> {
        let body = json!({
            "user_id": user_id,
            "ttl_sec": TICKET_TTL_SECS,
            "mark_email_as_verified": false,
            "includeEmailInRedirect": false,
        });
        // Not retried: a repeat would mint a second valid link.
        let resp = self
            .send(
                Method::POST,
                "/tickets/password-change",
                &[],
                Some(&body),
                Idempotency::Once,
                SCOPE_CREATE_TICKETS,
            )
            .await?;
        let t: Ticket = vendor::read_json(resp, "auth0 POST /api/v2/tickets/password-change").await?;
        Ok(Handover {
            kind: "password_change_ticket".into(),
            url_or_code: Sensitive::new(t.ticket),
            expires_at: Some(now_plus(TICKET_TTL_SECS)),
            note: "a password-change link for the user: give it through a channel you have verified. \
                   The account is blocked until you unblock it (Auth0 dashboard or PATCH blocked: false) \
                   once the owner has used the link"
                .into(),
        })
    }

    /// Blocks the user (`PATCH /users/{id}` `blocked: true`): no login, with any password, until
    /// an administrator unblocks the account. Auth0 keeps no "must change password" flag, so
    /// this is what makes the old password useless while the owner is reached.
    pub async fn block(&self, user_id: &str) -> Result<()> {
        self.change(
            Method::PATCH,
            &format!("/users/{}", segment(user_id)),
            Some(&json!({ "blocked": true })),
            SCOPE_UPDATE_USERS,
        )
        .await
    }

    /// Removes the user's MFA enrolments and remembered browsers: the next login enrols again.
    pub async fn reset_mfa(&self, user_id: &str) -> Result<()> {
        let id = segment(user_id);
        self.change(
            Method::DELETE,
            &format!("/users/{id}/authenticators"),
            None,
            SCOPE_DELETE_MFA,
        )
        .await?;
        self.change(
            Method::POST,
            &format!("/users/{id}/multifactor/actions/invalidate-remember-browser"),
            None,
            SCOPE_UPDATE_USERS,
        )
        .await
    }

    /// Ends the sessions of many users, `concurrency` at a time under the rate gate; one result
    /// per user, in the order given.
    pub async fn revoke_many_user_sessions(
        &self,
        user_ids: &[String],
    ) -> Vec<(String, Result<BackendOutcome>)> {
        vendor::each_in_order(user_ids, self.gate.concurrency(), |id| {
            self.revoke_user_sessions(id)
        })
        .await
    }

    /// The scopes in the Management API token against what Gatehouse needs.
    pub async fn probe(&self) -> Result<ScopeProbe> {
        let (_, granted) = self.token(true).await?;
        let mut required = vec![
            SCOPE_READ_USERS,
            SCOPE_UPDATE_USERS,
            SCOPE_READ_LOGS,
            SCOPE_READ_REFRESH_TOKENS,
            SCOPE_DELETE_REFRESH_TOKENS,
            SCOPE_CREATE_TICKETS,
            SCOPE_DELETE_MFA,
        ];
        let mut optional = Vec::new();
        if self.settings.sessions_api {
            required.extend([SCOPE_READ_SESSIONS, SCOPE_DELETE_SESSIONS]);
        } else {
            optional.extend([SCOPE_READ_SESSIONS, SCOPE_DELETE_SESSIONS]);
        }
        Ok(ScopeProbe::from_granted(
            "scope of the Management API token",
            granted,
            &required,
            &optional,
        ))
    }

    /// "Contain account" as the Management API calls it makes, in order, for a dry run.
    pub fn contain_playbook(&self, user_id: &str) -> Vec<PlannedCall> {
        let id = segment(user_id);
        vec![
            PlannedCall {
                method: "DELETE",
                path: format!("/api/v2/users/{id}/authenticators"),
                purpose: "remove every MFA enrolment, so the next login enrols again",
                permission: SCOPE_DELETE_MFA,
                optional: false,
            },
            PlannedCall {
                method: "POST",
                path: format!("/api/v2/users/{id}/multifactor/actions/invalidate-remember-browser"),
                purpose: "forget browsers that skip MFA",
                permission: SCOPE_UPDATE_USERS,
                optional: false,
            },
            PlannedCall {
                method: "PATCH",
                path: format!("/api/v2/users/{id}"),
                purpose: "block the account ({\"blocked\": true}): no login with any password until it is unblocked",
                permission: SCOPE_UPDATE_USERS,
                optional: false,
            },
            PlannedCall {
                method: "POST",
                path: "/api/v2/tickets/password-change".into(),
                purpose: "create a password-change link for the user (the account stays blocked until you unblock it)",
                permission: SCOPE_CREATE_TICKETS,
                optional: false,
            },
            PlannedCall {
                method: "DELETE",
                path: format!("/api/v2/users/{id}/sessions"),
                purpose: "end every session of the user (back-channel logout to apps)",
                permission: SCOPE_DELETE_SESSIONS,
                optional: !self.settings.sessions_api,
            },
            PlannedCall {
                method: "DELETE",
                path: format!("/api/v2/users/{id}/refresh-tokens"),
                purpose: "revoke every refresh token of the user",
                permission: SCOPE_DELETE_REFRESH_TOKENS,
                optional: false,
            },
        ]
    }

    /// How long an access token issued before containment stays usable (Auth0 cannot revoke it).
    pub fn residual_exposure(&self) -> Duration {
        Duration::from_secs(self.settings.access_token_lifetime_secs)
    }

    /// Sessions of the users on one page of users, `concurrency` users at a time.
    async fn sessions_of_users(&self, users: &[User]) -> Result<Vec<Session>> {
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let lists: Vec<Result<Vec<Auth0Session>>> = futures::stream::iter(ids)
            .map(|id| async move { self.list_user_sessions(&id).await })
            .buffered(self.gate.concurrency())
            .collect()
            .await;
        let mut out = Vec::new();
        for l in lists {
            match l {
                Ok(sessions) => out.extend(sessions.into_iter().map(Session::from)),
                // Deleted between the user listing and this read: no sessions to sync.
                Err(e) if vendor::is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// A path with ids replaced, for error messages (ids are user data).
fn path_shape(path: &str) -> String {
    path.split('/')
        .enumerate()
        .map(|(i, p)| if i == 2 { "{id}" } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

#[async_trait]
impl AdminBackend for Auth0 {
    fn kind(&self) -> BackendKind {
        BackendKind::Auth0
    }

    fn planned_calls(&self, kind: crate::actions::ActionKind, target: &str) -> Vec<super::PlannedCall> {
        use crate::actions::ActionKind;
        let wanted = |c: &PlannedCall| match kind {
            ActionKind::ForcePasswordReset => {
                c.method == "PATCH"
                    || c.path.contains("/authenticators")
                    || c.path.contains("/multifactor/")
                    || c.path.contains("/tickets/")
            }
            ActionKind::RevokeUserSessions => {
                c.path.ends_with("/sessions") || c.path.ends_with("/refresh-tokens")
            }
            ActionKind::RevokeSession | ActionKind::RevokeToken => false,
        };
        match kind {
            ActionKind::RevokeSession => vec![super::PlannedCall::new(
                "POST",
                format!("/api/v2/sessions/{}/revoke", segment(target)),
                Some("end the session and revoke its refresh tokens"),
            )],
            _ => super::vendor::planned(self.contain_playbook(target).into_iter().filter(wanted)),
        }
    }

    async fn check_report(&self) -> Result<super::ProfileCheck> {
        let check = self.check().await?;
        let warnings = if check.authenticated {
            super::vendor::probe_warnings(self.probe().await)
        } else {
            Vec::new()
        };
        let mut limitations = vec![
            "access tokens cannot be revoked: they work until they expire (24 h by default)".to_string(),
            "Auth0 has no 'must change password' flag: a forced reset blocks the account and creates a \
             password-change link; unblock the account yourself once the owner has used it"
                .to_string(),
        ];
        if !self.settings.sessions_api {
            limitations.push(
                "no sessions API on this plan: sessions are seen through logs and refresh tokens".into(),
            );
        }
        Ok(super::ProfileCheck {
            check,
            warnings,
            limitations,
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            list_sessions_tenant_wide: false,
            list_sessions_per_user: self.settings.sessions_api,
            activity: true,
            revoke_session: self.settings.sessions_api,
            revoke_user_sessions: true,
            revoke_token: false,
            force_reset_with_mfa: true,
            suspend_user: true,
            enforces_access_token_revocation: false,
            access_token_lifetime_secs: Some(self.settings.access_token_lifetime_secs),
        }
    }

    async fn check(&self) -> Result<ConnectionCheck> {
        let probe = match self.probe().await {
            Ok(p) => p,
            Err(e @ Error::Http(http::Error::Transport(_))) => {
                tracing::warn!(error = %e, "auth0 unreachable");
                return Ok(ConnectionCheck {
                    reachable: false,
                    authenticated: false,
                    permissions: Vec::new(),
                    capabilities: self.capabilities(),
                });
            }
            Err(Error::Http(http::Error::Unauthorized { .. })) => {
                return Ok(ConnectionCheck {
                    reachable: true,
                    authenticated: false,
                    permissions: Vec::new(),
                    capabilities: self.capabilities(),
                });
            }
            Err(e) => return Err(e),
        };
        probe.warn("auth0");
        Ok(ConnectionCheck {
            reachable: true,
            authenticated: true,
            permissions: probe.required,
            capabilities: self.capabilities(),
        })
    }

    async fn users_page(&self, cursor: Option<String>) -> Result<Page<User>> {
        let page: u64 = match cursor.as_deref() {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                Error::Http(http::Error::Rejected {
                    status: 400,
                    message: format!("auth0 users cursor {:?} is not a page number", http::sanitize(c)),
                })
            })?,
        };
        let users: Vec<Auth0User> = self
            .get(
                "/users",
                &[
                    ("page", page.to_string()),
                    ("per_page", USERS_PER_PAGE.to_string()),
                    ("include_totals", "false".into()),
                    ("search_engine", "v3".into()),
                    ("sort", "created_at:1".into()),
                ],
                SCOPE_READ_USERS,
            )
            .await?;
        let full = users.len() as u64 == USERS_PER_PAGE;
        let within_cap = (page + 1) * USERS_PER_PAGE < USERS_CAP;
        if full && !within_cap {
            tracing::warn!(
                "auth0 lists only the first {USERS_CAP} users; use a user export job for the rest"
            );
        }
        Ok(Page {
            items: users.into_iter().map(User::from).collect(),
            cursor: Some((page + 1).to_string()),
            more: full && within_cap,
        })
    }

    /// Auth0 has no tenant-wide session list: each page is the sessions of one page of users.
    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>> {
        if !self.settings.sessions_api {
            return Ok(Page {
                items: Vec::new(),
                cursor,
                more: false,
            });
        }
        let users = self.users_page(cursor).await?;
        Ok(Page {
            items: self.sessions_of_users(&users.items).await?,
            cursor: users.cursor,
            more: users.more,
        })
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        if !self.settings.sessions_api {
            return Err(Error::Unsupported {
                backend: "auth0",
                what: "list a user's sessions without the Enterprise sessions API",
            });
        }
        Ok(self
            .list_user_sessions(user_id)
            .await?
            .into_iter()
            .map(Session::from)
            .collect())
    }

    /// A session Auth0 no longer knows (revoked, expired) reads as ended, so a revoke verifies.
    async fn session(&self, session_id: &str) -> Result<SessionDetail> {
        let path = format!("/sessions/{}", segment(session_id));
        match self.get::<Auth0Session>(&path, &[], SCOPE_READ_SESSIONS).await {
            Ok(s) => Ok(SessionDetail {
                session: s.into(),
                tokens: Vec::new(),
            }),
            Err(e) if vendor::is_not_found(&e) => Ok(SessionDetail {
                session: Session {
                    id: session_id.to_string(),
                    user_id: String::new(),
                    started_at: DateTime::default(),
                    last_seen_at: None,
                    expires_at: None,
                    ip: None,
                    user_agent: None,
                    active: false,
                    revoked_at: None,
                },
                tokens: Vec::new(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>> {
        Ok(self.activity_records_page(cursor).await?.without_origins())
    }

    /// Each log entry with where Auth0 placed its IP (`location_info`).
    async fn activity_records_page(&self, cursor: Option<String>) -> Result<Page<ActivityRecord>> {
        let query: Vec<(&str, String)> = match &cursor {
            // The oldest retained entries first, then checkpoints after the last one seen.
            None => vec![
                ("sort", "date:1".into()),
                ("per_page", LOGS_TAKE.to_string()),
                ("page", "0".into()),
            ],
            Some(from) => vec![("from", from.clone()), ("take", LOGS_TAKE.to_string())],
        };
        let logs: Vec<Auth0Log> = self.get("/logs", &query, SCOPE_READ_LOGS).await?;
        let more = logs.len() == LOGS_TAKE;
        let last = logs.last().map(|l| l.log_id.clone());
        Ok(Page {
            items: logs
                .into_iter()
                .map(|l| ActivityRecord {
                    origin: l.origin(),
                    activity: Activity::from(l),
                })
                .collect(),
            cursor: last.or(cursor),
            more,
        })
    }

    async fn user_state(&self, user_id: &str) -> Result<UserState> {
        let id = segment(user_id);
        let user: Auth0User = self.get(&format!("/users/{id}"), &[], SCOPE_READ_USERS).await?;
        let enrollments: Vec<Enrollment> = self
            .get(&format!("/users/{id}/enrollments"), &[], SCOPE_READ_USERS)
            .await?;
        let mfa_enrolled = enrollments
            .iter()
            .any(|e| e.status.as_deref() == Some("confirmed"));
        let active_sessions = if self.settings.sessions_api {
            self.user_sessions(user_id)
                .await?
                .into_iter()
                .filter(|s| s.active)
                .map(|s| s.id)
                .collect()
        } else {
            self.refresh_token_sessions(user_id).await?
        };
        Ok(UserState {
            user: user.into(),
            // Auth0 keeps no "must change password" flag; a ticket is a link, not a state.
            password_change_required: None,
            // No confirmed enrolment left: the next MFA prompt enrols again.
            mfa_required: Some(!mfa_enrolled),
            active_sessions,
        })
    }

    /// `POST /sessions/{id}/revoke`: the session and its refresh tokens.
    async fn revoke_session(&self, session_id: &str) -> Result<BackendOutcome> {
        let path = format!("/sessions/{}/revoke", segment(session_id));
        let already_done = match self
            .change(Method::POST, &path, None, SCOPE_DELETE_SESSIONS)
            .await
        {
            Ok(()) => false,
            Err(e) if vendor::is_not_found(&e) => true,
            Err(e) => return Err(e),
        };
        Ok(BackendOutcome::one_session(
            session_id,
            already_done,
            Some(now_plus(self.settings.access_token_lifetime_secs)),
        ))
    }

    /// Every session (Enterprise) and every refresh token of the user.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome> {
        let id = segment(user_id);
        let mut revoked = Vec::new();
        if self.settings.sessions_api {
            revoked = self
                .list_user_sessions(user_id)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            self.change(
                Method::DELETE,
                &format!("/users/{id}/sessions"),
                None,
                SCOPE_DELETE_SESSIONS,
            )
            .await?;
        }
        self.change(
            Method::DELETE,
            &format!("/users/{id}/refresh-tokens"),
            None,
            SCOPE_DELETE_REFRESH_TOKENS,
        )
        .await?;
        Ok(BackendOutcome {
            already_done: self.settings.sessions_api && revoked.is_empty(),
            sessions_revoked: revoked,
            access_tokens_covered: Vec::new(),
            backend_exposure_until: Some(now_plus(self.settings.access_token_lifetime_secs)),
        })
    }

    async fn revoke_token(&self, _jti: &str) -> Result<BackendOutcome> {
        Err(Error::Unsupported {
            backend: "auth0",
            what: "revoke an access token (Auth0 access tokens stay valid until exp; revoke the sessions and refresh tokens)",
        })
    }

    /// [`AdminBackend::force_reset`] without the ticket (the actions use that one).
    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome> {
        Ok(self.force_reset(user_id, require_mfa).await?.0)
    }

    /// MFA enrolments removed, a password-change ticket created for the user (handed to the
    /// analyst once, in the action's result), then every session and refresh token revoked.
    async fn force_reset(
        &self,
        user_id: &str,
        require_mfa: bool,
    ) -> Result<(BackendOutcome, Option<Handover>)> {
        if require_mfa {
            self.reset_mfa(user_id).await?;
        }
        self.block(user_id).await?;
        let ticket = self.password_change_ticket(user_id).await?;
        Ok((self.revoke_user_sessions(user_id).await?, Some(ticket)))
    }

    /// Auth0 keeps no "must change password" flag: the reset is verified by the block.
    fn reset_checks(&self, state: &UserState) -> Vec<(String, bool)> {
        vec![(
            format!(
                "the account is blocked until the owner has used the link (status: {})",
                state.user.status
            ),
            state.user.status == "blocked",
        )]
    }

    async fn token_revoked(&self, _jti: &str) -> Result<Option<bool>> {
        Ok(None)
    }

    async fn jwks(&self) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/.well-known/jwks.json", self.base());
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
}
