//! The SQLite store: one pool, embedded migrations, WAL.
//!
//! SQLite keeps authd a single file to copy for forensics; WAL lets the activity writer append
//! while admin queries read.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::config::Database;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens (creating if missing) and migrates the database.
pub async fn open(db: &Database) -> anyhow::Result<SqlitePool> {
    let pool = match db {
        Database::File(path) => {
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?
        }
        Database::Memory => {
            // One connection that never closes: an in-memory database lives only as long as it.
            let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts)
                .await?
        }
    };
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`).
///
/// A deferred transaction that reads and then writes fails at once with `SQLITE_BUSY` in WAL
/// mode when another connection (the activity writer, constantly) committed in between;
/// taking the lock first makes it wait on `busy_timeout` instead.
pub async fn write_tx(pool: &SqlitePool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_database_is_created_in_wal_mode_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db");
        let pool = open(&Database::File(path.clone())).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0);
        pool.close().await;
        assert!(path.exists());
        // Reopening an existing database runs no migration twice.
        let pool = open(&Database::File(path)).await.unwrap();
        pool.close().await;
    }
}
