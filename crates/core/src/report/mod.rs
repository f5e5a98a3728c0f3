//! Exported incident reports: HTML, PDF, OCSF JSON, CSV and Markdown, each with a signed
//! manifest.
//!
//! [`gather`] reads everything a report says from the store and the audit log once (the
//! incident, its users, sessions and findings, the containment actions with their verified
//! outcomes and residual exposure, a merged timeline, and the rate graphs and maps rendered by
//! `render/`, the code the desktop uses). Each format is then a pure function from that
//! [`ReportData`] to bytes, so every format says the same thing.
//!
//! An export is a small set of files written together into one folder: the report (`PATH`),
//! for CSV also the sessions table (`<stem>.sessions.csv`), and `PATH.manifest.json`, which
//! lists each file's SHA-256 and size and is signed with the analyst's Ed25519 report key (kept
//! in the OS keyring, see [`manifest`]). The set is written atomically: every file goes to a
//! temporary file in the target folder first and is renamed into place only when all of them
//! were written, so a full disk or an unwritable folder leaves nothing behind.
//!
//! Backend strings are untrusted everywhere here: escaped for HTML and Markdown, guarded against
//! formula injection in CSV, and stripped of control and bidi characters in all formats.

mod csv;
mod html;
pub mod manifest;
mod md;
mod ocsf;
mod pdf;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actions::{Check, Residual};
use crate::audit::Entry;
use crate::detect::Severity;
use crate::incident::{self, Incident};
use crate::render::Theme;
use crate::store::Store;
use crate::triage::{self, FindingRow};
use crate::views::{self, Describe, SessionRow, UserSummary};

pub use manifest::{FileCheck, FileStatus, Verification};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Incident(#[from] incident::Error),
    #[error(transparent)]
    Views(#[from] views::Error),
    #[error(transparent)]
    Triage(#[from] triage::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    #[error("cannot write the report to {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("cannot build the PDF: {0}")]
    Pdf(String),
    #[error("cannot encode the report: {0}")]
    Encode(String),
    #[error("the report signing key in the OS keyring is unusable: {0}")]
    Key(String),
    #[error(transparent)]
    Verify(#[from] manifest::VerifyError),
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            Error::Incident(e) => e.kind(),
            Error::Views(e) => e.kind(),
            Error::Triage(e) => e.kind(),
            Error::Secrets(e) => e.kind(),
            Error::Audit(_) | Error::Pdf(_) | Error::Encode(_) => ErrorKind::Internal,
            Error::Key(_) => ErrorKind::Upstream,
            Error::Write { .. } => ErrorKind::Validation,
            Error::Verify(e) => e.kind(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Html,
    Pdf,
    /// OCSF 1.x inside a small Gatehouse envelope.
    Json,
    /// The timeline (`PATH`) and the sessions (`<stem>.sessions.csv`).
    Csv,
    /// A short summary for a ticket.
    Md,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Pdf => "pdf",
            ReportFormat::Json => "json",
            ReportFormat::Csv => "csv",
            ReportFormat::Md => "md",
        }
    }
}

/// Where a timeline item comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum TimelineSource {
    /// A request in the backend's activity.
    Event,
    /// A detection finding.
    Finding,
    /// A containment action (its audited outcome).
    Action,
    /// An analyst's change to the incident or a verdict, from the audit log.
    Analyst,
    /// A Shared Signals event another provider sent about the session or user.
    Signal,
}

impl TimelineSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineSource::Event => "event",
            TimelineSource::Finding => "finding",
            TimelineSource::Action => "action",
            TimelineSource::Analyst => "analyst",
            TimelineSource::Signal => "signal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct TimelineItem {
    pub at: DateTime<Utc>,
    pub source: TimelineSource,
    /// The session, user, finding or action the item is about.
    pub subject: String,
    pub summary: String,
    pub ip: Option<String>,
    pub place: Option<String>,
    /// Denied, sensitive, a new place, a finding or an action: shown in the printed timeline.
    pub notable: bool,
}

/// A containment action as the audit log recorded its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub at: DateTime<Utc>,
    pub action_id: String,
    pub kind: String,
    pub target: String,
    pub actor: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    pub verified: bool,
    pub checks: Vec<Check>,
    pub residual: Option<Residual>,
    pub sessions_revoked: Vec<String>,
    pub error: Option<String>,
    /// The audit entry's sequence number and hash, so a reader can find it in the log.
    pub audit_seq: i64,
    pub audit_hash: String,
}

