//! Keycloak's admin REST API for one realm (`/admin/realms/{realm}`), the token endpoint and
//! discovery, with the service account's `realm-management` roles enforced per endpoint as
//! Keycloak does (403 without a role name in the body). Offline sessions are listed per client
//! UUID (found through the consents' `additionalGrants`), and every successful admin write is
//! recorded as an admin event (`GET /admin-events`, newest first) when the realm stores them.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use crate::{Reply, Request, Server, serve};

pub struct Keycloak {
    pub realm: String,
    pub client_id: String,
    pub secret: String,
    /// The service account's realm-management roles.
    pub roles: Vec<String>,
    pub access_token_lifespan: u64,
    pub events_enabled: bool,
    /// UserRepresentation objects.
    pub users: Vec<Value>,
    /// UserSessionRepresentation objects.
    pub sessions: Vec<Value>,
    /// EventRepresentation objects (served newest first, as Keycloak does).
    pub events: Vec<Value>,
    /// user id → client ids with a consent (and offline tokens).
    pub consents: BTreeMap<String, Vec<String>>,
    /// Offline UserSessionRepresentation objects (their `clients` map names the client UUIDs).
    pub offline_sessions: Vec<Value>,
    /// Whether the realm stores admin events (`adminEventsEnabled`).
    pub admin_events_enabled: bool,
    /// AdminEventRepresentation objects, recorded for each successful admin write.
    pub admin_events: Vec<Value>,
    /// The next this many admin calls answer 429 with `Retry-After: 1`.
    pub rate_limit: u32,
    /// Admin paths (after the realm) answered with a malformed body.
    pub malformed: Vec<String>,
    /// Every call, `METHOD /path?query`.
    pub calls: Vec<String>,
    /// Bodies of the writes, by call line.
    pub bodies: Vec<(String, Value)>,
}

impl Keycloak {
    pub fn new(realm: &str, client_id: &str, secret: &str) -> Keycloak {
        Keycloak {
            realm: realm.into(),
            client_id: client_id.into(),
            secret: secret.into(),
            roles: ["view-users", "manage-users", "view-events", "view-realm"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            access_token_lifespan: 300,
            events_enabled: true,
            users: Vec::new(),
            sessions: Vec::new(),
            events: Vec::new(),
            consents: BTreeMap::new(),
            offline_sessions: Vec::new(),
            admin_events_enabled: true,
            admin_events: Vec::new(),
            rate_limit: 0,
            malformed: Vec::new(),
            calls: Vec::new(),
            bodies: Vec::new(),
        }
    }

    pub fn add_user(&mut self, id: &str, username: &str) {
        self.users.push(json!({
            "id": id, "username": username, "email": format!("{username}@example.test"),
            "firstName": username, "lastName": "Test", "enabled": true, "totp": false,
            "emailVerified": true, "requiredActions": [], "createdTimestamp": 1786000000000i64
        }));
    }

    pub fn add_session(&mut self, id: &str, user_id: &str, ip: &str, start_ms: i64) {
        let username = self
            .users
            .iter()
            .find(|u| u["id"] == user_id)
            .map(|u| u["username"].clone())
            .unwrap_or(Value::Null);
        self.sessions.push(json!({
            "id": id, "username": username, "userId": user_id, "ipAddress": ip,
            "start": start_ms, "lastAccess": start_ms + 60_000, "rememberMe": false,
            "clients": {"36a93a08-0000": "web-app"}, "transientUser": false
        }));
    }

    /// An offline session of `user_id` for client `client_id` (its UUID is [`client_uuid`]);
    /// the client gets the offline-token grant Keycloak reports in the user's consents.
    pub fn add_offline_session(&mut self, id: &str, user_id: &str, client_id: &str, ip: &str, start_ms: i64) {
        let mut clients = serde_json::Map::new();
        clients.insert(client_uuid(client_id), json!(client_id));
        self.offline_sessions.push(json!({
            "id": id, "userId": user_id, "ipAddress": ip, "start": start_ms,
            "lastAccess": start_ms + 60_000, "rememberMe": false, "clients": clients,
            "transientUser": false
        }));
    }

    pub fn add_event(
        &mut self,
        id: Option<&str>,
        time_ms: i64,
        kind: &str,
        user_id: &str,
        session_id: &str,
        ip: &str,
    ) {
        let mut e = json!({
            "time": time_ms, "type": kind, "realmId": self.realm, "clientId": "web-app",
            "userId": user_id, "sessionId": session_id, "ipAddress": ip, "error": null,
            "details": {"auth_method": "openid-connect"}
        });
        if let Some(id) = id {
            e["id"] = json!(id);
        }
        self.events.push(e);
    }

    pub fn start(self) -> Server<Keycloak> {
        serve(self, handle)
    }

    fn token(&self) -> String {
        let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.fake-signature",
            enc(json!({"alg": "RS256", "typ": "JWT"})),
            enc(json!({
                "azp": self.client_id, "sub": "service-account",
                "resource_access": {"realm-management": {"roles": self.roles}}
            }))
        )
    }
}

