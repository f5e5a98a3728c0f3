//! The one HTTP client every backend adapter uses: rustls with the platform's trust store (plus
//! an optional extra root for corporate TLS proxies), explicit timeouts, retries with jittered
//! exponential backoff for idempotent calls, 429 handling that honours `Retry-After` and
//! `RateLimit-Reset`, and the one place where status codes become typed errors.
//!
//! Every request of one client passes one [`RateGate`]: at most `max_in_flight` requests at a
//! time, and when the backend says its budget is spent (a 429, or a `*-RateLimit-Remaining: 0`
//! header) every worker of a bulk run waits for the reset together instead of each finding out
//! on its own.
//!
//! Bodies from a backend are untrusted: error messages keep at most a short, control-character-free
//! excerpt, and nothing from a request (tokens, secrets) is ever put into an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;

use crate::ErrorKind;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the backend refused the credential ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("the backend rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the backend is rate limiting us; retries exhausted (retry after {retry_after_secs:?} s)")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("the backend failed ({status}): {message}")]
    Server { status: u16, message: String },
    #[error("cannot reach the backend: {0}")]
    Transport(String),
    #[error("the backend answered something we cannot read: {0}")]
    Decode(String),
    #[error("invalid HTTP client settings: {0}")]
    Config(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Rejected { .. } => ErrorKind::Validation,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Server { .. } | Error::Transport(_) | Error::Decode(_) => ErrorKind::Upstream,
            Error::Config(_) => ErrorKind::Validation,
        }
    }

    /// Whether a retry of an idempotent request may succeed.
    fn retryable(&self) -> bool {
        match self {
            Error::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            Error::Transport(_) | Error::RateLimited { .. } => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest single wait a 429 may ask for before we give up and report it.
    pub max_rate_limit_wait: Duration,
    /// The most time one request may spend waiting out 429s in all. Waits asked for by the
    /// server do not use up `max_attempts`: a storm is ridden out as long as this budget lasts.
    pub rate_limit_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_rate_limit_wait: Duration::from_secs(60),
            rate_limit_budget: Duration::from_secs(180),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub timeout: Option<Duration>,
    /// A PEM file with extra trusted roots (added to the platform's).
    pub ca_file: Option<std::path::PathBuf>,
    pub retry: RetryPolicy,
    /// Requests in flight at once through this client (0: [`DEFAULT_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

pub const DEFAULT_IN_FLIGHT: usize = 8;

#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    retry: RetryPolicy,
    gate: Arc<RateGate>,
}

/// The rate-limit state shared by every request of one client: a cap on requests in flight and a
/// pause that a 429 or an exhausted budget header sets for all of them.
#[derive(Debug)]
pub struct RateGate {
    permits: tokio::sync::Semaphore,
    paused_until: std::sync::Mutex<Option<Instant>>,
}

impl RateGate {
    pub fn new(max_in_flight: usize) -> RateGate {
        RateGate {
            permits: tokio::sync::Semaphore::new(max_in_flight.max(1)),
            paused_until: std::sync::Mutex::new(None),
        }
    }

    /// Holds back every request until `wait` has passed (the longest pause asked for wins).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
    }

    /// How long requests must still wait (zero when not paused).
    pub fn remaining_pause(&self) -> Duration {
        let p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        p.map(|u| u.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    async fn enter(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        loop {
            let wait = self.remaining_pause();
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        self.permits
            .acquire()
            .await
            .map_err(|_| Error::Config("the request gate is closed".into()))
    }

    /// Reads the budget headers of a response: when nothing is left, pause until the reset —
    /// unless the reset is further away than `longest` (what the retry policy would wait out):
    /// then the next request goes and its 429 is reported instead of silently waited for.
    fn observe(&self, headers: &HeaderMap, longest: Duration) {
        if remaining_budget(headers) == Some(0)
            && let Some(secs) = retry_after(headers)
            && Duration::from_secs(secs) <= longest
        {
            self.pause(Duration::from_secs(secs));
        }
    }
}

/// `X-RateLimit-Remaining` (Auth0), `X-Rate-Limit-Remaining` (Okta) or `RateLimit-Remaining`.
pub fn remaining_budget(headers: &HeaderMap) -> Option<u64> {
    [
        "x-ratelimit-remaining",
        "x-rate-limit-remaining",
        "ratelimit-remaining",
    ]
    .iter()
    .find_map(|n| headers.get(*n)?.to_str().ok()?.trim().parse().ok())
}

/// The target of the `Link` header's `rel="next"` entry (RFC 8288), as Kratos and Okta page.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_string())
        })
}

