//! The verification pipeline, cheapest and least trusting steps first:
//! size → segment count → strict base64url → strict JSON header → header rules (alg
//! none/allow-list, crit, embedded keys, nesting, kid) → key by kid, bound alg →
//! signature → strict JSON claims → registered-claim types → iss/aud → time.
//!
//! `verify_signature` stops after the signature (the JWS layer, tested against
//! Wycheproof, whose payloads are not claim sets); `verify` runs the whole JWT layer.

use crate::keys::{KeyEntry, check_kid, unusable};
use crate::reject::{RejectReason as R, Rejection, fragment};
use crate::{KeySet, Limits, Policy, b64, json};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde_json::{Map, Value};
use std::str::FromStr;

/// Largest NumericDate accepted: 9999-12-31T23:59:59Z. Anything beyond is a forgery or a
/// bug, and bounding it keeps all time arithmetic far from overflow.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The protected header fields a caller may rely on after verification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub cty: Option<String>,
}

/// RFC 7519 registered claims (plus `sid`), type-checked. NumericDates are whole
/// seconds: a fractional `exp` is rounded down, `nbf`/`iat` up (the stricter side).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegisteredClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// Empty when the token has no `aud`.
    pub aud: Vec<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    pub sid: Option<String>,
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Verified<C> {
    pub header: Header,
    pub registered: RegisteredClaims,
    pub claims: C,
}

/// A JWS whose header and signature passed; the payload is unparsed bytes.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    pub header: Header,
    pub payload: Vec<u8>,
}

/// Verifies tokens against one [`Policy`] and one [`KeySet`]. Cheap to share (`&self`).
#[derive(Debug, Clone)]
pub struct Verifier {
    policy: Policy,
    keys: KeySet,
}

/// The three segments of a compact token, decoded strictly.
pub(crate) struct Compact<'t> {
    pub(crate) signing_input: &'t str,
    pub(crate) signature_b64: &'t str,
    pub(crate) header: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// Size and shape checks, then strict base64url on each segment. Counting separators
/// stops at the third, so `a....` (100 000 dots) costs no allocation per segment.
pub(crate) fn split<'t>(token: &'t str, limits: &Limits) -> Result<Compact<'t>, Rejection> {
    if token.len() > limits.max_token_bytes {
        return Err(Rejection::new(
            R::TooLarge,
            format!("token is {} bytes, limit {}", token.len(), limits.max_token_bytes),
        ));
    }
    let mut dots = token
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'.')
        .map(|(i, _)| i);
    let (Some(d1), Some(d2), None) = (dots.next(), dots.next(), dots.next()) else {
        let n = token.bytes().filter(|&b| b == b'.').count() + 1;
        return Err(Rejection::new(
            R::Malformed,
            format!("expected 3 dot-separated segments (compact JWS), found {n}"),
        ));
    };
    let (h, p, s) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
    for (name, seg) in [("header", h), ("payload", p), ("signature", s)] {
        if seg.len() > limits.max_segment_bytes {
            return Err(Rejection::new(
                R::TooLarge,
                format!(
                    "{name} segment is {} bytes, limit {}",
                    seg.len(),
                    limits.max_segment_bytes
                ),
            ));
        }
        if !b64::is_alphabet(seg) {
            return Err(Rejection::new(
                R::BadEncoding,
                format!("{name} segment has characters outside unpadded base64url"),
            ));
        }
    }
    if h.is_empty() {
        return Err(Rejection::new(R::Malformed, "empty header segment"));
    }
    let dec = |name: &str, seg: &str| {
        b64::decode(seg).map_err(|_| {
            Rejection::new(
                R::BadEncoding,
                format!("{name} segment is not canonical base64url"),
            )
        })
    };
    Ok(Compact {
        signing_input: &token[..d2],
        signature_b64: s,
        header: dec("header", h)?,
        payload: dec("payload", p)?,
        signature: dec("signature", s)?,
    })
}

pub(crate) fn parse_json(what: &str, bytes: &[u8], limits: &Limits) -> Result<Map<String, Value>, Rejection> {
    json::parse_object(bytes, limits.max_json_depth)
        .map_err(|e| Rejection::new(R::BadJson, format!("{what}: {e}")))
}

