//! The Okta adapter: the Management API (`https://{org}/api/v1`) with an OAuth 2.0 service app
//! (client credentials, `private_key_jwt` client assertion per RFC 7523, signed RS256 or ES256)
//! or a legacy SSWS API token.
//!
//! Okta has no session-list API: sessions are reconstructed from the System Log
//! (`user.session.start` / `user.session.end`, keyed by `authenticationContext.externalSessionId`,
//! which Okta documents as a proxy for the session id) and checked one by one with
//! `GET /api/v1/sessions/{id}` where liveness matters. Users and logs page by the `Link`
//! header's `after` cursor. Every response's `X-Rate-Limit-*` headers feed the rate gate, and
//! requests in flight stay well under Okta's org-wide concurrency limit (75).
//!
//! Clearing a user's sessions with `oauthTokens=true` revokes their access and refresh tokens
//! at Okta, but a resource server that validates JWTs locally accepts them until `exp`: the
//! residual exposure is the authorization server's access-token lifetime (60 min by default).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::vendor::{self, PlannedCall, RateGate, ScopeProbe, segment};
use super::{
    Activity, ActivityRecord, AdminBackend, BackendOutcome, Capabilities, ConnectionCheck, Error, Origin,
    Page, Result, Session, SessionDetail, User, UserState,
};
use crate::config::BackendKind;
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

pub const SCOPE_USERS_READ: &str = "okta.users.read";
pub const SCOPE_USERS_MANAGE: &str = "okta.users.manage";
pub const SCOPE_LOGS_READ: &str = "okta.logs.read";
pub const SCOPE_SESSIONS_READ: &str = "okta.sessions.read";
pub const SCOPE_SESSIONS_MANAGE: &str = "okta.sessions.manage";
pub const SCOPE_USER_RISK_MANAGE: &str = "okta.userRisk.manage";

/// The scopes Gatehouse needs, and the one it uses when granted (ITP user risk).
pub const REQUIRED_SCOPES: [&str; 5] = [
    SCOPE_USERS_READ,
    SCOPE_USERS_MANAGE,
    SCOPE_LOGS_READ,
    SCOPE_SESSIONS_READ,
    SCOPE_SESSIONS_MANAGE,
];
pub const OPTIONAL_SCOPES: [&str; 1] = [SCOPE_USER_RISK_MANAGE];

/// The signature algorithms Gatehouse signs client assertions with (both accepted by Okta).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// An RSA key (PKCS#1 or PKCS#8 PEM), 2048 bits or more.
    Rs256,
    /// A P-256 key (PKCS#8 PEM).
    Es256,
}

impl AssertionAlgorithm {
    /// The algorithm a PEM private key signs with: RS256 for an RSA key, otherwise ES256.
    pub fn of_pem(pem: &str) -> AssertionAlgorithm {
        if EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok() {
            AssertionAlgorithm::Rs256
        } else {
            AssertionAlgorithm::Es256
        }
    }
}

/// How Gatehouse authenticates to Okta.
pub enum OktaAuth {
    /// A legacy API token (`Authorization: SSWS …`), acting with its owner's admin roles.
    Ssws { token: Sensitive<String> },
    /// An OAuth 2.0 service app with a registered public key: client credentials with a
    /// `private_key_jwt` assertion. `scopes` are requested (default: [`REQUIRED_SCOPES`]).
    PrivateKeyJwt {
        client_id: String,
        /// The `kid` of the key registered with the app.
        key_id: String,
        /// The private key, PEM.
        private_key: Sensitive<String>,
        algorithm: AssertionAlgorithm,
        scopes: Vec<String>,
    },
}

/// How an Okta profile connects.
pub struct OktaSettings {
    /// The org URL, e.g. `https://acme.okta.com` (`http` only for loopback test servers).
    pub org_url: Url,
    pub auth: OktaAuth,
    /// Requests in flight at most (Okta allows 75 per org, shared with every other client).
    pub concurrency: usize,
    /// Requests of each rate-limit window left to other clients of the org.
    pub rate_reserve: u64,
    /// How far back the System Log is read for sessions and the first activity sync.
    pub log_window_days: u32,
    /// The access-token lifetime of the authorization servers the apps use (residual exposure).
    pub access_token_lifetime_secs: u64,
    /// Whether a forced reset also raises the user's ITP risk to HIGH (needs Identity Threat
    /// Protection and `okta.userRisk.manage`; skipped with a warning where unavailable).
    pub set_user_risk: bool,
}

impl OktaSettings {
    /// Settings with the documented defaults: 8 requests in flight, 2 of each window kept in
    /// reserve, 7 days of System Log (Okta's default query window), 60-minute access tokens.
    pub fn new(org_url: Url, auth: OktaAuth) -> OktaSettings {
        OktaSettings {
            org_url,
            auth,
            concurrency: 8,
            rate_reserve: 2,
            log_window_days: 7,
            access_token_lifetime_secs: 3_600,
            set_user_risk: false,
        }
    }
}