/// Whether a request may be repeated without changing the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    /// Repeated only when the server certainly did not process it (429).
    Once,
}

impl HttpClient {
    pub fn new(options: ClientOptions) -> Result<HttpClient, Error> {
        let timeout = options.timeout.unwrap_or(Duration::from_secs(20));
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(false);
        if let Some(path) = &options.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let inner = builder.build().map_err(|e| Error::Config(e.to_string()))?;
        let in_flight = if options.max_in_flight == 0 {
            DEFAULT_IN_FLIGHT
        } else {
            options.max_in_flight
        };
        Ok(HttpClient {
            inner,
            retry: options.retry,
            gate: Arc::new(RateGate::new(in_flight)),
        })
    }

    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends the request built by `build` (called again for each attempt) and decodes JSON.
    pub async fn json<T: DeserializeOwned>(
        &self,
        idempotency: Idempotency,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, Error> {
        Ok(self.json_with_headers(idempotency, build).await?.0)
    }

    /// [`Self::json`], also returning the response headers (paging links, budgets).
    pub async fn json_with_headers<T: DeserializeOwned>(
        &self,
        idempotency: Idempotency,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(T, HeaderMap), Error> {
        let resp = self.send(idempotency, build).await?;
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| Error::Transport(describe(&e)))?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Decode(format!("{e} in {}", excerpt(&bytes))))?;
        Ok((value, headers))
    }

    /// The shared rate-limit state of this client.
    pub fn gate(&self) -> &RateGate {
        &self.gate
    }

    /// Sends with retries; returns the first successful (2xx/3xx) response.
    pub async fn send(
        &self,
        idempotency: Idempotency,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, Error> {
        let mut attempt = 0u32;
        let mut rate_limited_for = Duration::ZERO;
        loop {
            let outcome = {
                let _permit = self.gate.enter().await?;
                match build().send().await {
                    Ok(resp) => {
                        self.gate.observe(resp.headers(), self.retry.max_rate_limit_wait);
                        check(resp).await
                    }
                    Err(e) => Err(Error::Transport(describe(&e))),
                }
            };
            let err = match outcome {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            let wait = match &err {
                // The server did not process the request and said when to come back.
                Error::RateLimited { retry_after_secs } => {
                    let asked = retry_after_secs
                        .map(Duration::from_secs)
                        .unwrap_or(self.retry.base_delay * 4);
                    if asked > self.retry.max_rate_limit_wait
                        || rate_limited_for + asked > self.retry.rate_limit_budget
                    {
                        return Err(err);
                    }
                    let wait = asked + jitter(Duration::from_millis(250));
                    rate_limited_for += wait;
                    // Every other request of this client waits too: the budget is shared.
                    self.gate.pause(asked);
                    wait
                }
                _ => {
                    attempt += 1;
                    let may_retry = idempotency == Idempotency::Idempotent && err.retryable();
                    if !may_retry || attempt >= self.retry.max_attempts {
                        return Err(err);
                    }
                    backoff(&self.retry, attempt)
                }
            };
            tracing::debug!(attempt, ?wait, error = %err, "retrying backend request");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^attempt)].
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_delay.saturating_mul(1u32 << attempt.min(16));
    jitter(exp.min(policy.max_delay)).max(Duration::from_millis(10))
}

fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis().min(u128::from(u64::MAX)) as u64;
    Duration::from_millis(if ms == 0 { 0 } else { rand::random_range(0..=ms) })
}

/// Maps a response's status to an error, or passes it through.
async fn check(resp: Response) -> Result<Response, Error> {
    let status = resp.status();
    if status.is_success() || status.is_redirection() {
        return Ok(resp);
    }
    let retry_after_secs = retry_after(resp.headers());
    let body = resp.bytes().await.unwrap_or_default();
    let message = error_message(&body);
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
            status: status.as_u16(),
            message,
        },
        StatusCode::NOT_FOUND => Error::NotFound { message },
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited { retry_after_secs },
        s if s.is_server_error() => Error::Server {
            status: s.as_u16(),
            message,
        },
        s => Error::Rejected {
            status: s.as_u16(),
            message,
        },
    })
}

