//! `gatehouse-guard`: revocation that reaches every resource server.
//!
//! A stolen JWT keeps working until `exp` at any API that only checks its signature. The
//! guard closes that window for a tower/axum server: it verifies the token with the same
//! strict checks authd uses (`gatehouse_jwt::access`, one implementation), then checks a
//! local revocation set that authd's feed keeps current — pushed over Server-Sent Events,
//! with `GET /revocations?since=` catch-up on start and after every reconnect, so an event
//! missed while the stream was down is never lost.
//!
//! When the feed cannot be reached, [`FailMode`] decides what happens once the set is older
//! than the staleness bound: refuse every request (`Closed`, 503) or keep serving on the last
//! known set (`Open`), either way logged and counted in [`Metrics`].
//!
//! * [`Guard::start`] — fetch the JWKS, start following the feed.
//! * [`GuardLayer`] — the tower layer; accepted requests carry the [`AccessToken`] as an
//!   extension (request and response), refused ones get 401 (or 503) and a [`Denied`]
//!   response extension.
//! * [`Guard::check`] — the same decision without HTTP.

mod feed;
mod layer;
mod metrics;
mod revset;
mod sse;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use gatehouse_jwt::access::{self, Sid};
use gatehouse_jwt::{KeySet, MAX_JWKS_BYTES, Policy, RejectReason, Verifier};

pub use gatehouse_jwt::access::AccessToken;
pub use layer::{GuardLayer, GuardService, bearer};
pub use metrics::{FeedMetrics, Metrics};
pub use revset::FeedEntry;

use metrics::Counters;
use revset::{RevocationSet, Revoked};

/// What to do when the revocation feed has been unreachable for longer than the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Refuse every request (503 `revocation_feed_stale`) until the feed is back.
    Closed,
    /// Keep accepting tokens against the last known set (counted and logged).
    Open,
}

/// Unix seconds; injected so tests can pin the clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// How a guard is set up.
#[derive(Clone)]
pub struct GuardConfig {
    /// authd's base URL: the feed is `{authd}/revocations` and `{authd}/revocations/stream`.
    pub authd: String,
    /// Usually `{authd}/.well-known/jwks.json`.
    pub jwks_url: String,
    /// Issuer, audience, algorithms, leeway, lifetime cap, required claims.
    pub policy: Policy,
    pub sid: Sid,
    pub fail_mode: FailMode,
    /// How long the set may go without being confirmed current before [`FailMode`] applies.
    pub staleness_bound: Duration,
    /// Minimum time between JWKS fetches triggered by an unknown `kid`.
    pub jwks_min_refresh: Duration,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
    /// A stream silent for this long is treated as dead (authd sends keep-alives every 15 s).
    pub idle_timeout: Duration,
    pub clock: Clock,
}

impl GuardConfig {
    /// authd's access-token profile (EdDSA, `sid` required, 60 s leeway, at most 1 h
    /// lifetime) against an authd at `authd`, failing closed after 30 s without the feed.
    pub fn for_authd(authd: &str, issuer: &str, audience: &str) -> GuardConfig {
        let authd = authd.trim_end_matches('/').to_owned();
        GuardConfig {
            jwks_url: format!("{authd}/.well-known/jwks.json"),
            authd,
            policy: access::access_policy(issuer, audience, 60, 3600),
            sid: Sid::Required,
            fail_mode: FailMode::Closed,
            staleness_bound: Duration::from_secs(30),
            jwks_min_refresh: Duration::from_secs(10),
            max_backoff: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(45),
            clock: system_clock(),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    MissingToken,
    /// Verification failed (signature, header rules, claims, time).
    Token(RejectReason),
    TokenRevoked,
    SessionRevoked,
    UserRevoked,
    /// Fail-closed: the revocation set is older than the staleness bound.
    FeedStale,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::Token(r) => r.as_str(),
            Reason::TokenRevoked => "token_revoked",
            Reason::SessionRevoked => "session_revoked",
            Reason::UserRevoked => "user_revoked",
            Reason::FeedStale => "revocation_feed_stale",
        }
    }
}

/// A refusal: the reason, and who the token named when it verified (a revoked token's
/// holder is still worth recording).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: Reason,
    pub token: Option<AccessToken>,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("fetching {what} failed: {detail}")]
    Fetch { what: &'static str, detail: String },
    #[error("the JWKS was refused: {0}")]
    Jwks(String),
}

