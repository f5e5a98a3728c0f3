//! Keycloak login events (`GET /admin/realms/{realm}/events`, a JSON array, or one per line).
//!
//! Mapping: time = `time` (epoch ms), user = `details.username` (else `userId`), session =
//! `sessionId`, IP = `ipAddress`. Keycloak events carry no User-Agent and no place, so GeoIP
//! supplies the place. `LOGIN` is a login, `LOGOUT` a logout; password, email, OTP and credential
//! updates are sensitive; an `error` (for example `invalid_token` on `REFRESH_TOKEN_ERROR` after
//! the session was ended) becomes the denial.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use super::jsonl::{nonempty, text_field, time_field};
use super::{Action, Event, Parsed};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KcEvent<'a> {
    #[serde(default, deserialize_with = "time_field")]
    time: Option<i64>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text_field")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text_field")]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    details: Option<HashMap<Cow<'a, str>, serde_json::Value>>,
}

const SENSITIVE: &[&str] = &[
    "UPDATE_PASSWORD",
    "RESET_PASSWORD",
    "UPDATE_EMAIL",
    "UPDATE_TOTP",
    "REMOVE_TOTP",
    "UPDATE_CREDENTIAL",
    "REMOVE_CREDENTIAL",
    "SEND_RESET_PASSWORD",
];

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let e: KcEvent<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let ts_ms = e.time.ok_or("missing or invalid `time`")?;
    let kind = e.kind.ok_or("missing `type`")?;
    let username = e
        .details
        .as_ref()
        .and_then(|d| d.get("username"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let Some(user) = username.or_else(|| nonempty(e.user_id).map(Cow::into_owned)) else {
        return Ok(Parsed::Ignored("no user"));
    };
    let Some(ip_text) = nonempty(e.ip_address) else {
        return Ok(Parsed::Ignored("no client IP"));
    };
    let ip = ip_text
        .trim()
        .parse()
        .map_err(|_| format!("invalid `ipAddress` {ip_text:?}"))?;
    let action = action_of(&kind);
    let denial = nonempty(e.error).map(Cow::into_owned);
    Ok(Parsed::Event(Box::new(Event {
        ts_ms,
        status: denial.as_ref().map(|_| 401),
        user,
        session: nonempty(e.session_id).map(Cow::into_owned),
        jti: None,
        ip: Some(ip),
        ua: None,
        method: None,
        path: Some(match e.client_id {
            Some(c) => format!("{kind} {c}"),
            None => kind.to_string(),
        }),
        action,
        denial,
        sensitive: SENSITIVE.contains(&kind.as_ref()),
        place: None,
        network: None,
        device: None,
    })))
}

/// The session step a Keycloak event `type` is.
pub(crate) fn action_of(kind: &str) -> Action {
    match kind {
        "LOGIN" | "CODE_TO_TOKEN" => Action::Login,
        "LOGOUT" => Action::Logout,
        _ => Action::Request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_event_and_refresh_error() {
        let ok = r#"{"time":1786025333000,"type":"LOGIN","realmId":"r","clientId":"web","userId":"af71",
            "sessionId":"nyPSR","ipAddress":"203.0.113.7","error":null,"details":{"username":"alice"}}"#;
        let Parsed::Event(e) = parse(ok.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            (e.user.as_str(), e.session.as_deref(), e.action),
            ("alice", Some("nyPSR"), Action::Login)
        );
        assert_eq!(e.ts_ms, 1_786_025_333_000);
        let err = r#"{"time":1786025333000,"type":"REFRESH_TOKEN_ERROR","userId":"af71","sessionId":"nyPSR",
            "ipAddress":"198.51.100.9","error":"invalid_token"}"#;
        let Parsed::Event(e) = parse(err.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.user, "af71");
        assert_eq!(e.denial.as_deref(), Some("invalid_token"));
        let pw = r#"{"time":1,"type":"UPDATE_PASSWORD","userId":"u","ipAddress":"10.0.0.1"}"#;
        let Parsed::Event(e) = parse(pw.as_bytes()).unwrap() else {
            panic!()
        };
        assert!(e.sensitive);
    }
}
