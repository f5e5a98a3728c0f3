//! Okta's Management API (spec v2026.06.3, `management-minimal.yaml`) for one org: the org
//! authorization server's token endpoint for an API service app (`client_credentials` with an
//! RFC 7523 `private_key_jwt` assertion, verified against the registered public key, a replayed
//! `jti` refused) or a legacy SSWS token, users and System Log with `Link` cursor paging, the
//! Session API, clearing a user's sessions, lifecycle operations, grants and ITP user risk.
//!
//! Every answer carries `X-Rate-Limit-{Limit,Remaining,Reset}`; OAuth tokens are checked for
//! the scope each endpoint documents (403 `E0000006` without it), SSWS tokens for their owner's
//! admin roles.

use std::collections::{BTreeMap, BTreeSet};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::{Reply, Request, Server, decode, serve};

/// Where a System Log event says the client was (`client` and `securityContext`).
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
    pub city: Option<String>,
    pub country: Option<String>,
    pub lat_lon: Option<(f64, f64)>,
    pub as_number: Option<u32>,
    pub as_org: Option<String>,
    pub is_proxy: bool,
}

impl Origin {
    pub fn new(ip: &str, user_agent: &str) -> Origin {
        Origin {
            ip: ip.into(),
            user_agent: user_agent.into(),
            city: None,
            country: None,
            lat_lon: None,
            as_number: None,
            as_org: None,
            is_proxy: false,
        }
    }

    pub fn place(mut self, city: &str, country: &str, lat: f64, lon: f64) -> Origin {
        self.city = Some(city.into());
        self.country = Some(country.into());
        self.lat_lon = Some((lat, lon));
        self
    }

    pub fn network(mut self, as_number: u32, as_org: &str, is_proxy: bool) -> Origin {
        self.as_number = Some(as_number);
        self.as_org = Some(as_org.into());
        self.is_proxy = is_proxy;
        self
    }
}

pub struct Okta {
    /// The service app's client id.
    pub client_id: String,
    /// The registered public key (PEM) and its `kid`; assertions must verify against it.
    pub public_key_pem: String,
    pub key_id: String,
    /// Scopes granted to the service app (a token gets those asked for that are granted).
    pub granted_scopes: Vec<String>,
    /// A legacy API token, and its owner's admin roles (`/api/v1/users/me/roles`).
    pub ssws_token: Option<String>,
    pub ssws_roles: Vec<String>,
    /// User objects.
    pub users: Vec<Value>,
    /// user id → Factor objects.
    pub factors: BTreeMap<String, Vec<Value>>,
    /// Live Session objects (`GET /api/v1/sessions/{id}`).
    pub sessions: Vec<Value>,
    /// LogEvent objects, oldest first.
    pub logs: Vec<Value>,
    /// The most items one page of users or logs holds (Okta's `limit`, capped lower to page).
    pub page_size: usize,
    /// Whether the org has Identity Threat Protection (`/api/v1/users/{id}/risk`).
    pub itp: bool,
    /// user id → ITP risk level set by an admin.
    pub risk: BTreeMap<String, String>,
    /// The next this many API calls answer 429, with `X-Rate-Limit-Reset` this many seconds on.
    pub rate_limit: u32,
    pub rate_limit_reset_secs: i64,
    /// API paths answered with a malformed body.
    pub malformed: Vec<String>,
    /// Every call, `METHOD /path?query`.
    pub calls: Vec<String>,
    /// Calls answered 429.
    pub throttled: u32,
    /// `jti`s of the assertions accepted (a replay is refused).
    pub jtis: Vec<String>,
    base: String,
    tokens: BTreeMap<String, Vec<String>>,
}

/// The scope of each kind of call (the spec's `x-okta-scopes`).
const USERS_READ: &str = "okta.users.read";
const USERS_MANAGE: &str = "okta.users.manage";
const LOGS_READ: &str = "okta.logs.read";
const SESSIONS_READ: &str = "okta.sessions.read";
const SESSIONS_MANAGE: &str = "okta.sessions.manage";
const RISK_MANAGE: &str = "okta.userRisk.manage";

