//! The adapter for gatehouse-authd's admin API (`/admin/v1`, see `crates/authd/openapi.json`).
//! authd checks revocation on every request, so a revoked session or token has no residual
//! exposure there.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use url::Url;

use super::{
    Activity, AdminBackend, BackendOutcome, Capabilities, ConnectionCheck, Error, IssuedToken, Page, Result,
    Session, SessionDetail, User, UserState, unix, unix_ms,
};
use crate::config::BackendKind;
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

pub struct Authd {
    http: HttpClient,
    base: Url,
    client_id: String,
    secret: Sensitive<String>,
    token: Mutex<Option<(Sensitive<String>, Instant)>>,
}

/// Sessions per page (authd serves up to 10 000).
const PAGE: usize = 10_000;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct UserView {
    id: i64,
    username: String,
    email: String,
    display_name: String,
    status: String,
    #[serde(default)]
    mfa_required: bool,
    #[serde(default)]
    password_change_required: bool,
}

#[derive(Deserialize)]
struct UserPage {
    items: Vec<UserView>,
    total: i64,
    page: i64,
    per_page: i64,
}

#[derive(Deserialize)]
struct SessionView {
    seq: i64,
    id: String,
    user_id: i64,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    client_ip: String,
    user_agent: Option<String>,
    active: bool,
    revoked_at: Option<i64>,
}

#[derive(Deserialize)]
struct SessionPage {
    items: Vec<SessionView>,
    next_cursor: Option<i64>,
}

#[derive(Deserialize)]
struct TokenView {
    jti: String,
    issued_at: i64,
    expires_at: i64,
    revoked: bool,
}

#[derive(Deserialize)]
struct SessionDetailView {
    session: SessionView,
    tokens: Vec<TokenView>,
}

#[derive(Deserialize)]
struct ActivityRow {
    id: i64,
    at_ms: i64,
    user_id: Option<i64>,
    session_id: Option<String>,
    jti: Option<String>,
    client_ip: String,
    user_agent: Option<String>,
    method: String,
    path: String,
    status: i64,
    denial_reason: Option<String>,
    sensitive: bool,
}

/// One row of the `rows` format, in [`ACTIVITY_COLUMNS`] order.
#[derive(Deserialize)]
struct ActivityValues(
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<String>,
    bool,
);

/// What `format=rows` must announce: the fields of [`ActivityRow`], in this order.
const ACTIVITY_COLUMNS: [&str; 12] = [
    "id",
    "at_ms",
    "user_id",
    "session_id",
    "jti",
    "client_ip",
    "user_agent",
    "method",
    "path",
    "status",
    "denial_reason",
    "sensitive",
];

/// A page of `GET /admin/v1/activity`, in either format: `format=rows` (asked for: half the
/// bytes and no key per value to match) or the default objects, which an authd that predates
/// the format answers with.
#[derive(Deserialize)]
struct ActivityPage {
    #[serde(default)]
    items: Vec<ActivityRow>,
    columns: Option<Vec<String>>,
    #[serde(default)]
    rows: Vec<ActivityValues>,
    next_cursor: Option<i64>,
    has_more: bool,
}

impl From<ActivityRow> for Activity {
    fn from(a: ActivityRow) -> Self {
        Activity {
            event_id: a.id.to_string(),
            at: unix_ms(a.at_ms),
            user_id: a.user_id.map(|u| u.to_string()),
            session_id: a.session_id,
            jti: a.jti,
            ip: Some(a.client_ip),
            user_agent: a.user_agent,
            method: Some(a.method),
            path: Some(a.path),
            status: u16::try_from(a.status).ok(),
            denial_reason: a.denial_reason,
            sensitive: a.sensitive,
        }
    }
}

impl From<ActivityValues> for Activity {
    fn from(v: ActivityValues) -> Self {
        let ActivityValues(
            id,
            at_ms,
            user_id,
            session_id,
            jti,
            client_ip,
            user_agent,
            method,
            path,
            status,
            denial_reason,
            sensitive,
        ) = v;
        ActivityRow {
            id,
            at_ms,
            user_id,
            session_id,
            jti,
            client_ip,
            user_agent,
            method,
            path,
            status,
            denial_reason,
            sensitive,
        }
        .into()
    }
}

