//! Sessions, the tokens issued under them, refresh rotation and revocation.
//!
//! A session (`sid`) is one login. It owns a chain of refresh tokens (only the newest is live;
//! presenting an already-rotated one means it was copied, so the whole session dies) and every
//! access token minted from it (recorded by `jti` so an analyst can see exactly what a
//! revocation covered). Each revoking operation writes its feed entries in the same transaction
//! as the state change and then updates the in-memory deny sets before returning.

use serde::Serialize;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::config::API_AUDIENCE;
use crate::db;
use crate::keys::AccessClaims;
use crate::revocation::{self, FeedEntry, NewEntry};
use crate::secrets::{self, Sensitive};
use crate::state::AppState;
use crate::users::User;

/// Scopes of a user access token; each `/api` route requires one.
pub const USER_SCOPE: &str = "profile projects invoices settings";

/// Tokens handed to the client after login or refresh.
#[derive(Debug)]
pub struct Issued {
    pub access_token: Sensitive<String>,
    pub refresh_token: Sensitive<String>,
    pub expires_in: i64,
    pub session_id: String,
    pub jti: String,
}

/// Signs an access token for `user` under `sid` and records it, inside `tx`.
async fn mint_access(
    state: &AppState,
    tx: &mut Transaction<'_, Sqlite>,
    user_id: i64,
    sid: &str,
    amr: &[String],
    now: i64,
) -> anyhow::Result<(Sensitive<String>, String, i64)> {
    let exp = now + state.config.access_ttl.as_secs() as i64;
    let jti = secrets::random_id("at_")?;
    let claims = AccessClaims {
        iss: state.keys.issuer().to_owned(),
        sub: user_id.to_string(),
        aud: API_AUDIENCE.to_owned(),
        exp,
        iat: now,
        nbf: now,
        jti: jti.clone(),
        sid: Some(sid.to_owned()),
        scope: USER_SCOPE.to_owned(),
        amr: amr.to_vec(),
        client_id: None,
    };
    let (token, kid) = state.keys.sign(&claims)?;
    sqlx::query(
        "INSERT INTO access_tokens (jti, session_id, user_id, kid, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&jti)
    .bind(sid)
    .bind(user_id)
    .bind(&kid)
    .bind(now)
    .bind(exp)
    .execute(&mut **tx)
    .await?;
    bump_key_exp(tx, &kid, exp).await?;
    Ok((Sensitive(token), jti, exp))
}

/// Keeps the signing key published until this token expires.
pub async fn bump_key_exp(tx: &mut Transaction<'_, Sqlite>, kid: &str, exp: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE signing_keys SET max_exp = max(max_exp, ?) WHERE kid = ?")
        .bind(exp)
        .bind(kid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_refresh(
    state: &AppState,
    tx: &mut Transaction<'_, Sqlite>,
    sid: &str,
    now: i64,
) -> anyhow::Result<(Sensitive<String>, i64)> {
    let token = secrets::opaque_token("rt_")?;
    let expires_at = now + state.config.refresh_ttl.as_secs() as i64;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(secrets::token_digest(token.expose()))
    .bind(sid)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok((token, expires_at))
}

/// Creates a session after a successful login.
pub async fn start(
    state: &AppState,
    user: &User,
    amr: &[String],
    client_ip: &str,
    user_agent: Option<&str>,
) -> anyhow::Result<Issued> {
    let now = state.now();
    let sid = secrets::random_id("s_")?;
    let mut tx = crate::db::write_tx(&state.db).await?;
    let refresh_expires = now + state.config.refresh_ttl.as_secs() as i64;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, client_ip, user_agent, amr)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&sid)
    .bind(user.id)
    .bind(now)
    .bind(now)
    .bind(refresh_expires)
    .bind(client_ip)
    .bind(user_agent)
    .bind(serde_json::to_string(amr)?)
    .execute(&mut *tx)
    .await?;
    let (refresh_token, _) = insert_refresh(state, &mut tx, &sid, now).await?;
    let (access_token, jti, _) = mint_access(state, &mut tx, user.id, &sid, amr, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, session_id = %sid, %jti, "session started");
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: state.config.access_ttl.as_secs() as i64,
        session_id: sid,
        jti,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("unknown refresh token")]
    Unknown,
    #[error("refresh token expired")]
    Expired,
    #[error("session revoked")]
    SessionRevoked,
    #[error("refresh token reused; session revoked")]
    Reused,
    #[error("account is suspended")]
    Suspended,
    #[error("password change required")]
    PasswordChangeRequired,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RefreshError {
    fn from(e: sqlx::Error) -> Self {
        RefreshError::Other(e.into())
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    session_id: String,
    expires_at: i64,
    rotated_at: Option<i64>,
    user_id: i64,
    revoked_at: Option<i64>,
    amr: String,
    status: String,
    password_change_required: bool,
}

/// Rotates a refresh token. Reuse of a rotated token revokes the session.
pub async fn refresh(state: &AppState, token: &str) -> Result<Issued, RefreshError> {
    let digest = secrets::token_digest(token);
    let row = sqlx::query_as::<_, RefreshRow>(
        "SELECT rt.session_id, rt.expires_at, rt.rotated_at, s.user_id, s.revoked_at, s.amr,
                u.status, u.password_change_required
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id
         WHERE rt.token_hash = ?",
    )
    .bind(&digest)
    .fetch_optional(&state.db)
    .await?
    .ok_or(RefreshError::Unknown)?;
    if row.revoked_at.is_some() {
        return Err(RefreshError::SessionRevoked);
    }
    if row.rotated_at.is_some() {
        tracing::warn!(session_id = %row.session_id, "rotated refresh token presented again; revoking session");
        revoke_session(state, &row.session_id, "refresh_token_reuse").await?;
        return Err(RefreshError::Reused);
    }
    let now = state.now();
    if row.expires_at <= now {
        return Err(RefreshError::Expired);
    }
    if row.status == "suspended" {
        return Err(RefreshError::Suspended);
    }
    if row.password_change_required {
        return Err(RefreshError::PasswordChangeRequired);
    }
    let mut tx = crate::db::write_tx(&state.db).await?;
    let claimed =
        sqlx::query("UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL")
            .bind(now)
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
    if claimed.rows_affected() != 1 {
        // A concurrent refresh won the race with the same token: that is reuse too.
        drop(tx);
        revoke_session(state, &row.session_id, "refresh_token_reuse").await?;
        return Err(RefreshError::Reused);
    }
    let amr: Vec<String> = serde_json::from_str(&row.amr).unwrap_or_default();
    let (refresh_token, refresh_expires) = insert_refresh(state, &mut tx, &row.session_id, now).await?;
    let (access_token, jti, _) = mint_access(state, &mut tx, row.user_id, &row.session_id, &amr, now).await?;
    sqlx::query("UPDATE sessions SET expires_at = ?, last_seen_at = ? WHERE id = ?")
        .bind(refresh_expires)
        .bind(now)
        .bind(&row.session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: state.config.access_ttl.as_secs() as i64,
        session_id: row.session_id,
        jti,
    })
}

/// The session a refresh token belongs to, if any (logout).
pub async fn session_of_refresh(pool: &SqlitePool, token: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = ?")
        .bind(secrets::token_digest(token))
        .fetch_optional(pool)
        .await
}

/// An access token a revocation made unusable before its expiry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CoveredToken {
    pub jti: String,
    pub session_id: String,
    pub expires_at: i64,
}

