//! Incremental sync from a backend profile into the local store. Users and sessions are
//! refreshed in full (their state changes); activity is pulled after the stored cursor. Each page
//! is written in one transaction together with the cursor that follows it, so an interrupted or
//! failed sync never stores half a page, never loses one and never stores one twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite};

use crate::backend::{self, Activity, ActivityRecord, AdminBackend, Page, Session, User};
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

/// A page being fetched (what the `AdminBackend` page methods return).
type PageFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = backend::Result<Page<T>>> + Send + 'a>>;
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

    let mut users = Prefetch::new(None, |c| backend.users_page(c));
    while let Some(page) = users.next().await? {
        let n = page.items.len() as u64;
        users
            .while_fetching(async {
                let mut tx = store.pool().begin().await?;
                upsert_users(&mut tx, profile, &page.items).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            })
            .await?;
        report.users += n;
        progress(Stage::Users, report.users);
    }

    let mut sessions = Prefetch::new(None, |c| backend.sessions_page(c));
    while let Some(page) = sessions.next().await? {
        let n = page.items.len() as u64;
        sessions
            .while_fetching(async {
                let mut tx = store.pool().begin().await?;
                upsert_sessions(&mut tx, profile, &page.items).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            })
            .await?;
        report.sessions += n;
        progress(Stage::Sessions, report.sessions);
    }

    if backend.capabilities().activity {
        let mut deferred_index = false;
        let pulled = pull_activity(
            store,
            profile,
            backend,
            progress,
            &mut report,
            &mut deferred_index,
        )
        .await;
        if deferred_index {
            // Also after a failure: the views need the index whatever happened to the pull.
            sqlx::query(store::ACTIVITY_BY_SESSION)
                .execute(store.pool())
                .await?;
        }
        pulled?;
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

/// Pulls activity after the stored cursor, one transaction per page (its rows and the cursor
/// that follows them). Once this run has pulled more rows than the table held when it started,
/// the per-session index is dropped for the rest of the pull (`deferred_index`) and the caller
/// builds it again: building it once then costs less than keeping it up to date row by row.
async fn pull_activity(
    store: &Store,
    profile: &str,
    backend: &dyn AdminBackend,
    progress: Progress<'_>,
    report: &mut SyncReport,
    deferred_index: &mut bool,
) -> Result<(), Error> {
    let held: i64 = sqlx::query_scalar("SELECT coalesce(max(rowid), 0) FROM activity")
        .fetch_one(store.pool())
        .await?;
    let start = cursor(store, profile, ACTIVITY_STREAM).await?;
    let mut pages = Prefetch::new(start, |c| backend.activity_records_page(c));
    while let Some(page) = pages.next().await? {
        let pulled = report.activity + page.items.len() as u64;
        if !*deferred_index && page.more && pulled > held.max(0) as u64 {
            sqlx::query("DROP INDEX IF EXISTS activity_by_session")
                .execute(store.pool())
                .await?;
            *deferred_index = true;
        }
        pages
            .while_fetching(async move {
                let mut tx = store.pool().begin().await?;
                insert_activity(&mut tx, profile, page.items).await?;
                set_cursor(&mut tx, profile, ACTIVITY_STREAM, page.cursor.as_deref()).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            })
            .await?;
        report.activity = pulled;
        progress(Stage::Activity, report.activity);
    }
    Ok(())
}

/// Walks a paged listing from `start` until the backend says there is no more, fetching the
/// next page while the current one is written ([`Prefetch::while_fetching`]). Pages come one at a
/// time and in order, and a failed fetch ends the walk, so nothing after a missing page is
/// written.
struct Prefetch<'a, T, F> {
    fetch: F,
    /// The fetch of the page after the one handed out last.
    pending: Option<PageFuture<'a, T>>,
    /// Its outcome, when it finished during `while_fetching`.
    fetched: Option<backend::Result<Page<T>>>,
}

