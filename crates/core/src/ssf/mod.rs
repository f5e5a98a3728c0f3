//! Shared Signals (OpenID SSF 1.0 / CAEP 1.0): telling other relying parties that we revoked
//! a session or forced a credential change, and hearing the same from other providers.
//!
//! * [`set`] — building and validating Security Event Tokens (RFC 8417, RFC 9493 `sub_id`).
//! * [`Transmitter`] — signs SETs with a per-profile Ed25519 key kept in the OS keyring, writes
//!   one outbox row per receiver in the store *before* any delivery is tried, then pushes them
//!   (RFC 8935). A receiver that is down keeps its rows pending with a growing delay; nothing
//!   is lost, and every emission, delivery and refusal is in the audit log.
//! * [`receive`] — the push endpoint for SETs from another transmitter; [`apply`] turns each
//!   one into changes to the sessions it names (a revoked session ends, so later use of it is
//!   detected as use after revocation).
//!
//! Configuration is the `[profiles.NAME.ssf]` table (see [`RawSsf`]).

pub mod apply;
mod ops;
pub mod receive;
pub mod set;

use std::time::Duration;

use base64::Engine as _;
use gatehouse_jwt::Signer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use crate::audit::{Log, NewEntry};
use crate::secrets::{SecretName, SecretStore, Sensitive};
use crate::store::now_ms;
use set::{CaepEvent, SetContent, SubjectId};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ssf configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    #[error("the SSF signing key in the keyring is unusable: {0}")]
    Key(String),
    #[error(transparent)]
    Set(#[from] set::SetError),
    #[error("receiver endpoint: {0}")]
    Io(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(crate::store::Error::Sql(e))
    }
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Error::Config(_) | Error::Set(_) => crate::ErrorKind::Validation,
            Error::Secrets(e) => e.kind(),
            Error::Http(e) => e.kind(),
            Error::Io(_) => crate::ErrorKind::Upstream,
            Error::Audit(_) | Error::Store(_) | Error::Key(_) => crate::ErrorKind::Internal,
        }
    }
}

/// `[profiles.NAME.ssf]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSsf {
    /// Our `iss` in the SETs we emit (a URL naming this console for this profile).
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<RawReceiver>,
    /// Another provider pushing SETs to us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmitter: Option<RawTransmitter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub name: String,
    /// The receiver's RFC 8935 push endpoint.
    pub endpoint: String,
    /// `aud` of the SETs sent there.
    pub audience: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransmitter {
    pub issuer: String,
    pub jwks_url: String,
    /// The `aud` its SETs must carry for us.
    pub audience: String,
}

/// Validated `[profiles.NAME.ssf]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SsfConfig {
    pub issuer: String,
    pub receivers: Vec<Receiver>,
    pub transmitter: Option<RawTransmitter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub endpoint: Url,
    pub audience: String,
}

fn http_url(what: &str, s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("{what}: {e}"))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!("{what} must be https (plain http only to loopback)")),
    }
}

impl RawSsf {
    pub fn validate(&self) -> Result<SsfConfig, String> {
        if self.issuer.trim().is_empty() || self.issuer.len() > 512 {
            return Err("ssf.issuer must be 1 to 512 characters".into());
        }
        let mut receivers = Vec::new();
        for r in &self.receivers {
            if r.name.is_empty() || r.name.len() > 64 || receivers.iter().any(|x: &Receiver| x.name == r.name)
            {
                return Err("ssf.receivers need unique names of 1 to 64 characters".into());
            }
            if r.audience.is_empty() {
                return Err(format!("ssf receiver {}: audience is required", r.name));
            }
            receivers.push(Receiver {
                name: r.name.clone(),
                endpoint: http_url("ssf receiver endpoint", &r.endpoint)?,
                audience: r.audience.clone(),
            });
        }
        if let Some(t) = &self.transmitter {
            http_url("ssf.transmitter.jwks_url", &t.jwks_url)?;
            if t.issuer.is_empty() || t.audience.is_empty() {
                return Err("ssf.transmitter needs issuer and audience".into());
            }
        }
        Ok(SsfConfig {
            issuer: self.issuer.clone(),
            receivers,
            transmitter: self.transmitter.clone(),
        })
    }
}

/// The keyring entry holding a profile's SET signing key (PKCS#8, base64url).
pub fn key_name(profile: &str) -> Result<SecretName, crate::secrets::Error> {
    SecretName::new(format!("ssf/signing-key/{profile}"))
}

/// The profile's signing key from the keyring, generated and stored on first use.
pub fn signing_key(secrets: &dyn SecretStore, profile: &str) -> Result<Signer, Error> {
    let name = key_name(profile)?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let Some(stored) = secrets.get(&name)? {
        let der = b64
            .decode(stored.expose())
            .map_err(|_| Error::Key("not base64url".into()))?;
        return Signer::from_ed25519_pkcs8_der(kid_for(profile), &der).map_err(|e| Error::Key(e.to_string()));
    }
    let signer = Signer::generate_ed25519(kid_for(profile));
    secrets.put(&name, &Sensitive::new(b64.encode(signer.pkcs8_der())))?;
    tracing::info!(profile, "generated an SSF signing key in the keyring");
    Ok(signer)
}

