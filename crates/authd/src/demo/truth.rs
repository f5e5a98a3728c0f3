//! The ground-truth file: what the demo did on purpose, so a detector's findings can be scored.
//!
//! Schema `gatehouse.demo.ground-truth/v1` (stable; additions only, a breaking change bumps the
//! version). All times are unix milliseconds. Documented field by field in the crate README.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use super::plan::{Persona, Place};
use super::schedule::{AttackKind, Benign, Constraint};

pub const SCHEMA: &str = "gatehouse.demo.ground-truth/v1";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    pub schema: &'static str,
    /// Printed by the demo too; the GeoIP licence requires it.
    pub attribution: String,
    pub geoip: GeoipSource,
    pub seed: u64,
    /// `fast`, `continuous` or `fast+continuous`.
    pub mode: String,
    pub window: Window,
    pub users: Vec<UserTruth>,
    pub attacks: Vec<AttackTruth>,
    /// Legitimate behaviour that looks suspicious (false-positive bait).
    pub benign: Vec<BenignTruth>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoipSource {
    /// File name of the MMDB the addresses were picked from.
    pub database: String,
    pub database_type: String,
    pub build_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub from_ms: i64,
    /// End of the fast-forwarded history (equal to `from_ms` without one).
    pub history_until_ms: i64,
    /// Last simulated instant so far.
    pub until_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserTruth {
    pub username: String,
    pub user_id: i64,
    pub persona: Persona,
    pub totp: bool,
    pub utc_offset_min: i32,
    pub home: Place,
    pub office: Option<Place>,
    pub vpn_exit: Option<Place>,
    pub phone: bool,
    pub laptop_user_agent: String,
    pub phone_user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackTruth {
    pub id: String,
    pub kind: AttackKind,
    pub description: &'static str,
    pub wave: u32,
    pub victim: VictimTruth,
    pub attacker: AttackerTruth,
    /// When the thief got hold of the session (planned; `observed` has what happened).
    pub stolen_at_ms: i64,
    /// First planned thief request: the attack is "on" from here.
    pub from_ms: i64,
    pub planned_until_ms: i64,
    /// How the victim's own use was shaped around the attack.
    pub victim_behaviour: Constraint,
    pub observed: Observed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VictimTruth {
    pub username: String,
    pub user_id: i64,
    /// The attacked session (`sid`); `null` until the theft happened.
    pub session_id: Option<String>,
    pub home: Place,
    pub user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackerTruth {
    /// Addresses the thief was planned to use (for `rate_abuse`: empty, see `observed.ips`).
    pub planned: Vec<Place>,
    pub user_agent: String,
    /// From the victim's home city (0 for `rate_abuse`).
    pub distance_km: f64,
    /// True when the thief used the victim's own address and user agent.
    pub rides_victim_network: bool,
}

/// What the thief actually did, as authd answered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    pub stolen_at_ms: Option<i64>,
    /// `/api` requests sent (each is one activity row).
    pub requests: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Of the denied: 401s (revoked or expired credentials).
    pub unauthorized: u64,
    pub first_request_ms: Option<i64>,
    pub last_request_ms: Option<i64>,
    pub first_denied_ms: Option<i64>,
    /// Denial reason (`session_revoked`, `token_expired`, `not_found`, ...) -> count.
    pub denial_reasons: BTreeMap<String, u64>,
    /// Refresh-token rotations the thief performed (`idle_replay`).
    pub refreshes: u64,
    /// Refreshes authd refused.
    pub refresh_refused: u64,
    /// Distinct addresses used, in order of first use.
    pub ips: Vec<IpAddr>,
    /// Planned steps skipped because the theft had not happened (the victim held no session).
    pub skipped: u64,
    /// True once the thief stopped trying after repeated refusals.
    pub gave_up: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenignTruth {
    /// Morning traffic through a VPN exit in another country, afternoons from home.
    Vpn {
        username: String,
        home: Place,
        exit: Place,
    },
    /// A request every 15-45 s all working day.
    PowerUser { username: String },
    #[serde(untagged)]
    Other(Benign),
}

impl GroundTruth {
    /// Writes the file atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}
