//! The generic JSONL line (schema in the [module docs](super)), and serde helpers the vendor
//! parsers share. Fields borrow from the input line where JSON escapes allow it: this parser runs
//! once per line of multi-hundred-megabyte files, and copying only what the event keeps halves
//! its cost.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::lean::Fields;
use super::{Action, Event, Parsed, infer_action, infer_sensitive, time};
use crate::enrich::{Network, Place, PlaceSource};

#[derive(Deserialize, Default, Debug, PartialEq)]
pub(crate) struct Line<'a> {
    #[serde(default, deserialize_with = "time_field")]
    pub(crate) ts: Option<i64>,
    #[serde(default, borrow, deserialize_with = "text_field")]
    pub(crate) user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) ip: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text_field")]
    pub(crate) session: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text_field")]
    pub(crate) jti: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) ua: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) path: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) lat: Option<f64>,
    #[serde(default)]
    pub(crate) lon: Option<f64>,
    #[serde(default, borrow)]
    pub(crate) city: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) country: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "asn_field")]
    pub(crate) asn: Option<u32>,
    #[serde(default, borrow)]
    pub(crate) as_org: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) accuracy_km: Option<f64>,
    #[serde(default, borrow)]
    pub(crate) event: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) denial: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) sensitive: Option<bool>,
    #[serde(default)]
    pub(crate) proxy: Option<bool>,
}

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    // The hand-written scanner reads the common, flat lines; anything it does not handle (or
    // that is invalid) goes through serde_json, which also words the error.
    let l: Line<'_> = match super::fastjson::line(bytes) {
        Some(l) => l,
        None => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
    };
    build(l)
}

/// Like [`parse`], for the batch pipeline: the event goes into `out` with its strings left in
/// the chunk's text, the User-Agent is resolved to a device through the enricher's cache (no copy
/// of the header is made), GeoIP fills what the line did not give, and the token id is not kept
/// when there is a session id.
pub(crate) fn parse_into(
    bytes: &[u8],
    text: Option<&str>,
    out: &mut super::lean::Builder<'_>,
    lookups: &mut super::lean::Interner,
    enricher: &mut crate::enrich::Enricher,
) -> Result<(), String> {
    let mut l = Line::default();
    let fast = match text {
        Some(t) => super::fastjson::line_into(t, &mut l),
        None => super::fastjson::line(bytes).map(|read| l = read),
    };
    if fast.is_none() {
        l = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    }
    let mut f = check(&mut l)?;
    if f.session.is_some() {
        f.jti = None;
    }
    out.push(&f, lookups, enricher);
    Ok(())
}

/// Checks and converts a decoded line.
pub(crate) fn build(mut l: Line<'_>) -> Result<Parsed, String> {
    let f = check(&mut l)?;
    Ok(Parsed::Event(Box::new(Event {
        ts_ms: f.ts_ms,
        user: f.user.into_owned(),
        session: f.session.map(Cow::into_owned),
        jti: f.jti.map(Cow::into_owned),
        ip: f.ip,
        ua: f.ua.map(Cow::into_owned),
        method: f.method.map(Cow::into_owned),
        path: f.path.map(Cow::into_owned),
        status: f.status,
        action: f.action,
        denial: f.denial.map(Cow::into_owned),
        sensitive: f.sensitive,
        place: f.place,
        network: f.network,
        device: None,
    })))
}

/// The checks of a decoded line; its strings are moved out (still borrowed from the line where
/// JSON escapes allow).
fn check<'a>(l: &mut Line<'a>) -> Result<Fields<'a>, String> {
    let ts_ms = l.ts.ok_or("missing or invalid `ts`")?;
    let user = nonempty(l.user.take()).ok_or("missing `user`")?;
    let ip_text = l.ip.take().ok_or("missing `ip`")?;
    let ip: IpAddr = parse_ip(&ip_text).ok_or_else(|| format!("invalid `ip` {ip_text:?}"))?;
    let method = nonempty(l.method.take());
    let path = nonempty(l.path.take());
    let action = match l.event.as_deref() {
        Some(e) if e.eq_ignore_ascii_case("login") => Action::Login,
        Some(e) if e.eq_ignore_ascii_case("logout") => Action::Logout,
        Some(e) if e.eq_ignore_ascii_case("request") => Action::Request,
        Some(e) => return Err(format!("unknown `event` {e:?} (login, logout, request)")),
        None => infer_action(method.as_deref(), path.as_deref()),
    };
    let sensitive = l
        .sensitive
        .unwrap_or_else(|| infer_sensitive(method.as_deref(), path.as_deref()));
    let place = source_place(l.lat, l.lon, l.accuracy_km, l.city.take(), l.country.take())?;
    let network = (l.asn.is_some() || l.as_org.is_some() || l.proxy.is_some()).then(|| {
        let org = nonempty(l.as_org.take()).map(Cow::into_owned);
        Arc::new(Network::new(l.asn, org, l.proxy.unwrap_or(false)))
    });
    Ok(Fields {
        ts_ms,
        user,
        session: nonempty(l.session.take()),
        jti: nonempty(l.jti.take()),
        ip: Some(ip),
        ua: nonempty(l.ua.take()),
        method,
        path,
        status: l.status,
        action,
        denial: nonempty(l.denial.take()),
        sensitive,
        place,
        network,
    })
}

