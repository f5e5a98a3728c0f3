//! The detectors. Each is a small function from the event (and the state it needs) to at most a
//! few signals, and each writes its own explanation from the numbers it compared, so that the
//! analyst can redo the arithmetic: distances with the radii subtracted, speeds, the baseline
//! statistics and the threshold they produced.

use std::collections::VecDeque;

use super::baseline::{Baseline, Threshold};
use super::engine::{Obs, SessionState};
use super::geo::{haversine_km, radius_km};
use super::{Config, Kind};
use crate::enrich::{DeviceClass, NetClass};
use crate::ingest::time::{format_duration, format_hm, format_ms};
use crate::ingest::{Action, EventRef, denial_means_revoked};

/// What a detector raised, before it becomes [`super::Evidence`].
pub(crate) struct Signal {
    pub kind: Kind,
    pub score: f64,
    pub explanation: String,
    pub previous: Option<Obs>,
    pub facts: Vec<(&'static str, f64)>,
    /// Reported once per session under this key (a country, an AS number).
    pub report_key: Option<String>,
}

fn class_of(o: &Obs) -> Option<NetClass> {
    o.network.as_ref().map(|n| n.class)
}

fn is_rented(o: &Obs) -> bool {
    class_of(o).is_some_and(NetClass::is_rented)
}

fn place_label(o: &Obs) -> String {
    o.place
        .as_ref()
        .map(|p| p.label())
        .unwrap_or_else(|| "unknown place".into())
}

fn ip_label(o: &Obs) -> String {
    o.ip.map(|i| i.to_string()).unwrap_or_else(|| "no IP".into())
}

/// Distance after radii, with the pieces: (great-circle, r1, r2, effective).
fn effective_km(cfg: &Config, a: &Obs, b: &Obs) -> Option<(f64, f64, f64, f64)> {
    let (pa, pb) = (a.place.as_ref()?, b.place.as_ref()?);
    let d = haversine_km(a.coords?, b.coords?);
    let ra = radius_km(
        pa,
        class_of(a),
        cfg.travel_default_radius_km,
        cfg.travel_mobile_extra_km,
    );
    let rb = radius_km(
        pb,
        class_of(b),
        cfg.travel_default_radius_km,
        cfg.travel_mobile_extra_km,
    );
    Some((d, ra, rb, (d - ra - rb).max(0.0)))
}

fn network_key(o: &Obs) -> Option<u64> {
    if let Some(asn) = o.network.as_ref().and_then(|n| n.asn) {
        return Some(u64::from(asn));
    }
    match o.ip? {
        std::net::IpAddr::V4(v4) => Some((1 << 40) | u64::from(u32::from(v4) >> 8)),
        std::net::IpAddr::V6(v6) => Some((2 << 60) ^ (u128::from(v6) >> 80) as u64),
    }
}

/// Impossible travel between two located events.
pub(crate) fn travel(
    cfg: &Config,
    prev: &Obs,
    now: &Obs,
    cross_session: bool,
    base: &Baseline,
    day: i32,
) -> Option<Signal> {
    if prev.cell == now.cell {
        return None;
    }
    let (d, ra, rb, eff) = effective_km(cfg, prev, now)?;
    if eff < cfg.travel_min_km {
        return None;
    }
    let dt_ms = (now.at - prev.at).abs().max(1000);
    let hours = dt_ms as f64 / 3_600_000.0;
    let speed = eff / hours;
    if speed < cfg.travel_kmh {
        return None;
    }
    let pair = base.pair(prev.cell?, now.cell?);
    if pair.is_some_and(|p| u32::from(p.days) >= cfg.pair_learn_days) {
        return None;
    }
    let tier2 = speed >= cfg.travel_tier2_kmh;
    let mut score = if tier2 {
        cfg.travel_tier2_score
    } else {
        cfg.travel_score
    };
    let mut notes = String::new();
    if tier2 {
        notes.push_str(&format!(" (second tier, ≥ {:.0} km/h)", cfg.travel_tier2_kmh));
    }
    if cross_session {
        score *= cfg.travel_cross_session_factor;
        notes.push_str(&format!(
            "; between two sessions of the user (two devices can be in two places), score ×{}",
            cfg.travel_cross_session_factor
        ));
    }
    if let Some(p) = pair.filter(|p| p.established(day)) {
        score *= cfg.pair_seen_factor;
        notes.push_str(&format!(
            "; this pair of places was seen on {} earlier day(s) (learned at {}), score ×{}",
            p.days, cfg.pair_learn_days, cfg.pair_seen_factor
        ));
    }
    let explanation = format!(
        "Impossible travel: {} ({}, radius {:.0} km) at {} UTC, then {} ({}, radius {:.0} km) at {} UTC: \
         {:.0} km − {:.0} − {:.0} = {:.0} km in {} = {:.0} km/h ≥ {:.0} km/h{}.",
        place_label(prev),
        ip_label(prev),
        ra,
        format_hm(prev.at),
        place_label(now),
        ip_label(now),
        rb,
        format_hm(now.at),
        d,
        ra,
        rb,
        eff,
        format_duration(dt_ms),
        speed,
        cfg.travel_kmh,
        notes
    );
    Some(Signal {
        kind: Kind::ImpossibleTravel,
        score,
        explanation,
        previous: Some(prev.clone()),
        facts: vec![
            ("distance_km", d.round()),
            ("radius_a_km", ra),
            ("radius_b_km", rb),
            ("effective_km", eff.round()),
            ("minutes", (dt_ms as f64 / 60_000.0 * 10.0).round() / 10.0),
            ("speed_kmh", speed.round()),
        ],
        report_key: None,
    })
}

/// Two observations are different clients, not one client that moved a little.
fn materially_different(cfg: &Config, a: &Obs, b: &Obs) -> Option<(bool, f64)> {
    let devices_differ = match (&a.device, &b.device) {
        (Some(x), Some(y)) => !x.same_kind(y),
        _ => false,
    };
    if !devices_differ
        && a.network.as_ref().map(|n| n.asn) == b.network.as_ref().map(|n| n.asn)
        && a.ip == b.ip
    {
        return None;
    }
    let nets_differ = match (network_key(a), network_key(b)) {
        (Some(x), Some(y)) => x != y,
        _ => false,
    };
    let eff = effective_km(cfg, a, b).map(|x| x.3);
    let far = eff.is_some_and(|e| e >= cfg.concurrent_min_km);
    let rented_mismatch = is_rented(a) != is_rented(b);
    let no_geo_but_other_as = eff.is_none()
        && a.network.as_ref().and_then(|n| n.asn).is_some()
        && b.network.as_ref().and_then(|n| n.asn).is_some();
    let different = devices_differ || (nets_differ && (far || rented_mismatch || no_geo_but_other_as));
    different.then_some((devices_differ, eff.unwrap_or(0.0)))
}

/// One session alternating between two clients within minutes.
pub(crate) fn concurrent(
    cfg: &Config,
    prev: &Obs,
    now: &Obs,
    switches: &mut VecDeque<i64>,
) -> Option<Signal> {
    let window = cfg.concurrent_window_s * 1000;
    while switches.front().is_some_and(|&t| now.at - t > window) {
        switches.pop_front();
    }
    let (devices_differ, eff) = materially_different(cfg, prev, now)?;
    switches.push_back(now.at);
    let n = switches.len() as u32;
    // Fire when the count reaches the minimum, then again each time it doubles.
    if n < cfg.concurrent_min_switches || !(n == cfg.concurrent_min_switches || n.is_power_of_two()) {
        return None;
    }
    let strong = devices_differ || eff >= cfg.travel_min_km;
    let score = if strong {
        cfg.concurrent_strong_score
    } else {
        cfg.concurrent_score
    };
    let first = switches.front().copied().unwrap_or(now.at);
    let times: Vec<String> = switches
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(|&t| format_hm(t))
        .collect();
    let mut why = Vec::new();
    if eff > 0.0 {
        why.push(format!("{eff:.0} km apart after radii"));
    }
    if devices_differ {
        why.push("different devices".into());
    }
    if is_rented(prev) != is_rented(now) {
        why.push("one network is rented (hosting/VPN)".into());
    }
    let explanation = format!(
        "Concurrent use: the session switched {n} times in {} (limit {} in {} s) between [{}] and [{}], \
         at {} UTC; {}.",
        format_duration(now.at - first),
        cfg.concurrent_min_switches,
        cfg.concurrent_window_s,
        prev.label(),
        now.label(),
        times.join(", "),
        if why.is_empty() {
            "different networks".to_string()
        } else {
            why.join(", ")
        }
    );
    Some(Signal {
        kind: Kind::ConcurrentUse,
        score,
        explanation,
        previous: Some(prev.clone()),
        facts: vec![
            ("switches", f64::from(n)),
            ("effective_km", eff.round()),
            ("window_s", cfg.concurrent_window_s as f64),
        ],
        report_key: None,
    })
}

/// The session's browser or OS family changed, or a scripted client took over.
pub(crate) fn device(cfg: &Config, now: &Obs, sess: &mut SessionState) -> Option<Signal> {
    let d = now.device.as_ref()?;
    if d.class == DeviceClass::Bot {
        return None;
    }
    let first = sess.first_device.as_ref()?;
    if first.same_kind(d) {
        return None;
    }
    let key = (d.family.clone(), d.os.clone());
    if sess.flagged_devices.contains(&key) {
        return None;
    }
    sess.flagged_devices.push(key);
    let tool_after_interactive = first.class == DeviceClass::Browser && d.is_scripted();
    let (score, what) = if tool_after_interactive {
        (
            cfg.device_tool_score,
            "Scripted client after an interactive start",
        )
    } else {
        (cfg.device_change_score, "Device change inside the session")
    };
    let first_at = sess.home.as_ref().map_or(sess.first_at, |h| h.at);
    let explanation = format!(
        "{what}: the session began at {} UTC as {} and at {} UTC sent a request as {} (User-Agent {:?}).",
        format_hm(first_at),
        first.label(),
        format_hm(now.at),
        d.label(),
        d.raw
    );
    Some(Signal {
        kind: Kind::DeviceChange,
        score,
        explanation,
        previous: sess.home.clone(),
        facts: vec![(
            "minutes_into_session",
            ((now.at - first_at) as f64 / 60_000.0).round(),
        )],
        report_key: None,
    })
}

/// The user's requests in this clock hour crossed their own threshold (or twice, four times it).
pub(crate) fn rate(cfg: &Config, now: i64, count: u32, level: u32, t: &Threshold) -> Signal {
    let hour_start = now - now.rem_euclid(3_600_000);
    let score = (cfg.rate_score + 0.15 * f64::from(level.saturating_sub(1))).min(cfg.rate_max_score);
    let multiple = match level {
        1 => String::new(),
        2 => " (now twice the threshold)".into(),
        _ => " (now four times the threshold)".into(),
    };
    let explanation = format!(
        "Request-rate spike: {count} requests between {} and {} UTC{multiple}. This user's usual for this hour: \
         median {:.0}, MAD {:.1} over {} active days; usual busy hour (90th percentile) {:.0}. \
         Threshold max({}, {:.0} + {}×{:.1}, {}×{:.0}) = {:.0}.",
        format_hm(hour_start),
        format_hm(now),
        t.median,
        t.mad,
        t.days,
        t.busy,
        cfg.rate_min_requests,
        t.median,
        cfg.rate_mad_k,
        t.mad.max(1.0),
        cfg.rate_busy_factor,
        t.busy,
        t.value
    );
    Signal {
        kind: Kind::RateSpike,
        score,
        explanation,
        previous: None,
        facts: vec![
            ("requests", f64::from(count)),
            ("threshold", t.value),
            ("median", t.median),
            ("mad", (t.mad * 10.0).round() / 10.0),
            ("busy_hour", t.busy),
            ("history_days", t.days as f64),
        ],
        report_key: None,
    }
}

fn known_list<K: std::fmt::Display>(items: impl Iterator<Item = (K, u16)>) -> String {
    let mut v: Vec<(String, u16)> = items.map(|(k, d)| (k.to_string(), d)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let shown: Vec<String> = v.iter().take(5).map(|(k, d)| format!("{k} ({d} d)")).collect();
    let more = if v.len() > 5 {
        format!(" and {} more", v.len() - 5)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// A country or network never seen for this user (called only after the learning period).
pub(crate) fn novelty(
    cfg: &Config,
    now: &Obs,
    base: &Baseline,
    _day: i32,
    reported: &[(Kind, String)],
    out: &mut Vec<Signal>,
) {
    let rented = is_rented(now);
    let bonus = if rented { cfg.rented_bonus } else { 0.0 };
    // Built only when a signal fires: this runs on every event.
    let net_note = || match &now.network {
        Some(n) if n.class != NetClass::Isp => format!(" via {} ({}, +{bonus})", n.label(), n.class.label()),
        Some(n) => format!(" via {}", n.label()),
        None => String::new(),
    };
    let history = || {
        format!(
            "{} logins since {}",
            base.logins,
            base.first_at.map(format_ms).unwrap_or_default()
        )
    };
    if let Some(country) = now.place.as_ref().and_then(|p| p.country.as_deref())
        && !base.countries.contains_key(country)
    {
        let key = country.to_string();
        if !reported.iter().any(|(k, c)| *k == Kind::NewCountry && *c == key) {
            out.push(Signal {
                kind: Kind::NewCountry,
                score: cfg.new_country_score + bonus,
                explanation: format!(
                    "New country for this user: {}{} ({}). Known countries over {}: {}.",
                    place_label(now),
                    net_note(),
                    ip_label(now),
                    history(),
                    known_list(base.countries.iter().map(|(k, s)| (k, s.days)))
                ),
                previous: None,
                facts: vec![
                    ("known_countries", base.countries.len() as f64),
                    ("logins", f64::from(base.logins)),
                ],
                report_key: Some(key),
            });
        }
        return;
    }
    if let Some(net) = now.network.as_ref()
        && let Some(asn) = net.asn
        && !base.asns.contains_key(&asn)
    {
        let key = asn.to_string();
        if !reported.iter().any(|(k, c)| *k == Kind::NewAsn && *c == key) {
            out.push(Signal {
                kind: Kind::NewAsn,
                score: cfg.new_asn_score + bonus,
                explanation: format!(
                    "New network for this user: {}{} in {} ({}). Known networks over {}: {}.",
                    net.label(),
                    if net.class == NetClass::Isp {
                        String::new()
                    } else {
                        format!(" [{}, +{bonus}]", net.class.label())
                    },
                    place_label(now),
                    ip_label(now),
                    history(),
                    known_list(base.asns.iter().map(|(k, s)| (format!("AS{k}"), s.days)))
                ),
                previous: None,
                facts: vec![
                    ("known_networks", base.asns.len() as f64),
                    ("logins", f64::from(base.logins)),
                ],
                report_key: Some(key),
            });
        }
    }
}

/// A password, email or MFA change from a country or network not established for the user.
pub(crate) fn sensitive(
    cfg: &Config,
    e: &EventRef<'_>,
    now: &Obs,
    base: &Baseline,
    day: i32,
) -> Option<Signal> {
    let country = now.place.as_ref().and_then(|p| p.country.as_deref());
    let asn = now.network.as_ref().and_then(|n| n.asn);
    let mut why = Vec::new();
    if let Some(c) = country
        && !base.countries.get(c).is_some_and(|s| s.established(day))
    {
        why.push(format!("country {c} not seen before today"));
    }
    if let Some(a) = asn
        && !base.asns.get(&a).is_some_and(|s| s.established(day))
    {
        why.push(format!("network AS{a} not seen before today"));
    }
    if why.is_empty() {
        return None;
    }
    let scripted = now.device.as_ref().is_some_and(|d| d.is_scripted());
    let strong = is_rented(now) || scripted;
    let mut aggravating = Vec::new();
    if is_rented(now) {
        aggravating.push("from a rented network (hosting/VPN)");
    }
    if scripted {
        aggravating.push("by a scripted client");
    }
    let what = match (e.method, e.path) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        (None, Some(p)) => p.to_string(),
        _ => "account change".to_string(),
    };
    Some(Signal {
        kind: Kind::SensitiveNewLocation,
        score: if strong {
            cfg.sensitive_strong_score
        } else {
            cfg.sensitive_score
        },
        explanation: format!(
            "Sensitive change ({what}) from a new location: [{}]; {}{}.",
            now.label(),
            why.join(", "),
            if aggravating.is_empty() {
                String::new()
            } else {
                format!("; {}", aggravating.join(", "))
            }
        ),
        previous: None,
        facts: vec![
            ("known_countries", base.countries.len() as f64),
            ("known_networks", base.asns.len() as f64),
        ],
        report_key: None,
    })
}

/// Use of a credential whose session was revoked or ended.
pub(crate) fn revoked(
    cfg: &Config,
    e: &EventRef<'_>,
    now: &Obs,
    sess: &mut SessionState,
    out: &mut Vec<Signal>,
) {
    let revoked_denial = e.denial.filter(|r| denial_means_revoked(r));
    let after_logout = sess
        .logout_at
        .is_some_and(|t| e.ts_ms > t + cfg.logout_grace_s * 1000);
    if revoked_denial.is_none() && !after_logout {
        return;
    }
    let foreign = sess
        .home
        .as_ref()
        .and_then(|h| materially_different(cfg, h, now).map(|_| h.clone()));
    let what = match (e.method, e.path) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        (None, Some(p)) => p.to_string(),
        _ => "a request".to_string(),
    };
    if let Some(reason) = revoked_denial {
        sess.revoked_denials += 1;
        let n = sess.revoked_denials;
        let (score, whose) = if let Some(h) = &foreign {
            (
                cfg.revoked_foreign_score,
                format!("from [{}], not the session's own [{}]", now.label(), h.label()),
            )
        } else if n >= cfg.revoked_min_attempts {
            (
                cfg.revoked_repeat_score,
                format!(
                    "from the session's own client [{}], attempt {n} (≥ {})",
                    now.label(),
                    cfg.revoked_min_attempts
                ),
            )
        } else {
            (
                cfg.revoked_same_score,
                format!(
                    "from the session's own client [{}] (a straggler is normal)",
                    now.label()
                ),
            )
        };
        out.push(Signal {
            kind: Kind::RevokedTokenUse,
            score,
            explanation: format!("Revoked credential used: {what} was refused ({reason}) {whose}."),
            previous: foreign,
            facts: vec![("refused_attempts", f64::from(n))],
            report_key: None,
        });
        return;
    }
    let Some(logout) = sess.logout_at else { return };
    let accepted = e.denial.is_none() && e.status.is_none_or(|s| s < 400);
    if !accepted || e.action != Action::Request || e.ts_ms <= logout + cfg.logout_grace_s * 1000 {
        return;
    }
    let (score, whose) = match &foreign {
        Some(h) => (
            cfg.after_logout_foreign_score,
            format!("from [{}], not the session's own [{}]", now.label(), h.label()),
        ),
        None => (
            cfg.after_logout_same_score,
            format!("from the session's own client [{}]", now.label()),
        ),
    };
    out.push(Signal {
        kind: Kind::RevokedTokenUse,
        score,
        explanation: format!(
            "{} at {} UTC and {} later {what} was accepted{} {whose}; \
             the token is still honoured and someone holds it.",
            if sess.ended_by_signal {
                "Activity after revocation: the identity provider revoked the session (a Shared Signals session-revoked event)"
            } else {
                "Activity after logout: the session logged out"
            },
            format_hm(logout),
            format_duration(e.ts_ms - logout),
            e.status.map(|s| format!(" (status {s})")).unwrap_or_default()
        ),
        previous: foreign,
        facts: vec![("seconds_after_logout", ((e.ts_ms - logout) / 1000) as f64)],
        report_key: None,
    });
}