impl<'a, T, F> Prefetch<'a, T, F>
where
    F: Fn(Option<String>) -> PageFuture<'a, T>,
{
    fn new(start: Option<String>, fetch: F) -> Self {
        let pending = Some(fetch(start));
        Prefetch {
            fetch,
            pending,
            fetched: None,
        }
    }

    async fn next(&mut self) -> Result<Option<Page<T>>, Error> {
        let page = match (self.fetched.take(), self.pending.take()) {
            (Some(fetched), _) => fetched?,
            (None, Some(pending)) => pending.await?,
            (None, None) => return Ok(None),
        };
        self.pending = page.more.then(|| (self.fetch)(page.cursor.clone()));
        Ok(Some(page))
    }

    /// Runs `write` (storing the page `next` returned) while the page after it is fetched.
    async fn while_fetching<R>(&mut self, write: impl std::future::Future<Output = R>) -> R {
        match self.pending.take() {
            Some(pending) => {
                let (written, fetched) = tokio::join!(write, pending);
                self.fetched = Some(fetched);
                written
            }
            None => write.await,
        }
    }
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

/// Rows per multi-row INSERT of activity (14 bound values a row, below SQLite's 32766).
const ACTIVITY_ROWS_PER_STATEMENT: usize = 2000;

/// Multi-row INSERTs of bound values: SQLite copies each value once, where unpacking a JSON
/// array with `json_each` re-parsed every row for each of its columns (about 3x the cost). The
/// rows are moved into the statements (no copy of their strings on the way to the driver), and
/// the next statement is put together while SQLite runs the current one.
async fn insert_activity(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    profile: &str,
    rows: Vec<ActivityRecord>,
) -> Result<(), Error> {
    let mut rows = rows.into_iter();
    let mut statement = activity_statement(profile, &mut rows);
    while let Some(mut current) = statement.take() {
        // join! polls the INSERT first, which hands it to the connection's worker thread.
        let (done, next) = tokio::join!(current.build().execute(&mut **tx), async {
            activity_statement(profile, &mut rows)
        });
        done?;
        statement = next;
    }
    Ok(())
}

/// The INSERT for the next (up to) `ACTIVITY_ROWS_PER_STATEMENT` rows, if any are left.
fn activity_statement<'a>(
    profile: &'a str,
    rows: &mut impl Iterator<Item = ActivityRecord>,
) -> Option<QueryBuilder<'a, Sqlite>> {
    let mut chunk = rows.take(ACTIVITY_ROWS_PER_STATEMENT).peekable();
    chunk.peek()?;
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT OR IGNORE INTO activity (profile, event_id, at_ms, user_id, session_id, jti, ip, user_agent,
         method, path, status, denial_reason, sensitive, origin) ",
    );
    q.push_values(chunk, |mut b, ActivityRecord { activity: a, origin }| {
        // The provider's own place for the client, as JSON (read back by detection).
        let origin = origin.and_then(|o| serde_json::to_string(&o).ok());
        b.push_bind(profile)
            .push_bind(a.event_id)
            .push_bind(a.at.timestamp_millis())
            .push_bind(a.user_id)
            .push_bind(a.session_id)
            .push_bind(a.jti)
            .push_bind(a.ip)
            .push_bind(a.user_agent)
            .push_bind(a.method)
            .push_bind(a.path)
            .push_bind(a.status.map(i64::from))
            .push_bind(a.denial_reason)
            .push_bind(a.sensitive)
            .push_bind(origin);
    });
    Some(q)
}

/// Reads back what sync stored (for the views and the CLI).
pub mod read {
    use super::*;

    /// An `activity` row as selected by `SELECT event_id, at_ms, user_id, session_id, jti, ip,
    /// user_agent, method, path, status, denial_reason, sensitive, origin` (also what detection
    /// reads; `origin` is the provider's own placement, JSON).
    pub type ActivityRow = (
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
        Option<String>,
    );

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
        let rows: Vec<ActivityRow> = sqlx::query_as(
            "SELECT event_id, at_ms, user_id, session_id, jti, ip, user_agent, method, path, status, denial_reason,
                    sensitive, origin
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
                    _origin,
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::backend::{BackendOutcome, Capabilities, ConnectionCheck, SessionDetail, UserState};
    use crate::config::BackendKind;

    /// A backend serving `total` activity rows in pages of `page` (cursor: the last event id),
    /// that fails the fetch of page `fail_page` (0-based) while `fail_page` is set.
    struct Fake {
        total: u64,
        page: u64,
        fail_page: Mutex<Option<u64>>,
        fetched: Mutex<Vec<Option<String>>>,
    }

    impl Fake {
        fn new(total: u64, page: u64) -> Fake {
            Fake {
                total,
                page,
                fail_page: Mutex::new(None),
                fetched: Mutex::new(Vec::new()),
            }
        }
    }

    /// Row `n` of the fake backend (the same every time it is asked for).
    fn activity(n: u64) -> Activity {
        static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| now_ms() - 86_400_000);
        Activity {
            event_id: n.to_string(),
            at: DateTime::from_timestamp_millis(start + n as i64).unwrap(),
            // Seven sessions of three users; each token belongs to one session.
            user_id: Some(format!("{}", n % 7 % 3)),
            session_id: Some(format!("s{}", n % 7)),
            jti: Some(format!("at_{}", n % 14)),
            ip: Some("203.0.113.7".into()),
            user_agent: n.is_multiple_of(2).then(|| "curl/8 \"quoted\" é".to_string()),
            method: Some("GET".into()),
            path: Some(format!("/api/x/{n}")),
            status: Some(200),
            denial_reason: None,
            sensitive: n.is_multiple_of(5),
        }
    }

