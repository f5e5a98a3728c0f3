//! Incremental sync from a backend profile into the local store. Users and sessions are
//! refreshed in full (their state changes); activity is pulled after the stored cursor. Each page
//! is written in one transaction together with the cursor that follows it, so an interrupted or
//! failed sync never stores half a page, never loses one and never stores one twice.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite};

use crate::backend::{self, Activity, AdminBackend, Session, User};
use crate::store::{self, Store, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(store::Error::Sql(e))
    }
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Error::Backend(e) => e.kind(),
            Error::Store(e) => e.kind(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub profile: String,
    pub users: u64,
    pub sessions: u64,
    pub activity: u64,
    pub pruned_activity: u64,
    pub duration_ms: u64,
}

/// How old the cached data of a profile is.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DataAge {
    pub profile: String,
    pub last_sync: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Users,
    Sessions,
    Activity,
}

/// Called after each page with the stage and the running count of that stage.
pub type Progress<'a> = &'a (dyn Fn(Stage, u64) + Send + Sync);

const ACTIVITY_STREAM: &str = "activity";

type PageFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = backend::Result<backend::Page<Activity>>> + Send + 'a>,
>;
/// Rows per multi-row INSERT (at 11 bound values a row, below SQLite's 32766-variable limit).
const ROWS_PER_STATEMENT: usize = 2000;

pub async fn sync(
    store: &Store,
    profile: &str,
    backend: &dyn AdminBackend,
    retention_days: u32,
    progress: Progress<'_>,
) -> Result<SyncReport, Error> {
    let started = std::time::Instant::now();
    let mut report = SyncReport {
        profile: profile.to_string(),
        ..Default::default()
    };

    let mut users = backend::pages(None, |c| backend.users_page(c));
    while let Some(page) = users.try_next().await? {
        let mut tx = store.pool().begin().await?;
        upsert_users(&mut tx, profile, &page.items).await?;
        tx.commit().await?;
        report.users += page.items.len() as u64;
        progress(Stage::Users, report.users);
    }

    let mut sessions = backend::pages(None, |c| backend.sessions_page(c));
    while let Some(page) = sessions.try_next().await? {
        let mut tx = store.pool().begin().await?;
        upsert_sessions(&mut tx, profile, &page.items).await?;
        tx.commit().await?;
        report.sessions += page.items.len() as u64;
        progress(Stage::Sessions, report.sessions);
    }

    if backend.capabilities().activity {
        // The next page is fetched while the current one is written.
        let mut next = Some(backend.activity_page(cursor(store, profile, ACTIVITY_STREAM).await?));
        while let Some(fetch) = next.take() {
            let page = fetch.await?;
            let following = page.more.then(|| backend.activity_page(page.cursor.clone()));
            let write = async {
                let mut tx = store.pool().begin().await?;
                insert_activity(&mut tx, profile, &page.items).await?;
                set_cursor(&mut tx, profile, ACTIVITY_STREAM, page.cursor.as_deref()).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            };
            match following {
                Some(f) => {
                    let (written, fetched) = tokio::join!(write, f);
                    written?;
                    next = Some(Box::pin(futures::future::ready(fetched)) as PageFuture<'_>);
                }
                None => write.await?,
            }
            report.activity += page.items.len() as u64;
            progress(Stage::Activity, report.activity);
        }
    }

    let cutoff = now_ms() - i64::from(retention_days) * 86_400_000;
    report.pruned_activity = sqlx::query("DELETE FROM activity WHERE profile = ? AND at_ms < ?")
        .bind(profile)
        .bind(cutoff)
        .execute(store.pool())
        .await?
        .rows_affected();
    let mut tx = store.pool().begin().await?;
    set_cursor(&mut tx, profile, "last_sync", None).await?;
    tx.commit().await?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

pub async fn data_age(store: &Store, profile: &str) -> Result<DataAge, Error> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT synced_at_ms FROM sync_state WHERE profile = ? AND stream = ?")
            .bind(profile)
            .bind("last_sync")
            .fetch_optional(store.pool())
            .await?;
    Ok(DataAge {
        profile: profile.to_string(),
        last_sync: at.and_then(DateTime::from_timestamp_millis),
    })
}

async fn cursor(store: &Store, profile: &str, stream: &str) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT cursor FROM sync_state WHERE profile = ? AND stream = ?",
    )
    .bind(profile)
    .bind(stream)
    .fetch_optional(store.pool())
    .await?
    .flatten())
}

