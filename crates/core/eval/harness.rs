//! Evaluation harness: labelled scenarios and session-level precision / recall / F1 per kind.
//!
//! Shared by `examples/eval.rs` (prints the table) and `tests/detect_eval.rs` (holds the bar).
//! Scenarios are built in code, deterministically (a fixed-seed generator), so that every number
//! in the README can be reproduced with `cargo run -p gatehouse-core --example eval`.
//!
//! Ground truth is per session: the kinds an ideal detector reports on it (`attack`), the kinds
//! that are true but informational and may appear at most at `max_severity` (`allowed`: a
//! traveller's new country, a VPN user's first toggles before the pair is learned), and the
//! highest severity tolerated on the session. Sessions without a truth row must stay silent. A
//! kind counts as predicted when a finding of severity medium or more contains it. External
//! ground truth (authd's simulator) uses the same shape, one JSON object per line:
//! `{"user","session","attack":[kinds],"allowed":[kinds],"max_severity","class"}`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use gatehouse_core::detect::{Config, Engine, Finding, Kind, Severity};
use gatehouse_core::enrich::{Enricher, Network, Place, PlaceSource};
use gatehouse_core::ingest::{Action, Event};
use serde::Deserialize;

pub const DAY: i64 = 86_400_000;
pub const HOUR: i64 = 3_600_000;
pub const MIN: i64 = 60_000;
/// 2026-06-01T00:00:00Z
pub const T0: i64 = 1_780_272_000_000;

pub const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
pub const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
pub const FIREFOX_WIN: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0";
pub const CURL: &str = "curl/8.5.0";
pub const PYREQ: &str = "python-requests/2.31.0";

/// A place with its network, as a source would give it.
#[derive(Clone, Copy)]
pub struct Loc {
    pub city: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub radius: f32,
    pub asn: u32,
    pub org: &'static str,
}

pub const LONDON: Loc = Loc {
    city: "London",
    country: "GB",
    lat: 51.51,
    lon: -0.13,
    radius: 20.0,
    asn: 2856,
    org: "British Telecommunications PLC",
};
pub const LONDON_ALT_ISP: Loc = Loc {
    city: "London",
    country: "GB",
    lat: 51.49,
    lon: -0.05,
    radius: 20.0,
    asn: 5089,
    org: "Virgin Media Limited",
};
pub const FRANKFURT_VPN: Loc = Loc {
    city: "Frankfurt am Main",
    country: "DE",
    lat: 50.11,
    lon: 8.68,
    radius: 20.0,
    asn: 9009,
    org: "M247 Europe SRL",
};
pub const NEW_YORK: Loc = Loc {
    city: "New York",
    country: "US",
    lat: 40.71,
    lon: -74.0,
    radius: 20.0,
    asn: 7922,
    org: "Comcast Cable Communications",
};
pub const PARIS: Loc = Loc {
    city: "Paris",
    country: "FR",
    lat: 48.86,
    lon: 2.35,
    radius: 20.0,
    asn: 3215,
    org: "Orange S.A.",
};
pub const BERLIN: Loc = Loc {
    city: "Berlin",
    country: "DE",
    lat: 52.52,
    lon: 13.40,
    radius: 20.0,
    asn: 3320,
    org: "Deutsche Telekom AG",
};
pub const LAGOS: Loc = Loc {
    city: "Lagos",
    country: "NG",
    lat: 6.52,
    lon: 3.38,
    radius: 50.0,
    asn: 37148,
    org: "Globacom Limited",
};
pub const SINGAPORE_AWS: Loc = Loc {
    city: "Singapore",
    country: "SG",
    lat: 1.35,
    lon: 103.82,
    radius: 50.0,
    asn: 16509,
    org: "Amazon.com, Inc.",
};
pub const SAO_PAULO: Loc = Loc {
    city: "São Paulo",
    country: "BR",
    lat: -23.55,
    lon: -46.63,
    radius: 50.0,
    asn: 28573,
    org: "Claro S.A.",
};
/// A mobile carrier whose addresses geolocate anywhere between London and Manchester.
pub const UK_MOBILE: Loc = Loc {
    city: "London",
    country: "GB",
    lat: 51.51,
    lon: -0.13,
    radius: 100.0,
    asn: 25135,
    org: "Vodafone Limited",
};

