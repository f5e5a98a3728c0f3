//! Activity from every source, normalized into one [`Event`].
//!
//! The detectors must not care whether a request came from the embedded authd's activity table
//! during live sync or from an Okta export an analyst dropped on the console, so every source is
//! turned into the same small struct first. Parsing is deliberately lenient about what it does
//! not need (unknown fields are ignored) and strict about what it does: a record without a time,
//! a user or an IP is reported as malformed with its line number and skipped, never guessed.
//!
//! # Generic JSONL (the fixed input contract of `gatehouse analyze`)
//!
//! One JSON object per line. Blank lines are ignored.
//!
//! | field | required | type | meaning |
//! |---|---|---|---|
//! | `ts` | yes | RFC 3339 string, or epoch number (milliseconds; values below 10^11 are seconds) | when the request happened |
//! | `user` | yes | string (a number is accepted and kept as its decimal text) | the account |
//! | `ip` | yes | IPv4 or IPv6 string | client address |
//! | `session` | no | string or number | session id, kept exactly as written |
//! | `jti` | no | string | token id; stands in for the session when `session` is absent |
//! | `ua` | no | string | raw User-Agent |
//! | `method`, `path` | no | string | the request |
//! | `status` | no | integer | HTTP status |
//! | `lat`, `lon` | no | number | location given by the source (both or neither); GeoIP is skipped |
//! | `city`, `country` | no | string (`country` ISO 3166 alpha-2) | place given by the source |
//! | `asn` | no | integer or `"AS123"` | network given by the source; GeoIP ASN is skipped |
//! | `as_org` | no | string | the network's organisation |
//!
//! Accepted extensions (what authd's activity rows carry, so a live dump can be replayed):
//! `accuracy_km` (number, radius of the source's location), `event` (`"login"`, `"logout"` or
//! `"request"`), `denial` (why the server refused the request, e.g. `"session_revoked"`),
//! `sensitive` (boolean: a password, email or MFA change), `proxy` (boolean: anonymizer).
//! Without `event`, a `POST` to a path ending in `/logout` counts as a logout and one ending in
//! `/login`, `/token` or `/sessions` as a login; without `sensitive`, a mutating request whose
//! path names a password, email, MFA, TOTP, WebAuthn or recovery resource counts as sensitive.
//!
//! # Vendor exports
//!
//! Okta System Log ([`okta`]), Keycloak login events ([`keycloak`]) and Auth0 logs ([`auth0`]),
//! each as a JSON array (what the admin APIs return) or as JSONL. [`Format::Auto`] looks at the
//! first record's keys. Vendor records that are not user activity (no user or no client IP, e.g.
//! system events) are counted as *ignored*, not malformed.

pub mod auth0;
mod fastjson;
pub mod jsonl;
pub mod keycloak;
pub mod lean;
pub mod okta;
pub mod split;
pub mod time;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::enrich::{Device, Network, Place};

/// One request or authentication event, whatever its source.
///
/// Cheap to build: the live sync fills the plain fields from an activity row and leaves
/// `place`, `network` and `device` as `None` (or sets them when the source knows), then
/// [`crate::enrich::Enricher::enrich`] fills what is missing from GeoIP and the UA parser.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// Milliseconds since the Unix epoch, UTC.
    pub ts_ms: i64,
    /// The account, exactly as the source spells it.
    pub user: String,
    /// The session id, exactly as the source spells it.
    pub session: Option<String>,
    /// The token id (`jti`), when known.
    pub jti: Option<String>,
    pub ip: Option<IpAddr>,
    /// The raw User-Agent header.
    pub ua: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub action: Action,
    /// Why the server refused the request (authd: `token_revoked`, `session_revoked`,
    /// `user_revoked`, `user_suspended`; vendors: their error text).
    pub denial: Option<String>,
    /// A password, email or MFA change.
    pub sensitive: bool,
    /// Where the client was: given by the source or looked up in GeoIP.
    pub place: Option<Arc<Place>>,
    /// Which network the client was on: given by the source or looked up in the ASN database.
    pub network: Option<Arc<Network>>,
    /// The parsed User-Agent.
    pub device: Option<Arc<Device>>,
}

impl Event {
    /// The key incidents are merged under: the session, or the token id when there is no session.
    pub fn session_key(&self) -> Option<&str> {
        self.session.as_deref().or(self.jti.as_deref())
    }

    /// The event as the detectors read it.
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            ts_ms: self.ts_ms,
            user: &self.user,
            session: self.session.as_deref(),
            jti: self.jti.as_deref(),
            ip: self.ip,
            method: self.method.as_deref(),
            path: self.path.as_deref(),
            status: self.status,
            action: self.action,
            denial: self.denial.as_deref(),
            sensitive: self.sensitive,
            place: self.place.as_ref(),
            network: self.network.as_ref(),
            device: self.device.as_ref(),
        }
    }
}

