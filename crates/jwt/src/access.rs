//! The access-token profile authd issues (RFC 9068 shape: `sub`, `jti`, `iat`, `exp`, `nbf`,
//! `scope`, optional `sid`), checked once here for authd's own `/api` and for every resource
//! server that runs `gatehouse-guard`, so the two can never disagree on what a valid token is.

use crate::reject::{RejectReason, Rejection};
use crate::{Algorithm, Policy, Verifier};

/// Claims an access token must carry (beyond `exp`, always required).
pub const ACCESS_REQUIRED_CLAIMS: [&str; 5] = ["exp", "iat", "nbf", "sub", "jti"];

/// The strict access-token policy: this issuer and audience, EdDSA only, the given leeway and
/// maximum lifetime, the required claims above.
pub fn access_policy(issuer: &str, audience: &str, leeway_secs: u64, max_lifetime_secs: u64) -> Policy {
    let mut p = Policy::new(issuer, [audience], [Algorithm::EdDSA]);
    p.leeway_secs = leeway_secs;
    p.max_lifetime_secs = Some(max_lifetime_secs);
    p.require_claims = ACCESS_REQUIRED_CLAIMS.to_vec();
    p
}

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessToken {
    pub sub: String,
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Space-separated scopes; empty when the token has none.
    pub scope: String,
    pub client_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct Extras {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// Whether a token without `sid` is acceptable (user access tokens carry one; authd's admin
/// client-credential tokens do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sid {
    Required,
    Optional,
}

/// Full verification at unix time `now`, then the profile's claim rules.
pub fn verify_access(verifier: &Verifier, token: &str, now: i64, sid: Sid) -> Result<AccessToken, Rejection> {
    let verified = verifier.verify::<Extras>(token, now)?;
    let reg = verified.registered;
    let missing = |claim: &str| Rejection::new(RejectReason::MissingClaim, format!("{claim} is required"));
    let sid_claim = match (reg.sid, sid) {
        (None, Sid::Required) => return Err(missing("sid")),
        (s, _) => s,
    };
    Ok(AccessToken {
        sub: reg.sub.ok_or_else(|| missing("sub"))?,
        sid: sid_claim,
        jti: reg.jti.ok_or_else(|| missing("jti"))?,
        iat: reg.iat.ok_or_else(|| missing("iat"))?,
        exp: reg.exp.ok_or_else(|| missing("exp"))?,
        scope: verified.claims.scope,
        client_id: verified.claims.client_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Signer;
    use serde_json::json;

    fn setup() -> (Signer, Verifier) {
        let s = Signer::generate_ed25519("k1");
        let v = Verifier::new(access_policy("https://iss", "aud", 60, 900), s.key_set());
        (s, v)
    }

    #[test]
    fn a_full_token_verifies_and_sid_is_enforced_only_when_required() {
        let (s, v) = setup();
        let mut claims = json!({"iss":"https://iss","aud":"aud","sub":"7","jti":"j","iat":1000,"nbf":1000,"exp":1600,"scope":"a b","sid":"s1"});
        let t = s.sign(&claims).unwrap();
        let at = verify_access(&v, &t, 1100, Sid::Required).unwrap();
        assert_eq!(
            (at.sub.as_str(), at.sid.as_deref(), at.scope.as_str()),
            ("7", Some("s1"), "a b")
        );
        claims.as_object_mut().unwrap().remove("sid");
        let t = s.sign(&claims).unwrap();
        assert_eq!(
            verify_access(&v, &t, 1100, Sid::Required).unwrap_err().reason,
            RejectReason::MissingClaim
        );
        assert!(verify_access(&v, &t, 1100, Sid::Optional).is_ok());
    }

    #[test]
    fn nbf_is_required_by_the_profile() {
        let (s, v) = setup();
        let t = s
            .sign(
                &json!({"iss":"https://iss","aud":"aud","sub":"7","jti":"j","iat":1000,"exp":1600,"sid":"s"}),
            )
            .unwrap();
        assert_eq!(
            verify_access(&v, &t, 1100, Sid::Required).unwrap_err().reason,
            RejectReason::MissingClaim
        );
    }
}