async fn set_cursor(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    profile: &str,
    stream: &str,
    cursor: Option<&str>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sync_state (profile, stream, cursor, synced_at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (profile, stream) DO UPDATE SET cursor = excluded.cursor, synced_at_ms = excluded.synced_at_ms",
    )
    .bind(profile)
    .bind(stream)
    .bind(cursor)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_users(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    profile: &str,
    users: &[User],
) -> Result<(), Error> {
    let now = now_ms();
    for chunk in users.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO users (profile, id, username, email, display_name, status, synced_at_ms) ",
        );
        q.push_values(chunk, |mut b, u| {
            b.push_bind(profile)
                .push_bind(&u.id)
                .push_bind(&u.username)
                .push_bind(&u.email)
                .push_bind(&u.display_name)
                .push_bind(&u.status)
                .push_bind(now);
        });
        q.push(
            " ON CONFLICT (profile, id) DO UPDATE SET username = excluded.username, email = excluded.email,
              display_name = excluded.display_name, status = excluded.status, synced_at_ms = excluded.synced_at_ms",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn upsert_sessions(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    profile: &str,
    sessions: &[Session],
) -> Result<(), Error> {
    let now = now_ms();
    for chunk in sessions.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO sessions (profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip,
             user_agent, active, revoked_at_ms, synced_at_ms) ",
        );
        q.push_values(chunk, |mut b, s| {
            b.push_bind(profile)
                .push_bind(&s.id)
                .push_bind(&s.user_id)
                .push_bind(s.started_at.timestamp_millis())
                .push_bind(s.last_seen_at.map(|t| t.timestamp_millis()))
                .push_bind(s.expires_at.map(|t| t.timestamp_millis()))
                .push_bind(&s.ip)
                .push_bind(&s.user_agent)
                .push_bind(s.active)
                .push_bind(s.revoked_at.map(|t| t.timestamp_millis()))
                .push_bind(now);
        });
        q.push(
            " ON CONFLICT (profile, id) DO UPDATE SET last_seen_at_ms = excluded.last_seen_at_ms,
              expires_at_ms = excluded.expires_at_ms, ip = excluded.ip, user_agent = excluded.user_agent,
              active = excluded.active, revoked_at_ms = excluded.revoked_at_ms, synced_at_ms = excluded.synced_at_ms",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// One statement per page: the rows travel as a single JSON array that SQLite unpacks with
/// `json_each`, instead of 13 bound values per row through the driver.
async fn insert_activity(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    profile: &str,
    rows: &[Activity],
) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let packed: Vec<serde_json::Value> = rows
        .iter()
        .map(|a| {
            serde_json::json!([
                a.event_id,
                a.at.timestamp_millis(),
                a.user_id,
                a.session_id,
                a.jti,
                a.ip,
                a.user_agent,
                a.method,
                a.path,
                a.status,
                a.denial_reason,
                a.sensitive
            ])
        })
        .collect();
    let packed = serde_json::Value::Array(packed).to_string();
    sqlx::query(
        "INSERT OR IGNORE INTO activity (profile, event_id, at_ms, user_id, session_id, jti, ip, user_agent,
             method, path, status, denial_reason, sensitive)
         SELECT ?1, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5,
                j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, j.value ->> 11
         FROM json_each(?2) AS j",
    )
    .bind(profile)
    .bind(packed)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reads back what sync stored (for the views and the CLI).
pub mod read {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
    #[serde(rename_all = "camelCase")]
    pub struct UserRow {
        pub id: String,
        pub username: String,
        pub email: Option<String>,
        pub display_name: Option<String>,
        pub status: String,
        pub sessions: i64,
        pub active_sessions: i64,
        pub last_seen_at: Option<DateTime<Utc>>,
    }

    type UserTuple = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        i64,
        i64,
        Option<i64>,
    );

    pub async fn users(store: &Store, profile: &str) -> Result<Vec<UserRow>, Error> {
        let rows: Vec<UserTuple> = sqlx::query_as(
            "SELECT u.id, u.username, u.email, u.display_name, u.status,
                        count(s.id), coalesce(sum(s.active), 0), max(s.last_seen_at_ms)
                 FROM users u LEFT JOIN sessions s ON s.profile = u.profile AND s.user_id = u.id
                 WHERE u.profile = ? GROUP BY u.id ORDER BY u.username",
        )
        .bind(profile)
        .fetch_all(store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, username, email, display_name, status, sessions, active_sessions, last)| UserRow {
                    id,
                    username,
                    email,
                    display_name,
                    status,
                    sessions,
                    active_sessions,
                    last_seen_at: last.and_then(DateTime::from_timestamp_millis),
                },
            )
            .collect())
    }

    type SessionTuple = (
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        bool,
        Option<i64>,
    );

    fn to_session(t: SessionTuple) -> Session {
        let (id, user_id, started, last, expires, ip, user_agent, active, revoked) = t;
        Session {
            id,
            user_id,
            started_at: DateTime::from_timestamp_millis(started).unwrap_or_default(),
            last_seen_at: last.and_then(DateTime::from_timestamp_millis),
            expires_at: expires.and_then(DateTime::from_timestamp_millis),
            ip,
            user_agent,
            active,
            revoked_at: revoked.and_then(DateTime::from_timestamp_millis),
        }
    }

    pub async fn sessions(
        store: &Store,
        profile: &str,
        user: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<Session>, Error> {
        let rows: Vec<SessionTuple> = sqlx::query_as(
            "SELECT id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent, active, revoked_at_ms
             FROM sessions WHERE profile = ? AND (?2 IS NULL OR user_id = ?2) AND (?3 = 0 OR active = 1)
             ORDER BY coalesce(last_seen_at_ms, started_at_ms) DESC",
        )
        .bind(profile)
        .bind(user)
        .bind(active_only)
        .fetch_all(store.pool())
        .await?;
        Ok(rows.into_iter().map(to_session).collect())
    }

    pub async fn activity(
        store: &Store,
        profile: &str,
        session: &str,
        limit: i64,
    ) -> Result<Vec<Activity>, Error> {
        type Row = (
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            bool,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT event_id, at_ms, user_id, session_id, jti, ip, user_agent, method, path, status, denial_reason,
                    sensitive
             FROM activity WHERE profile = ? AND session_id = ? ORDER BY at_ms LIMIT ?",
        )
        .bind(profile)
        .bind(session)
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    event_id,
                    at,
                    user_id,
                    session_id,
                    jti,
                    ip,
                    ua,
                    method,
                    path,
                    status,
                    denial,
                    sensitive,
                )| Activity {
                    event_id,
                    at: DateTime::from_timestamp_millis(at).unwrap_or_default(),
                    user_id,
                    session_id,
                    jti,
                    ip,
                    user_agent: ua,
                    method,
                    path,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    denial_reason: denial,
                    sensitive,
                },
            )
            .collect())
    }

    /// The session a token id was used in, from the synced activity.
    pub async fn session_of_token(
        store: &Store,
        profile: &str,
        jti: &str,
    ) -> Result<Option<(String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT session_id, user_id FROM activity WHERE profile = ? AND jti = ? AND session_id IS NOT NULL
             AND user_id IS NOT NULL LIMIT 1",
        )
        .bind(profile)
        .bind(jti)
        .fetch_optional(store.pool())
        .await?)
    }
}
