//! What the hosted-IdP adapters (Okta, Auth0) share on top of `http.rs`: a rate gate that reads
//! the vendors' remaining-quota headers and caps requests in flight, `Link` header paging,
//! permission errors that name the missing scope, a strict JSON reader for their bodies, and the
//! plain descriptions a dry run and `profile test` show (planned calls, scope probes).
//!
//! `http.rs` already waits out a 429 (its `Retry-After` / reset headers); the gate is what keeps
//! us from getting there: when a bucket is nearly empty it holds new requests until its reset.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Response;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{Error, Result};
use crate::http;

/// Runs `op` on each id, at most `concurrency` at once (each call still passes the rate gate);
/// one result per id, in the order given. The bulk form of a per-user containment call.
pub async fn each_in_order<'a, T, F, Fut>(ids: &'a [String], concurrency: usize, op: F) -> Vec<(String, T)>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    futures::stream::iter(ids)
        .map(|id| {
            let call = op(id);
            async move { (id.clone(), call.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Caps requests in flight and holds new ones while the vendor's quota is (nearly) used up.
///
/// Okta sends `X-Rate-Limit-{Limit,Remaining,Reset}`, Auth0 `x-ratelimit-{limit,remaining,reset}`;
/// both resets are UTC epoch seconds. Each request reserves one unit of the last seen
/// `remaining`, so concurrent callers do not all spend the same last few requests.
#[derive(Debug)]
pub struct RateGate {
    permits: Semaphore,
    concurrency: usize,
    /// Requests kept in reserve: at or below this, callers wait for the reset.
    low_water: u64,
    /// The longest a caller waits for a reset before trying anyway (the server then says 429
    /// and `http.rs` waits it out within its own budget).
    max_wait: Duration,
    window: Mutex<Window>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Window {
    remaining: Option<u64>,
    reset_at: Option<i64>,
}

/// What the gate last learned from the headers (for logs, tests and `profile test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub remaining: Option<u64>,
    pub reset_at_epoch: Option<i64>,
}

impl RateGate {
    /// `concurrency` requests at most in flight (at least 1); `low_water` requests of the
    /// current window kept in reserve for other consumers of the same quota.
    pub fn new(concurrency: usize, low_water: u64) -> RateGate {
        let concurrency = concurrency.max(1);
        RateGate {
            permits: Semaphore::new(concurrency),
            concurrency,
            low_water,
            max_wait: Duration::from_secs(60),
            window: Mutex::new(Window::default()),
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    pub fn quota(&self) -> Quota {
        let w = self.window();
        Quota {
            remaining: w.remaining,
            reset_at_epoch: w.reset_at,
        }
    }

    fn window(&self) -> Window {
        self.window.lock().map(|w| *w).unwrap_or_default()
    }

    /// Waits for a slot and, when the quota is at the low-water mark, for the window's reset.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Http(http::Error::Config("rate gate closed".into())))?;
        loop {
            let wait = {
                let Ok(mut w) = self.window.lock() else { break };
                let now = chrono::Utc::now().timestamp();
                match (w.remaining, w.reset_at) {
                    (Some(left), Some(reset)) if left <= self.low_water && reset >= now => {
                        // Until one second past the reset: the vendors round it down.
                        Duration::from_secs((reset - now + 1) as u64)
                    }
                    (Some(_), Some(reset)) if reset < now => {
                        // A new window: unknown until the next response says.
                        *w = Window::default();
                        break;
                    }
                    (Some(left), _) => {
                        w.remaining = Some(left.saturating_sub(1));
                        break;
                    }
                    _ => break,
                }
            };
            let wait = wait.min(self.max_wait);
            tracing::debug!(?wait, "rate quota at its low-water mark; waiting for the reset");
            tokio::time::sleep(wait).await;
            if let Ok(mut w) = self.window.lock()
                && w.reset_at.is_some_and(|r| r < chrono::Utc::now().timestamp())
            {
                *w = Window::default();
            }
            if wait == self.max_wait {
                break;
            }
        }
        Ok(permit)
    }

    /// Records the quota headers of a response.
    pub fn observe(&self, headers: &HeaderMap) {
        let num = |names: [&str; 2]| {
            names.iter().find_map(|n| {
                headers
                    .get(*n)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok())
            })
        };
        let remaining = num(["x-rate-limit-remaining", "x-ratelimit-remaining"]);
        let reset = num(["x-rate-limit-reset", "x-ratelimit-reset"]);
        if let (Some(left), Ok(mut w)) = (remaining, self.window.lock()) {
            let left = left.max(0) as u64;
            // Responses of one window arrive out of order under concurrency: keep the lowest.
            let same_window = w.reset_at == reset;
            w.remaining = Some(match w.remaining {
                Some(known) if same_window => known.min(left),
                _ => left,
            });
            w.reset_at = reset;
        }
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), as Okta and Kratos page.
pub fn next_link(headers: &HeaderMap) -> Option<url::Url> {
    for value in headers.get_all("link") {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if is_next {
                let target = target.trim_start_matches('<').trim_end_matches('>');
                if let Ok(url) = url::Url::parse(target) {
                    return Some(url);
                }
            }
        }
    }
    None
}

/// One query parameter of a URL.
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Reads a successful response as JSON; a body of the wrong shape is a clear `Decode` error
/// naming the call, with a short sanitized excerpt.
pub async fn read_json<T: DeserializeOwned>(resp: Response, what: &str) -> Result<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| http::Error::Transport(format!("{what}: the response was cut off ({e})")))?;
    decode(&bytes, what)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let excerpt = if bytes.is_empty() {
            "(empty body)".to_string()
        } else {
            http::sanitize(&String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))
        };
        Error::Http(http::Error::Decode(format!("{what}: {e} in {excerpt}")))
    })
}

