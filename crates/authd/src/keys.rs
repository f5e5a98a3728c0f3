//! Signing keys, the JWKS they publish, and the verifiers built from them.
//!
//! Keys live in the database so a restart keeps verifying outstanding tokens. Rotation retires
//! the active key but keeps publishing it until every token it signed has expired (`max_exp`,
//! raised in the same transaction that records each issued token), so resource servers never
//! see a valid token whose key vanished from the JWKS. The private half never leaves this module
//! except as PKCS#8 bytes going into the database.
//!
//! Token verification itself is `gatehouse-jwt`'s job; this module only chooses the policy
//! (issuer, audience, EdDSA only, required claims) for each kind of token.

use std::sync::{Arc, RwLock};

use gatehouse_jwt::access::{self, AccessToken, Sid};
use gatehouse_jwt::{Algorithm, KeySet, Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::SqlitePool;

use crate::config::{ADMIN_AUDIENCE, API_AUDIENCE, Config};
use crate::db;

/// Grace after retirement during which a key stays published even if it signed nothing,
/// covering a token signed during the rotation itself.
const RETIRE_GRACE_SECS: i64 = 60;

/// The claims authd puts in a user access token (RFC 9068 profile, `typ: at+jwt`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// What a verified token says, whichever audience it was for (the shared profile in
/// `gatehouse-jwt`, so resource-server guards check exactly what authd checks).
pub type TokenFacts = AccessToken;

/// Why a token failed cryptographic or claim verification (revocation is checked elsewhere).
#[derive(Debug, Clone)]
pub struct TokenRejected {
    pub reason: &'static str,
    pub detail: String,
}

struct KeyState {
    signer: Signer,
    api: Verifier,
    admin: Verifier,
    jwks: Value,
}

/// The active signer plus verifiers for every published key.
pub struct KeyRing {
    state: RwLock<Arc<KeyState>>,
    issuer: String,
    leeway: i64,
    access_ttl: i64,
    admin_ttl: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    private_pkcs8: Vec<u8>,
    retired_at: Option<i64>,
    max_exp: i64,
}

/// Summary of a rotation, for the admin API and the CLI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    pub new_kid: String,
    pub retired_kid: Option<String>,
    /// Kids in the JWKS after the rotation.
    pub published_kids: Vec<String>,
}

impl KeyRing {
    /// Loads keys, generating the first one on a fresh database.
    pub async fn load(pool: &SqlitePool, config: &Config) -> anyhow::Result<KeyRing> {
        if active_key(pool).await?.is_none() {
            insert_new_key(pool).await?;
        }
        let ring = KeyRing {
            state: RwLock::new(Arc::new(
                build_state(
                    pool,
                    &config.issuer,
                    config.leeway.as_secs() as i64,
                    config.access_ttl.as_secs() as i64,
                    config.admin_token_ttl.as_secs() as i64,
                )
                .await?,
            )),
            issuer: config.issuer.clone(),
            leeway: config.leeway.as_secs() as i64,
            access_ttl: config.access_ttl.as_secs() as i64,
            admin_ttl: config.admin_token_ttl.as_secs() as i64,
        };
        Ok(ring)
    }

