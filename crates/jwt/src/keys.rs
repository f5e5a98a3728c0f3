//! Verification keys by `kid`, each bound to exactly one algorithm.
//!
//! The binding is what stops algorithm confusion: a token saying `HS256` for a kid whose
//! key is RSA is refused before any crypto runs, so the RSA public key can never be used
//! as an HMAC secret. JWKS loading is strict (Wycheproof `json_web_key_test`): duplicate
//! kids, private members, encryption keys, weak or malformed keys and sets mixing
//! symmetric with asymmetric keys are refused as a whole.

use crate::{b64, json};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the RustCrypto backend refuses more).
pub const MAX_RSA_BITS: usize = 4096;

/// Why a key or key set was refused. Messages name kids and members, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("JWKS is not valid JSON: {0}")]
    Json(String),
    #[error("JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("not a JWK set: {0}")]
    NotAKeySet(&'static str),
    #[error("key without a kid")]
    MissingKid,
    #[error("kid is not usable: {0}")]
    BadKid(&'static str),
    #[error("duplicate kid {0:?}")]
    DuplicateKid(String),
    #[error("key {kid:?}: unknown or unsupported kty")]
    UnknownKty { kid: String },
    #[error("key {kid:?}: private member {member:?} in a verification key set")]
    PrivateMember { kid: String, member: &'static str },
    #[error("key set mixes symmetric and asymmetric keys")]
    MixedSymmetry,
    #[error("key {kid:?}: not a signature-verification key ({0})", .why)]
    WrongUse { kid: String, why: &'static str },
    #[error("key {kid:?}: alg missing (required for RSA and oct keys)")]
    MissingAlg { kid: String },
    #[error("key {kid:?}: unsupported alg")]
    UnsupportedAlg { kid: String },
    #[error("key {kid:?}: alg does not match the key type or curve")]
    AlgMismatch { kid: String },
    #[error("key {kid:?}: unsupported curve")]
    UnsupportedCurve { kid: String },
    #[error("key {kid:?}: invalid key material ({why})")]
    InvalidKeyMaterial { kid: String, why: &'static str },
    #[error("key {kid:?}: weak key ({why})")]
    WeakKey { kid: String, why: &'static str },
}

/// Characters allowed in a `kid`, ours or the token's: `[A-Za-z0-9._:@-]`. No `/`,
/// quotes, spaces or shell metacharacters, so a kid can never be a path or a query.
pub(crate) fn check_kid(kid: &str, max_len: usize) -> Result<(), &'static str> {
    if kid.is_empty() {
        return Err("empty");
    }
    if kid.len() > max_len {
        return Err("too long");
    }
    if !kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
    {
        return Err("characters outside [A-Za-z0-9._:@-]");
    }
    Ok(())
}

#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

/// Public verification keys by kid (from a JWKS document or built directly).
#[derive(Clone, Default)]
pub struct KeySet {
    keys: BTreeMap<String, KeyEntry>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (kid, e) in &self.keys {
            m.entry(kid, &e.alg);
        }
        m.finish()
    }
}

impl KeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWKS document (`{"keys":[...]}`); all-or-nothing.
    pub fn from_jwks_json(json: &[u8]) -> Result<KeySet, KeyError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(KeyError::TooLarge);
        }
        let doc = json::parse_object(json, json::MAX_DEPTH).map_err(|e| KeyError::Json(e.to_string()))?;
        let keys = match doc.get("keys") {
            Some(Value::Array(keys)) => keys,
            Some(_) => return Err(KeyError::NotAKeySet("\"keys\" is not an array")),
            None => return Err(KeyError::NotAKeySet("no \"keys\" member")),
        };
        let mut set = KeySet::new();
        let (mut symmetric, mut asymmetric) = (false, false);
        for key in keys {
            let Value::Object(jwk) = key else {
                return Err(KeyError::NotAKeySet("a key is not a JSON object"));
            };
            // Duplicates first: "which of the two keys?" is the question that matters,
            // whatever else is wrong with the second one.
            if let Some(Value::String(kid)) = jwk.get("kid")
                && set.keys.contains_key(kid)
            {
                return Err(KeyError::DuplicateKid(kid.clone()));
            }
            let (kid, entry) = parse_jwk(jwk)?;
            if entry.alg.family() == AlgorithmFamily::Hmac {
                symmetric = true;
            } else {
                asymmetric = true;
            }
            set.keys.insert(kid, entry);
        }
        if symmetric && asymmetric {
            return Err(KeyError::MixedSymmetry);
        }
        Ok(set)
    }

    /// Adds or replaces the key for `kid`. The key is only ever used with `alg`.
    ///
    /// No checks run here (the signature is infallible); a key whose family does not
    /// match `alg`, or a kid outside `[A-Za-z0-9._:@-]{1,128}`, makes every token for that
    /// kid fail verification. Prefer [`KeySet::try_insert`].
    pub fn insert(&mut self, kid: &str, alg: Algorithm, key: DecodingKey) {
        self.keys.insert(kid.to_owned(), KeyEntry { alg, key });
    }

    /// [`KeySet::insert`] with the kid, the key family and (where visible) the key
    /// material checked first.
    pub fn try_insert(&mut self, kid: &str, alg: Algorithm, key: DecodingKey) -> Result<(), KeyError> {
        check_kid(kid, crate::Limits::default().max_kid_len).map_err(KeyError::BadKid)?;
        if key.family() != alg.family() {
            return Err(KeyError::AlgMismatch { kid: kid.to_owned() });
        }
        if let Some(why) = unusable(&key, alg) {
            return Err(KeyError::InvalidKeyMaterial {
                kid: kid.to_owned(),
                why,
            });
        }
        self.insert(kid, alg, key);
        Ok(())
    }

    /// Removes a key (rotation); returns whether it was present.
    pub fn remove(&mut self, kid: &str) -> bool {
        self.keys.remove(kid).is_some()
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The algorithm bound to `kid`.
    pub fn algorithm(&self, kid: &str) -> Option<Algorithm> {
        self.keys.get(kid).map(|e| e.alg)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.keys.get(kid)
    }

    pub(crate) fn only(&self) -> Option<(&str, &KeyEntry)> {
        let mut it = self.keys.iter();
        match (it.next(), it.next()) {
            (Some((kid, e)), None) => Some((kid.as_str(), e)),
            _ => None,
        }
    }
}

/// Key material that would make the backend misbehave (the RustCrypto EdDSA verifier
/// slices the first 32 bytes and panics on less).
pub(crate) fn unusable(key: &DecodingKey, alg: Algorithm) -> Option<&'static str> {
    match (key.kind(), alg.family()) {
        (DecodingKeyKind::SecretOrDer(b), AlgorithmFamily::Ed) if b.len() != 32 => {
            Some("Ed25519 public key must be 32 bytes")
        }
        (DecodingKeyKind::SecretOrDer(b), AlgorithmFamily::Hmac) if b.len() < hmac_min_len(alg) => {
            Some("HMAC key shorter than the hash output")
        }
        (DecodingKeyKind::RsaModulusExponent { .. }, f) if f != AlgorithmFamily::Rsa => {
            Some("RSA components for a non-RSA algorithm")
        }
        _ => None,
    }
}

