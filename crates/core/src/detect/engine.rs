//! The incremental engine: per-user and per-session state, the detectors run on each event, and
//! the merge of their signals into one finding per session.
//!
//! State is what a live console can afford to keep forever: a baseline per user (bounded) and a
//! small record per active session (dropped after `engine.session_idle_hours` of silence). Events
//! are expected roughly in time order; mild disorder is tolerated (distances use the absolute
//! time difference, late requests count into their own hour) and counted in the stats.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::baseline::{Baseline, HOUR_MS, day_of};
use super::feedback::Suppression;
use super::geo::Cell;
use super::rules::{self, Signal};
use super::{Config, Evidence, Finding, Kind, Severity, Side, stable_id};
use crate::enrich::{Device, DeviceClass, Network, Place};
use crate::ingest::{Action, Event, EventRef};

/// Counters over everything the engine saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct EngineStats {
    pub events: u64,
    pub users: u64,
    pub sessions: u64,
    /// Signals raised by detectors (before suppressions).
    pub signals: u64,
    /// Signals dropped because a suppression matched.
    pub suppressed: u64,
    /// Events more than five minutes older than the newest event seen before them.
    pub out_of_order: u64,
    /// Events without a place (no GeoIP data and none in the source).
    pub unlocated: u64,
}

/// One event as the detectors see it.
#[derive(Debug, Clone)]
pub(crate) struct Obs {
    pub at: i64,
    /// A hash of the session key: compared, never shown.
    pub session: Option<u64>,
    pub ip: Option<IpAddr>,
    pub place: Option<Arc<Place>>,
    pub coords: Option<(f64, f64)>,
    pub cell: Option<Cell>,
    pub network: Option<Arc<Network>>,
    pub device: Option<Arc<Device>>,
}

impl Obs {
    fn of(e: &EventRef<'_>) -> Obs {
        let coords = e.place.and_then(|p| p.coords);
        Obs {
            at: e.ts_ms,
            session: e.session_key().map(|k| {
                use std::hash::{BuildHasher, BuildHasherDefault};
                BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(k)
            }),
            ip: e.ip,
            place: e.place.cloned(),
            coords,
            cell: coords.map(Cell::of),
            network: e.network.cloned(),
            device: e.device.filter(|d| d.class != DeviceClass::Unknown).cloned(),
        }
    }

    pub fn side(&self) -> Side {
        Side {
            at: self.at,
            ip: self.ip.map(|i| i.to_string()),
            place: self.place.as_deref().cloned(),
            network: self.network.as_deref().cloned(),
            device: self.device.as_deref().cloned(),
        }
    }

    /// `London, GB · AS2856 (BT) · Chrome on Mac OS X · 81.2.69.142`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.place {
            parts.push(p.label());
        }
        if let Some(n) = &self.network {
            let mut l = n.label();
            if n.class != crate::enrich::NetClass::Isp {
                l.push_str(&format!(" [{}]", n.class.label()));
            }
            parts.push(l);
        }
        if let Some(d) = &self.device {
            parts.push(d.label());
        }
        if let Some(ip) = self.ip {
            parts.push(ip.to_string());
        }
        parts.join(" · ")
    }
}

/// Keeps `obs` in `slot`. Consecutive events mostly share their place, network and device: the
/// references already held are kept rather than swapped for equal ones (each swap is two atomic
/// operations, and this runs several times per event).
fn remember(slot: &mut Option<Obs>, obs: &Obs) {
    let Some(kept) = slot else {
        *slot = Some(obs.clone());
        return;
    };
    let Obs {
        at,
        session,
        ip,
        place,
        coords,
        cell,
        network,
        device,
    } = obs;
    kept.at = *at;
    kept.session = *session;
    kept.ip = *ip;
    kept.coords = *coords;
    kept.cell = *cell;
    share(&mut kept.place, place);
    share(&mut kept.network, network);
    share(&mut kept.device, device);
}

fn share<T>(kept: &mut Option<Arc<T>>, new: &Option<Arc<T>>) {
    match (kept.as_ref(), new) {
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
        _ => kept.clone_from(new),
    }
}