    fn current(&self) -> Arc<KeyState> {
        match self.state.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads keys from the database (a CLI rotation, expiry of retired keys).
    pub async fn reload(&self, pool: &SqlitePool) -> anyhow::Result<()> {
        let state = build_state(pool, &self.issuer, self.leeway, self.access_ttl, self.admin_ttl).await?;
        let mut guard = match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(state);
        Ok(())
    }

    /// Generates a new active key and retires the old one (still published while needed).
    pub async fn rotate(&self, pool: &SqlitePool) -> anyhow::Result<Rotation> {
        let mut rotation = rotate_in_db(pool).await?;
        self.reload(pool).await?;
        rotation.published_kids = self.published_kids();
        Ok(rotation)
    }

    pub fn active_kid(&self) -> String {
        self.current().signer.kid().to_owned()
    }

    pub fn published_kids(&self) -> Vec<String> {
        self.current().api.keys().kids()
    }

    /// `{"keys": [...]}` of every published public key.
    pub fn jwks(&self) -> Value {
        self.current().jwks.clone()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs claims with the active key; returns the token and the kid used.
    pub fn sign(&self, claims: &AccessClaims) -> anyhow::Result<(String, String)> {
        let state = self.current();
        let token = state
            .signer
            .sign_with_typ(claims, "at+jwt")
            .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
        Ok((token, state.signer.kid().to_owned()))
    }

    /// Verifies a user access token (audience `gatehouse-api`).
    pub fn verify_api(&self, token: &str, now: i64) -> Result<TokenFacts, TokenRejected> {
        verify_with(&self.current().api, token, now, Sid::Required)
    }

    /// Verifies an admin token (audience `gatehouse-admin`).
    pub fn verify_admin(&self, token: &str, now: i64) -> Result<TokenFacts, TokenRejected> {
        verify_with(&self.current().admin, token, now, Sid::Optional)
    }
}

fn verify_with(verifier: &Verifier, token: &str, now: i64, sid: Sid) -> Result<TokenFacts, TokenRejected> {
    access::verify_access(verifier, token, now, sid).map_err(|r| TokenRejected {
        reason: r.reason.as_str(),
        detail: r.detail,
    })
}

async fn active_key(pool: &SqlitePool) -> anyhow::Result<Option<KeyRow>> {
    Ok(sqlx::query_as::<_, KeyRow>(
        "SELECT kid, private_pkcs8, retired_at, max_exp FROM signing_keys
         WHERE retired_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

async fn insert_new_key<'e, E>(exec: E) -> anyhow::Result<String>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let kid = crate::secrets::random_id("k-")?;
    let signer = Signer::generate_ed25519(kid.clone());
    sqlx::query("INSERT INTO signing_keys (kid, private_pkcs8, public_jwk, created_at) VALUES (?, ?, ?, ?)")
        .bind(&kid)
        .bind(signer.pkcs8_der())
        .bind(signer.public_jwk().to_string())
        .bind(db::now())
        .execute(exec)
        .await?;
    tracing::info!(%kid, "generated signing key");
    Ok(kid)
}

/// Rotation on the database alone: used by the server and by `gatehouse-authd keys rotate`.
pub async fn rotate_in_db(pool: &SqlitePool) -> anyhow::Result<Rotation> {
    let mut tx = crate::db::write_tx(pool).await?;
    let now = db::now();
    let old: Option<String> = sqlx::query_scalar("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let new_kid = insert_new_key(&mut *tx).await?;
    tx.commit().await?;
    tracing::info!(%new_kid, retired = ?old, "rotated signing key");
    Ok(Rotation {
        new_kid,
        retired_kid: old,
        published_kids: Vec::new(),
    })
}

async fn build_state(
    pool: &SqlitePool,
    issuer: &str,
    leeway: i64,
    access_ttl: i64,
    admin_ttl: i64,
) -> anyhow::Result<KeyState> {
    let now = db::now();
    let rows = sqlx::query_as::<_, KeyRow>(
        "SELECT kid, private_pkcs8, retired_at, max_exp FROM signing_keys ORDER BY created_at, rowid",
    )
    .fetch_all(pool)
    .await?;
    let mut keys = KeySet::new();
    let mut jwks = Vec::new();
    let mut active = None;
    for row in rows {
        let published = match row.retired_at {
            None => true,
            Some(retired) => row.max_exp.max(retired + RETIRE_GRACE_SECS) + leeway >= now,
        };
        if !published {
            continue;
        }
        let signer = Signer::from_ed25519_pkcs8_der(row.kid.clone(), &row.private_pkcs8)
            .map_err(|e| anyhow::anyhow!("stored key {} is unusable: {e}", row.kid))?;
        keys.try_insert(signer.kid(), Algorithm::EdDSA, signer.decoding_key())
            .map_err(|e| anyhow::anyhow!("stored key {} is unusable: {e}", row.kid))?;
        jwks.push(signer.public_jwk());
        if row.retired_at.is_none() {
            active = Some(signer);
        }
    }
    let signer = active.ok_or_else(|| anyhow::anyhow!("no active signing key"))?;
    let api = Verifier::new(
        access::access_policy(issuer, API_AUDIENCE, leeway as u64, access_ttl as u64),
        keys.clone(),
    );
    let mut admin_policy = access::access_policy(issuer, ADMIN_AUDIENCE, leeway as u64, admin_ttl as u64);
    admin_policy.require_claims = vec!["exp", "iat", "sub", "jti"];
    let admin = Verifier::new(admin_policy, keys);
    Ok(KeyState {
        signer,
        api,
        admin,
        jwks: json!({ "keys": jwks }),
    })
}
