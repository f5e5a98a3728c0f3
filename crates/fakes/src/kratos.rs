//! Ory Kratos's admin API (`spec/api.json`): identities and sessions with keyset `page_token`
//! paging announced in the `Link` header, session revocation, credential deletion, identity state
//! by JSON Patch or PUT, and admin recovery codes and links (`/admin/recovery/code`, `/link`).
//! With an API key set it behaves like Ory Network (Bearer required); without, like an OSS admin
//! port.

use serde_json::{Value, json};

use crate::{Reply, Request, Server, serve};

pub struct Kratos {
    /// Ory Network API key; None for an OSS admin port.
    pub api_key: Option<String>,
    /// Identity objects.
    pub identities: Vec<Value>,
    /// Session objects (with `identity` and `devices`).
    pub sessions: Vec<Value>,
    /// The next this many calls answer 429 with `Retry-After: 1`.
    pub rate_limit: u32,
    /// Paths answered with a malformed body.
    pub malformed: Vec<String>,
    /// Every call, `METHOD /path?query`.
    pub calls: Vec<String>,
    /// Recovery codes and links minted: `{identity_id, kind, secret, expires_in, expires_at}`.
    pub recovery: Vec<Value>,
}

impl Kratos {
    pub fn new(api_key: Option<&str>) -> Kratos {
        Kratos {
            api_key: api_key.map(str::to_string),
            identities: Vec::new(),
            sessions: Vec::new(),
            rate_limit: 0,
            malformed: Vec::new(),
            calls: Vec::new(),
            recovery: Vec::new(),
        }
    }

    pub fn add_identity(&mut self, id: &str, email: &str) {
        self.identities.push(json!({
            "id": id, "schema_id": "default", "state": "active",
            "traits": {"email": email, "name": {"first": "Test", "last": email}},
            "credentials": {
                "password": {"type": "password", "identifiers": [email], "version": 0},
                "totp": {"type": "totp", "identifiers": [id], "version": 0}
            },
            "created_at": "2026-07-01T12:00:00Z", "updated_at": "2026-07-01T12:00:00Z"
        }));
    }

    pub fn add_session(&mut self, id: &str, identity_id: &str, ip: &str, at: &str) {
        let identity = self
            .identities
            .iter()
            .find(|i| i["id"] == identity_id)
            .cloned()
            .unwrap_or(json!({"id": identity_id}));
        self.sessions.push(json!({
            "id": id, "active": true, "authenticated_at": at, "issued_at": at,
            "expires_at": "2099-01-01T00:00:00Z", "authenticator_assurance_level": "aal1",
            "authentication_methods": [{"method": "password", "aal": "aal1", "completed_at": at}],
            "devices": [{"id": format!("d-{id}"), "ip_address": ip, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", "location": "Lisbon, PT"}],
            "identity": identity
        }));
    }

    pub fn start(self) -> Server<Kratos> {
        serve(self, handle)
    }
}

fn err(status: u16, reason: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": status, "status": reason, "message": reason}}),
    )
}

/// Kratos's duration pattern `^([0-9]+(ns|us|ms|s|m|h))*$`, as seconds.
fn duration_secs(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = [
            ("ns", 0u64),
            ("us", 0),
            ("ms", 0),
            ("h", 3600),
            ("m", 60),
            ("s", 1),
        ]
        .iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, m)| (*m, u.len()))?;
        total += n * unit;
        rest = &rest[len..];
    }
    Some(total)
}

fn recover(s: &mut Kratos, req: &Request, kind: &str) -> Reply {
    let body = req.json();
    let Some(id) = body["identity_id"].as_str() else {
        return err(400, "identity_id is required");
    };
    let Some(identity) = s.identities.iter().find(|i| i["id"] == id) else {
        return err(404, "Not Found");
    };
    let expires_in = body["expires_in"].as_str().unwrap_or("1h");
    let Some(secs) = duration_secs(expires_in) else {
        return err(400, "expires_in does not match the duration pattern");
    };
    // Like Kratos, minting does not look at the identity's state: recovery checks it when the
    // code or link is used.
    let _ = identity;
    let n = s.recovery.len() as u64 + 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(secs as i64)).to_rfc3339();
    let flow = format!("{:08x}-flow-{n}", nanos);
    let link = format!("http://127.0.0.1:4433/self-service/recovery?flow={flow}");
    let (secret, reply) = if kind == "code" {
        let code = format!("{:08}", (nanos.wrapping_mul(2654435761) + n) % 100_000_000);
        (
            code.clone(),
            json!({"recovery_link": link, "recovery_code": code, "expires_at": expires_at}),
        )
    } else {
        let link = format!("{link}&token={:016x}{n}", nanos.wrapping_mul(0x9e3779b97f4a7c15));
        (
            link.clone(),
            json!({"recovery_link": link, "expires_at": expires_at}),
        )
    };
    s.recovery.push(json!({
        "identity_id": id, "kind": kind, "secret": secret,
        "expires_in": expires_in, "expires_at": expires_at
    }));
    Reply::json(201, reply)
}

