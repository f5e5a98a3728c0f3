//! Findings for the console's token inspector. `verify` answers "may this token be
//! used?"; `lint` answers "what is suspicious about it?", including for tokens that
//! verify (a 30-day lifetime, an `iat` in the future, a key leaked in the header) and for
//! tokens we cannot verify at all (a stolen token from another issuer).

use crate::keys::check_kid;
use crate::verify::registered_claims;
use crate::{Decoded, Policy};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One finding. `code` is stable (the UI and tests key on it); `message` is for humans
/// and carries no token or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lint {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// Lifetime flagged when the policy sets no maximum.
pub const DEFAULT_LINT_MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

struct Findings(Vec<Lint>);

impl Findings {
    fn add(&mut self, code: &'static str, severity: Severity, message: impl Into<String>) {
        self.0.push(Lint {
            code,
            severity,
            message: message.into(),
        });
    }
}

/// Inspects a decoded (unverified) token against `policy` at unix time `now`.
pub fn lint(decoded: &Decoded, policy: &Policy, now: i64) -> Vec<Lint> {
    use Severity::{Critical, Info, Warning};
    let mut f = Findings(Vec::new());
    let empty = Map::new();
    let header = decoded.header.as_object().unwrap_or(&empty);
    let claims = decoded.claims.as_object().unwrap_or(&empty);

    lint_alg(&mut f, header, policy, decoded.signature_len);

    if header.contains_key("crit") {
        f.add(
            "crit-present",
            Critical,
            "crit header: verifiers that ignore it accept extensions they do not understand",
        );
    }
    if header.contains_key("b64") {
        f.add(
            "b64-unencoded-payload",
            Critical,
            "b64 header (RFC 7797): the payload is not a base64url claims set",
        );
    }
    for (member, code) in [("jku", "header-jku"), ("x5u", "header-x5u")] {
        if header.contains_key(member) {
            f.add(
                code,
                Critical,
                format!("{member} header points at a remote key: key-injection / SSRF vector"),
            );
        }
    }
    if header.contains_key("x5c") {
        f.add(
            "header-x5c",
            Warning,
            "x5c header: certificate chain supplied by the token (never trusted for verification)",
        );
    }
    if let Some(jwk) = header.get("jwk") {
        let secret = jwk
            .as_object()
            .is_some_and(|j| ["k", "d", "p", "q"].iter().any(|m| j.contains_key(*m)));
        if secret {
            f.add("header-jwk-secret", Critical, "jwk header contains secret or private key material: the key is disclosed to every holder of the token");
        } else {
            f.add(
                "header-jwk",
                Critical,
                "jwk header embeds a verification key (CVE-2018-0114 pattern); never verify with it",
            );
        }
    }
    if let Some(cty) = header.get("cty").and_then(Value::as_str)
        && cty.eq_ignore_ascii_case("JWT")
    {
        f.add(
            "nested-jwt",
            Critical,
            "cty JWT: nested token; every layer would need verifying",
        );
    }
    for member in ["enc", "zip", "p2c"] {
        if header.contains_key(member) {
            f.add(
                "jwe-header-in-jws",
                Critical,
                format!("JWE parameter {member} in a JWS header"),
            );
        }
    }
    match header.get("kid") {
        None => f.add(
            "kid-missing",
            Info,
            "no kid: the verifier must pick the key by configuration",
        ),
        Some(Value::String(kid)) => {
            if kid.len() > policy.limits.max_kid_len {
                f.add(
                    "kid-too-long",
                    Warning,
                    format!("kid is {} bytes (limit {})", kid.len(), policy.limits.max_kid_len),
                );
            }
            if let Err(why) = check_kid(kid, usize::MAX) {
                f.add(
                    "kid-suspicious",
                    Critical,
                    format!("kid has {why}: path traversal / injection pattern"),
                );
            }
        }
        Some(_) => f.add("kid-not-string", Critical, "kid is not a string"),
    }

    lint_claims(&mut f, claims, policy, now);
    f.0
}

