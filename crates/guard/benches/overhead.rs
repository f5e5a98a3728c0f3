//! Guard overhead per request vs bare verification: the same authd-issued token checked
//! (a) by the shared `gatehouse_jwt::access::verify_access` alone and (b) by `Guard::check`
//! (verification + revocation lookup in a set filled through authd's admin API with
//! `GUARD_BENCH_REVOKED` revoked sessions (default 2 000) + staleness rule + counters). Prints ns/op for each and the relative overhead
//! (goal <= 3 %). Meaningful only in a release build: `cargo bench -p gatehouse-guard --bench overhead`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::hint::black_box;
use std::time::{Duration, Instant};

use gatehouse_guard::Guard;
use gatehouse_jwt::access::{Sid, access_policy, verify_access};
use gatehouse_jwt::{KeySet, Verifier};
use harness::{Authd, guard_config};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let revoked: usize = std::env::var("GUARD_BENCH_REVOKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let iters: u32 = std::env::var("GUARD_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start_at(&dir.path().join("bench.db"), "127.0.0.1:0".parse().unwrap()).await;
    authd.add_user("u").await;
    let admin = authd.admin_token().await;
    // Fill the deny set through authd's real revocation path (sessions revoked by the admin API).
    for _ in 0..revoked {
        let (_, sid) = authd.login("u").await;
        authd.revoke_session(&admin, &sid).await;
    }
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(Duration::from_secs(30)).await);
    let (token, _) = authd.login("u").await;
    let jwks = authd
        .http
        .get(format!("{}/.well-known/jwks.json", authd.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let bare = Verifier::new(
        access_policy(&authd.base, "gatehouse-api", 60, 3600),
        KeySet::from_jwks_json(&jwks).unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(verify_access(&bare, &token, now, Sid::Required).is_ok());
    assert!(guard.check(Some(&token)).await.is_ok());
    println!(
        "guard overhead vs bare verification ({} revocations held, {iters} iterations x 5 rounds):",
        guard.metrics().feed.revocations_held
    );

    let mut bare_ns = Vec::new();
    let mut guard_ns = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(verify_access(&bare, black_box(&token), now, Sid::Required).is_ok());
        }
        bare_ns.push(t.elapsed().as_nanos() as f64 / iters as f64);
        let t = Instant::now();
        for _ in 0..iters {
            black_box(guard.check(Some(black_box(token.as_str()))).await.is_ok());
        }
        guard_ns.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    bare_ns.sort_by(f64::total_cmp);
    guard_ns.sort_by(f64::total_cmp);
    let (b, g) = (bare_ns[2], guard_ns[2]);
    let overhead = (g - b) / b * 100.0;
    println!("  bare verify_access   median {b:9.0} ns/op   rounds {bare_ns:.0?}");
    println!("  Guard::check         median {g:9.0} ns/op   rounds {guard_ns:.0?}");
    println!(
        "  overhead {overhead:+.2} %  (goal <= 3 %: {})",
        if overhead <= 3.0 { "met" } else { "MISSED" }
    );
    guard.stop();
    authd.stop().await;
}
