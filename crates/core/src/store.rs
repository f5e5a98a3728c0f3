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
        Self::migrated(pool).await
    }

    /// A private in-memory store (unit tests).
    pub async fn in_memory() -> Result<Store, Error> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to :memory: is a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Store, Error> {
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
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
}
