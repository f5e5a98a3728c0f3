//! Okta System Log `LogEvent`s (`GET /api/v1/logs`, a JSON array, or one per line).
//!
//! Mapping: user = `actor.alternateId` (else `actor.id`), session =
//! `authenticationContext.externalSessionId` (Okta's own proxy for the session id; `"unknown"`
//! is dropped), IP = `client.ipAddress`, UA = `client.userAgent.rawUserAgent`, place =
//! `client.geographicalContext` (Okta writes the country's name, kept as written), network =
//! `securityContext` (`asNumber`, `asOrg`, `isProxy`). `user.session.start` is a login,
//! `user.session.end` a logout; password, email and factor changes are sensitive; a refused
//! outcome keeps its reason as the denial.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use super::jsonl::{nonempty, source_place, text_field};
use super::{Action, Event, Parsed, time};
use crate::enrich::Network;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent<'a> {
    #[serde(borrow)]
    published: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    actor: Option<Actor<'a>>,
    #[serde(borrow)]
    client: Option<Client<'a>>,
    #[serde(borrow)]
    authentication_context: Option<AuthContext<'a>>,
    #[serde(borrow)]
    security_context: Option<SecurityContext<'a>>,
    #[serde(borrow)]
    outcome: Option<Outcome<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Actor<'a> {
    #[serde(borrow, default, deserialize_with = "text_field")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alternate_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Client<'a> {
    #[serde(borrow)]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<UserAgent<'a>>,
    #[serde(borrow)]
    geographical_context: Option<Geo<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserAgent<'a> {
    #[serde(borrow)]
    raw_user_agent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Geo<'a> {
    #[serde(borrow)]
    city: Option<Cow<'a, str>>,
    #[serde(borrow)]
    country: Option<Cow<'a, str>>,
    geolocation: Option<LatLon>,
}

#[derive(Deserialize)]
struct LatLon {
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthContext<'a> {
    #[serde(borrow, default, deserialize_with = "text_field")]
    external_session_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext<'a> {
    as_number: Option<u32>,
    #[serde(borrow)]
    as_org: Option<Cow<'a, str>>,
    is_proxy: Option<bool>,
}

#[derive(Deserialize)]
struct Outcome<'a> {
    #[serde(borrow)]
    result: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
}

const SENSITIVE: &[&str] = &[
    "user.account.update_password",
    "user.account.reset_password",
    "user.account.update_primary_email",
    "user.account.update_secondary_email",
    "user.mfa.factor.activate",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.reset_all",
    "user.mfa.factor.update",
    "user.authenticator.enroll",
    "system.mfa.factor.deactivate",
];

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let e: LogEvent<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let published = e.published.ok_or("missing `published`")?;
    let ts_ms =
        time::parse_rfc3339_ms(&published).ok_or_else(|| format!("invalid `published` {published:?}"))?;
    let Some(actor) = e.actor else {
        return Ok(Parsed::Ignored("no actor"));
    };
    let Some(user) = nonempty(actor.alternate_id).or(nonempty(actor.id)) else {
        return Ok(Parsed::Ignored("no actor"));
    };
    let Some(client) = e.client else {
        return Ok(Parsed::Ignored("no client"));
    };
    let Some(ip_text) = nonempty(client.ip_address) else {
        return Ok(Parsed::Ignored("no client IP"));
    };
    let ip = ip_text
        .trim()
        .parse()
        .map_err(|_| format!("invalid `client.ipAddress` {ip_text:?}"))?;
    let event_type = e.event_type.unwrap_or_default();
    let action = action_of(&event_type);
    let place = match client.geographical_context {
        Some(g) => {
            let (lat, lon) = g.geolocation.map(|l| (l.lat, l.lon)).unwrap_or((None, None));
            source_place(lat, lon, None, g.city, g.country)?
        }
        None => None,
    };
    let network = e.security_context.and_then(|s| {
        (s.as_number.is_some() || s.is_proxy == Some(true)).then(|| {
            Arc::new(Network::new(
                s.as_number,
                nonempty(s.as_org).map(Cow::into_owned),
                s.is_proxy == Some(true),
            ))
        })
    });
    let (denial, status) = match e.outcome {
        Some(o) => match o.result.as_deref() {
            Some("DENY" | "FAILURE") => {
                let reason = nonempty(o.reason).map(Cow::into_owned);
                (Some(reason.unwrap_or_else(|| "denied".into())), Some(401))
            }
            _ => (None, None),
        },
        None => (None, None),
    };
    let session = e
        .authentication_context
        .and_then(|a| nonempty(a.external_session_id))
        .filter(|s| !s.eq_ignore_ascii_case("unknown"))
        .map(Cow::into_owned);
    let ua = client
        .user_agent
        .and_then(|u| nonempty(u.raw_user_agent))
        .filter(|u| !u.eq_ignore_ascii_case("unknown"))
        .map(Cow::into_owned);
    Ok(Parsed::Event(Box::new(Event {
        ts_ms,
        user: user.into_owned(),
        session,
        jti: None,
        ip: Some(ip),
        ua,
        method: None,
        path: Some(event_type.to_string()),
        status,
        action,
        denial,
        sensitive: SENSITIVE.contains(&event_type.as_ref()),
        place,
        network,
        device: None,
    })))
}