/// An RFC 3339 time `minutes` ago, as Okta writes `published` (milliseconds, `Z`).
pub fn minutes_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Okta {
    pub fn new(client_id: &str, key_id: &str, public_key_pem: &str) -> Okta {
        Okta {
            client_id: client_id.into(),
            public_key_pem: public_key_pem.into(),
            key_id: key_id.into(),
            granted_scopes: [
                USERS_READ,
                USERS_MANAGE,
                LOGS_READ,
                SESSIONS_READ,
                SESSIONS_MANAGE,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ssws_token: None,
            ssws_roles: vec!["USER_ADMIN".into(), "REPORT_ADMIN".into()],
            users: Vec::new(),
            factors: BTreeMap::new(),
            sessions: Vec::new(),
            logs: Vec::new(),
            page_size: 200,
            itp: false,
            risk: BTreeMap::new(),
            rate_limit: 0,
            rate_limit_reset_secs: 1,
            malformed: Vec::new(),
            calls: Vec::new(),
            throttled: 0,
            jtis: Vec::new(),
            base: String::new(),
            tokens: BTreeMap::new(),
        }
    }

    /// A user with a push factor enrolled.
    pub fn add_user(&mut self, id: &str, login: &str) {
        self.users.push(json!({
            "id": id, "status": "ACTIVE", "created": "2026-01-05T10:00:00.000Z",
            "passwordChanged": "2026-01-05T10:00:00.000Z",
            "profile": {"login": login, "email": login, "firstName": login.split('@').next().unwrap_or(login),
                        "lastName": "Test"},
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}
        }));
        self.factors.insert(
            id.into(),
            vec![json!({"id": format!("opf-{id}"), "factorType": "push", "provider": "OKTA", "status": "ACTIVE"})],
        );
    }

    /// A live session, started `minutes` ago, with its `user.session.start` log event.
    pub fn add_session(&mut self, id: &str, user_id: &str, minutes: i64, origin: &Origin) {
        let created = minutes_ago(minutes);
        self.sessions.push(json!({
            "id": id, "userId": user_id, "login": self.login(user_id), "createdAt": created,
            "expiresAt": "2099-01-01T00:00:00.000Z", "status": "ACTIVE",
            "lastPasswordVerification": created, "lastFactorVerification": created,
            "amr": ["pwd", "mfa"], "idp": {"id": "00o-okta", "type": "OKTA"}, "mfaActive": true
        }));
        self.add_event(
            &format!("{id}-start"),
            minutes,
            "user.session.start",
            user_id,
            Some(id),
            origin,
        );
    }

    fn login(&self, user_id: &str) -> Value {
        self.users
            .iter()
            .find(|u| u["id"] == user_id)
            .map(|u| u["profile"]["login"].clone())
            .unwrap_or(Value::Null)
    }

    /// A System Log event of `user_id` in session `session_id`, `minutes` ago.
    pub fn add_event(
        &mut self,
        uuid: &str,
        minutes: i64,
        event_type: &str,
        user_id: &str,
        session_id: Option<&str>,
        origin: &Origin,
    ) {
        let mut geo =
            json!({"city": origin.city, "state": null, "country": origin.country, "postalCode": null});
        if let Some((lat, lon)) = origin.lat_lon {
            geo["geolocation"] = json!({"lat": lat, "lon": lon});
        }
        self.logs.push(json!({
            "uuid": uuid, "published": minutes_ago(minutes), "eventType": event_type,
            "version": "0", "severity": "INFO", "legacyEventType": null,
            "displayMessage": event_type, "actor": {"id": user_id, "type": "User",
                "alternateId": self.login(user_id), "displayName": "Test"},
            "client": {"ipAddress": origin.ip, "device": "Computer", "zone": "null",
                "userAgent": {"rawUserAgent": origin.user_agent, "os": "Unknown", "browser": "UNKNOWN"},
                "geographicalContext": geo},
            "authenticationContext": {"externalSessionId": session_id.unwrap_or("unknown"),
                "credentialType": "PASSWORD", "authenticationStep": 0},
            "securityContext": {"asNumber": origin.as_number, "asOrg": origin.as_org, "isp": origin.as_org,
                "domain": null, "isProxy": origin.is_proxy},
            "debugContext": {"debugData": {}}, "outcome": {"result": "SUCCESS", "reason": null},
            "request": {"ipChain": [{"ip": origin.ip}]}, "target": [],
            "transaction": {"type": "WEB", "id": format!("tx-{uuid}")}
        }));
    }

    pub fn start(self) -> Server<Okta> {
        let server = serve(self, handle);
        server.state().base = server.url.clone();
        server
    }

    fn user_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.users.iter_mut().find(|u| u["id"] == id)
    }
}

