//! Incidents: what an analyst gathered about one compromise, so it can be handed on.
//!
//! An incident names its affected users and sessions and the findings that started it; the
//! analyst adds a title, a severity, a status (open → contained → closed) and notes. Everything
//! else an incident shows (the timeline of requests, findings and containment actions, the
//! charts) is derived from the store and the audit log when it is read (see `report::gather`),
//! so an incident never disagrees with the data it is about.
//!
//! Creating an incident and changing its status are audited like every other analyst action.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Log, NewEntry};
use crate::detect::Severity;
use crate::store::{self, Store, now_ms};
use crate::triage::{self, FindingFilter};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    #[error(transparent)]
    Triage(#[from] triage::Error),
    #[error(transparent)]
    Views(#[from] crate::views::Error),
    #[error("no incident {0} in profile {1}")]
    Unknown(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("stored incident {0} is corrupt: {1}")]
    Corrupt(String, String),
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
            Error::Views(e) => e.kind(),
            Error::Audit(_) | Error::Corrupt(..) => ErrorKind::Internal,
            Error::Unknown(..) => ErrorKind::NotFound,
            Error::Invalid(_) => ErrorKind::Validation,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    /// The attacker's access was cut (sessions revoked, reset forced); follow-up remains.
    Contained,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Option<IncidentStatus> {
        match s {
            "open" => Some(IncidentStatus::Open),
            "contained" => Some(IncidentStatus::Contained),
            "closed" => Some(IncidentStatus::Closed),
            _ => None,
        }
    }
}

/// What the analyst starts an incident from. Findings bring their session and user; sessions
/// bring their user. At least one of the three lists must name something.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NewIncident {
    pub title: String,
    /// Default: the strongest finding's severity, else medium.
    pub severity: Option<Severity>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub findings: Vec<String>,
    #[serde(default)]
    pub sessions: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub profile: String,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub notes: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub users: Vec<String>,
    pub sessions: Vec<String>,
    pub findings: Vec<String>,
}

const TITLE_MAX: usize = 200;
const NOTES_MAX: usize = 20_000;
const MEMBERS_MAX: usize = 500;

fn ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

fn check_text(title: &str, notes: &str) -> Result<(), Error> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > TITLE_MAX {
        return Err(Error::Invalid(format!(
            "the title must be 1 to {TITLE_MAX} characters"
        )));
    }
    if notes.chars().count() > NOTES_MAX {
        return Err(Error::Invalid(format!(
            "notes are limited to {NOTES_MAX} characters"
        )));
    }
    Ok(())
}

