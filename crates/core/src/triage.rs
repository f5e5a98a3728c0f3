//! Detection over the local store, and the analyst's judgement of what it finds.
//!
//! The [`Detector`] keeps one live [`Engine`] per profile in memory. Each [`Detector::run`] feeds
//! the engine the activity that sync stored since the last run, in time order, and writes the
//! findings those events created or changed to the `findings` table in one transaction. The
//! engine's baselines are not persisted: the first run in a process replays the whole retained
//! activity of the profile (which also rebuilds every finding), later runs are incremental. So
//! the store is the one source of truth and a crash never leaves baselines and findings out of
//! step.
//!
//! Findings made from activity that retention has since pruned stay in the table (they are
//! history); a full replay removes only findings it should have reproduced and did not (their
//! evidence is now suppressed).
//!
//! Verdicts and suppressions are written to the audit log before they are stored. A suppression
//! replays the profile so that both old findings and new signals honour it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::audit::{Log, NewEntry};
use crate::detect::feedback::{self, FeedbackError, ScopeKind};
use crate::detect::{Config, Engine, Feedback, Finding, Kind, Severity, Suppression, Verdict};
use crate::enrich::{EnrichConfig, Enricher, GeoIpError};
use crate::ingest::{Event, stored_action};
use crate::store::{self, Store, now_ms};
use crate::sync::read::ActivityRow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    #[error("cannot open the GeoIP database: {0}")]
    GeoIp(#[from] GeoIpError),
    #[error("no finding {0} in profile {1}")]
    UnknownFinding(String, String),
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    #[error("stored finding {0} is not valid JSON: {1}")]
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
            Error::Audit(_) | Error::Corrupt(..) => ErrorKind::Internal,
            Error::GeoIp(_) | Error::Feedback(_) => ErrorKind::Validation,
            Error::UnknownFinding(..) => ErrorKind::NotFound,
        }
    }
}

/// What one detection pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DetectReport {
    pub profile: String,
    /// Events fed to the engine in this pass.
    pub events: u64,
    /// Events skipped because they name no user.
    pub unattributed: u64,
    /// Whether this pass replayed the profile's whole retained activity.
    pub replayed: bool,
    /// Findings created or changed in this pass.
    pub changed: u64,
    /// Findings that became high or critical in this pass ("likely stolen, act now").
    pub newly_actionable: Vec<FindingRow>,
    pub duration_ms: u64,
}

/// A stored finding as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FindingRow {
    pub id: String,
    pub user_id: String,
    /// From the synced users, when known.
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub kind: Kind,
    pub severity: Severity,
    pub score: u8,
    pub detected_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub verdict: Option<Verdict>,
    /// The whole finding with its explanation and evidence (the `analyze --json` shape).
    #[specta(type = Finding)]
    pub finding: Value,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FindingFilter {
    /// Only this finding.
    #[serde(default)]
    pub id: Option<String>,
    pub min_severity: Option<Severity>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// Leave out findings marked false positive.
    #[serde(default)]
    pub hide_false_positives: bool,
    pub limit: Option<u32>,
}

/// Per-session facts gathered while feeding the engine (see the `session_facts` table).
#[derive(Debug, Clone, Default)]
struct Facts {
    user_id: String,
    first_at: i64,
    last_at: i64,
    events: i64,
    denied: i64,
    last_ip: Option<String>,
    city: Option<String>,
    country: Option<String>,
    coords: Option<(f64, f64)>,
    accuracy_km: Option<f64>,
    asn: Option<u32>,
    org: Option<String>,
    network_class: Option<&'static str>,
    device: Option<String>,
    /// Distinct (city, country) seen, capped.
    places: Vec<(Option<String>, Option<String>)>,
}