fn kid_for(profile: &str) -> String {
    format!("gatehouse-ssf-{profile}")
}

/// What the console revoked, for the SET's subject.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The identity provider's issuer (the profile's base URL).
    pub idp: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
}

impl Subject {
    fn sub_id(&self) -> SubjectId {
        let user = self.user_id.as_ref().map(|u| {
            Box::new(SubjectId::IssSub {
                iss: self.idp.clone(),
                sub: u.clone(),
            })
        });
        let session = self
            .session_id
            .as_ref()
            .map(|s| Box::new(SubjectId::Opaque { id: s.clone() }));
        SubjectId::Complex { user, session }
    }
}

/// Outbox counts after a delivery pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub delivered: u32,
    pub refused: u32,
    /// Left pending for a later attempt (receiver unreachable or failing).
    pub retrying: u32,
    pub pending_total: u32,
}

/// Signs, records and pushes SETs for one profile.
pub struct Transmitter {
    pub log: Log,
    pub profile: String,
    /// The identity provider's issuer, for `iss_sub` subjects (the profile's base URL).
    pub idp: String,
    pub config: SsfConfig,
    pub signer: Signer,
    pub http: crate::http::HttpClient,
}

/// Longest wait between two attempts at one SET.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

fn retry_delay(attempts: i64) -> i64 {
    let secs = 1i64 << attempts.clamp(0, 9);
    (secs * 1000).min(MAX_RETRY_DELAY.as_millis() as i64)
}

