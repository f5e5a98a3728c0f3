//! The token inspector: decodes a pasted token without trusting it, verifies its signature
//! against the profile's published keys, lints it (alg, crit, kid, lifetimes, iat in the future,
//! embedded keys…) with the same checks authd uses (gatehouse-jwt), finds its session and user in
//! the local store, and says whether it is revoked and until when it stays usable.

use chrono::{DateTime, Utc};
use gatehouse_jwt::{KeySet, Limits, Policy, Verifier};
use serde::Serialize;
use serde_json::Value;

use crate::backend::AdminBackend;
use crate::store::Store;
use crate::sync::read;

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Signature {
    /// Signed by a key the profile publishes.
    Valid {
        kid: Option<String>,
    },
    Invalid {
        reason: String,
    },
    /// The profile publishes no keys (or none could be fetched).
    Unchecked {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LintView {
    pub code: String,
    pub severity: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub header: Value,
    pub claims: Value,
    pub signature: Signature,
    pub lints: Vec<LintView>,
    pub jti: Option<String>,
    pub subject: Option<String>,
    pub session_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the backend refuses this token now (None: it cannot tell).
    pub revoked: Option<bool>,
    /// Until when the token could still be used: `exp` unless it is revoked or expired.
    pub usable_until: Option<DateTime<Utc>>,
    pub known_session: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a well-formed JWT ({reason}): {detail}")]
    Malformed { reason: &'static str, detail: String },
    #[error("the token has no jti claim, so it cannot be revoked on its own; revoke its session")]
    NoJti,
}

/// A pasted JWT is reduced to its jti (decoded without trusting it); anything else is a jti.
pub fn jti_of(arg: &str) -> Result<String, Error> {
    let arg = arg.trim();
    if arg.matches('.').count() == 2 {
        let (decoded, _) = decode(arg, chrono::Utc::now().timestamp())?;
        return decoded
            .claims
            .get("jti")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or(Error::NoJti);
    }
    Ok(arg.to_string())
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Validation
    }
}

/// Decodes and lints without any network or store access.
pub fn decode(token: &str, now: i64) -> Result<(gatehouse_jwt::Decoded, Vec<LintView>), Error> {
    let token = token.trim();
    let decoded =
        gatehouse_jwt::decode_unverified(token, &Limits::default()).map_err(|r| Error::Malformed {
            reason: r.reason.as_str(),
            detail: r.detail.clone(),
        })?;
    let issuer = decoded
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let policy = Policy::new(issuer, Vec::<String>::new(), [gatehouse_jwt::Algorithm::EdDSA]);
    let lints = gatehouse_jwt::lint(&decoded, &policy, now)
        .into_iter()
        .map(|l| LintView {
            code: l.code.to_string(),
            severity: format!("{:?}", l.severity).to_lowercase(),
            message: l.message,
        })
        .collect();
    Ok((decoded, lints))
}

pub async fn inspect(
    token: &str,
    store: &Store,
    profile: &str,
    backend: &dyn AdminBackend,
) -> Result<Inspection, Error> {
    let now = Utc::now();
    let (decoded, lints) = decode(token, now.timestamp())?;
    let claim = |k: &str| decoded.claims.get(k).and_then(Value::as_str).map(str::to_string);
    let jti = claim("jti");
    let subject = claim("sub");
    let mut session_id = claim("sid");
    let expires_at = decoded
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|e| DateTime::from_timestamp(e, 0));

    let signature = match backend.jwks().await {
        Ok(Some(jwks)) => match KeySet::from_jwks_json(&jwks) {
            Ok(keys) => {
                let algs: Vec<_> = keys.kids().iter().filter_map(|k| keys.algorithm(k)).collect();
                let verifier = Verifier::new(Policy::new("", Vec::<String>::new(), algs), keys);
                match verifier.verify_signature(token.trim()) {
                    Ok(v) => Signature::Valid {
                        kid: v.header.kid.clone(),
                    },
                    Err(r) => Signature::Invalid {
                        reason: r.to_string(),
                    },
                }
            }
            Err(e) => Signature::Unchecked {
                why: format!("the published keys are not usable: {e}"),
            },
        },
        Ok(None) => Signature::Unchecked {
            why: "the backend publishes no keys".into(),
        },
        Err(e) => Signature::Unchecked {
            why: format!("could not fetch the keys: {e}"),
        },
    };

    if session_id.is_none()
        && let Some(j) = &jti
        && let Ok(Some((sid, _user))) = read::session_of_token(store, profile, j).await
    {
        session_id = Some(sid);
    }
    let known_session = match &session_id {
        Some(sid) => {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE profile = ? AND id = ?")
                .bind(profile)
                .bind(sid)
                .fetch_one(store.pool())
                .await
                .unwrap_or(0)
                > 0
        }
        None => false,
    };
    let revoked = match &jti {
        Some(j) if matches!(signature, Signature::Valid { .. }) => {
            backend.token_revoked(j).await.ok().flatten()
        }
        _ => None,
    };
    let usable_until = match (revoked, expires_at, &signature) {
        (Some(true), _, _) | (_, _, Signature::Invalid { .. }) => None,
        (_, Some(exp), _) if exp > now => Some(exp),
        _ => None,
    };
    Ok(Inspection {
        header: decoded.header,
        claims: decoded.claims,
        signature,
        lints,
        jti,
        subject,
        session_id,
        expires_at,
        revoked,
        usable_until,
        known_session,
    })
}