/// What remains usable after a revocation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Residual {
    /// Tokens covered by the revocation that would still be accepted somewhere authd controls.
    pub still_valid_tokens: u64,
    /// Until when any such token could be used (none here).
    pub exposure_until: Option<i64>,
    pub note: String,
}

/// What a revocation covered, so the console can verify containment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevokeReport {
    /// `session`, `user` or `token`.
    pub kind: String,
    pub target: String,
    pub effective_at: i64,
    /// True when the target was already fully revoked (nothing new was written).
    pub already_revoked: bool,
    pub sessions_revoked: Vec<String>,
    /// Live (unrotated, unexpired) refresh tokens of those sessions, now refused.
    pub refresh_tokens_revoked: u64,
    /// Unexpired access tokens now refused.
    pub access_tokens: Vec<CoveredToken>,
    pub feed: Vec<FeedEntry>,
    pub residual_exposure: Residual,
}

fn residual() -> Residual {
    Residual {
        still_valid_tokens: 0,
        exposure_until: None,
        note: "authd checks revocation on every /api request; resource servers following \
               /revocations converge within their poll interval"
            .to_owned(),
    }
}

async fn live_tokens_of_session(
    tx: &mut Transaction<'_, Sqlite>,
    sid: &str,
    now: i64,
) -> sqlx::Result<Vec<CoveredToken>> {
    sqlx::query_as::<_, CoveredToken>(
        "SELECT jti, session_id, expires_at FROM access_tokens WHERE session_id = ? AND expires_at > ?
         ORDER BY issued_at",
    )
    .bind(sid)
    .bind(now)
    .fetch_all(&mut **tx)
    .await
}