/// Deterministic generator (xorshift64*).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo).max(1) as u64)) as i64
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub user: String,
    pub session: Option<String>,
    #[serde(default)]
    pub attack: BTreeSet<Kind>,
    #[serde(default)]
    pub allowed: BTreeSet<Kind>,
    #[serde(default = "max_sev")]
    pub max_severity: Severity,
    #[serde(default)]
    pub class: String,
}

fn max_sev() -> Severity {
    Severity::Critical
}

pub struct Scenario {
    pub events: Vec<Event>,
    pub truth: Vec<Truth>,
}

impl Scenario {
    fn new() -> Self {
        Scenario {
            events: Vec::new(),
            truth: Vec::new(),
        }
    }

    fn label(
        &mut self,
        user: &str,
        session: &str,
        class: &str,
        attack: &[Kind],
        allowed: &[Kind],
        max: Severity,
    ) {
        self.truth.push(Truth {
            user: user.into(),
            session: Some(session.into()),
            attack: attack.iter().copied().collect(),
            allowed: allowed.iter().copied().collect(),
            max_severity: max,
            class: class.into(),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn ev(
        &mut self,
        user: &str,
        session: &str,
        ts: i64,
        loc: &Loc,
        ua: &str,
        ip: [u8; 4],
        jitter: (f64, f64),
    ) -> &mut Event {
        let class_mobile = loc.asn == UK_MOBILE.asn;
        let place = Place {
            coords: Some((loc.lat + jitter.0, loc.lon + jitter.1)),
            accuracy_km: Some(loc.radius),
            city: Some(loc.city.into()),
            country: Some(loc.country.into()),
            source: PlaceSource::Input,
        };
        let _ = class_mobile;
        self.events.push(Event {
            ts_ms: ts,
            user: user.into(),
            session: Some(session.into()),
            jti: None,
            ip: Some(std::net::IpAddr::from(ip)),
            ua: Some(ua.into()),
            method: Some("GET".into()),
            path: Some("/api/data".into()),
            status: Some(200),
            action: Action::Request,
            denial: None,
            sensitive: false,
            place: Some(Arc::new(place)),
            network: Some(Arc::new(Network::new(Some(loc.asn), Some(loc.org.into()), false))),
            device: None,
        });
        let n = self.events.len() - 1;
        &mut self.events[n]
    }

    /// `days` days of ordinary use from `loc`: one session a day, `per_hour` requests in each
    /// of `hours` working hours. Returns the session ids.
    #[allow(clippy::too_many_arguments)]
    fn history(
        &mut self,
        rng: &mut Rng,
        user: &str,
        loc: &Loc,
        ua: &str,
        from_day: i64,
        days: i64,
        hours: &[i64],
        per_hour: (i64, i64),
    ) {
        for d in from_day..from_day + days {
            let sid = format!("{user}-{}-h{d}", loc.asn);
            let mut first = true;
            for &h in hours {
                let n = rng.range(per_hour.0, per_hour.1);
                for i in 0..n {
                    let ts = T0 + d * DAY + h * HOUR + i * (HOUR / n.max(1)) + rng.range(0, 20_000);
                    let e = self.ev(user, &sid, ts, loc, ua, ip_of(loc, 1), (0.0, 0.0));
                    if first {
                        e.action = Action::Login;
                        first = false;
                    }
                }
            }
        }
    }
}

fn ip_of(loc: &Loc, host: u8) -> [u8; 4] {
    let a = (loc.asn % 200 + 20) as u8;
    let b = (loc.asn / 200 % 250) as u8;
    [a, b, 7, host]
}

const HIST_DAYS: i64 = 15;
const WORK: &[i64] = &[9, 10, 14];

/// Every scenario, `per` users each.
pub fn scenarios(per: usize) -> Scenario {
    let mut s = Scenario::new();
    let mut rng = Rng::new(0x5eed);
    let hi = Severity::Critical;
    for i in 0..per {
        // 1. Far replay after the victim stopped, by a script.
        let u = format!("replay-far-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 9 * HOUR;
        for k in 0..20 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        let far = if i % 2 == 0 { &LAGOS } else { &SAO_PAULO };
        for k in 0..30 {
            s.ev(
                &u,
                &sid,
                t + 60 * MIN + k * MIN,
                far,
                PYREQ,
                ip_of(far, 9),
                (0.0, 0.0),
            );
        }
        s.label(
            &u,
            &sid,
            "attack",
            &[Kind::ImpossibleTravel, Kind::DeviceChange, Kind::NewCountry],
            &[Kind::NewAsn],
            hi,
        );

        // 2. Concurrent replay with a copied User-Agent from a cloud server.
        let u = format!("replay-concurrent-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 10 * HOUR;
        for k in 0..40 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
            if k >= 10 && k % 3 == 0 {
                s.ev(
                    &u,
                    &sid,
                    t + k * MIN + 20_000,
                    &SINGAPORE_AWS,
                    CHROME_MAC,
                    ip_of(&SINGAPORE_AWS, 9),
                    (0.0, 0.0),
                );
            }
        }
        s.label(
            &u,
            &sid,
            "attack",
            &[Kind::ConcurrentUse, Kind::ImpossibleTravel, Kind::NewCountry],
            &[Kind::NewAsn],
            hi,
        );

        // 3. Same-city replay by curl after the victim stopped.
        let u = format!("replay-local-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 11 * HOUR;
        for k in 0..10 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        for k in 0..15 {
            s.ev(
                &u,
                &sid,
                t + 30 * MIN + k * MIN,
                &LONDON_ALT_ISP,
                CURL,
                ip_of(&LONDON_ALT_ISP, 9),
                (0.0, 0.0),
            );
        }
        s.label(&u, &sid, "attack", &[Kind::DeviceChange], &[Kind::NewAsn], hi);

        // 4. Scraping from the victim's own machine (same IP and User-Agent).
        let u = format!("rate-abuse-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (30, 60));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 15 * HOUR;
        for k in 0..1500 {
            s.ev(
                &u,
                &sid,
                t + k * 2_000,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        s.label(&u, &sid, "attack", &[Kind::RateSpike], &[], hi);

        // 5. A revoked session still tried from another network by a script.
        let u = format!("revoked-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 9 * HOUR;
        for k in 0..10 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        for k in 0..6 {
            let e = s.ev(
                &u,
                &sid,
                t + 2 * HOUR + k * MIN,
                &LONDON_ALT_ISP,
                PYREQ,
                ip_of(&LONDON_ALT_ISP, 9),
                (0.0, 0.0),
            );
            e.status = Some(401);
            e.denial = Some("session_revoked".into());
        }
        s.label(
            &u,
            &sid,
            "attack",
            &[Kind::RevokedTokenUse, Kind::DeviceChange],
            &[Kind::NewAsn],
            hi,
        );

        // 6. Activity after logout, from abroad, with the same User-Agent.
        let u = format!("after-logout-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 9 * HOUR;
        for k in 0..10 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        let e = s.ev(
            &u,
            &sid,
            t + 11 * MIN,
            &LONDON,
            CHROME_MAC,
            ip_of(&LONDON, 1),
            (0.0, 0.0),
        );
        e.action = Action::Logout;
        e.method = Some("POST".into());
        e.path = Some("/api/auth/logout".into());
        for k in 0..5 {
            s.ev(
                &u,
                &sid,
                t + 40 * MIN + k * MIN,
                &SAO_PAULO,
                CHROME_MAC,
                ip_of(&SAO_PAULO, 9),
                (0.0, 0.0),
            );
        }
        s.label(
            &u,
            &sid,
            "attack",
            &[Kind::RevokedTokenUse, Kind::ImpossibleTravel, Kind::NewCountry],
            &[Kind::NewAsn],
            hi,
        );

        // 7. Account takeover: MFA changed from a cloud server abroad.
        let u = format!("takeover-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-attack");
        let t = T0 + HIST_DAYS * DAY + 9 * HOUR;
        for k in 0..5 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        s.ev(
            &u,
            &sid,
            t + 3 * HOUR,
            &SINGAPORE_AWS,
            CHROME_MAC,
            ip_of(&SINGAPORE_AWS, 9),
            (0.0, 0.0),
        );
        let e = s.ev(
            &u,
            &sid,
            t + 3 * HOUR + MIN,
            &SINGAPORE_AWS,
            CHROME_MAC,
            ip_of(&SINGAPORE_AWS, 9),
            (0.0, 0.0),
        );
        e.method = Some("POST".into());
        e.path = Some("/api/me/mfa".into());
        e.sensitive = true;
        s.label(
            &u,
            &sid,
            "attack",
            &[
                Kind::SensitiveNewLocation,
                Kind::ImpossibleTravel,
                Kind::NewCountry,
            ],
            &[Kind::NewAsn],
            hi,
        );

        // 8. Traveller: London to New York by air (about 5,570 km in 9.5 h), same laptop session
        //    and a new session on arrival.
        let u = format!("traveller-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        let sid = format!("{u}-trip");
        let t = T0 + HIST_DAYS * DAY + 7 * HOUR;
        for k in 0..10 {
            s.ev(
                &u,
                &sid,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
        }
        for k in 0..20 {
            s.ev(
                &u,
                &sid,
                t + 10 * HOUR + k * MIN,
                &NEW_YORK,
                CHROME_MAC,
                ip_of(&NEW_YORK, 3),
                (0.0, 0.0),
            );
        }
        let sid2 = format!("{u}-hotel");
        for k in 0..20 {
            s.ev(
                &u,
                &sid2,
                t + 11 * HOUR + k * MIN,
                &NEW_YORK,
                SAFARI_IOS,
                ip_of(&NEW_YORK, 4),
                (0.0, 0.0),
            );
        }
        let info = [Kind::NewCountry, Kind::NewAsn];
        s.label(&u, &sid, "traveller", &[], &info, Severity::Medium);
        s.label(&u, &sid2, "traveller", &[], &info, Severity::Medium);

        // 9. VPN toggling: home, then Frankfurt through a commercial VPN, back and forth every
        //    day for ten days after a home-only history. The first days are allowed to show the
        //    (apparent) impossible travel at medium; once the pair is learned, silence.
        let u = format!("vpn-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        for d in 0..10 {
            let sid = format!("{u}-vpn{d}");
            let day = T0 + (HIST_DAYS + d) * DAY;
            // On and off several times a day, minutes apart: London-Frankfurt (about 640 km)
            // in minutes is apparent impossible travel.
            for (m, loc) in [
                (0, &LONDON),
                (25, &FRANKFURT_VPN),
                (70, &LONDON),
                (150, &FRANKFURT_VPN),
                (190, &LONDON),
            ] {
                for k in 0..15 {
                    s.ev(
                        &u,
                        &sid,
                        day + 9 * HOUR + (m + k) * MIN,
                        loc,
                        CHROME_MAC,
                        ip_of(loc, 1),
                        (0.0, 0.0),
                    );
                }
            }
            let allowed: &[Kind] = if d < 3 {
                &[Kind::ImpossibleTravel, Kind::NewCountry, Kind::NewAsn]
            } else {
                &[]
            };
            s.label(&u, &sid, "vpn", &[], allowed, Severity::Medium);
        }

        // 10. Mobile carrier: a phone whose addresses geolocate all over the London area (and
        //     sometimes Manchester), alternating with home Wi-Fi, every few minutes.
        let u = format!("mobile-{i}");
        s.history(&mut rng, &u, &LONDON, SAFARI_IOS, 0, HIST_DAYS, WORK, (20, 50));
        s.history(
            &mut rng,
            &u,
            &UK_MOBILE,
            SAFARI_IOS,
            0,
            HIST_DAYS,
            &[18],
            (10, 20),
        );
        let sid = format!("{u}-commute");
        let t = T0 + HIST_DAYS * DAY + 8 * HOUR;
        for k in 0..60 {
            let (loc, jit) = if k % 2 == 0 {
                (
                    &UK_MOBILE,
                    if k % 6 == 0 {
                        (1.97, -2.1)
                    } else {
                        (rng.unit() * 0.4 - 0.2, rng.unit() * 0.4 - 0.2)
                    },
                )
            } else {
                (&LONDON, (0.0, 0.0))
            };
            s.ev(
                &u,
                &sid,
                t + k * 2 * MIN,
                loc,
                SAFARI_IOS,
                ip_of(loc, 10 + (k % 7) as u8),
                jit,
            );
        }
        s.label(&u, &sid, "mobile", &[], &[], Severity::Low);

        // 11. Two devices at once: laptop on home broadband, phone on the mobile network.
        let u = format!("two-devices-{i}");
        s.history(&mut rng, &u, &LONDON, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        s.history(&mut rng, &u, &UK_MOBILE, SAFARI_IOS, 0, HIST_DAYS, &[12], (5, 15));
        let (a, b) = (format!("{u}-laptop"), format!("{u}-phone"));
        let t = T0 + HIST_DAYS * DAY + 9 * HOUR;
        for k in 0..60 {
            s.ev(
                &u,
                &a,
                t + k * MIN,
                &LONDON,
                CHROME_MAC,
                ip_of(&LONDON, 1),
                (0.0, 0.0),
            );
            s.ev(
                &u,
                &b,
                t + k * MIN + 30_000,
                &UK_MOBILE,
                SAFARI_IOS,
                ip_of(&UK_MOBILE, 2),
                (0.05, 0.05),
            );
        }
        s.label(&u, &a, "two-devices", &[], &[], Severity::Low);
        s.label(&u, &b, "two-devices", &[], &[], Severity::Low);

        // 12. Power user: a steady 600-900 requests per hour, every working hour.
        let u = format!("power-{i}");
        s.history(
            &mut rng,
            &u,
            &LONDON,
            FIREFOX_WIN,
            0,
            HIST_DAYS,
            &[9, 10, 11, 13, 14, 15, 16],
            (600, 900),
        );
        let sid = format!("{u}-today");
        let t = T0 + HIST_DAYS * DAY;
        for h in [9, 10, 11, 13, 14, 15, 16] {
            let n = rng.range(600, 900);
            for k in 0..n {
                s.ev(
                    &u,
                    &sid,
                    t + h * HOUR + k * (HOUR / n),
                    &LONDON,
                    FIREFOX_WIN,
                    ip_of(&LONDON, 1),
                    (0.0, 0.0),
                );
            }
        }
        s.label(&u, &sid, "power-user", &[], &[], Severity::Low);

        // 13. Moved country: Paris for the history, then Berlin for good (the move takes a day).
        let u = format!("moved-{i}");
        s.history(&mut rng, &u, &PARIS, CHROME_MAC, 0, HIST_DAYS, WORK, (20, 50));
        for d in 0..8 {
            let sid = format!("{u}-berlin{d}");
            let day = T0 + (HIST_DAYS + 1 + d) * DAY;
            for k in 0..30 {
                s.ev(
                    &u,
                    &sid,
                    day + 9 * HOUR + k * 2 * MIN,
                    &BERLIN,
                    CHROME_MAC,
                    ip_of(&BERLIN, 1),
                    (0.0, 0.0),
                );
            }
            let allowed: &[Kind] = if d == 0 {
                &[Kind::NewCountry, Kind::NewAsn]
            } else {
                &[]
            };
            s.label(&u, &sid, "moved", &[], allowed, Severity::Medium);
        }
        // History sessions are normal use: they must stay silent.
    }
    s.events.sort_by_key(|e| e.ts_ms);
    let mut enricher = Enricher::without_geoip();
    for e in &mut s.events {
        enricher.enrich(e);
    }
    s
}

/// Precision, recall and F1 for one kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Score {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Score {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fp)
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fn_)
        }
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

pub struct Evaluation {
    pub per_kind: BTreeMap<Kind, Score>,
    /// Attack sessions detected at medium or more / all attack sessions.
    pub incidents: Score,
    /// (class, session, severity) of findings above the session's tolerated severity.
    pub over_severity: Vec<(String, String, Severity)>,
    /// Highest severity per benign class.
    pub class_max: BTreeMap<String, Severity>,
    /// Severity of each detected attack session.
    pub attack_severity: BTreeMap<Severity, u32>,
    pub false_positive_sessions: Vec<(String, Vec<Kind>)>,
}

pub fn run_engine(events: &[Event], cfg: Config) -> Vec<Finding> {
    let mut engine = Engine::new(cfg);
    for e in events {
        engine.observe(e);
    }
    engine.into_findings()
}

/// Scores findings against truth at session level; a kind is predicted when a finding of at
/// least `min_severity` contains it.
pub fn evaluate(findings: &[Finding], truth: &[Truth], min_severity: Severity) -> Evaluation {
    let key = |u: &str, s: Option<&str>| format!("{u}\u{0}{}", s.unwrap_or(""));
    let truth_by: HashMap<String, &Truth> = truth
        .iter()
        .map(|t| (key(&t.user, t.session.as_deref()), t))
        .collect();
    let found_by: HashMap<String, &Finding> = findings
        .iter()
        .map(|f| (key(&f.user, f.session.as_deref()), f))
        .collect();
    let mut per_kind: BTreeMap<Kind, Score> = Kind::ALL.iter().map(|k| (*k, Score::default())).collect();
    let mut incidents = Score::default();
    let mut over = Vec::new();
    let mut class_max: BTreeMap<String, Severity> = BTreeMap::new();
    let mut attack_severity = BTreeMap::new();
    let mut fps = Vec::new();
    for f in findings {
        let k = key(&f.user, f.session.as_deref());
        let t = truth_by.get(&k);
        if let Some(t) = t {
            if f.severity > t.max_severity {
                over.push((t.class.clone(), k.replace('\u{0}', "/"), f.severity));
            }
            if t.attack.is_empty() {
                let e = class_max.entry(t.class.clone()).or_insert(Severity::Low);
                *e = (*e).max(f.severity);
            }
        }
        if f.severity < min_severity {
            continue;
        }
        let mut wrong = Vec::new();
        for kind in f.kinds() {
            let s = per_kind.entry(kind).or_default();
            match t {
                Some(t) if t.attack.contains(&kind) => s.tp += 1,
                Some(t) if t.allowed.contains(&kind) => {}
                _ => {
                    s.fp += 1;
                    wrong.push(kind);
                }
            }
        }
        if !wrong.is_empty() {
            fps.push((k.replace('\u{0}', "/"), wrong));
        }
        match t {
            Some(t) if !t.attack.is_empty() => {}
            Some(t) if f.kinds().iter().all(|k| t.allowed.contains(k)) => {}
            _ => incidents.fp += 1,
        }
    }
    for t in truth {
        let k = key(&t.user, t.session.as_deref());
        let f = found_by.get(&k).filter(|f| f.severity >= min_severity);
        for kind in &t.attack {
            if !f.is_some_and(|f| f.occurrences.contains_key(kind)) {
                per_kind.entry(*kind).or_default().fn_ += 1;
            }
        }
        if !t.attack.is_empty() {
            match f {
                Some(f) => {
                    incidents.tp += 1;
                    *attack_severity.entry(f.severity).or_insert(0) += 1;
                }
                None => incidents.fn_ += 1,
            }
        }
    }
    Evaluation {
        per_kind,
        incidents,
        over_severity: over,
        class_max,
        attack_severity,
        false_positive_sessions: fps,
    }
}

/// Reads ground truth in the JSONL shape described in the module docs.
pub fn read_truth(text: &str) -> Result<Vec<Truth>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("truth line {}: {e}", i + 1)))
        .collect()
}

pub fn table(ev: &Evaluation) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<24} {:>4} {:>4} {:>4} {:>9} {:>7} {:>6}\n",
        "kind", "TP", "FP", "FN", "precision", "recall", "F1"
    ));
    for (k, sc) in &ev.per_kind {
        s.push_str(&format!(
            "{:<24} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}\n",
            k.as_str(),
            sc.tp,
            sc.fp,
            sc.fn_,
            sc.precision(),
            sc.recall(),
            sc.f1()
        ));
    }
    let i = ev.incidents;
    s.push_str(&format!(
        "{:<24} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}\n",
        "(any, per session)",
        i.tp,
        i.fp,
        i.fn_,
        i.precision(),
        i.recall(),
        i.f1()
    ));
    s
}
