//! What a received SET changes in the store. The subject (RFC 9493) is resolved to the
//! profile's own users and sessions; then
//!
//! * `session-revoked` ends those sessions where the provider says it ended them: the session
//!   row is marked inactive and revoked at the event's time, and an activity row
//!   ([`SSF_SESSION_REVOKED`]) records the end, so detection treats any later accepted use of
//!   the session's tokens as use after revocation (`revoked_token_use`, explained as the
//!   provider's revocation). A user subject without a session means every open session of the
//!   user.
//! * `credential-change` changes nothing but is tied to the user it names, so it appears on
//!   that user's incident timelines.
//!
//! A subject that names nobody the console knows is recorded and audited as unresolved. All of
//! it happens in the transaction that records the SET, so a crash records both or neither.

use serde::Serialize;
use serde_json::Value;
use sqlx::SqliteConnection;

use super::set::{SESSION_REVOKED, ValidSet};
use crate::ingest::SSF_SESSION_REVOKED;

/// Who a received SET was about, as far as this console knows them, and what it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The local user the subject names.
    pub user: Option<String>,
    /// Sessions the SET ended here (`session-revoked`).
    pub sessions_ended: Vec<String>,
    pub effect: Effect,
}

/// What a received SET did here.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, specta::Type,
)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Sessions it names were ended.
    Ended,
    /// Tied to a known user; nothing to change (a credential change, or no open session).
    Recorded,
    /// It names nobody known here (or contradicts itself): nothing changed.
    #[default]
    Unresolved,
}

impl Applied {
    /// The audit target that ties the SET to what it is about.
    pub fn audit_target(&self, jti: &str) -> String {
        match (self.sessions_ended.as_slice(), &self.user) {
            ([one], _) => one.clone(),
            (_, Some(u)) => u.clone(),
            _ => format!("set:{jti}"),
        }
    }
}

fn str_member<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

async fn user_by_id(conn: &mut SqliteConnection, profile: &str, id: &str) -> sqlx::Result<Option<String>> {
    let known: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE profile = ? AND id = ?
         UNION SELECT user_id FROM sessions WHERE profile = ? AND user_id = ? LIMIT 1",
    )
    .bind(profile)
    .bind(id)
    .bind(profile)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(known)
}

async fn user_by_name(
    conn: &mut SqliteConnection,
    profile: &str,
    name: &str,
) -> sqlx::Result<Option<String>> {
    // Two different users sharing an address is ambiguous: name nobody rather than guess.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE profile = ? AND (lower(email) = lower(?1) OR lower(username) = lower(?2)) LIMIT 2",
    )
    .bind(profile)
    .bind(name)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    Ok(if ids.len() == 1 {
        ids.into_iter().next()
    } else {
        None
    })
}

/// A user facet: `iss_sub` (the provider's user id), `email`, `account` (`acct:name@host`) or
/// `opaque` (a user id).
async fn resolve_user(
    conn: &mut SqliteConnection,
    profile: &str,
    facet: &Value,
) -> sqlx::Result<Option<String>> {
    match str_member(facet, "format") {
        Some("iss_sub") => match str_member(facet, "sub") {
            Some(sub) => user_by_id(conn, profile, sub).await,
            None => Ok(None),
        },
        Some("opaque") => match str_member(facet, "id") {
            Some(id) => user_by_id(conn, profile, id).await,
            None => Ok(None),
        },
        Some("email") => match str_member(facet, "email") {
            Some(e) => user_by_name(conn, profile, e).await,
            None => Ok(None),
        },
        Some("account") => match str_member(facet, "uri").and_then(|u| u.strip_prefix("acct:")) {
            Some(a) => user_by_name(conn, profile, a).await,
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

/// A session facet: `opaque` with the provider's session id. Returns (session, its user).
async fn resolve_session(
    conn: &mut SqliteConnection,
    profile: &str,
    facet: &Value,
) -> sqlx::Result<Option<(String, String)>> {
    let Some(id) = (str_member(facet, "format") == Some("opaque"))
        .then(|| str_member(facet, "id"))
        .flatten()
    else {
        return Ok(None);
    };
    sqlx::query_as("SELECT id, user_id FROM sessions WHERE profile = ? AND id = ?")
        .bind(profile)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
}

/// The instant the provider says the event happened: `event_timestamp` when it is plausible
/// (not after the SET was issued, not more than a day before), else the SET's `iat`.
pub fn event_time_ms(v: &ValidSet) -> i64 {
    let ts = v.event.get("event_timestamp").and_then(Value::as_i64);
    let at = match ts {
        Some(t) if t <= v.iat && t >= v.iat - 86_400 => t,
        _ => v.iat,
    };
    at.saturating_mul(1000)
}

/// Resolves the SET's subject and applies its effect inside `conn`'s transaction.
pub async fn apply(conn: &mut SqliteConnection, profile: &str, v: &ValidSet) -> sqlx::Result<Applied> {
    let subject = &v.subject;
    let (mut user, session) = if str_member(subject, "format") == Some("complex") {
        let user = match subject.get("user") {
            Some(f) => resolve_user(conn, profile, f).await?,
            None => None,
        };
        let session = match subject.get("session") {
            Some(f) => resolve_session(conn, profile, f).await?,
            None => None,
        };
        (user, session)
    } else {
        // A bare opaque id may name a session or a user.
        let session = resolve_session(conn, profile, subject).await?;
        let user = match session {
            Some(_) => None,
            None => resolve_user(conn, profile, subject).await?,
        };
        (user, session)
    };
    if let Some((_, owner)) = &session {
        match &user {
            // The session belongs to someone else than the user facet names: trust neither.
            Some(u) if u != owner => {
                return Ok(Applied::default());
            }
            _ => user = Some(owner.clone()),
        }
    }
    let Some(user_id) = user else {
        return Ok(Applied::default());
    };
    if v.event_uri != SESSION_REVOKED {
        return Ok(Applied {
            user: Some(user_id),
            sessions_ended: Vec::new(),
            effect: Effect::Recorded,
        });
    }
    let at = event_time_ms(v);
    let sessions: Vec<String> = match session {
        Some((s, _)) => vec![s],
        None => {
            sqlx::query_scalar(
                "SELECT id FROM sessions WHERE profile = ? AND user_id = ? AND active = 1 ORDER BY id",
            )
            .bind(profile)
            .bind(&user_id)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    for s in &sessions {
        sqlx::query(
            "UPDATE sessions SET active = 0, revoked_at_ms = coalesce(min(revoked_at_ms, ?1), ?1)
             WHERE profile = ?2 AND id = ?3",
        )
        .bind(at)
        .bind(profile)
        .bind(s)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT OR IGNORE INTO activity (profile, event_id, at_ms, user_id, session_id, path, sensitive)
             VALUES (?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(profile)
        .bind(format!("ssf:{}:{}", v.jti, s))
        .bind(at)
        .bind(&user_id)
        .bind(s)
        .bind(SSF_SESSION_REVOKED)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Applied {
        user: Some(user_id),
        effect: if sessions.is_empty() {
            Effect::Recorded
        } else {
            Effect::Ended
        },
        sessions_ended: sessions,
    })
}