/// A rate graph and a map, inline SVG from `render/`.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    pub title: String,
    pub rate_svg: String,
    pub map_svg: String,
}

/// Everything an incident report says; every format renders this.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ReportData {
    pub incident: Incident,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub generator: String,
    pub users: Vec<UserSummary>,
    pub sessions: Vec<SessionRow>,
    pub findings: Vec<FindingRow>,
    pub actions: Vec<ActionRecord>,
    /// Oldest first.
    pub timeline: Vec<TimelineItem>,
    /// Requests left out of the timeline because a session had more than the views keep.
    pub timeline_truncated: bool,
    pub charts: Vec<Chart>,
    pub geoip_attribution: Option<String>,
}

/// Sessions and users that get a rate graph and a map in a report, strongest first.
const MAX_SESSION_CHARTS: usize = 4;
const MAX_USER_CHARTS: usize = 2;
/// Rows of the printed timeline (HTML, PDF); the CSV has every item.
pub const PRINTED_TIMELINE_MAX: usize = 250;

/// Reads an incident and everything about it. `charts` renders the graphs and maps (reports);
/// the incident view leaves them out.
pub async fn gather(
    store: &Store,
    incident: Incident,
    describe: &mut (dyn Describe + Send),
    attribution: Option<String>,
    charts: bool,
    actor: &str,
) -> Result<ReportData, Error> {
    let profile = incident.profile.clone();
    let mut findings: BTreeMap<String, FindingRow> = BTreeMap::new();
    for id in &incident.findings {
        match triage::get(store, &profile, id).await {
            Ok(f) => {
                findings.insert(f.id.clone(), f);
            }
            // A finding a later suppression removed is history: the audit log still has it.
            Err(triage::Error::UnknownFinding(..)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut sessions = Vec::new();
    let mut timeline = Vec::new();
    let mut timeline_truncated = false;
    let mut chart_list = Vec::new();
    let mut jtis = BTreeSet::new();
    for sid in &incident.sessions {
        let view = match views::session_view(
            store,
            &profile,
            sid,
            describe,
            Theme::Light,
            attribution.clone(),
        )
        .await
        {
            Ok(v) => v,
            Err(views::Error::UnknownSession(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        for f in &view.findings {
            findings.entry(f.id.clone()).or_insert_with(|| f.clone());
        }
        jtis.extend(view.tokens.iter().map(|t| t.jti.clone()));
        timeline_truncated |= view.timeline_truncated;
        let mut last_place: Option<String> = None;
        for e in &view.timeline {
            if e.method.is_none() && e.path.as_deref() == Some(crate::ingest::SSF_SESSION_REVOKED) {
                // The provider's revocation: on the timeline as the signal it came from.
                continue;
            }
            let denied = e.denial_reason.is_some() || matches!(e.status, Some(401 | 403));
            let moved = e.place.is_some() && e.place != last_place;
            if e.place.is_some() {
                last_place.clone_from(&e.place);
            }
            let mut summary = format!(
                "{} {}",
                e.method.as_deref().unwrap_or("request"),
                e.path.as_deref().unwrap_or("")
            )
            .trim()
            .to_string();
            if let Some(s) = e.status {
                summary.push_str(&format!(" → {s}"));
            }
            if let Some(d) = &e.denial_reason {
                summary.push_str(&format!(" (denied: {d})"));
            }
            if e.sensitive {
                summary.push_str(" [sensitive]");
            }
            if let Some(dev) = &e.device {
                summary.push_str(&format!(" · {dev}"));
            }
            timeline.push(TimelineItem {
                at: e.at,
                source: TimelineSource::Event,
                subject: sid.clone(),
                summary,
                ip: e.ip.clone(),
                place: e.place.clone(),
                notable: denied || e.sensitive || moved,
            });
        }
        if charts && chart_list.len() < MAX_SESSION_CHARTS {
            chart_list.push((
                view.session.top_finding.as_ref().map(|f| f.score).unwrap_or(0),
                Chart {
                    title: format!(
                        "Session {} of {}",
                        view.session.id,
                        view.session.username.as_deref().unwrap_or(&view.session.user_id)
                    ),
                    rate_svg: view.rate_svg.clone(),
                    map_svg: view.map_svg.clone(),
                },
            ));
        }
        sessions.push(view.session);
    }
    let mut users = Vec::new();
    for uid in &incident.users {
        if let Some(u) = views::users_by_id(store, &profile, std::slice::from_ref(uid))
            .await?
            .pop()
        {
            users.push(u);
        }
    }
    let mut user_charts = Vec::new();
    if charts {
        let mut by_risk: Vec<&UserSummary> = users.iter().collect();
        by_risk.sort_by_key(|u| std::cmp::Reverse(u.risk));
        for u in by_risk.into_iter().take(MAX_USER_CHARTS) {
            let v = views::user_view(store, &profile, &u.id, Theme::Light, attribution.clone()).await?;
            user_charts.push(Chart {
                title: format!("All sessions of {}", u.username),
                rate_svg: v.rate_svg,
                map_svg: v.map_svg,
            });
        }
    }
    // Findings of the users' other sessions are not pulled in: the analyst chose the scope.
    let findings: Vec<FindingRow> = {
        let mut v: Vec<FindingRow> = findings.into_values().collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.score.cmp(&a.score))
                .then(a.id.cmp(&b.id))
        });
        v
    };
    for f in &findings {
        let explanation = f.finding["explanation"].as_str().unwrap_or("").to_string();
        timeline.push(TimelineItem {
            at: f.detected_at,
            source: TimelineSource::Finding,
            subject: f.id.clone(),
            summary: format!(
                "{} finding ({}, score {}): {explanation}",
                f.kind.as_str(),
                f.severity.as_str(),
                f.score
            ),
            ip: None,
            place: None,
            notable: true,
        });
    }

    let mut targets: Vec<String> = incident.sessions.clone();
    targets.extend(incident.users.iter().cloned());
    targets.extend(findings.iter().map(|f| f.id.clone()));
    targets.extend(jtis);
    targets.push(incident.id.clone());
    let mut entries = crate::audit::about(store, &profile, &targets, 5_000).await?;
    entries.reverse();
    let mut actions = Vec::new();
    for e in &entries {
        if let Some(a) = action_record(e) {
            timeline.push(TimelineItem {
                at: a.at,
                source: TimelineSource::Action,
                subject: a.target.clone(),
                summary: action_summary(&a),
                ip: None,
                place: None,
                notable: true,
            });
            actions.push(a);
        } else if e.action == "ssf.received" {
            timeline.push(TimelineItem {
                at: e.at,
                source: TimelineSource::Signal,
                subject: e.target.clone().unwrap_or_default(),
                summary: signal_summary(e),
                ip: None,
                place: None,
                notable: true,
            });
        } else if e.action.starts_with("incident.") || e.action.starts_with("finding.") {
            timeline.push(TimelineItem {
                at: e.at,
                source: TimelineSource::Analyst,
                subject: e.target.clone().unwrap_or_default(),
                summary: format!("{} by {}", e.action, e.actor),
                ip: None,
                place: None,
                notable: true,
            });
        }
    }
    timeline.sort_by(|a, b| a.at.cmp(&b.at).then(a.source.cmp(&b.source)));

    let mut charts_out: Vec<Chart> = {
        chart_list.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        chart_list.into_iter().map(|(_, c)| c).collect()
    };
    charts_out.extend(user_charts);
    // The SVGs come from render/, which only emits plain drawing elements; refuse anything else
    // rather than inline it.
    charts_out.retain(|c| safe_svg(&c.rate_svg) && safe_svg(&c.map_svg));

    Ok(ReportData {
        incident,
        generated_at: Utc::now(),
        generated_by: actor.to_string(),
        generator: format!("Gatehouse {}", env!("CARGO_PKG_VERSION")),
        users,
        sessions,
        findings,
        actions,
        timeline,
        timeline_truncated,
        charts: charts_out,
        geoip_attribution: attribution,
    })
}

/// Whether an SVG holds only the plain drawing elements `render/` emits, with no event handler,
/// link or style attribute. Text content cannot hide a tag: render/ escapes `<` in labels.
fn safe_svg(svg: &str) -> bool {
    const ELEMENTS: [&str; 10] = [
        "svg", "rect", "line", "polyline", "polygon", "circle", "text", "path", "g", "ellipse",
    ];
    if !svg.starts_with("<svg") {
        return false;
    }
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + len];
        rest = &rest[start + len + 1..];
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect();
        if !ELEMENTS.contains(&name.as_str()) {
            return false;
        }
        // Attribute names: identifiers followed by '=' outside quoted values.
        let mut quote: Option<char> = None;
        let mut word = String::new();
        for c in tag[name.len()..].chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '=' => {
                    let attr = word.to_ascii_lowercase();
                    if attr.starts_with("on") || attr.contains("href") || attr == "style" {
                        return false;
                    }
                    word.clear();
                }
                None if c.is_whitespace() => word.clear(),
                None => word.push(c),
            }
        }
    }
    true
}

