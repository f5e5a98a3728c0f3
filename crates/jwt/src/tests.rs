//! Unit tests across modules: signing round trips, one token per rejection reason, and
//! that no rejection text ever quotes the token or the key.

use crate::*;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};
use std::collections::HashSet;

const NOW: i64 = 1_750_000_000;
const ISS: &str = "https://idp.example.com/";
const AUD: &str = "api://console";
const HS_KEY: &[u8] = b"0123456789abcdef0123456789abcdef-unit-test-key";

fn enc(bytes: &[u8]) -> String {
    crate::b64::encode(bytes)
}

/// An HS256 token over arbitrary header/claims text (so tests can write invalid JSON).
fn hs(header: &str, claims: &str) -> String {
    let input = format!("{}.{}", enc(header.as_bytes()), enc(claims.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(HS_KEY),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{input}.{sig}")
}

fn good_claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "jti": "j-1", "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600})
}

fn claims_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = good_claims();
    if let Value::Object(m) = &mut c {
        f(m);
    }
    c.to_string()
}

const H: &str = r#"{"alg":"HS256","typ":"JWT","kid":"hs"}"#;

fn hs_policy() -> Policy {
    Policy::new(ISS, [AUD], [Algorithm::HS256])
}

fn hs_verifier() -> Verifier {
    let mut ks = KeySet::new();
    ks.try_insert("hs", Algorithm::HS256, DecodingKey::from_secret(HS_KEY))
        .unwrap();
    Verifier::new(hs_policy(), ks)
}

fn reason(v: &Verifier, token: &str) -> RejectReason {
    match v.verify::<Value>(token, NOW) {
        Ok(_) => panic!("accepted: {token}"),
        Err(r) => r.reason,
    }
}

#[test]
fn baseline_hs_token_verifies() {
    let v = hs_verifier();
    let ok = v
        .verify::<Value>(&hs(H, &good_claims().to_string()), NOW)
        .unwrap();
    assert_eq!(ok.registered.sub.as_deref(), Some("alice"));
    assert_eq!(ok.registered.aud, vec![AUD.to_owned()]);
    assert_eq!(ok.header.kid.as_deref(), Some("hs"));
    assert_eq!(ok.claims["jti"], "j-1");
}

#[test]
fn ed25519_sign_verify_round_trip() {
    let signer = Signer::generate_ed25519("authd-2025-06");
    assert_eq!(signer.algorithm(), Algorithm::EdDSA);
    assert_eq!(signer.kid(), "authd-2025-06");
    let token = signer.sign(&good_claims()).unwrap();
    let v = Verifier::new(Policy::new(ISS, [AUD], [Algorithm::EdDSA]), signer.key_set());
    let ok = v.verify::<Value>(&token, NOW).unwrap();
    assert_eq!(ok.header.alg, Algorithm::EdDSA);
    assert_eq!(ok.header.typ.as_deref(), Some("JWT"));
    assert_eq!(ok.header.kid.as_deref(), Some("authd-2025-06"));
    assert_eq!(ok.registered.exp, Some(NOW + 600));

    // Typed claims.
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        jti: String,
    }
    let typed = v.verify::<Mine>(&token, NOW).unwrap();
    assert_eq!(
        (typed.claims.sub.as_str(), typed.claims.jti.as_str()),
        ("alice", "j-1")
    );

    // A different key with the same kid must not verify it.
    let other = Signer::generate_ed25519("authd-2025-06");
    let v2 = Verifier::new(Policy::new(ISS, [AUD], [Algorithm::EdDSA]), other.key_set());
    assert_eq!(reason(&v2, &token), RejectReason::BadSignature);
}

#[test]
fn pkcs8_and_jwk_round_trip() {
    let signer = Signer::generate_ed25519("k1");
    let restored = Signer::from_ed25519_pkcs8_der("k1", signer.pkcs8_der()).unwrap();
    assert_eq!(restored.public_key_bytes(), signer.public_key_bytes());
    assert_eq!(restored.public_jwk(), signer.public_jwk());
    let jwk = signer.public_jwk();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert!(jwk.get("d").is_none());
    let jwks = json!({"keys": [jwk]}).to_string();
    let ks = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
    assert_eq!(ks.kids(), vec!["k1".to_owned()]);
    let v = Verifier::new(Policy::new(ISS, [AUD], [Algorithm::EdDSA]), ks);
    // Signed by the restored key, verified with the original's published JWK.
    assert!(
        v.verify::<Value>(&restored.sign(&good_claims()).unwrap(), NOW)
            .is_ok()
    );
    assert!(Signer::from_ed25519_pkcs8_der("k1", b"not der").is_err());
    assert!(matches!(
        Signer::from_ed25519_pkcs8_der("../k", signer.pkcs8_der()),
        Err(KeyError::BadKid(_))
    ));
    assert!(!format!("{signer:?}").contains(&enc(signer.pkcs8_der())));
}