struct FeedState {
    cursor: AtomicI64,
    head: AtomicI64,
    connected: AtomicBool,
    /// When the set was last known current (`None` before the first sync).
    current_at: Mutex<Option<Instant>>,
    /// Set while stale, so the transition is logged once.
    stale_logged: AtomicBool,
    etag: Mutex<Option<String>>,
}

struct Inner {
    config: GuardConfig,
    http: reqwest::Client,
    verifier: RwLock<Arc<Verifier>>,
    jwks_fetched: tokio::sync::Mutex<Option<Instant>>,
    revoked: RwLock<RevocationSet>,
    feed: FeedState,
    counters: Counters,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A running guard. Cheap to clone; the feed task stops on [`Guard::stop`].
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Guard {
    /// Builds the guard, fetches the JWKS once (an unreachable JWKS is retried on the first
    /// token, not fatal) and starts following the feed.
    pub async fn start(config: GuardConfig) -> Result<Guard, GuardError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| GuardError::Fetch {
                what: "http client",
                detail: e.to_string(),
            })?;
        let verifier = Verifier::new(config.policy.clone(), KeySet::new());
        let guard = Guard {
            inner: Arc::new(Inner {
                config,
                http,
                verifier: RwLock::new(Arc::new(verifier)),
                jwks_fetched: tokio::sync::Mutex::new(None),
                revoked: RwLock::new(RevocationSet::default()),
                feed: FeedState {
                    cursor: AtomicI64::new(0),
                    head: AtomicI64::new(0),
                    connected: AtomicBool::new(false),
                    current_at: Mutex::new(None),
                    stale_logged: AtomicBool::new(false),
                    etag: Mutex::new(None),
                },
                counters: Counters::default(),
                task: Mutex::new(None),
            }),
        };
        if let Err(e) = guard.refresh_keys(true).await {
            tracing::warn!(error = %e, "initial JWKS fetch failed; retried on the first token");
        }
        let task = tokio::spawn(feed::follow(guard.clone()));
        *lock(&guard.inner.task) = Some(task);
        Ok(guard)
    }

    /// Stops following the feed (the set then goes stale after the bound).
    pub fn stop(&self) {
        if let Some(t) = lock(&self.inner.task).take() {
            t.abort();
        }
        self.inner.feed.connected.store(false, Ordering::Release);
    }

    /// Waits until the revocation set has been synced at least once.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if lock(&self.inner.feed.current_at).is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    pub fn config(&self) -> &GuardConfig {
        &self.inner.config
    }

    /// Verification, then revocation, then the staleness rule.
    pub async fn check(&self, token: Option<&str>) -> Result<AccessToken, Denied> {
        let verdict = self.decide(token).await;
        let c = &self.inner.counters;
        match &verdict {
            Ok(_) => {
                c.verified.fetch_add(1, Ordering::Relaxed);
            }
            Err(d) => c.reject(d.reason),
        }
        verdict
    }

    async fn decide(&self, token: Option<&str>) -> Result<AccessToken, Denied> {
        let Some(token) = token else {
            return Err(Denied {
                reason: Reason::MissingToken,
                token: None,
            });
        };
        let at = self.verify(token).await.map_err(|r| Denied {
            reason: Reason::Token(r),
            token: None,
        })?;
        let revoked = {
            let set = self
                .inner
                .revoked
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            set.check(&at.sub, at.sid.as_deref(), &at.jti, at.iat)
        };
        if let Err(r) = revoked {
            let reason = match r {
                Revoked::Token => Reason::TokenRevoked,
                Revoked::Session => Reason::SessionRevoked,
                Revoked::User => Reason::UserRevoked,
            };
            return Err(Denied {
                reason,
                token: Some(at),
            });
        }
        if !self.is_fresh() {
            self.log_stale();
            match self.inner.config.fail_mode {
                FailMode::Closed => {
                    return Err(Denied {
                        reason: Reason::FeedStale,
                        token: Some(at),
                    });
                }
                FailMode::Open => {
                    self.inner
                        .counters
                        .accepted_while_stale
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(at)
    }

    /// Strict verification; an unknown `kid` refreshes the JWKS (rate-limited) and retries once.
    async fn verify(&self, token: &str) -> Result<AccessToken, RejectReason> {
        let now = (self.inner.config.clock)();
        let first = access::verify_access(&self.verifier(), token, now, self.inner.config.sid);
        match first {
            Err(r) if r.reason == RejectReason::UnknownKid => {
                if self.refresh_keys(false).await.unwrap_or(false) {
                    access::verify_access(&self.verifier(), token, now, self.inner.config.sid)
                        .map_err(|r| r.reason)
                } else {
                    Err(r.reason)
                }
            }
            other => other.map_err(|r| r.reason),
        }
    }

    fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(
            &self
                .inner
                .verifier
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Fetches the JWKS unless one was fetched within `jwks_min_refresh` (unless `force`).
    /// Returns whether new keys were installed.
    async fn refresh_keys(&self, force: bool) -> Result<bool, GuardError> {
        let mut last = self.inner.jwks_fetched.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < self.inner.config.jwks_min_refresh) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let fetch_err = |e: reqwest::Error| GuardError::Fetch {
            what: "JWKS",
            detail: e.without_url().to_string(),
        };
        let resp = self
            .inner
            .http
            .get(&self.inner.config.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fetch_err)?;
        if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(GuardError::Jwks("larger than the JWKS size limit".into()));
        }
        let bytes = resp.bytes().await.map_err(fetch_err)?;
        let keys = KeySet::from_jwks_json(&bytes).map_err(|e| GuardError::Jwks(e.to_string()))?;
        let kids = keys.kids();
        let verifier = Verifier::new(self.inner.config.policy.clone(), keys);
        *self
            .inner
            .verifier
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(verifier);
        self.inner.counters.jwks_refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(?kids, "JWKS loaded");
        Ok(true)
    }

    fn since_current(&self) -> Option<Duration> {
        lock(&self.inner.feed.current_at).map(|t| t.elapsed())
    }

    /// Connected to the stream, or confirmed current within the staleness bound.
    pub fn is_fresh(&self) -> bool {
        if self.inner.feed.connected.load(Ordering::Acquire) {
            return true;
        }
        self.since_current()
            .is_some_and(|d| d <= self.inner.config.staleness_bound)
    }

    fn log_stale(&self) {
        if !self.inner.feed.stale_logged.swap(true, Ordering::AcqRel) {
            let mode = match self.inner.config.fail_mode {
                FailMode::Closed => "fail-closed: refusing requests",
                FailMode::Open => "fail-open: accepting on the last known set",
            };
            tracing::warn!(
                since_current_ms = self.since_current().map(|d| d.as_millis() as u64),
                bound_ms = self.inner.config.staleness_bound.as_millis() as u64,
                "revocation feed stale; {mode}"
            );
        }
    }

    pub(crate) fn mark_current(&self) {
        *lock(&self.inner.feed.current_at) = Some(Instant::now());
        if self.inner.feed.stale_logged.swap(false, Ordering::AcqRel) {
            tracing::info!("revocation feed current again");
        }
    }

    pub(crate) fn apply(&self, entries: &[FeedEntry]) {
        if entries.is_empty() {
            return;
        }
        let now = (self.inner.config.clock)();
        let unknown = {
            let mut set = self
                .inner
                .revoked
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            set.apply(entries, now)
        };
        let c = &self.inner.counters;
        c.feed_entries.fetch_add(entries.len() as u64, Ordering::Relaxed);
        if unknown > 0 {
            c.feed_unknown_entries
                .fetch_add(unknown as u64, Ordering::Relaxed);
            tracing::warn!(unknown, "feed entries of an unknown kind were ignored");
        }
        if let Some(max) = entries.iter().map(|e| e.cursor).max() {
            self.inner.feed.cursor.fetch_max(max, Ordering::AcqRel);
            self.inner.feed.head.fetch_max(max, Ordering::AcqRel);
        }
    }

    pub(crate) fn prune(&self) {
        let now = (self.inner.config.clock)();
        let n = self
            .inner
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .prune(now);
        if n > 0 {
            tracing::debug!(pruned = n, "expired revocations dropped");
        }
    }

    /// A snapshot of the counters and the feed state.
    pub fn metrics(&self) -> Metrics {
        let f = &self.inner.feed;
        let connected = f.connected.load(Ordering::Acquire);
        let cursor = f.cursor.load(Ordering::Acquire);
        let head = f.head.load(Ordering::Acquire).max(cursor);
        let lag_ms = if connected {
            Some(0)
        } else {
            self.since_current().map(|d| d.as_millis() as u64)
        };
        let held = self
            .inner
            .revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        let c = &self.inner.counters;
        Metrics::from_counters(
            c,
            FeedMetrics {
                connected,
                fresh: self.is_fresh(),
                cursor,
                head,
                lag_entries: head - cursor,
                lag_ms,
                entries_applied: c.feed_entries.load(Ordering::Relaxed),
                unknown_entries: c.feed_unknown_entries.load(Ordering::Relaxed),
                reconnects: c.feed_reconnects.load(Ordering::Relaxed),
                revocations_held: held,
            },
        )
    }
}