/// A 403 becomes "missing permission `X`", naming what this call needs; other errors pass.
pub fn needs(permission: &str, err: http::Error) -> Error {
    match err {
        http::Error::Unauthorized { status: 403, message } => Error::Http(http::Error::Unauthorized {
            status: 403,
            message: format!("missing permission `{permission}` ({message})"),
        }),
        other => Error::Http(other),
    }
}

/// Whether an error says the thing is gone (a repeated revoke, a session that ended).
pub fn is_not_found(err: &Error) -> bool {
    matches!(err, Error::Http(http::Error::NotFound { .. }))
}

/// Percent-encodes an id for use as one path segment.
pub fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// One HTTP call of a playbook, for a dry run to show before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PlannedCall {
    pub method: &'static str,
    /// Path and query, relative to the profile's base URL.
    pub path: String,
    pub purpose: &'static str,
    /// The scope (OAuth) or admin permission the call needs.
    pub permission: &'static str,
    /// Whether the call is skipped when the tenant lacks the feature (ITP, Enterprise sessions).
    pub optional: bool,
}

/// What `profile test` says about a credential's permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScopeProbe {
    /// Where the granted set came from (the token response, the admin roles, …).
    pub source: String,
    pub granted: Vec<String>,
    /// Each permission Gatehouse needs, with whether it is granted.
    pub required: Vec<(String, bool)>,
    pub missing: Vec<String>,
    /// Optional permissions (features used only when granted) that are missing.
    pub optional_missing: Vec<String>,
    /// Granted permissions beyond what Gatehouse uses: a warning, least privilege says drop them.
    pub broader_than_needed: Vec<String>,
}

