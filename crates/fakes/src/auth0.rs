//! Auth0's Management API v2 for one tenant (shapes from `auth0-python`'s management client and
//! types): the client-credentials token endpoint (`/oauth/token`, audience checked, scopes in
//! the answer), users by offset, per-user sessions with `from`/`take` checkpoints (Enterprise),
//! sessions and their revocation, refresh tokens, MFA enrolments and authenticators,
//! password-change tickets, and tenant logs by page or by checkpoint (`from` = a `log_id`).
//!
//! Every answer carries `x-ratelimit-{limit,remaining,reset}`; each endpoint requires the scope
//! the Management API documents (403 `insufficient_scope` without it).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{Reply, Request, Server, decode, serve};

pub struct Auth0 {
    pub client_id: String,
    pub client_secret: String,
    /// The Management API audience the token request must name.
    pub audience: String,
    /// Scopes granted to the machine-to-machine application.
    pub scopes: Vec<String>,
    /// Whether the plan has the sessions API (Enterprise).
    pub sessions_api: bool,
    /// User objects.
    pub users: Vec<Value>,
    /// Session objects (`device`, `clients`, `authentication`).
    pub sessions: Vec<Value>,
    /// Refresh token objects.
    pub refresh_tokens: Vec<Value>,
    /// user id → enrolment objects (`status: confirmed`).
    pub enrollments: BTreeMap<String, Vec<Value>>,
    /// Log objects, oldest first (`log_id` grows).
    pub logs: Vec<Value>,
    /// Password-change tickets issued: (user id, ticket URL, ttl_sec).
    pub tickets: Vec<(String, String, u64)>,
    /// Users whose remembered browsers were forgotten.
    pub forgotten_browsers: Vec<String>,
    /// The next this many API calls answer 429, with `x-ratelimit-reset` this many seconds on.
    pub rate_limit: u32,
    pub rate_limit_reset_secs: i64,
    /// Calls answered 429.
    pub throttled: u32,
    /// API paths (after `/api/v2`) answered with a malformed body.
    pub malformed: Vec<String>,
    /// Every call, `METHOD /path?query` (paths as sent, percent-encoded).
    pub calls: Vec<String>,
    tokens: Vec<String>,
}

pub const ALL_SCOPES: [&str; 9] = [
    "read:users",
    "update:users",
    "read:logs",
    "read:sessions",
    "delete:sessions",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "create:user_tickets",
    "delete:guardian_enrollments",
];

/// An ISO 8601 time `minutes` ago, as Auth0 writes dates.
pub fn minutes_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where a log entry or a session's device says the client was.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
    pub asn: Option<String>,
    /// (country code, country name, city, latitude, longitude)
    pub location: Option<(String, String, String, f64, f64)>,
}

impl Client {
    pub fn new(ip: &str, user_agent: &str) -> Client {
        Client {
            ip: ip.into(),
            user_agent: user_agent.into(),
            asn: None,
            location: None,
        }
    }

    pub fn asn(mut self, asn: &str) -> Client {
        self.asn = Some(asn.into());
        self
    }

    pub fn located(mut self, code: &str, country: &str, city: &str, lat: f64, lon: f64) -> Client {
        self.location = Some((code.into(), country.into(), city.into(), lat, lon));
        self
    }
}