#[derive(Debug, Default)]
pub(crate) struct SessionState {
    pub first_at: i64,
    pub last_at: i64,
    /// The session's first recognisable device.
    pub first_device: Option<Arc<Device>>,
    /// Device kinds already reported as changes (family, os).
    pub flagged_devices: Vec<(String, String)>,
    /// The session's first event, the reference for "its own device and network".
    pub home: Option<Obs>,
    pub last: Option<Obs>,
    pub last_located: Option<Obs>,
    /// Times of switches between materially different networks, within the window.
    pub switches: VecDeque<i64>,
    pub logout_at: Option<i64>,
    /// The end at `logout_at` was the identity provider revoking the session (a Shared
    /// Signals event), not the user logging out.
    pub ended_by_signal: bool,
    pub revoked_denials: u32,
    pub finding: Option<usize>,
    /// (kind, key) already reported in this session (a country, an AS).
    pub reported: Vec<(Kind, String)>,
}

#[derive(Default)]
struct UserState {
    base: Baseline,
    last_located: Option<Obs>,
    sessions: FxHashMap<Box<str>, SessionState>,
    /// Events without a session or token id (rare: kept out of line, so that the state every
    /// event reads stays small).
    loose: Option<Box<SessionState>>,
}

/// The detection engine. See the [module docs](super).
pub struct Engine {
    cfg: Config,
    users: FxHashMap<Box<str>, UserState>,
    findings: Vec<Finding>,
    by_id: FxHashMap<String, usize>,
    suppressions: FxHashMap<String, Vec<Suppression>>,
    stats: EngineStats,
    newest: i64,
    since_sweep: u32,
}

impl Engine {
    pub fn new(cfg: Config) -> Self {
        Engine {
            cfg,
            users: FxHashMap::default(),
            findings: Vec::new(),
            by_id: FxHashMap::default(),
            suppressions: FxHashMap::default(),
            stats: EngineStats::default(),
            newest: i64::MIN,
            since_sweep: 0,
        }
    }

    /// An engine that drops signals matching these suppressions (the store's current list).
    pub fn with_suppressions(cfg: Config, suppressions: Vec<Suppression>) -> Self {
        let mut e = Engine::new(cfg);
        e.set_suppressions(suppressions);
        e
    }

    /// Replaces the suppressions applied to signals from now on. To re-score findings already
    /// made, use [`super::feedback::rescore`].
    pub fn set_suppressions(&mut self, suppressions: Vec<Suppression>) {
        self.suppressions.clear();
        for s in suppressions {
            self.suppressions.entry(s.user.clone()).or_default().push(s);
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// All findings, most severe first (then highest score, then earliest).
    pub fn findings(&self) -> Vec<Finding> {
        let mut v = self.findings.clone();
        sort_findings(&mut v);
        v
    }

    /// Consumes the engine, returning its findings most severe first.
    pub fn into_findings(self) -> Vec<Finding> {
        let mut v = self.findings;
        sort_findings(&mut v);
        v
    }

    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.by_id.get(id).and_then(|&i| self.findings.get(i))
    }

    /// Feeds one event (enriched: see [`crate::enrich::Enricher::enrich`]). Returns the finding
    /// this event created or changed (new evidence, new score), if any.
    pub fn observe(&mut self, e: &Event) -> Option<Finding> {
        self.observe_index(e).and_then(|i| self.findings.get(i).cloned())
    }

    /// Feeds events in order; returns the findings they created or changed, each once, in their
    /// final state.
    pub fn observe_all<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> Vec<Finding> {
        let mut touched: Vec<usize> = Vec::new();
        for e in events {
            if let Some(i) = self.observe_index(e)
                && !touched.contains(&i)
            {
                touched.push(i);
            }
        }
        touched
            .into_iter()
            .filter_map(|i| self.findings.get(i).cloned())
            .collect()
    }

    /// The finding at an index [`Self::observe_index`] returned.
    pub(crate) fn finding_at(&self, i: usize) -> Option<&Finding> {
        self.findings.get(i)
    }

    /// Feeds one event; returns the index of the finding it changed.
    pub(crate) fn observe_index(&mut self, e: &Event) -> Option<usize> {
        self.observe_ref(&e.view())
    }

    /// [`Self::observe_index`] over a borrowed event.
    pub(crate) fn observe_ref(&mut self, e: &EventRef<'_>) -> Option<usize> {
        let late = is_late(e.ts_ms, self.newest);
        self.newest = self.newest.max(e.ts_ms);
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.sweep_to(self.newest);
        }
        self.observe_clocked(e, late)
    }

    /// Forgets sessions silent for `engine.session_idle_hours` before `newest` (the newest
    /// event time seen). [`Self::observe_ref`] does this every [`SWEEP_EVERY`] events; a caller
    /// that feeds several engines parts of one stream does it at the same points of the stream.
    pub(crate) fn sweep_to(&mut self, newest: i64) {
        sweep(&mut self.users, newest, &self.cfg);
    }

