//! Admin API credentials: a client id and a secret hashed with Argon2id.
//!
//! Admin access is a separate credential from any user account so a stolen user session can
//! never reach `/admin`, and the client id is what audit events and rate limits key on.

use sqlx::SqlitePool;

use crate::config::BootstrapClient;
use crate::db;
use crate::secrets::{self, PasswordHashing, Sensitive};

/// Creates a client with a fresh random secret, returned once.
pub async fn create(
    pool: &SqlitePool,
    hashing: &PasswordHashing,
    client_id: &str,
) -> anyhow::Result<Sensitive<String>> {
    let valid = !client_id.is_empty()
        && client_id.len() <= 64
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        anyhow::bail!("client id must be 1-64 characters of [A-Za-z0-9._-]");
    }
    let secret = secrets::opaque_token("gh_admin_")?;
    let hash = hashing.hash_async(secret.clone()).await?;
    sqlx::query("INSERT INTO admin_clients (client_id, secret_hash, created_at) VALUES (?, ?, ?)")
        .bind(client_id)
        .bind(hash)
        .bind(db::now())
        .execute(pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                anyhow::anyhow!("admin client {client_id} already exists")
            }
            other => other.into(),
        })?;
    tracing::info!(%client_id, "admin client created");
    Ok(secret)
}

/// Makes configured clients exist with the configured secret (the demo passes one via env).
pub async fn provision(
    pool: &SqlitePool,
    hashing: &PasswordHashing,
    clients: &[BootstrapClient],
) -> anyhow::Result<()> {
    for c in clients {
        let hash = hashing.hash_async(c.secret.clone()).await?;
        sqlx::query(
            "INSERT INTO admin_clients (client_id, secret_hash, created_at) VALUES (?, ?, ?)
             ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, disabled_at = NULL",
        )
        .bind(&c.client_id)
        .bind(hash)
        .bind(db::now())
        .execute(pool)
        .await?;
        tracing::info!(client_id = %c.client_id, "admin client provisioned from configuration");
    }
    Ok(())
}

/// True when the client exists, is enabled and the secret matches.
pub async fn authenticate(
    pool: &SqlitePool,
    hashing: &PasswordHashing,
    dummy_hash: &str,
    client_id: &str,
    secret: Sensitive<String>,
) -> anyhow::Result<bool> {
    let hash: Option<String> = sqlx::query_scalar(
        "SELECT secret_hash FROM admin_clients WHERE client_id = ? AND disabled_at IS NULL",
    )
    .bind(client_id)
    .fetch_optional(pool)
    .await?;
    let known = hash.is_some();
    let ok = hashing
        .verify_async(secret, hash.unwrap_or_else(|| dummy_hash.to_owned()))
        .await;
    Ok(known && ok)
}