/// An IP address, surrounding whitespace allowed. Dotted-quad IPv4 (most lines) is read
/// directly; anything else goes through the standard parser.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    let mut octets = [0u8; 4];
    let (mut i, mut n) = (0usize, 0usize);
    while n < 4 {
        let start = i;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            v = v * 10 + u32::from(c - b'0');
            i += 1;
            if i - start > 3 {
                break;
            }
        }
        let len = i - start;
        // One to three digits, no leading zero (as the standard parser), at most 255.
        if len == 0 || len > 3 || (len > 1 && b[start] == b'0') || v > 255 {
            return s.trim().parse().ok();
        }
        octets[n] = v as u8;
        n += 1;
        if n < 4 {
            if b.get(i) != Some(&b'.') {
                return s.trim().parse().ok();
            }
            i += 1;
        }
    }
    if i != b.len() {
        return s.trim().parse().ok();
    }
    Some(IpAddr::from(octets))
}

pub(crate) fn nonempty(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    // Nearly every value starts with a visible ASCII character: no need to trim it.
    s.filter(|s| s.as_bytes().first().is_some_and(u8::is_ascii_graphic) || !s.trim().is_empty())
}

/// A place given by the source. Coordinates must come in pairs and be on the globe.
pub(crate) fn source_place(
    lat: Option<f64>,
    lon: Option<f64>,
    accuracy_km: Option<f64>,
    city: Option<Cow<'_, str>>,
    country: Option<Cow<'_, str>>,
) -> Result<Option<Arc<Place>>, String> {
    let coords = match (lat, lon) {
        (Some(la), Some(lo)) => {
            if !(-90.0..=90.0).contains(&la) || !(-180.0..=180.0).contains(&lo) {
                return Err(format!("`lat`/`lon` out of range: {la}, {lo}"));
            }
            Some((la, lo))
        }
        (None, None) => None,
        _ => return Err("`lat` and `lon` must be given together".into()),
    };
    let city = nonempty(city).map(Cow::into_owned);
    let country = nonempty(country).map(|c| c.trim().to_owned());
    if coords.is_none() && city.is_none() && country.is_none() {
        return Ok(None);
    }
    let accuracy_km = accuracy_km
        .filter(|a| a.is_finite() && *a >= 0.0)
        .map(|a| a as f32);
    Ok(Some(Arc::new(Place {
        coords,
        accuracy_km,
        city,
        country,
        source: PlaceSource::Input,
    })))
}

/// `ts` from a string: RFC 3339, or a number in a string.
pub(crate) fn time_from_str(s: &str) -> Option<i64> {
    time::parse_rfc3339_ms(s).or_else(|| s.parse::<f64>().ok().and_then(time::epoch_number_ms))
}

/// `ts`: an RFC 3339 string or an epoch number.
pub(crate) fn time_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 time or epoch milliseconds")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            time_from_str(s)
                .map(Some)
                .ok_or_else(|| E::custom(format!("invalid time {s:?}")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_f64(v as f64)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_f64(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            time::epoch_number_ms(v)
                .map(Some)
                .ok_or_else(|| E::custom(format!("invalid epoch time {v}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Identifiers that some sources write as numbers: kept as their decimal text.
pub(crate) fn text_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or an integer")
        }
        fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(s)))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(s.to_owned())))
        }
        fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(s)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// `"64500"`, `"AS64500"`; `Err` when not an AS number, `Ok(None)` when blank.
pub(crate) fn asn_from_str(s: &str) -> Result<Option<u32>, ()> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let digits = t.strip_prefix("AS").or_else(|| t.strip_prefix("as")).unwrap_or(t);
    digits.parse().map(Some).map_err(|_| ())
}