fn error(status: u16, code: &str, summary: &str) -> Reply {
    Reply::json(
        status,
        json!({"errorCode": code, "errorSummary": summary, "errorLink": code,
               "errorId": "oae-fake", "errorCauses": []}),
    )
}

fn not_found() -> Reply {
    error(404, "E0000007", "Not found: Resource not found: (User)")
}

/// Checks an RFC 7523 client assertion as Okta does and returns its `jti`.
fn check_assertion(s: &Okta, assertion: &str) -> Result<String, &'static str> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "The client_assertion is malformed.")?;
    if header.kid.as_deref() != Some(s.key_id.as_str()) {
        return Err("The client_assertion kid does not match a registered key.");
    }
    let key = match header.alg {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(s.public_key_pem.as_bytes()),
        Algorithm::ES256 => DecodingKey::from_ec_pem(s.public_key_pem.as_bytes()),
        _ => return Err("The client_assertion alg is not allowed."),
    }
    .map_err(|_| "The client_assertion signature is invalid.")?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[format!("{}/oauth2/v1/token", s.base)]);
    v.set_issuer(&[&s.client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud", "jti"]);
    let data = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .map_err(|_| "The client_assertion signature is invalid.")?;
    if data.claims["sub"] != s.client_id.as_str() {
        return Err("The client_assertion sub must be the client id.");
    }
    let (exp, iat) = (data.claims["exp"].as_i64(), data.claims["iat"].as_i64());
    if exp.zip(iat).is_none_or(|(e, i)| e - i > 3600) {
        return Err("The client_assertion token has an expiration too far into the future.");
    }
    let jti = data.claims["jti"].as_str().unwrap_or_default().to_string();
    if jti.is_empty() || s.jtis.contains(&jti) {
        return Err("The client_assertion token has already been used.");
    }
    Ok(jti)
}

fn token(s: &mut Okta, req: &Request) -> Reply {
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let refuse = |why: &str| Reply::json(401, json!({"error": "invalid_client", "error_description": why}));
    if get("grant_type").as_deref() != Some("client_credentials") {
        return Reply::json(400, json!({"error": "unsupported_grant_type"}));
    }
    if get("client_assertion_type").as_deref()
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return refuse("client_assertion_type is required");
    }
    let jti = match check_assertion(s, &get("client_assertion").unwrap_or_default()) {
        Ok(j) => j,
        Err(why) => return refuse(why),
    };
    s.jtis.push(jti);
    let asked = get("scope").unwrap_or_default();
    let scopes: Vec<String> = asked
        .split(' ')
        .filter(|a| s.granted_scopes.iter().any(|g| g == a))
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return Reply::json(
            400,
            json!({"error": "invalid_scope", "error_description": "The authorization server resource does not have any configured default scopes, 'scope' must be provided."}),
        );
    }
    let access = format!("okta-at-{}", s.tokens.len() + 1);
    s.tokens.insert(access.clone(), scopes.clone());
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3600, "access_token": access, "scope": scopes.join(" ")}),
    )
}