impl ActivityPage {
    /// The page for the sync, resuming after `cursor` when it holds nothing.
    fn into_page(self, cursor: Option<String>) -> Result<Page<Activity>> {
        if let Some(columns) = &self.columns
            && columns.iter().map(String::as_str).ne(ACTIVITY_COLUMNS)
        {
            return Err(Error::Http(http::Error::Decode(format!(
                "authd sent activity columns {:?}, expected {ACTIVITY_COLUMNS:?}",
                columns.iter().map(|c| http::sanitize(c)).collect::<Vec<_>>()
            ))));
        }
        let mut items: Vec<Activity> = self.items.into_iter().map(Activity::from).collect();
        items.extend(self.rows.into_iter().map(Activity::from));
        Ok(Page {
            more: self.has_more,
            cursor: self.next_cursor.map(|c| c.to_string()).or(cursor),
            items,
        })
    }
}

#[derive(Deserialize)]
struct CoveredToken {
    jti: String,
    expires_at: i64,
}

#[derive(Deserialize)]
struct Residual {
    exposure_until: Option<i64>,
}

#[derive(Deserialize)]
struct RevokeReport {
    already_revoked: bool,
    sessions_revoked: Vec<String>,
    access_tokens: Vec<CoveredToken>,
    residual_exposure: Residual,
}

#[derive(Deserialize)]
struct ResetReport {
    revocation: RevokeReport,
}

#[derive(Deserialize)]
struct TokenStatus {
    revoked: bool,
}

impl From<SessionView> for Session {
    fn from(s: SessionView) -> Self {
        Session {
            id: s.id,
            user_id: s.user_id.to_string(),
            started_at: unix(s.created_at),
            last_seen_at: Some(unix(s.last_seen_at)),
            expires_at: Some(unix(s.expires_at)),
            ip: Some(s.client_ip),
            user_agent: s.user_agent,
            active: s.active,
            revoked_at: s.revoked_at.map(unix),
        }
    }
}

impl From<UserView> for User {
    fn from(u: UserView) -> Self {
        User {
            id: u.id.to_string(),
            username: u.username,
            email: Some(u.email),
            display_name: Some(u.display_name),
            status: u.status,
        }
    }
}

impl From<RevokeReport> for BackendOutcome {
    fn from(r: RevokeReport) -> Self {
        BackendOutcome {
            already_done: r.already_revoked,
            sessions_revoked: r.sessions_revoked,
            access_tokens_covered: r
                .access_tokens
                .into_iter()
                .map(|t| IssuedToken {
                    jti: t.jti,
                    issued_at: unix(0),
                    expires_at: unix(t.expires_at),
                    revoked: true,
                })
                .collect(),
            backend_exposure_until: r.residual_exposure.exposure_until.map(unix),
        }
    }
}

fn numeric_id(what: &str, id: &str) -> Result<i64> {
    id.parse().map_err(|_| {
        Error::Http(http::Error::Rejected {
            status: 400,
            message: format!("{what} id {:?} is not an authd id", http::sanitize(id)),
        })
    })
}

impl Authd {
    pub fn new(http: HttpClient, base: Url, client_id: String, secret: Sensitive<String>) -> Authd {
        Authd {
            http,
            base,
            client_id,
            secret,
            token: Mutex::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// A cached admin token, fetched again a minute before it expires.
    async fn admin_token(&self, force: bool) -> Result<String> {
        let mut cached = self.token.lock().await;
        if !force
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.expose().clone());
        }
        let body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.secret.expose(),
        });
        let url = self.url("/admin/v1/token");
        let resp: TokenResponse = self
            .http
            .json(Idempotency::Idempotent, || {
                self.http.request(Method::POST, &url).json(&body)
            })
            .await?;
        let lifetime = Duration::from_secs(resp.expires_in.saturating_sub(60).max(5));
        let token = resp.access_token.clone();
        *cached = Some((Sensitive::new(resp.access_token), Instant::now() + lifetime));
        Ok(token)
    }

    /// An authenticated call; a 401 refreshes the admin token once.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<T> {
        let url = self.url(path);
        for force in [false, true] {
            let token = self.admin_token(force).await?;
            let result = self
                .http
                .json(idempotency, || {
                    let mut req = self
                        .http
                        .request(method.clone(), &url)
                        .bearer_auth(&token)
                        .query(query);
                    if let Some(b) = &body {
                        req = req.json(b);
                    }
                    req
                })
                .await;
            match result {
                Err(http::Error::Unauthorized { status: 401, .. }) if !force => continue,
                other => return other.map_err(Error::from),
            }
        }
        Err(Error::Http(http::Error::Unauthorized {
            status: 401,
            message: "admin token refused".into(),
        }))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        self.call(Method::GET, path, query, None, Idempotency::Idempotent)
            .await
    }

    /// Revocations are idempotent at authd: repeating one reports `already_revoked`.
    async fn post<T: DeserializeOwned>(&self, path: &str, body: Option<serde_json::Value>) -> Result<T> {
        self.call(Method::POST, path, &[], body, Idempotency::Idempotent)
            .await
    }
}

