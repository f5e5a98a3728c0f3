//! Finding stolen sessions: explainable detectors over normalized events.
//!
//! Textbook rules ("two logins 500 km apart faster than 800 km/h") catch far-away replay but
//! drown analysts in false alarms from VPN users, and miss abuse that stays in one place. So the
//! engine combines small detectors, each of which says exactly what it saw with the numbers to
//! check it, against per-user baselines that learn what is normal for that user:
//!
//! | kind | fires when | group |
//! |---|---|---|
//! | `impossible_travel` | consecutive events of a session (or of the user) are `travel.min_km` apart after subtracting both accuracy radii, at `travel.kmh` or faster; unless the pair of places is learned | location |
//! | `concurrent_use` | one session (or token) alternates between two materially different networks `concurrent.min_switches` times within `concurrent.window_s` | concurrency |
//! | `device_change` | a session's browser or OS family changes, or a scripted client follows an interactive start | device |
//! | `rate_spike` | the user's requests in a clock hour exceed their own robust baseline for that hour of day | rate |
//! | `new_country`, `new_asn` | a country or network never seen for the user, after the learning period | location |
//! | `revoked_token_use` | a request refused because its token or session was revoked, or one accepted after the session's logout | revocation |
//! | `sensitive_new_location` | a password, email or MFA change from a country or network not established for the user | account change |
//!
//! Scores are in 0..1. Within a group, the strongest signal counts; groups are treated as
//! independent evidence and combined as `1 − Π(1 − s_group)`, so that a VPN user's first toggle
//! (one location signal) stays medium while a far-away replay with a new device is high. Severity
//! bands are `severity.medium` / `severity.high` / `severity.critical` in [`Config`]; **high or
//! critical means "likely stolen, act now"**. All signals of one session merge into one
//! [`Finding`] (one incident, one row) whose id is stable across runs.
//!
//! Locations seen in a session whose finding is high or critical are not learned into the user's
//! baseline, so an attacker's place does not become "normal" before an analyst has said so.
//!
//! The [`Engine`] is incremental: the live sync feeds it events as they arrive and gets back the
//! findings each event created or changed; [`batch`] drives the same engine over files.
//! Analyst feedback and suppressions are plain data ([`feedback`]); the store persists them and
//! hands them back to [`Engine::set_suppressions`] or [`feedback::rescore`].

mod baseline;
pub mod batch;
pub mod config;
mod engine;
pub mod feedback;
pub mod geo;
mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

pub use config::{Config, ConfigError};
pub use engine::{Engine, EngineStats};
pub use feedback::{Feedback, Suppression, SuppressionScope, Verdict};

use crate::enrich::{Device, Network, Place};
use crate::ingest::time::format_ms;

/// What a signal is about. Serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ImpossibleTravel,
    ConcurrentUse,
    DeviceChange,
    RateSpike,
    NewCountry,
    NewAsn,
    RevokedTokenUse,
    SensitiveNewLocation,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::ImpossibleTravel,
        Kind::ConcurrentUse,
        Kind::DeviceChange,
        Kind::RateSpike,
        Kind::NewCountry,
        Kind::NewAsn,
        Kind::RevokedTokenUse,
        Kind::SensitiveNewLocation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ImpossibleTravel => "impossible_travel",
            Kind::ConcurrentUse => "concurrent_use",
            Kind::DeviceChange => "device_change",
            Kind::RateSpike => "rate_spike",
            Kind::NewCountry => "new_country",
            Kind::NewAsn => "new_asn",
            Kind::RevokedTokenUse => "revoked_token_use",
            Kind::SensitiveNewLocation => "sensitive_new_location",
        }
    }

    /// Signals in one group describe the same underlying observation and are not independent.
    pub fn group(self) -> &'static str {
        match self {
            Kind::ImpossibleTravel | Kind::NewCountry | Kind::NewAsn => "location",
            Kind::ConcurrentUse => "concurrency",
            Kind::DeviceChange => "device",
            Kind::RateSpike => "rate",
            Kind::RevokedTokenUse => "revocation",
            Kind::SensitiveNewLocation => "account change",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn from_score(score: f64, cfg: &Config) -> Severity {
        if score >= cfg.critical_at {
            Severity::Critical
        } else if score >= cfg.high_at {
            Severity::High
        } else if score >= cfg.medium_at {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// High or critical: likely stolen, act now.
    pub fn is_actionable(self) -> bool {
        self >= Severity::High
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Severity::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown severity `{s}`"))
    }
}

pub(crate) fn ser_time<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ms(*ms))
}

/// One end of an observation: an event as the detector saw it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Side {
    #[serde(serialize_with = "ser_time")]
    #[specta(type = String)]
    pub at: i64,
    pub ip: Option<String>,
    pub place: Option<Place>,
    pub network: Option<Network>,
    pub device: Option<Device>,
}