impl ScopeProbe {
    pub fn from_granted(
        source: &str,
        granted: Vec<String>,
        required: &[&str],
        optional: &[&str],
    ) -> ScopeProbe {
        let has = |s: &str| granted.iter().any(|g| g == s);
        let required_list: Vec<(String, bool)> = required.iter().map(|r| (r.to_string(), has(r))).collect();
        let missing = required_list
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(r, _)| r.clone())
            .collect();
        let optional_missing = optional
            .iter()
            .filter(|o| !has(o))
            .map(|o| o.to_string())
            .collect();
        let broader_than_needed = granted
            .iter()
            .filter(|g| !required.contains(&g.as_str()) && !optional.contains(&g.as_str()))
            .cloned()
            .collect();
        ScopeProbe {
            source: source.to_string(),
            granted,
            required: required_list,
            missing,
            optional_missing,
            broader_than_needed,
        }
    }

    /// Logs what `profile test` should warn about.
    pub fn warn(&self, backend: &str) {
        if !self.missing.is_empty() {
            tracing::warn!(backend, missing = ?self.missing, "credential lacks permissions Gatehouse needs");
        }
        if !self.broader_than_needed.is_empty() {
            tracing::warn!(backend, extra = ?self.broader_than_needed, "credential is broader than Gatehouse needs");
        }
    }
}

/// Splits an OAuth `scope` string.
pub fn scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// A playbook's calls as the dry run shows them (purpose and permission in the note).
pub fn planned(calls: impl IntoIterator<Item = PlannedCall>) -> Vec<super::PlannedCall> {
    calls
        .into_iter()
        .map(|c| {
            let note = format!(
                "{}; needs {}{}",
                c.purpose,
                c.permission,
                if c.optional {
                    "; skipped where unavailable"
                } else {
                    ""
                }
            );
            super::PlannedCall::new(c.method, c.path, Some(note.as_str()))
        })
        .collect()
}

/// `profile test`'s warnings from a permission probe (or why there are none to show).
pub fn probe_warnings(probe: Result<ScopeProbe>) -> Vec<String> {
    match probe {
        Ok(p) => p.warnings(),
        Err(e) => vec![format!("cannot read the credential's permissions: {e}")],
    }
}

impl ScopeProbe {
    /// What `profile test` warns about: missing permissions, and those beyond what is needed.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.missing.is_empty() {
            out.push(format!(
                "missing permission: {} ({})",
                self.missing.join(", "),
                self.source
            ));
        }
        if !self.optional_missing.is_empty() {
            out.push(format!(
                "optional permission not granted (the feature is skipped): {}",
                self.optional_missing.join(", ")
            ));
        }
        if !self.broader_than_needed.is_empty() {
            out.push(format!(
                "broader than needed (least privilege: drop them): {}",
                self.broader_than_needed.join(", ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_finds_the_next_target_among_several() {
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static("<https://x.okta.com/api/v1/users?limit=2>; rel=\"self\""),
        );
        h.append(
            "link",
            HeaderValue::from_static("<https://x.okta.com/api/v1/users?after=00u2&limit=2>; rel=\"next\""),
        );
        let next = next_link(&h).unwrap();
        assert_eq!(query_param(&next, "after").as_deref(), Some("00u2"));
        let mut one = HeaderMap::new();
        one.insert(
            "link",
            HeaderValue::from_static(
                "<https://a/x?after=1>; rel=\"self\", <https://a/x?after=2>; rel=\"next\"",
            ),
        );
        assert_eq!(
            query_param(&next_link(&one).unwrap(), "after").as_deref(),
            Some("2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn probe_names_missing_and_extra_scopes() {
        let p = ScopeProbe::from_granted("token", scopes("a b x"), &["a", "b", "c"], &["o"]);
        assert_eq!(p.missing, vec!["c"]);
        assert_eq!(p.optional_missing, vec!["o"]);
        assert_eq!(p.broader_than_needed, vec!["x"]);
        assert_eq!(p.required[2], ("c".to_string(), false));
    }

    #[test]
    fn the_gate_keeps_the_lowest_remaining_of_a_window_and_reserves_per_request() {
        let gate = RateGate::new(4, 0);
        let reset = (chrono::Utc::now().timestamp() + 30).to_string();
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("5"));
        h.insert("x-rate-limit-reset", HeaderValue::from_str(&reset).unwrap());
        gate.observe(&h);
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("9"));
        gate.observe(&h);
        assert_eq!(gate.quota().remaining, Some(5));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            drop(gate.acquire().await.unwrap());
        });
        assert_eq!(gate.quota().remaining, Some(4));
    }
}