fn action_record(e: &Entry) -> Option<ActionRecord> {
    let (kind, phase) = e.action.rsplit_once('.')?;
    if !matches!(
        kind,
        "revoke_session" | "revoke_user_sessions" | "revoke_token" | "force_password_reset"
    ) {
        return None;
    }
    let d = &e.detail;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let base = |outcome: &str| ActionRecord {
        at: e.at,
        action_id: text(&d["action_id"]).unwrap_or_default(),
        kind: kind.to_string(),
        target: e.target.clone().unwrap_or_default(),
        actor: e.actor.clone(),
        outcome: outcome.to_string(),
        verified: false,
        checks: Vec::new(),
        residual: None,
        sessions_revoked: Vec::new(),
        error: None,
        audit_seq: e.seq,
        audit_hash: e.hash.clone(),
    };
    match phase {
        "outcome" => {
            let mut a = base("succeeded");
            a.verified = d["verified"].as_bool().unwrap_or(false);
            a.checks = d["checks"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| Check {
                            what: text(&c["what"]).unwrap_or_default(),
                            ok: c["ok"].as_bool().unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default();
            a.residual = d.get("residual").map(|r| Residual {
                until: r["until"].as_str().and_then(|s| s.parse().ok()),
                note: text(&r["note"]).unwrap_or_default(),
            });
            a.sessions_revoked = d["sessionsRevoked"]
                .as_array()
                .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            Some(a)
        }
        "failed" => {
            let mut a = base("failed");
            a.error = text(&d["error"]);
            Some(a)
        }
        _ => None,
    }
}

/// "session-revoked from https://idp.example (2 sessions ended here)".
fn signal_summary(e: &Entry) -> String {
    let event = e.detail["event"].as_str().unwrap_or("unknown event");
    let short = event.rsplit('/').next().unwrap_or(event);
    let from = e.actor.strip_prefix("ssf:").unwrap_or(&e.actor);
    let ended = e.detail["applied"]["sessionsEnded"]
        .as_array()
        .map_or(0, Vec::len);
    let effect = match (e.detail["applied"]["effect"].as_str(), ended) {
        (Some("ended"), 1) => " (the session was ended here)".to_string(),
        (Some("ended"), n) => format!(" ({n} sessions ended here)"),
        (Some("unresolved"), _) => " (names nobody known here)".to_string(),
        _ => String::new(),
    };
    format!("{short} from {from}{effect}")
}

fn action_summary(a: &ActionRecord) -> String {
    let mut s = format!("{} {}: {}", a.kind, a.target, a.outcome);
    if a.outcome == "succeeded" {
        s.push_str(if a.verified {
            ", verified"
        } else {
            ", NOT verified"
        });
    }
    if let Some(r) = &a.residual {
        match r.until {
            Some(t) => s.push_str(&format!("; residual exposure until {}", fmt_time(t))),
            None => s.push_str("; no residual exposure"),
        }
    }
    if let Some(e) = &a.error {
        s.push_str(&format!(" ({e})"));
    }
    s
}

/// The timeline as printed (HTML, PDF): findings, actions, analyst entries and notable requests,
/// at most [`PRINTED_TIMELINE_MAX`] rows (the first ones, where the story starts, and the last
/// ones); returns the rows and how many were left out.
pub fn printed_timeline(data: &ReportData) -> (Vec<&TimelineItem>, usize) {
    let notable: Vec<&TimelineItem> = data.timeline.iter().filter(|t| t.notable).collect();
    let omitted_routine = data.timeline.len() - notable.len();
    if notable.len() <= PRINTED_TIMELINE_MAX {
        return (notable, omitted_routine);
    }
    let head = PRINTED_TIMELINE_MAX / 2;
    let tail = PRINTED_TIMELINE_MAX - head;
    let mut rows: Vec<&TimelineItem> = notable[..head].to_vec();
    rows.extend_from_slice(&notable[notable.len() - tail..]);
    (rows, omitted_routine + notable.len() - PRINTED_TIMELINE_MAX)
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Removes what no report format can show safely: control characters (but newlines and tabs)
/// and bidi overrides that disguise text; bounds the length.
pub fn clean(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (n, c) in s
        .chars()
        .filter(|c| {
            let control = c.is_control() && *c != '\n' && *c != '\t';
            let bidi =
                matches!(*c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
            !(control || bidi)
        })
        .enumerate()
    {
        if n >= max_chars {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// The files of one export, in write order (the manifest is added by [`export`]).
fn render(data: &ReportData, format: ReportFormat, path: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
    Ok(match format {
        ReportFormat::Html => vec![(path.to_path_buf(), html::render(data).into_bytes())],
        ReportFormat::Md => vec![(path.to_path_buf(), md::render(data).into_bytes())],
        ReportFormat::Json => vec![(path.to_path_buf(), ocsf::render(data)?)],
        ReportFormat::Pdf => vec![(path.to_path_buf(), pdf::render(data)?)],
        ReportFormat::Csv => vec![
            (path.to_path_buf(), csv::timeline(data).into_bytes()),
            (sessions_csv_path(path), csv::sessions(data).into_bytes()),
        ],
    })
}

/// `<stem>.sessions.csv` next to the timeline CSV.
pub fn sessions_csv_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".csv").unwrap_or(&name);
    path.with_file_name(format!("{stem}.sessions.csv"))
}

pub fn manifest_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.manifest.json"))
}

/// Where an export is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum ExportStage {
    /// Reading the incident, timeline and actions; rendering charts.
    Gathering,
    /// Getting the signing key from the OS keyring.
    Signing,
    /// Rendering the format and writing the files.
    Writing,
    Done,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ExportResult {
    pub format: ReportFormat,
    /// The report file(s), then the manifest.
    pub files: Vec<String>,
    pub manifest: String,
    pub bytes: u64,
    /// The signing key's id (first 16 hex digits of the SHA-256 of the public key).
    pub key_id: String,
}

/// Renders `data` as `format` at `path`, signs the manifest with `key` and writes the set
/// atomically.
pub fn export(
    data: &ReportData,
    format: ReportFormat,
    path: &Path,
    key: &ed25519_dalek::SigningKey,
) -> Result<ExportResult, Error> {
    check_target(path)?;
    let mut files = render(data, format, path)?;
    let manifest_path = manifest_path(path);
    let manifest = manifest::build(data, format, &files, key)?;
    files.push((manifest_path.clone(), manifest));
    write_all_atomic(&files)?;
    Ok(ExportResult {
        format,
        bytes: files.iter().map(|(_, b)| b.len() as u64).sum(),
        files: files.iter().map(|(p, _)| p.display().to_string()).collect(),
        manifest: manifest_path.display().to_string(),
        key_id: manifest::key_id(&key.verifying_key()),
    })
}

/// Refuses targets that cannot work before anything is rendered: a folder, a missing folder.
fn check_target(path: &Path) -> Result<(), Error> {
    let fail = |reason: &str| Error::Write {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if path.file_name().is_none() {
        return Err(fail("the path names no file"));
    }
    if path.is_dir() {
        return Err(fail("it is a folder; give a file name"));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(fail(&format!("the folder {} does not exist", parent.display())));
    }
    Ok(())
}

/// Writes each file to a temporary file next to it, then renames them all into place. On any
/// failure, removes every temporary file and every file this call already renamed.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<(), Error> {
    write_all_atomic_with(files, &|tmp, bytes| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// [`write_all_atomic`] with the step that fills one temporary file given (tests use it to fail
/// the way a full disk does, half-way through a file).
fn write_all_atomic_with(
    files: &[(PathBuf, Vec<u8>)],
    fill: &dyn Fn(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<(), Error> {
    let mut temps: Vec<PathBuf> = Vec::new();
    let cleanup = |temps: &[PathBuf]| {
        for t in temps {
            let _ = std::fs::remove_file(t);
        }
    };
    for (path, bytes) in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(rand::random::<[u8; 6]>())));
        match fill(&tmp, bytes) {
            Ok(()) => temps.push(tmp),
            Err(e) => {
                // The temp file may exist half-written (a full disk).
                let _ = std::fs::remove_file(&tmp);
                cleanup(&temps);
                return Err(Error::Write {
                    path: path.clone(),
                    reason: io_reason(&e),
                });
            }
        }
    }
    let mut placed: Vec<PathBuf> = Vec::new();
    for (i, (path, _)) in files.iter().enumerate() {
        if let Err(e) = std::fs::rename(&temps[i], path) {
            cleanup(&temps[i..]);
            cleanup(&placed);
            return Err(Error::Write {
                path: path.clone(),
                reason: io_reason(&e),
            });
        }
        placed.push(path.clone());
    }
    if let Some(dir) = files.first().and_then(|(p, _)| p.parent())
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::StorageFull => "the disk is full".into(),
        std::io::ErrorKind::NotFound => "the folder does not exist".into(),
        std::io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
