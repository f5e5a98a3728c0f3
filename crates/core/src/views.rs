//! What the desktop's views (and the reports) show, read from the local store: paged and
//! filtered lists of users and sessions, and the detail of one session or one user with its
//! rate graph and map rendered by [`crate::render`]. Every query is parameterised; sort columns
//! come from closed enums, never from strings.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Entry};
use crate::detect::{Severity, geo::haversine_km};
use crate::render::{self, Band, MapLeg, MapPoint, MapSpec, Marker, MarkerKind, RateSeries, Size, Theme};
use crate::store::{self, Store};
use crate::triage::{self, FindingFilter, FindingRow, severity_of_rank, severity_rank};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Triage(#[from] triage::Error),
    #[error(transparent)]
    Audit(#[from] audit::Error),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("no session {0} in the local store (sync first)")]
    UnknownSession(String),
    #[error("no user {0} in the local store (sync first)")]
    UnknownUser(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(store::Error::Sql(e))
    }
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            Error::Store(e) => e.kind(),
            Error::Triage(e) => e.kind(),
            Error::Audit(_) | Error::Render(_) => ErrorKind::Internal,
            Error::UnknownSession(_) | Error::UnknownUser(_) => ErrorKind::NotFound,
        }
    }
}

/// The strongest open finding of a session or user.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FindingBrief {
    pub id: String,
    pub kind: String,
    pub severity: Severity,
    pub score: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum SessionSort {
    #[default]
    Risk,
    LastSeen,
    Started,
    User,
    Country,
    Events,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionQuery {
    pub user_id: Option<String>,
    /// Matches user name, e-mail, display name, session id, IP, city, country, device.
    pub search: Option<String>,
    pub min_severity: Option<Severity>,
    pub country: Option<String>,
    #[serde(default)]
    pub active_only: bool,
    #[serde(default)]
    pub with_findings: bool,
    #[serde(default)]
    pub sort: SessionSort,
    #[serde(default)]
    pub ascending: bool,
    #[serde(default)]
    pub offset: u32,
    /// At most 500; default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub org: Option<String>,
    pub network_class: Option<String>,
    pub device: Option<String>,
    pub user_agent: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub active: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub events: u32,
    pub denied: u32,
    /// How many distinct places the session was used from.
    pub places: u32,
    pub top_finding: Option<FindingBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<SessionRow>,
}

fn ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.and_then(DateTime::from_timestamp_millis)
}

fn like(search: &Option<String>) -> Option<String> {
    search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        })
}

/// Open findings (not marked false positive), strongest per session first.
const TOP: &str = "top AS (
    SELECT session_id, user_id, id AS fid, kind AS fkind, severity_rank AS frank, score AS fscore,
           row_number() OVER (PARTITION BY session_id ORDER BY severity_rank DESC, score DESC) AS rn
    FROM findings
    WHERE profile = ?1 AND session_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM feedback fb WHERE fb.profile = ?1 AND fb.finding_id = findings.id
                      AND fb.verdict = 'false_positive'))";

const SESSION_FROM: &str = "FROM sessions s
    LEFT JOIN users u ON u.profile = s.profile AND u.id = s.user_id
    LEFT JOIN session_facts f ON f.profile = s.profile AND f.session_id = s.id
    LEFT JOIN top t ON t.session_id = s.id AND t.rn = 1
    WHERE s.profile = ?1
      AND (?2 IS NULL OR s.user_id = ?2)
      AND (?3 IS NULL OR u.username LIKE ?3 ESCAPE '\\' OR u.email LIKE ?3 ESCAPE '\\'
           OR u.display_name LIKE ?3 ESCAPE '\\' OR s.id LIKE ?3 ESCAPE '\\' OR s.ip LIKE ?3 ESCAPE '\\'
           OR f.city LIKE ?3 ESCAPE '\\' OR f.country LIKE ?3 ESCAPE '\\' OR f.device LIKE ?3 ESCAPE '\\')
      AND (?4 IS NULL OR t.frank >= ?4)
      AND (?5 IS NULL OR f.country = ?5)
      AND (?6 = 0 OR s.active = 1)
      AND (?7 = 0 OR t.fid IS NOT NULL)";

fn sort_sql(sort: SessionSort, ascending: bool) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    let key = match sort {
        SessionSort::Risk => format!("coalesce(t.frank, -1) {dir}, coalesce(t.fscore, -1) {dir}"),
        SessionSort::LastSeen => format!("coalesce(s.last_seen_at_ms, s.started_at_ms) {dir}"),
        SessionSort::Started => format!("s.started_at_ms {dir}"),
        SessionSort::User => format!("u.username {dir}"),
        SessionSort::Country => format!("f.country {dir}, f.city {dir}"),
        SessionSort::Events => format!("coalesce(f.events, 0) {dir}"),
    };
    format!("{key}, coalesce(s.last_seen_at_ms, s.started_at_ms) DESC, s.id")
}

