//! Click-to-reject latency over loopback: for each of N fresh sessions, the time from the
//! admin revoke call returning (the console's click, done) until the guarded resource
//! server — a second server that learns of revocations only through authd's feed — first
//! answers 401 for that session's token. Prints percentiles (goal: p99 <= 1 s, p50 well
//! under 100 ms). Iterations: `CLICK_BENCH_ITERATIONS` (default 200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use gatehouse_guard::Guard;
use harness::{Authd, guard_config, guarded_server};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn main() {
    let iterations: usize = std::env::var("CLICK_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(iterations));
}

async fn run(iterations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start_at(&dir.path().join("bench.db"), "127.0.0.1:0".parse().unwrap()).await;
    authd.add_user("victim").await;
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(Duration::from_secs(10)).await);
    let (rs, _task) = guarded_server(guard.clone()).await;
    let url = format!("{rs}/rs/whoami");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let admin = authd.admin_token().await;
    let mut click = Vec::with_capacity(iterations);
    let mut polls = 0usize;
    for _ in 0..iterations {
        let (token, sid) = authd.login("victim").await;
        let ok = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        authd.revoke_session(&admin, &sid).await;
        let start = Instant::now();
        loop {
            polls += 1;
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            if r.status() == 401 {
                break;
            }
            assert_eq!(r.status(), 200);
            assert!(start.elapsed() < Duration::from_secs(10), "never refused");
        }
        click.push(start.elapsed());
    }
    click.sort();
    println!(
        "click-to-reject at a second resource server (guard over authd's SSE feed), loopback, {iterations} sessions (ms):"
    );
    println!(
        "  revoke returned -> first guard 401   p50 {:7.3}  p90 {:7.3}  p99 {:7.3}  max {:7.3}",
        pct(&click, 0.50),
        pct(&click, 0.90),
        pct(&click, 0.99),
        pct(&click, 1.0)
    );
    println!(
        "  requests per measurement (incl. the 401): {:.2}",
        polls as f64 / iterations as f64
    );
    let (p50, p99) = (pct(&click, 0.5), pct(&click, 0.99));
    println!(
        "  goal p99 <= 1000 ms: {}; p50 < 100 ms: {}",
        if p99 <= 1000.0 { "met" } else { "MISSED" },
        if p50 < 100.0 { "met" } else { "MISSED" }
    );
    let m = guard.metrics();
    println!(
        "  guard: verified {}, rejected {:?}, feed reconnects {}",
        m.verified, m.rejected, m.feed.reconnects
    );
    guard.stop();
    authd.stop().await;
}
