//! The time authd's user plane runs on: token issuance and verification, activity timestamps,
//! refresh and revocation.
//!
//! It is the system clock everywhere except in `gatehouse-authd demo`, whose fast mode writes
//! days of history in seconds: it builds the server with a [`Clock::manual`] clock, moves it
//! forward before each simulated request, and hands back to the system clock when the history
//! reaches the present. Only code holding the [`Clock`] value (the process that built the
//! [`Config`](crate::Config)) can move it; no route, header or `serve` flag can.
//!
//! The admin plane (admin tokens, rate limits, audit events) and challenge tokens keep the
//! system clock: they belong to the operator, who lives in real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Stored in a manual clock once it follows the system clock again.
const FOLLOW_SYSTEM: i64 = i64::MIN;

/// System time, or a manual time shared by every clone.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock (the default).
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands at `start_ms` (unix milliseconds) until moved.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start_ms.max(0)))))
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(t) => match t.load(Ordering::SeqCst) {
                FOLLOW_SYSTEM => crate::db::now_ms(),
                ms => ms,
            },
            None => crate::db::now_ms(),
        }
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves a manual clock forward to `ms`; never backwards (an earlier `ms` is ignored).
    /// Fails on the system clock and once the clock follows the system clock again.
    pub fn advance_to(&self, ms: i64) -> Result<(), ClockError> {
        let t = self.0.as_ref().ok_or(ClockError::NotManual)?;
        t.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
            (cur != FOLLOW_SYSTEM).then_some(cur.max(ms))
        })
        .map(|_| ())
        .map_err(|_| ClockError::NotManual)
    }

    /// Hands a manual clock back to the system clock, for good. Time does not jump backwards
    /// as long as the manual time was not ahead of the system clock.
    pub fn follow_system(&self) {
        if let Some(t) = &self.0 {
            t.store(FOLLOW_SYSTEM, Ordering::SeqCst);
        }
    }

    /// Whether something other than the system clock decides the time.
    pub fn is_manual(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.load(Ordering::SeqCst) != FOLLOW_SYSTEM)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_manual() {
            write!(f, "Clock::manual({})", self.now_ms())
        } else {
            f.write_str("Clock::system")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("only a manual clock that does not follow the system clock can be moved")]
    NotManual,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_only_and_can_hand_back_to_the_system() {
        let c = Clock::manual(1_000_000);
        let shared = c.clone();
        assert_eq!(c.now_ms(), 1_000_000);
        assert_eq!(c.now(), 1_000);
        shared.advance_to(2_500_000).unwrap();
        assert_eq!(c.now_ms(), 2_500_000);
        shared.advance_to(10).unwrap();
        assert_eq!(c.now_ms(), 2_500_000, "never backwards");
        assert!(c.is_manual());
        c.follow_system();
        assert!(!shared.is_manual());
        assert!((shared.now_ms() - crate::db::now_ms()).abs() < 5_000);
        assert!(shared.advance_to(3_000_000).is_err());
        assert!(Clock::system().advance_to(1).is_err());
    }
}
