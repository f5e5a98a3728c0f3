//! One self-contained HTML file: no scripts, no external requests (a CSP meta forbids both), the
//! charts inline as the SVG `render/` made, print-friendly CSS. The output is also well-formed
//! XML (every element closed, only XML's five named entities), which keeps it easy to check.

use std::fmt::Write as _;

use super::{ReportData, clean, fmt_time, printed_timeline, severity_label};

const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1b1f24; margin: 2em auto; max-width: 60em; padding: 0 1em; font-size: 14px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #c9ced6; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #d5d9df; padding: 0.25em 0.45em; text-align: left; vertical-align: top; word-break: break-word; }
th { background: #f0f2f5; }
.meta td:first-child { width: 12em; font-weight: bold; }
.sev { font-weight: bold; padding: 0 0.35em; border-radius: 3px; color: #fff; }
.sev-low { background: #6b7785; } .sev-medium { background: #b7791f; } .sev-high { background: #c05621; } .sev-critical { background: #b91c1c; }
.ok { color: #1e7a3c; font-weight: bold; } .bad { color: #b91c1c; font-weight: bold; }
.finding, .action, figure { border: 1px solid #d5d9df; border-radius: 4px; padding: 0.6em 0.8em; margin: 0.7em 0; }
figure svg { width: 100%; height: auto; display: block; margin: 0.3em 0; }
figcaption { font-weight: bold; }
.notes { white-space: pre-wrap; background: #f7f8fa; padding: 0.6em; border-radius: 4px; }
.muted { color: #5b6470; font-size: 0.9em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { page-break-after: avoid; }
  .finding, .action, figure, tr { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Escapes text for HTML element content and quoted attributes; removes what XML forbids.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in clean(s, 20_000).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn sev(s: crate::detect::Severity) -> String {
    format!(
        "<span class=\"sev sev-{}\">{}</span>",
        s.as_str(),
        severity_label(s)
    )
}

pub(super) fn render(d: &ReportData) -> String {
    let inc = &d.incident;
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\" />\n\
         <meta name=\"referrer\" content=\"no-referrer\" />\n\
         <meta name=\"generator\" content=\"{}\" />\n<title>{} — incident report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&d.generator),
        esc(&inc.title)
    );
    let _ = write!(
        h,
        "<header>\n<h1 id=\"title\">{}</h1>\n<p class=\"muted\">Incident report {} · generated {} by {} with {}</p>\n</header>\n",
        esc(&inc.title),
        esc(&inc.id),
        fmt_time(d.generated_at),
        esc(&d.generated_by),
        esc(&d.generator)
    );

    // Summary.
    let verified = d.actions.iter().filter(|a| a.verified).count();
    let _ = write!(
        h,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"meta\">\n\
         <tr><td>Severity</td><td>{}</td></tr>\n<tr><td>Status</td><td>{}</td></tr>\n\
         <tr><td>Profile</td><td>{}</td></tr>\n<tr><td>Opened</td><td>{} by {}</td></tr>\n\
         <tr><td>Last change</td><td>{}</td></tr>\n{}\
         <tr><td>Affected users</td><td>{}</td></tr>\n<tr><td>Affected sessions</td><td>{}</td></tr>\n\
         <tr><td>Findings</td><td>{}</td></tr>\n<tr><td>Actions</td><td>{} ({} verified)</td></tr>\n</table>\n",
        sev(inc.severity),
        inc.status.as_str(),
        esc(&inc.profile),
        fmt_time(inc.created_at),
        esc(&inc.created_by),
        fmt_time(inc.updated_at),
        inc.closed_at
            .map(|t| format!("<tr><td>Closed</td><td>{}</td></tr>\n", fmt_time(t)))
            .unwrap_or_default(),
        d.users
            .iter()
            .map(|u| format!("{} ({})", esc(&u.username), esc(&u.id)))
            .collect::<Vec<_>>()
            .join(", "),
        d.sessions.len(),
        d.findings.len(),
        d.actions.len(),
        verified
    );
    if !inc.notes.trim().is_empty() {
        let _ = write!(
            h,
            "<h3>Analyst notes</h3>\n<div class=\"notes\">{}</div>\n",
            esc(&inc.notes)
        );
    }
    h.push_str("</section>\n");

    // Findings.
    h.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if d.findings.is_empty() {
        h.push_str("<p>No findings.</p>\n");
    }
    for f in &d.findings {
        let _ = write!(
            h,
            "<div class=\"finding\" id=\"{}\">\n<h3>{} {} · score {}</h3>\n<p>{}</p>\n\
             <p class=\"muted\">User {} · session {} · detected {} · last seen {}{}</p>\n",
            esc(&f.id),
            sev(f.severity),
            esc(f.kind.as_str()),
            f.score,
            esc(f.finding["explanation"].as_str().unwrap_or("")),
            esc(f.username.as_deref().unwrap_or(&f.user_id)),
            esc(f.session_id.as_deref().unwrap_or("-")),
            fmt_time(f.detected_at),
            fmt_time(f.last_seen),
            match f.verdict {
                Some(crate::detect::Verdict::TruePositive) => " · verdict: true positive",
                Some(crate::detect::Verdict::FalsePositive) => " · verdict: false positive",
                None => "",
            }
        );
        if let Some(ev) = f.finding["evidence"].as_array().filter(|e| !e.is_empty()) {
            h.push_str("<table>\n<tr><th>Evidence</th><th>Score</th><th>Explanation</th></tr>\n");
            for e in ev {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(e["kind"].as_str().unwrap_or("")),
                    e["score"].as_u64().unwrap_or(0),
                    esc(e["explanation"].as_str().unwrap_or(""))
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");

    // Actions.
    h.push_str("<section id=\"actions\">\n<h2>Actions taken</h2>\n");
    if d.actions.is_empty() {
        h.push_str("<p>No containment action was recorded for these sessions and users.</p>\n");
    }
    for a in &d.actions {
        let outcome = if a.outcome == "succeeded" && a.verified {
            "<span class=\"ok\">succeeded, verified</span>".to_string()
        } else if a.outcome == "succeeded" {
            "<span class=\"bad\">succeeded, NOT verified</span>".to_string()
        } else {
            format!(
                "<span class=\"bad\">failed</span>{}",
                a.error
                    .as_ref()
                    .map(|e| format!(": {}", esc(e)))
                    .unwrap_or_default()
            )
        };
        let _ = write!(
            h,
            "<div class=\"action\" id=\"{}\">\n<h3>{} {}</h3>\n<p>{} · {} by {} · audit entry #{}</p>\n",
            esc(&a.action_id),
            esc(&a.kind),
            esc(&a.target),
            outcome,
            fmt_time(a.at),
            esc(&a.actor),
            a.audit_seq
        );
        if !a.checks.is_empty() {
            h.push_str("<ul class=\"checks\">\n");
            for c in &a.checks {
                let _ = writeln!(
                    h,
                    "<li><span class=\"{}\">{}</span> {}</li>",
                    if c.ok { "ok" } else { "bad" },
                    if c.ok { "ok" } else { "FAILED" },
                    esc(&c.what)
                );
            }
            h.push_str("</ul>\n");
        }
        if let Some(r) = &a.residual {
            let _ = writeln!(
                h,
                "<p class=\"residual\">Residual exposure: {}{}</p>",
                match r.until {
                    Some(t) => format!("until {} — ", fmt_time(t)),
                    None => "none — ".into(),
                },
                esc(&r.note)
            );
        }
        if !a.sessions_revoked.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"muted\">Sessions revoked: {}</p>",
                a.sessions_revoked
                    .iter()
                    .map(|s| esc(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");

    // Charts.
    if !d.charts.is_empty() {
        h.push_str("<section id=\"charts\">\n<h2>Activity and places</h2>\n");
        for c in &d.charts {
            let _ = write!(
                h,
                "<figure>\n<figcaption>{}</figcaption>\n{}\n{}\n</figure>\n",
                esc(&c.title),
                c.rate_svg,
                c.map_svg
            );
        }
        h.push_str("</section>\n");
    }

    // Timeline.
    let (rows, omitted) = printed_timeline(d);
    h.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    if omitted > 0 {
        let _ = writeln!(
            h,
            "<p class=\"muted\">{omitted} routine requests are left out here; the CSV export has every item.</p>"
        );
    }
    h.push_str(
        "<table>\n<tr><th>Time (UTC)</th><th>Source</th><th>Subject</th><th>What</th><th>Where</th></tr>\n",
    );
    for t in rows {
        let place = match (&t.place, &t.ip) {
            (Some(p), Some(ip)) => format!("{} ({})", esc(p), esc(ip)),
            (Some(p), None) => esc(p),
            (None, Some(ip)) => esc(ip),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr class=\"src-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.source.as_str(),
            t.at.format("%Y-%m-%d %H:%M:%S"),
            t.source.as_str(),
            esc(&t.subject),
            esc(&t.summary),
            place
        );
    }
    h.push_str("</table>\n</section>\n");

    // Sessions.
    h.push_str("<section id=\"sessions\">\n<h2>Affected sessions</h2>\n<table>\n\
        <tr><th>Session</th><th>User</th><th>Started</th><th>Last seen</th><th>Place</th><th>Device</th><th>Requests</th><th>State</th></tr>\n");
    for s in &d.sessions {
        let place = [s.city.as_deref(), s.country.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        let state = match s.revoked_at {
            Some(t) => format!("revoked {}", fmt_time(t)),
            None if s.active => "active".into(),
            None => "ended".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({} denied)</td><td>{}</td></tr>",
            esc(&s.id),
            esc(s.username.as_deref().unwrap_or(&s.user_id)),
            fmt_time(s.started_at),
            s.last_seen_at.map(fmt_time).unwrap_or_default(),
            esc(&place),
            esc(s.device.as_deref().unwrap_or("")),
            s.events,
            s.denied,
            state
        );
    }
    h.push_str("</table>\n</section>\n");

    let _ = write!(
        h,
        "<footer>\n<p class=\"muted\">{}This report is signed: check it with <code>gatehouse report verify</code> and the manifest next to it.</p>\n</footer>\n</body>\n</html>\n",
        d.geoip_attribution
            .as_ref()
            .map(|a| format!("{}. ", esc(a)))
            .unwrap_or_default()
    );
    h
}