/// Remembers the ordered ids of the last few list queries, so that scrolling through 100k rows
/// reads one page by primary key instead of re-sorting everything. Invalidate it whenever the
/// store changes (sync, detection, actions, verdicts).
#[derive(Default)]
pub struct ListCache {
    generation: std::sync::atomic::AtomicU64,
    entries: std::sync::Mutex<Vec<(String, std::sync::Arc<Vec<String>>)>>,
}

const CACHED_LISTS: usize = 8;

impl ListCache {
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    fn key(&self, what: &str, profile: &str, query: String) -> String {
        let g = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        format!("{what}|{profile}|{g}|{query}")
    }

    fn get(&self, key: &str) -> Option<std::sync::Arc<Vec<String>>> {
        let e = self.entries.lock().ok()?;
        e.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| std::sync::Arc::clone(v))
    }

    fn put(&self, key: String, ids: std::sync::Arc<Vec<String>>) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|(k, _)| *k != key);
            if e.len() >= CACHED_LISTS {
                e.remove(0);
            }
            e.push((key, ids));
        }
    }
}

/// The ordered ids of a query: from the cache when it has them, else from `fetch` (then cached).
async fn ordered_ids<Q, F, Fut>(
    cache: Option<&ListCache>,
    what: &str,
    profile: &str,
    key_query: &Q,
    fetch: F,
) -> Result<std::sync::Arc<Vec<String>>, Error>
where
    Q: std::fmt::Debug,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, Error>>,
{
    let Some(cache) = cache else {
        return Ok(std::sync::Arc::new(fetch().await?));
    };
    let key = cache.key(what, profile, format!("{key_query:?}"));
    if let Some(ids) = cache.get(&key) {
        return Ok(ids);
    }
    let ids = std::sync::Arc::new(fetch().await?);
    cache.put(key, std::sync::Arc::clone(&ids));
    Ok(ids)
}

fn page_of(ids: &[String], offset: u32, limit: Option<u32>) -> &[String] {
    let limit = limit.unwrap_or(100).clamp(1, 500) as usize;
    let start = (offset as usize).min(ids.len());
    &ids[start..(start + limit).min(ids.len())]
}

/// Every session id matching the query, in the query's order.
pub async fn session_ids(store: &Store, profile: &str, q: &SessionQuery) -> Result<Vec<String>, Error> {
    let search = like(&q.search);
    let min_rank = q.min_severity.map(severity_rank);
    let sql = format!(
        "WITH {TOP} SELECT s.id {SESSION_FROM} ORDER BY {}",
        sort_sql(q.sort, q.ascending)
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(profile)
        .bind(&q.user_id)
        .bind(&search)
        .bind(min_rank)
        .bind(&q.country)
        .bind(q.active_only)
        .bind(q.with_findings)
        .fetch_all(store.pool())
        .await?)
}

