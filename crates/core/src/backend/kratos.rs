//! The Ory Kratos adapter (the admin API: `/admin/identities`, `/admin/sessions`). On Ory Network
//! it authenticates with a project API key (`Authorization: Bearer`); an OSS admin port has no
//! authentication at all and must only be reachable over a private network.
//!
//! What Kratos cannot do, said plainly: it keeps no request or login log an admin can read (Ory
//! Network streams events to SNS or HTTPS only), so there is no activity to sync; it has no
//! per-identity "must change password" or "must use MFA" flag (the required AAL is project-wide);
//! and JWTs minted with `tokenize_as` cannot be revoked before their TTL. Its session tokens are
//! opaque and checked server-side, so revoking a session takes effect on the next request.
//!
//! Listings use keyset paging: the next `page_token` comes from the `Link: <…>; rel="next"`
//! header, and a page without one is the last.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{
    Activity, AdminBackend, BackendOutcome, Capabilities, ConnectionCheck, Error, Handover, Page,
    PlannedCall, ProfileCheck, Result, Session, SessionDetail, User, UserState, malformed, path_segment,
};
use crate::actions::ActionKind;
use crate::config::BackendKind;
use crate::http::{self, HttpClient, Idempotency};
use crate::secrets::Sensitive;

const NAME: &str = "kratos";
/// Items per page (Kratos serves up to 1000; 250 is its default maximum for identities).
const PAGE_SIZE: usize = 250;
/// How long the recovery code a forced reset mints stays valid. Long enough for the analyst to
/// confirm the owner out of band and re-activate the identity first (Kratos refuses recovery
/// for an inactive identity).
const RECOVERY_EXPIRES_IN: &str = "24h";

pub struct Kratos {
    http: HttpClient,
    base: Url,
    /// The Ory Network API key; None for an OSS admin port.
    key: Option<Sensitive<String>>,
}