impl Auth0 {
    pub fn new(client_id: &str, client_secret: &str, audience: &str) -> Auth0 {
        Auth0 {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            audience: audience.into(),
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            sessions_api: true,
            users: Vec::new(),
            sessions: Vec::new(),
            refresh_tokens: Vec::new(),
            enrollments: BTreeMap::new(),
            logs: Vec::new(),
            tickets: Vec::new(),
            forgotten_browsers: Vec::new(),
            rate_limit: 0,
            rate_limit_reset_secs: 1,
            throttled: 0,
            malformed: Vec::new(),
            calls: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// A database user with a confirmed authenticator enrolment.
    pub fn add_user(&mut self, id: &str, email: &str) {
        self.users.push(json!({
            "user_id": id, "email": email, "email_verified": true, "name": email, "nickname": email,
            "username": null, "blocked": false, "created_at": "2026-01-05T10:00:00.000Z",
            "updated_at": "2026-01-05T10:00:00.000Z", "last_password_reset": null,
            "identities": [{"connection": "Username-Password-Authentication", "provider": "auth0",
                            "user_id": id.split('|').nth(1).unwrap_or(id), "isSocial": false}]
        }));
        self.enrollments.insert(
            id.into(),
            vec![
                json!({"id": format!("dev_{id}"), "status": "confirmed", "type": "authenticator",
                        "enrolled_at": "2026-01-05T10:00:00.000Z"}),
            ],
        );
    }

    /// A session of `user_id` started `minutes` ago on `first`, last used from `last`, with a
    /// refresh token and a successful-login log entry (`s`) for its start.
    pub fn add_session(&mut self, id: &str, user_id: &str, minutes: i64, first: &Client, last: &Client) {
        let created = minutes_ago(minutes);
        self.sessions.push(json!({
            "id": id, "user_id": user_id, "created_at": created, "updated_at": minutes_ago(1),
            "authenticated_at": created, "idle_expires_at": "2099-01-01T00:00:00.000Z",
            "expires_at": "2099-01-01T00:00:00.000Z", "last_interacted_at": minutes_ago(1),
            "device": {"initial_user_agent": first.user_agent, "initial_ip": first.ip, "initial_asn": first.asn,
                       "last_user_agent": last.user_agent, "last_ip": last.ip, "last_asn": last.asn},
            "clients": [{"client_id": "web-app"}],
            "authentication": {"methods": [{"name": "pwd", "timestamp": created, "type": "password"}]},
            "cookie": {"mode": "persistent"}, "session_metadata": {}
        }));
        self.refresh_tokens.push(json!({
            "id": format!("rt_{id}"), "user_id": user_id, "session_id": id, "client_id": "web-app",
            "created_at": created, "rotating": true, "resource_servers": []
        }));
        self.add_log("s", minutes, user_id, Some(id), first);
    }

    /// A tenant log entry of type `kind` (`s` login, `f` failed login, `seacft` code exchange,
    /// …) for `user_id`, `minutes` ago.
    pub fn add_log(&mut self, kind: &str, minutes: i64, user_id: &str, session_id: Option<&str>, c: &Client) {
        let log_id = format!("9002026{:010}", self.logs.len() + 1);
        let location = c.location.as_ref().map(|(code, name, city, lat, lon)| {
            json!({"country_code": code, "country_code3": null, "country_name": name, "city_name": city,
                   "latitude": lat, "longitude": lon, "time_zone": null, "continent_code": null})
        });
        let description = if kind == "f" {
            json!("Wrong email or password.")
        } else {
            Value::Null
        };
        self.logs.push(json!({
            "log_id": log_id, "date": minutes_ago(minutes), "type": kind,
            "description": description,
            "connection": "Username-Password-Authentication", "connection_id": "con_1",
            "client_id": "web-app", "client_name": "Web App", "ip": c.ip, "hostname": "acme.auth0.test",
            "user_id": user_id, "user_name": self.email(user_id), "audience": null, "scope": null,
            "strategy": "auth0", "strategy_type": "database", "user_agent": c.user_agent,
            "session_id": session_id, "details": {}, "isMobile": false, "location_info": location,
            "security_context": {"ja3": null, "ja4": null}
        }));
    }

    fn email(&self, user_id: &str) -> Value {
        self.users
            .iter()
            .find(|u| u["user_id"] == user_id)
            .map(|u| u["email"].clone())
            .unwrap_or(Value::Null)
    }

    pub fn start(self) -> Server<Auth0> {
        serve(self, handle)
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    Reply::json(
        status,
        json!({"statusCode": status, "error": reason, "message": message, "errorCode": code}),
    )
}

fn quota(s: &Auth0, reply: Reply) -> Reply {
    let reset = (chrono::Utc::now().timestamp() + 1).to_string();
    let left = 50usize.saturating_sub(s.calls.len() % 50).max(10).to_string();
    reply
        .header("x-ratelimit-limit", "50")
        .header("x-ratelimit-remaining", &left)
        .header("x-ratelimit-reset", &reset)
}

fn token(s: &mut Auth0, req: &Request) -> Reply {
    // The SDKs send JSON; form bodies are accepted too.
    let body = req.json();
    let form = req.form();
    let get = |k: &str| -> Option<String> {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    };
    if get("grant_type").as_deref() != Some("client_credentials") {
        return Reply::json(
            400,
            json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}),
        );
    }
    if get("client_id").as_deref() != Some(s.client_id.as_str())
        || get("client_secret").as_deref() != Some(s.client_secret.as_str())
    {
        return Reply::json(
            401,
            json!({"error": "access_denied", "error_description": "Unauthorized"}),
        );
    }
    if get("audience").as_deref() != Some(s.audience.as_str()) {
        return Reply::json(
            403,
            json!({"error": "access_denied", "error_description": format!("Service not found: {}", get("audience").unwrap_or_default())}),
        );
    }
    let access = format!("mgmt-{}", s.tokens.len() + 1);
    s.tokens.push(access.clone());
    Reply::json(
        200,
        json!({"access_token": access, "expires_in": 86400, "token_type": "Bearer", "scope": s.scopes.join(" ")}),
    )
}

/// `from`/`take` checkpoint paging over items keyed by `id`, `{key: [...], next}`.
fn checkpoint(req: &Request, items: Vec<Value>, key: &str) -> Reply {
    let take: usize = req
        .param("take")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let start = match req.param("from") {
        Some(f) => items.iter().position(|i| i["id"] == f).unwrap_or(items.len()),
        None => 0,
    };
    let chunk: Vec<Value> = items.iter().skip(start).take(take).cloned().collect();
    let next = items.get(start + take).map(|i| i["id"].clone());
    let mut out = serde_json::Map::new();
    out.insert(key.to_string(), Value::Array(chunk));
    if let Some(n) = next {
        out.insert("next".into(), n);
    }
    Reply::json(200, Value::Object(out))
}

fn handle(s: &mut Auth0, req: &Request) -> Reply {
    s.calls.push(req.line());
    if req.path == "/oauth/token" && req.method == "POST" {
        return token(s, req);
    }
    if req.path == "/.well-known/jwks.json" {
        return Reply::json(200, json!({"keys": []}));
    }
    let Some(rest) = req.path.strip_prefix("/api/v2") else {
        return error(404, "inexistent_resource", "Not Found");
    };
    let authorized = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| s.tokens.iter().any(|k| k == t));
    if !authorized {
        return error(401, "invalid_token", "Invalid token");
    }
    if s.rate_limit > 0 {
        s.rate_limit -= 1;
        s.throttled += 1;
        let reset = (chrono::Utc::now().timestamp() + s.rate_limit_reset_secs).to_string();
        return error(429, "too_many_requests", "Global limit has been reached")
            .header("x-ratelimit-limit", "50")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset);
    }
    if s.malformed.iter().any(|m| m == rest) {
        return quota(s, Reply::json(200, json!({"unexpected": "shape"})));
    }
    let segs: Vec<String> = rest.split('/').filter(|p| !p.is_empty()).map(decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let granted = s.scopes.clone();
    let needs = |scope: &str| -> Option<Reply> {
        (!granted.iter().any(|g| g == scope)).then(|| {
            error(
                403,
                "insufficient_scope",
                &format!("Insufficient scope, expected any of: {scope}"),
            )
        })
    };
    let body = req.json();
    let reply = match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["users"]) => needs("read:users").unwrap_or_else(|| {
            let page: usize = req.param("page").and_then(|v| v.parse().ok()).unwrap_or(0);
            let per: usize = req
                .param("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50)
                .clamp(1, 100);
            let list: Vec<Value> = s.users.iter().skip(page * per).take(per).cloned().collect();
            Reply::json(200, Value::Array(list))
        }),
        ("GET", ["users", id]) => {
            needs("read:users").unwrap_or_else(|| match s.users.iter().find(|u| u["user_id"] == *id) {
                Some(u) => Reply::json(200, u.clone()),
                None => error(404, "inexistent_user", "The user does not exist."),
            })
        }
        ("PATCH", ["users", id]) => needs("update:users").unwrap_or_else(|| {
            match s.users.iter_mut().find(|u| u["user_id"] == *id) {
                Some(u) => {
                    // Only the fields the console sets; Auth0 answers with the whole user.
                    if let Some(b) = body.get("blocked").and_then(Value::as_bool) {
                        u["blocked"] = Value::Bool(b);
                    }
                    Reply::json(200, u.clone())
                }
                None => error(404, "inexistent_user", "The user does not exist."),
            }
        }),
        ("GET", ["users", id, "enrollments"]) => needs("read:users").unwrap_or_else(|| {
            Reply::json(
                200,
                Value::Array(s.enrollments.get(*id).cloned().unwrap_or_default()),
            )
        }),
        ("DELETE", ["users", id, "authenticators"]) => {
            needs("delete:guardian_enrollments").unwrap_or_else(|| {
                s.enrollments.insert(id.to_string(), Vec::new());
                Reply::empty(204)
            })
        }
        (
            "POST",
            [
                "users",
                id,
                "multifactor",
                "actions",
                "invalidate-remember-browser",
            ],
        ) => needs("update:users").unwrap_or_else(|| {
            s.forgotten_browsers.push(id.to_string());
            Reply::empty(204)
        }),
        ("GET", ["users", id, "sessions"]) if s.sessions_api => needs("read:sessions").unwrap_or_else(|| {
            let mine: Vec<Value> = s
                .sessions
                .iter()
                .filter(|x| x["user_id"] == *id)
                .cloned()
                .collect();
            checkpoint(req, mine, "sessions")
        }),
        ("DELETE", ["users", id, "sessions"]) if s.sessions_api => {
            needs("delete:sessions").unwrap_or_else(|| {
                s.sessions.retain(|x| x["user_id"] != *id);
                Reply::empty(202)
            })
        }
        ("GET", ["users", id, "refresh-tokens"]) => needs("read:refresh_tokens").unwrap_or_else(|| {
            let mine: Vec<Value> = s
                .refresh_tokens
                .iter()
                .filter(|x| x["user_id"] == *id)
                .cloned()
                .collect();
            checkpoint(req, mine, "tokens")
        }),
        ("DELETE", ["users", id, "refresh-tokens"]) => needs("delete:refresh_tokens").unwrap_or_else(|| {
            s.refresh_tokens.retain(|x| x["user_id"] != *id);
            Reply::empty(204)
        }),
        ("GET", ["users", id, "logs"]) => needs("read:logs").unwrap_or_else(|| {
            let mut mine: Vec<Value> = s.logs.iter().filter(|l| l["user_id"] == *id).cloned().collect();
            mine.reverse();
            let page: usize = req.param("page").and_then(|v| v.parse().ok()).unwrap_or(0);
            let per: usize = req
                .param("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50)
                .clamp(1, 100);
            Reply::json(
                200,
                Value::Array(mine.into_iter().skip(page * per).take(per).collect()),
            )
        }),
        ("POST", ["refresh-tokens", "revoke"]) => needs("delete:refresh_tokens").unwrap_or_else(|| {
            let ids: Vec<Value> = body["ids"].as_array().cloned().unwrap_or_default();
            s.refresh_tokens.retain(|t| !ids.contains(&t["id"]));
            Reply::empty(204)
        }),
        ("GET", ["sessions", sid]) if s.sessions_api => {
            needs("read:sessions").unwrap_or_else(|| match s.sessions.iter().find(|x| x["id"] == *sid) {
                Some(x) => Reply::json(200, x.clone()),
                None => error(404, "inexistent_session", "The session does not exist."),
            })
        }
        ("DELETE", ["sessions", sid]) | ("POST", ["sessions", sid, "revoke"]) if s.sessions_api => {
            needs("delete:sessions").unwrap_or_else(|| {
                let before = s.sessions.len();
                s.sessions.retain(|x| x["id"] != *sid);
                if s.sessions.len() == before {
                    error(404, "inexistent_session", "The session does not exist.")
                } else {
                    if req.method == "POST" {
                        s.refresh_tokens.retain(|t| t["session_id"] != *sid);
                    }
                    Reply::empty(if req.method == "POST" { 202 } else { 204 })
                }
            })
        }
        ("POST", ["tickets", "password-change"]) => needs("create:user_tickets").unwrap_or_else(|| {
            let Some(user) = body["user_id"].as_str().map(str::to_string) else {
                return error(
                    400,
                    "invalid_body",
                    "Payload validation error: 'Missing required property: user_id'.",
                );
            };
            if !s.users.iter().any(|u| u["user_id"] == user.as_str()) {
                return error(404, "inexistent_user", "The user does not exist.");
            }
            let ttl = body["ttl_sec"].as_u64().unwrap_or(432_000);
            let url = format!(
                "https://acme.auth0.test/lo/reset?ticket=T{:08}secret{}#",
                s.tickets.len() + 1,
                s.calls.len()
            );
            s.tickets.push((user, url.clone(), ttl));
            Reply::json(201, json!({"ticket": url}))
        }),
        ("GET", ["logs"]) => needs("read:logs").unwrap_or_else(|| {
            let logs = match req.param("from") {
                Some(from) => {
                    let take: usize = req
                        .param("take")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(50)
                        .clamp(1, 100);
                    s.logs
                        .iter()
                        .filter(|l| l["log_id"].as_str().unwrap_or("") > from)
                        .take(take)
                        .cloned()
                        .collect()
                }
                None => {
                    let mut all = s.logs.clone();
                    if req.param("sort") != Some("date:1") {
                        all.reverse();
                    }
                    let page: usize = req.param("page").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let per: usize = req
                        .param("per_page")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(50)
                        .clamp(1, 100);
                    all.into_iter().skip(page * per).take(per).collect()
                }
            };
            Reply::json(200, Value::Array(logs))
        }),
        (_, ["sessions", ..]) | (_, ["users", _, "sessions"]) => error(
            403,
            "operation_not_supported",
            "This feature is not enabled for this tenant.",
        ),
        _ => error(404, "inexistent_resource", "Not Found"),
    };
    quota(s, reply)
}
