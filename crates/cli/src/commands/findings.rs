use clap::{Args, Subcommand, ValueEnum};
use gatehouse_core::Console;
use gatehouse_core::detect::feedback::ScopeKind;
use gatehouse_core::detect::{Feedback, Severity, Verdict};
use gatehouse_core::triage::FindingFilter;

use crate::output;

#[derive(Subcommand)]
pub enum FindingsCommand {
    /// Findings from the synced activity, most severe first (run `gatehouse sync` to refresh).
    List(ListArgs),
    /// One finding with its explanation and evidence.
    Show {
        /// The finding id (`f-…`).
        id: String,
    },
    /// Record a verdict: the finding was (or was not) a stolen session.
    Mark {
        id: String,
        #[arg(value_enum)]
        verdict: VerdictArg,
        /// Why (kept in the audit log).
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark a false positive and stop flagging what made it fire, for this user only.
    Suppress {
        id: String,
        /// Which attribute of the strongest evidence to suppress.
        #[arg(long, value_enum)]
        scope: ScopeArg,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Args)]
pub struct ListArgs {
    /// Only findings at least this severe.
    #[arg(long, value_enum)]
    severity: Option<SeverityArg>,
    /// Only this user's findings (backend user id).
    #[arg(long)]
    user: Option<String>,
    /// Only this session's finding.
    #[arg(long)]
    session: Option<String>,
    /// Leave out findings marked false positive.
    #[arg(long)]
    open: bool,
    #[arg(long, default_value_t = 500)]
    limit: u32,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Severity {
        match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum VerdictArg {
    TruePositive,
    FalsePositive,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Place,
    Network,
    Device,
}

pub async fn run(c: FindingsCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match c {
        FindingsCommand::List(a) => {
            let p = console.profile(profile)?;
            output::data_age(&console, &p.name).await;
            let filter = FindingFilter {
                min_severity: a.severity.map(Severity::from),
                user_id: a.user,
                session_id: a.session,
                hide_false_positives: a.open,
                limit: Some(a.limit),
                id: None,
            };
            let rows = console.findings(Some(&p.name), &filter).await?;
            if json {
                return output::json(&rows);
            }
            if rows.is_empty() {
                println!("No findings.");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.severity.as_str().to_string(),
                        r.score.to_string(),
                        r.kind.as_str().to_string(),
                        output::clean(r.username.as_deref().unwrap_or(&r.user_id), 40),
                        output::clean(r.session_id.as_deref().unwrap_or("-"), 40),
                        output::time(Some(r.detected_at)),
                        match r.verdict {
                            Some(Verdict::TruePositive) => "true positive".into(),
                            Some(Verdict::FalsePositive) => "false positive".into(),
                            None => String::new(),
                        },
                        r.id.clone(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "severity", "score", "kind", "user", "session", "detected", "verdict", "id",
                ],
                &table,
            );
            Ok(())
        }
        FindingsCommand::Show { id } => {
            let row = console.finding(profile, &id).await?;
            if json {
                return output::json(&row);
            }
            println!(
                "{} {} (score {}) user {} session {}",
                row.severity.as_str().to_uppercase(),
                row.id,
                row.score,
                output::clean(row.username.as_deref().unwrap_or(&row.user_id), 80),
                output::clean(row.session_id.as_deref().unwrap_or("-"), 80)
            );
            if let Some(text) = row.finding.get("explanation").and_then(|v| v.as_str()) {
                println!("{}", output::clean(text, 4000));
            }
            if let Some(evidence) = row.finding.get("evidence").and_then(|v| v.as_array()) {
                for ev in evidence {
                    let kind = ev.get("kind").and_then(|v| v.as_str()).unwrap_or("?");
                    let at = ev.get("at").and_then(|v| v.as_str()).unwrap_or("?");
                    let text = ev.get("explanation").and_then(|v| v.as_str()).unwrap_or("");
                    println!("  - {at} {kind}: {}", output::clean(text, 1000));
                }
            }
            Ok(())
        }
        FindingsCommand::Mark { id, verdict, note } => {
            let feedback = Feedback {
                finding_id: id.clone(),
                verdict: match verdict {
                    VerdictArg::TruePositive => Verdict::TruePositive,
                    VerdictArg::FalsePositive => Verdict::FalsePositive,
                },
                note,
            };
            console.set_verdict(profile, &feedback).await?;
            if json {
                return output::json(&feedback);
            }
            println!("marked {id}");
            Ok(())
        }
        FindingsCommand::Suppress { id, scope, note } => {
            let scope = match scope {
                ScopeArg::Place => ScopeKind::Place,
                ScopeArg::Network => ScopeKind::Network,
                ScopeArg::Device => ScopeKind::Device,
            };
            let s = console.suppress(profile, &id, scope, note).await?;
            if json {
                return output::json(&s);
            }
            println!(
                "suppressed for user {}: {}",
                output::clean(&s.user, 80),
                output::clean(&serde_json::to_string(&s.scope)?, 200)
            );
            Ok(())
        }
    }
}