    /// [`Self::observe_ref`] with the stream's clock kept by the caller: `late` says the event
    /// is older than the stream's newest event before it by more than five minutes.
    pub(crate) fn observe_clocked(&mut self, e: &EventRef<'_>, late: bool) -> Option<usize> {
        let Engine {
            cfg,
            users,
            findings,
            by_id,
            suppressions,
            stats,
            ..
        } = self;
        let now = e.ts_ms;
        stats.events += 1;
        if late {
            stats.out_of_order += 1;
        }

        let user = match users.get_mut(e.user) {
            Some(u) => u,
            None => {
                stats.users += 1;
                users.entry(e.user.into()).or_default()
            }
        };
        let UserState {
            base,
            last_located: user_last,
            sessions,
            loose,
        } = user;
        let key = e.session_key();
        let sess = match key {
            Some(k) => match sessions.get_mut(k) {
                Some(s) => s,
                None => {
                    stats.sessions += 1;
                    base.logins += 1;
                    let s = sessions.entry(k.into()).or_default();
                    s.first_at = now;
                    s
                }
            },
            None => {
                if e.action == Action::Login {
                    base.logins += 1;
                }
                let loose = loose.get_or_insert_default();
                if loose.home.is_none() {
                    loose.first_at = now;
                }
                loose
            }
        };
        base.first_at.get_or_insert(now);
        if e.action == Action::Login {
            sess.logout_at = None;
        }
        if e.ip.is_none() && e.path == Some(crate::ingest::SSF_SESSION_REVOKED) {
            // The provider ended the session: a point in time, not a request, so it teaches
            // nothing about rates, places or devices.
            sess.logout_at = Some(sess.logout_at.map_or(now, |t| t.min(now)));
            sess.ended_by_signal = true;
            return None;
        }
        let trusted = sess
            .finding
            .and_then(|i| findings.get(i))
            .is_none_or(|f| f.severity < Severity::High);
        let obs = Obs::of(e);
        if obs.coords.is_none() {
            stats.unlocated += 1;
        }
        let day = day_of(now);
        let learned = base.learned(now, cfg);

        let mut signals: Vec<Signal> = Vec::new();
        rules::revoked(cfg, e, &obs, sess, &mut signals);
        if obs.coords.is_some() {
            let mut travelled = false;
            if let Some(prev) = &sess.last_located
                && let Some(s) = rules::travel(cfg, prev, &obs, false, base, day)
            {
                signals.push(s);
                travelled = true;
            }
            let session_last_at = sess.last_located.as_ref().map_or(i64::MIN, |p| p.at);
            if !travelled
                && let Some(prev) = user_last
                    .as_ref()
                    .filter(|p| p.session != obs.session && p.at > session_last_at)
            {
                signals.extend(rules::travel(cfg, prev, &obs, true, base, day));
            }
        }
        if let Some(prev) = &sess.last {
            signals.extend(rules::concurrent(cfg, prev, &obs, &mut sess.switches));
        }
        signals.extend(rules::device(cfg, &obs, sess));
        if let Some((count, level, t)) = base.rate.count(now, cfg) {
            signals.push(rules::rate(cfg, now, count, level, &t));
        }
        if learned {
            rules::novelty(cfg, &obs, base, day, &sess.reported, &mut signals);
            if e.sensitive {
                signals.extend(rules::sensitive(cfg, e, &obs, base, day));
            }
        }

        // Learn.
        sess.last_at = now;
        if sess.first_device.is_none() {
            sess.first_device = obs.device.clone();
        }
        if e.action == Action::Logout {
            sess.logout_at = Some(now);
            sess.ended_by_signal = false;
        }
        // The same address as the session's previous event on the same day teaches nothing new
        // (everything is counted in days): skip the lookups.
        let repeat = sess
            .last
            .as_ref()
            .is_some_and(|p| p.ip == obs.ip && day_of(p.at) == day)
            && user_last.as_ref().is_none_or(|p| p.cell == obs.cell);
        if trusted && !repeat {
            if let Some(c) = obs.place.as_ref().and_then(|p| p.country.as_deref()) {
                base.learn_country(c, day);
            }
            if let Some(a) = obs.network.as_ref().and_then(|n| n.asn) {
                base.learn_asn(a, day);
            }
            if let Some(cell) = obs.cell {
                base.learn_cell(cell, day);
                if let Some(pc) = user_last.as_ref().and_then(|p| p.cell) {
                    base.learn_pair(pc, cell, day);
                }
            }
        }
        if sess.home.is_none() {
            sess.home = Some(obs.clone());
        }
        if obs.coords.is_some() {
            remember(&mut sess.last_located, &obs);
            remember(user_last, &obs);
        }

        if let Some(i) = sess.finding
            && let Some(f) = findings.get_mut(i)
        {
            f.last_seen = f.last_seen.max(now);
        }
        if signals.is_empty() {
            remember(&mut sess.last, &obs);
            return None;
        }

        stats.signals += signals.len() as u64;
        let supp = suppressions.get(e.user);
        let mut changed = None;
        for s in signals {
            let ev = Evidence {
                kind: s.kind,
                at: now,
                score: (s.score.clamp(0.0, 1.0) * 100.0).round() as u8,
                explanation: s.explanation,
                event: obs.side(),
                previous: s.previous.as_ref().map(Obs::side),
                facts: s.facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            };
            if supp.is_some_and(|list| list.iter().any(|x| x.matches(e.user, &ev))) {
                stats.suppressed += 1;
                continue;
            }
            if let Some(k) = s.report_key {
                sess.reported.push((s.kind, k));
            }
            let idx = match sess.finding {
                Some(i) => i,
                None => {
                    let id = stable_id(e.user, key);
                    let i = match by_id.get(&id) {
                        Some(&i) => i,
                        None => {
                            findings.push(Finding {
                                id: id.clone(),
                                kind: s.kind,
                                severity: Severity::Low,
                                score: 0,
                                user: e.user.to_owned(),
                                session: key.map(str::to_owned),
                                detected_at: now,
                                first_seen: sess.first_at,
                                last_seen: now,
                                explanation: String::new(),
                                evidence: Vec::new(),
                                occurrences: Default::default(),
                            });
                            let i = findings.len() - 1;
                            by_id.insert(id, i);
                            i
                        }
                    };
                    sess.finding = Some(i);
                    i
                }
            };
            let Some(f) = findings.get_mut(idx) else { continue };
            add_evidence(f, ev, cfg);
            changed = Some(idx);
        }
        remember(&mut sess.last, &obs);
        changed
    }
}