fn hmac_min_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn parse_jwk(jwk: &Map<String, Value>) -> Result<(String, KeyEntry), KeyError> {
    let kid = match jwk.get("kid") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(KeyError::BadKid("not a string")),
        None => return Err(KeyError::MissingKid),
    };
    check_kid(&kid, crate::Limits::default().max_kid_len).map_err(KeyError::BadKid)?;
    let kty = match jwk.get("kty") {
        Some(Value::String(k)) => k.as_str(),
        _ => return Err(KeyError::UnknownKty { kid }),
    };
    if kty != "oct"
        && let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| jwk.contains_key(*m))
    {
        return Err(KeyError::PrivateMember { kid, member });
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => {
            return Err(KeyError::WrongUse {
                kid,
                why: "use is not \"sig\"",
            });
        }
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o.as_str() == Some("verify")) => {}
        Some(_) => {
            return Err(KeyError::WrongUse {
                kid,
                why: "key_ops does not include \"verify\"",
            });
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => match Algorithm::from_str(a) {
            Ok(a) => Some(a),
            Err(_) => return Err(KeyError::UnsupportedAlg { kid }),
        },
        Some(_) => return Err(KeyError::UnsupportedAlg { kid }),
    };
    let str_member = |name: &'static str| -> Result<Vec<u8>, KeyError> {
        match jwk.get(name) {
            Some(Value::String(s)) => b64::decode(s).map_err(|_| KeyError::InvalidKeyMaterial {
                kid: kid.clone(),
                why: "member is not strict base64url",
            }),
            _ => Err(KeyError::InvalidKeyMaterial {
                kid: kid.clone(),
                why: "required member missing",
            }),
        }
    };
    let crv = jwk.get("crv").and_then(Value::as_str);
    let entry = match kty {
        "RSA" => {
            let alg = alg.ok_or_else(|| KeyError::MissingAlg { kid: kid.clone() })?;
            if alg.family() != AlgorithmFamily::Rsa {
                return Err(KeyError::AlgMismatch { kid });
            }
            let n = str_member("n")?;
            let e = str_member("e")?;
            check_rsa(&kid, &n, &e)?;
            KeyEntry {
                alg,
                key: DecodingKey::from_rsa_raw_components(&n, &e),
            }
        }
        "EC" => {
            let (curve_alg, coord_len) = match crv {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Err(KeyError::UnsupportedCurve { kid }),
            };
            if alg.is_some_and(|a| a != curve_alg) {
                return Err(KeyError::AlgMismatch { kid });
            }
            let x = str_member("x")?;
            let y = str_member("y")?;
            if x.len() != coord_len || y.len() != coord_len {
                return Err(KeyError::InvalidKeyMaterial {
                    kid,
                    why: "coordinate length does not match the curve",
                });
            }
            let mut sec1 = Vec::with_capacity(1 + 2 * coord_len);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let on_curve = match curve_alg {
                Algorithm::ES256 => p256::PublicKey::from_sec1_bytes(&sec1).is_ok(),
                _ => p384::PublicKey::from_sec1_bytes(&sec1).is_ok(),
            };
            if !on_curve {
                return Err(KeyError::InvalidKeyMaterial {
                    kid,
                    why: "point is not on the curve",
                });
            }
            KeyEntry {
                alg: curve_alg,
                key: DecodingKey::from_ec_der(&sec1),
            }
        }
        "OKP" => {
            if crv != Some("Ed25519") {
                return Err(KeyError::UnsupportedCurve { kid });
            }
            if alg.is_some_and(|a| a != Algorithm::EdDSA) {
                return Err(KeyError::AlgMismatch { kid });
            }
            let x = str_member("x")?;
            let Ok(bytes) = <[u8; 32]>::try_from(x.as_slice()) else {
                return Err(KeyError::InvalidKeyMaterial {
                    kid,
                    why: "Ed25519 x must be 32 bytes",
                });
            };
            let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
                return Err(KeyError::InvalidKeyMaterial {
                    kid,
                    why: "not an Ed25519 point",
                });
            };
            if vk.is_weak() {
                return Err(KeyError::WeakKey {
                    kid,
                    why: "small-order Ed25519 key",
                });
            }
            KeyEntry {
                alg: Algorithm::EdDSA,
                key: DecodingKey::from_ed_der(&bytes),
            }
        }
        "oct" => {
            let alg = alg.ok_or_else(|| KeyError::MissingAlg { kid: kid.clone() })?;
            if alg.family() != AlgorithmFamily::Hmac {
                return Err(KeyError::AlgMismatch { kid });
            }
            let k = zeroize::Zeroizing::new(str_member("k")?);
            if k.len() < hmac_min_len(alg) {
                return Err(KeyError::WeakKey {
                    kid,
                    why: "HMAC key shorter than the hash output (RFC 7518 s3.2)",
                });
            }
            KeyEntry {
                alg,
                key: DecodingKey::from_secret(&k),
            }
        }
        _ => return Err(KeyError::UnknownKty { kid }),
    };
    Ok((kid, entry))
}