/// `PATCH` with a JSON Patch document; only `replace` on `/state` and `/traits/...` are needed.
fn patch_identity(s: &mut Kratos, id: &str, req: &Request) -> Reply {
    let Some(ops) = req.json().as_array().cloned() else {
        return err(400, "the body must be a JSON Patch array");
    };
    let Some(i) = s.identities.iter_mut().find(|i| i["id"] == id) else {
        return err(404, "Not Found");
    };
    for op in ops {
        match (op["op"].as_str(), op["path"].as_str()) {
            (Some("replace"), Some("/state")) => match op["value"].as_str() {
                Some(v @ ("active" | "inactive")) => i["state"] = json!(v),
                _ => return err(400, "state must be active or inactive"),
            },
            _ => return err(400, "unsupported patch operation"),
        }
    }
    Reply::json(200, i.clone())
}

/// Keyset paging: the token is the id of the last item of the previous page.
fn page(req: &Request, mut items: Vec<Value>) -> Reply {
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let size: usize = req
        .param("page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(250)
        .clamp(1, 1000);
    let after = req.param("page_token").map(str::to_string);
    let rest: Vec<Value> = items
        .into_iter()
        .filter(|i| {
            after
                .as_deref()
                .is_none_or(|a| i["id"].as_str().unwrap_or("") > a)
        })
        .collect();
    let more = rest.len() > size;
    let chunk: Vec<Value> = rest.into_iter().take(size).collect();
    let mut reply = Reply::json(200, Value::Array(chunk.clone()));
    let first = format!("<{}?page_size={size}>; rel=\"first\"", req.path);
    let link = match (more, chunk.last()) {
        (true, Some(last)) => format!(
            "{first},<{}?page_size={size}&page_token={}>; rel=\"next\"",
            req.path,
            last["id"].as_str().unwrap_or("")
        ),
        _ => first,
    };
    reply = reply.header("link", &link);
    reply
}

fn handle(s: &mut Kratos, req: &Request) -> Reply {
    s.calls.push(req.line());
    if let Some(key) = &s.api_key
        && req.authorization.as_deref() != Some(&format!("Bearer {key}"))
    {
        return err(401, "Unauthorized");
    }
    if s.rate_limit > 0 {
        s.rate_limit -= 1;
        return err(429, "Too Many Requests").header("retry-after", "1");
    }
    if s.malformed.contains(&req.path) {
        return Reply::json(200, json!({"not": "a list"}));
    }
    let segs: Vec<&str> = req.path.split('/').filter(|p| !p.is_empty()).collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["admin", "identities"]) => page(req, s.identities.clone()),
        ("GET", ["admin", "identities", id]) => match s.identities.iter().find(|i| i["id"] == *id) {
            Some(i) => Reply::json(200, i.clone()),
            None => err(404, "Not Found"),
        },
        ("PATCH", ["admin", "identities", id]) => patch_identity(s, id, req),
        ("PUT", ["admin", "identities", id]) => {
            let body = req.json();
            let Some(i) = s.identities.iter_mut().find(|i| i["id"] == *id) else {
                return err(404, "Not Found");
            };
            match body["state"].as_str() {
                Some(v @ ("active" | "inactive")) => i["state"] = json!(v),
                _ => return err(400, "state must be active or inactive"),
            }
            Reply::json(200, i.clone())
        }
        ("POST", ["admin", "recovery", "code"]) => recover(s, req, "code"),
        ("POST", ["admin", "recovery", "link"]) => recover(s, req, "link"),
        ("GET", ["admin", "identities", id, "sessions"]) => {
            let list: Vec<Value> = s
                .sessions
                .iter()
                .filter(|x| x["identity"]["id"] == *id)
                .map(|x| {
                    let mut x = x.clone();
                    x.as_object_mut().map(|o| o.remove("identity"));
                    x
                })
                .collect();
            page(req, list)
        }
        ("DELETE", ["admin", "identities", id, "sessions"]) => {
            let mut n = 0;
            s.sessions.retain(|x| {
                let keep = x["identity"]["id"] != *id;
                if !keep {
                    n += 1;
                }
                keep
            });
            if n == 0 {
                err(404, "Not Found")
            } else {
                Reply::empty(204)
            }
        }
        ("DELETE", ["admin", "identities", id, "credentials", kind]) => {
            let Some(i) = s.identities.iter_mut().find(|i| i["id"] == *id) else {
                return err(404, "Not Found");
            };
            match i["credentials"].as_object_mut().and_then(|c| c.remove(*kind)) {
                Some(_) => Reply::empty(204),
                None => err(404, "Not Found"),
            }
        }
        ("GET", ["admin", "sessions"]) => page(req, s.sessions.clone()),
        ("GET", ["admin", "sessions", id]) => match s.sessions.iter().find(|x| x["id"] == *id) {
            Some(x) => Reply::json(200, x.clone()),
            None => err(404, "Not Found"),
        },
        ("DELETE", ["admin", "sessions", id]) => match s.sessions.iter_mut().find(|x| x["id"] == *id) {
            Some(x) => {
                x["active"] = json!(false);
                Reply::empty(204)
            }
            None => err(404, "Not Found"),
        },
        _ => err(404, "Not Found"),
    }
}