fn lint_alg(f: &mut Findings, header: &Map<String, Value>, policy: &Policy, signature_len: usize) {
    use Severity::{Critical, Info, Warning};
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        f.add("alg-missing", Critical, "alg missing or not a string");
        return;
    };
    if alg.eq_ignore_ascii_case("none") {
        f.add("alg-none", Critical, "unsecured token (alg none)");
        return;
    }
    match Algorithm::from_str(alg) {
        Err(_) => f.add(
            "alg-unknown",
            Critical,
            "alg is not a registered JWS algorithm (names are case-sensitive)",
        ),
        Ok(a) => {
            if !policy.algorithms.contains(&a) {
                f.add(
                    "alg-not-allowed",
                    Warning,
                    format!("alg {a:?} is not in the policy allow-list"),
                );
            }
            if matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                f.add(
                    "alg-symmetric",
                    Info,
                    "HMAC: every verifier holds the signing secret",
                );
            }
        }
    }
    if signature_len == 0 {
        f.add("signature-missing", Critical, "empty signature segment");
    }
}

fn lint_claims(f: &mut Findings, claims: &Map<String, Value>, policy: &Policy, now: i64) {
    use Severity::{Critical, Info, Warning};
    let reg = match registered_claims(claims) {
        Ok(reg) => reg,
        Err(rejection) => {
            f.add("claim-type", Critical, rejection.detail);
            return;
        }
    };
    let leeway = i128::from(policy.leeway_secs);
    let now = i128::from(now);
    let float_date = ["exp", "nbf", "iat"].iter().any(|n| {
        claims
            .get(*n)
            .is_some_and(|v| v.as_f64().is_some() && !v.is_i64() && !v.is_u64())
    });
    if float_date {
        f.add(
            "numeric-date-fraction",
            Info,
            "a NumericDate has a fractional part",
        );
    }
    match reg.exp.map(i128::from) {
        None => f.add("exp-missing", Critical, "no exp: the token never expires"),
        Some(exp) if now >= exp + leeway => f.add("expired", Warning, format!("expired {} s ago", now - exp)),
        Some(exp) if now >= exp => f.add(
            "expired-within-leeway",
            Info,
            "expired, accepted only thanks to leeway",
        ),
        Some(_) => {}
    }
    if let Some(nbf) = reg.nbf.map(i128::from) {
        if now + leeway < nbf {
            f.add(
                "not-yet-valid",
                Warning,
                format!("nbf is {} s in the future", nbf - now),
            );
        } else if now < nbf {
            f.add(
                "not-yet-valid-within-leeway",
                Info,
                "nbf in the future, accepted only thanks to leeway",
            );
        }
    }
    if let Some(iat) = reg.iat.map(i128::from) {
        if iat > now + leeway {
            f.add(
                "iat-in-future",
                Warning,
                format!(
                    "iat is {} s in the future: clock skew or a forged token",
                    iat - now
                ),
            );
        }
        if let Some(exp) = reg.exp.map(i128::from)
            && iat > exp
        {
            f.add("iat-after-exp", Warning, "iat is later than exp");
        }
    }
    let max = policy.max_lifetime_secs.unwrap_or(DEFAULT_LINT_MAX_LIFETIME_SECS);
    if let Some(exp) = reg.exp.map(i128::from) {
        let start = reg.iat.map_or(now, i128::from);
        if exp - start > i128::from(max) {
            f.add(
                "lifetime-too-long",
                Warning,
                format!("lifetime {} s exceeds {max} s", exp - start),
            );
        }
    }
    if reg.jti.is_none() {
        f.add(
            "jti-missing",
            Warning,
            "no jti: the token cannot be revoked or replay-tracked individually",
        );
    }
    if reg.sub.is_none() {
        f.add("sub-missing", Info, "no sub");
    }
    if reg.iat.is_none() {
        f.add("iat-missing", Info, "no iat: lifetime and age cannot be judged");
    }
    match &reg.iss {
        None => f.add("iss-missing", Warning, "no iss"),
        Some(iss) if !policy.issuer.is_empty() && *iss != policy.issuer => {
            f.add("iss-unexpected", Warning, "iss is not the expected issuer");
        }
        Some(_) => {}
    }
    if reg.aud.is_empty() {
        f.add(
            "aud-missing",
            Warning,
            "no aud: the token is valid for any service that trusts the issuer",
        );
    } else if !policy.audiences.is_empty() && !reg.aud.iter().any(|a| policy.audiences.contains(a)) {
        f.add("aud-unexpected", Warning, "aud contains no expected audience");
    }
}
