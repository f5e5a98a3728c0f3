//! Revocation: the durable feed, the in-memory deny sets, and the operations that fill both.
//!
//! Every request to `/api` checks revocation, so the check is a few hash lookups under a read
//! lock, never a query. The database is the source of truth (the `revocations` table doubles as
//! the feed other resource servers poll or stream); memory is loaded from it at start and
//! updated right after each revoking transaction commits, before the revoke call returns, so a
//! revocation is effective on the very next request. Entries are kept until the tokens they
//! cover have expired, then pruned from both.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde::Serialize;
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::watch;

use crate::db;

/// One feed entry as served at `/revocations`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow, utoipa::ToSchema)]
pub struct FeedEntry {
    /// Monotonic, never reused; also the SSE event id.
    pub cursor: i64,
    /// `jti`, `sid` or `user` (value is then the user's `sub`).
    pub kind: String,
    pub value: String,
    /// For `user`: tokens issued (`iat`) before this instant are revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// After this instant every token the entry covers has expired; the entry may be pruned.
    pub expires_at: i64,
}

/// Why a token that verified is nevertheless refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    TokenRevoked,
    SessionRevoked,
    UserRevoked,
    UserSuspended,
}

impl Denial {
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::TokenRevoked => "token_revoked",
            Denial::SessionRevoked => "session_revoked",
            Denial::UserRevoked => "user_revoked",
            Denial::UserSuspended => "user_suspended",
        }
    }
}

#[derive(Default)]
struct DenySets {
    jti: HashMap<String, i64>,
    sid: HashMap<String, i64>,
    user_not_before: HashMap<i64, (i64, i64)>,
    suspended: HashSet<i64>,
}

/// In-memory deny sets plus the feed head notifier.
pub struct Revocations {
    sets: RwLock<DenySets>,
    head: watch::Sender<i64>,
}

/// A feed entry to write inside a revoking transaction.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: &'static str,
    pub value: String,
    pub not_before: Option<i64>,
    pub expires_at: i64,
    pub reason: String,
}

