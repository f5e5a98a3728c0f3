//! Counters a resource server exposes: verified requests, rejections by reason, and how far
//! behind authd's feed the local revocation set is. Lock-free on the request path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_jwt::RejectReason;
use serde::Serialize;

use crate::Reason;

/// Every reason a request can be refused for, in a fixed order (metric labels).
pub(crate) const REASONS: usize = RejectReason::ALL.len() + 5;

pub(crate) fn reason_index(r: Reason) -> usize {
    match r {
        Reason::Token(t) => RejectReason::ALL.iter().position(|x| *x == t).unwrap_or(0),
        Reason::MissingToken => RejectReason::ALL.len(),
        Reason::TokenRevoked => RejectReason::ALL.len() + 1,
        Reason::SessionRevoked => RejectReason::ALL.len() + 2,
        Reason::UserRevoked => RejectReason::ALL.len() + 3,
        Reason::FeedStale => RejectReason::ALL.len() + 4,
    }
}

fn reason_at(i: usize) -> Reason {
    match i.checked_sub(RejectReason::ALL.len()) {
        None => Reason::Token(RejectReason::ALL[i]),
        Some(0) => Reason::MissingToken,
        Some(1) => Reason::TokenRevoked,
        Some(2) => Reason::SessionRevoked,
        Some(3) => Reason::UserRevoked,
        Some(_) => Reason::FeedStale,
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) verified: AtomicU64,
    pub(crate) accepted_while_stale: AtomicU64,
    pub(crate) rejected: [AtomicU64; REASONS],
    pub(crate) jwks_refreshes: AtomicU64,
    pub(crate) feed_entries: AtomicU64,
    pub(crate) feed_reconnects: AtomicU64,
    pub(crate) feed_unknown_entries: AtomicU64,
}

impl Counters {
    pub(crate) fn reject(&self, r: Reason) {
        self.rejected[reason_index(r)].fetch_add(1, Ordering::Relaxed);
    }
}

/// A point-in-time copy of the guard's counters and feed state.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    /// Requests that passed verification and the revocation check.
    pub verified: u64,
    /// Of those, accepted while the feed was stale (fail-open only).
    pub accepted_while_stale: u64,
    /// Refusals by reason (only reasons seen so far).
    pub rejected: BTreeMap<&'static str, u64>,
    pub jwks_refreshes: u64,
    pub feed: FeedMetrics,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedMetrics {
    /// The SSE stream is open.
    pub connected: bool,
    /// Within the staleness bound (or connected).
    pub fresh: bool,
    /// Last feed cursor applied.
    pub cursor: i64,
    /// authd's head at the last catch-up (>= cursor).
    pub head: i64,
    /// Feed lag in entries: head - cursor at the last catch-up.
    pub lag_entries: i64,
    /// Milliseconds since the set was last known current (0 while connected; `None` before
    /// the first sync).
    pub lag_ms: Option<u64>,
    pub entries_applied: u64,
    pub unknown_entries: u64,
    pub reconnects: u64,
    /// Revocations held in memory (bounded by token lifetimes).
    pub revocations_held: usize,
}

impl Metrics {
    pub(crate) fn from_counters(c: &Counters, feed: FeedMetrics) -> Metrics {
        let mut rejected = BTreeMap::new();
        for (i, n) in c.rejected.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                rejected.insert(reason_at(i).as_str(), n);
            }
        }
        Metrics {
            verified: c.verified.load(Ordering::Relaxed),
            accepted_while_stale: c.accepted_while_stale.load(Ordering::Relaxed),
            rejected,
            jwks_refreshes: c.jwks_refreshes.load(Ordering::Relaxed),
            feed,
        }
    }

    /// Prometheus text exposition.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE gatehouse_guard_verified_total counter");
        let _ = writeln!(out, "gatehouse_guard_verified_total {}", self.verified);
        let _ = writeln!(out, "# TYPE gatehouse_guard_accepted_while_stale_total counter");
        let _ = writeln!(
            out,
            "gatehouse_guard_accepted_while_stale_total {}",
            self.accepted_while_stale
        );
        let _ = writeln!(out, "# TYPE gatehouse_guard_rejected_total counter");
        for (reason, n) in &self.rejected {
            let _ = writeln!(out, "gatehouse_guard_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(out, "# TYPE gatehouse_guard_jwks_refreshes_total counter");
        let _ = writeln!(
            out,
            "gatehouse_guard_jwks_refreshes_total {}",
            self.jwks_refreshes
        );
        let f = &self.feed;
        let _ = writeln!(out, "# TYPE gatehouse_guard_feed_connected gauge");
        let _ = writeln!(out, "gatehouse_guard_feed_connected {}", u8::from(f.connected));
        let _ = writeln!(out, "# TYPE gatehouse_guard_feed_fresh gauge");
        let _ = writeln!(out, "gatehouse_guard_feed_fresh {}", u8::from(f.fresh));
        let _ = writeln!(out, "# TYPE gatehouse_guard_feed_lag_entries gauge");
        let _ = writeln!(out, "gatehouse_guard_feed_lag_entries {}", f.lag_entries);
        if let Some(ms) = f.lag_ms {
            let _ = writeln!(out, "# TYPE gatehouse_guard_feed_lag_seconds gauge");
            let _ = writeln!(out, "gatehouse_guard_feed_lag_seconds {:.3}", ms as f64 / 1000.0);
        }
        let _ = writeln!(out, "# TYPE gatehouse_guard_feed_reconnects_total counter");
        let _ = writeln!(out, "gatehouse_guard_feed_reconnects_total {}", f.reconnects);
        let _ = writeln!(out, "# TYPE gatehouse_guard_revocations_held gauge");
        let _ = writeln!(out, "gatehouse_guard_revocations_held {}", f.revocations_held);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_label() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..REASONS {
            let r = reason_at(i);
            assert_eq!(reason_index(r), i);
            assert!(seen.insert(r.as_str()), "duplicate label {}", r.as_str());
        }
    }
}