/// How often (in events) idle sessions are forgotten.
pub(crate) const SWEEP_EVERY: u32 = 1 << 16;

/// Whether an event at `at` is out of order: more than five minutes before `newest`, the newest
/// event time seen before it.
pub(crate) fn is_late(at: i64, newest: i64) -> bool {
    at < newest.saturating_sub(5 * 60 * 1000)
}

/// Engines that each read part of one stream (split by user), as one: their counts added and
/// their findings together, most severe first.
pub(crate) fn combine(parts: Vec<Engine>) -> (EngineStats, Vec<Finding>) {
    let mut stats = EngineStats::default();
    let mut findings = Vec::new();
    for e in parts {
        let s = e.stats;
        stats.events += s.events;
        stats.users += s.users;
        stats.sessions += s.sessions;
        stats.signals += s.signals;
        stats.suppressed += s.suppressed;
        stats.out_of_order += s.out_of_order;
        stats.unlocated += s.unlocated;
        findings.extend(e.findings);
    }
    sort_findings(&mut findings);
    (stats, findings)
}

fn add_evidence(f: &mut Finding, ev: Evidence, cfg: &Config) {
    *f.occurrences.entry(ev.kind).or_insert(0) += 1;
    // Out-of-order input can bring earlier evidence: the finding dates from its earliest signal.
    f.detected_at = f.detected_at.min(ev.at);
    f.first_seen = f.first_seen.min(ev.at);
    f.last_seen = f.last_seen.max(ev.at);
    let same: Vec<usize> = f
        .evidence
        .iter()
        .enumerate()
        .filter(|(_, x)| x.kind == ev.kind)
        .map(|(i, _)| i)
        .collect();
    if same.len() < cfg.max_evidence_per_kind.max(1) {
        f.evidence.push(ev);
    } else if let Some(&weakest) = same.iter().min_by_key(|&&i| f.evidence[i].score)
        && f.evidence[weakest].score < ev.score
    {
        f.evidence[weakest] = ev;
    }
    f.rescore(cfg);
}

fn sweep(users: &mut FxHashMap<Box<str>, UserState>, newest: i64, cfg: &Config) {
    let cutoff = newest - cfg.session_idle_hours * HOUR_MS;
    for u in users.values_mut() {
        u.sessions.retain(|_, s| s.last_at >= cutoff);
    }
}

pub(crate) fn sort_findings(v: &mut [Finding]) {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.score.cmp(&a.score))
            .then(a.detected_at.cmp(&b.detected_at))
            .then(a.id.cmp(&b.id))
    });
}