/// Header rules that do not depend on keys. `allowed` is the policy allow-list.
fn check_header(h: &Map<String, Value>, allowed: &[Algorithm], limits: &Limits) -> Result<Header, Rejection> {
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a,
        Some(_) => return Err(Rejection::new(R::Malformed, "alg is not a string")),
        None => return Err(Rejection::new(R::Malformed, "alg missing")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Rejection::new(
            R::AlgNone,
            "unsecured JWS (alg none) is never accepted",
        ));
    }
    let Ok(alg_parsed) = Algorithm::from_str(alg) else {
        return Err(Rejection::new(
            R::AlgNotAllowed,
            format!(
                "unsupported alg {:?} (names are case-sensitive)",
                fragment(alg, 16)
            ),
        ));
    };
    if !allowed.contains(&alg_parsed) {
        return Err(Rejection::new(
            R::AlgNotAllowed,
            format!("alg {alg_parsed:?} is not in the policy allow-list"),
        ));
    }
    if h.contains_key("crit") {
        return Err(Rejection::new(
            R::CritUnsupported,
            "crit present: no JWS extension is understood (RFC 7515 s4.1.11)",
        ));
    }
    if h.contains_key("b64") {
        return Err(Rejection::new(
            R::CritUnsupported,
            "b64 (RFC 7797 unencoded payload) is not supported for JWTs",
        ));
    }
    for member in ["jku", "x5u", "x5c"] {
        if h.contains_key(member) {
            return Err(Rejection::new(
                R::EmbeddedKey,
                format!("header carries {member}: keys are never fetched or taken from the token"),
            ));
        }
    }
    for member in ["enc", "zip", "p2c", "p2s", "epk"] {
        if h.contains_key(member) {
            return Err(Rejection::new(
                R::Malformed,
                format!("JWE header parameter {member} in a JWS"),
            ));
        }
    }
    let opt_str = |name: &str| -> Result<Option<String>, Rejection> {
        match h.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Rejection::new(R::Malformed, format!("{name} is not a string"))),
        }
    };
    let cty = opt_str("cty")?;
    if cty.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("JWT")) {
        return Err(Rejection::new(
            R::NestedToken,
            "cty JWT: nested tokens are refused",
        ));
    }
    let typ = opt_str("typ")?;
    let kid = match h.get("kid") {
        None => None,
        Some(Value::String(k)) => {
            check_kid(k, limits.max_kid_len)
                .map_err(|why| Rejection::new(R::BadKid, format!("kid {why}")))?;
            Some(k.clone())
        }
        Some(_) => return Err(Rejection::new(R::BadKid, "kid is not a string")),
    };
    Ok(Header {
        alg: alg_parsed,
        kid,
        typ,
        cty,
    })
}

fn expected_signature_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 | Algorithm::ES256 | Algorithm::EdDSA => Some(64),
        Algorithm::ES384 => Some(96),
        _ => None,
    }
}

fn rsa_modulus_len(entry: &KeyEntry) -> Option<usize> {
    match entry.key.kind() {
        jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, .. } => {
            Some(n.iter().skip_while(|&&b| b == 0).count())
        }
        jsonwebtoken::DecodingKeyKind::SecretOrDer(_) => None,
    }
}

fn check_signature(c: &Compact<'_>, alg: Algorithm, entry: &KeyEntry) -> Result<(), Rejection> {
    let sig = &c.signature;
    if sig.is_empty() {
        return Err(Rejection::new(R::BadSignature, "signature missing"));
    }
    let expected = expected_signature_len(alg).or_else(|| rsa_modulus_len(entry));
    if let Some(len) = expected
        && sig.len() != len
    {
        return Err(Rejection::new(
            R::BadSignature,
            format!("signature is {} bytes, {alg:?} needs {len}", sig.len()),
        ));
    }
    if alg.family() == AlgorithmFamily::Ec {
        let (r, s) = sig.split_at(sig.len() / 2);
        if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
            return Err(Rejection::new(R::BadSignature, "ECDSA r or s is zero"));
        }
    }
    if entry.key.family() != alg.family() {
        return Err(Rejection::new(
            R::BadSignature,
            "configured key does not fit the algorithm",
        ));
    }
    if let Some(why) = unusable(&entry.key, alg) {
        return Err(Rejection::new(
            R::BadSignature,
            format!("configured key unusable: {why}"),
        ));
    }
    match jsonwebtoken::crypto::verify(c.signature_b64, c.signing_input.as_bytes(), &entry.key, alg) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(Rejection::new(R::BadSignature, "signature does not verify")),
    }
}

