//! Server configuration, validated once into typed values.
//!
//! The CLI (and tests) fill [`Config`]; everything downstream reads durations and addresses, not
//! strings. Defaults live in [`Config::new`], documented field by field.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;
use crate::secrets::Sensitive;

/// Audience of user access tokens; admin tokens never carry it.
pub const API_AUDIENCE: &str = "gatehouse-api";
/// Audience of admin tokens; user tokens never carry it.
pub const ADMIN_AUDIENCE: &str = "gatehouse-admin";

/// Where the SQLite database lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// A file, created if missing, in WAL mode.
    File(PathBuf),
    /// A private in-memory database (lost at exit): for `serve` without `--db` and unit tests.
    Memory,
}

/// Argon2id cost. Production defaults follow OWASP (19 MiB, 2 passes); tests use cheap ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    pub const DEFAULT: HashCost = HashCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// Valid Argon2id, fast enough for tests and the demo. Never for real passwords.
    pub const INSECURE_FAST: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
}

/// Fixed-window rate limit for the admin API.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

/// An admin client provisioned from configuration (the demo), besides the ones in the DB.
#[derive(Debug, Clone)]
pub struct BootstrapClient {
    pub client_id: String,
    pub secret: Sensitive<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: Database,
    /// `iss` of every token and the base of discovery URLs, e.g. `http://127.0.0.1:8420`.
    pub issuer: String,
    /// Lifetime of user access tokens. Default 10 min.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (each rotation starts a new one). Default 30 days.
    pub refresh_ttl: Duration,
    /// Lifetime of admin tokens. Default 5 min.
    pub admin_token_ttl: Duration,
    /// Lifetime of reset and enrollment challenges. Default 10 min.
    pub challenge_ttl: Duration,
    /// Clock skew tolerated when verifying. Default 30 s.
    pub leeway: Duration,
    /// Socket peers whose `X-Forwarded-For` is believed. Default none.
    pub trusted_proxies: Vec<IpAddr>,
    pub admin_clients: Vec<BootstrapClient>,
    /// Per admin client. Default 600 requests per minute.
    pub admin_rate_limit: RateLimit,
    pub hash_cost: HashCost,
    /// Largest accepted request body. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Largest accepted sum of header names and values. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Activity rows per insert transaction. Default 500.
    pub activity_batch_rows: usize,
    /// Longest a recorded request waits before it is written. Default 100 ms.
    pub activity_flush_interval: Duration,
    /// Capacity of the channel between requests and the activity writer. Default 65 536.
    pub activity_queue: usize,
    /// Time of the user plane. Default the system clock; only the demo's fast mode passes a
    /// manual one (see [`crate::clock`]).
    pub clock: Clock,
}

impl Config {
    pub fn new(database: Database, issuer: impl Into<String>) -> Config {
        Config {
            database,
            issuer: issuer.into(),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            admin_token_ttl: Duration::from_secs(300),
            challenge_ttl: Duration::from_secs(600),
            leeway: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            admin_clients: Vec::new(),
            admin_rate_limit: RateLimit {
                limit: 600,
                window: Duration::from_secs(60),
            },
            hash_cost: HashCost::DEFAULT,
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            activity_batch_rows: 500,
            activity_flush_interval: Duration::from_millis(100),
            activity_queue: 65_536,
            clock: Clock::system(),
        }
    }

    /// Rejects values that would make the server unsafe or useless.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.is_empty() || self.issuer.ends_with('/') {
            return Err(ConfigError::Issuer);
        }
        for (name, ttl, max) in [
            ("access-ttl", self.access_ttl, 24 * 3600),
            ("admin-token-ttl", self.admin_token_ttl, 3600),
        ] {
            if ttl.as_secs() == 0 || ttl.as_secs() > max {
                return Err(ConfigError::Ttl(name, max));
            }
        }
        if self.admin_rate_limit.limit == 0 || self.admin_rate_limit.window.is_zero() {
            return Err(ConfigError::RateLimit);
        }
        if self.activity_batch_rows == 0 || self.activity_queue == 0 {
            return Err(ConfigError::Activity);
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("issuer must be a non-empty URL without a trailing slash")]
    Issuer,
    #[error("{0} must be between 1 s and {1} s")]
    Ttl(&'static str, u64),
    #[error("the admin rate limit needs a positive limit and window")]
    RateLimit,
    #[error("activity batch size and queue must be positive")]
    Activity,
    #[error("invalid duration {0:?}: use e.g. 90s, 10m, 2h, 30d")]
    Duration(String),
}

/// Parses `90s`, `10m`, `2h`, `30d` or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let err = || ConfigError::Duration(s.to_owned());
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    n.checked_mul(mult).map(Duration::from_secs).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn validation_rejects_trailing_slash_and_zero_ttl() {
        let mut c = Config::new(Database::Memory, "http://x/");
        assert!(c.validate().is_err());
        c.issuer = "http://x".into();
        assert!(c.validate().is_ok());
        c.access_ttl = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