impl Transmitter {
    /// The JWKS receivers verify our SETs with.
    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": [self.signer.public_jwk()] })
    }

    /// One SET per configured receiver, written to the outbox and the audit log in that
    /// order; delivery is a separate step ([`Transmitter::deliver_due`]). Returns the jtis.
    pub async fn emit(
        &self,
        event: CaepEvent,
        subject: &Subject,
        txn: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let mut jtis = Vec::new();
        let iat = chrono::Utc::now().timestamp();
        for r in &self.config.receivers {
            let jti = format!("set_{}", hex::encode(rand::random::<[u8; 16]>()));
            let content = SetContent {
                issuer: self.config.issuer.clone(),
                audience: r.audience.clone(),
                jti: jti.clone(),
                iat,
                txn: txn.map(str::to_owned),
                subject: subject.sub_id(),
                event: event.clone(),
            };
            let token = content.sign(&self.signer)?;
            let now = now_ms();
            sqlx::query(
                "INSERT INTO ssf_outbox (profile, receiver, endpoint, jti, event, set_jwt, next_attempt_at_ms, created_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&self.profile)
            .bind(&r.name)
            .bind(r.endpoint.as_str())
            .bind(&jti)
            .bind(event.uri())
            .bind(&token)
            .bind(now)
            .bind(now)
            .execute(self.log.store().pool())
            .await?;
            self.audit(
                "ssf.emit",
                &jti,
                json!({ "receiver": r.name, "event": event.uri(), "sub_id": content.claims()["sub_id"], "txn": txn }),
            )
            .await?;
            jtis.push(jti);
        }
        Ok(jtis)
    }

    async fn audit(&self, action: &str, jti: &str, detail: serde_json::Value) -> Result<(), Error> {
        self.log
            .append(NewEntry {
                actor: "gatehouse-ssf".into(),
                action: action.into(),
                profile: Some(self.profile.clone()),
                target: Some(format!("set:{jti}")),
                detail,
            })
            .await?;
        Ok(())
    }

    /// Pushes every pending SET that is due: 202 marks it delivered, a 400 with an RFC 8935
    /// error code marks it refused (final), anything else reschedules it with backoff.
    pub async fn deliver_due(&self) -> Result<Delivery, Error> {
        let pool = self.log.store().pool();
        let due: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, receiver, endpoint, jti, set_jwt, attempts FROM ssf_outbox
             WHERE profile = ? AND state = 'pending' AND next_attempt_at_ms <= ? ORDER BY id",
        )
        .bind(&self.profile)
        .bind(now_ms())
        .fetch_all(pool)
        .await?;
        let mut out = Delivery::default();
        for (id, receiver, endpoint, jti, token, attempts) in due {
            let sent = self
                .http
                .request(reqwest::Method::POST, &endpoint)
                .header(reqwest::header::CONTENT_TYPE, set::MEDIA_TYPE)
                .header(reqwest::header::ACCEPT, "application/json")
                .body(token)
                .send()
                .await;
            let (status, body) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.bytes().await.unwrap_or_default();
                    (Some(status), body)
                }
                Err(_) => (None, Default::default()),
            };
            match status {
                Some(s) if s == reqwest::StatusCode::ACCEPTED || s.is_success() => {
                    sqlx::query("UPDATE ssf_outbox SET state = 'delivered', attempts = attempts + 1, delivered_at_ms = ?, last_error = NULL WHERE id = ?")
                        .bind(now_ms())
                        .bind(id)
                        .execute(pool)
                        .await?;
                    self.audit(
                        "ssf.delivered",
                        &jti,
                        json!({ "receiver": receiver, "attempts": attempts + 1 }),
                    )
                    .await?;
                    out.delivered += 1;
                }
                Some(s) if s == reqwest::StatusCode::BAD_REQUEST => {
                    // RFC 8935 s2.4: {"err": code, "description": text}; the receiver's text is
                    // untrusted, kept bounded and sanitised.
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let err = crate::http::sanitize(v["err"].as_str().unwrap_or("invalid_request"));
                    let description = crate::http::sanitize(v["description"].as_str().unwrap_or(""));
                    let error: String = format!("{err}: {description}").chars().take(300).collect();
                    sqlx::query("UPDATE ssf_outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?")
                        .bind(&error)
                        .bind(id)
                        .execute(pool)
                        .await?;
                    self.audit(
                        "ssf.refused",
                        &jti,
                        json!({ "receiver": receiver, "error": error }),
                    )
                    .await?;
                    out.refused += 1;
                }
                other => {
                    let error = match other {
                        Some(s) => format!("HTTP {}", s.as_u16()),
                        None => "receiver unreachable".to_owned(),
                    };
                    sqlx::query("UPDATE ssf_outbox SET attempts = attempts + 1, next_attempt_at_ms = ?, last_error = ? WHERE id = ?")
                        .bind(now_ms() + retry_delay(attempts))
                        .bind(&error)
                        .bind(id)
                        .execute(pool)
                        .await?;
                    tracing::warn!(%receiver, %jti, %error, "SET delivery failed; will retry");
                    out.retrying += 1;
                }
            }
        }
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM ssf_outbox WHERE profile = ? AND state = 'pending'")
                .bind(&self.profile)
                .fetch_one(pool)
                .await?;
        out.pending_total = u32::try_from(pending).unwrap_or(u32::MAX);
        Ok(out)
    }

    /// After a verified containment action: the CAEP event it amounts to, emitted to every
    /// receiver and pushed once right away (failures stay in the outbox for the next pass).
    /// Never fails the action; an emission that could not even be written is logged.
    pub async fn announce(&self, kind: crate::actions::ActionKind, target: &str, action_id: &str) {
        use crate::actions::ActionKind as K;
        let (event, subject) = match kind {
            K::RevokeSession => (
                CaepEvent::SessionRevoked {
                    reason_admin: "session revoked by an analyst (suspected theft)".into(),
                },
                Subject {
                    idp: self.idp.clone(),
                    user_id: None,
                    session_id: Some(target.to_owned()),
                },
            ),
            K::RevokeUserSessions => (
                CaepEvent::SessionRevoked {
                    reason_admin: "all sessions of the user revoked by an analyst".into(),
                },
                Subject {
                    idp: self.idp.clone(),
                    user_id: Some(target.to_owned()),
                    session_id: None,
                },
            ),
            K::ForcePasswordReset => (
                CaepEvent::CredentialChange {
                    credential_type: "password".into(),
                    change_type: "revoke".into(),
                    reason_admin: "password reset forced by an analyst (suspected compromise)".into(),
                },
                Subject {
                    idp: self.idp.clone(),
                    user_id: Some(target.to_owned()),
                    session_id: None,
                },
            ),
            // One access token is not a session: CAEP has no event for it.
            K::RevokeToken => return,
        };
        if let Err(e) = self.emit(event, &subject, Some(action_id)).await {
            tracing::error!(error = %e, action = action_id, "could not emit the SSF event");
            return;
        }
        if let Err(e) = self.deliver_due().await {
            tracing::warn!(error = %e, "SSF delivery pass failed; SETs stay in the outbox");
        }
    }

    /// Makes every pending SET due now (after the operator fixed a receiver).
    pub async fn retry_now(&self) -> Result<(), Error> {
        sqlx::query("UPDATE ssf_outbox SET next_attempt_at_ms = ? WHERE profile = ? AND state = 'pending'")
            .bind(now_ms())
            .bind(&self.profile)
            .execute(self.log.store().pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::MemoryStore;

    #[test]
    fn the_signing_key_is_created_once_and_read_back_from_the_secret_store() {
        let secrets = MemoryStore::default();
        let a = signing_key(&secrets, "prod").unwrap();
        let b = signing_key(&secrets, "prod").unwrap();
        assert_eq!(a.public_jwk(), b.public_jwk());
        assert_ne!(
            signing_key(&secrets, "other").unwrap().public_jwk(),
            a.public_jwk()
        );
    }

    #[test]
    fn config_rules() {
        let raw = |endpoint: &str| RawSsf {
            issuer: "https://gatehouse.test".into(),
            receivers: vec![RawReceiver {
                name: "okta".into(),
                endpoint: endpoint.into(),
                audience: "https://okta".into(),
            }],
            transmitter: None,
        };
        assert!(raw("https://rp.example/ssf").validate().is_ok());
        assert!(raw("http://127.0.0.1:9/ssf").validate().is_ok());
        assert!(raw("http://rp.example/ssf").validate().is_err());
        assert_eq!(retry_delay(0), 1000);
        assert_eq!(retry_delay(20), 300_000);
    }
}