/// The rows of these sessions, in the order given (unknown ids are left out).
pub async fn sessions_by_id(store: &Store, profile: &str, ids: &[String]) -> Result<Vec<SessionRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "WITH {TOP} SELECT s.id, s.user_id, u.username, s.ip, s.user_agent, f.city,
                f.country, f.org, f.network_class, f.device, f.last_ip, f.asn,
                s.started_at_ms, s.last_seen_at_ms, s.expires_at_ms, s.active, s.revoked_at_ms,
                f.events, f.denied, f.places,
                t.fid, t.fkind, t.frank, t.fscore
         FROM sessions s
         LEFT JOIN users u ON u.profile = s.profile AND u.id = s.user_id
         LEFT JOIN session_facts f ON f.profile = s.profile AND f.session_id = s.id
         LEFT JOIN top t ON t.session_id = s.id AND t.rn = 1
         WHERE s.profile = ?1 AND s.id IN (SELECT value FROM json_each(?2))"
    );
    let rows: Vec<sqlx::sqlite::SqliteRow> = sqlx::query(&sql)
        .bind(profile)
        .bind(list)
        .fetch_all(store.pool())
        .await?;
    let mut by_id: HashMap<String, SessionRow> = rows
        .iter()
        .map(session_row)
        .map(|r| r.map(|row| (row.id.clone(), row)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// One page of sessions, filtered and sorted in SQL. The ordered ids of a query are cached, so
/// scrolling through 100k sessions reads one page by key; a new filter or sort costs one query.
pub async fn sessions(
    store: &Store,
    profile: &str,
    q: &SessionQuery,
    cache: Option<&ListCache>,
) -> Result<SessionPage, Error> {
    let key_query = SessionQuery {
        offset: 0,
        limit: None,
        ..q.clone()
    };
    let ids = ordered_ids(cache, "sessions", profile, &key_query, || {
        session_ids(store, profile, q)
    })
    .await?;
    let rows = sessions_by_id(store, profile, page_of(&ids, q.offset, q.limit)).await?;
    Ok(SessionPage {
        total: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        offset: q.offset,
        rows,
    })
}

fn session_row(r: &sqlx::sqlite::SqliteRow) -> Result<SessionRow, sqlx::Error> {
    use sqlx::Row;
    let fid: Option<String> = r.try_get("fid")?;
    let top_finding = match fid {
        Some(id) => Some(FindingBrief {
            id,
            kind: r.try_get::<Option<String>, _>("fkind")?.unwrap_or_default(),
            severity: severity_of_rank(r.try_get::<Option<i64>, _>("frank")?.unwrap_or(0)),
            score: u8::try_from(r.try_get::<Option<i64>, _>("fscore")?.unwrap_or(0)).unwrap_or(100),
        }),
        None => None,
    };
    let ip: Option<String> = r.try_get("ip")?;
    let last_ip: Option<String> = r.try_get("last_ip")?;
    Ok(SessionRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        username: r.try_get("username")?,
        ip: last_ip.or(ip),
        city: r.try_get("city")?,
        country: r.try_get("country")?,
        asn: r
            .try_get::<Option<i64>, _>("asn")?
            .and_then(|a| u32::try_from(a).ok()),
        org: r.try_get("org")?,
        network_class: r.try_get("network_class")?,
        device: r.try_get("device")?,
        user_agent: r.try_get("user_agent")?,
        started_at: ms(Some(r.try_get("started_at_ms")?)).unwrap_or_default(),
        last_seen_at: ms(r.try_get("last_seen_at_ms")?),
        expires_at: ms(r.try_get("expires_at_ms")?),
        active: r.try_get("active")?,
        revoked_at: ms(r.try_get("revoked_at_ms")?),
        events: u32::try_from(r.try_get::<Option<i64>, _>("events")?.unwrap_or(0)).unwrap_or(u32::MAX),
        denied: u32::try_from(r.try_get::<Option<i64>, _>("denied")?.unwrap_or(0)).unwrap_or(u32::MAX),
        places: u32::try_from(r.try_get::<Option<i64>, _>("places")?.unwrap_or(0)).unwrap_or(u32::MAX),
        top_finding,
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum UserSort {
    #[default]
    Risk,
    LastSeen,
    Name,
    Sessions,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    pub search: Option<String>,
    pub min_severity: Option<Severity>,
    #[serde(default)]
    pub with_findings: bool,
    #[serde(default)]
    pub active_only: bool,
    #[serde(default)]
    pub sort: UserSort,
    #[serde(default)]
    pub ascending: bool,
    #[serde(default)]
    pub offset: u32,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub sessions: u32,
    pub active_sessions: u32,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The strongest open finding's severity.
    pub risk: Option<Severity>,
    /// Open findings (not marked false positive).
    pub findings: u32,
    pub countries: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub total: u32,
    pub offset: u32,
    pub rows: Vec<UserSummary>,
}

const USER_FROM: &str = "FROM users u
    LEFT JOIN (SELECT user_id, count(*) AS n, sum(active) AS act, max(coalesce(last_seen_at_ms, started_at_ms)) AS last
               FROM sessions WHERE profile = ?1 GROUP BY user_id) s ON s.user_id = u.id
    LEFT JOIN (SELECT user_id, max(severity_rank) AS frank, count(*) AS nf FROM findings
               WHERE profile = ?1 AND NOT EXISTS (SELECT 1 FROM feedback fb WHERE fb.profile = ?1
                     AND fb.finding_id = findings.id AND fb.verdict = 'false_positive')
               GROUP BY user_id) t ON t.user_id = u.id
    LEFT JOIN (SELECT user_id, count(DISTINCT country) AS nc FROM session_facts WHERE profile = ?1
               GROUP BY user_id) c ON c.user_id = u.id
    WHERE u.profile = ?1
      AND (?2 IS NULL OR u.username LIKE ?2 ESCAPE '\\' OR u.email LIKE ?2 ESCAPE '\\'
           OR u.display_name LIKE ?2 ESCAPE '\\' OR u.id = ?6)
      AND (?3 IS NULL OR t.frank >= ?3)
      AND (?4 = 0 OR t.nf > 0)
      AND (?5 = 0 OR s.act > 0)";

/// Every user id matching the query, in the query's order.
pub async fn user_ids(store: &Store, profile: &str, q: &UserQuery) -> Result<Vec<String>, Error> {
    let search = like(&q.search);
    let exact = q.search.as_deref().map(str::trim);
    let min_rank = q.min_severity.map(severity_rank);
    let dir = if q.ascending { "ASC" } else { "DESC" };
    let order = match q.sort {
        UserSort::Risk => format!("coalesce(t.frank, -1) {dir}, coalesce(t.nf, 0) {dir}, s.last DESC"),
        UserSort::LastSeen => format!("s.last {dir}"),
        UserSort::Name => format!("u.username {dir}"),
        UserSort::Sessions => format!("coalesce(s.n, 0) {dir}"),
    };
    Ok(
        sqlx::query_scalar(&format!("SELECT u.id {USER_FROM} ORDER BY {order}, u.username"))
            .bind(profile)
            .bind(&search)
            .bind(min_rank)
            .bind(q.with_findings)
            .bind(q.active_only)
            .bind(exact)
            .fetch_all(store.pool())
            .await?,
    )
}

/// Users with their aggregates, in the order given (aggregated over these users only).
pub async fn users_by_id(store: &Store, profile: &str, ids: &[String]) -> Result<Vec<UserSummary>, Error> {
    use sqlx::Row;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let rows = sqlx::query(
        "WITH ids AS (SELECT value AS id FROM json_each(?2))
         SELECT u.id, u.username, u.display_name, u.email, u.status, s.n, s.act, s.last, t.frank, t.nf, c.nc
         FROM users u
         LEFT JOIN (SELECT user_id, count(*) AS n, sum(active) AS act,
                           max(coalesce(last_seen_at_ms, started_at_ms)) AS last
                    FROM sessions WHERE profile = ?1 AND user_id IN ids GROUP BY user_id) s ON s.user_id = u.id
         LEFT JOIN (SELECT user_id, max(severity_rank) AS frank, count(*) AS nf FROM findings
                    WHERE profile = ?1 AND user_id IN ids AND NOT EXISTS (SELECT 1 FROM feedback fb
                          WHERE fb.profile = ?1 AND fb.finding_id = findings.id AND fb.verdict = 'false_positive')
                    GROUP BY user_id) t ON t.user_id = u.id
         LEFT JOIN (SELECT user_id, count(DISTINCT country) AS nc FROM session_facts
                    WHERE profile = ?1 AND user_id IN ids GROUP BY user_id) c ON c.user_id = u.id
         WHERE u.profile = ?1 AND u.id IN ids",
    )
    .bind(profile)
    .bind(list)
    .fetch_all(store.pool())
    .await?;
    let count = |v: Option<i64>| u32::try_from(v.unwrap_or(0)).unwrap_or(u32::MAX);
    let mut by_id: HashMap<String, UserSummary> = rows
        .iter()
        .map(|r| {
            let u = UserSummary {
                id: r.try_get("id")?,
                username: r.try_get("username")?,
                display_name: r.try_get("display_name")?,
                email: r.try_get("email")?,
                status: r.try_get("status")?,
                sessions: count(r.try_get("n")?),
                active_sessions: count(r.try_get("act")?),
                last_seen_at: ms(r.try_get("last")?),
                risk: r.try_get::<Option<i64>, _>("frank")?.map(severity_of_rank),
                findings: count(r.try_get("nf")?),
                countries: count(r.try_get("nc")?),
            };
            Ok((u.id.clone(), u))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// One page of users with their session counts and risk (ordered ids cached like sessions').
pub async fn users(
    store: &Store,
    profile: &str,
    q: &UserQuery,
    cache: Option<&ListCache>,
) -> Result<UserPage, Error> {
    let key_query = UserQuery {
        offset: 0,
        limit: None,
        ..q.clone()
    };
    let ids = ordered_ids(cache, "users", profile, &key_query, || {
        user_ids(store, profile, q)
    })
    .await?;
    let rows = users_by_id(store, profile, page_of(&ids, q.offset, q.limit)).await?;
    Ok(UserPage {
        total: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        offset: q.offset,
        rows,
    })
}

/// The time of the profile's newest stored activity (where sparkline windows end).
pub async fn newest_activity_ms(store: &Store, profile: &str) -> Result<Option<i64>, Error> {
    Ok(
        sqlx::query_scalar("SELECT max(at_ms) FROM activity WHERE profile = ?")
            .bind(profile)
            .fetch_one(store.pool())
            .await?,
    )
}

/// Requests per bucket for each session over the `buckets × bucket_ms` window ending at `end_ms`.
pub async fn sparklines(
    store: &Store,
    profile: &str,
    session_ids: &[String],
    end_ms: i64,
    buckets: u32,
    bucket_ms: i64,
) -> Result<HashMap<String, Vec<u32>>, Error> {
    let start = end_ms - i64::from(buckets) * bucket_ms;
    let ids = serde_json::to_string(session_ids).unwrap_or_else(|_| "[]".into());
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT session_id, (at_ms - ?3) / ?4 AS b, count(*) FROM activity
         WHERE profile = ?1 AND session_id IN (SELECT value FROM json_each(?2)) AND at_ms >= ?3 AND at_ms < ?5
         GROUP BY session_id, b",
    )
    .bind(profile)
    .bind(ids)
    .bind(start)
    .bind(bucket_ms)
    .bind(end_ms)
    .fetch_all(store.pool())
    .await?;
    let mut out: HashMap<String, Vec<u32>> = session_ids
        .iter()
        .map(|id| (id.clone(), vec![0; buckets as usize]))
        .collect();
    for (sid, b, n) in rows {
        if let (Some(v), Ok(i)) = (out.get_mut(&sid), usize::try_from(b))
            && let Some(slot) = v.get_mut(i)
        {
            *slot = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    Ok(out)
}

/// One request in a session's timeline, with what enrichment made of it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEvent {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub ip: Option<String>,
    pub place: Option<String>,
    pub network: Option<String>,
    pub device: Option<String>,
    pub jti: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub denial_reason: Option<String>,
    pub sensitive: bool,
}

/// A token seen in a session's activity.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TokenSeen {
    pub jti: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub requests: u32,
    pub denied: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session: SessionRow,
    pub findings: Vec<FindingRow>,
    /// The newest events, oldest first (at most 500).
    pub timeline: Vec<TimelineEvent>,
    pub timeline_truncated: bool,
    pub tokens: Vec<TokenSeen>,
    pub actions: Vec<Entry>,
    pub rate_svg: String,
    pub map_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct BaselinePlace {
    pub place: String,
    pub events: u32,
    pub sessions: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub user: UserSummary,
    pub sessions: Vec<SessionRow>,
    pub findings: Vec<FindingRow>,
    /// Where the user usually is: places by number of events.
    pub baseline_places: Vec<BaselinePlace>,
    pub actions: Vec<Entry>,
    pub rate_svg: String,
    pub map_svg: String,
}

/// Enrichment for views: a function from (ip, user agent) to (place, network, device) labels and
/// coordinates, provided by the caller (the detector's enricher).
pub trait Describe {
    fn describe(&mut self, ip: Option<&str>, ua: Option<&str>) -> Described;
}

#[derive(Debug, Clone, Default)]
pub struct Described {
    pub place: Option<String>,
    pub coords: Option<(f64, f64)>,
    pub accuracy_km: Option<f64>,
    pub network: Option<String>,
    pub device: Option<String>,
}

impl Describe for crate::enrich::Enricher {
    fn describe(&mut self, ip: Option<&str>, ua: Option<&str>) -> Described {
        let mut d = Described::default();
        if let Some(ip) = ip.and_then(|s| s.parse().ok()) {
            let (place, net) = self.lookup_ip(ip);
            if let Some(p) = place {
                d.place = Some(p.label());
                d.coords = p.coords;
                d.accuracy_km = p.accuracy_km.map(f64::from);
            }
            d.network = net.map(|n| n.label());
        }
        d.device = ua.map(|u| self.device(u).label());
        d
    }
}

type EventTuple = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    bool,
);

const TIMELINE_MAX: i64 = 500;

/// A session with everything the detail view shows.
pub async fn session_view(
    store: &Store,
    profile: &str,
    session_id: &str,
    describe: &mut (dyn Describe + Send),
    theme: Theme,
    attribution: Option<String>,
) -> Result<SessionView, Error> {
    let row = session_by_id(store, profile, session_id).await?;
    let findings = triage::list(
        store,
        profile,
        &FindingFilter {
            session_id: Some(session_id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let mut rows: Vec<EventTuple> = sqlx::query_as(
        "SELECT event_id, at_ms, ip, user_agent, jti, method, path, status, denial_reason, sensitive
         FROM activity WHERE profile = ? AND session_id = ? ORDER BY at_ms DESC LIMIT ?",
    )
    .bind(profile)
    .bind(session_id)
    .bind(TIMELINE_MAX + 1)
    .fetch_all(store.pool())
    .await?;
    let timeline_truncated = rows.len() as i64 > TIMELINE_MAX;
    rows.truncate(TIMELINE_MAX as usize);
    rows.reverse();
    let timeline: Vec<TimelineEvent> = rows
        .into_iter()
        .map(
            |(event_id, at, ip, ua, jti, method, path, status, denial, sensitive)| {
                let d = describe.describe(ip.as_deref(), ua.as_deref());
                TimelineEvent {
                    event_id,
                    at: ms(Some(at)).unwrap_or_default(),
                    ip,
                    place: d.place,
                    network: d.network,
                    device: d.device,
                    jti,
                    method,
                    path,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    denial_reason: denial,
                    sensitive,
                }
            },
        )
        .collect();
    let tokens: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT jti, min(at_ms), max(at_ms), count(*),
                sum(CASE WHEN status IN (401, 403) OR denial_reason IS NOT NULL THEN 1 ELSE 0 END)
         FROM activity WHERE profile = ? AND session_id = ? AND jti IS NOT NULL GROUP BY jti ORDER BY min(at_ms)",
    )
    .bind(profile)
    .bind(session_id)
    .fetch_all(store.pool())
    .await?;
    let tokens: Vec<TokenSeen> = tokens
        .into_iter()
        .map(|(jti, first, last, n, denied)| TokenSeen {
            jti,
            first_seen: ms(Some(first)).unwrap_or_default(),
            last_seen: ms(Some(last)).unwrap_or_default(),
            requests: u32::try_from(n).unwrap_or(u32::MAX),
            denied: u32::try_from(denied).unwrap_or(u32::MAX),
        })
        .collect();
    let mut targets = vec![session_id.to_string(), row.user_id.clone()];
    targets.extend(tokens.iter().map(|t| t.jti.clone()));
    targets.extend(findings.iter().map(|f| f.id.clone()));
    let actions = audit::about(store, profile, &targets, 200).await?;

    // Rate graph over the session's life (at most the last 24 h of it).
    let first = row.started_at.timestamp_millis();
    let last = row
        .last_seen_at
        .map_or(first, |t| t.timestamp_millis())
        .max(timeline.last().map_or(first, |e| e.at.timestamp_millis()));
    let series = rate_series(
        store,
        profile,
        Scope::Session(session_id),
        &row.user_id,
        first.max(last - 24 * 3_600_000),
        last,
        &findings,
        &actions,
        format!("Requests per minute, session {}", short(session_id)),
    )
    .await?;
    let rate_svg = render::rate_chart_svg(
        &series,
        Size {
            width: 880,
            height: 260,
        },
        theme,
    )?;
    let mut map = session_map(&timeline, describe, &findings);
    map.attribution = attribution;
    let map_svg = render::map_svg(
        &map,
        Size {
            width: 880,
            height: 440,
        },
        theme,
    )?;
    Ok(SessionView {
        session: row,
        findings,
        timeline,
        timeline_truncated,
        tokens,
        actions,
        rate_svg,
        map_svg,
    })
}

fn short(id: &str) -> String {
    if id.chars().count() > 14 {
        format!("{}…", id.chars().take(12).collect::<String>())
    } else {
        id.to_string()
    }
}

/// One session row by id.
pub async fn session_by_id(store: &Store, profile: &str, session_id: &str) -> Result<SessionRow, Error> {
    sessions_by_id(store, profile, &[session_id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| Error::UnknownSession(session_id.to_string()))
}

enum Scope<'a> {
    Session(&'a str),
    User,
}

/// Per-minute (or coarser) counts over [from, to], the user's baseline band per bucket, and
/// markers for findings' evidence and audited actions.
#[allow(clippy::too_many_arguments)]
async fn rate_series(
    store: &Store,
    profile: &str,
    scope: Scope<'_>,
    user_id: &str,
    from: i64,
    to: i64,
    findings: &[FindingRow],
    actions: &[Entry],
    title: String,
) -> Result<RateSeries, Error> {
    const MINUTE: i64 = 60_000;
    let span = (to - from).max(MINUTE);
    // Up to 360 buckets, each a whole number of minutes.
    let bucket_ms = ((span / 360) / MINUTE + 1) * MINUTE;
    let start = from - from.rem_euclid(bucket_ms);
    let n = usize::try_from((to - start) / bucket_ms + 1)
        .unwrap_or(1)
        .min(2_000);
    let (session, user) = match scope {
        Scope::Session(s) => (Some(s), None),
        Scope::User => (None, Some(user_id)),
    };
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (at_ms - ?4) / ?5 AS b, count(*),
                sum(CASE WHEN status IN (401, 403) OR denial_reason IS NOT NULL THEN 1 ELSE 0 END)
         FROM activity WHERE profile = ?1 AND (?2 IS NULL OR session_id = ?2) AND (?3 IS NULL OR user_id = ?3)
           AND at_ms >= ?4 AND at_ms <= ?6 GROUP BY b",
    )
    .bind(profile)
    .bind(session)
    .bind(user)
    .bind(start)
    .bind(bucket_ms)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut counts = vec![0u32; n];
    let mut denied = vec![0u32; n];
    for (b, c, d) in rows {
        if let Ok(i) = usize::try_from(b)
            && i < n
        {
            counts[i] = u32::try_from(c).unwrap_or(u32::MAX);
            denied[i] = u32::try_from(d).unwrap_or(u32::MAX);
        }
    }
    let baseline = baseline_band(store, profile, user_id, start, bucket_ms, n).await?;
    let mut markers = Vec::new();
    // One marker per finding and kind of signal (its first occurrence): more only crowd the graph.
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    for f in findings {
        if let Some(evidence) = f.finding.get("evidence").and_then(|v| v.as_array()) {
            let mut evidence: Vec<&serde_json::Value> = evidence.iter().collect();
            evidence.sort_by_key(|ev| ev.get("at").and_then(|v| v.as_str()).map(str::to_string));
            for ev in evidence {
                let kind = ev
                    .get("kind")
                    .and_then(|v| v.as_str())
                    .unwrap_or("finding")
                    .to_string();
                if !seen.insert((f.id.clone(), kind)) {
                    continue;
                }
                let at = ev
                    .get("at")
                    .and_then(|v| v.as_str())
                    .and_then(crate::ingest::time::parse_rfc3339_ms);
                if let Some(at) = at
                    && at >= start
                    && at <= to
                {
                    markers.push(Marker {
                        at_ms: at,
                        kind: MarkerKind::Finding,
                        severity: Some(f.severity),
                        label: ev
                            .get("kind")
                            .and_then(|v| v.as_str())
                            .unwrap_or("finding")
                            .replace('_', " "),
                    });
                }
            }
        }
    }
    for a in actions {
        let at = a.at.timestamp_millis();
        // One marker per action: its verified outcome.
        let is_action = a.action.ends_with(".outcome");
        if is_action && at >= start && at <= to + bucket_ms {
            markers.push(Marker {
                at_ms: at.min(to),
                kind: MarkerKind::Action,
                severity: None,
                label: a.action.trim_end_matches(".outcome").replace('_', " "),
            });
        }
    }
    markers.sort_by_key(|m| m.at_ms);
    Ok(RateSeries {
        start_ms: start,
        bucket_ms,
        counts,
        denied,
        baseline,
        markers,
        title,
    })
}

/// The user's normal rate per bucket: for each hour of day, the median and 90th percentile of
/// their per-bucket request counts over the retained history (buckets where they were active).
/// None without at least three active hours of history.
async fn baseline_band(
    store: &Store,
    profile: &str,
    user_id: &str,
    start: i64,
    bucket_ms: i64,
    n: usize,
) -> Result<Option<Band>, Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT at_ms / ?3 AS b, count(*) FROM activity WHERE profile = ?1 AND user_id = ?2 GROUP BY b",
    )
    .bind(profile)
    .bind(user_id)
    .bind(bucket_ms)
    .fetch_all(store.pool())
    .await?;
    let mut by_hour: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (b, c) in &rows {
        let hour = (b * bucket_ms / 3_600_000).rem_euclid(24);
        by_hour.entry(hour).or_default().push(*c as f64);
    }
    if by_hour.values().map(Vec::len).sum::<usize>() < 3 {
        return Ok(None);
    }
    let quantile = |v: &mut Vec<f64>, q: f64| -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).copied().unwrap_or(0.0)
    };
    let mut per_hour: HashMap<i64, (f64, f64)> = HashMap::new();
    for (h, mut v) in by_hour {
        let lo = quantile(&mut v, 0.5);
        let hi = quantile(&mut v, 0.9);
        per_hour.insert(h, (lo, hi));
    }
    let mut low = Vec::with_capacity(n);
    let mut high = Vec::with_capacity(n);
    for i in 0..n {
        let at = start + i as i64 * bucket_ms;
        let hour = (at / 3_600_000).rem_euclid(24);
        let (lo, hi) = per_hour.get(&hour).copied().unwrap_or((0.0, 0.0));
        low.push(lo);
        high.push(hi);
    }
    Ok(Some(Band { low, high }))
}

/// Points per distinct place (by coordinates) with counts; legs between consecutive places.
fn session_map(
    timeline: &[TimelineEvent],
    describe: &mut (dyn Describe + Send),
    findings: &[FindingRow],
) -> MapSpec {
    let severity = findings.iter().map(|f| f.severity).max();
    let mut points: Vec<MapPoint> = Vec::new();
    let mut legs: Vec<MapLeg> = Vec::new();
    let mut prev: Option<(usize, i64)> = None;
    for e in timeline {
        let d = describe.describe(e.ip.as_deref(), None);
        let Some((lat, lon)) = d.coords else { continue };
        let idx = match points
            .iter()
            .position(|p| (p.lat - lat).abs() < 1e-6 && (p.lon - lon).abs() < 1e-6)
        {
            Some(i) => {
                points[i].count += 1;
                i
            }
            None => {
                points.push(MapPoint {
                    lat,
                    lon,
                    accuracy_km: d.accuracy_km,
                    label: d.place.clone().unwrap_or_default(),
                    severity: None,
                    count: 1,
                });
                points.len() - 1
            }
        };
        let at = e.at.timestamp_millis();
        if let Some((p, pat)) = prev
            && p != idx
            && !legs
                .iter()
                .any(|l| (l.from, l.to) == (p, idx) || (l.from, l.to) == (idx, p))
        {
            let km = haversine_km((points[p].lat, points[p].lon), (lat, lon));
            let hours = (at - pat) as f64 / 3_600_000.0;
            legs.push(MapLeg {
                from: p,
                to: idx,
                km,
                kmh: (hours > 0.0).then(|| km / hours),
                severity,
            });
        }
        prev = Some((idx, at));
    }
    if points.len() > 1 {
        for p in points.iter_mut().skip(1) {
            p.severity = severity;
        }
    }
    MapSpec {
        points,
        legs,
        title: String::new(),
        attribution: None,
    }
}

/// city, country, lat, lon, accuracy, events, sessions
type PlaceTuple = (
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    i64,
    i64,
);

/// A user with all sessions on one map and one rate graph.
pub async fn user_view(
    store: &Store,
    profile: &str,
    user_id: &str,
    theme: Theme,
    attribution: Option<String>,
) -> Result<UserView, Error> {
    let user = users_by_id(store, profile, &[user_id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| Error::UnknownUser(user_id.to_string()))?;
    let sessions = sessions(
        store,
        profile,
        &SessionQuery {
            user_id: Some(user_id.to_string()),
            sort: SessionSort::LastSeen,
            limit: Some(500),
            ..Default::default()
        },
        None,
    )
    .await?
    .rows;
    let findings = triage::list(
        store,
        profile,
        &FindingFilter {
            user_id: Some(user_id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let places: Vec<PlaceTuple> = sqlx::query_as(
        "SELECT city, country, lat, lon, max(accuracy_km), sum(events), count(*) FROM session_facts
             WHERE profile = ? AND user_id = ? GROUP BY city, country ORDER BY sum(events) DESC",
    )
    .bind(profile)
    .bind(user_id)
    .fetch_all(store.pool())
    .await?;
    let label = |city: &Option<String>, country: &Option<String>| match (city, country) {
        (Some(c), Some(k)) => format!("{c}, {k}"),
        (None, Some(k)) => k.clone(),
        (Some(c), None) => c.clone(),
        (None, None) => "unknown place".into(),
    };
    let baseline_places: Vec<BaselinePlace> = places
        .iter()
        .take(10)
        .map(|(city, country, _, _, _, events, sessions)| BaselinePlace {
            place: label(city, country),
            events: u32::try_from(*events).unwrap_or(u32::MAX),
            sessions: u32::try_from(*sessions).unwrap_or(u32::MAX),
        })
        .collect();
    let top = findings.iter().map(|f| f.severity).max();
    let points: Vec<MapPoint> = places
        .iter()
        .filter_map(|(city, country, lat, lon, acc, events, _)| {
            Some(MapPoint {
                lat: (*lat)?,
                lon: (*lon)?,
                accuracy_km: *acc,
                label: label(city, country),
                severity: None,
                count: u32::try_from(*events).unwrap_or(u32::MAX),
            })
        })
        .collect();
    let mut points = points;
    if points.len() > 1 {
        for p in points.iter_mut().skip(1) {
            p.severity = top.filter(|s| s.is_actionable());
        }
    }
    let map = MapSpec {
        points,
        legs: Vec::new(),
        title: String::new(),
        attribution,
    };
    let mut targets = vec![user_id.to_string()];
    targets.extend(sessions.iter().map(|s| s.id.clone()));
    targets.extend(findings.iter().map(|f| f.id.clone()));
    let actions = audit::about(store, profile, &targets, 200).await?;
    let last = user
        .last_seen_at
        .map_or_else(|| chrono::Utc::now().timestamp_millis(), |t| t.timestamp_millis());
    let series = rate_series(
        store,
        profile,
        Scope::User,
        user_id,
        last - 24 * 3_600_000,
        last,
        &findings,
        &actions,
        format!("Requests, all sessions of {}", user.username),
    )
    .await?;
    Ok(UserView {
        rate_svg: render::rate_chart_svg(
            &series,
            Size {
                width: 880,
                height: 260,
            },
            theme,
        )?,
        map_svg: render::map_svg(
            &map,
            Size {
                width: 880,
                height: 440,
            },
            theme,
        )?,
        user,
        sessions,
        findings,
        baseline_places,
        actions,
    })
}