#[async_trait]
impl AdminBackend for Authd {
    fn kind(&self) -> BackendKind {
        BackendKind::Authd
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            list_sessions_tenant_wide: true,
            list_sessions_per_user: true,
            activity: true,
            revoke_session: true,
            revoke_user_sessions: true,
            revoke_token: true,
            force_reset_with_mfa: true,
            suspend_user: true,
            enforces_access_token_revocation: true,
            access_token_lifetime_secs: Some(600),
        }
    }

    async fn check(&self) -> Result<ConnectionCheck> {
        let health = self.url("/healthz");
        let reachable = self
            .http
            .send(Idempotency::Idempotent, || {
                self.http.request(Method::GET, &health)
            })
            .await
            .is_ok();
        let authenticated = reachable && self.admin_token(true).await.is_ok();
        let mut permissions = Vec::new();
        if authenticated {
            for (name, path) in [
                ("read users", "/admin/v1/users"),
                ("read sessions", "/admin/v1/sessions"),
                ("read activity", "/admin/v1/activity"),
            ] {
                let ok = self
                    .get::<serde_json::Value>(path, &[("limit", "1".into()), ("per_page", "1".into())])
                    .await
                    .is_ok();
                permissions.push((name.to_string(), ok));
            }
        }
        Ok(ConnectionCheck {
            reachable,
            authenticated,
            permissions,
            capabilities: self.capabilities(),
        })
    }

    async fn users_page(&self, cursor: Option<String>) -> Result<Page<User>> {
        let page = cursor
            .as_deref()
            .map(|c| numeric_id("page", c))
            .transpose()?
            .unwrap_or(1);
        let p: UserPage = self
            .get(
                "/admin/v1/users",
                &[("page", page.to_string()), ("per_page", "200".into())],
            )
            .await?;
        let more = p.page * p.per_page < p.total;
        Ok(Page {
            items: p.items.into_iter().map(User::from).collect(),
            cursor: Some((p.page + 1).to_string()),
            more,
        })
    }

    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>> {
        let mut query = vec![("limit", PAGE.to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", numeric_id("cursor", c)?.to_string()));
        }
        let p: SessionPage = self.get("/admin/v1/sessions", &query).await?;
        let last = p.items.last().map(|s| s.seq.to_string());
        Ok(Page {
            more: p.next_cursor.is_some(),
            cursor: p.next_cursor.map(|c| c.to_string()).or(last).or(cursor),
            items: p.items.into_iter().map(Session::from).collect(),
        })
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let user = numeric_id("user", user_id)?;
        let mut out = Vec::new();
        let mut cursor: Option<i64> = None;
        loop {
            let mut query = vec![("user", user.to_string()), ("limit", PAGE.to_string())];
            if let Some(c) = cursor {
                query.push(("cursor", c.to_string()));
            }
            let p: SessionPage = self.get("/admin/v1/sessions", &query).await?;
            out.extend(p.items.into_iter().map(Session::from));
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    async fn session(&self, session_id: &str) -> Result<SessionDetail> {
        let d: SessionDetailView = self
            .get(&format!("/admin/v1/sessions/{}", path_segment(session_id)), &[])
            .await?;
        Ok(SessionDetail {
            session: d.session.into(),
            tokens: d
                .tokens
                .into_iter()
                .map(|t| IssuedToken {
                    jti: t.jti,
                    issued_at: unix(t.issued_at),
                    expires_at: unix(t.expires_at),
                    revoked: t.revoked,
                })
                .collect(),
        })
    }

    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>> {
        let mut query = vec![("limit", "10000".to_string()), ("format", "rows".to_string())];
        if let Some(c) = &cursor {
            query.push(("after", numeric_id("cursor", c)?.to_string()));
        }
        let p: ActivityPage = self.get("/admin/v1/activity", &query).await?;
        p.into_page(cursor)
    }

    async fn user_state(&self, user_id: &str) -> Result<UserState> {
        let id = numeric_id("user", user_id)?;
        let u: UserView = self.get(&format!("/admin/v1/users/{id}"), &[]).await?;
        let (pcr, mfa) = (u.password_change_required, u.mfa_required);
        let active_sessions = self
            .user_sessions(user_id)
            .await?
            .into_iter()
            .filter(|s| s.active)
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
        let r: RevokeReport = self
            .post(
                &format!("/admin/v1/sessions/{}/revoke", path_segment(session_id)),
                None,
            )
            .await?;
        Ok(r.into())
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome> {
        let id = numeric_id("user", user_id)?;
        let r: RevokeReport = self
            .post(&format!("/admin/v1/users/{id}/revoke-sessions"), None)
            .await?;
        Ok(r.into())
    }

    async fn revoke_token(&self, jti: &str) -> Result<BackendOutcome> {
        let r: RevokeReport = self
            .post("/admin/v1/tokens/revoke", Some(serde_json::json!({ "jti": jti })))
            .await?;
        Ok(r.into())
    }

    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome> {
        if !require_mfa {
            return Err(Error::Unsupported {
                backend: "authd",
                what: "force a reset without MFA (a forced reset always requires MFA)",
            });
        }
        let id = numeric_id("user", user_id)?;
        let r: ResetReport = self
            .post(&format!("/admin/v1/users/{id}/force-password-reset"), None)
            .await?;
        Ok(r.revocation.into())
    }

    async fn token_revoked(&self, jti: &str) -> Result<Option<bool>> {
        let t: TokenStatus = self
            .get(&format!("/admin/v1/tokens/{}", path_segment(jti)), &[])
            .await?;
        Ok(Some(t.revoked))
    }

    async fn jwks(&self) -> Result<Option<Vec<u8>>> {
        let url = self.url("/.well-known/jwks.json");
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

/// Percent-encodes an id for use as one path segment.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both formats of an activity page give the same rows; unknown columns are refused.
    #[test]
    fn activity_pages_read_the_same_in_both_formats() {
        let objects = r#"{"items":[
            {"id":41,"at_ms":1764000000123,"user_id":7,"session_id":"s_1","jti":"at_1","client_ip":"203.0.113.9",
             "user_agent":"curl/8 \"x\" é","method":"GET","path":"/api/x","status":200,"denial_reason":null,"sensitive":false},
            {"id":42,"at_ms":1764000000456,"user_id":null,"session_id":null,"jti":null,"client_ip":"203.0.113.10",
             "user_agent":null,"method":"POST","path":"/api/y","status":401,"denial_reason":"token_revoked","sensitive":true}
        ],"next_cursor":42,"has_more":true}"#;
        let rows = r#"{"columns":["id","at_ms","user_id","session_id","jti","client_ip","user_agent","method","path","status","denial_reason","sensitive"],
            "rows":[
              [41,1764000000123,7,"s_1","at_1","203.0.113.9","curl/8 \"x\" é","GET","/api/x",200,null,false],
              [42,1764000000456,null,null,null,"203.0.113.10",null,"POST","/api/y",401,"token_revoked",true]
            ],"next_cursor":42,"has_more":true}"#;
        let read = |text: &str| {
            serde_json::from_str::<ActivityPage>(text)
                .unwrap()
                .into_page(Some("40".into()))
                .unwrap()
        };
        let page = read(rows);
        assert_eq!(page, read(objects));
        assert_eq!(page.cursor.as_deref(), Some("42"));
        assert!(page.more);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].event_id, "41");
        assert_eq!(page.items[0].user_id.as_deref(), Some("7"));
        assert_eq!(page.items[0].user_agent.as_deref(), Some("curl/8 \"x\" é"));
        assert_eq!(page.items[1].status, Some(401));
        assert!(page.items[1].sensitive);

        let empty = read(
            r#"{"columns":["id","at_ms","user_id","session_id","jti","client_ip","user_agent","method","path","status","denial_reason","sensitive"],"rows":[],"next_cursor":null,"has_more":false}"#,
        );
        assert_eq!(empty.cursor.as_deref(), Some("40"));
        assert!(empty.items.is_empty());

        let renamed = rows.replace("\"client_ip\"", "\"ip\"");
        let err = serde_json::from_str::<ActivityPage>(&renamed)
            .unwrap()
            .into_page(None)
            .unwrap_err();
        assert!(err.to_string().contains("activity columns"), "{err}");
    }
}
