#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs every case of `shared/data/jwt/attack-corpus/jwt-attack-corpus.json` through the
//! verifier profile it names, with the clock injected at `reference_now_unix`, and checks
//! the corpus verdict plus the exact rejection reason. Then generates the
//! `generated_cases_not_stored` DoS cases.

use gatehouse_jwt::{
    Algorithm, KeyError, KeySet, Limits, Lint, Policy, RejectReason, Severity, Verifier, decode_unverified,
    lint,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/jwt");

fn read_json(rel: &str) -> Value {
    let path = format!("{DATA}/{rel}");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

struct Corpus {
    doc: Value,
    now: i64,
    leeway: u64,
}

fn corpus() -> Corpus {
    let doc = read_json("attack-corpus/jwt-attack-corpus.json");
    let now = doc["reference_now_unix"].as_i64().unwrap();
    let leeway = doc["leeway_seconds"].as_u64().unwrap();
    Corpus { doc, now, leeway }
}

/// The corpus profile as its README states it: pinned alg, iss/aud, leeway 60. The README
/// sets no lifetime cap and classes a future `iat` as a finding, not a rejection, so the
/// two checks our defaults add are off here (the strict defaults are exercised below).
fn corpus_policy(c: &Corpus, alg: Algorithm) -> Policy {
    let mut p = Policy::new(
        c.doc["expected_iss"].as_str().unwrap(),
        [c.doc["expected_aud"].as_str().unwrap()],
        [alg],
    );
    p.leeway_secs = c.leeway;
    p.max_lifetime_secs = None;
    p.reject_future_iat = false;
    p
}

fn jwks(jwk: Value) -> Vec<u8> {
    json!({ "keys": [jwk] }).to_string().into_bytes()
}

/// Key sets per profile. `es256-any` is "any P-256 key": two unrelated ones.
fn profile_keys(profile: &str) -> Vec<KeySet> {
    match profile {
        "hs" => vec![
            KeySet::from_jwks_json(&jwks(read_json(
                "jose-cookbook/jwk/3_5.symmetric_key_mac_computation.json",
            )))
            .unwrap(),
        ],
        "rs" => {
            let mut jwk = read_json("jose-cookbook/jwk/3_3.rsa_public_key.json");
            // RFC 7520's JWK has no alg; RSA keys must be bound to one, the profile pins RS256.
            assert!(matches!(
                KeySet::from_jwks_json(&jwks(jwk.clone())),
                Err(KeyError::MissingAlg { .. })
            ));
            jwk["alg"] = json!("RS256");
            vec![KeySet::from_jwks_json(&jwks(jwk)).unwrap()]
        }
        "es256-any" => [
            // Wycheproof json_web_signature kid-ec-sign, and RFC 7515 A.3.
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
        .map(|(x, y)| {
            KeySet::from_jwks_json(&jwks(json!({"kty":"EC","crv":"P-256","kid":"p256","x":x,"y":y}))).unwrap()
        })
        .collect(),
        "es512" => {
            // jsonwebtoken has no ES512: the P-521 key cannot be loaded, so an ES512 verifier
            // cannot be built; ES512 tokens meet an empty key set and an allow-list without it.
            let jwk = read_json("jose-cookbook/jwk/3_1.ec_public_key.json");
            assert!(matches!(
                KeySet::from_jwks_json(&jwks(jwk)),
                Err(KeyError::UnsupportedCurve { .. })
            ));
            vec![KeySet::new()]
        }
        other => panic!("unknown profile {other}"),
    }
}

fn profile_alg(profile: &str) -> Algorithm {
    match profile {
        "hs" => Algorithm::HS256,
        "rs" => Algorithm::RS256,
        "es256-any" => Algorithm::ES256,
        // Closest representable pin; ES512 itself is not an Algorithm.
        "es512" => Algorithm::ES384,
        other => panic!("unknown profile {other}"),
    }
}

/// The reason each rejected case must get (a case refused for the wrong reason would
/// hide a gap in the check that was meant to catch it).
fn expected_reason(id: &str) -> Option<RejectReason> {
    use RejectReason as R;
    Some(match id {
        "tampered_payload" | "empty_signature" | "blank_hmac_secret" => R::BadSignature,
        // The stored segment is 21 characters: no canonical base64url has length 1 mod 4.
        "truncated_hmac" => R::BadEncoding,
        "alg_none" | "alg_None" | "alg_NONE" | "alg_nOnE" | "alg_none_with_signature" => R::AlgNone,
        "alg_lowercase_hs256" => R::AlgNotAllowed,
        "two_segments" | "four_segments" | "jwe_compact_to_jws_verifier" | "b64_false_jwt" => R::Malformed,
        "key_confusion_rs256_to_hs256_pem"
        | "key_confusion_rs256_to_hs256_pem_nonl"
        | "key_confusion_rs256_to_hs256_der" => R::AlgNotAllowed,
        "kid_path_traversal_dev_null"
        | "kid_absolute_path_dev_null"
        | "kid_sql_injection"
        | "kid_command_injection"
        | "kid_4k_long" => R::BadKid,
        "jku_injection" | "x5u_injection" => R::EmbeddedKey,
        // The embedded key is ignored; the pinned key does not verify the signature.
        "embedded_jwk_rs256" | "embedded_jwk_oct" => R::BadSignature,
        "psychic_es256_zero_sig" | "ecdsa_der_instead_of_raw" => R::BadSignature,
        "psychic_es512_zero_sig" => R::AlgNotAllowed,
        "crit_unknown_extension"
        | "crit_unknown_extension_string"
        | "crit_empty_list"
        | "crit_lists_registered_param" => R::CritUnsupported,
        "exp_expired" => R::Expired,
        "exp_missing" | "aud_missing" => R::MissingClaim,
        "exp_string" | "exp_negative" | "exp_huge_u64" | "exp_1e30" | "nbf_string" => R::BadClaimType,
        "nbf_future" => R::NotYetValid,
        "aud_mismatch" => R::BadAudience,
        "iss_mismatch" | "iss_trailing_slash_variant" => R::BadIssuer,
        "duplicate_claim_sub"
        | "duplicate_header_alg"
        | "header_bom"
        | "header_trailing_garbage"
        | "header_is_array"
        | "payload_not_object" => R::BadJson,
        "base64_padding" | "base64_standard_alphabet" | "whitespace_inside" => R::BadEncoding,
        "nested_jwt_inner_unsigned" => R::NestedToken,
        _ => return None,
    })
}

/// Findings the inspector must raise (at Warning or above) for the `flag` cases, and
/// the reason our strict default policy gives when it refuses them.
fn flag_expectation(id: &str) -> (&'static str, Option<RejectReason>) {
    match id {
        "iat_future" => ("iat-in-future", Some(RejectReason::IssuedInFuture)),
        "iat_after_exp" => ("iat-after-exp", Some(RejectReason::IssuedInFuture)),
        "lifetime_30_days" => ("lifetime-too-long", Some(RejectReason::LifetimeTooLong)),
        "jwk_header_leaks_secret" => ("header-jwk-secret", None),
        other => panic!("no flag expectation for {other}"),
    }
}

fn warnings(lints: &[Lint]) -> Vec<&'static str> {
    lints
        .iter()
        .filter(|l| l.severity >= Severity::Warning)
        .map(|l| l.code)
        .collect()
}

fn run(keys: &KeySet, policy: Policy, token: &str, now: i64) -> Result<(), RejectReason> {
    Verifier::new(policy, keys.clone())
        .verify::<Value>(token, now)
        .map(|_| ())
        .map_err(|r| r.reason)
}

#[test]
fn every_corpus_case_gets_its_verdict() {
    let c = corpus();
    let cases = c.doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 65, "corpus size changed");
    let mut ids = HashSet::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let strict_default = |alg| {
        let mut p = corpus_policy(&c, alg);
        let d = Policy::default();
        p.max_lifetime_secs = d.max_lifetime_secs;
        p.reject_future_iat = d.reject_future_iat;
        p
    };

    for case in cases {
        let id = case["id"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "duplicate id {id}");
        let profile = case["verifier"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let alg = profile_alg(profile);
        let decoded = decode_unverified(token, &Limits::default());
        let lints = decoded
            .as_ref()
            .map(|d| lint(d, &corpus_policy(&c, alg), c.now))
            .unwrap_or_default();

        for keys in profile_keys(profile) {
            let got = run(&keys, corpus_policy(&c, alg), token, c.now);
            let problem = match expect {
                "accept" => match got {
                    Err(r) => Some(format!("rejected with {r:?}")),
                    Ok(()) if !warnings(&lints).is_empty() => {
                        Some(format!("accepted but lint cried wolf: {:?}", warnings(&lints)))
                    }
                    Ok(()) => run(&keys, strict_default(alg), token, c.now)
                        .err()
                        .map(|r| format!("strict defaults reject a valid token: {r:?}")),
                },
                "reject" => match (got, expected_reason(id)) {
                    (Ok(()), _) => Some("accepted".to_owned()),
                    (Err(r), Some(want)) if r != want => {
                        Some(format!("rejected with {r:?}, expected {want:?}"))
                    }
                    (Err(_), None) => Some("no expected reason listed".to_owned()),
                    (Err(r), Some(_)) => {
                        // Whatever the inspector can decode and the verifier refuses for a
                        // reason visible without the key must also show up as a finding.
                        let visible = r != RejectReason::BadSignature;
                        (decoded.is_ok() && visible && warnings(&lints).is_empty())
                            .then(|| format!("rejected ({r:?}) but lint reports nothing"))
                    }
                },
                "flag" => {
                    let (code, strict_reason) = flag_expectation(id);
                    let strict = run(&keys, strict_default(alg), token, c.now);
                    if let Err(r) = got {
                        Some(format!("flag case rejected with {r:?}"))
                    } else if !warnings(&lints).contains(&code) {
                        Some(format!("lint lacks {code}: {:?}", warnings(&lints)))
                    } else if strict.err() != strict_reason {
                        Some(format!(
                            "strict defaults gave {strict:?}, expected {strict_reason:?}"
                        ))
                    } else {
                        None
                    }
                }
                "reject-or-flag" => match got {
                    Ok(()) if warnings(&lints).is_empty() => Some("accepted without a finding".to_owned()),
                    Err(r) if expected_reason(id).is_some_and(|w| w != r) => {
                        Some(format!("rejected with {r:?}"))
                    }
                    _ => None,
                },
                "reject-if-leeway-0" => {
                    let mut p0 = corpus_policy(&c, alg);
                    p0.leeway_secs = 0;
                    match (got, run(&keys, p0, token, c.now)) {
                        (Ok(()), Err(RejectReason::Expired)) => None,
                        other => Some(format!("leeway 60 / 0 gave {other:?}")),
                    }
                }
                other => panic!("unknown expect {other}"),
            };
            if let Some(p) = problem {
                failures.push(format!("{id} [{profile}, {expect}]: {p}"));
            }
        }
        *tally.entry(expect.to_owned()).or_default() += 1;
    }
    println!(
        "attack corpus: {} cases, by verdict {tally:?}, failures {}",
        ids.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "corpus failures:\n{}", failures.join("\n"));
    assert_eq!(tally.values().sum::<usize>(), 65);
}

// ---- generated_cases_not_stored ----

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    // Tiny local encoder so the test does not trust the crate's own encoder.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.write_char(A[(n >> (18 - 6 * i) & 63) as usize] as char)
                .unwrap();
        }
    }
    out
}

