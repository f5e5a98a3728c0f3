//! Token verification on the `/api` path: bare `gatehouse-jwt` verification versus the full
//! check the guard runs (verification + sid presence + in-memory revocation lookups), with
//! realistically full deny sets. Target: the revocation check costs at most 3 %.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_authd::config::{API_AUDIENCE, Config, Database};
use gatehouse_authd::keys::AccessClaims;
use gatehouse_authd::revocation::FeedEntry;
use gatehouse_authd::{AppState, db};

fn setup() -> (tokio::runtime::Runtime, AppState, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = rt.block_on(async {
        let config = Config::new(Database::Memory, "http://bench.local");
        let (state, _writer) = AppState::open(config).await.unwrap();
        state
    });
    let now = db::now();
    // 20k revoked jtis, 20k revoked sessions, 2k users with a not-before.
    let mut entries = Vec::new();
    for i in 0..20_000i64 {
        for (kind, prefix) in [("jti", "at_"), ("sid", "s_")] {
            entries.push(FeedEntry {
                cursor: entries.len() as i64 + 1,
                kind: kind.into(),
                value: format!("{prefix}{i:022}"),
                not_before: None,
                expires_at: now + 600,
            });
        }
    }
    for u in 0..2_000i64 {
        entries.push(FeedEntry {
            cursor: entries.len() as i64 + 1,
            kind: "user".into(),
            value: (u + 1000).to_string(),
            not_before: Some(now - 10),
            expires_at: now + 600,
        });
    }
    state.revocations.apply(&entries);
    let claims = AccessClaims {
        iss: "http://bench.local".into(),
        sub: "42".into(),
        aud: API_AUDIENCE.into(),
        exp: now + 600,
        iat: now,
        nbf: now,
        jti: "at_bench_token_jti_000001".into(),
        sid: Some("s_bench_session_00000001".into()),
        scope: gatehouse_authd::sessions::USER_SCOPE.into(),
        amr: vec!["pwd".into()],
        client_id: None,
    };
    let (token, _) = state.keys.sign(&claims).unwrap();
    (rt, state, token)
}

fn bench(c: &mut Criterion) {
    let (_rt, state, token) = setup();
    let now = db::now();
    assert!(state.keys.verify_api(&token, now).is_ok());
    let (principal, verdict) = gatehouse_authd::http::api::authenticate(&state, Some(&token), now);
    assert!(principal.is_some() && verdict.is_ok());
    interleaved_overhead(&state, &token, now);
    let mut g = c.benchmark_group("api_token_check");
    g.bench_function("bare_verify", |b| {
        b.iter(|| black_box(state.keys.verify_api(black_box(&token), now).is_ok()))
    });
    g.bench_function("verify_plus_revocation", |b| {
        b.iter(|| {
            let (p, v) = gatehouse_authd::http::api::authenticate(&state, Some(black_box(&token)), now);
            black_box((p.is_some(), v.is_ok()))
        })
    });
    g.bench_function("revocation_lookup_only", |b| {
        b.iter(|| {
            black_box(state.revocations.check(
                black_box(42),
                Some("s_bench_session_00000001"),
                "at_bench_token_jti_000001",
                now,
            ))
        })
    });
    g.finish();
}

/// Sequential criterion runs on a loaded 2-core machine drift by more than the effect being
/// measured, so the overhead is also measured A/B interleaved: 40 rounds alternating 500 bare
/// verifications and 500 full checks, reporting the median per-round ratio.
fn interleaved_overhead(state: &AppState, token: &str, now: i64) {
    let rounds = 40;
    let per = 500;
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        for _ in 0..per {
            black_box(state.keys.verify_api(black_box(token), now).is_ok());
        }
        let bare = t.elapsed();
        let t = std::time::Instant::now();
        for _ in 0..per {
            let (p, v) = gatehouse_authd::http::api::authenticate(state, Some(black_box(token)), now);
            black_box((p.is_some(), v.is_ok()));
        }
        let full = t.elapsed();
        ratios.push(full.as_secs_f64() / bare.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[rounds / 2];
    println!(
        "interleaved A/B: full check / bare verify = {median:.4} (overhead {:+.2} %, target <= 3 %)",
        (median - 1.0) * 100.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