/// An [`Event`] without the raw User-Agent (the detectors read the parsed device), borrowing its
/// text: the batch pipeline builds these over a chunk of the input without copying a string.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub ts_ms: i64,
    pub user: &'a str,
    pub session: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub status: Option<u16>,
    pub action: Action,
    pub denial: Option<&'a str>,
    pub sensitive: bool,
    pub place: Option<&'a Arc<Place>>,
    pub network: Option<&'a Arc<Network>>,
    pub device: Option<&'a Arc<Device>>,
}

impl EventRef<'_> {
    /// See [`Event::session_key`].
    pub fn session_key(&self) -> Option<&str> {
        self.session.or(self.jti)
    }

    /// An owned copy (without the User-Agent, which a view does not carry).
    pub fn to_event(&self) -> Event {
        Event {
            ts_ms: self.ts_ms,
            user: self.user.to_owned(),
            session: self.session.map(str::to_owned),
            jti: self.jti.map(str::to_owned),
            ip: self.ip,
            ua: None,
            method: self.method.map(str::to_owned),
            path: self.path.map(str::to_owned),
            status: self.status,
            action: self.action,
            denial: self.denial.map(str::to_owned),
            sensitive: self.sensitive,
            place: self.place.cloned(),
            network: self.network.cloned(),
            device: self.device.cloned(),
        }
    }
}

/// What kind of step in a session an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An ordinary authenticated request.
    #[default]
    Request,
    /// A session was started (a login or a token issued).
    Login,
    /// The user ended the session.
    Logout,
}

/// Which parser reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Decide from the first record's keys.
    #[default]
    Auto,
    Jsonl,
    Okta,
    Keycloak,
    Auth0,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Okta => "okta",
            Format::Keycloak => "keycloak",
            Format::Auth0 => "auth0",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Format::Auto),
            "jsonl" | "json" => Ok(Format::Jsonl),
            "okta" => Ok(Format::Okta),
            "keycloak" => Ok(Format::Keycloak),
            "auth0" => Ok(Format::Auth0),
            other => Err(format!(
                "unknown format `{other}` (auto, jsonl, okta, keycloak, auth0)"
            )),
        }
    }
}

/// The result of reading one record.
#[derive(Debug)]
pub enum Parsed {
    Event(Box<Event>),
    /// Well-formed, but not user activity (a system event, no client IP); the reason says why.
    Ignored(&'static str),
}

/// A record that could not be read, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct Malformed {
    pub file: String,
    /// 1-based line on which the record starts.
    pub line: u64,
    pub message: String,
}

/// Reads one record (a JSONL line or one element of a JSON array) in the given format.
/// `Format::Auto` is treated as generic JSONL; resolve it first with [`detect_format`].
pub fn parse_record(format: Format, bytes: &[u8]) -> Result<Parsed, String> {
    // serde would read `[1, "a", ...]` positionally into a struct: only objects are records.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    match format {
        Format::Auto | Format::Jsonl => jsonl::parse(bytes),
        Format::Okta => okta::parse(bytes),
        Format::Keycloak => keycloak::parse(bytes),
        Format::Auth0 => auth0::parse(bytes),
    }
}

/// Generic JSONL for the batch pipeline: see [`lean`]. The device is resolved and GeoIP applied
/// through `enricher`'s caches; the token id is dropped when a session id is present. `text` is
/// the line when the caller already knows it is UTF-8.
pub(crate) fn parse_jsonl_into(
    bytes: &[u8],
    text: Option<&str>,
    out: &mut lean::Builder<'_>,
    lookups: &mut lean::Interner,
    enricher: &mut crate::enrich::Enricher,
) -> Result<(), String> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    jsonl::parse_into(bytes, text, out, lookups, enricher)
}

/// Guesses the format from one record's top-level keys; `None` when nothing matches.
pub fn detect_format(record: &[u8]) -> Option<Format> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(record).ok()?;
    let has = |k: &str| v.contains_key(k);
    if has("eventType") && (has("actor") || has("published")) {
        Some(Format::Okta)
    } else if has("log_id") || (has("date") && has("type") && (has("user_id") || has("client_id"))) {
        Some(Format::Auth0)
    } else if has("time") && has("type") && (has("realmId") || has("sessionId") || has("ipAddress")) {
        Some(Format::Keycloak)
    } else if has("ts") && has("user") && has("ip") {
        Some(Format::Jsonl)
    } else {
        None
    }
}

/// Kinds of denial that mean "this credential had been revoked or its session had ended", as
/// opposed to a wrong password or a missing permission.
pub fn denial_means_revoked(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "revoked",
        "session_not_active",
        "session not active",
        "user_session_not_found",
        "session_expired",
        "invalid_session",
        "session ended",
        "logged out",
        "logged_out",
        "user_suspended",
        "not_before",
        "token is no longer valid",
        "reused",
    ]
    .iter()
    .any(|p| r.contains(p))
}

