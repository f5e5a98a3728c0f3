//! A short Markdown summary for a ticket: what happened, what was done, what remains.

use std::fmt::Write as _;

use super::{ReportData, clean, fmt_time, severity_label};

/// Escapes Markdown (and the HTML many renderers allow) in one line of untrusted text.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in clean(s, 2_000).chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.' | '!'
            | '|' | '~' | '>' | '<' | '&' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub(super) fn render(d: &ReportData) -> String {
    let inc = &d.incident;
    let mut m = String::new();
    let _ = writeln!(m, "## Incident: {}\n", esc(&inc.title));
    let _ = writeln!(
        m,
        "**Severity:** {} · **Status:** {} · **Id:** `{}` · **Opened:** {} by {}\n",
        severity_label(inc.severity),
        inc.status.as_str(),
        inc.id,
        fmt_time(inc.created_at),
        esc(&inc.created_by)
    );
    let users: Vec<String> = d.users.iter().map(|u| esc(&u.username)).collect();
    let _ = writeln!(
        m,
        "**Affected:** {} user(s) ({}), {} session(s). **Findings:** {}. **Actions:** {}.\n",
        d.users.len(),
        users.join(", "),
        d.sessions.len(),
        d.findings.len(),
        d.actions.len()
    );
    if !d.findings.is_empty() {
        m.push_str("### Findings\n\n");
        for f in d.findings.iter().take(10) {
            let _ = writeln!(
                m,
                "- **{}** {} (score {}), {}: {}",
                severity_label(f.severity),
                esc(f.kind.as_str()),
                f.score,
                esc(f.username.as_deref().unwrap_or(&f.user_id)),
                esc(f.finding["explanation"].as_str().unwrap_or(""))
            );
        }
        if d.findings.len() > 10 {
            let _ = writeln!(m, "- … and {} more (see the full report)", d.findings.len() - 10);
        }
        m.push('\n');
    }
    m.push_str("### Actions taken\n\n");
    if d.actions.is_empty() {
        m.push_str("- None recorded.\n");
    }
    for a in &d.actions {
        let outcome = match (a.outcome.as_str(), a.verified) {
            ("succeeded", true) => "done, verified".to_string(),
            ("succeeded", false) => "done, **not verified**".to_string(),
            _ => format!("**failed**: {}", esc(a.error.as_deref().unwrap_or(""))),
        };
        let residual = match &a.residual {
            Some(r) => match r.until {
                Some(t) => format!("; residual exposure until {}", fmt_time(t)),
                None => "; no residual exposure".to_string(),
            },
            None => String::new(),
        };
        let _ = writeln!(
            m,
            "- {} {} `{}` {}: {outcome}{residual}",
            fmt_time(a.at),
            esc(&a.kind),
            a.target
                .replace('`', "'")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>(),
            esc(&a.actor)
        );
    }
    if !inc.notes.trim().is_empty() {
        let _ = writeln!(m, "\n### Notes\n\n{}", esc(&inc.notes));
    }
    let _ = writeln!(
        m,
        "\n_Generated {} by {} with {}. Signed: verify with `gatehouse report verify`._",
        fmt_time(d.generated_at),
        esc(&d.generated_by),
        esc(&d.generator)
    );
    m
}
