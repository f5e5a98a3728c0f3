#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `Verifier::verify` against a bare `jsonwebtoken::decode` for the same EdDSA token: the
//! price of the strict checks. authd adds its revocation lookup on top of the former.

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_jwt::{Algorithm, Policy, Signer, Verifier};
use serde_json::{Value, json};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // jsonwebtoken reads the wall clock, so the token is valid now; ours gets `now` injected.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signer = Signer::generate_ed25519("bench-key");
    let claims = json!({
        "iss": "https://authd.gatehouse.local/", "aud": "api://console", "sub": "alice",
        "jti": "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "sid": "s-7f3a",
        "iat": now - 10, "nbf": now - 10, "exp": now + 900, "scope": "sessions:read",
    });
    let token = signer.sign(&claims).unwrap();

    let verifier = Verifier::new(
        Policy::new(
            "https://authd.gatehouse.local/",
            ["api://console"],
            [Algorithm::EdDSA],
        ),
        signer.key_set(),
    );
    assert!(verifier.verify::<Value>(&token, now).is_ok());

    let key = signer.decoding_key();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["https://authd.gatehouse.local/"]);
    validation.set_audience(&["api://console"]);
    validation.validate_nbf = true;
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());

    let mut g = c.benchmark_group("eddsa_verify");
    g.bench_function("gatehouse_jwt::Verifier::verify", |b| {
        b.iter(|| verifier.verify::<Value>(black_box(&token), now).unwrap())
    });
    g.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation).unwrap())
    });
    g.bench_function("gatehouse_jwt::decode_unverified+lint", |b| {
        let limits = gatehouse_jwt::Limits::default();
        let policy = verifier.policy().clone();
        b.iter(|| {
            let d = gatehouse_jwt::decode_unverified(black_box(&token), &limits).unwrap();
            gatehouse_jwt::lint(&d, &policy, now)
        })
    });
    g.finish();
    c.bench_function("eddsa_sign", |b| {
        b.iter(|| signer.sign(black_box(&claims)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