/// One signal with the facts behind it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Evidence {
    pub kind: Kind,
    /// When the signal fired (the time of the event that triggered it).
    #[serde(serialize_with = "ser_time")]
    #[specta(type = String)]
    pub at: i64,
    /// 0..100.
    pub score: u8,
    /// A sentence with every number needed to check it.
    pub explanation: String,
    /// The event that triggered the signal.
    pub event: Side,
    /// The event it was compared with (the previous place, the session's first device...).
    pub previous: Option<Side>,
    /// The numbers in the explanation, by name (`distance_km`, `speed_kmh`, `threshold`...).
    pub facts: BTreeMap<String, f64>,
}

impl Evidence {
    pub(crate) fn score01(&self) -> f64 {
        f64::from(self.score) / 100.0
    }
}

/// One incident: everything suspicious about one session (or, without a session id, one user).
///
/// The JSON shape is the `gatehouse analyze --json` contract: `id`, `kind`, `severity`, `score`,
/// `user`, `session`, `detected_at`, `first_seen`, `last_seen`, `explanation`, `evidence`.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Finding {
    /// Stable across runs: derived from the user and the session.
    pub id: String,
    /// The kind of the strongest signal.
    pub kind: Kind,
    pub severity: Severity,
    /// 0..100.
    pub score: u8,
    /// As in the input.
    pub user: String,
    /// As in the input (the token id when the source had no session id); `null` without either.
    pub session: Option<String>,
    /// The time of the event at which the finding first fired (in live mode: when it appeared).
    #[serde(serialize_with = "ser_time")]
    #[specta(type = String)]
    pub detected_at: i64,
    /// The session's first event.
    #[serde(serialize_with = "ser_time")]
    #[specta(type = String)]
    pub first_seen: i64,
    /// The session's latest event.
    #[serde(serialize_with = "ser_time")]
    #[specta(type = String)]
    pub last_seen: i64,
    pub explanation: String,
    /// Strongest first; at most `findings.max_evidence_per_kind` per kind.
    pub evidence: Vec<Evidence>,
    /// How many times each kind fired, including evidence not kept.
    #[serde(skip)]
    pub occurrences: BTreeMap<Kind, u32>,
}

impl Finding {
    /// Every kind present in the finding.
    pub fn kinds(&self) -> Vec<Kind> {
        self.occurrences.keys().copied().collect()
    }

    /// Recomputes score, severity, kind and explanation from the evidence.
    pub(crate) fn rescore(&mut self, cfg: &Config) {
        self.evidence
            .sort_by(|a, b| b.score.cmp(&a.score).then(a.at.cmp(&b.at)));
        let mut groups: Vec<(&'static str, &Evidence)> = Vec::new();
        for ev in &self.evidence {
            if !groups.iter().any(|(g, _)| *g == ev.kind.group()) {
                groups.push((ev.kind.group(), ev));
            }
        }
        let score = 1.0 - groups.iter().map(|(_, e)| 1.0 - e.score01()).product::<f64>();
        self.score = (score * 100.0).round().clamp(0.0, 100.0) as u8;
        self.severity = Severity::from_score(f64::from(self.score) / 100.0, cfg);
        if let Some((_, top)) = groups.first() {
            self.kind = top.kind;
        }
        let mut text = String::new();
        let lead = match self.severity {
            Severity::Critical | Severity::High => "Likely stolen, act now",
            Severity::Medium => "Suspicious, review",
            Severity::Low => "Unusual, for context",
        };
        text.push_str(lead);
        text.push_str(": ");
        for (i, (_, ev)) in groups.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(&ev.explanation);
            let n = self.occurrences.get(&ev.kind).copied().unwrap_or(1);
            if n > 1 {
                text.push_str(&format!(" ({n} occurrences.)"));
            }
        }
        if groups.len() > 1 {
            let parts: Vec<String> = groups
                .iter()
                .map(|(g, e)| format!("{g} {:.2}", e.score01()))
                .collect();
            let factors: Vec<String> = groups
                .iter()
                .map(|(_, e)| format!("(1 − {:.2})", e.score01()))
                .collect();
            text.push_str(&format!(
                " Score {} = 1 − {} over independent signals: {}.",
                self.score,
                factors.join(""),
                parts.join(", ")
            ));
        } else {
            text.push_str(&format!(" Score {}.", self.score));
        }
        self.explanation = text;
    }
}

/// FNV-1a, 64 bit: stable ids that do not depend on the standard library's hasher seeds.
pub(crate) fn stable_id(user: &str, session: Option<&str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    user.bytes().for_each(&mut feed);
    feed(0);
    if let Some(s) = session {
        feed(1);
        s.bytes().for_each(&mut feed);
    }
    format!("f-{h:016x}")
}