#[test]
fn sign_with_typ_and_sign_errors() {
    let signer = Signer::generate_ed25519("k1");
    let token = signer.sign_with_typ(&good_claims(), "secevent+jwt").unwrap();
    let d = decode_unverified(&token, &Limits::default()).unwrap();
    assert_eq!(
        d.header,
        json!({"alg": "EdDSA", "kid": "k1", "typ": "secevent+jwt"})
    );
    assert_eq!(d.signature_len, 64);
    assert_eq!(
        signer.sign_with_typ(&good_claims(), "a b"),
        Err(SignError::BadTyp)
    );
    assert_eq!(signer.sign_with_typ(&good_claims(), ""), Err(SignError::BadTyp));
    assert_eq!(
        signer.sign(&json!(["not", "an", "object"])),
        Err(SignError::NotAnObject)
    );
    let big = json!({"x": "a".repeat(10_000)});
    assert!(matches!(signer.sign(&big), Err(SignError::TooLarge(_))));
    let bad_kid = Signer::generate_ed25519("../../etc/passwd");
    assert!(matches!(bad_kid.sign(&good_claims()), Err(SignError::BadKid(_))));
}

#[test]
fn set_keys_rotates() {
    let old = Signer::generate_ed25519("old");
    let new = Signer::generate_ed25519("new");
    let mut v = Verifier::new(Policy::new(ISS, [AUD], [Algorithm::EdDSA]), old.key_set());
    let t_old = old.sign(&good_claims()).unwrap();
    let t_new = new.sign(&good_claims()).unwrap();
    assert!(v.verify::<Value>(&t_old, NOW).is_ok());
    assert_eq!(reason(&v, &t_new), RejectReason::UnknownKid);
    let mut ks = v.keys().clone();
    ks.insert(new.kid(), Algorithm::EdDSA, new.decoding_key());
    v.set_keys(ks);
    assert!(v.verify::<Value>(&t_old, NOW).is_ok());
    assert!(v.verify::<Value>(&t_new, NOW).is_ok());
    // With two keys, a token without kid can no longer be routed.
    let no_kid = {
        let input = format!(
            "{}.{}",
            enc(br#"{"alg":"EdDSA"}"#),
            enc(good_claims().to_string().as_bytes())
        );
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_ed_der(new.pkcs8_der()),
            Algorithm::EdDSA,
        )
        .unwrap();
        format!("{input}.{sig}")
    };
    let r = v.verify::<Value>(&no_kid, NOW).unwrap_err();
    assert_eq!(r.reason, RejectReason::UnknownKid);
    assert!(r.detail.contains("kid required"), "{r}");
    assert_eq!(v.keys().kids(), vec!["new".to_owned(), "old".to_owned()]);
}