/// Creates an incident from findings, sessions and users of `profile` (each must exist in the
/// store), audited as `incident.create`.
pub async fn create(
    store: &Store,
    log: &Log,
    profile: &str,
    actor: &str,
    new: NewIncident,
) -> Result<Incident, Error> {
    check_text(&new.title, &new.notes)?;
    if new.findings.is_empty() && new.sessions.is_empty() && new.users.is_empty() {
        return Err(Error::Invalid(
            "an incident needs at least one finding, session or user".into(),
        ));
    }
    if new.findings.len() + new.sessions.len() + new.users.len() > MEMBERS_MAX {
        return Err(Error::Invalid(format!(
            "an incident names at most {MEMBERS_MAX} findings, sessions and users"
        )));
    }
    let mut findings = BTreeSet::new();
    let mut sessions = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut strongest: Option<Severity> = None;
    for id in &new.findings {
        let f = triage::get(store, profile, id).await?;
        strongest = strongest.max(Some(f.severity));
        if let Some(s) = &f.session_id {
            // A finding's session id may be a token id when the source had no session.
            if crate::views::session_by_id(store, profile, s).await.is_ok() {
                sessions.insert(s.clone());
            }
        }
        users.insert(f.user_id.clone());
        findings.insert(f.id);
    }
    for id in &new.sessions {
        let s = crate::views::session_by_id(store, profile, id).await?;
        users.insert(s.user_id);
        sessions.insert(s.id);
        for f in triage::list(
            store,
            profile,
            &FindingFilter {
                session_id: Some(id.clone()),
                hide_false_positives: true,
                ..Default::default()
            },
        )
        .await?
        {
            strongest = strongest.max(Some(f.severity));
        }
    }
    for id in &new.users {
        let found = crate::views::users_by_id(store, profile, std::slice::from_ref(id)).await?;
        let user = found
            .into_iter()
            .next()
            .ok_or_else(|| crate::views::Error::UnknownUser(id.clone()))?;
        strongest = strongest.max(user.risk);
        users.insert(user.id);
    }
    let severity = new.severity.or(strongest).unwrap_or(Severity::Medium);
    let id = format!("inc-{}", hex::encode(rand::random::<[u8; 8]>()));
    let now = now_ms();
    let title = new.title.trim().to_string();

    log.append(NewEntry {
        actor: actor.to_string(),
        action: "incident.create".into(),
        profile: Some(profile.to_string()),
        target: Some(id.clone()),
        detail: serde_json::json!({
            "title": title,
            "severity": severity,
            "users": users,
            "sessions": sessions,
            "findings": findings,
        }),
    })
    .await?;
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO incidents (id, profile, title, severity, status, notes, created_by, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(profile)
    .bind(&title)
    .bind(severity.as_str())
    .bind(&new.notes)
    .bind(actor)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for (kind, set) in [("user", &users), ("session", &sessions), ("finding", &findings)] {
        for m in set {
            sqlx::query("INSERT INTO incident_members (incident_id, kind, member_id) VALUES (?, ?, ?)")
                .bind(&id)
                .bind(kind)
                .bind(m)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    get(store, profile, &id).await
}

type IncidentRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

const SELECT: &str = "SELECT id, profile, title, severity, status, notes, created_by, created_at_ms, updated_at_ms, closed_at_ms FROM incidents";

async fn hydrate(store: &Store, r: IncidentRow) -> Result<Incident, Error> {
    let (id, profile, title, severity, status, notes, created_by, created, updated, closed) = r;
    let severity: Severity = severity
        .parse()
        .map_err(|e: String| Error::Corrupt(id.clone(), e))?;
    let status = IncidentStatus::parse(&status)
        .ok_or_else(|| Error::Corrupt(id.clone(), format!("status {status:?}")))?;
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, member_id FROM incident_members WHERE incident_id = ? ORDER BY kind, member_id",
    )
    .bind(&id)
    .fetch_all(store.pool())
    .await?;
    let of = |k: &str| {
        members
            .iter()
            .filter(|(kind, _)| kind == k)
            .map(|(_, m)| m.clone())
            .collect::<Vec<_>>()
    };
    Ok(Incident {
        users: of("user"),
        sessions: of("session"),
        findings: of("finding"),
        id,
        profile,
        title,
        severity,
        status,
        notes,
        created_by,
        created_at: ms(created),
        updated_at: ms(updated),
        closed_at: closed.map(ms),
    })
}

pub async fn get(store: &Store, profile: &str, id: &str) -> Result<Incident, Error> {
    let row: Option<IncidentRow> = sqlx::query_as(&format!("{SELECT} WHERE profile = ? AND id = ?"))
        .bind(profile)
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    let row = row.ok_or_else(|| Error::Unknown(id.to_string(), profile.to_string()))?;
    hydrate(store, row).await
}

/// The profile's incidents, newest first.
pub async fn list(store: &Store, profile: &str) -> Result<Vec<Incident>, Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE profile = ? ORDER BY created_at_ms DESC, id"
    ))
    .bind(profile)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(hydrate(store, r).await?);
    }
    Ok(out)
}

/// What an analyst may change after creation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct IncidentUpdate {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub title: Option<String>,
    /// Replaces the notes.
    pub notes: Option<String>,
}