/// `Retry-After` (seconds or an HTTP date), else `RateLimit-Reset` / `X-RateLimit-Reset`
/// (seconds to wait, or an epoch time as Okta and Auth0 send it).
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(secs);
        }
        if let Ok(when) = chrono::DateTime::parse_from_rfc2822(v) {
            return Some((when.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64);
        }
    }
    for name in ["ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset"] {
        if let Some(n) = get(name).and_then(|v| v.parse::<u64>().ok()) {
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            // Values that look like epoch seconds are absolute times.
            return Some(if n > 1_000_000_000 {
                n.saturating_sub(now)
            } else {
                n
            });
        }
    }
    None
}

/// A short, printable message from an error body: the JSON `message`/`error_description`/`error`
/// field when there is one, else an excerpt of the body.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["message", "error_description", "errorSummary", "error", "detail"] {
            if let Some(s) = v.get(key).and_then(|m| m.as_str()) {
                return sanitize(s);
            }
        }
    }
    excerpt(body)
}

fn excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    sanitize(&String::from_utf8_lossy(&body[..body.len().min(300)]))
}

/// Drops control characters and caps the length of a string that came from a backend.
pub fn sanitize(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    if cleaned.is_empty() {
        "(no message)".into()
    } else {
        cleaned
    }
}

/// reqwest's errors can carry the URL; ours say what failed without query strings.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response was cut off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "HTTP error"
    };
    match e.url() {
        Some(u) => format!(
            "{what} ({}://{}{})",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.path()
        ),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_dates_and_reset_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(7));
        let mut h = HeaderMap::new();
        h.insert("ratelimit-reset", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(3));
        let mut h = HeaderMap::new();
        let soon = (chrono::Utc::now().timestamp() + 30).to_string();
        h.insert("x-rate-limit-reset", HeaderValue::from_str(&soon).unwrap());
        let got = retry_after(&h).unwrap();
        assert!((28..=30).contains(&got), "{got}");
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backend_messages_are_sanitized_and_capped() {
        assert_eq!(
            error_message(br#"{"error":"x","message":"bad\u0007 thing"}"#),
            "bad thing"
        );
        assert_eq!(error_message(b"<html>\n<b>oops</b>"), "<html><b>oops</b>");
        assert_eq!(error_message(&vec![b'a'; 5000]).len(), 300);
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn next_link_finds_the_next_target_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(
                r#"</admin/identities?page_size=2&page_token=abc>; rel="first",</admin/identities?page_size=2&page_token=def>; rel="next""#,
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("/admin/identities?page_size=2&page_token=def")
        );
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"</x?page_token=a>; rel="first""#),
        );
        assert_eq!(next_link(&h), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn an_exhausted_budget_pauses_the_gate() {
        let gate = RateGate::new(2);
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("5"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("2"));
        let longest = Duration::from_secs(60);
        gate.observe(&h, longest);
        assert!(gate.remaining_pause().is_zero());
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        gate.observe(&h, longest);
        let p = gate.remaining_pause();
        assert!(
            p > Duration::from_millis(1500) && p <= Duration::from_secs(2),
            "{p:?}"
        );
    }

    #[test]
    fn a_reset_beyond_the_longest_wait_is_not_waited_for() {
        let gate = RateGate::new(2);
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("ratelimit-reset", HeaderValue::from_static("120"));
        gate.observe(&h, Duration::from_secs(60));
        assert!(gate.remaining_pause().is_zero());
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let p = RetryPolicy::default();
        for attempt in 1..30 {
            let d = backoff(&p, attempt);
            assert!(d <= p.max_delay && d >= Duration::from_millis(10));
        }
    }
}
