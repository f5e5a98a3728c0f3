//! CSV for spreadsheets: the whole timeline, and the affected sessions. Every text cell is
//! guarded against formula injection (a leading `= + - @`, tab or carriage return gets a `'`).

use super::{ReportData, clean};

fn cell(s: &str) -> String {
    let s = clean(s, 10_000);
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn line(out: &mut String, cells: &[String]) {
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

pub(super) fn timeline(d: &ReportData) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &["time", "source", "subject", "summary", "ip", "place"].map(String::from),
    );
    for t in &d.timeline {
        line(
            &mut out,
            &[
                time(Some(t.at)),
                t.source.as_str().to_string(),
                cell(&t.subject),
                cell(&t.summary),
                cell(t.ip.as_deref().unwrap_or("")),
                cell(t.place.as_deref().unwrap_or("")),
            ],
        );
    }
    out
}

pub(super) fn sessions(d: &ReportData) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &[
            "session_id",
            "user_id",
            "username",
            "started_at",
            "last_seen_at",
            "expires_at",
            "active",
            "revoked_at",
            "ip",
            "city",
            "country",
            "network",
            "device",
            "requests",
            "denied",
            "top_finding_severity",
            "top_finding_kind",
        ]
        .map(String::from),
    );
    for s in &d.sessions {
        line(
            &mut out,
            &[
                cell(&s.id),
                cell(&s.user_id),
                cell(s.username.as_deref().unwrap_or("")),
                time(Some(s.started_at)),
                time(s.last_seen_at),
                time(s.expires_at),
                s.active.to_string(),
                time(s.revoked_at),
                cell(s.ip.as_deref().unwrap_or("")),
                cell(s.city.as_deref().unwrap_or("")),
                cell(s.country.as_deref().unwrap_or("")),
                cell(s.org.as_deref().or(s.network_class.as_deref()).unwrap_or("")),
                cell(s.device.as_deref().unwrap_or("")),
                s.events.to_string(),
                s.denied.to_string(),
                s.top_finding
                    .as_ref()
                    .map(|f| f.severity.as_str().to_string())
                    .unwrap_or_default(),
                cell(s.top_finding.as_ref().map(|f| f.kind.as_str()).unwrap_or("")),
            ],
        );
    }
    out
}