/// The generic inference for events whose source does not say: `POST …/logout` ends a session,
/// `POST …/login|token|sessions` starts one.
pub fn infer_action(method: Option<&str>, path: Option<&str>) -> Action {
    let (Some(m), Some(p)) = (method, path) else {
        return Action::Request;
    };
    if !m.eq_ignore_ascii_case("POST") && !m.eq_ignore_ascii_case("DELETE") {
        return Action::Request;
    }
    let p = p.split('?').next().unwrap_or(p).trim_end_matches('/');
    let last = p.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    match last.as_str() {
        "logout" | "signout" | "sign_out" | "revoke" => Action::Logout,
        "login" | "signin" | "sign_in" | "token" | "sessions" | "authorize"
            if m.eq_ignore_ascii_case("POST") =>
        {
            Action::Login
        }
        _ => Action::Request,
    }
}

/// The `path` of an activity row recorded from a Shared Signals `session-revoked` event (see
/// `ssf::apply`): the identity provider ended the session at that instant.
pub const SSF_SESSION_REVOKED: &str = "ssf:session-revoked";

/// The session step of an activity row as the store keeps it. Rows from an HTTP log carry a
/// method and are inferred like any log ([`infer_action`]); rows synced from a provider's event
/// log carry no method and the event's own type as `path` (`okta:<eventType>`,
/// `auth0:<type code>`, Keycloak's bare `TYPE`), which maps exactly as the file importers map
/// it; a session revoked by a Shared Signals event ends the session.
pub fn stored_action(method: Option<&str>, path: Option<&str>) -> Action {
    if method.is_some() {
        return infer_action(method, path);
    }
    let Some(p) = path else {
        return Action::Request;
    };
    if p == SSF_SESSION_REVOKED {
        Action::Logout
    } else if let Some(t) = p.strip_prefix("okta:") {
        okta::action_of(t)
    } else if let Some(t) = p.strip_prefix("auth0:") {
        auth0::action_of(t)
    } else {
        // Keycloak stores `TYPE` or `TYPE client`.
        keycloak::action_of(p.split(' ').next().unwrap_or(p))
    }
}

/// A mutating request to a password, email, MFA or recovery resource.
pub fn infer_sensitive(method: Option<&str>, path: Option<&str>) -> bool {
    let (Some(m), Some(p)) = (method, path) else {
        return false;
    };
    if m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("HEAD") || m.eq_ignore_ascii_case("OPTIONS") {
        return false;
    }
    let p = p.to_ascii_lowercase();
    [
        "password",
        "email",
        "mfa",
        "totp",
        "factor",
        "webauthn",
        "passkey",
        "recovery",
        "authenticator",
    ]
    .iter()
    .any(|k| p.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_detection_by_keys() {
        assert_eq!(
            detect_format(br#"{"ts":1,"user":"a","ip":"1.2.3.4"}"#),
            Some(Format::Jsonl)
        );
        assert_eq!(
            detect_format(br#"{"published":"x","eventType":"user.session.start","actor":{}}"#),
            Some(Format::Okta)
        );
        assert_eq!(
            detect_format(br#"{"time":1,"type":"LOGIN","realmId":"r","ipAddress":"1.2.3.4"}"#),
            Some(Format::Keycloak)
        );
        assert_eq!(
            detect_format(br#"{"date":"x","type":"s","log_id":"9"}"#),
            Some(Format::Auth0)
        );
        assert_eq!(detect_format(br#"{"x":1}"#), None);
        assert_eq!(detect_format(b"not json"), None);
    }

    #[test]
    fn actions_and_sensitivity_from_requests() {
        assert_eq!(
            infer_action(Some("POST"), Some("/api/auth/logout")),
            Action::Logout
        );
        assert_eq!(
            infer_action(Some("POST"), Some("/oauth/token?x=1")),
            Action::Login
        );
        assert_eq!(infer_action(Some("GET"), Some("/logout")), Action::Request);
        assert!(infer_sensitive(Some("POST"), Some("/api/me/password")));
        assert!(infer_sensitive(Some("PUT"), Some("/users/1/mfa")));
        assert!(!infer_sensitive(Some("GET"), Some("/api/me/password")));
        assert!(denial_means_revoked("session_revoked"));
        assert!(!denial_means_revoked("invalid_password"));
    }

    #[test]
    fn stored_rows_from_provider_event_logs_keep_their_session_steps() {
        assert_eq!(
            stored_action(None, Some("okta:user.session.start")),
            Action::Login
        );
        assert_eq!(stored_action(None, Some("okta:user.session.end")), Action::Logout);
        assert_eq!(stored_action(None, Some("auth0:s")), Action::Login);
        assert_eq!(stored_action(None, Some("auth0:slo")), Action::Logout);
        assert_eq!(stored_action(None, Some("LOGIN")), Action::Login);
        assert_eq!(
            stored_action(None, Some("LOGOUT account-console")),
            Action::Logout
        );
        assert_eq!(stored_action(None, Some("UPDATE_PASSWORD")), Action::Request);
        assert_eq!(stored_action(None, Some(SSF_SESSION_REVOKED)), Action::Logout);
        assert_eq!(stored_action(None, None), Action::Request);
        // A row with a method is an HTTP request: a bare `LOGOUT` path is not a logout then.
        assert_eq!(stored_action(Some("GET"), Some("LOGOUT")), Action::Request);
        assert_eq!(stored_action(Some("POST"), Some("/auth/logout")), Action::Logout);
    }
}
