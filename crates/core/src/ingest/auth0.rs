//! Auth0 tenant logs (`GET /api/v2/logs`, a JSON array, or one per line).
//!
//! Mapping: time = `date`, user = `user_name` (else `user_id`), session = `session_id` (else
//! `details.session_id`), IP = `ip`, UA = `user_agent`, place = `location_info`
//! (`country_code`, `city_name`, `latitude`, `longitude`). Log types: `s` (login) and `slo`
//! (logout) bound sessions; `scp`, `sce`, `gd_enrollment_complete`, `gd_unenroll` and
//! `mfar` are sensitive; failed token exchanges (`fertft`, `ferrt`, `feccft`, `fepft`...)
//! keep their description as the denial.

use std::borrow::Cow;

use serde::Deserialize;

use super::jsonl::{nonempty, source_place, text_field};
use super::{Action, Event, Parsed, time};

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow)]
    date: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text_field")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text_field")]
    session_id: Option<Cow<'a, str>>,
    details: Option<serde_json::Value>,
    #[serde(borrow)]
    location_info: Option<Location<'a>>,
}

#[derive(Deserialize)]
struct Location<'a> {
    #[serde(borrow)]
    country_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    city_name: Option<Cow<'a, str>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

const SENSITIVE: &[&str] = &[
    "scp",
    "scpr",
    "sce",
    "gd_enrollment_complete",
    "gd_unenroll",
    "mfar",
    "sui",
];

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let l: Log<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let date = l.date.ok_or("missing `date`")?;
    let ts_ms = time::parse_rfc3339_ms(&date).ok_or_else(|| format!("invalid `date` {date:?}"))?;
    let kind = l.kind.ok_or("missing `type`")?;
    let Some(user) = nonempty(l.user_name).or(nonempty(l.user_id)) else {
        return Ok(Parsed::Ignored("no user"));
    };
    let Some(ip_text) = nonempty(l.ip) else {
        return Ok(Parsed::Ignored("no client IP"));
    };
    let ip = ip_text
        .trim()
        .parse()
        .map_err(|_| format!("invalid `ip` {ip_text:?}"))?;
    let detail_session = l
        .details
        .as_ref()
        .and_then(|d| d.get("session_id"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let action = action_of(&kind);
    let failed_exchange = kind.starts_with("fe") || kind.as_ref() == "fsa";
    let denial = failed_exchange.then(|| {
        nonempty(l.description)
            .map(Cow::into_owned)
            .unwrap_or_else(|| format!("auth0 log type {kind}"))
    });
    let place = match l.location_info {
        Some(loc) => source_place(loc.latitude, loc.longitude, None, loc.city_name, loc.country_code)?,
        None => None,
    };
    Ok(Parsed::Event(Box::new(Event {
        ts_ms,
        user: user.into_owned(),
        session: nonempty(l.session_id).map(Cow::into_owned).or(detail_session),
        jti: None,
        ip: Some(ip),
        ua: nonempty(l.user_agent).map(Cow::into_owned),
        method: None,
        path: Some(kind.to_string()),
        status: denial.as_ref().map(|_| 401),
        action,
        denial,
        sensitive: SENSITIVE.contains(&kind.as_ref()),
        place,
        network: None,
        device: None,
    })))
}

/// The session step an Auth0 log `type` code is.
pub(crate) fn action_of(kind: &str) -> Action {
    match kind {
        "s" | "seacft" | "seccft" | "sepft" => Action::Login,
        "slo" => Action::Logout,
        _ => Action::Request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_maps_to_the_documented_fields() {
        let line = r#"{"date":"2026-07-01T12:00:00.000Z","type":"s","ip":"203.0.113.7","user_id":"auth0|123",
            "user_name":"alice@ex.com","user_agent":"Chrome 126.0.0 / Mac OS X 14.5.0","log_id":"900",
            "details":{"session_id":"sess_1"},
            "location_info":{"country_code":"PT","city_name":"Lisbon","latitude":38.72,"longitude":-9.14}}"#;
        let Parsed::Event(e) = parse(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.user, "alice@ex.com");
        assert_eq!(e.session.as_deref(), Some("sess_1"));
        assert_eq!(e.action, Action::Login);
        assert_eq!(e.place.as_ref().unwrap().country.as_deref(), Some("PT"));
        let reuse = r#"{"date":"2026-07-01T12:00:00Z","type":"ferrt","ip":"198.51.100.1","user_id":"auth0|123",
            "description":"Unsuccessful Refresh Token exchange, reused refresh token detected"}"#;
        let Parsed::Event(e) = parse(reuse.as_bytes()).unwrap() else {
            panic!()
        };
        assert!(crate::ingest::denial_means_revoked(e.denial.as_deref().unwrap()));
        let pw = r#"{"date":"2026-07-01T12:00:00Z","type":"scp","ip":"198.51.100.1","user_id":"u"}"#;
        let Parsed::Event(e) = parse(pw.as_bytes()).unwrap() else {
            panic!()
        };
        assert!(e.sensitive);
    }
}
