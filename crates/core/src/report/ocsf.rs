//! OCSF 1.3 JSON inside a small Gatehouse envelope: one Detection Finding (class 2004) per
//! finding with its evidence, the affected sessions (OCSF `session` objects with their user and
//! endpoint), and one Remediation Activity (class 7001) per containment action.
//!
//! Required attributes filled for every event: `activity_id`, `category_uid`, `class_uid`,
//! `type_uid`, `time`, `severity_id`, `metadata.version`, `metadata.product`; for findings
//! `finding_info.uid` (and the recommended `title`); for remediations `command_uid`.

use serde_json::{Value, json};

use super::{Error, ReportData, severity_label};
use crate::detect::{Severity, Verdict};
use crate::incident::IncidentStatus;

pub const OCSF_VERSION: &str = "1.3.0";

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn metadata(d: &ReportData, uid: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "uid": uid,
        "product": {
            "name": "Gatehouse",
            "vendor_name": "Gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "correlation_uid": d.incident.id,
        "logged_time": ms(d.generated_at),
    })
}

/// An OCSF network endpoint from one side of a piece of evidence (the engine's `Side`).
fn endpoint(side: &Value) -> Value {
    let mut ep = serde_json::Map::new();
    if let Some(ip) = side["ip"].as_str() {
        ep.insert("ip".into(), json!(ip));
    }
    let place = &side["place"];
    if place.is_object() {
        let mut loc = serde_json::Map::new();
        for (from, to) in [("city", "city"), ("country", "country")] {
            if let Some(v) = place[from].as_str() {
                loc.insert(to.into(), json!(v));
            }
        }
        // The engine writes coords as [lat, lon]; OCSF wants [lon, lat].
        if let (Some(lat), Some(lon)) = (place["coords"][0].as_f64(), place["coords"][1].as_f64()) {
            loc.insert("coordinates".into(), json!([lon, lat]));
        }
        if !loc.is_empty() {
            ep.insert("location".into(), Value::Object(loc));
        }
    }
    Value::Object(ep)
}