/// One token per reason; the test fails if any reason is not reached, or reached with
/// a detail that quotes the token or the key.
#[test]
fn every_reject_reason_is_reachable_and_display_does_not_leak() {
    use RejectReason as R;
    let v = hs_verifier();
    let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
    let cases: Vec<(R, String)> = vec![
        (R::TooLarge, huge),
        (R::Malformed, "abc.def".to_owned()),
        (
            R::BadEncoding,
            hs(H, &good_claims().to_string()).replacen('.', "=.", 1),
        ),
        (R::BadJson, hs(H, r#"{"sub":"a","sub":"b"}"#)),
        (
            R::AlgNone,
            format!(
                "{}.{}.",
                enc(br#"{"alg":"nOnE"}"#),
                enc(good_claims().to_string().as_bytes())
            ),
        ),
        (
            R::AlgNotAllowed,
            hs(r#"{"alg":"HS384","kid":"hs"}"#, &good_claims().to_string()),
        ),
        (
            R::UnknownKid,
            hs(r#"{"alg":"HS256","kid":"other"}"#, &good_claims().to_string()),
        ),
        (
            R::BadKid,
            hs(
                r#"{"alg":"HS256","kid":"../../../dev/null"}"#,
                &good_claims().to_string(),
            ),
        ),
        (
            R::CritUnsupported,
            hs(
                r#"{"alg":"HS256","kid":"hs","crit":[]}"#,
                &good_claims().to_string(),
            ),
        ),
        (
            R::EmbeddedKey,
            hs(
                r#"{"alg":"HS256","kid":"hs","jku":"https://attacker.example/jwks"}"#,
                &good_claims().to_string(),
            ),
        ),
        (R::BadSignature, {
            let t = hs(H, &good_claims().to_string());
            let (input, _) = t.rsplit_once('.').unwrap();
            format!("{input}.{}", enc(&[7u8; 32]))
        }),
        (
            R::Expired,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("exp".into(), json!(NOW - 61));
                }),
            ),
        ),
        (
            R::NotYetValid,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("nbf".into(), json!(NOW + 61));
                }),
            ),
        ),
        (
            R::IssuedInFuture,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("iat".into(), json!(NOW + 61));
                }),
            ),
        ),
        (
            R::LifetimeTooLong,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("exp".into(), json!(NOW + 90_000));
                }),
            ),
        ),
        (
            R::BadIssuer,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("iss".into(), json!("https://evil.example/"));
                }),
            ),
        ),
        (
            R::BadAudience,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("aud".into(), json!(["api://other"]));
                }),
            ),
        ),
        (
            R::MissingClaim,
            hs(
                H,
                &claims_with(|m| {
                    m.remove("jti");
                }),
            ),
        ),
        (
            R::BadClaimType,
            hs(
                H,
                &claims_with(|m| {
                    m.insert("exp".into(), json!("never-secret-value"));
                }),
            ),
        ),
        (
            R::NestedToken,
            hs(
                r#"{"alg":"HS256","kid":"hs","cty":"JWT"}"#,
                &good_claims().to_string(),
            ),
        ),
    ];
    let mut seen = HashSet::new();
    let key_b64 = enc(HS_KEY);
    for (expected, token) in &cases {
        let r = v.verify::<Value>(token, NOW).unwrap_err();
        assert_eq!(r.reason, *expected, "{r}");
        seen.insert(r.reason);
        let shown = format!("{r} {r:?} {}", serde_json::to_string(&r).unwrap());
        assert!(shown.starts_with(&format!("{}: ", expected.as_str())), "{shown}");
        assert!(
            !shown.contains(&key_b64) && !shown.contains("0123456789abcdef"),
            "{shown}"
        );
        // No segment (or 12-char piece of one) of the token appears in the message.
        for seg in token.split('.').filter(|s| s.len() >= 12) {
            for piece in seg.as_bytes().chunks(12).filter(|c| c.len() == 12) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!shown.contains(piece), "{expected:?} leaks {piece}: {shown}");
            }
        }
        assert!(!shown.contains("never-secret-value"));
    }
    let all: HashSet<_> = R::ALL.into_iter().collect();
    assert_eq!(
        seen,
        all,
        "missing reasons: {:?}",
        all.difference(&seen).collect::<Vec<_>>()
    );
    // as_str and serde agree.
    for r in R::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
    }
}

#[test]
fn typed_claim_mismatch_does_not_quote_values() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct NeedsNumber {
        sub: u64,
    }
    let v = hs_verifier();
    let t = hs(
        H,
        &claims_with(|m| {
            m.insert("sub".into(), json!("alice-secret-name"));
        }),
    );
    let r = v.verify::<NeedsNumber>(&t, NOW).unwrap_err();
    assert_eq!(r.reason, RejectReason::BadClaimType);
    assert!(!r.to_string().contains("alice-secret-name"), "{r}");
}