/// The session step an Okta System Log `eventType` is.
pub(crate) fn action_of(event_type: &str) -> Action {
    match event_type {
        "user.session.start" => Action::Login,
        "user.session.end" => Action::Logout,
        _ => Action::Request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_event_maps_to_the_documented_fields() {
        let line = r#"{"uuid":"u1","published":"2026-07-01T12:00:00.000Z","eventType":"user.session.start",
          "actor":{"id":"00u1","type":"User","alternateId":"alice@ex.com"},
          "client":{"ipAddress":"203.0.113.7","userAgent":{"rawUserAgent":"Mozilla/5.0 X","os":"Mac OS X"},
            "geographicalContext":{"city":"Lisbon","country":"Portugal","geolocation":{"lat":38.72,"lon":-9.14}}},
          "authenticationContext":{"externalSessionId":"102abc"},
          "securityContext":{"asNumber":64500,"asOrg":"ExampleNet","isProxy":true},
          "outcome":{"result":"SUCCESS"}}"#;
        let Parsed::Event(e) = parse(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.user, "alice@ex.com");
        assert_eq!(e.session.as_deref(), Some("102abc"));
        assert_eq!(e.action, Action::Login);
        assert_eq!(e.ua.as_deref(), Some("Mozilla/5.0 X"));
        assert_eq!(e.place.as_ref().unwrap().coords, Some((38.72, -9.14)));
        assert_eq!(e.place.as_ref().unwrap().country.as_deref(), Some("Portugal"));
        let n = e.network.as_ref().unwrap();
        assert_eq!(n.asn, Some(64500));
        assert!(n.class.is_anonymizer());
    }

    #[test]
    fn system_events_are_ignored_and_denials_kept() {
        let sys = r#"{"published":"2026-07-01T12:00:00Z","eventType":"system.x","actor":{"id":"s","alternateId":"system"},"client":{}}"#;
        assert!(matches!(parse(sys.as_bytes()).unwrap(), Parsed::Ignored(_)));
        let deny = r#"{"published":"2026-07-01T12:00:00Z","eventType":"app.oauth2.token.grant",
          "actor":{"alternateId":"bob"},"client":{"ipAddress":"198.51.100.1"},
          "outcome":{"result":"FAILURE","reason":"refresh token revoked"}}"#;
        let Parsed::Event(e) = parse(deny.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.denial.as_deref(), Some("refresh token revoked"));
        assert!(parse(br#"{"eventType":"x"}"#).is_err());
    }
}