pub(super) fn render(d: &ReportData) -> Result<Vec<u8>, Error> {
    let closed = d.incident.status == IncidentStatus::Closed;
    let findings: Vec<Value> = d
        .findings
        .iter()
        .map(|f| {
            let (status_id, status) = match (f.verdict, closed) {
                (Some(Verdict::FalsePositive), _) => (3, "Suppressed"),
                (_, true) => (4, "Resolved"),
                _ => (2, "In Progress"),
            };
            let evidences: Vec<Value> = f.finding["evidence"]
                .as_array()
                .map(|ev| {
                    ev.iter()
                        .map(|e| {
                            json!({
                                "src_endpoint": endpoint(&e["event"]),
                                "data": {
                                    "kind": e["kind"],
                                    "at": e["at"],
                                    "score": e["score"],
                                    "explanation": e["explanation"],
                                    "facts": e["facts"],
                                    "event": e["event"],
                                    "previous": e["previous"],
                                },
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut resources = vec![json!({
                "uid": f.user_id,
                "name": f.username.as_deref().unwrap_or(&f.user_id),
                "type": "User",
            })];
            if let Some(s) = &f.session_id {
                resources.push(json!({ "uid": s, "type": "Session" }));
            }
            json!({
                "class_uid": 2004,
                "class_name": "Detection Finding",
                "category_uid": 2,
                "category_name": "Findings",
                "activity_id": 1,
                "activity_name": "Create",
                "type_uid": 200401,
                "type_name": "Detection Finding: Create",
                "time": ms(f.detected_at),
                "start_time": f.finding["first_seen"],
                "end_time": ms(f.last_seen),
                "severity_id": severity_id(f.severity),
                "severity": severity_label(f.severity),
                "status_id": status_id,
                "status": status,
                "is_alert": true,
                "risk_score": f.score,
                "message": f.finding["explanation"],
                "metadata": metadata(d, &f.id),
                "finding_info": {
                    "uid": f.id,
                    "title": format!("{} ({})", f.kind.as_str(), f.username.as_deref().unwrap_or(&f.user_id)),
                    "desc": f.finding["explanation"],
                    "types": [f.kind.as_str()],
                    "created_time": ms(f.detected_at),
                    "last_seen_time": ms(f.last_seen),
                    "analytic": { "uid": f.kind.as_str(), "name": f.kind.as_str(), "type_id": 1, "type": "Rule" },
                },
                "actor": {
                    "user": { "uid": f.user_id, "name": f.username },
                    "session": f.session_id.as_ref().map(|s| json!({ "uid": s })),
                },
                "resources": resources,
                "evidences": evidences,
            })
        })
        .collect();

    let sessions: Vec<Value> = d
        .sessions
        .iter()
        .map(|s| {
            let mut loc = serde_json::Map::new();
            if let Some(c) = &s.city {
                loc.insert("city".into(), json!(c));
            }
            if let Some(c) = &s.country {
                loc.insert("country".into(), json!(c));
            }
            json!({
                "uid": s.id,
                "created_time": ms(s.started_at),
                "expiration_time": s.expires_at.map(ms),
                "is_remote": true,
                "user": { "uid": s.user_id, "name": s.username },
                "src_endpoint": { "ip": s.ip, "location": loc },
                "http_request": { "user_agent": s.user_agent },
                "device": s.device,
                "active": s.active,
                "revoked_time": s.revoked_at.map(ms),
                "last_seen_time": s.last_seen_at.map(ms),
                "requests": s.events,
                "denied_requests": s.denied,
            })
        })
        .collect();

    let remediations: Vec<Value> = d
        .actions
        .iter()
        .map(|a| {
            let (activity_id, activity) = if a.kind == "force_password_reset" {
                (4, "Harden")
            } else {
                (2, "Evict")
            };
            let (status_id, status) = match (a.outcome.as_str(), a.verified) {
                ("succeeded", true) => (1, "Success"),
                ("succeeded", false) => (4, "Partial"),
                _ => (2, "Failure"),
            };
            json!({
                "class_uid": 7001,
                "class_name": "Remediation Activity",
                "category_uid": 7,
                "category_name": "Remediation",
                "activity_id": activity_id,
                "activity_name": activity,
                "type_uid": 700100 + activity_id,
                "type_name": format!("Remediation Activity: {activity}"),
                "time": ms(a.at),
                "severity_id": 1,
                "severity": "Informational",
                "status_id": status_id,
                "status": status,
                "status_detail": a.error,
                "command_uid": a.action_id,
                "message": format!("{} {}", a.kind, a.target),
                "metadata": metadata(d, &a.action_id),
                "actor": { "user": { "name": a.actor } },
                "remediation": {
                    "desc": a.residual.as_ref().map(|r| r.note.clone()),
                },
                "unmapped": {
                    "gatehouse_kind": a.kind,
                    "target": a.target,
                    "verified": a.verified,
                    "checks": a.checks,
                    "residual_exposure_until": a.residual.as_ref().and_then(|r| r.until).map(ms),
                    "sessions_revoked": a.sessions_revoked,
                    "audit_seq": a.audit_seq,
                    "audit_hash": a.audit_hash,
                },
            })
        })
        .collect();

    let inc = &d.incident;
    let doc = json!({
        "gatehouse_report": {
            "version": 1,
            "ocsf_version": OCSF_VERSION,
            "generated_at": d.generated_at.to_rfc3339(),
            "generated_by": d.generated_by,
            "generator": d.generator,
        },
        "incident": {
            "uid": inc.id,
            "title": inc.title,
            "severity_id": severity_id(inc.severity),
            "severity": severity_label(inc.severity),
            "status": inc.status.as_str(),
            "notes": inc.notes,
            "profile": inc.profile,
            "created_by": inc.created_by,
            "created_time": ms(inc.created_at),
            "modified_time": ms(inc.updated_at),
            "closed_time": inc.closed_at.map(ms),
            "users": d.users.iter().map(|u| json!({ "uid": u.id, "name": u.username, "email_addr": u.email })).collect::<Vec<_>>(),
        },
        "findings": findings,
        "sessions": sessions,
        "remediations": remediations,
        "geoip_attribution": d.geoip_attribution,
    });
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Encode(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}
