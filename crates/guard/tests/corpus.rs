#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The JWT attack corpus (`shared/data/jwt/attack-corpus`) through the guard, over HTTP: the
//! guard fetches each profile's keys from a JWKS endpoint and must reach exactly the verdict
//! (and reason) the shared `gatehouse-jwt` access check reaches on the same keys and policy,
//! accepting every `accept` case and refusing every `reject` case. The clock is pinned to the
//! corpus's reference instant.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use gatehouse_guard::{Guard, GuardConfig, Reason};
use gatehouse_jwt::access::{Sid, verify_access};
use gatehouse_jwt::{Algorithm, KeySet, Policy, Verifier};
use serde_json::{Value, json};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/jwt");

fn read_json(rel: &str) -> Value {
    let path = format!("{DATA}/{rel}");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// JWKS documents per profile (the corpus README's profiles; `es256-any` is two unrelated
/// P-256 keys, each its own JWKS).
fn profile_jwks(profile: &str) -> Vec<Value> {
    match profile {
        "hs" => {
            vec![json!({"keys": [read_json("jose-cookbook/jwk/3_5.symmetric_key_mac_computation.json")]})]
        }
        "rs" => {
            let mut jwk = read_json("jose-cookbook/jwk/3_3.rsa_public_key.json");
            jwk["alg"] = json!("RS256");
            vec![json!({"keys": [jwk]})]
        }
        "es256-any" => [
            (
                "04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY",
                "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw",
            ),
            (
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            ),
        ]
        .into_iter()
        .map(|(x, y)| json!({"keys": [{"kty":"EC","crv":"P-256","kid":"p256","x":x,"y":y}]}))
        .collect(),
        // No ES512 in jsonwebtoken: an empty key set (see crates/jwt/tests/attack_corpus.rs).
        "es512" => vec![json!({"keys": []})],
        other => panic!("unknown profile {other}"),
    }
}

fn profile_alg(profile: &str) -> Algorithm {
    match profile {
        "hs" => Algorithm::HS256,
        "rs" => Algorithm::RS256,
        "es256-any" => Algorithm::ES256,
        _ => Algorithm::ES384,
    }
}

/// A fake issuer: the JWKS documents at `/jwks/{i}` and an empty, open revocation feed.
async fn fake_issuer(jwks: Vec<Value>) -> String {
    let jwks = Arc::new(jwks);
    let app = Router::new()
        .route(
            "/jwks/{i}",
            get(move |axum::extract::Path(i): axum::extract::Path<usize>| {
                let jwks = Arc::clone(&jwks);
                async move { axum::Json(jwks[i].clone()) }
            }),
        )
        .route(
            "/revocations",
            get(|| async {
                axum::Json(json!({"entries": [], "next_cursor": 0, "head": 0, "has_more": false}))
            }),
        )
        .route(
            "/revocations/stream",
            get(|| async { Sse::new(futures_util::stream::pending::<Result<Event, Infallible>>()) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_reaches_the_shared_verdict_on_every_corpus_case() {
    let doc = read_json("attack-corpus/jwt-attack-corpus.json");
    let now = doc["reference_now_unix"].as_i64().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 65);
    let profiles = ["hs", "rs", "es256-any", "es512"];
    let mut all_jwks = Vec::new();
    let mut slots = Vec::new();
    for p in profiles {
        for j in profile_jwks(p) {
            slots.push((p, all_jwks.len()));
            all_jwks.push(j);
        }
    }
    let base = fake_issuer(all_jwks.clone()).await;
    let mut guards = Vec::new();
    for &(profile, i) in &slots {
        let mut policy = Policy::new(
            doc["expected_iss"].as_str().unwrap(),
            [doc["expected_aud"].as_str().unwrap()],
            [profile_alg(profile)],
        );
        policy.leeway_secs = doc["leeway_seconds"].as_u64().unwrap();
        policy.max_lifetime_secs = None;
        policy.reject_future_iat = false;
        let mut config = GuardConfig::for_authd(&base, "unused", "unused");
        config.jwks_url = format!("{base}/jwks/{i}");
        config.policy = policy.clone();
        config.sid = Sid::Optional;
        config.clock = Arc::new(move || now);
        let guard = Guard::start(config).await.unwrap();
        assert!(guard.ready(Duration::from_secs(10)).await);
        let keys = KeySet::from_jwks_json(all_jwks[i].to_string().as_bytes()).unwrap_or_default();
        guards.push((profile, guard, Verifier::new(policy, keys)));
    }

    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let profile = case["verifier"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let mut any_ok = false;
        for (_, guard, bare) in guards.iter().filter(|(p, _, _)| *p == profile) {
            let got = guard.check(Some(token)).await.map(|_| ()).map_err(|d| d.reason);
            let want = verify_access(bare, token, now, Sid::Optional)
                .map(|_| ())
                .map_err(|r| Reason::Token(r.reason));
            if got != want {
                failures.push(format!("{id}: guard {got:?}, shared check {want:?}"));
            }
            any_ok |= got.is_ok();
        }
        match (expect, any_ok) {
            ("accept", false) => failures.push(format!("{id}: expected accept")),
            ("reject", true) => failures.push(format!("{id}: expected reject")),
            _ => {}
        }
        if any_ok {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted >= 1 && rejected >= 40,
        "{accepted} accepted, {rejected} rejected"
    );
    for (_, g, _) in &guards {
        g.stop();
    }
}