/// Rounding for fractional NumericDates: towards the stricter side for each claim.
#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

fn numeric_date(claims: &Map<String, Value>, name: &str, round: Round) -> Result<Option<i64>, Rejection> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = v else {
        return Err(Rejection::new(
            R::BadClaimType,
            format!("{name} must be a JSON number (NumericDate)"),
        ));
    };
    let out_of_range = || {
        Rejection::new(
            R::BadClaimType,
            format!("{name} is out of range (0..={MAX_NUMERIC_DATE})"),
        )
    };
    // Integers beyond i64 (e.g. 2^64-1) take the float path and land out of range.
    let secs = if let Some(i) = n.as_i64() {
        i
    } else {
        let f = n.as_f64().ok_or_else(out_of_range)?;
        let f = match round {
            Round::Down => f.floor(),
            Round::Up => f.ceil(),
        };
        if !(0.0..=MAX_NUMERIC_DATE as f64).contains(&f) {
            return Err(out_of_range());
        }
        // In range and integral, so the conversion is exact.
        f as i64
    };
    if !(0..=MAX_NUMERIC_DATE).contains(&secs) {
        return Err(out_of_range());
    }
    Ok(Some(secs))
}

fn opt_string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::new(
            R::BadClaimType,
            format!("{name} must be a string"),
        )),
    }
}

/// Type-checks the registered claims. Shared with the inspector's lints.
pub(crate) fn registered_claims(claims: &Map<String, Value>) -> Result<RegisteredClaims, Rejection> {
    let aud = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Rejection::new(R::BadClaimType, "aud array must hold only strings"))?,
        Some(_) => {
            return Err(Rejection::new(
                R::BadClaimType,
                "aud must be a string or a non-empty array of strings",
            ));
        }
    };
    Ok(RegisteredClaims {
        iss: opt_string(claims, "iss")?,
        sub: opt_string(claims, "sub")?,
        aud,
        exp: numeric_date(claims, "exp", Round::Down)?,
        nbf: numeric_date(claims, "nbf", Round::Up)?,
        iat: numeric_date(claims, "iat", Round::Up)?,
        jti: opt_string(claims, "jti")?,
        sid: opt_string(claims, "sid")?,
    })
}

fn check_claims(
    claims: &Map<String, Value>,
    policy: &Policy,
    now: i64,
) -> Result<RegisteredClaims, Rejection> {
    let reg = registered_claims(claims)?;
    for name in std::iter::once(&"exp").chain(policy.require_claims.iter()) {
        if !claims.contains_key(*name) {
            return Err(Rejection::new(
                R::MissingClaim,
                format!("required claim {:?} missing", fragment(name, 32)),
            ));
        }
    }
    if policy.issuer.is_empty() {
        return Err(Rejection::new(R::BadIssuer, "policy has no issuer configured"));
    }
    match &reg.iss {
        None => return Err(Rejection::new(R::MissingClaim, "iss missing")),
        Some(iss) if *iss != policy.issuer => {
            return Err(Rejection::new(R::BadIssuer, "iss is not the expected issuer"));
        }
        Some(_) => {}
    }
    if policy.audiences.is_empty() {
        return Err(Rejection::new(
            R::BadAudience,
            "policy has no audience configured",
        ));
    }
    if reg.aud.is_empty() {
        return Err(Rejection::new(R::MissingClaim, "aud missing"));
    }
    if !reg.aud.iter().any(|a| policy.audiences.contains(a)) {
        return Err(Rejection::new(
            R::BadAudience,
            "aud contains no expected audience",
        ));
    }
    let now = i128::from(now);
    let leeway = i128::from(policy.leeway_secs);
    let Some(exp) = reg.exp else {
        return Err(Rejection::new(R::MissingClaim, "exp missing"));
    };
    let exp = i128::from(exp);
    // RFC 7519 s4.1.4: the current time MUST be before exp.
    if now >= exp + leeway {
        return Err(Rejection::new(
            R::Expired,
            format!("expired {} s ago (leeway {} s)", now - exp, policy.leeway_secs),
        ));
    }
    if let Some(nbf) = reg.nbf.map(i128::from)
        && now + leeway < nbf
    {
        return Err(Rejection::new(
            R::NotYetValid,
            format!(
                "not valid for another {} s (leeway {} s)",
                nbf - now,
                policy.leeway_secs
            ),
        ));
    }
    if let Some(iat) = reg.iat.map(i128::from)
        && policy.reject_future_iat
        && iat > now + leeway
    {
        return Err(Rejection::new(
            R::IssuedInFuture,
            format!(
                "iat is {} s in the future (leeway {} s)",
                iat - now,
                policy.leeway_secs
            ),
        ));
    }
    if let Some(max) = policy.max_lifetime_secs {
        let start = reg.iat.map_or(now, i128::from);
        let lifetime = exp - start;
        if lifetime > i128::from(max) {
            return Err(Rejection::new(
                R::LifetimeTooLong,
                format!("lifetime {lifetime} s exceeds the policy maximum {max} s"),
            ));
        }
    }
    Ok(reg)
}