/// The UUID the fake gives a client.
pub fn client_uuid(client_id: &str) -> String {
    format!("0b6e5c1a-{client_id}")
}

fn offline_of(s: &Keycloak, user: &str, uuid: &str) -> Vec<Value> {
    s.offline_sessions
        .iter()
        .filter(|x| x["userId"] == user && x["clients"].get(uuid).is_some())
        .cloned()
        .collect()
}

/// `GET /users/{id}/consents`: explicit consents, then clients holding only offline tokens;
/// `additionalGrants` names the client's UUID when it holds offline tokens (as Keycloak does).
fn consents_of(s: &Keycloak, user: &str) -> Vec<Value> {
    let mut clients: Vec<(String, bool)> = s
        .consents
        .get(user)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c, true))
        .collect();
    for o in s.offline_sessions.iter().filter(|x| x["userId"] == user) {
        for c in o["clients"].as_object().into_iter().flat_map(|m| m.values()) {
            let c = c.as_str().unwrap_or_default().to_string();
            if !clients.iter().any(|(x, _)| *x == c) {
                clients.push((c, false));
            }
        }
    }
    clients
        .into_iter()
        .map(|(c, explicit)| {
            let uuid = client_uuid(&c);
            let grants = if offline_of(s, user, &uuid).is_empty() {
                json!([])
            } else {
                json!([{"client": uuid, "key": "Offline Token"}])
            };
            let scopes = if explicit {
                json!(["profile", "email"])
            } else {
                json!([])
            };
            json!({"clientId": c, "grantedClientScopes": scopes, "createdDate": null,
                   "lastUpdatedDate": null, "additionalGrants": grants})
        })
        .collect()
}

fn record_admin_event(s: &mut Keycloak, req: &Request, rest: &str, status: u16) {
    if !s.admin_events_enabled || status >= 400 || req.method == "GET" {
        return;
    }
    let operation = match req.method.as_str() {
        "DELETE" if !rest.contains("/consents/") => "DELETE",
        "PUT" if !rest.ends_with("/reset-password") => "UPDATE",
        _ => "ACTION",
    };
    let path = rest.trim_start_matches('/');
    let resource = if path.starts_with("sessions/") {
        "USER_SESSION"
    } else {
        "USER"
    };
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    s.admin_events.push(json!({
        "id": format!("ae-{}", s.admin_events.len() + 1),
        "time": time, "realmId": s.realm,
        "authDetails": {"realmId": s.realm, "clientId": client_uuid(&s.client_id),
                        "userId": "service-account-user", "ipAddress": "127.0.0.1"},
        "operationType": operation, "resourceType": resource, "resourcePath": path,
        "representation": null, "error": null
    }));
}

fn forbidden() -> Reply {
    Reply::json(403, json!({"error": "HTTP 403 Forbidden"}))
}