/// Changes status, severity, title or notes, audited as `incident.update` (the status change,
/// and a closing, are named in the entry).
pub async fn update(
    store: &Store,
    log: &Log,
    profile: &str,
    actor: &str,
    id: &str,
    change: IncidentUpdate,
) -> Result<Incident, Error> {
    let before = get(store, profile, id).await?;
    let title = change.title.clone().unwrap_or_else(|| before.title.clone());
    let notes = change.notes.clone().unwrap_or_else(|| before.notes.clone());
    check_text(&title, &notes)?;
    let status = change.status.unwrap_or(before.status);
    let severity = change.severity.unwrap_or(before.severity);
    let now = now_ms();
    let closed_at = match (before.status, status) {
        (_, IncidentStatus::Closed) if before.status != IncidentStatus::Closed => Some(now),
        (_, IncidentStatus::Closed) => before.closed_at.map(|t| t.timestamp_millis()),
        _ => None,
    };
    log.append(NewEntry {
        actor: actor.to_string(),
        action: "incident.update".into(),
        profile: Some(profile.to_string()),
        target: Some(id.to_string()),
        detail: serde_json::json!({
            "status": { "from": before.status, "to": status },
            "severity": { "from": before.severity, "to": severity },
            "title_changed": title != before.title,
            "notes_changed": notes != before.notes,
        }),
    })
    .await?;
    sqlx::query(
        "UPDATE incidents SET title = ?, severity = ?, status = ?, notes = ?, updated_at_ms = ?, closed_at_ms = ?
         WHERE profile = ? AND id = ?",
    )
    .bind(title.trim())
    .bind(severity.as_str())
    .bind(status.as_str())
    .bind(&notes)
    .bind(now)
    .bind(closed_at)
    .bind(profile)
    .bind(id)
    .execute(store.pool())
    .await?;
    get(store, profile, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn seeded() -> (Store, Log) {
        let store = Store::in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO users (profile, id, username, status, synced_at_ms) VALUES ('p', 'u1', 'alice', 'active', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sessions (profile, id, user_id, started_at_ms, active, synced_at_ms)
             VALUES ('p', 's1', 'u1', 1000, 1, 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let log = Log::new(store.clone(), None);
        (store, log)
    }

    #[tokio::test]
    async fn create_from_a_session_brings_its_user_and_is_audited() {
        let (store, log) = seeded().await;
        let inc = create(
            &store,
            &log,
            "p",
            "analyst",
            NewIncident {
                title: "  Stolen session of alice ".into(),
                sessions: vec!["s1".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(inc.title, "Stolen session of alice");
        assert_eq!(inc.users, vec!["u1".to_string()]);
        assert_eq!(inc.sessions, vec!["s1".to_string()]);
        assert_eq!(inc.status, IncidentStatus::Open);
        assert_eq!(inc.severity, Severity::Medium);
        let audit = crate::audit::recent(&store, 5).await.unwrap();
        assert_eq!(audit[0].action, "incident.create");
        assert_eq!(audit[0].target.as_deref(), Some(inc.id.as_str()));
        assert_eq!(list(&store, "p").await.unwrap().len(), 1);
        assert!(list(&store, "other").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn bad_input_is_refused_and_nothing_is_stored() {
        let (store, log) = seeded().await;
        let err = create(
            &store,
            &log,
            "p",
            "a",
            NewIncident {
                title: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        let err = create(
            &store,
            &log,
            "p",
            "a",
            NewIncident {
                title: " ".into(),
                users: vec!["u1".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        let err = create(
            &store,
            &log,
            "p",
            "a",
            NewIncident {
                title: "t".into(),
                sessions: vec!["nope".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        assert!(list(&store, "p").await.unwrap().is_empty());
        assert!(crate::audit::recent(&store, 5).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn closing_records_when_and_reopening_clears_it() {
        let (store, log) = seeded().await;
        let inc = create(
            &store,
            &log,
            "p",
            "a",
            NewIncident {
                title: "t".into(),
                users: vec!["u1".into()],
                severity: Some(Severity::High),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let closed = update(
            &store,
            &log,
            "p",
            "a",
            &inc.id,
            IncidentUpdate {
                status: Some(IncidentStatus::Closed),
                notes: Some("reset done".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(closed.status, IncidentStatus::Closed);
        assert!(closed.closed_at.is_some());
        assert_eq!(closed.notes, "reset done");
        assert_eq!(closed.severity, Severity::High);
        let reopened = update(
            &store,
            &log,
            "p",
            "a",
            &inc.id,
            IncidentUpdate {
                status: Some(IncidentStatus::Open),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(reopened.closed_at.is_none());
        let err = update(&store, &log, "p", "a", "inc-missing", IncidentUpdate::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
    }
}