impl Verifier {
    pub fn new(policy: Policy, keys: KeySet) -> Verifier {
        Verifier { policy, keys }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Replaces the key set (JWKS rotation).
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    /// The JWS layer only: format, header rules, key selection and signature. The payload
    /// is returned undecoded (it need not be JSON). Use [`Verifier::verify`] for JWTs.
    pub fn verify_signature(&self, token: &str) -> Result<VerifiedJws, Rejection> {
        let limits = &self.policy.limits;
        let c = split(token, limits)?;
        let h = parse_json("header", &c.header, limits)?;
        let header = check_header(&h, &self.policy.algorithms, limits)?;
        let entry = match &header.kid {
            Some(kid) => self
                .keys
                .get(kid)
                .ok_or_else(|| Rejection::new(R::UnknownKid, "no key for this kid"))?,
            None => match self.keys.only() {
                Some((_, entry)) => entry,
                None if self.keys.is_empty() => {
                    return Err(Rejection::new(R::UnknownKid, "no verification keys configured"));
                }
                None => {
                    return Err(Rejection::new(
                        R::UnknownKid,
                        "kid required: several verification keys are configured",
                    ));
                }
            },
        };
        if entry.alg != header.alg {
            return Err(Rejection::new(
                R::AlgNotAllowed,
                format!(
                    "alg {:?} is not the algorithm bound to this key ({:?})",
                    header.alg, entry.alg
                ),
            ));
        }
        check_signature(&c, header.alg, entry)?;
        Ok(VerifiedJws {
            header,
            payload: c.payload,
        })
    }

    /// Full JWT verification at unix time `now` (injected; never read from the clock here).
    pub fn verify<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Verified<C>, Rejection> {
        let jws = self.verify_signature(token)?;
        let claims = parse_json("claims", &jws.payload, &self.policy.limits)?;
        let registered = check_claims(&claims, &self.policy, now)?;
        // The error text of a typed deserialisation can quote claim values: keep only its class.
        let claims = serde_json::from_value::<C>(Value::Object(claims)).map_err(|e| {
            Rejection::new(
                R::BadClaimType,
                format!("claims do not fit the expected type ({:?} error)", e.classify()),
            )
        })?;
        Ok(Verified {
            header: jws.header,
            registered,
            claims,
        })
    }
}

/// A token decoded WITHOUT verification, for the inspector. Same strict parsing as
/// [`Verifier::verify`] (size, segments, base64url, duplicate-free JSON objects), none of
/// the trust decisions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    pub signature_len: usize,
    /// Encoded lengths of the header, payload and signature segments.
    pub segment_lens: [usize; 3],
}

pub fn decode_unverified(token: &str, limits: &Limits) -> Result<Decoded, Rejection> {
    let c = split(token, limits)?;
    let header = parse_json("header", &c.header, limits)?;
    let claims = parse_json("claims", &c.payload, limits)?;
    let (h_len, rest) = c
        .signing_input
        .split_once('.')
        .map_or((0, 0), |(h, p)| (h.len(), p.len()));
    Ok(Decoded {
        header: Value::Object(header),
        claims: Value::Object(claims),
        signature_len: c.signature.len(),
        segment_lens: [h_len, rest, c.signature_b64.len()],
    })
}