fn check_rsa(kid: &str, n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = n
        .first()
        .map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
    let weak = |why| {
        Err(KeyError::WeakKey {
            kid: kid.to_owned(),
            why,
        })
    };
    if bits < MIN_RSA_BITS {
        return weak("RSA modulus shorter than 2048 bits");
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyError::InvalidKeyMaterial {
            kid: kid.to_owned(),
            why: "RSA modulus longer than 4096 bits",
        });
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::InvalidKeyMaterial {
            kid: kid.to_owned(),
            why: "RSA modulus is even",
        });
    }
    // e must be odd, > 1 and small enough to be a real public exponent (<= 2^32).
    let e_ok = !e.is_empty() && e.len() <= 4 && e.last().is_some_and(|b| b & 1 == 1) && e != [1];
    if !e_ok {
        return weak("RSA public exponent is 1, even or oversized");
    }
    if is_roca_vulnerable(n) {
        return weak("RSA modulus has the ROCA fingerprint (CVE-2017-15361)");
    }
    Ok(())
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// ROCA (CVE-2017-15361) fingerprint: moduli generated by the vulnerable Infineon library
/// lie, modulo each of these small primes, in the subgroup generated by 65537. A random
/// modulus passes all 38 tests with negligible probability.
fn is_roca_vulnerable(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101,
        103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n.iter().fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1u32;
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                break;
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_charset() {
        assert!(check_kid("bilbo.baggins@hobbiton.example", 128).is_ok());
        assert!(check_kid("018c0ae5-4d9b-471b-bfd6-eef314bc7037", 128).is_ok());
        for bad in [
            "",
            "../../dev/null",
            "/dev/null",
            "x' UNION SELECT '1';--",
            "|sleep 10",
            "a b",
        ] {
            assert!(check_kid(bad, 128).is_err(), "{bad:?}");
        }
        assert!(check_kid(&"A".repeat(129), 128).is_err());
    }

    #[test]
    fn roca_fingerprint_needs_every_prime() {
        // 65537^k is always in the subgroup; a number that is 0 mod 3 never is.
        assert!(!is_roca_vulnerable(&[3]));
        assert!(is_roca_vulnerable(&[0x01, 0x00, 0x01]));
    }

    #[test]
    fn oct_key_length_and_mixing() {
        let short = br#"{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg"}]}"#;
        assert!(matches!(
            KeySet::from_jwks_json(short),
            Err(KeyError::WeakKey { .. })
        ));
        let no_alg =
            br#"{"keys":[{"kty":"oct","kid":"a","k":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}]}"#;
        assert!(matches!(
            KeySet::from_jwks_json(no_alg),
            Err(KeyError::MissingAlg { .. })
        ));
        let ok = br#"{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}]}"#;
        assert_eq!(KeySet::from_jwks_json(ok).unwrap().kids(), vec!["a".to_owned()]);
    }

    #[test]
    fn try_insert_checks_family_and_material() {
        let mut ks = KeySet::new();
        let e = ks.try_insert("k", Algorithm::HS256, DecodingKey::from_ed_der(&[1; 32]));
        assert!(matches!(e, Err(KeyError::AlgMismatch { .. })));
        let e = ks.try_insert("k", Algorithm::EdDSA, DecodingKey::from_ed_der(&[1; 3]));
        assert!(matches!(e, Err(KeyError::InvalidKeyMaterial { .. })));
        let e = ks.try_insert("../k", Algorithm::HS256, DecodingKey::from_secret(&[1; 32]));
        assert!(matches!(e, Err(KeyError::BadKid(_))));
        ks.try_insert("k", Algorithm::HS256, DecodingKey::from_secret(&[1; 32]))
            .unwrap();
        assert_eq!(ks.algorithm("k"), Some(Algorithm::HS256));
        assert!(ks.remove("k"));
        assert!(ks.is_empty());
    }
}