impl Facts {
    fn add(&mut self, e: &Event) {
        if self.events == 0 {
            self.first_at = e.ts_ms;
            self.user_id = e.user.clone();
        }
        self.events += 1;
        self.first_at = self.first_at.min(e.ts_ms);
        self.last_at = self.last_at.max(e.ts_ms);
        if matches!(e.status, Some(401 | 403)) || e.denial.is_some() {
            self.denied += 1;
        }
        if let Some(ip) = e.ip {
            self.last_ip = Some(ip.to_string());
        }
        if let Some(p) = &e.place {
            self.city = p.city.clone();
            self.country = p.country.clone();
            self.coords = p.coords;
            self.accuracy_km = p.accuracy_km.map(f64::from);
            let key = (p.city.clone(), p.country.clone());
            if self.places.len() < 16 && !self.places.contains(&key) {
                self.places.push(key);
            }
        }
        if let Some(n) = &e.network {
            self.asn = n.asn;
            self.org = n.org.clone();
            self.network_class = Some(n.class.label());
        }
        if let Some(d) = &e.device {
            self.device = Some(d.label());
        }
    }
}

/// Rows read per query while feeding the engine.
const PAGE: i64 = 20_000;

struct Live {
    engine: Engine,
    enricher: Enricher,
    /// The last event fed: (time, event id).
    cursor: Option<(i64, String)>,
}

/// Store-backed detection. See the [module docs](self).
pub struct Detector {
    config: Config,
    enrich: EnrichConfig,
    /// The opened GeoIP databases, shared by every clone (clones only add their own caches).
    base: tokio::sync::OnceCell<Enricher>,
    live: Mutex<HashMap<String, Live>>,
}

fn to_event(row: ActivityRow) -> Option<Event> {
    let (_, at, user, session, jti, ip, ua, method, path, status, denial, sensitive, origin) = row;
    let action = stored_action(method.as_deref(), path.as_deref());
    let (place, network) = origin
        .as_deref()
        .and_then(|o| serde_json::from_str::<crate::backend::Origin>(o).ok())
        .map_or((None, None), origin_facts);
    Some(Event {
        ts_ms: at,
        user: user?,
        session,
        jti,
        ip: ip.and_then(|s| s.parse::<IpAddr>().ok()),
        ua,
        method,
        path,
        status: status.and_then(|s| u16::try_from(s).ok()),
        action,
        denial,
        sensitive,
        place,
        network,
        device: None,
    })
}

/// The place and network a provider gave for an event (kept over GeoIP's, see `Enricher`).
fn origin_facts(
    o: crate::backend::Origin,
) -> (
    Option<Arc<crate::enrich::Place>>,
    Option<Arc<crate::enrich::Network>>,
) {
    let place = (o.coords.is_some() || o.city.is_some() || o.country.is_some()).then(|| {
        Arc::new(crate::enrich::Place {
            coords: o.coords,
            accuracy_km: None,
            city: o.city,
            country: o.country,
            source: crate::enrich::PlaceSource::Input,
        })
    });
    let network = (o.asn.is_some() || o.as_org.is_some() || o.proxy)
        .then(|| Arc::new(crate::enrich::Network::new(o.asn, o.as_org, o.proxy)));
    (place, network)
}