fn page(items: Vec<Value>, req: &Request) -> Vec<Value> {
    let first: usize = req.param("first").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = req.param("max").and_then(|v| v.parse().ok()).unwrap_or(100);
    items.into_iter().skip(first).take(max).collect()
}

fn handle(s: &mut Keycloak, req: &Request) -> Reply {
    s.calls.push(req.line());
    let realm_base = format!("/realms/{}", s.realm);
    if req.path == format!("{realm_base}/protocol/openid-connect/token") && req.method == "POST" {
        let form = req.form();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() != Some("client_credentials")
            || get("client_id").as_deref() != Some(s.client_id.as_str())
            || get("client_secret").as_deref() != Some(s.secret.as_str())
        {
            return Reply::json(
                401,
                json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
            );
        }
        return Reply::json(
            200,
            json!({"access_token": s.token(), "expires_in": 300, "token_type": "Bearer", "scope": "profile email"}),
        );
    }
    if req.path == format!("{realm_base}/.well-known/openid-configuration") {
        return Reply::json(200, json!({"issuer": "fake", "jwks_uri": "fake"}));
    }
    if req.path == format!("{realm_base}/protocol/openid-connect/certs") {
        return Reply::json(200, json!({"keys": []}));
    }
    let admin = format!("/admin/realms/{}", s.realm);
    let Some(rest) = req.path.strip_prefix(&admin) else {
        return Reply::json(404, json!({"error": "Realm not found."}));
    };
    if req.authorization.as_deref() != Some(&format!("Bearer {}", s.token())) {
        return Reply::json(401, json!({"error": "HTTP 401 Unauthorized"}));
    }
    if s.rate_limit > 0 {
        s.rate_limit -= 1;
        return Reply::json(429, json!({"error": "too many requests"})).header("retry-after", "1");
    }
    if s.malformed.iter().any(|m| m == rest) {
        return Reply::json(200, json!({"unexpected": "shape"}));
    }
    let segs: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let body = req.json();
    if req.method != "GET" {
        s.bodies.push((req.line(), body.clone()));
    }
    let reply = route(s, req, &segs, &body);
    record_admin_event(s, req, rest, reply.status);
    reply
}