impl Revocations {
    /// Loads unexpired entries and suspended users.
    pub async fn load(pool: &SqlitePool) -> anyhow::Result<Revocations> {
        let now = db::now();
        let entries = sqlx::query_as::<_, FeedEntry>(
            "SELECT cursor, kind, value, not_before, expires_at FROM revocations WHERE expires_at >= ?",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        let suspended: Vec<i64> = sqlx::query_scalar("SELECT id FROM users WHERE status = 'suspended'")
            .fetch_all(pool)
            .await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT max(cursor) FROM revocations")
            .fetch_one(pool)
            .await?;
        let this = Revocations {
            sets: RwLock::new(DenySets::default()),
            head: watch::Sender::new(head.unwrap_or(0)),
        };
        this.apply(&entries);
        {
            let mut sets = this.write();
            sets.suspended.extend(suspended);
        }
        tracing::info!(entries = entries.len(), "revocation state loaded");
        Ok(this)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, DenySets> {
        match self.sets.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, DenySets> {
        match self.sets.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The O(1) check run on every API request after signature verification.
    pub fn check(&self, user_id: i64, sid: Option<&str>, jti: &str, iat: i64) -> Result<(), Denial> {
        let sets = self.read();
        if sets.suspended.contains(&user_id) {
            return Err(Denial::UserSuspended);
        }
        if let Some(&(nb, _)) = sets.user_not_before.get(&user_id)
            && iat < nb
        {
            return Err(Denial::UserRevoked);
        }
        if let Some(sid) = sid
            && sets.sid.contains_key(sid)
        {
            return Err(Denial::SessionRevoked);
        }
        if sets.jti.contains_key(jti) {
            return Err(Denial::TokenRevoked);
        }
        Ok(())
    }

    /// Applies committed entries to memory and wakes feed streams.
    pub fn apply(&self, entries: &[FeedEntry]) {
        let mut max = 0;
        {
            let mut sets = self.write();
            for e in entries {
                max = max.max(e.cursor);
                match e.kind.as_str() {
                    "jti" => {
                        sets.jti.insert(e.value.clone(), e.expires_at);
                    }
                    "sid" => {
                        sets.sid.insert(e.value.clone(), e.expires_at);
                    }
                    "user" => {
                        if let (Ok(uid), Some(nb)) = (e.value.parse::<i64>(), e.not_before) {
                            let slot = sets.user_not_before.entry(uid).or_insert((nb, e.expires_at));
                            if nb >= slot.0 {
                                *slot = (nb, e.expires_at.max(slot.1));
                            }
                        }
                    }
                    other => tracing::warn!(kind = other, "unknown revocation kind ignored"),
                }
            }
        }
        self.head.send_if_modified(|h| {
            if max > *h {
                *h = max;
                true
            } else {
                false
            }
        });
    }

    pub fn set_suspended(&self, user_id: i64, suspended: bool) {
        let mut sets = self.write();
        if suspended {
            sets.suspended.insert(user_id);
        } else {
            sets.suspended.remove(&user_id);
        }
    }

    /// Latest feed cursor.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// Notified whenever the feed head moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Drops expired entries from memory and the database.
    pub async fn prune(&self, pool: &SqlitePool, now: i64) -> anyhow::Result<u64> {
        {
            let mut sets = self.write();
            sets.jti.retain(|_, exp| *exp >= now);
            sets.sid.retain(|_, exp| *exp >= now);
            sets.user_not_before.retain(|_, (_, exp)| *exp >= now);
        }
        let done = sqlx::query("DELETE FROM revocations WHERE expires_at < ?")
            .bind(now)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Sizes of the deny sets (jti, sid, user), for health and benches.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let s = self.read();
        (s.jti.len(), s.sid.len(), s.user_not_before.len())
    }
}

/// Writes one feed entry inside the caller's transaction.
pub async fn insert_entry(tx: &mut Transaction<'_, Sqlite>, e: &NewEntry) -> sqlx::Result<FeedEntry> {
    let cursor: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (kind, value, not_before, expires_at, created_at, reason)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING cursor",
    )
    .bind(e.kind)
    .bind(&e.value)
    .bind(e.not_before)
    .bind(e.expires_at)
    .bind(db::now())
    .bind(&e.reason)
    .fetch_one(&mut **tx)
    .await?;
    Ok(FeedEntry {
        cursor,
        kind: e.kind.to_owned(),
        value: e.value.clone(),
        not_before: e.not_before,
        expires_at: e.expires_at,
    })
}

/// Feed entries after `since`, oldest first.
pub async fn feed_since(pool: &SqlitePool, since: i64, limit: i64) -> sqlx::Result<Vec<FeedEntry>> {
    sqlx::query_as::<_, FeedEntry>(
        "SELECT cursor, kind, value, not_before, expires_at FROM revocations
         WHERE cursor > ? ORDER BY cursor LIMIT ?",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cursor: i64, kind: &str, value: &str, nb: Option<i64>, exp: i64) -> FeedEntry {
        FeedEntry {
            cursor,
            kind: kind.into(),
            value: value.into(),
            not_before: nb,
            expires_at: exp,
        }
    }

    fn empty() -> Revocations {
        Revocations {
            sets: RwLock::new(DenySets::default()),
            head: watch::Sender::new(0),
        }
    }

    #[test]
    fn each_kind_denies_with_its_reason() {
        let r = empty();
        assert!(r.check(1, Some("s1"), "j1", 100).is_ok());
        r.apply(&[entry(1, "jti", "j1", None, 1000)]);
        assert_eq!(r.check(1, Some("s1"), "j1", 100), Err(Denial::TokenRevoked));
        r.apply(&[entry(2, "sid", "s1", None, 1000)]);
        assert_eq!(r.check(1, Some("s1"), "j2", 100), Err(Denial::SessionRevoked));
        r.apply(&[entry(3, "user", "2", Some(200), 1000)]);
        assert_eq!(r.check(2, Some("s9"), "j9", 199), Err(Denial::UserRevoked));
        assert!(r.check(2, Some("s9"), "j9", 200).is_ok());
        r.set_suspended(3, true);
        assert_eq!(r.check(3, None, "j", 1), Err(Denial::UserSuspended));
        r.set_suspended(3, false);
        assert!(r.check(3, None, "j", 1).is_ok());
        assert_eq!(r.head(), 3);
    }

    #[test]
    fn a_later_user_revocation_wins_and_an_older_one_does_not_lower_it() {
        let r = empty();
        r.apply(&[entry(1, "user", "5", Some(300), 1000)]);
        r.apply(&[entry(2, "user", "5", Some(100), 900)]);
        assert_eq!(r.check(5, None, "j", 250), Err(Denial::UserRevoked));
    }

    #[tokio::test]
    async fn prune_drops_expired_entries_from_memory_and_the_database_only() {
        let pool = crate::db::open(&crate::config::Database::Memory).await.unwrap();
        let r = Revocations::load(&pool).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let mut written = Vec::new();
        for (value, exp) in [("old", 100), ("live", 10_000)] {
            let e = NewEntry {
                kind: "jti",
                value: value.into(),
                not_before: None,
                expires_at: exp,
                reason: "test".into(),
            };
            written.push(insert_entry(&mut tx, &e).await.unwrap());
        }
        tx.commit().await.unwrap();
        r.apply(&written);
        assert_eq!(r.prune(&pool, 5_000).await.unwrap(), 1);
        assert!(r.check(1, None, "old", 0).is_ok());
        assert_eq!(r.check(1, None, "live", 0), Err(Denial::TokenRevoked));
        let left = feed_since(&pool, 0, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].value, "live");
        // Cursors are never reused after pruning.
        let mut tx = pool.begin().await.unwrap();
        let next = insert_entry(
            &mut tx,
            &NewEntry {
                kind: "sid",
                value: "s".into(),
                not_before: None,
                expires_at: 10_000,
                reason: "test".into(),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(next.cursor, 3);
    }
}
