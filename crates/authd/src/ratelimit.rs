//! Fixed-window rate limiting for the admin API, per client.
//!
//! A fixed window maps directly onto the `RateLimit-Limit/Remaining/Reset` headers the console
//! reads to pace itself; state is one small entry per client in memory (a restart forgives).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::RateLimit;

/// The outcome of one request against a client's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_secs: u64,
}

pub struct RateLimiter {
    config: RateLimit,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(config: RateLimit) -> Self {
        Self {
            config,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, key: &str) -> Quota {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Quota {
        let mut map = match self.windows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if map.len() > 10_000 {
            let window = self.config.window;
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let slot = map.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(slot.0) >= self.config.window {
            *slot = (now, 0);
        }
        let elapsed = now.duration_since(slot.0);
        let reset = self.config.window.saturating_sub(elapsed);
        let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        let allowed = slot.1 < self.config.limit;
        if allowed {
            slot.1 += 1;
        }
        Quota {
            allowed,
            limit: self.config.limit,
            remaining: self.config.limit - slot.1.min(self.config.limit),
            reset_secs: reset_secs.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn window_counts_down_refuses_then_resets() {
        let rl = RateLimiter::new(RateLimit {
            limit: 2,
            window: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        let a = rl.check_at("c", t0);
        assert!(a.allowed);
        assert_eq!(a.remaining, 1);
        assert_eq!(a.reset_secs, 10);
        assert!(rl.check_at("c", t0).allowed);
        let c = rl.check_at("c", t0 + Duration::from_millis(2500));
        assert!(!c.allowed);
        assert_eq!(c.remaining, 0);
        assert_eq!(c.reset_secs, 8);
        // Another client has its own window.
        assert!(rl.check_at("other", t0).allowed);
        assert!(rl.check_at("c", t0 + Duration::from_secs(10)).allowed);
    }
}