/// What the caller may do: `None` when not authenticated.
fn rights(s: &Okta, req: &Request) -> Option<Vec<String>> {
    let auth = req.authorization.as_deref()?;
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return s.tokens.get(t).cloned();
    }
    let t = auth.strip_prefix("SSWS ")?;
    if s.ssws_token.as_deref() != Some(t) {
        return None;
    }
    let mut out = BTreeSet::new();
    for r in &s.ssws_roles {
        let scopes: &[&str] = match r.as_str() {
            "SUPER_ADMIN" | "ORG_ADMIN" => &[
                USERS_READ,
                USERS_MANAGE,
                LOGS_READ,
                SESSIONS_READ,
                SESSIONS_MANAGE,
                RISK_MANAGE,
            ],
            "USER_ADMIN" | "HELP_DESK_ADMIN" => &[USERS_READ, USERS_MANAGE, SESSIONS_READ, SESSIONS_MANAGE],
            "READ_ONLY_ADMIN" => &[USERS_READ, LOGS_READ, SESSIONS_READ],
            "REPORT_ADMIN" => &[LOGS_READ],
            _ => &[],
        };
        out.extend(scopes.iter().map(|s| s.to_string()));
    }
    Some(out.into_iter().collect())
}

fn quota(s: &Okta, reply: Reply) -> Reply {
    let reset = (chrono::Utc::now().timestamp() + 60).to_string();
    let left = 600usize.saturating_sub(s.calls.len() % 600).to_string();
    reply
        .header("x-rate-limit-limit", "600")
        .header("x-rate-limit-remaining", &left)
        .header("x-rate-limit-reset", &reset)
}