fn route(s: &mut Keycloak, req: &Request, segs: &[&str], body: &Value) -> Reply {
    let has = |role: &str| s.roles.iter().any(|r| r == role || r == "realm-admin");
    match (req.method.as_str(), segs) {
        ("GET", []) => {
            if !has("view-realm") {
                return forbidden();
            }
            Reply::json(
                200,
                json!({"realm": s.realm, "enabled": true, "accessTokenLifespan": s.access_token_lifespan,
                       "eventsEnabled": s.events_enabled, "adminEventsEnabled": s.admin_events_enabled,
                       "ssoSessionMaxLifespan": 36000}),
            )
        }
        ("GET", ["users"]) => {
            if !has("view-users") {
                return forbidden();
            }
            Reply::json(200, Value::Array(page(s.users.clone(), req)))
        }
        ("GET", ["users", id]) => {
            if !has("view-users") {
                return forbidden();
            }
            match s.users.iter().find(|u| u["id"] == *id) {
                Some(u) => Reply::json(200, u.clone()),
                None => Reply::json(404, json!({"error": "User not found"})),
            }
        }
        ("PUT", ["users", id]) => {
            if !has("manage-users") {
                return forbidden();
            }
            let Some(u) = s.users.iter_mut().find(|u| u["id"] == *id) else {
                return Reply::json(404, json!({"error": "User not found"}));
            };
            if let Some(ra) = body.get("requiredActions") {
                u["requiredActions"] = ra.clone();
            }
            Reply::empty(204)
        }
        ("PUT", ["users", id, "reset-password"]) => {
            if !has("manage-users") {
                return forbidden();
            }
            let Some(u) = s.users.iter_mut().find(|u| u["id"] == *id) else {
                return Reply::json(404, json!({"error": "User not found"}));
            };
            if body["temporary"] == true {
                let mut ra: Vec<Value> = u["requiredActions"].as_array().cloned().unwrap_or_default();
                if !ra.contains(&json!("UPDATE_PASSWORD")) {
                    ra.push(json!("UPDATE_PASSWORD"));
                }
                u["requiredActions"] = Value::Array(ra);
            }
            Reply::empty(204)
        }
        ("GET", ["users", id, "sessions"]) => {
            if !has("view-users") {
                return forbidden();
            }
            let list: Vec<Value> = s
                .sessions
                .iter()
                .filter(|x| x["userId"] == *id)
                .cloned()
                .collect();
            Reply::json(200, Value::Array(list))
        }
        ("POST", ["users", id, "logout"]) => {
            if !has("manage-users") {
                return forbidden();
            }
            s.sessions.retain(|x| x["userId"] != *id);
            Reply::empty(204)
        }
        ("GET", ["users", id, "consents"]) => {
            if !has("view-users") {
                return forbidden();
            }
            Reply::json(200, Value::Array(consents_of(s, id)))
        }
        ("GET", ["users", id, "offline-sessions", uuid]) => {
            if !has("view-users") {
                return forbidden();
            }
            if !s.users.iter().any(|u| u["id"] == *id) {
                return Reply::json(404, json!({"error": "User not found"}));
            }
            let known = s
                .offline_sessions
                .iter()
                .any(|x| x["clients"].get(*uuid).is_some())
                || s.consents.values().flatten().any(|c| client_uuid(c) == *uuid);
            if !known {
                return Reply::json(404, json!({"error": "Client not found"}));
            }
            Reply::json(200, Value::Array(offline_of(s, id, uuid)))
        }
        ("DELETE", ["users", id, "consents", client]) => {
            if !has("manage-users") {
                return forbidden();
            }
            let list = s.consents.entry(id.to_string()).or_default();
            let before = list.len();
            list.retain(|c| c != client);
            let mut revoked = list.len() != before;
            let uuid = client_uuid(client);
            let offline = s.offline_sessions.len();
            s.offline_sessions
                .retain(|x| !(x["userId"] == *id && x["clients"].get(&uuid).is_some()));
            revoked |= s.offline_sessions.len() != offline;
            if revoked {
                Reply::empty(204)
            } else {
                Reply::json(404, json!({"error": "Consent nor offline token not found"}))
            }
        }
        ("DELETE", ["sessions", sid]) => {
            if !has("manage-users") {
                return forbidden();
            }
            let list = if req.param("isOffline") == Some("true") {
                &mut s.offline_sessions
            } else {
                &mut s.sessions
            };
            let before = list.len();
            list.retain(|x| x["id"] != *sid);
            if list.len() == before {
                Reply::json(404, json!({"error": "Sesssion not found"}))
            } else {
                Reply::empty(204)
            }
        }
        ("GET", ["admin-events"]) => {
            if !has("view-events") {
                return forbidden();
            }
            // Newest first; of two in the same millisecond, the later recorded first.
            let mut all = s.admin_events.clone();
            all.reverse();
            all.sort_by_key(|e| std::cmp::Reverse(e["time"].as_i64().unwrap_or(0)));
            if let Some(p) = req.param("resourcePath") {
                let prefix = p.trim_end_matches('*');
                all.retain(|e| e["resourcePath"].as_str().unwrap_or("").starts_with(prefix));
            }
            Reply::json(200, Value::Array(page(all, req)))
        }
        ("GET", ["events"]) => {
            if !has("view-events") {
                return forbidden();
            }
            let mut all = s.events.clone();
            all.sort_by_key(|e| std::cmp::Reverse(e["time"].as_i64().unwrap_or(0)));
            Reply::json(200, Value::Array(page(all, req)))
        }
        _ => Reply::json(404, json!({"error": "RESTEASY003210: Could not find resource"})),
    }
}