async fn live_refresh_count(tx: &mut Transaction<'_, Sqlite>, sid: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE session_id = ? AND rotated_at IS NULL AND expires_at > ?",
    )
    .bind(sid)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Marks one session revoked inside `tx`; returns its feed entry and what it covered.
async fn revoke_session_in(
    state: &AppState,
    tx: &mut Transaction<'_, Sqlite>,
    sid: &str,
    reason: &str,
    now: i64,
) -> sqlx::Result<(FeedEntry, Vec<CoveredToken>, i64)> {
    sqlx::query("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(sid)
        .execute(&mut **tx)
        .await?;
    let tokens = live_tokens_of_session(tx, sid, now).await?;
    let refresh = live_refresh_count(tx, sid, now).await?;
    let leeway = state.config.leeway.as_secs() as i64;
    let last_exp = tokens.iter().map(|t| t.expires_at).max().unwrap_or(now);
    let entry = revocation::insert_entry(
        tx,
        &NewEntry {
            kind: "sid",
            value: sid.to_owned(),
            not_before: None,
            expires_at: last_exp + leeway,
            reason: reason.to_owned(),
        },
    )
    .await?;
    Ok((entry, tokens, refresh))
}

/// Revokes a session: its refresh tokens and every access token issued under it.
/// `None` when the session does not exist.
pub async fn revoke_session(
    state: &AppState,
    sid: &str,
    reason: &str,
) -> anyhow::Result<Option<RevokeReport>> {
    let now = state.now();
    let mut tx = crate::db::write_tx(&state.db).await?;
    let revoked_at: Option<Option<i64>> = sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE id = ?")
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(revoked_at) = revoked_at else {
        return Ok(None);
    };
    if revoked_at.is_some() {
        let tokens = live_tokens_of_session(&mut tx, sid, now).await?;
        return Ok(Some(RevokeReport {
            kind: "session".into(),
            target: sid.to_owned(),
            effective_at: revoked_at.unwrap_or(now),
            already_revoked: true,
            sessions_revoked: Vec::new(),
            refresh_tokens_revoked: 0,
            access_tokens: tokens,
            feed: Vec::new(),
            residual_exposure: residual(),
        }));
    }
    let (entry, tokens, refresh) = revoke_session_in(state, &mut tx, sid, reason, now).await?;
    tx.commit().await?;
    state.revocations.apply(std::slice::from_ref(&entry));
    tracing::info!(session_id = %sid, reason, tokens = tokens.len(), "session revoked");
    Ok(Some(RevokeReport {
        kind: "session".into(),
        target: sid.to_owned(),
        effective_at: now,
        already_revoked: false,
        sessions_revoked: vec![sid.to_owned()],
        refresh_tokens_revoked: refresh as u64,
        access_tokens: tokens,
        feed: vec![entry],
        residual_exposure: residual(),
    }))
}

/// Revokes every session of a user and every token issued to them before now
/// (user not-before), in one transaction.
pub async fn revoke_user(state: &AppState, user_id: i64, reason: &str) -> anyhow::Result<RevokeReport> {
    let now = state.now();
    let mut tx = crate::db::write_tx(&state.db).await?;
    let (report, entries) = revoke_user_in(state, &mut tx, user_id, reason, now).await?;
    tx.commit().await?;
    state.revocations.apply(&entries);
    tracing::info!(
        user_id,
        reason,
        sessions = report.sessions_revoked.len(),
        tokens = report.access_tokens.len(),
        "all sessions of user revoked"
    );
    Ok(report)
}

/// The body of [`revoke_user`], reusable by force-reset and suspend inside their transaction.
/// The caller commits, then applies the returned entries.
pub async fn revoke_user_in(
    state: &AppState,
    tx: &mut Transaction<'_, Sqlite>,
    user_id: i64,
    reason: &str,
    now: i64,
) -> sqlx::Result<(RevokeReport, Vec<FeedEntry>)> {
    let leeway = state.config.leeway.as_secs() as i64;
    sqlx::query("UPDATE users SET not_before = ?, updated_at = ? WHERE id = ?")
        .bind(now)
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let sids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL ORDER BY seq")
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    let mut refresh = 0;
    // Per-session entries as well as the user entry: a token issued in the same second as
    // the revocation has `iat == not_before` and is caught by its sid.
    for sid in &sids {
        let (entry, t, r) = revoke_session_in(state, tx, sid, reason, now).await?;
        entries.push(entry);
        tokens.extend(t);
        refresh += r;
    }
    let last_exp: Option<i64> =
        sqlx::query_scalar("SELECT max(expires_at) FROM access_tokens WHERE user_id = ? AND expires_at > ?")
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
    let user_entry = revocation::insert_entry(
        tx,
        &NewEntry {
            kind: "user",
            value: user_id.to_string(),
            not_before: Some(now),
            expires_at: last_exp.unwrap_or(now) + leeway,
            reason: reason.to_owned(),
        },
    )
    .await?;
    entries.push(user_entry);
    let report = RevokeReport {
        kind: "user".into(),
        target: user_id.to_string(),
        effective_at: now,
        already_revoked: false,
        sessions_revoked: sids,
        refresh_tokens_revoked: refresh as u64,
        access_tokens: tokens,
        feed: entries.clone(),
        residual_exposure: residual(),
    };
    Ok((report, entries))
}

/// Revokes one access token by jti until it expires. `None` when authd never issued it.
pub async fn revoke_token(state: &AppState, jti: &str, reason: &str) -> anyhow::Result<Option<RevokeReport>> {
    let now = state.now();
    let mut tx = crate::db::write_tx(&state.db).await?;
    let token = sqlx::query_as::<_, CoveredToken>(
        "SELECT jti, session_id, expires_at FROM access_tokens WHERE jti = ?",
    )
    .bind(jti)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(token) = token else {
        return Ok(None);
    };
    let already: Option<i64> =
        sqlx::query_scalar("SELECT cursor FROM revocations WHERE kind = 'jti' AND value = ?")
            .bind(jti)
            .fetch_optional(&mut *tx)
            .await?;
    let mut feed = Vec::new();
    if already.is_none() {
        let entry = revocation::insert_entry(
            &mut tx,
            &NewEntry {
                kind: "jti",
                value: jti.to_owned(),
                not_before: None,
                expires_at: token.expires_at + state.config.leeway.as_secs() as i64,
                reason: reason.to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        state.revocations.apply(std::slice::from_ref(&entry));
        feed.push(entry);
        tracing::info!(%jti, reason, "access token revoked");
    }
    let live = token.expires_at > now;
    Ok(Some(RevokeReport {
        kind: "token".into(),
        target: jti.to_owned(),
        effective_at: now,
        already_revoked: already.is_some(),
        sessions_revoked: Vec::new(),
        refresh_tokens_revoked: 0,
        access_tokens: if live { vec![token] } else { Vec::new() },
        feed,
        residual_exposure: residual(),
    }))
}

/// A session as listed for analysts.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionView {
    /// Position in the listing; pass the last one as `cursor` for the next page.
    pub seq: i64,
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub client_ip: String,
    pub user_agent: Option<String>,
    /// JSON array of authentication methods (RFC 8176), e.g. `["pwd","otp"]`.
    pub amr: String,
    pub active: bool,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

/// Filters for the session listing.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub user_id: Option<i64>,
    pub active: Option<bool>,
    /// Sessions seen (`last_seen_at`) at or after this unix time.
    pub since: Option<i64>,
}

const SESSION_COLUMNS: &str =
    "s.seq, s.id, s.user_id, u.username, s.created_at, s.last_seen_at, s.expires_at,
    s.client_ip, s.user_agent, s.amr, (s.revoked_at IS NULL AND s.expires_at > ?1) AS active,
    s.revoked_at, s.revoked_reason";

/// Newest first; `cursor` is the `seq` of the last row of the previous page.
///
/// The WHERE clause is built from the filters actually given (no `? IS NULL OR ...`), so SQLite
/// can walk the primary key or the per-user index from the cursor instead of scanning.
pub async fn list(
    pool: &SqlitePool,
    filter: &SessionFilter,
    cursor: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<SessionView>> {
    let now = db::now();
    let mut q = sqlx::QueryBuilder::<Sqlite>::new(
        "SELECT s.seq, s.id, s.user_id, u.username, s.created_at, \
         s.last_seen_at, s.expires_at, s.client_ip, s.user_agent, s.amr, (s.revoked_at IS NULL AND s.expires_at > ",
    );
    q.push_bind(now);
    q.push(") AS active, s.revoked_at, s.revoked_reason FROM sessions s JOIN users u ON u.id = s.user_id WHERE 1");
    if let Some(c) = cursor {
        q.push(" AND s.seq < ").push_bind(c);
    }
    if let Some(uid) = filter.user_id {
        q.push(" AND s.user_id = ").push_bind(uid);
    }
    match filter.active {
        Some(true) => {
            q.push(" AND s.revoked_at IS NULL AND s.expires_at > ")
                .push_bind(now);
        }
        Some(false) => {
            q.push(" AND (s.revoked_at IS NOT NULL OR s.expires_at <= ")
                .push_bind(now)
                .push(")");
        }
        None => {}
    }
    if let Some(since) = filter.since {
        q.push(" AND s.last_seen_at >= ").push_bind(since);
    }
    q.push(" ORDER BY s.seq DESC LIMIT ").push_bind(limit);
    q.build_query_as::<SessionView>().fetch_all(pool).await
}

pub async fn get(pool: &SqlitePool, sid: &str) -> sqlx::Result<Option<SessionView>> {
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?2");
    sqlx::query_as::<_, SessionView>(&sql)
        .bind(db::now())
        .bind(sid)
        .fetch_optional(pool)
        .await
}

/// An access token issued under a session.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IssuedToken {
    pub jti: String,
    pub kid: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Revoked individually by jti.
    pub revoked: bool,
}

pub async fn tokens_of(pool: &SqlitePool, sid: &str) -> sqlx::Result<Vec<IssuedToken>> {
    sqlx::query_as::<_, IssuedToken>(
        "SELECT a.jti, a.kid, a.issued_at, a.expires_at,
                EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'jti' AND r.value = a.jti) AS revoked
         FROM access_tokens a WHERE a.session_id = ? ORDER BY a.issued_at, a.rowid",
    )
    .bind(sid)
    .fetch_all(pool)
    .await
}