#[test]
fn time_edges_and_numeric_dates() {
    let v = hs_verifier();
    let with_exp = |exp: Value| {
        hs(
            H,
            &claims_with(|m| {
                m.insert("exp".into(), exp);
            }),
        )
    };
    // exp == now is accepted only thanks to leeway; with leeway 0 it is expired.
    assert!(v.verify::<Value>(&with_exp(json!(NOW)), NOW).is_ok());
    let mut strict = hs_policy();
    strict.leeway_secs = 0;
    let mut ks = KeySet::new();
    ks.insert("hs", Algorithm::HS256, DecodingKey::from_secret(HS_KEY));
    let v0 = Verifier::new(strict, ks);
    assert_eq!(reason(&v0, &with_exp(json!(NOW))), RejectReason::Expired);
    assert!(v0.verify::<Value>(&with_exp(json!(NOW + 1)), NOW).is_ok());
    // Fractional exp rounds down.
    let ok = v.verify::<Value>(&with_exp(json!(1_750_000_300.9)), NOW).unwrap();
    assert_eq!(ok.registered.exp, Some(1_750_000_300));
    for bad in [
        json!(-1),
        json!(u64::MAX),
        json!(1e30),
        json!(MAX_NUMERIC_DATE + 1),
        json!("1750000600"),
        json!(true),
        json!(null),
    ] {
        assert_eq!(
            reason(&v, &with_exp(bad.clone())),
            RejectReason::BadClaimType,
            "{bad}"
        );
    }
    // Without iat the lifetime is measured from now.
    let no_iat = hs(
        H,
        &claims_with(|m| {
            m.remove("iat");
            m.insert("exp".into(), json!(NOW + 100_000));
        }),
    );
    let mut p = hs_policy();
    p.require_claims = vec!["sub", "jti"];
    let mut ks = KeySet::new();
    ks.insert("hs", Algorithm::HS256, DecodingKey::from_secret(HS_KEY));
    assert_eq!(
        reason(&Verifier::new(p, ks), &no_iat),
        RejectReason::LifetimeTooLong
    );
}

#[test]
fn empty_policy_fails_closed() {
    let mut ks = KeySet::new();
    ks.insert("hs", Algorithm::HS256, DecodingKey::from_secret(HS_KEY));
    let mut p = Policy {
        algorithms: vec![Algorithm::HS256],
        ..Policy::default()
    };
    let t = hs(H, &good_claims().to_string());
    assert_eq!(
        reason(&Verifier::new(p.clone(), ks.clone()), &t),
        RejectReason::BadIssuer
    );
    p.issuer = ISS.to_owned();
    assert_eq!(reason(&Verifier::new(p, ks), &t), RejectReason::BadAudience);
}

#[test]
fn decode_unverified_and_lint_basics() {
    let t = hs(
        r#"{"alg":"HS256","kid":"hs","jku":"https://x.example/"}"#,
        &claims_with(|m| {
            m.remove("jti");
        }),
    );
    let d = decode_unverified(&t, &Limits::default()).unwrap();
    assert_eq!(d.header["jku"], "https://x.example/");
    assert_eq!(d.signature_len, 32);
    assert_eq!(d.segment_lens[2], 43);
    let lints = lint(&d, &hs_policy(), NOW);
    let codes: Vec<_> = lints.iter().map(|l| l.code).collect();
    assert!(codes.contains(&"header-jku"), "{codes:?}");
    assert!(codes.contains(&"jti-missing"), "{codes:?}");
    assert!(
        lints
            .iter()
            .any(|l| l.code == "header-jku" && l.severity == Severity::Critical)
    );
    // A clean token has nothing above Info.
    let clean = decode_unverified(&hs(H, &good_claims().to_string()), &Limits::default()).unwrap();
    let worst = lint(&clean, &hs_policy(), NOW)
        .into_iter()
        .map(|l| l.severity)
        .max();
    assert_eq!(worst, Some(Severity::Info));
    // The inspector refuses the same malformed input the verifier does.
    assert_eq!(
        decode_unverified("a.b", &Limits::default()).unwrap_err().reason,
        RejectReason::Malformed
    );
}

#[test]
fn signature_length_is_checked_before_crypto() {
    let v = hs_verifier();
    let t = hs(H, &good_claims().to_string());
    let (input, sig) = t.rsplit_once('.').unwrap();
    let sig = crate::b64::decode(sig).unwrap();
    // Canonically encoded, but only the first 16 bytes of the real HMAC.
    let truncated = format!("{input}.{}", enc(&sig[..16]));
    let r = v.verify::<Value>(&truncated, NOW).unwrap_err();
    assert_eq!(r.reason, RejectReason::BadSignature);
    assert!(r.detail.contains("needs 32"), "{r}");
    // The real HMAC with one extra byte appended.
    let mut long = sig.clone();
    long.push(0);
    assert_eq!(
        reason(&v, &format!("{input}.{}", enc(&long))),
        RejectReason::BadSignature
    );
}