#[derive(Deserialize)]
struct IdentityRep {
    id: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    traits: serde_json::Value,
    #[serde(default)]
    credentials: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /admin/recovery/code` → `RecoveryCodeForIdentity`.
#[derive(Deserialize)]
struct RecoveryCodeRep {
    recovery_link: String,
    recovery_code: String,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
struct DeviceRep {
    ip_address: Option<String>,
    user_agent: Option<String>,
}

#[derive(Deserialize)]
struct SessionIdentity {
    id: String,
}

#[derive(Deserialize)]
struct SessionRep {
    id: String,
    #[serde(default)]
    active: bool,
    authenticated_at: Option<chrono::DateTime<chrono::Utc>>,
    issued_at: Option<chrono::DateTime<chrono::Utc>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    devices: Vec<DeviceRep>,
    identity: Option<SessionIdentity>,
}

impl From<IdentityRep> for User {
    fn from(i: IdentityRep) -> Self {
        let text = |k: &str| i.traits.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let name = match i.traits.get("name") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Object(o)) => {
                let parts: Vec<&str> = ["first", "last"]
                    .iter()
                    .filter_map(|k| o.get(*k).and_then(|v| v.as_str()))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            _ => None,
        };
        let email = text("email");
        User {
            username: text("username")
                .or_else(|| email.clone())
                .unwrap_or_else(|| i.id.clone()),
            id: i.id,
            email,
            display_name: name,
            status: i.state.unwrap_or_else(|| "active".into()),
        }
    }
}

impl SessionRep {
    fn into_session(self, owner: Option<&str>) -> Session {
        let last = self.devices.into_iter().last();
        Session {
            user_id: self
                .identity
                .map(|i| i.id)
                .or_else(|| owner.map(str::to_string))
                .unwrap_or_default(),
            id: self.id,
            started_at: self.authenticated_at.or(self.issued_at).unwrap_or_default(),
            last_seen_at: None,
            expires_at: self.expires_at,
            ip: last.as_ref().and_then(|d| d.ip_address.clone()),
            user_agent: last.and_then(|d| d.user_agent),
            active: self.active,
            revoked_at: None,
        }
    }
}

/// The `page_token` of a `Link` header's next target.
fn next_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let target = http::next_link(headers)?;
    let query = target.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "page_token")
        .map(|(_, v)| v.into_owned())
}

impl Kratos {
    pub fn new(http: HttpClient, base: Url, key: Option<Sensitive<String>>) -> Kratos {
        Kratos { http, base, key }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
        action: &str,
    ) -> Result<reqwest::Response> {
        let url = self.url(path);
        let result = self
            .http
            .send(idempotency, || {
                let mut req = self.http.request(method.clone(), &url).query(query);
                if let Some(k) = &self.key {
                    req = req.bearer_auth(k.expose());
                }
                if let Some(b) = body {
                    req = req.json(b);
                }
                req
            })
            .await;
        match result {
            Err(http::Error::Unauthorized { status: 403, message }) => Err(Error::MissingPermission {
                backend: NAME,
                missing: "an API key with admin access to this project".into(),
                action: action.to_string(),
                message,
            }),
            other => other.map_err(Error::from),
        }
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response, what: &str) -> Result<T> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http::Error::Transport(format!("reading {what}: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(NAME, what, e))
    }

    /// One page of a keyset-paged listing: the items and the next `page_token`, if any.
    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        extra: &[(&str, String)],
        token: Option<&str>,
        what: &str,
    ) -> Result<(Vec<T>, Option<String>)> {
        let mut query = vec![("page_size", PAGE_SIZE.to_string())];
        query.extend(extra.iter().cloned());
        if let Some(t) = token {
            query.push(("page_token", t.to_string()));
        }
        let resp = self
            .send(Method::GET, path, &query, None, Idempotency::Idempotent, what)
            .await?;
        let next = next_token(resp.headers());
        let items: Vec<T> = Self::read(resp, what).await?;
        // A server that hands back the token it was given would page forever.
        let next = next.filter(|n| Some(n.as_str()) != token);
        Ok((items, next))
    }

    async fn sessions_of(&self, identity_id: &str) -> Result<Vec<Session>> {
        let path = format!("/admin/identities/{}/sessions", path_segment(identity_id));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (items, next): (Vec<SessionRep>, _) = self
                .page(&path, &[], token.as_deref(), "list an identity's sessions")
                .await?;
            out.extend(items.into_iter().map(|s| s.into_session(Some(identity_id))));
            match next {
                Some(n) => token = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn identity(&self, id: &str) -> Result<IdentityRep> {
        let resp = self
            .send(
                Method::GET,
                &format!("/admin/identities/{}", path_segment(id)),
                &[],
                None,
                Idempotency::Idempotent,
                "read an identity",
            )
            .await?;
        Self::read(resp, "identity").await
    }

    /// A DELETE whose 404 means it was already done.
    async fn delete(&self, path: &str, action: &str) -> Result<bool> {
        match self
            .send(Method::DELETE, path, &[], None, Idempotency::Idempotent, action)
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Http(http::Error::NotFound { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn loopback(&self) -> bool {
        match self.base.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }
}

#[async_trait]
impl AdminBackend for Kratos {
    fn kind(&self) -> BackendKind {
        BackendKind::Kratos
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            list_sessions_tenant_wide: true,
            list_sessions_per_user: true,
            activity: false,
            revoke_session: true,
            revoke_user_sessions: true,
            revoke_token: false,
            force_reset_with_mfa: false,
            suspend_user: true,
            enforces_access_token_revocation: true,
            access_token_lifetime_secs: None,
        }
    }

    fn limitations(&self) -> Vec<String> {
        vec![
            "No activity API: Kratos keeps no request or login log an admin can read (Ory Network \
             streams events to SNS or HTTPS only), so sync brings users and sessions, not requests."
                .into(),
            "No per-identity \"must change password\" or \"must use MFA\" flag (the required AAL is \
             project-wide): a forced reset sets the identity inactive, deletes the password \
             credential (the stolen password stops working) and every session, and mints a \
             recovery code for the owner. Kratos refuses recovery while the identity is inactive: \
             re-activate it (PATCH state active) once the owner is confirmed, then hand the code over \
             before it expires."
                .into(),
            "JWTs minted from sessions with tokenize_as cannot be revoked before their TTL; session \
             tokens themselves are checked server-side and stop working at once."
                .into(),
        ]
    }

    fn can_force_reset(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<ConnectionCheck> {
        Ok(self.check_report().await?.check)
    }

    async fn check_report(&self) -> Result<ProfileCheck> {
        let mut permissions = Vec::new();
        let mut warnings = Vec::new();
        let mut reachable = false;
        let mut authenticated = false;
        for (name, path) in [
            ("list identities", "/admin/identities"),
            ("list sessions", "/admin/sessions"),
        ] {
            let r = self
                .send(
                    Method::GET,
                    path,
                    &[("page_size", "1".into())],
                    None,
                    Idempotency::Idempotent,
                    name,
                )
                .await;
            let ok = match &r {
                Ok(_) => {
                    reachable = true;
                    authenticated = true;
                    true
                }
                Err(Error::Http(http::Error::Transport(_))) => false,
                Err(Error::Http(http::Error::Unauthorized { .. })) => {
                    reachable = true;
                    false
                }
                Err(_) => {
                    reachable = true;
                    false
                }
            };
            if let Err(e) = r {
                warnings.push(format!("{name}: {e}"));
            }
            permissions.push((name.to_string(), ok));
        }
        match &self.key {
            Some(_) => warnings.push(
                "an Ory Network project API key cannot be scoped: it grants full admin over the \
                 project, more than the console needs; rotate it when the investigation ends"
                    .into(),
            ),
            None if !self.loopback() => warnings.push(format!(
                "the admin API at {} answers without authentication: anyone who can reach it can \
                 administer identities; keep it on a private network",
                self.base
            )),
            None => {}
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
        let (items, next): (Vec<IdentityRep>, _) = self
            .page("/admin/identities", &[], cursor.as_deref(), "list identities")
            .await?;
        Ok(Page {
            items: items.into_iter().map(User::from).collect(),
            more: next.is_some(),
            cursor: next.or(cursor),
        })
    }

    async fn sessions_page(&self, cursor: Option<String>) -> Result<Page<Session>> {
        let expand = [
            ("expand", "identity".to_string()),
            ("expand", "devices".to_string()),
        ];
        let (items, next): (Vec<SessionRep>, _) = self
            .page("/admin/sessions", &expand, cursor.as_deref(), "list sessions")
            .await?;
        Ok(Page {
            items: items.into_iter().map(|s| s.into_session(None)).collect(),
            more: next.is_some(),
            cursor: next.or(cursor),
        })
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.sessions_of(user_id).await
    }

    async fn session(&self, session_id: &str) -> Result<SessionDetail> {
        let resp = self
            .send(
                Method::GET,
                &format!("/admin/sessions/{}", path_segment(session_id)),
                &[("expand", "identity".into()), ("expand", "devices".into())],
                None,
                Idempotency::Idempotent,
                "read a session",
            )
            .await?;
        let s: SessionRep = Self::read(resp, "session").await?;
        Ok(SessionDetail {
            session: s.into_session(None),
            tokens: Vec::new(),
        })
    }

    /// Kratos has no activity API; `capabilities().activity` is false and sync never asks.
    async fn activity_page(&self, cursor: Option<String>) -> Result<Page<Activity>> {
        Ok(Page {
            items: Vec::new(),
            cursor,
            more: false,
        })
    }

    async fn user_state(&self, user_id: &str) -> Result<UserState> {
        let identity = self.identity(user_id).await?;
        let has_password = identity
            .credentials
            .as_ref()
            .is_some_and(|c| c.contains_key("password"));
        let active_sessions = self
            .sessions_of(user_id)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .map(|s| s.id)
            .collect();
        Ok(UserState {
            user: identity.into(),
            // No password left means the next login goes through recovery and sets a new one.
            password_change_required: Some(!has_password),
            mfa_required: None,
            active_sessions,
        })
    }

    /// `DELETE /admin/sessions/{id}`: deactivates the session (Kratos keeps it for audit).
    async fn revoke_session(&self, session_id: &str) -> Result<BackendOutcome> {
        let before = self.session(session_id).await?;
        if before.session.active {
            self.delete(
                &format!("/admin/sessions/{}", path_segment(session_id)),
                "revoke a session",
            )
            .await?;
        }
        Ok(BackendOutcome {
            already_done: !before.session.active,
            sessions_revoked: if before.session.active {
                vec![session_id.to_string()]
            } else {
                Vec::new()
            },
            access_tokens_covered: Vec::new(),
            backend_exposure_until: None,
        })
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<BackendOutcome> {
        let active: Vec<String> = self
            .sessions_of(user_id)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .map(|s| s.id)
            .collect();
        self.delete(
            &format!("/admin/identities/{}/sessions", path_segment(user_id)),
            "revoke an identity's sessions",
        )
        .await?;
        Ok(BackendOutcome {
            already_done: active.is_empty(),
            sessions_revoked: active,
            access_tokens_covered: Vec::new(),
            backend_exposure_until: None,
        })
    }

    async fn revoke_token(&self, _jti: &str) -> Result<BackendOutcome> {
        Err(Error::Unsupported {
            backend: NAME,
            what: "revoke a single token (revoke its session instead; tokenize_as JWTs live until their TTL)",
        })
    }

    /// Sets the identity inactive (no login, no session of it is accepted), deletes the
    /// password credential (the stolen password stops working), then every session.
    async fn force_password_reset(&self, user_id: &str, require_mfa: bool) -> Result<BackendOutcome> {
        if require_mfa {
            return Err(Error::Unsupported {
                backend: NAME,
                what: "require MFA for one identity (the required AAL is project-wide)",
            });
        }
        let uid = path_segment(user_id);
        let was_active = self.identity(user_id).await?.state.as_deref() != Some("inactive");
        if was_active {
            self.send(
                Method::PATCH,
                &format!("/admin/identities/{uid}"),
                &[],
                Some(&serde_json::json!([
                    {"op": "replace", "path": "/state", "value": "inactive"}
                ])),
                Idempotency::Idempotent,
                "set an identity inactive",
            )
            .await?;
        }
        let deleted = self
            .delete(
                &format!("/admin/identities/{uid}/credentials/password"),
                "delete a password credential",
            )
            .await?;
        let mut out = self.revoke_user_sessions(user_id).await?;
        out.already_done = out.already_done && !deleted && !was_active;
        Ok(out)
    }

    /// The reset above, then a recovery code for the owner. Minting is sent once (a retry would
    /// leave a second valid code behind).
    async fn force_reset(
        &self,
        user_id: &str,
        require_mfa: bool,
    ) -> Result<(BackendOutcome, Option<Handover>)> {
        let out = self.force_password_reset(user_id, require_mfa).await?;
        let resp = self
            .send(
                Method::POST,
                "/admin/recovery/code",
                &[],
                Some(&serde_json::json!({
                    "identity_id": user_id,
                    "expires_in": RECOVERY_EXPIRES_IN,
                })),
                Idempotency::Once,
                "create a recovery code",
            )
            .await?;
        let rep: RecoveryCodeRep = Self::read(resp, "recovery code").await?;
        let handover = Handover {
            kind: "recovery_code".into(),
            url_or_code: Sensitive::new(rep.recovery_code),
            expires_at: rep.expires_at,
            note: format!(
                "Kratos refuses recovery while the identity is inactive: once the owner is confirmed \
                 out of band, re-activate it (PATCH /admin/identities/{user_id} state active), then \
                 give them this code to enter at {} (single use); they set a new password there.",
                http::sanitize(&rep.recovery_link)
            ),
        };
        Ok((out, Some(handover)))
    }

    fn reset_checks(&self, state: &UserState) -> Vec<(String, bool)> {
        vec![(
            format!("identity is inactive (state: {})", state.user.status),
            state.user.status == "inactive",
        )]
    }

    async fn token_revoked(&self, _jti: &str) -> Result<Option<bool>> {
        Ok(None)
    }

    async fn jwks(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn planned_calls(&self, kind: ActionKind, target: &str) -> Vec<PlannedCall> {
        let t = path_segment(target);
        match kind {
            ActionKind::RevokeSession => vec![
                PlannedCall::new(
                    "GET",
                    format!("/admin/sessions/{t}?expand=identity&expand=devices"),
                    None,
                ),
                PlannedCall::new(
                    "DELETE",
                    format!("/admin/sessions/{t}"),
                    Some("deactivates the session; Kratos keeps it for audit"),
                ),
            ],
            ActionKind::RevokeUserSessions => vec![
                PlannedCall::new(
                    "GET",
                    format!("/admin/identities/{t}/sessions?page_size={PAGE_SIZE}"),
                    None,
                ),
                PlannedCall::new("DELETE", format!("/admin/identities/{t}/sessions"), None),
            ],
            ActionKind::ForcePasswordReset => vec![
                PlannedCall::new("GET", format!("/admin/identities/{t}"), None),
                PlannedCall::new(
                    "PATCH",
                    format!("/admin/identities/{t}"),
                    Some("JSON Patch /state = inactive: no login, and no session of it is accepted"),
                ),
                PlannedCall::new(
                    "DELETE",
                    format!("/admin/identities/{t}/credentials/password"),
                    Some("the stolen password stops working; no MFA requirement is possible per identity"),
                ),
                PlannedCall::new(
                    "GET",
                    format!("/admin/identities/{t}/sessions?page_size={PAGE_SIZE}"),
                    None,
                ),
                PlannedCall::new("DELETE", format!("/admin/identities/{t}/sessions"), None),
                PlannedCall::new(
                    "POST",
                    "/admin/recovery/code",
                    Some(
                        format!(
                            "identity_id {t}, expires_in {RECOVERY_EXPIRES_IN}: a recovery code shown to you once, never logged"
                        )
                        .as_str(),
                    ),
                ),
            ],
            ActionKind::RevokeToken => Vec::new(),
        }
    }
}
