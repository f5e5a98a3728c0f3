//! The local SQLite store (sqlx, WAL): what was synced from each backend profile, the actions
//! taken and the audit log. The console works offline from it and says how old the data is.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("local store: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("local store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("local store holds an invalid value: {0}")]
    Corrupt(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Names this database among others on the machine (a hash of its canonical path), so that
    /// what is anchored outside it (the audit head in the keyring) is per store.
    id: String,
}

impl Store {
    /// Opens (creating if missing) the store at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Self::migrated(pool, store_id(&canonical.to_string_lossy())).await
    }

    /// A private in-memory store (unit tests).
    pub async fn in_memory() -> Result<Store, Error> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to :memory: is a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let id = store_id(&format!("memory-{}", hex::encode(rand::random::<[u8; 8]>())));
        Self::migrated(pool, id).await
    }

    /// This store's name among others on the machine (stable for a given path).
    pub fn id(&self) -> &str {
        &self.id
    }

    async fn migrated(pool: SqlitePool, id: String) -> Result<Store, Error> {
        sqlx::migrate!("./migrations").run(&pool).await?;
        // A sync killed while it had the index dropped left the table without it.
        sqlx::query(ACTIVITY_BY_SESSION).execute(&pool).await?;
        Ok(Store { pool, id })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Drops everything synced or derived for a profile (not its actions and never the audit
    /// log): used when the profile now points at a different backend, like a new demo.
    pub async fn forget_profile(&self, profile: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        for table in [
            "users",
            "sessions",
            "activity",
            "sync_state",
            "findings",
            "feedback",
            "suppressions",
            "session_facts",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE profile = ?"))
                .bind(profile)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The index behind the per-session activity views, as the migrations create it. Sync drops it
/// while it pulls a large backlog (inserting 1M rows into it in session order costs several
/// times what building it once after does) and creates it again with this statement.
pub(crate) const ACTIVITY_BY_SESSION: &str =
    "CREATE INDEX IF NOT EXISTS activity_by_session ON activity (profile, session_id, at_ms)";

fn store_id(seed: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..8])
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_uses_wal_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let store = Store::open(&path).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Re-opening applies nothing new and keeps the schema.
        let store = Store::open(&path).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(n >= 1);
    }

    /// A store migrated by the first release only keeps its activity and sessions through the
    /// rowid migrations, with the backend's ids still unique per profile.
    #[tokio::test]
    async fn rowid_migrations_keep_existing_rows_and_their_uniqueness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let first = dir.path().join("first-release");
        std::fs::create_dir(&first).unwrap();
        let init = "20261129000000_init.sql";
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(init),
            first.join(init),
        )
        .unwrap();
        let old = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::migrate::Migrator::new(first.as_path())
            .await
            .unwrap()
            .run(&old)
            .await
            .unwrap();
        for (profile, id, at, session) in [
            ("a", "10", 3, Some("s1")),
            ("a", "9", 2, None),
            ("b", "10", 1, Some("s2")),
        ] {
            sqlx::query(
                "INSERT INTO activity (profile, event_id, at_ms, user_id, session_id, jti, ip, user_agent, method,
                                       path, status, denial_reason, sensitive)
                 VALUES (?, ?, ?, 'u1', ?, 'at_1', '203.0.113.1', 'ua', 'GET', '/x', 403, 'denied', 1)",
            )
            .bind(profile)
            .bind(id)
            .bind(at)
            .bind(session)
            .execute(&old)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO sessions (profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent,
                                   active, revoked_at_ms, synced_at_ms)
             VALUES ('a', 's1', 'u1', 1, 2, 3, '203.0.113.1', 'ua', 0, 4, 5), ('b', 's1', 'u2', 6, NULL, NULL, NULL, NULL, 1, NULL, 7)",
        )
        .execute(&old)
        .await
        .unwrap();
        old.close().await;

        let store = Store::open(&path).await.unwrap();
        type Row = (String, String, i64, Option<String>, Option<i64>, bool);
        let activity: Vec<Row> = sqlx::query_as(
            "SELECT profile, event_id, at_ms, session_id, status, sensitive FROM activity ORDER BY profile, event_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let row = |p: &str, id: &str, at: i64, s: Option<&str>| -> Row {
            (p.into(), id.into(), at, s.map(String::from), Some(403), true)
        };
        assert_eq!(
            activity,
            vec![
                row("a", "10", 3, Some("s1")),
                row("a", "9", 2, None),
                row("b", "10", 1, Some("s2"))
            ]
        );
        let rest: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM activity WHERE user_id = 'u1' AND jti = 'at_1' AND ip = '203.0.113.1'
             AND user_agent = 'ua' AND method = 'GET' AND path = '/x' AND denial_reason = 'denied'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(rest, 3);
        type SessionRow = (
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            bool,
            Option<i64>,
            i64,
        );
        let sessions: Vec<SessionRow> = sqlx::query_as("SELECT * FROM sessions ORDER BY profile, id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(
            sessions,
            vec![
                (
                    "a".into(),
                    "s1".into(),
                    "u1".into(),
                    1,
                    Some(2),
                    Some(3),
                    Some("203.0.113.1".into()),
                    Some("ua".into()),
                    false,
                    Some(4),
                    5
                ),
                (
                    "b".into(),
                    "s1".into(),
                    "u2".into(),
                    6,
                    None,
                    None,
                    None,
                    None,
                    true,
                    None,
                    7
                ),
            ]
        );
        // Both are rowid tables now, and (profile, id) stays unique in each.
        let rowids: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(rowid) FROM activity) + (SELECT count(rowid) FROM sessions)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(rowids, 5);
        let dup = sqlx::query("INSERT INTO activity (profile, event_id, at_ms) VALUES ('a', '10', 9)")
            .execute(store.pool())
            .await;
        assert!(dup.is_err(), "a second (profile, event_id) must be refused");
        let dup = sqlx::query(
            "INSERT INTO sessions (profile, id, user_id, started_at_ms, active, synced_at_ms) VALUES ('a', 's1', 'u', 1, 1, 1)",
        )
        .execute(store.pool())
        .await;
        assert!(dup.is_err(), "a second (profile, session id) must be refused");
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('activity', 'sessions') ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            indexes,
            [
                "activity_by_event",
                "activity_by_session",
                "activity_by_time",
                "sessions_by_id",
                "sessions_by_user"
            ]
        );
    }

    /// A sync killed while the per-session index was dropped leaves it missing; opening the
    /// store builds it again.
    #[tokio::test]
    async fn opening_the_store_restores_a_dropped_session_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let store = Store::open(&path).await.unwrap();
        sqlx::query("DROP INDEX activity_by_session")
            .execute(store.pool())
            .await
            .unwrap();
        store.pool().close().await;
        let store = Store::open(&path).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'activity_by_session'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(n, 1);
    }
}