/// `asn`: `64500`, `"64500"` or `"AS64500"`.
pub(crate) fn asn_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an AS number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("AS number out of range: {v}")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("AS number out of range: {v}")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(Some(v as u32))
            } else {
                Err(E::custom(format!("invalid AS number {v}")))
            }
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let digits = t.strip_prefix("AS").or_else(|| t.strip_prefix("as")).unwrap_or(t);
            digits
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("invalid AS number {s:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv4_fast_path_agrees_with_the_standard_parser() {
        let cases = [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "1234.1.1.1",
            "1.2.3.4a",
            "::1",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "",
            "a.b.c.d",
            "1.2.3.-4",
            "99.199.249.9",
            "1.2.3.0255",
        ];
        for c in cases {
            assert_eq!(parse_ip(c), c.trim().parse::<IpAddr>().ok(), "{c:?}");
        }
        // Every octet value and a sample of layouts.
        for v in 0..=300u32 {
            for t in [format!("{v}.0.0.1"), format!("10.{v}.0.1"), format!("10.0.0.{v}")] {
                assert_eq!(parse_ip(&t), t.parse::<IpAddr>().ok(), "{t:?}");
            }
        }
    }

    fn event(line: &str) -> Event {
        match parse(line.as_bytes()).unwrap() {
            Parsed::Event(e) => *e,
            Parsed::Ignored(r) => panic!("ignored: {r}"),
        }
    }

    #[test]
    fn full_line_keeps_every_field() {
        let e = event(
            r#"{"ts":"2026-07-01T12:00:00Z","user":"alice@example.com","ip":"81.2.69.142","session":"s-1",
            "jti":"j-1","ua":"curl/8.0","method":"GET","path":"/api/x","status":200,"lat":51.5,"lon":-0.09,
            "city":"London","country":"GB","asn":"AS2856","as_org":"BT","extra":{"ignored":[1,2]}}"#,
        );
        assert_eq!(e.ts_ms, 1_782_907_200_000);
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.session.as_deref(), Some("s-1"));
        assert_eq!(e.status, Some(200));
        let p = e.place.unwrap();
        assert_eq!(p.coords, Some((51.5, -0.09)));
        assert_eq!(p.country.as_deref(), Some("GB"));
        let n = e.network.unwrap();
        assert_eq!(n.asn, Some(2856));
        assert_eq!(n.org.as_deref(), Some("BT"));
    }

    #[test]
    fn numbers_as_ids_and_epoch_times() {
        let e = event(r#"{"ts":1782907200123,"user":42,"ip":"::1","session":7}"#);
        assert_eq!(e.ts_ms, 1_782_907_200_123);
        assert_eq!(e.user, "42");
        assert_eq!(e.session.as_deref(), Some("7"));
        let e = event(r#"{"ts":1782907200,"user":"u","ip":"10.0.0.1"}"#);
        assert_eq!(e.ts_ms, 1_782_907_200_000);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let e = event(r#"{"ts":1782907200123,"user":"a\u00e9\"b","ip":"10.0.0.1","ua":"x\/y"}"#);
        assert_eq!(e.user, "aé\"b");
        assert_eq!(e.ua.as_deref(), Some("x/y"));
    }

    #[test]
    fn extensions_set_action_denial_and_sensitivity() {
        let e = event(
            r#"{"ts":1,"user":"u","ip":"10.0.0.1","event":"logout","denial":"session_revoked","sensitive":true}"#,
        );
        assert_eq!(e.action, Action::Logout);
        assert_eq!(e.denial.as_deref(), Some("session_revoked"));
        assert!(e.sensitive);
        let e = event(r#"{"ts":1,"user":"u","ip":"10.0.0.1","method":"POST","path":"/api/me/password"}"#);
        assert!(e.sensitive);
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        for (line, needle) in [
            (r#"{"user":"u","ip":"10.0.0.1"}"#, "ts"),
            (r#"{"ts":1,"ip":"10.0.0.1"}"#, "user"),
            (r#"{"ts":1,"user":"","ip":"10.0.0.1"}"#, "user"),
            (r#"{"ts":1,"user":"u"}"#, "ip"),
            (r#"{"ts":1,"user":"u","ip":"999.1.1.1"}"#, "ip"),
            (r#"{"ts":"nope","user":"u","ip":"10.0.0.1"}"#, "time"),
            (r#"{"ts":1,"user":"u","ip":"10.0.0.1","lat":1}"#, "lat"),
            (r#"{"ts":1,"user":"u","ip":"10.0.0.1","lat":91,"lon":0}"#, "range"),
            (r#"{"ts":1,"user":"u","ip":"10.0.0.1","asn":"ASX"}"#, "AS"),
            (r#"{"ts":1,"user":"u","ip":"10.0.0.1","#, "EOF"),
            ("[1,2]", "object"),
            ("", "object"),
        ] {
            let err = crate::ingest::parse_record(crate::ingest::Format::Jsonl, line.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{line}: {err}");
        }
    }
}
