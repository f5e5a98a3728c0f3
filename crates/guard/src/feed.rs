//! Following authd's revocation feed: catch up with `GET /revocations?since=` (paged, ETag),
//! then hold `GET /revocations/stream` open with `Last-Event-ID`, applying each event as it
//! arrives. Any failure drops the stream, waits (doubling, capped), and starts again with a
//! catch-up, so entries written while the guard was cut off are applied before new ones.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::sse::{Item, Parser};
use crate::{FeedEntry, Guard, lock};

#[derive(Deserialize)]
struct FeedPage {
    entries: Vec<FeedEntry>,
    next_cursor: i64,
    head: i64,
    has_more: bool,
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("HTTP: {0}")]
    Http(String),
    #[error("status {0}")]
    Status(StatusCode),
    #[error("bad feed data: {0}")]
    Data(String),
    #[error("stream idle for longer than the timeout")]
    Idle,
    #[error("stream closed by authd")]
    Closed,
}

fn http_err(e: reqwest::Error) -> FeedError {
    FeedError::Http(e.without_url().to_string())
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const PRUNE_EVERY: Duration = Duration::from_secs(10);

pub(crate) async fn follow(guard: Guard) {
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        if !first {
            guard
                .inner
                .counters
                .feed_reconnects
                .fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let result = match catch_up(&guard).await {
            Ok(()) => stream(&guard, &mut backoff).await,
            Err(e) => Err(e),
        };
        if guard.inner.feed.connected.swap(false, Ordering::AcqRel) {
            // Everything up to the drop was applied: the set was current until now.
            guard.mark_current();
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "revocation feed lost");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(guard.inner.config.max_backoff);
    }
}

/// Pages through `/revocations?since=` until authd has nothing more.
async fn catch_up(guard: &Guard) -> Result<(), FeedError> {
    let inner = &guard.inner;
    loop {
        let since = inner.feed.cursor.load(Ordering::Acquire);
        let mut req = inner
            .http
            .get(format!("{}/revocations", inner.config.authd))
            .query(&[("since", since)])
            .timeout(Duration::from_secs(5));
        let etag = lock(&inner.feed.etag).clone();
        if let Some(etag) = &etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let resp = req.send().await.map_err(http_err)?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            guard.mark_current();
            return Ok(());
        }
        if !resp.status().is_success() {
            return Err(FeedError::Status(resp.status()));
        }
        let new_etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let page: FeedPage = resp
            .json()
            .await
            .map_err(|e| FeedError::Data(e.without_url().to_string()))?;
        guard.apply(&page.entries);
        inner.feed.cursor.fetch_max(page.next_cursor, Ordering::AcqRel);
        inner.feed.head.fetch_max(page.head, Ordering::AcqRel);
        if !page.has_more {
            // The ETag names (head, since): keep it only for the cursor it was served for.
            *lock(&inner.feed.etag) = (page.next_cursor == since).then_some(new_etag).flatten();
            guard.mark_current();
            guard.prune();
            return Ok(());
        }
    }
}

/// Holds the SSE stream open until it fails or goes idle.
async fn stream(guard: &Guard, backoff: &mut Duration) -> Result<(), FeedError> {
    let inner = &guard.inner;
    let cursor = inner.feed.cursor.load(Ordering::Acquire);
    let mut resp = inner
        .http
        .get(format!("{}/revocations/stream", inner.config.authd))
        .header("last-event-id", cursor.to_string())
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(http_err)?;
    if !resp.status().is_success() {
        return Err(FeedError::Status(resp.status()));
    }
    inner.feed.connected.store(true, Ordering::Release);
    guard.mark_current();
    *backoff = MIN_BACKOFF;
    tracing::info!(cursor, "revocation stream connected");
    let mut parser = Parser::default();
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let chunk = match tokio::time::timeout(inner.config.idle_timeout, resp.chunk()).await {
            Err(_) => return Err(FeedError::Idle),
            Ok(Err(e)) => return Err(http_err(e)),
            Ok(Ok(None)) => return Err(FeedError::Closed),
            Ok(Ok(Some(c))) => c,
        };
        let items = parser.push(&chunk).map_err(|e| FeedError::Data(e.to_string()))?;
        let mut entries = Vec::new();
        for item in items {
            match item {
                Item::Comment => {}
                Item::Event { event, data, .. } => {
                    if event.as_deref() != Some("revocation") {
                        continue;
                    }
                    let entry: FeedEntry =
                        serde_json::from_str(&data).map_err(|e| FeedError::Data(e.to_string()))?;
                    entries.push(entry);
                }
            }
        }
        guard.apply(&entries);
        guard.mark_current();
        if last_prune.elapsed() >= PRUNE_EVERY {
            guard.prune();
            last_prune = tokio::time::Instant::now();
        }
    }
}
