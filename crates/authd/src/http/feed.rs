//! The revocation feed for other resource servers: poll (`GET /revocations?since=`, with ETag)
//! or stream (`GET /revocations/stream`, Server-Sent Events, resumable with `Last-Event-ID`).
//!
//! Both read the durable `revocations` table, so a consumer that was offline, or an authd that
//! restarted, loses nothing: cursors are monotonic and never reused.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::revocation::{self, FeedEntry};
use crate::state::AppState;

const PAGE: i64 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/revocations", get(poll))
        .route("/revocations/stream", get(stream))
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize)]
struct FeedPage {
    entries: Vec<FeedEntry>,
    /// Pass as `since` next time.
    next_cursor: i64,
    /// Latest cursor authd has written.
    head: i64,
    has_more: bool,
}

async fn poll(
    State(state): State<AppState>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let since = q.since.unwrap_or(0).max(0);
    let limit = q.limit.unwrap_or(PAGE).clamp(1, PAGE);
    let head = state.revocations.head();
    let etag = format!("\"rev-{head}-{since}-{limit}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
    let etag_value = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    let entries = revocation::feed_since(&state.db, since, limit).await?;
    let next_cursor = entries.last().map_or(since.max(0), |e| e.cursor);
    let has_more = entries.len() as i64 == limit;
    let mut resp = Json(FeedPage {
        entries,
        next_cursor,
        head,
        has_more,
    })
    .into_response();
    resp.headers_mut().insert(header::ETAG, etag_value);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

struct StreamState {
    state: AppState,
    cursor: i64,
    head: tokio::sync::watch::Receiver<i64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    buffer: VecDeque<FeedEntry>,
}

async fn stream(
    State(state): State<AppState>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a feed cursor"))?,
        ),
        None => None,
    };
    let cursor = last_event_id.or(q.since).unwrap_or(0).max(0);
    let init = StreamState {
        head: state.revocations.subscribe(),
        shutdown: state.shutdown_signal(),
        state,
        cursor,
        buffer: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(init, |mut s| async move {
        loop {
            if let Some(entry) = s.buffer.pop_front() {
                let event = Event::default()
                    .id(entry.cursor.to_string())
                    .event("revocation")
                    .json_data(&entry)
                    .unwrap_or_else(|_| Event::default().comment("unencodable entry"));
                return Some((Ok(event), s));
            }
            if *s.shutdown.borrow() {
                return None;
            }
            // Mark the head seen before reading, so a revocation committed in between still
            // wakes the wait below.
            s.head.borrow_and_update();
            match revocation::feed_since(&s.state.db, s.cursor, PAGE).await {
                Ok(entries) if !entries.is_empty() => {
                    s.cursor = entries.last().map_or(s.cursor, |e| e.cursor);
                    s.buffer.extend(entries);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "revocation stream query failed");
                    return None;
                }
            }
            tokio::select! {
                changed = s.head.changed() => if changed.is_err() { return None },
                _ = s.shutdown.changed() => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