impl Detector {
    pub fn new(config: Config, enrich: EnrichConfig) -> Self {
        Detector {
            config,
            enrich,
            base: tokio::sync::OnceCell::new(),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// An enricher over the configured GeoIP databases (opened once, off the async threads).
    pub async fn enricher(&self) -> Result<Enricher, Error> {
        let base = self
            .base
            .get_or_try_init(|| async {
                let config = self.enrich.clone();
                tokio::task::spawn_blocking(move || Enricher::open(&config))
                    .await
                    .map_err(|e| Error::Corrupt("GeoIP loader".into(), e.to_string()))?
                    .map_err(Error::from)
            })
            .await?;
        Ok(base.clone())
    }

    /// "IP geolocation by DB-IP" when the city database is DB-IP's (its licence asks for it).
    pub fn geoip_attribution(&self) -> Option<String> {
        let path = self.enrich.city_db.as_ref()?;
        let name = path.to_string_lossy().to_ascii_lowercase();
        let db_type = self
            .base
            .get()
            .and_then(|e| e.city_database_type())
            .unwrap_or_default();
        if name.contains("dbip") || name.contains("db-ip") || db_type.to_ascii_lowercase().contains("dbip") {
            Some("IP geolocation by DB-IP".into())
        } else if db_type.contains("GeoLite") || name.contains("geolite") {
            Some("This product includes GeoLite2 data created by MaxMind".into())
        } else {
            None
        }
    }

    /// The GeoIP databases in use (for the "IP geolocation by ..." attribution).
    pub fn geoip_paths(&self) -> (Option<&PathBuf>, Option<&PathBuf>) {
        (self.enrich.city_db.as_ref(), self.enrich.asn_db.as_ref())
    }

    /// Feeds the engine what sync stored since the last pass and stores the findings it changed.
    pub async fn run(&self, store: &Store, profile: &str) -> Result<DetectReport, Error> {
        let started = Instant::now();
        let mut live = self.live.lock().await;
        let replayed = !live.contains_key(profile);
        if replayed {
            let suppressions = suppressions(store, profile).await?;
            let engine = Engine::with_suppressions(self.config.clone(), suppressions);
            let enricher = self.enricher().await?;
            live.insert(
                profile.to_string(),
                Live {
                    engine,
                    enricher,
                    cursor: None,
                },
            );
        }
        let Some(state) = live.get_mut(profile) else {
            return Ok(DetectReport::default());
        };
        let mut report = DetectReport {
            profile: profile.to_string(),
            replayed,
            ..Default::default()
        };
        let mut touched: HashSet<usize> = HashSet::new();
        let mut facts: HashMap<String, Facts> = HashMap::new();
        loop {
            let (after_ms, after_id) = state.cursor.clone().unwrap_or((i64::MIN, String::new()));
            let rows: Vec<ActivityRow> = sqlx::query_as(
                "SELECT event_id, at_ms, user_id, session_id, jti, ip, user_agent, method, path, status,
                        denial_reason, sensitive, origin
                 FROM activity WHERE profile = ?1 AND (at_ms > ?2 OR (at_ms = ?2 AND event_id > ?3))
                 ORDER BY at_ms, event_id LIMIT ?4",
            )
            .bind(profile)
            .bind(after_ms)
            .bind(&after_id)
            .bind(PAGE)
            .fetch_all(store.pool())
            .await?;
            let n = rows.len();
            for row in rows {
                state.cursor = Some((row.1, row.0.clone()));
                let Some(mut event) = to_event(row) else {
                    report.unattributed += 1;
                    continue;
                };
                state.enricher.enrich(&mut event);
                report.events += 1;
                if let Some(sid) = event.session.clone() {
                    facts.entry(sid).or_default().add(&event);
                }
                if let Some(i) = state.engine.observe_index(&event) {
                    touched.insert(i);
                }
            }
            if (n as i64) < PAGE {
                break;
            }
        }
        let findings: Vec<Finding> = touched
            .iter()
            .filter_map(|&i| state.engine.finding_at(i).cloned())
            .collect();
        let produced: HashSet<String> = if replayed {
            state.engine.findings().into_iter().map(|f| f.id).collect()
        } else {
            HashSet::new()
        };
        drop(live);
        report.changed = findings.len() as u64;
        write_facts(store, profile, &facts, replayed).await?;
        let actionable = write_findings(store, profile, &findings, replayed.then_some(&produced)).await?;
        if !actionable.is_empty() {
            let mut rows = list(
                store,
                profile,
                &FindingFilter {
                    min_severity: Some(Severity::High),
                    ..Default::default()
                },
            )
            .await?;
            rows.retain(|r| actionable.contains(&r.id));
            report.newly_actionable = rows;
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Forgets the live engine of a profile: the next run replays its retained activity.
    pub async fn reset(&self, profile: &str) {
        self.live.lock().await.remove(profile);
    }

    /// Records an analyst's verdict on a finding (audit first, then the store).
    pub async fn set_verdict(
        &self,
        log: &Log,
        profile: &str,
        actor: &str,
        feedback: &Feedback,
    ) -> Result<(), Error> {
        let store = log.store();
        let known: Option<(String,)> = sqlx::query_as("SELECT id FROM findings WHERE profile = ? AND id = ?")
            .bind(profile)
            .bind(&feedback.finding_id)
            .fetch_optional(store.pool())
            .await?;
        if known.is_none() {
            return Err(Error::UnknownFinding(
                feedback.finding_id.clone(),
                profile.to_string(),
            ));
        }
        let verdict = verdict_str(feedback.verdict);
        log.append(NewEntry {
            actor: actor.to_string(),
            action: "finding.verdict".into(),
            profile: Some(profile.to_string()),
            target: Some(feedback.finding_id.clone()),
            detail: serde_json::json!({ "verdict": verdict, "note": feedback.note }),
        })
        .await?;
        sqlx::query(
            "INSERT INTO feedback (profile, finding_id, verdict, note, actor, at_ms) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (profile, finding_id) DO UPDATE SET verdict = excluded.verdict, note = excluded.note,
                 actor = excluded.actor, at_ms = excluded.at_ms",
        )
        .bind(profile)
        .bind(&feedback.finding_id)
        .bind(verdict)
        .bind(&feedback.note)
        .bind(actor)
        .bind(now_ms())
        .execute(store.pool())
        .await?;
        Ok(())
    }

    /// Marks a finding a false positive and suppresses the attribute `scope` of its strongest
    /// evidence for that user; then replays the profile so stored findings honour it.
    pub async fn suppress(
        &self,
        log: &Log,
        profile: &str,
        actor: &str,
        finding_id: &str,
        scope: ScopeKind,
        note: Option<String>,
    ) -> Result<Suppression, Error> {
        let store = log.store();
        // The engine holds findings with their typed evidence; warm it if this process has not.
        self.run(store, profile).await?;
        let finding = {
            let live = self.live.lock().await;
            live.get(profile)
                .and_then(|l| l.engine.finding(finding_id).cloned())
                .ok_or_else(|| Error::UnknownFinding(finding_id.to_string(), profile.to_string()))?
        };
        let fb = Feedback {
            finding_id: finding_id.to_string(),
            verdict: Verdict::FalsePositive,
            note,
        };
        let suppression = feedback::suppression_from(&finding, &fb, scope)?;
        self.set_verdict(log, profile, actor, &fb).await?;
        let body = serde_json::to_string(&suppression)
            .map_err(|e| Error::Corrupt(finding_id.into(), e.to_string()))?;
        log.append(NewEntry {
            actor: actor.to_string(),
            action: "finding.suppress".into(),
            profile: Some(profile.to_string()),
            target: Some(finding_id.to_string()),
            detail: serde_json::to_value(&suppression).unwrap_or(Value::Null),
        })
        .await?;
        sqlx::query(
            "INSERT INTO suppressions (profile, user_id, body, actor, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(profile)
        .bind(&suppression.user)
        .bind(body)
        .bind(actor)
        .bind(now_ms())
        .execute(store.pool())
        .await?;
        self.reset(profile).await;
        self.run(store, profile).await?;
        Ok(suppression)
    }
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::TruePositive => "true_positive",
        Verdict::FalsePositive => "false_positive",
    }
}

/// The `findings.severity_rank` column: the one mapping between severities and their stored rank.
pub(crate) fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

pub(crate) fn severity_of_rank(r: i64) -> Severity {
    match r {
        3 => Severity::Critical,
        2 => Severity::High,
        1 => Severity::Medium,
        _ => Severity::Low,
    }
}

/// One stored finding by id.
pub async fn get(store: &Store, profile: &str, id: &str) -> Result<FindingRow, Error> {
    list(
        store,
        profile,
        &FindingFilter {
            id: Some(id.to_string()),
            ..Default::default()
        },
    )
    .await?
    .pop()
    .ok_or_else(|| Error::UnknownFinding(id.to_string(), profile.to_string()))
}

/// The profile's suppressions, oldest first.
pub async fn suppressions(store: &Store, profile: &str) -> Result<Vec<Suppression>, Error> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, body FROM suppressions WHERE profile = ? ORDER BY id")
            .bind(profile)
            .fetch_all(store.pool())
            .await?;
    rows.into_iter()
        .map(|(id, body)| {
            serde_json::from_str(&body)
                .map_err(|e| Error::Corrupt(format!("suppression {id}"), e.to_string()))
        })
        .collect()
}

/// Merges this pass's per-session facts into the table (counts add up; the latest place wins).
/// After a replay, the pass saw every retained event of each session: its facts replace the row.
async fn write_facts(
    store: &Store,
    profile: &str,
    facts: &HashMap<String, Facts>,
    replace: bool,
) -> Result<(), Error> {
    let mut tx = store.pool().begin().await?;
    for (sid, f) in facts {
        if replace {
            sqlx::query("DELETE FROM session_facts WHERE profile = ? AND session_id = ?")
                .bind(profile)
                .bind(sid)
                .execute(&mut *tx)
                .await?;
        }
        let (lat, lon) = f.coords.map_or((None, None), |(a, o)| (Some(a), Some(o)));
        sqlx::query(
            "INSERT INTO session_facts (profile, session_id, user_id, first_at_ms, last_at_ms, events, denied, last_ip,
                                        city, country, lat, lon, accuracy_km, asn, org, network_class, device, places)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (profile, session_id) DO UPDATE SET
                 first_at_ms = min(first_at_ms, excluded.first_at_ms),
                 last_at_ms = max(last_at_ms, excluded.last_at_ms),
                 events = events + excluded.events, denied = denied + excluded.denied,
                 last_ip = coalesce(excluded.last_ip, last_ip), city = coalesce(excluded.city, city),
                 country = coalesce(excluded.country, country), lat = coalesce(excluded.lat, lat),
                 lon = coalesce(excluded.lon, lon), accuracy_km = coalesce(excluded.accuracy_km, accuracy_km),
                 asn = coalesce(excluded.asn, asn), org = coalesce(excluded.org, org),
                 network_class = coalesce(excluded.network_class, network_class),
                 device = coalesce(excluded.device, device), places = max(places, excluded.places)",
        )
        .bind(profile)
        .bind(sid)
        .bind(&f.user_id)
        .bind(f.first_at)
        .bind(f.last_at)
        .bind(f.events)
        .bind(f.denied)
        .bind(&f.last_ip)
        .bind(&f.city)
        .bind(&f.country)
        .bind(lat)
        .bind(lon)
        .bind(f.accuracy_km)
        .bind(f.asn.map(i64::from))
        .bind(&f.org)
        .bind(f.network_class)
        .bind(&f.device)
        .bind(f.places.len().max(1) as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Upserts findings in one transaction; returns the ids that became high or critical. With
/// `produced` (a full replay), also removes findings the replay should have reproduced and did not.
async fn write_findings(
    store: &Store,
    profile: &str,
    findings: &[Finding],
    produced: Option<&HashSet<String>>,
) -> Result<Vec<String>, Error> {
    let mut tx = store.pool().begin().await?;
    let mut actionable = Vec::new();
    let now = now_ms();
    for f in findings {
        let before: Option<(i64,)> =
            sqlx::query_as("SELECT severity_rank FROM findings WHERE profile = ? AND id = ?")
                .bind(profile)
                .bind(&f.id)
                .fetch_optional(&mut *tx)
                .await?;
        let rank = severity_rank(f.severity);
        if f.severity.is_actionable() && before.is_none_or(|(r,)| r < severity_rank(Severity::High)) {
            actionable.push(f.id.clone());
        }
        let body = serde_json::to_string(f).map_err(|e| Error::Corrupt(f.id.clone(), e.to_string()))?;
        sqlx::query(
            "INSERT INTO findings (profile, id, user_id, session_id, kind, severity, severity_rank, score,
                                   detected_at_ms, first_seen_ms, last_seen_ms, body, updated_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (profile, id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
                 severity_rank = excluded.severity_rank, score = excluded.score,
                 detected_at_ms = excluded.detected_at_ms, first_seen_ms = excluded.first_seen_ms,
                 last_seen_ms = excluded.last_seen_ms, body = excluded.body, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(profile)
        .bind(&f.id)
        .bind(&f.user)
        .bind(&f.session)
        .bind(f.kind.as_str())
        .bind(f.severity.as_str())
        .bind(rank)
        .bind(i64::from(f.score))
        .bind(f.detected_at)
        .bind(f.first_seen)
        .bind(f.last_seen)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(produced) = produced {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT min(at_ms) FROM activity WHERE profile = ?")
            .bind(profile)
            .fetch_one(&mut *tx)
            .await?;
        let stored: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM findings WHERE profile = ? AND last_seen_ms >= ?")
                .bind(profile)
                .bind(oldest.unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await?;
        for (id,) in stored {
            if !produced.contains(&id) {
                sqlx::query("DELETE FROM findings WHERE profile = ? AND id = ?")
                    .bind(profile)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(actionable)
}

type FindingTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
);

/// Stored findings, most severe first, then newest.
pub async fn list(store: &Store, profile: &str, filter: &FindingFilter) -> Result<Vec<FindingRow>, Error> {
    let min_rank = filter.min_severity.map(severity_rank).unwrap_or(0);
    let limit = i64::from(filter.limit.unwrap_or(10_000).min(100_000));
    let rows: Vec<FindingTuple> = sqlx::query_as(
        "SELECT f.id, f.user_id, u.username, f.session_id, f.kind, f.severity, f.score, f.detected_at_ms,
                f.last_seen_ms, f.body, fb.verdict
         FROM findings f
         LEFT JOIN users u ON u.profile = f.profile AND u.id = f.user_id
         LEFT JOIN feedback fb ON fb.profile = f.profile AND fb.finding_id = f.id
         WHERE f.profile = ?1 AND f.severity_rank >= ?2
           AND (?3 IS NULL OR f.user_id = ?3) AND (?4 IS NULL OR f.session_id = ?4)
           AND (?5 = 0 OR fb.verdict IS NULL OR fb.verdict <> 'false_positive')
           AND (?7 IS NULL OR f.id = ?7)
         ORDER BY f.severity_rank DESC, f.detected_at_ms DESC LIMIT ?6",
    )
    .bind(profile)
    .bind(min_rank)
    .bind(&filter.user_id)
    .bind(&filter.session_id)
    .bind(filter.hide_false_positives)
    .bind(limit)
    .bind(&filter.id)
    .fetch_all(store.pool())
    .await?;
    rows.into_iter()
        .map(
            |(id, user_id, username, session_id, kind, severity, score, detected, last, body, verdict)| {
                let corrupt = |what: String| Error::Corrupt(id.clone(), what);
                Ok(FindingRow {
                    kind: kind.parse().map_err(corrupt)?,
                    severity: severity.parse().map_err(corrupt)?,
                    score: u8::try_from(score).unwrap_or(100),
                    detected_at: DateTime::from_timestamp_millis(detected).unwrap_or_default(),
                    last_seen: DateTime::from_timestamp_millis(last).unwrap_or_default(),
                    verdict: match verdict.as_deref() {
                        Some("true_positive") => Some(Verdict::TruePositive),
                        Some("false_positive") => Some(Verdict::FalsePositive),
                        _ => None,
                    },
                    finding: serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?,
                    id,
                    user_id,
                    username,
                    session_id,
                })
            },
        )
        .collect()
}
