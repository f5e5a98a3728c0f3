#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The engine on hand-built timelines: what fires, what does not, and the shape of findings
//! (one per session, stable ids, `detected_at` at the triggering event, arithmetic in the text).

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::detect::feedback::{self, ScopeKind};
use gatehouse_core::detect::{
    Config, Engine, Feedback, Kind, Severity, Suppression, SuppressionScope, Verdict,
};
use gatehouse_core::enrich::{EnrichConfig, Enricher, Network, Place, PlaceSource};
use gatehouse_core::ingest::{Action, Event};

const T0: i64 = 1_780_272_000_000;
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
const CHROME: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip")).join(name)
}

fn geo_enricher() -> Enricher {
    Enricher::open(&EnrichConfig {
        city_db: Some(data("GeoIP2-City-Test.mmdb")),
        asn_db: Some(data("GeoLite2-ASN-Test.mmdb")),
    })
    .unwrap()
}

fn req(user: &str, session: &str, ts: i64, ip: &str, ua: &str) -> Event {
    Event {
        ts_ms: ts,
        user: user.into(),
        session: Some(session.into()),
        ip: Some(ip.parse().unwrap()),
        ua: Some(ua.into()),
        method: Some("GET".into()),
        path: Some("/api/x".into()),
        status: Some(200),
        ..Event::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn at(user: &str, session: &str, ts: i64, city: &str, country: &str, lat: f64, lon: f64, asn: u32) -> Event {
    let mut e = req(user, session, ts, "198.51.100.1", CHROME);
    e.place = Some(Arc::new(Place {
        coords: Some((lat, lon)),
        accuracy_km: Some(20.0),
        city: Some(city.into()),
        country: Some(country.into()),
        source: PlaceSource::Input,
    }));
    e.network = Some(Arc::new(Network::new(Some(asn), None, false)));
    e
}

/// The oracle pairs, 30 minutes apart: impossible travel fires exactly when the distance minus
/// both accuracy radii is at least 500 km (the speed is then far above 800 km/h), and the
/// explanation shows the oracle's distance.
#[test]
fn impossible_travel_follows_the_oracle_pairs() {
    let text = std::fs::read_to_string(data("impossible-travel-pairs.csv")).unwrap();
    let radius = |ip: &str| -> f64 {
        let ips = std::fs::read_to_string(data("test-ips.csv")).unwrap();
        ips.lines()
            .find(|l| l.starts_with(&format!("{ip},")))
            .unwrap()
            .split(',')
            .nth(6)
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut fired = 0;
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (a, b, km): (&str, &str, f64) = (c[0], c[1], c[2].parse().unwrap());
        let mut en = geo_enricher();
        let mut engine = Engine::new(Config::default());
        for (i, ip) in [a, b].iter().enumerate() {
            let mut e = req("alice", "s1", T0 + i as i64 * 30 * MIN, ip, CHROME);
            en.enrich(&mut e);
            engine.observe(&e);
        }
        let effective = km - radius(a) - radius(b);
        let findings = engine.findings();
        let travel = findings
            .iter()
            .find(|f| f.occurrences.contains_key(&Kind::ImpossibleTravel));
        if effective >= 500.0 {
            let f = travel.unwrap_or_else(|| panic!("{a} -> {b} ({km} km) should fire"));
            fired += 1;
            let ev = f
                .evidence
                .iter()
                .find(|e| e.kind == Kind::ImpossibleTravel)
                .unwrap();
            assert!(
                ev.explanation.contains(&format!("{km:.0} km")),
                "{}",
                ev.explanation
            );
            assert_eq!(ev.facts["distance_km"], km.round());
            assert_eq!(ev.facts["effective_km"], effective.round());
            assert_eq!(ev.facts["speed_kmh"], (effective * 2.0).round());
            assert_eq!(f.detected_at, T0 + 30 * MIN, "fires at the second event");
            assert!(
                f.severity <= Severity::Medium,
                "travel alone, same device: at most medium"
            );
        } else {
            assert!(
                travel.is_none(),
                "{a} -> {b}: {km} km minus radii is below 500 km"
            );
        }
    }
    assert!(fired >= 5);
}

#[test]
fn plausible_flight_is_not_impossible_travel() {
    let mut engine = Engine::new(Config::default());
    engine.observe(&at("bob", "s", T0, "London", "GB", 51.51, -0.13, 2856));
    // New York 9.5 hours later: about 5,570 km at ~590 km/h.
    let f = engine.observe(&at(
        "bob",
        "s",
        T0 + 570 * MIN,
        "New York",
        "US",
        40.71,
        -74.0,
        7922,
    ));
    assert!(f.is_none());
    // The same flight in 2 hours is impossible.
    let f = engine.observe(&at("carol", "s", T0, "London", "GB", 51.51, -0.13, 2856));
    assert!(f.is_none());
    let f = engine
        .observe(&at(
            "carol",
            "s",
            T0 + 120 * MIN,
            "New York",
            "US",
            40.71,
            -74.0,
            7922,
        ))
        .unwrap();
    assert_eq!(f.kind, Kind::ImpossibleTravel);
    assert!(f.explanation.contains("km/h"), "{}", f.explanation);
}

/// A VPN toggled every day between home and Frankfurt: flagged at medium on the first days,
/// learned after `baseline.pair_learn_days` days.
#[test]
fn daily_vpn_toggling_is_learned() {
    let mut engine = Engine::new(Config::default());
    let mut per_day = Vec::new();
    for d in 0..8 {
        let sid = format!("day{d}");
        let mut worst: Option<Severity> = None;
        // On for twenty minutes, off again: London-Frankfurt (about 640 km) in minutes.
        for (m, (city, cc, lat, lon, asn)) in [
            (0, ("London", "GB", 51.51, -0.13, 2856)),
            (20, ("Frankfurt", "DE", 50.11, 8.68, 9009)),
            (40, ("London", "GB", 51.51, -0.13, 2856)),
        ] {
            for k in 0..3 {
                if let Some(f) = engine.observe(&at(
                    "dave",
                    &sid,
                    T0 + d * DAY + 9 * 3_600_000 + (m + k) * MIN,
                    city,
                    cc,
                    lat,
                    lon,
                    asn,
                )) {
                    worst = worst.max(Some(f.severity));
                }
            }
        }
        per_day.push(worst);
    }
    assert!(
        per_day[0].is_some(),
        "the first toggle is apparent impossible travel"
    );
    assert!(
        per_day.iter().flatten().all(|s| *s <= Severity::Medium),
        "{per_day:?}"
    );
    assert!(
        per_day[4..].iter().all(Option::is_none),
        "learned by day five: {per_day:?}"
    );
}

#[test]
fn concurrent_replay_is_one_incident_with_a_stable_id() {
    let run = || {
        let mut en = geo_enricher();
        let mut engine = Engine::new(Config::default());
        let mut updates = 0;
        for k in 0..12 {
            let (ip, ua) = if k % 2 == 0 {
                ("81.2.69.142", CHROME)
            } else {
                ("175.16.199.0", "curl/8.5.0")
            };
            let mut e = req("erin", "sess-9", T0 + k * MIN, ip, ua);
            en.enrich(&mut e);
            if engine.observe(&e).is_some() {
                updates += 1;
            }
        }
        (engine.findings(), updates)
    };
    let (a, updates) = run();
    let (b, _) = run();
    assert_eq!(a.len(), 1, "one session, one incident");
    assert!(updates >= 2, "live updates as evidence accumulates");
    let f = &a[0];
    assert_eq!(f.id, b[0].id);
    assert_eq!(f.session.as_deref(), Some("sess-9"));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.first_seen, T0);
    assert_eq!(f.last_seen, T0 + 11 * MIN);
    assert_eq!(
        f.detected_at,
        T0 + MIN,
        "the first signal fired at the second request"
    );
    assert!(f.evidence.iter().all(|e| e.at >= f.detected_at));
    let kinds = f.kinds();
    assert!(
        kinds.contains(&Kind::ConcurrentUse)
            && kinds.contains(&Kind::DeviceChange)
            && kinds.contains(&Kind::ImpossibleTravel)
    );
    let conc = f.evidence.iter().find(|e| e.kind == Kind::ConcurrentUse).unwrap();
    assert_eq!(conc.at, T0 + 3 * MIN, "A, B, A, B: the third switch");
}

#[test]
fn revoked_and_after_logout() {
    let mut engine = Engine::new(Config::default());
    let mut e = req("frank", "s1", T0, "81.2.69.142", CHROME);
    e.action = Action::Login;
    engine.observe(&e);
    let mut out = req("frank", "s1", T0 + MIN, "81.2.69.142", CHROME);
    out.action = Action::Logout;
    assert!(engine.observe(&out).is_none());
    // A straggler within the grace period is fine.
    assert!(
        engine
            .observe(&req("frank", "s1", T0 + MIN + 10_000, "81.2.69.142", CHROME))
            .is_none()
    );
    let f = engine
        .observe(&req("frank", "s1", T0 + 20 * MIN, "81.2.69.142", CHROME))
        .unwrap();
    assert_eq!(f.kind, Kind::RevokedTokenUse);
    assert!(f.explanation.contains("after logout"), "{}", f.explanation);
    assert_eq!(f.severity, Severity::Medium, "same client after logout");

    let mut en = Enricher::without_geoip();
    let mut denied = req("grace", "s2", T0, "81.2.69.142", CHROME);
    en.enrich(&mut denied);
    engine.observe(&denied);
    denied.ts_ms += MIN;
    denied.ip = Some("175.16.199.0".parse().unwrap());
    denied.ua = Some("python-requests/2.31.0".into());
    denied.status = Some(401);
    denied.denial = Some("session_revoked".into());
    denied.device = None;
    en.enrich(&mut denied);
    let f = engine.observe(&denied).unwrap();
    assert!(f.severity.is_actionable(), "{f:?}");
    assert!(f.explanation.contains("session_revoked"));
}

#[test]
fn rate_spike_keeps_ip_and_ua() {
    let mut engine = Engine::new(Config::default());
    for d in 0..10 {
        for k in 0..40 {
            engine.observe(&req(
                "hank",
                &format!("d{d}"),
                T0 + d * DAY + 10 * 3_600_000 + k * MIN,
                "81.2.69.142",
                CHROME,
            ));
        }
    }
    assert!(engine.findings().is_empty());
    let mut last = None;
    for k in 0..1200 {
        if let Some(f) = engine.observe(&req(
            "hank",
            "d10",
            T0 + 10 * DAY + 10 * 3_600_000 + k * 2000,
            "81.2.69.142",
            CHROME,
        )) {
            last = Some(f);
        }
    }
    let f = last.unwrap();
    assert_eq!(f.kind, Kind::RateSpike);
    let first = f
        .evidence
        .iter()
        .map(|e| e.facts["requests"])
        .fold(f64::MAX, f64::min);
    assert_eq!(first, 240.0, "max(240, 40 + 8×1, 3×40) = 240: {}", f.explanation);
    assert!(
        f.explanation
            .contains("Threshold max(240, 40 + 8×1.0, 3×40) = 240"),
        "{}",
        f.explanation
    );
}

#[test]
fn suppressions_apply_live_and_on_rescore() {
    let build = |supp: Vec<Suppression>| {
        let mut engine = Engine::with_suppressions(Config::default(), supp);
        engine.observe(&at("ivy", "s", T0, "London", "GB", 51.51, -0.13, 2856));
        engine.observe(&at(
            "ivy",
            "s",
            T0 + 30 * MIN,
            "Frankfurt",
            "DE",
            50.11,
            8.68,
            9009,
        ));
        engine
    };
    let findings = build(Vec::new()).findings();
    assert_eq!(findings.len(), 1);
    let fb = Feedback {
        finding_id: findings[0].id.clone(),
        verdict: Verdict::FalsePositive,
        note: Some("VPN".into()),
    };
    let s = feedback::suppression_from(&findings[0], &fb, ScopeKind::Place).unwrap();
    assert_eq!(
        s.scope,
        SuppressionScope::Place {
            country: "DE".into(),
            city: Some("Frankfurt".into())
        }
    );
    assert!(feedback::rescore(&findings, std::slice::from_ref(&s), &Config::default()).is_empty());
    let engine = build(vec![s.clone()]);
    assert!(engine.findings().is_empty());
    assert_eq!(engine.stats().suppressed, 1);
    // Another user is not affected, and a true positive cannot become a suppression.
    let other = Suppression {
        user: "someone-else".into(),
        ..s
    };
    assert_eq!(
        feedback::rescore(&findings, &[other], &Config::default()).len(),
        1
    );
    let tp = Feedback {
        verdict: Verdict::TruePositive,
        ..fb
    };
    assert!(feedback::suppression_from(&findings[0], &tp, ScopeKind::Place).is_err());
}

#[test]
fn new_country_after_learning_is_at_most_medium_for_a_traveller() {
    let mut engine = Engine::new(Config::default());
    for d in 0..12 {
        engine.observe(&at(
            "jo",
            &format!("s{d}"),
            T0 + d * DAY,
            "Paris",
            "FR",
            48.86,
            2.35,
            3215,
        ));
    }
    // A train to Brussels (no impossible travel), a new country.
    let f = engine
        .observe(&at(
            "jo",
            "s12",
            T0 + 12 * DAY,
            "Brussels",
            "BE",
            50.85,
            4.35,
            5432,
        ))
        .unwrap();
    assert_eq!(f.kind, Kind::NewCountry);
    assert!(f.severity <= Severity::Medium);
    assert!(f.explanation.contains("FR (12 d)"), "{}", f.explanation);
    // Only once.
    assert!(
        engine
            .observe(&at(
                "jo",
                "s12",
                T0 + 12 * DAY + MIN,
                "Brussels",
                "BE",
                50.85,
                4.35,
                5432
            ))
            .is_none()
    );
}