/// Users and log events per page (Okta's maximum for users is 200, for logs 1,000).
const USERS_LIMIT: u32 = 200;
const LOGS_LIMIT: u32 = 1_000;
const SESSION_EVENTS: &str = r#"eventType eq "user.session.start" or eventType eq "user.session.end""#;

enum Signer {
    Ssws(Sensitive<String>),
    Jwt {
        client_id: String,
        key_id: String,
        key: EncodingKey,
        algorithm: Algorithm,
        scopes: Vec<String>,
    },
}

pub struct Okta {
    http: HttpClient,
    base: String,
    signer: Signer,
    settings: OktaSettings,
    gate: RateGate,
    token: Mutex<Option<CachedToken>>,
}

/// An access token, until when to use it, and the scopes it was granted.
type CachedToken = (Sensitive<String>, Instant, Vec<String>);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct OktaUser {
    id: String,
    status: String,
    #[serde(default)]
    profile: OktaProfile,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OktaProfile {
    login: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
}

impl From<OktaUser> for User {
    fn from(u: OktaUser) -> Self {
        let p = u.profile;
        let full = match (&p.first_name, &p.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        User {
            username: p
                .login
                .clone()
                .or(p.email.clone())
                .unwrap_or_else(|| u.id.clone()),
            id: u.id,
            email: p.email,
            display_name: p.display_name.or(full),
            status: u.status.to_ascii_lowercase(),
        }
    }
}

/// `GET /api/v1/sessions/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaSession {
    pub id: String,
    pub user_id: String,
    pub login: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: String,
    pub last_password_verification: Option<DateTime<Utc>>,
    pub last_factor_verification: Option<DateTime<Utc>>,
    #[serde(default)]
    pub amr: Vec<String>,
}

impl From<OktaSession> for Session {
    fn from(s: OktaSession) -> Self {
        let live = s.expires_at.is_none_or(|e| e > Utc::now());
        Session {
            active: live && s.status == "ACTIVE",
            last_seen_at: [s.last_password_verification, s.last_factor_verification]
                .into_iter()
                .flatten()
                .max(),
            id: s.id,
            user_id: s.user_id,
            started_at: s.created_at,
            expires_at: s.expires_at,
            ip: None,
            user_agent: None,
            revoked_at: None,
        }
    }
}

/// A System Log event (`GET /api/v1/logs`), the fields Gatehouse reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub uuid: String,
    pub published: DateTime<Utc>,
    pub event_type: String,
    pub display_message: Option<String>,
    pub actor: Option<LogActor>,
    pub client: Option<LogClient>,
    pub authentication_context: Option<LogAuthContext>,
    pub security_context: Option<LogSecurityContext>,
    pub outcome: Option<LogOutcome>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogActor {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub alternate_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogClient {
    pub ip_address: Option<String>,
    pub user_agent: Option<LogUserAgent>,
    pub geographical_context: Option<GeoContext>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogUserAgent {
    pub raw_user_agent: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct GeoContext {
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub geolocation: Option<GeoPoint>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, specta::Type)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogAuthContext {
    pub external_session_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSecurityContext {
    pub as_number: Option<u32>,
    pub as_org: Option<String>,
    pub is_proxy: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogOutcome {
    pub result: Option<String>,
    pub reason: Option<String>,
}

impl LogEvent {
    /// The session the event belongs to; Okta writes `unknown` when there is none.
    pub fn session_id(&self) -> Option<&str> {
        self.authentication_context
            .as_ref()?
            .external_session_id
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "unknown")
    }

    fn user_id(&self) -> Option<&str> {
        self.actor
            .as_ref()
            .filter(|a| a.kind.as_deref() == Some("User"))
            .map(|a| a.id.as_str())
    }

    fn ip(&self) -> Option<String> {
        self.client.as_ref()?.ip_address.clone()
    }

    fn user_agent(&self) -> Option<String> {
        self.client.as_ref()?.user_agent.as_ref()?.raw_user_agent.clone()
    }

    /// Where Okta placed the client: `client.geographicalContext` and the network facts of
    /// `securityContext` (AS number and organisation, anonymizing proxy).
    pub fn origin(&self) -> Option<Origin> {
        let geo = self.client.as_ref().and_then(|c| c.geographical_context.as_ref());
        let sc = self.security_context.as_ref();
        Origin {
            city: geo.and_then(|g| g.city.clone()),
            country: geo.and_then(|g| g.country.clone()),
            coords: geo.and_then(|g| g.geolocation).map(|p| (p.lat, p.lon)),
            asn: sc.and_then(|s| s.as_number),
            as_org: sc.and_then(|s| s.as_org.clone()),
            proxy: sc.and_then(|s| s.is_proxy) == Some(true),
        }
        .nonempty()
    }

    fn failed(&self) -> bool {
        matches!(
            self.outcome.as_ref().and_then(|o| o.result.as_deref()),
            Some("FAILURE" | "DENY")
        )
    }
}

/// What the System Log says about one session: where and how it was used.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvidence {
    pub session_id: String,
    pub user_id: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub ended: bool,
    pub ips: Vec<String>,
    pub user_agents: Vec<String>,
    pub places: Vec<String>,
    pub asns: Vec<u32>,
    pub as_orgs: Vec<String>,
    pub proxy_seen: bool,
    pub events: u32,
}

impl PartialEq for GeoPoint {
    fn eq(&self, o: &Self) -> bool {
        self.lat.to_bits() == o.lat.to_bits() && self.lon.to_bits() == o.lon.to_bits()
    }
}

/// Groups log events by session, in order of first appearance.
pub fn session_evidence(events: &[LogEvent]) -> Vec<SessionEvidence> {
    fn add<T: PartialEq>(v: &mut Vec<T>, x: Option<T>) {
        if let Some(x) = x
            && !v.contains(&x)
        {
            v.push(x);
        }
    }
    let mut order = Vec::new();
    let mut by_id: HashMap<String, SessionEvidence> = HashMap::new();
    for e in events {
        let Some(sid) = e.session_id() else { continue };
        let ev = by_id.entry(sid.to_string()).or_insert_with(|| {
            order.push(sid.to_string());
            SessionEvidence {
                session_id: sid.to_string(),
                user_id: None,
                first_seen: e.published,
                last_seen: e.published,
                ended: false,
                ips: Vec::new(),
                user_agents: Vec::new(),
                places: Vec::new(),
                asns: Vec::new(),
                as_orgs: Vec::new(),
                proxy_seen: false,
                events: 0,
            }
        });
        ev.events += 1;
        ev.first_seen = ev.first_seen.min(e.published);
        ev.last_seen = ev.last_seen.max(e.published);
        ev.ended |= e.event_type == "user.session.end";
        if ev.user_id.is_none() {
            ev.user_id = e.user_id().map(str::to_string);
        }
        add(&mut ev.ips, e.ip());
        add(&mut ev.user_agents, e.user_agent());
        let geo = e.client.as_ref().and_then(|c| c.geographical_context.as_ref());
        add(
            &mut ev.places,
            geo.map(|g| {
                [g.city.as_deref(), g.country.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|p| !p.is_empty()),
        );
        if let Some(sc) = &e.security_context {
            add(&mut ev.asns, sc.as_number);
            add(&mut ev.as_orgs, sc.as_org.clone());
            ev.proxy_seen |= sc.is_proxy == Some(true);
        }
    }
    order.into_iter().filter_map(|id| by_id.remove(&id)).collect()
}

/// Events that change credentials, factors or privileges.
fn is_sensitive(event_type: &str) -> bool {
    event_type.starts_with("user.mfa.factor.")
        || event_type.starts_with("user.account.privilege.")
        || matches!(
            event_type,
            "user.account.update_password"
                | "user.account.reset_password"
                | "user.credential.forgot_password"
                | "system.api_token.create"
                | "app.oauth2.as.consent.grant"
                | "user.account.update_profile"
        )
}

impl From<LogEvent> for Activity {
    fn from(e: LogEvent) -> Self {
        let failed = e.failed();
        Activity {
            session_id: e.session_id().map(str::to_string),
            user_id: e.user_id().map(str::to_string),
            ip: e.ip(),
            user_agent: e.user_agent(),
            method: None,
            path: Some(format!("okta:{}", http::sanitize(&e.event_type))),
            status: Some(if failed { 401 } else { 200 }),
            denial_reason: failed.then(|| {
                e.outcome
                    .as_ref()
                    .and_then(|o| o.reason.as_deref())
                    .map(http::sanitize)
                    .unwrap_or_else(|| "denied".into())
            }),
            sensitive: is_sensitive(&e.event_type),
            jti: None,
            event_id: e.uuid,
            at: e.published,
        }
    }
}

#[derive(Deserialize)]
struct Factor {
    status: Option<String>,
}

#[derive(Deserialize)]
struct Role {
    #[serde(rename = "type")]
    kind: String,
}

/// What an admin role of an SSWS token's owner lets Gatehouse do, as scope names.
fn role_scopes(role: &str) -> &'static [&'static str] {
    match role {
        "SUPER_ADMIN" | "ORG_ADMIN" => &[
            SCOPE_USERS_READ,
            SCOPE_USERS_MANAGE,
            SCOPE_LOGS_READ,
            SCOPE_SESSIONS_READ,
            SCOPE_SESSIONS_MANAGE,
            SCOPE_USER_RISK_MANAGE,
        ],
        "USER_ADMIN" | "HELP_DESK_ADMIN" => &[
            SCOPE_USERS_READ,
            SCOPE_USERS_MANAGE,
            SCOPE_SESSIONS_READ,
            SCOPE_SESSIONS_MANAGE,
        ],
        "READ_ONLY_ADMIN" => &[SCOPE_USERS_READ, SCOPE_LOGS_READ, SCOPE_SESSIONS_READ],
        "REPORT_ADMIN" => &[SCOPE_LOGS_READ],
        _ => &[],
    }
}

/// Rejects ids that could break out of a System Log filter string.
fn filter_id(what: &str, id: &str) -> Result<String> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Http(http::Error::Rejected {
            status: 400,
            message: format!("{what} id {:?} is not an Okta id", http::sanitize(id)),
        }));
    }
    Ok(id.to_string())
}

fn now_plus(secs: u64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs.min(i64::MAX as u64 / 2) as i64)
}

impl Okta {
    /// An adapter over `http` (the one client, with its retries) for the org in `settings`.
    /// The private key (if any) is parsed here, so a bad key fails at setup, not mid-incident.
    pub fn new(settings: OktaSettings, http: HttpClient) -> Result<Okta> {
        if !matches!(settings.org_url.scheme(), "https" | "http") || settings.org_url.host_str().is_none() {
            return Err(Error::Http(http::Error::Config(format!(
                "okta org URL {} is not an http(s) URL",
                settings.org_url
            ))));
        }
        let signer = match &settings.auth {
            OktaAuth::Ssws { token } => Signer::Ssws(Sensitive::new(token.expose().clone())),
            OktaAuth::PrivateKeyJwt {
                client_id,
                key_id,
                private_key,
                algorithm,
                scopes,
            } => {
                let pem = private_key.expose().as_bytes();
                let (key, algorithm) = match algorithm {
                    AssertionAlgorithm::Rs256 => (EncodingKey::from_rsa_pem(pem), Algorithm::RS256),
                    AssertionAlgorithm::Es256 => (EncodingKey::from_ec_pem(pem), Algorithm::ES256),
                };
                let key = key.map_err(|_| {
                    Error::Http(http::Error::Config(format!(
                        "the Okta private key is not a {algorithm:?} PEM key"
                    )))
                })?;
                Signer::Jwt {
                    client_id: client_id.clone(),
                    key_id: key_id.clone(),
                    key,
                    algorithm,
                    scopes: if scopes.is_empty() {
                        REQUIRED_SCOPES.iter().map(|s| s.to_string()).collect()
                    } else {
                        scopes.clone()
                    },
                }
            }
        };
        let okta = Okta {
            http,
            base: settings.org_url.as_str().trim_end_matches('/').to_string(),
            gate: RateGate::new(settings.concurrency, settings.rate_reserve),
            signer,
            settings,
            token: Mutex::new(None),
        };
        // Sign once now: a key that cannot sign is a setup error.
        if let Signer::Jwt { .. } = okta.signer {
            okta.client_assertion()?;
        }
        Ok(okta)
    }

    pub fn gate(&self) -> &RateGate {
        &self.gate
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v1/token", self.base)
    }

    /// A fresh RFC 7523 client assertion: `iss` = `sub` = client id, `aud` = the token endpoint,
    /// five minutes of validity and a random `jti` (Okta refuses a replayed one).
    fn client_assertion(&self) -> Result<String> {
        let Signer::Jwt {
            client_id,
            key_id,
            key,
            algorithm,
            ..
        } = &self.signer
        else {
            return Err(Error::Http(http::Error::Config(
                "SSWS tokens need no assertion".into(),
            )));
        };
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": self.token_endpoint(),
            "iat": now,
            "exp": now + 300,
            "jti": hex::encode(rand::random::<[u8; 16]>()),
        });
        let mut header = Header::new(*algorithm);
        header.kid = (!key_id.is_empty()).then(|| key_id.clone());
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
            Error::Http(http::Error::Config(format!(
                "cannot sign the Okta client assertion: {e}"
            )))
        })
    }

    /// The `Authorization` header value and, for OAuth, the granted scopes.
    async fn authorization(&self, force: bool) -> Result<(String, Option<Vec<String>>)> {
        let scopes = match &self.signer {
            Signer::Ssws(token) => return Ok((format!("SSWS {}", token.expose()), None)),
            Signer::Jwt { scopes, .. } => scopes,
        };
        let mut cached = self.token.lock().await;
        if !force
            && let Some((token, until, granted)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok((format!("Bearer {}", token.expose()), Some(granted.clone())));
        }
        let assertion = self.client_assertion()?;
        let form = [
            ("grant_type", "client_credentials".to_string()),
            ("scope", scopes.join(" ")),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", assertion),
        ];
        let url = self.token_endpoint();
        // Once: the assertion's jti may be spent by a request the server processed.
        let resp = self
            .http
            .send(Idempotency::Once, || {
                self.http
                    .request(Method::POST, &url)
                    .header("accept", "application/json")
                    .form(&form)
            })
            .await
            .map_err(|e| match e {
                // Apps that require DPoP-bound tokens answer `invalid_dpop_proof`.
                http::Error::Rejected { status: 400, message } if message.contains("DPoP") => Error::Unsupported {
                    backend: "okta",
                    what: "use a service app that requires DPoP proofs: turn off \"Require Demonstrating Proof of Possession (DPoP) header in token requests\" for the Gatehouse app",
                },
                other => Error::Http(other),
            })?;
        let t: TokenResponse = vendor::read_json(resp, "okta POST /oauth2/v1/token").await?;
        let granted = vendor::scopes(t.scope.as_deref().unwrap_or(""));
        let lifetime = Duration::from_secs(t.expires_in.saturating_sub(60).max(5));
        let header = format!("Bearer {}", t.access_token);
        *cached = Some((
            Sensitive::new(t.access_token),
            Instant::now() + lifetime,
            granted.clone(),
        ));
        Ok((header, Some(granted)))
    }

    /// One API call through the rate gate; a 401 refreshes an OAuth token once, a 403 names
    /// `permission`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency: Idempotency,
        permission: &'static str,
    ) -> Result<Response> {
        let url = format!("{}{path}", self.base);
        let oauth = matches!(self.signer, Signer::Jwt { .. });
        for force in [false, true] {
            let (authorization, _) = self.authorization(force).await?;
            let _slot = self.gate.acquire().await?;
            let result = self
                .http
                .send(idempotency, || {
                    let mut req = self
                        .http
                        .request(method.clone(), &url)
                        .header("authorization", &authorization)
                        .header("accept", "application/json")
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
                Err(http::Error::Unauthorized { status: 401, .. }) if oauth && !force => continue,
                Err(e) => return Err(vendor::needs(permission, e)),
            }
        }
        Err(Error::Http(http::Error::Unauthorized {
            status: 401,
            message: "the Okta access token was refused".into(),
        }))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        shape: &str,
        query: &[(&str, String)],
        permission: &'static str,
    ) -> Result<(T, Option<Url>)> {
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
        let next = vendor::next_link(resp.headers());
        let value = vendor::read_json(resp, &format!("okta GET {shape}")).await?;
        Ok((value, next))
    }

    async fn change(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        permission: &'static str,
    ) -> Result<()> {
        self.send(method, path, query, body, Idempotency::Idempotent, permission)
            .await
            .map(drop)
    }

    /// One page of System Log events after `after` (or from the start of the log window),
    /// oldest first, with the cursor of the next page.
    pub async fn log_page(
        &self,
        filter: Option<&str>,
        after: Option<&str>,
    ) -> Result<(Vec<LogEvent>, Option<String>)> {
        let mut query = vec![
            ("limit", LOGS_LIMIT.to_string()),
            ("sortOrder", "ASCENDING".to_string()),
        ];
        match after {
            Some(a) => query.push(("after", a.to_string())),
            None => {
                let since = Utc::now() - chrono::Duration::days(i64::from(self.settings.log_window_days));
                query.push((
                    "since",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ));
            }
        }
        if let Some(f) = filter {
            query.push(("filter", f.to_string()));
        }
        let (events, next): (Vec<LogEvent>, _) = self
            .get_json("/api/v1/logs", "/api/v1/logs", &query, SCOPE_LOGS_READ)
            .await?;
        Ok((events, next.and_then(|n| vendor::query_param(&n, "after"))))
    }

    /// All System Log events matching `filter` in the log window.
    async fn all_logs(&self, filter: &str) -> Result<Vec<LogEvent>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (events, next) = self.log_page(Some(filter), after.as_deref()).await?;
            let empty = events.is_empty();
            out.extend(events);
            match next {
                Some(n) if !empty && after.as_deref() != Some(n.as_str()) => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    /// Everything the System Log window says about a user's sessions: IPs, places, ASNs,
    /// proxies, user agents.
    pub async fn user_session_evidence(&self, user_id: &str) -> Result<Vec<SessionEvidence>> {
        let id = filter_id("user", user_id)?;
        let events = self.all_logs(&format!(r#"actor.id eq "{id}""#)).await?;
        Ok(session_evidence(&events))
    }

    /// `GET /api/v1/sessions/{id}`; `None` when Okta no longer has the session.
    pub async fn get_session(&self, session_id: &str) -> Result<Option<OktaSession>> {
        let path = format!("/api/v1/sessions/{}", segment(session_id));
        match self
            .get_json::<OktaSession>(&path, "/api/v1/sessions/{id}", &[], SCOPE_SESSIONS_READ)
            .await
        {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if vendor::is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Revokes every OAuth grant (consent and refresh tokens) the user gave to any client.
    pub async fn revoke_grants(&self, user_id: &str) -> Result<()> {
        let path = format!("/api/v1/users/{}/grants", segment(user_id));
        match self
            .change(Method::DELETE, &path, &[], None, SCOPE_USERS_MANAGE)
            .await
        {
            Err(e) if vendor::is_not_found(&e) => Ok(()),
            other => other,
        }
    }

    /// `POST /api/v1/users/{id}/lifecycle/expire_password`: the next login must change it.
    pub async fn expire_password(&self, user_id: &str) -> Result<()> {
        let path = format!("/api/v1/users/{}/lifecycle/expire_password", segment(user_id));
        self.change(Method::POST, &path, &[], None, SCOPE_USERS_MANAGE)
            .await
    }

    /// `POST /api/v1/users/{id}/lifecycle/reset_factors`: every factor is unenrolled.
    pub async fn reset_factors(&self, user_id: &str) -> Result<()> {
        let path = format!("/api/v1/users/{}/lifecycle/reset_factors", segment(user_id));
        self.change(Method::POST, &path, &[], None, SCOPE_USERS_MANAGE)
            .await
    }

    /// Sets the user's ITP risk. `Ok(false)` when the org has no Identity Threat Protection
    /// (Okta answers 404 or 400 for the endpoint).
    pub async fn set_user_risk(&self, user_id: &str, level: &str, reason: &str) -> Result<bool> {
        let path = format!("/api/v1/users/{}/risk", segment(user_id));
        let body = json!({ "riskLevel": level, "riskReason": reason });
        match self
            .change(Method::PUT, &path, &[], Some(&body), SCOPE_USER_RISK_MANAGE)
            .await
        {
            Ok(()) => Ok(true),
            Err(Error::Http(http::Error::NotFound { .. } | http::Error::Rejected { status: 400, .. })) => {
                tracing::warn!(
                    "okta user risk is not available in this org (no Identity Threat Protection?)"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
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

    /// What the credential may do: the scopes granted in the token response (OAuth), or the
    /// admin roles of the SSWS token's owner, against what Gatehouse needs.
    pub async fn probe(&self) -> Result<ScopeProbe> {
        if let (_, Some(granted)) = self.authorization(true).await? {
            return Ok(ScopeProbe::from_granted(
                "scopes granted in the token response",
                granted,
                &REQUIRED_SCOPES,
                &OPTIONAL_SCOPES,
            ));
        }
        let (roles, _): (Vec<Role>, _) = self
            .get_json(
                "/api/v1/users/me/roles",
                "/api/v1/users/me/roles",
                &[],
                SCOPE_USERS_READ,
            )
            .await?;
        let mut granted: Vec<String> = Vec::new();
        for r in &roles {
            for s in role_scopes(&r.kind) {
                if !granted.iter().any(|g| g == s) {
                    granted.push(s.to_string());
                }
            }
        }
        let mut probe = ScopeProbe::from_granted(
            "admin roles of the API token's owner",
            granted,
            &REQUIRED_SCOPES,
            &OPTIONAL_SCOPES,
        );
        probe.broader_than_needed = roles
            .iter()
            .filter(|r| {
                !matches!(
                    r.kind.as_str(),
                    "USER_ADMIN" | "HELP_DESK_ADMIN" | "READ_ONLY_ADMIN" | "REPORT_ADMIN"
                )
            })
            .map(|r| format!("role {}", http::sanitize(&r.kind)))
            .collect();
        Ok(probe)
    }

    /// "Contain account" as the Okta API calls it makes, in order, for a dry run.
    pub fn contain_playbook(&self, user_id: &str) -> Vec<PlannedCall> {
        let id = segment(user_id);
        vec![
            PlannedCall {
                method: "POST",
                path: format!("/api/v1/users/{id}/lifecycle/expire_password"),
                purpose: "require a password change at the next login (status PASSWORD_EXPIRED)",
                permission: SCOPE_USERS_MANAGE,
                optional: false,
            },
            PlannedCall {
                method: "POST",
                path: format!("/api/v1/users/{id}/lifecycle/reset_factors"),
                purpose: "unenrol every MFA factor, so the next login enrols again",
                permission: SCOPE_USERS_MANAGE,
                optional: false,
            },
            PlannedCall {
                method: "PUT",
                path: format!("/api/v1/users/{id}/risk"),
                purpose: "raise the user's ITP risk to HIGH (orgs with Identity Threat Protection)",
                permission: SCOPE_USER_RISK_MANAGE,
                optional: true,
            },
            PlannedCall {
                method: "DELETE",
                path: format!("/api/v1/users/{id}/sessions?oauthTokens=true&forgetDevices=true"),
                purpose: "end every Okta session and revoke the user's OAuth access and refresh tokens",
                permission: SCOPE_USERS_MANAGE,
                optional: false,
            },
            PlannedCall {
                method: "DELETE",
                path: format!("/api/v1/users/{id}/grants"),
                purpose: "revoke every OAuth grant the user gave",
                permission: SCOPE_USERS_MANAGE,
                optional: false,
            },
        ]
    }

    /// Sessions from one page of session start/end events (later events of a page win).
    fn sessions_from_events(events: &[LogEvent]) -> Vec<Session> {
        let mut by_id: BTreeMap<String, (usize, Session)> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            let Some(sid) = e.session_id() else { continue };
            let Some(user) = e.user_id() else { continue };
            let start = e.event_type == "user.session.start";
            if start && e.failed() {
                continue;
            }
            let entry = by_id.entry(sid.to_string()).or_insert_with(|| {
                (
                    i,
                    Session {
                        id: sid.to_string(),
                        user_id: user.to_string(),
                        started_at: e.published,
                        last_seen_at: Some(e.published),
                        expires_at: None,
                        ip: e.ip(),
                        user_agent: e.user_agent(),
                        active: start,
                        revoked_at: None,
                    },
                )
            });
            let s = &mut entry.1;
            s.last_seen_at = Some(e.published);
            if !start {
                s.active = false;
            }
        }
        let mut out: Vec<_> = by_id.into_values().collect();
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, s)| s).collect()
    }
}

#[async_trait]
impl AdminBackend for Okta {
    fn kind(&self) -> BackendKind {
        BackendKind::Okta
    }

    fn planned_calls(&self, kind: crate::actions::ActionKind, target: &str) -> Vec<super::PlannedCall> {
        use crate::actions::ActionKind;
        let wanted = |c: &PlannedCall| match kind {
            ActionKind::ForcePasswordReset => c.path.contains("/lifecycle/") || c.path.ends_with("/risk"),
            ActionKind::RevokeUserSessions => c.path.contains("/sessions") || c.path.ends_with("/grants"),
            ActionKind::RevokeSession | ActionKind::RevokeToken => false,
        };
        match kind {
            ActionKind::RevokeSession => vec![super::PlannedCall::new(
                "DELETE",
                format!("/api/v1/sessions/{}", segment(target)),
                Some("end the Okta session"),
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
        Ok(super::ProfileCheck {
            check,
            warnings,
            limitations: vec![
                "Okta has no session-list API: sessions are rebuilt from the System Log (7 days)".into(),
                "an issued access token cannot be revoked by an admin: it works until it expires (60 min by default)".into(),
                "session detail has no IP or user agent (the session object does not carry them)".into(),
            ],
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Reconstructed from the System Log (no session-list API).
            list_sessions_tenant_wide: true,
            list_sessions_per_user: true,
            activity: true,
            revoke_session: true,
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
                tracing::warn!(error = %e, "okta unreachable");
                return Ok(ConnectionCheck {
                    reachable: false,
                    authenticated: false,
                    permissions: Vec::new(),
                    capabilities: self.capabilities(),
                });
            }
            Err(Error::Http(http::Error::Unauthorized { status: 401, .. })) => {
                return Ok(ConnectionCheck {
                    reachable: true,
                    authenticated: false,
                    permissions: Vec::new(),
                    capabilities: self.capabilities(),
                });
            }
            Err(e) => return Err(e),
        };
        probe.warn("okta");
        Ok(ConnectionCheck {
            reachable: true,
            authenticated: true,
            permissions: probe.required,
            capabilities: self.capabilities(),
        })
    }

    async fn users_page(&self, cursor: Option<String>) -> Result<Page<User>> {
        let mut query = vec![("limit", USERS_LIMIT.to_string())];
        if let Some(c) = &cursor {
            query.push(("after", c.clone()));
        }
        let (users, next): (Vec<OktaUser>, _) = self
            .get_json("/api/v1/users", "/api/v1/users", &query, SCOPE_USERS_READ)
            .await?;
        let after = next.and_then(|n| vendor::query_param(&n, "after"));
        Ok(Page {
            items: users.into_iter().map(User::from).collect(),
            more: after.is_some(),
            cursor: after.or(cursor),
        })
    }

    /// Sessions reconstructed from the System Log's session start and end events.
    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>> {
        let (events, next) = self.log_page(Some(SESSION_EVENTS), cursor.as_deref()).await?;
        Ok(Page {
            more: !events.is_empty() && next.is_some() && next != cursor,
            items: Self::sessions_from_events(&events),
            cursor: next.or(cursor),
        })
    }

    /// The user's sessions seen in the log window, each confirmed with `GET /sessions/{id}`.
    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let id = filter_id("user", user_id)?;
        let events = self
            .all_logs(&format!(r#"actor.id eq "{id}" and ({SESSION_EVENTS})"#))
            .await?;
        let seen = Self::sessions_from_events(&events);
        let checked: Vec<Result<Session>> = futures::stream::iter(seen)
            .map(|s| async move {
                if !s.active {
                    return Ok::<_, Error>(s);
                }
                Ok(match self.get_session(&s.id).await? {
                    Some(live) => {
                        let mut out = Session::from(live);
                        out.ip = s.ip;
                        out.user_agent = s.user_agent;
                        out
                    }
                    None => Session { active: false, ..s },
                })
            })
            .buffered(self.gate.concurrency())
            .collect()
            .await;
        checked.into_iter().collect()
    }

    /// A session Okta no longer has (ended, revoked) reads as ended, so a revoke verifies.
    async fn session(&self, session_id: &str) -> Result<SessionDetail> {
        let session = match self.get_session(session_id).await? {
            Some(s) => s.into(),
            None => Session {
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
        };
        Ok(SessionDetail {
            session,
            tokens: Vec::new(),
        })
    }

    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>> {
        Ok(self.activity_records_page(cursor).await?.without_origins())
    }

    /// Each System Log event with the place and network Okta gives for its client.
    async fn activity_records_page(&self, cursor: Option<String>) -> Result<Page<ActivityRecord>> {
        let (events, next) = self.log_page(None, cursor.as_deref()).await?;
        Ok(Page {
            // Okta always links a next page when polling: an empty page is the end for now.
            more: !events.is_empty() && next.is_some() && next != cursor,
            items: events
                .into_iter()
                .map(|e| ActivityRecord {
                    origin: e.origin(),
                    activity: Activity::from(e),
                })
                .collect(),
            cursor: next.or(cursor),
        })
    }

    async fn user_state(&self, user_id: &str) -> Result<UserState> {
        let id = segment(user_id);
        let (user, _): (OktaUser, _) = self
            .get_json(
                &format!("/api/v1/users/{id}"),
                "/api/v1/users/{id}",
                &[],
                SCOPE_USERS_READ,
            )
            .await?;
        let (factors, _): (Vec<Factor>, _) = self
            .get_json(
                &format!("/api/v1/users/{id}/factors"),
                "/api/v1/users/{id}/factors",
                &[],
                SCOPE_USERS_READ,
            )
            .await?;
        let password_change_required = matches!(user.status.as_str(), "PASSWORD_EXPIRED" | "RECOVERY");
        let active_sessions = self
            .user_sessions(user_id)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .map(|s| s.id)
            .collect();
        Ok(UserState {
            user: user.into(),
            password_change_required: Some(password_change_required),
            // No active factor left: the next MFA prompt enrols again.
            mfa_required: Some(!factors.iter().any(|f| f.status.as_deref() == Some("ACTIVE"))),
            active_sessions,
        })
    }

    async fn revoke_session(&self, session_id: &str) -> Result<BackendOutcome> {
        let path = format!("/api/v1/sessions/{}", segment(session_id));
        let already_done = match self
            .change(Method::DELETE, &path, &[], None, SCOPE_SESSIONS_MANAGE)
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

    /// Clears every session with `oauthTokens=true&forgetDevices=true`, then revokes grants.
    /// The sessions reported are those the log window showed as live (best effort: a log read
    /// failure does not stop the revocation).
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome> {
        let known = match self.user_sessions(user_id).await {
            Ok(s) => s.into_iter().filter(|s| s.active).map(|s| s.id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "okta: could not list the sessions before clearing them");
                Vec::new()
            }
        };
        let path = format!("/api/v1/users/{}/sessions", segment(user_id));
        self.change(
            Method::DELETE,
            &path,
            &[
                ("oauthTokens", "true".to_string()),
                ("forgetDevices", "true".to_string()),
            ],
            None,
            SCOPE_USERS_MANAGE,
        )
        .await?;
        self.revoke_grants(user_id).await?;
        Ok(BackendOutcome {
            already_done: false,
            sessions_revoked: known,
            access_tokens_covered: Vec::new(),
            backend_exposure_until: Some(now_plus(self.settings.access_token_lifetime_secs)),
        })
    }

    async fn revoke_token(&self, _jti: &str) -> Result<BackendOutcome> {
        Err(Error::Unsupported {
            backend: "okta",
            what: "revoke one access token by id (revoke the user's sessions with oauthTokens, or RFC 7009 with the token itself)",
        })
    }

    /// Expire the password, reset the factors (with `require_mfa`), raise ITP risk when set
    /// up, then clear sessions, tokens and grants.
    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome> {
        self.expire_password(user_id).await?;
        if require_mfa {
            self.reset_factors(user_id).await?;
        }
        if self.settings.set_user_risk {
            self.set_user_risk(user_id, "HIGH", "Gatehouse: account contained after token theft")
                .await?;
        }
        self.revoke_user_sessions(user_id).await
    }

    async fn token_revoked(&self, _jti: &str) -> Result<Option<bool>> {
        Ok(None)
    }

    async fn jwks(&self) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/oauth2/v1/keys", self.base);
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