    fn unsupported<T>() -> backend::Result<T> {
        Err(backend::Error::Unsupported {
            backend: "fake",
            what: "do this",
        })
    }

    #[async_trait]
    impl AdminBackend for Fake {
        fn kind(&self) -> BackendKind {
            BackendKind::Authd
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                list_sessions_tenant_wide: true,
                list_sessions_per_user: false,
                activity: true,
                revoke_session: false,
                revoke_user_sessions: false,
                revoke_token: false,
                force_reset_with_mfa: false,
                suspend_user: false,
                enforces_access_token_revocation: false,
                access_token_lifetime_secs: None,
            }
        }
        async fn check(&self) -> backend::Result<ConnectionCheck> {
            unsupported()
        }
        async fn users_page(&self, _cursor: Option<String>) -> backend::Result<Page<User>> {
            Ok(Page {
                items: Vec::new(),
                cursor: None,
                more: false,
            })
        }
        async fn sessions_page(&self, _cursor: Option<String>) -> backend::Result<Page<Session>> {
            Ok(Page {
                items: Vec::new(),
                cursor: None,
                more: false,
            })
        }
        async fn user_sessions(&self, _user_id: &str) -> backend::Result<Vec<Session>> {
            unsupported()
        }
        async fn session(&self, _session_id: &str) -> backend::Result<SessionDetail> {
            unsupported()
        }
        async fn activity_page(&self, cursor: Option<String>) -> backend::Result<Page<Activity>> {
            let after: u64 = cursor.as_deref().map_or(0, |c| c.parse().unwrap());
            let index = after / self.page;
            self.fetched.lock().unwrap().push(cursor.clone());
            if *self.fail_page.lock().unwrap() == Some(index) {
                return Err(backend::Error::Http(crate::http::Error::Transport(
                    "the response was cut off".into(),
                )));
            }
            let last = (after + self.page).min(self.total);
            Ok(Page {
                items: (after + 1..=last).map(activity).collect(),
                cursor: Some(last.to_string()).filter(|_| last > 0).or(cursor),
                more: last < self.total,
            })
        }
        async fn user_state(&self, _user_id: &str) -> backend::Result<UserState> {
            unsupported()
        }
        async fn revoke_session(&self, _session_id: &str) -> backend::Result<BackendOutcome> {
            unsupported()
        }
        async fn revoke_user_sessions(&self, _user_id: &str) -> backend::Result<BackendOutcome> {
            unsupported()
        }
        async fn revoke_token(&self, _jti: &str) -> backend::Result<BackendOutcome> {
            unsupported()
        }
        async fn force_password_reset(&self, _user_id: &str, _mfa: bool) -> backend::Result<BackendOutcome> {
            unsupported()
        }
        async fn token_revoked(&self, _jti: &str) -> backend::Result<Option<bool>> {
            unsupported()
        }
        async fn jwks(&self) -> backend::Result<Option<Vec<u8>>> {
            Ok(None)
        }
    }

    async fn count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM activity")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    async fn stored_cursor(store: &Store) -> Option<String> {
        cursor(store, "p", ACTIVITY_STREAM).await.unwrap()
    }

    async fn index_exists(store: &Store) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'activity_by_session'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
            == 1
    }

    async fn run(store: &Store, backend: &Fake) -> Result<SyncReport, Error> {
        sync(store, "p", backend, 30, &|_, _| {}).await
    }

    #[test]
    fn the_sync_future_is_send() {
        fn send<T: Send>(_: T) {}
        let backend = Fake::new(0, 1);
        let store = async { Store::in_memory().await.unwrap() };
        send(async move {
            let store = store.await;
            run(&store, &backend).await.ok();
        });
    }

    /// Several pages (statements of `ACTIVITY_ROWS_PER_STATEMENT` rows within a page) store every
    /// row once with all its values; the per-session index dropped for the bulk pull is back
    /// after it; a full re-sync from scratch duplicates nothing.
    #[tokio::test]
    async fn a_backlog_is_stored_once_and_the_session_index_is_rebuilt() {
        let store = Store::in_memory().await.unwrap();
        let backend = Fake::new(9_500, 4_100);
        let report = run(&store, &backend).await.unwrap();
        assert_eq!(report.activity, 9_500);
        assert_eq!(count(&store).await, 9_500);
        assert_eq!(stored_cursor(&store).await.as_deref(), Some("9500"));
        assert!(index_exists(&store).await);

        let got = read::activity(&store, "p", "s3", 10_000).await.unwrap();
        let want: Vec<Activity> = (1..=9_500)
            .map(activity)
            .filter(|a| a.session_id.as_deref() == Some("s3"))
            .collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the stored rows differ from the backend's");
        assert_eq!(
            read::session_of_token(&store, "p", "at_11").await.unwrap(),
            Some(("s4".to_string(), "1".to_string()))
        );

        // The same rows again (a lost cursor): nothing new, and the index is kept.
        sqlx::query("DELETE FROM sync_state")
            .execute(store.pool())
            .await
            .unwrap();
        let again = run(&store, &backend).await.unwrap();
        assert_eq!(again.activity, 9_500);
        assert_eq!(count(&store).await, 9_500);
        assert!(index_exists(&store).await);
    }

    /// A fetch failing after two pages keeps those two pages and their cursor, stores nothing
    /// of the failed one and puts the index back; the next sync resumes after page two.
    #[tokio::test]
    async fn a_failed_fetch_keeps_whole_pages_and_the_next_sync_resumes() {
        let store = Store::in_memory().await.unwrap();
        let backend = Fake::new(10_000, 3_000);
        *backend.fail_page.lock().unwrap() = Some(2);
        assert!(run(&store, &backend).await.is_err());
        assert_eq!(count(&store).await, 6_000);
        assert_eq!(stored_cursor(&store).await.as_deref(), Some("6000"));
        assert!(index_exists(&store).await);

        *backend.fail_page.lock().unwrap() = None;
        backend.fetched.lock().unwrap().clear();
        let report = run(&store, &backend).await.unwrap();
        assert_eq!(report.activity, 4_000);
        assert_eq!(backend.fetched.lock().unwrap()[0].as_deref(), Some("6000"));
        assert_eq!(count(&store).await, 10_000);
        let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT event_id) FROM activity")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(distinct, 10_000);
    }

    /// A statement failing in the middle of a page (after an earlier statement of the same page
    /// went through) rolls the whole page back with its cursor.
    #[tokio::test]
    async fn a_write_failing_mid_page_stores_none_of_the_page() {
        let store = Store::in_memory().await.unwrap();
        sqlx::query(
            "CREATE TRIGGER boom BEFORE INSERT ON activity WHEN NEW.event_id = '5500'
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let backend = Fake::new(9_000, 3_000);
        assert!(run(&store, &backend).await.is_err());
        assert_eq!(count(&store).await, 3_000);
        assert_eq!(stored_cursor(&store).await.as_deref(), Some("3000"));
        assert!(index_exists(&store).await);

        sqlx::query("DROP TRIGGER boom")
            .execute(store.pool())
            .await
            .unwrap();
        let report = run(&store, &backend).await.unwrap();
        assert_eq!(report.activity, 6_000);
        assert_eq!(count(&store).await, 9_000);
    }

    /// Rows older than the retention are pruned after the pull.
    #[tokio::test]
    async fn retention_prunes_old_activity() {
        let store = Store::in_memory().await.unwrap();
        let backend = Fake::new(10, 10);
        run(&store, &backend).await.unwrap();
        sqlx::query("UPDATE activity SET at_ms = at_ms - 31 * 86400000 WHERE CAST(event_id AS INTEGER) <= 4")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM sync_state")
            .execute(store.pool())
            .await
            .unwrap();
        let report = run(&store, &Fake::new(0, 10)).await.unwrap();
        assert_eq!(report.pruned_activity, 4);
        assert_eq!(count(&store).await, 6);
    }
}
