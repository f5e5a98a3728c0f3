//! The revocation feed: polling with `since` and ETag/304, and the SSE stream with resume.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Authd, s};

#[tokio::test]
async fn feed_pages_by_cursor_and_answers_304_when_nothing_changed() {
    let a = Authd::start().await;
    let uid = a.add_user("kim").await;
    let admin = a.admin_token().await;
    let empty = a.call(Method::GET, "/revocations", None, None).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["entries"], json!([]));
    let etag0 = empty.headers["etag"].to_str().unwrap().to_owned();

    let t = a.login("kim").await;
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", s(&t["session_id"])),
        Some(&admin),
        json!({}),
    )
    .await;
    a.post(
        &format!("/admin/v1/users/{uid}/revoke-sessions"),
        Some(&admin),
        json!({}),
    )
    .await;

    let all = a.call(Method::GET, "/revocations?since=0", None, None).await;
    let entries = all.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", all.body);
    assert_eq!(entries[0]["kind"], "sid");
    assert_eq!(entries[0]["value"], t["session_id"]);
    assert!(entries[0].get("not_before").is_none());
    assert_eq!(entries[1]["kind"], "user");
    assert_eq!(entries[1]["value"], uid.to_string());
    assert!(entries[1]["not_before"].is_i64());
    assert!(entries[1]["expires_at"].as_i64().unwrap() > entries[1]["not_before"].as_i64().unwrap());
    let c0 = entries[0]["cursor"].as_i64().unwrap();
    let c1 = entries[1]["cursor"].as_i64().unwrap();
    assert!(c1 > c0);
    assert_eq!(all.body["next_cursor"], c1);

    let after = a
        .call(Method::GET, &format!("/revocations?since={c0}"), None, None)
        .await;
    assert_eq!(after.body["entries"].as_array().unwrap().len(), 1);

    let etag = all.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, etag0);
    let cached = a
        .call_with(
            Method::GET,
            "/revocations?since=0",
            None,
            None,
            &[("if-none-match", etag.as_str())],
        )
        .await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.body, Value::Null);
    // A new revocation changes the answer.
    let t2 = a.login("kim").await;
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", s(&t2["session_id"])),
        Some(&admin),
        json!({}),
    )
    .await;
    let changed = a
        .call_with(
            Method::GET,
            "/revocations?since=0",
            None,
            None,
            &[("if-none-match", etag.as_str())],
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body["entries"].as_array().unwrap().len(), 3);
    a.stop().await;
}

/// Reads SSE frames until one with an `id:` arrives; returns (id, data JSON).
async fn next_event<B: AsRef<[u8]>>(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    buf: &mut String,
) -> (i64, Value) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<i64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if let Some(id) = id {
                return (id, serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an SSE event within 10 s")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

#[tokio::test]
async fn sse_stream_delivers_a_revocation_live_and_resumes_after_last_event_id() {
    let a = Authd::start().await;
    a.add_user("liam").await;
    let admin = a.admin_token().await;
    let t1 = a.login("liam").await;
    let t2 = a.login("liam").await;

    let resp = a
        .http
        .get(format!("{}/revocations/stream", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();

    // Revoke after subscribing: the event arrives live.
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", s(&t1["session_id"])),
        Some(&admin),
        json!({}),
    )
    .await;
    let (id1, e1) = next_event(&mut stream, &mut buf).await;
    assert_eq!(e1["kind"], "sid");
    assert_eq!(e1["value"], t1["session_id"]);
    assert_eq!(e1["cursor"], id1);
    drop(stream);

    // While disconnected, another revocation; resume with Last-Event-ID gets only it.
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", s(&t2["session_id"])),
        Some(&admin),
        json!({}),
    )
    .await;
    let resp = a
        .http
        .get(format!("{}/revocations/stream", a.base))
        .header("last-event-id", id1.to_string())
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let (id2, e2) = next_event(&mut stream, &mut buf).await;
    assert!(id2 > id1);
    assert_eq!(e2["value"], t2["session_id"]);

    let bad = a
        .call_with(
            Method::GET,
            "/revocations/stream",
            None,
            None,
            &[("last-event-id", "x")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "invalid_request");
    drop(stream);
    a.stop().await;
}