const HS_SECRET_B64: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";

fn hs_signed(header: &str, payload: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_base64_secret("hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG+Onbc6mxCcYg=")
        .unwrap();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{input}.{sig}")
}

fn hs_verifier(c: &Corpus, limits: Limits) -> Verifier {
    let mut p = corpus_policy(c, Algorithm::HS256);
    p.limits = limits;
    Verifier::new(p, profile_keys("hs").remove(0))
}

/// Runs the verifier and the inspector; both must refuse with `want` within `budget`.
fn refuse_fast(v: &Verifier, token: &str, now: i64, want: RejectReason, budget: Duration) {
    let t = Instant::now();
    let r = v.verify::<Value>(token, now).unwrap_err();
    let d = decode_unverified(token, &v.policy().limits).unwrap_err();
    let took = t.elapsed();
    assert_eq!((r.reason, d.reason), (want, want), "{r} / {d}");
    assert!(took < budget, "took {took:?}");
    assert!(r.detail.len() < 200);
}

#[test]
fn generated_dos_cases_are_refused_quickly() {
    let c = corpus();
    let gen_ids: Vec<&str> = c.doc["generated_cases_not_stored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        gen_ids,
        [
            "oversized_token",
            "many_dots",
            "deep_json_nesting",
            "huge_claim_count",
            "jwe_zip_bomb",
            "pbes2_high_p2c"
        ]
    );
    let v = hs_verifier(&c, Limits::default());
    let budget = Duration::from_millis(250);
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037"}"#;
    let claims = |extra: &str| {
        format!(
            r#"{{"iss":"https://idp.example.com/","sub":"alice","aud":"api://console","iat":1749999400,"exp":1750003000,"jti":"j"{extra}}}"#
        )
    };
    // Sanity: the generator makes tokens the verifier accepts when small.
    assert!(v.verify::<Value>(&hs_signed(header, &claims("")), c.now).is_ok());
    assert_eq!(HS_SECRET_B64.len(), 43);

    // oversized_token: validly signed, 1 MiB claim.
    let big = hs_signed(header, &claims(&format!(r#","blob":"{}""#, "x".repeat(1 << 20))));
    refuse_fast(&v, &big, c.now, RejectReason::TooLarge, budget);

    // many_dots: rejected by size; with the size cap lifted, by segment count, in O(n).
    let dots = format!("a{}", ".".repeat(100_000));
    refuse_fast(&v, &dots, c.now, RejectReason::TooLarge, budget);
    let lifted = Limits {
        max_token_bytes: 1 << 21,
        max_segment_bytes: 1 << 21,
        ..Limits::default()
    };
    refuse_fast(
        &hs_verifier(&c, lifted.clone()),
        &dots,
        c.now,
        RejectReason::Malformed,
        budget,
    );
    refuse_fast(
        &v,
        &format!("a{}", ".".repeat(8000)),
        c.now,
        RejectReason::Malformed,
        budget,
    );

    // deep_json_nesting: 100 000 levels. Size cap first; with it lifted, the depth limit
    // (no stack overflow: serde_json's recursion guard and ours both apply).
    let deep = claims(&format!(
        r#","x":{}1{}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    ));
    let deep = hs_signed(header, &deep);
    refuse_fast(&v, &deep, c.now, RejectReason::TooLarge, budget);
    refuse_fast(
        &hs_verifier(&c, lifted.clone()),
        &deep,
        c.now,
        RejectReason::BadJson,
        budget,
    );
    let shallow_but_over = hs_signed(
        header,
        &claims(&format!(r#","x":{}1{}"#, "[".repeat(40), "]".repeat(40))),
    );
    refuse_fast(&v, &shallow_but_over, c.now, RejectReason::BadJson, budget);

    // huge_claim_count: 100 000 distinct claims.
    let many: String = (0..100_000).map(|i| format!(r#","c{i}":0"#)).collect();
    refuse_fast(
        &v,
        &hs_signed(header, &claims(&many)),
        c.now,
        RejectReason::TooLarge,
        budget,
    );

    // jwe_zip_bomb: a compact JWE (5 segments) with zip=DEF is never decrypted or inflated.
    let jwe = |h: &str| {
        format!(
            "{}.{}.{}.{}.{}",
            b64(h.as_bytes()),
            "",
            b64(&[0; 12]),
            b64(&[0x78; 4000]),
            b64(&[0; 16])
        )
    };
    refuse_fast(
        &v,
        &jwe(r#"{"alg":"dir","enc":"A128GCM","zip":"DEF"}"#),
        c.now,
        RejectReason::Malformed,
        budget,
    );
    // The same header squeezed into a JWS shape is still refused (JWE parameter).
    let jws_zip = hs_signed(r#"{"alg":"HS256","zip":"DEF"}"#, &claims(""));
    assert_eq!(
        v.verify::<Value>(&jws_zip, c.now).unwrap_err().reason,
        RejectReason::Malformed
    );

    // pbes2_high_p2c: p2c = 2^31 never reaches a KDF.
    let pbes2 =
        r#"{"alg":"PBES2-HS256+A128KW","enc":"A128GCM","p2c":2147483648,"p2s":"AAAAAAAAAAAAAAAAAAAAAA"}"#;
    refuse_fast(&v, &jwe(pbes2), c.now, RejectReason::Malformed, budget);
    let jws_pbes2 = hs_signed(pbes2, &claims(""));
    assert_eq!(
        v.verify::<Value>(&jws_pbes2, c.now).unwrap_err().reason,
        RejectReason::AlgNotAllowed
    );
}

#[test]
fn local_base64_matches_rfc4648_vectors() {
    // The generator above must itself be right, or the DoS cases prove nothing.
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"f"), "Zg");
    assert_eq!(b64(b"fo"), "Zm8");
    assert_eq!(b64(b"foo"), "Zm9v");
    assert_eq!(b64(b"foob"), "Zm9vYg");
    assert_eq!(b64(&[0xfb, 0xff]), "-_8");
}