/// One page of `items` after the item whose `key` is `after`, with the `Link` header Okta sends.
fn page(s: &Okta, req: &Request, items: Vec<Value>, key: &str, always_next: bool) -> Reply {
    let limit: usize = req
        .param("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        .clamp(1, 1000)
        .min(s.page_size.max(1));
    let after = req.param("after");
    let start = match after {
        Some(a) => items
            .iter()
            .position(|i| i[key] == a)
            .map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let chunk: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + chunk.len() < items.len();
    let mut link = format!("<{}{}?limit={limit}>; rel=\"self\"", s.base, req.path);
    let next_after = chunk
        .last()
        .and_then(|c| c[key].as_str())
        .or(after)
        .map(str::to_string);
    if (more || always_next)
        && let Some(n) = next_after
    {
        let mut keep: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "after" && k != "since")
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        keep.push(format!("after={}", encode(&n)));
        link.push_str(&format!(
            ", <{}{}?{}>; rel=\"next\"",
            s.base,
            req.path,
            keep.join("&")
        ));
    }
    Reply::json(200, Value::Array(chunk)).header("link", &link)
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The System Log events a query selects: `since`, and the filters Gatehouse sends
/// (`actor.id eq "…"`, the session start/end event types).
fn select_logs(s: &Okta, req: &Request) -> Vec<Value> {
    let filter = req.param("filter").unwrap_or("");
    let actor = filter
        .split("actor.id eq \"")
        .nth(1)
        .and_then(|r| r.split('"').next());
    let sessions_only = filter.contains("eventType eq \"user.session.start\"");
    let since = if req.param("after").is_none() {
        req.param("since")
    } else {
        None
    };
    s.logs
        .iter()
        .filter(|e| actor.is_none_or(|a| e["actor"]["id"] == a))
        .filter(|e| {
            !sessions_only
                || matches!(
                    e["eventType"].as_str(),
                    Some("user.session.start" | "user.session.end")
                )
        })
        .filter(|e| since.is_none_or(|t| e["published"].as_str().unwrap_or("") >= t))
        .cloned()
        .collect()
}

fn handle(s: &mut Okta, req: &Request) -> Reply {
    s.calls.push(req.line());
    if req.path == "/oauth2/v1/token" && req.method == "POST" {
        return token(s, req);
    }
    if req.path == "/oauth2/v1/keys" {
        return Reply::json(200, json!({"keys": []}));
    }
    let Some(granted) = rights(s, req) else {
        return error(401, "E0000011", "Invalid token provided");
    };
    if s.rate_limit > 0 {
        s.rate_limit -= 1;
        s.throttled += 1;
        let reset = (chrono::Utc::now().timestamp() + s.rate_limit_reset_secs).to_string();
        return error(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        )
        .header("x-rate-limit-limit", "600")
        .header("x-rate-limit-remaining", "0")
        .header("x-rate-limit-reset", &reset);
    }
    if s.malformed.contains(&req.path) {
        return quota(s, Reply::json(200, json!({"unexpected": "shape"})));
    }
    let has = |scope: &str| granted.iter().any(|g| g == scope);
    let forbidden = || {
        error(
            403,
            "E0000006",
            "You do not have permission to perform the requested action",
        )
    };
    let segs: Vec<String> = req
        .path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let reply = match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v1", "users"]) if has(USERS_READ) => {
            let users = s.users.clone();
            page(s, req, users, "id", false)
        }
        ("GET", ["api", "v1", "users", "me", "roles"]) => match &s.ssws_token {
            Some(_)
                if req
                    .authorization
                    .as_deref()
                    .is_some_and(|a| a.starts_with("SSWS ")) =>
            {
                let roles: Vec<Value> = s
                    .ssws_roles
                    .iter()
                    .map(|r| json!({"id": format!("ra-{r}"), "type": r, "status": "ACTIVE", "assignmentType": "USER"}))
                    .collect();
                Reply::json(200, Value::Array(roles))
            }
            _ => forbidden(),
        },
        ("GET", ["api", "v1", "users", id]) if has(USERS_READ) => {
            match s.users.iter().find(|u| u["id"] == *id) {
                Some(u) => Reply::json(200, u.clone()),
                None => not_found(),
            }
        }
        ("GET", ["api", "v1", "users", id, "factors"]) if has(USERS_READ) => {
            Reply::json(200, Value::Array(s.factors.get(*id).cloned().unwrap_or_default()))
        }
        ("POST", ["api", "v1", "users", id, "lifecycle", "expire_password"]) if has(USERS_MANAGE) => {
            match s.user_mut(id) {
                Some(u) => {
                    u["status"] = json!("PASSWORD_EXPIRED");
                    Reply::json(200, u.clone())
                }
                None => not_found(),
            }
        }
        ("POST", ["api", "v1", "users", id, "lifecycle", "reset_factors"]) if has(USERS_MANAGE) => {
            if s.user_mut(id).is_none() {
                not_found()
            } else {
                s.factors.insert(id.to_string(), Vec::new());
                Reply::json(200, json!({}))
            }
        }
        ("PUT", ["api", "v1", "users", id, "risk"]) if has(RISK_MANAGE) => {
            if !s.itp {
                not_found()
            } else {
                let level = req.json()["riskLevel"].as_str().unwrap_or("").to_string();
                s.risk.insert(id.to_string(), level.clone());
                Reply::json(200, json!({"riskLevel": level, "reason": "override.by.admin"}))
            }
        }
        ("DELETE", ["api", "v1", "users", id, "sessions"]) if has(USERS_MANAGE) => {
            if s.user_mut(id).is_none() {
                not_found()
            } else {
                s.sessions.retain(|x| x["userId"] != *id);
                Reply::empty(204)
            }
        }
        ("DELETE", ["api", "v1", "users", id, "grants"]) if has(USERS_MANAGE) => {
            if s.user_mut(id).is_none() {
                not_found()
            } else {
                Reply::empty(204)
            }
        }
        ("GET", ["api", "v1", "sessions", sid]) if has(SESSIONS_READ) => {
            match s.sessions.iter().find(|x| x["id"] == *sid) {
                Some(x) => Reply::json(200, x.clone()),
                None => error(404, "E0000007", "Not found: Resource not found: (Session)"),
            }
        }
        ("DELETE", ["api", "v1", "sessions", sid]) if has(SESSIONS_MANAGE) => {
            let before = s.sessions.len();
            s.sessions.retain(|x| x["id"] != *sid);
            if s.sessions.len() == before {
                error(404, "E0000007", "Not found: Resource not found: (Session)")
            } else {
                Reply::empty(204)
            }
        }
        ("GET", ["api", "v1", "logs"]) if has(LOGS_READ) => {
            let events = select_logs(s, req);
            page(s, req, events, "uuid", true)
        }
        (_, ["api", "v1", ..]) => {
            // A known route without the right scope or role, or an unknown one.
            let known = matches!(segs.get(2).copied(), Some("users" | "sessions" | "logs"));
            if known { forbidden() } else { not_found() }
        }
        _ => not_found(),
    };
    quota(s, reply)
}
