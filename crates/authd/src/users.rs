//! User accounts: profile, status, roles, password state and pre-authentication challenges.
//!
//! New users get a few demo projects and invoices so the resource API has real rows to serve
//! (authd is Gatehouse's reference server, not a product database).

use serde::Serialize;
use sqlx::SqlitePool;

use crate::db;
use crate::secrets::{self, PasswordHashing, Sensitive};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub status: String,
    pub roles: String,
    pub password_hash: String,
    pub password_change_required: bool,
    pub mfa_required: bool,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_pending_secret: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub not_before: Option<i64>,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a user (about themselves) and an admin may see: no hashes, no TOTP secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub display_name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub roles: Vec<String>,
    pub mfa_enrolled: bool,
    pub mfa_required: bool,
    pub password_change_required: bool,
    /// Tokens issued before this unix time are revoked.
    pub not_before: Option<i64>,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            status: self.status.clone(),
            roles: serde_json::from_str(&self.roles).unwrap_or_default(),
            mfa_enrolled: self.totp_secret.is_some(),
            mfa_required: self.mfa_required,
            password_change_required: self.password_change_required,
            not_before: self.not_before,
            settings: serde_json::from_str(&self.settings).unwrap_or_else(|_| serde_json::json!({})),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn is_suspended(&self) -> bool {
        self.status == "suspended"
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub password: Sensitive<String>,
    pub mfa_required: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("a user with this username or email already exists")]
    Exists,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

const SELECT_USER: &str = "SELECT id, username, email, display_name, status, roles, password_hash,
    password_change_required, mfa_required, totp_secret, totp_pending_secret, totp_last_step,
    not_before, settings, created_at, updated_at FROM users";

pub async fn create(pool: &SqlitePool, hashing: &PasswordHashing, new: NewUser) -> Result<User, CreateError> {
    let valid_name = !new.username.is_empty()
        && new.username.len() <= 64
        && new
            .username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid_name {
        return Err(CreateError::Invalid(
            "username must be 1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    if !new.email.contains('@') || new.email.len() > 254 {
        return Err(CreateError::Invalid("email is not valid"));
    }
    secrets::check_password_rules(new.password.expose()).map_err(CreateError::Invalid)?;
    let hash = hashing.hash_async(new.password.clone()).await?;
    let now = db::now();
    let roles = serde_json::to_string(&new.roles).map_err(anyhow::Error::from)?;
    let mut tx = crate::db::write_tx(pool).await.map_err(anyhow::Error::from)?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (username, email, display_name, roles, password_hash, mfa_required,
                            created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&new.username)
    .bind(&new.email)
    .bind(&new.display_name)
    .bind(roles)
    .bind(hash)
    .bind(new.mfa_required)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(CreateError::Exists),
        Err(e) => return Err(CreateError::Other(e.into())),
    };
    seed_resources(&mut tx, id, &new.username, now)
        .await
        .map_err(anyhow::Error::from)?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    tracing::info!(user_id = id, username = %new.username, "user created");
    by_id(pool, id)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| CreateError::Other(anyhow::anyhow!("user vanished after insert")))
}

async fn seed_resources(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    user_id: i64,
    username: &str,
    now: i64,
) -> sqlx::Result<()> {
    for (name, desc) in [
        ("Payments gateway", "Card processing integration"),
        ("Customer portal", "Self-service account pages"),
    ] {
        sqlx::query("INSERT INTO projects (owner_id, name, description, created_at) VALUES (?, ?, ?, ?)")
            .bind(user_id)
            .bind(name)
            .bind(desc)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    for (i, (amount, status)) in [(12_900, "paid"), (4_500, "open"), (99_00, "overdue")]
        .into_iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO invoices (user_id, number, amount_cents, currency, status, issued_at)
             VALUES (?, ?, ?, 'EUR', ?, ?)",
        )
        .bind(user_id)
        .bind(format!("INV-{username}-{:03}", i + 1))
        .bind(amount)
        .bind(status)
        .bind(now - 86_400 * (30 * (3 - i as i64)))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn by_id(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(&format!("{SELECT_USER} WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn by_username(pool: &SqlitePool, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(&format!("{SELECT_USER} WHERE username = ?"))
        .bind(username)
        .fetch_optional(pool)
        .await
}

/// Page of users matching `q` (username, email or display name), by id.
pub async fn search(
    pool: &SqlitePool,
    q: Option<&str>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<(Vec<User>, i64)> {
    let pattern = q.map(|q| {
        let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    });
    let filter = "WHERE (?1 IS NULL OR username LIKE ?1 ESCAPE '\\' OR email LIKE ?1 ESCAPE '\\'
                  OR display_name LIKE ?1 ESCAPE '\\')";
    let users = sqlx::query_as::<_, User>(&format!("{SELECT_USER} {filter} ORDER BY id LIMIT ?2 OFFSET ?3"))
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM users {filter}"))
        .bind(&pattern)
        .fetch_one(pool)
        .await?;
    Ok((users, total))
}

pub async fn set_password(
    pool: &SqlitePool,
    hashing: &PasswordHashing,
    user_id: i64,
    password: Sensitive<String>,
) -> anyhow::Result<()> {
    let hash = hashing.hash_async(password).await?;
    sqlx::query(
        "UPDATE users SET password_hash = ?, password_change_required = 0, updated_at = ? WHERE id = ?",
    )
    .bind(hash)
    .bind(db::now())
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a pre-authentication challenge token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    MfaEnrollment,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::MfaEnrollment => "mfa_enrollment",
        }
    }
}

/// Issues a one-purpose, short-lived challenge token (stored hashed).
pub async fn create_challenge(
    pool: &SqlitePool,
    user_id: i64,
    purpose: Purpose,
    ttl_secs: i64,
) -> anyhow::Result<Sensitive<String>> {
    let prefix = match purpose {
        Purpose::PasswordReset => "rst_",
        Purpose::MfaEnrollment => "enr_",
    };
    let token = secrets::opaque_token(prefix)?;
    sqlx::query("INSERT INTO challenges (token_hash, user_id, purpose, expires_at) VALUES (?, ?, ?, ?)")
        .bind(secrets::token_digest(token.expose()))
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(db::now() + ttl_secs)
        .execute(pool)
        .await?;
    Ok(token)
}

/// The user a live challenge belongs to. With `consume`, the token cannot be used again.
pub async fn redeem_challenge(
    pool: &SqlitePool,
    token: &str,
    purpose: Purpose,
    consume: bool,
) -> sqlx::Result<Option<i64>> {
    let digest = secrets::token_digest(token);
    let now = db::now();
    if consume {
        sqlx::query_scalar(
            "UPDATE challenges SET used_at = ? WHERE token_hash = ? AND purpose = ?
             AND used_at IS NULL AND expires_at > ? RETURNING user_id",
        )
        .bind(now)
        .bind(digest)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(pool)
        .await
    } else {
        sqlx::query_scalar(
            "SELECT user_id FROM challenges WHERE token_hash = ? AND purpose = ?
             AND used_at IS NULL AND expires_at > ?",
        )
        .bind(digest)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(pool)
        .await
    }
}
