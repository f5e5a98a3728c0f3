//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) and recovery codes.
//!
//! A code is accepted once: the matched time step is stored and older or equal steps are
//! refused, so a code phished in real time cannot be replayed. Recovery codes are 80-bit random
//! strings stored as SHA-256 digests and spent on use.

use serde::Serialize;
use sqlx::SqlitePool;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::db;
use crate::secrets::{self, Sensitive};
use crate::users::User;

const STEP: u64 = 30;
const DIGITS: usize = 6;
const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs to enroll.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://totp/...` URI, for a QR code.
    pub otpauth_url: String,
}

fn totp(secret: &[u8], account: &str) -> anyhow::Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP,
        secret.to_vec(),
        Some("Gatehouse".to_owned()),
        account.to_owned(),
    )
    .map_err(|e| anyhow::anyhow!("invalid TOTP parameters: {e}"))
}

/// The current code for a secret (tests and the demo simulator use it).
pub fn current_code(secret: &[u8], unix: u64) -> anyhow::Result<String> {
    Ok(totp(secret, "x")?.generate(unix))
}

/// Decodes a base32 secret as shown at enrollment.
pub fn decode_secret(base32: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(base32.to_owned()).to_bytes().ok()
}

/// Starts (or restarts) enrollment: a new pending secret, not yet required at login.
pub async fn begin_enrollment(pool: &SqlitePool, user: &User) -> anyhow::Result<Sensitive<Enrollment>> {
    let secret = secrets::random_bytes::<20>()?;
    let t = totp(&secret, &user.username)?;
    sqlx::query("UPDATE users SET totp_pending_secret = ?, updated_at = ? WHERE id = ?")
        .bind(secret.as_slice())
        .bind(db::now())
        .bind(user.id)
        .execute(pool)
        .await?;
    Ok(Sensitive(Enrollment {
        secret: t.get_secret_base32(),
        otpauth_url: t.get_url(),
    }))
}

/// Finds the step among now-1..now+1 whose code equals `code`, in constant time per step.
fn matching_step(secret: &[u8], code: &str, now: u64) -> anyhow::Result<Option<i64>> {
    let t = totp(secret, "x")?;
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let mut found = None;
    for offset in [-1i64, 0, 1] {
        let at = (now as i64 + offset * STEP as i64).max(0) as u64;
        let expected = t.generate(at);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some((at / STEP) as i64);
        }
    }
    Ok(found)
}

/// Confirms a pending enrollment with a first code at unix time `now`; returns fresh recovery
/// codes (shown once).
pub async fn confirm_enrollment(
    pool: &SqlitePool,
    user: &User,
    code: &str,
    now: i64,
) -> anyhow::Result<Option<Sensitive<Vec<String>>>> {
    let Some(pending) = &user.totp_pending_secret else {
        return Ok(None);
    };
    let Some(step) = matching_step(pending, code, now.max(0) as u64)? else {
        return Ok(None);
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut tx = crate::db::write_tx(pool).await?;
    sqlx::query(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,
         totp_last_step = ?, updated_at = ? WHERE id = ?",
    )
    .bind(step)
    .bind(now)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    for _ in 0..RECOVERY_CODES {
        let raw = secrets::random_bytes::<10>()?;
        let hex = hex::encode(raw);
        let code = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..4],
            &hex[4..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20]
        );
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
            .bind(user.id)
            .bind(secrets::token_digest(&code))
            .execute(&mut *tx)
            .await?;
        codes.push(code);
    }
    tx.commit().await?;
    tracing::info!(user_id = user.id, "TOTP enrolled");
    Ok(Some(Sensitive(codes)))
}

/// Checks a login code against the enrolled secret at unix time `now`, refusing replays.
pub async fn verify_login_code(pool: &SqlitePool, user: &User, code: &str, now: i64) -> anyhow::Result<bool> {
    let Some(secret) = &user.totp_secret else {
        return Ok(false);
    };
    let Some(step) = matching_step(secret, code, now.max(0) as u64)? else {
        return Ok(false);
    };
    // Conditional update: two concurrent logins with the same code cannot both win.
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
    )
    .bind(step)
    .bind(user.id)
    .bind(step)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spends a recovery code.
pub async fn use_recovery_code(pool: &SqlitePool, user: &User, code: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
    )
    .bind(db::now())
    .bind(user.id)
    .bind(secrets::token_digest(code.trim()))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 -> 94287082 (8
        // digits); the 6-digit code is its last six digits.
        let code = current_code(b"12345678901234567890", 59).unwrap();
        assert_eq!(code, "287082");
    }

    #[test]
    fn neighbouring_steps_match_and_far_ones_do_not() {
        let secret = b"12345678901234567890";
        let now = 1_000_020;
        let prev = current_code(secret, now - 30).unwrap();
        assert_eq!(
            matching_step(secret, &prev, now).unwrap(),
            Some(((now - 30) / 30) as i64)
        );
        let far = current_code(secret, now - 300).unwrap();
        assert_ne!(far, current_code(secret, now).unwrap());
        assert!(matching_step(secret, "12345", now).unwrap().is_none());
        assert!(matching_step(secret, "abcdef", now).unwrap().is_none());
    }
}
