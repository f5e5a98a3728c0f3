use clap::{Args, Subcommand, ValueEnum};
use gatehouse_core::Console;
use gatehouse_core::detect::Severity;
use gatehouse_core::incident::{IncidentStatus, IncidentUpdate, NewIncident};

use crate::output;

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// Gather findings, sessions and users into a new incident (at least one of them).
    Create(CreateArgs),
    /// The profile's incidents, newest first.
    List,
    /// One incident: summary, findings, actions and the merged timeline.
    Show {
        /// The incident id (`inc-…`).
        id: String,
    },
    /// Change status, severity, title or notes.
    Update(UpdateArgs),
    /// Close an incident.
    Close {
        id: String,
        /// Closing notes (replace the notes).
        #[arg(long)]
        notes: Option<String>,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    title: String,
    /// Default: the strongest finding's severity, else medium.
    #[arg(long, value_enum)]
    severity: Option<super::findings::SeverityArg>,
    #[arg(long, default_value = "")]
    notes: String,
    /// A finding id (repeatable); brings its session and user.
    #[arg(long = "finding")]
    findings: Vec<String>,
    /// A session id (repeatable); brings its user.
    #[arg(long = "session")]
    sessions: Vec<String>,
    /// A user id (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    id: String,
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    #[arg(long, value_enum)]
    severity: Option<super::findings::SeverityArg>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    notes: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Open,
    Contained,
    Closed,
}

fn status(s: StatusArg) -> IncidentStatus {
    match s {
        StatusArg::Open => IncidentStatus::Open,
        StatusArg::Contained => IncidentStatus::Contained,
        StatusArg::Closed => IncidentStatus::Closed,
    }
}

fn severity(s: super::findings::SeverityArg) -> Severity {
    s.into()
}

pub async fn run(c: IncidentCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match c {
        IncidentCommand::Create(a) => {
            let inc = console
                .create_incident(
                    profile,
                    NewIncident {
                        title: a.title,
                        severity: a.severity.map(severity),
                        notes: a.notes,
                        findings: a.findings,
                        sessions: a.sessions,
                        users: a.users,
                    },
                )
                .await?;
            if json {
                return output::json(&inc);
            }
            println!(
                "created {} ({}, {} users, {} sessions, {} findings)",
                inc.id,
                inc.severity.as_str(),
                inc.users.len(),
                inc.sessions.len(),
                inc.findings.len()
            );
        }
        IncidentCommand::List => {
            let list = console.incidents(profile).await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|i| {
                    vec![
                        i.id.clone(),
                        i.status.as_str().into(),
                        i.severity.as_str().into(),
                        output::time(Some(i.created_at)),
                        format!("{}/{}/{}", i.users.len(), i.sessions.len(), i.findings.len()),
                        i.title.clone(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "id",
                    "status",
                    "severity",
                    "created",
                    "users/sessions/findings",
                    "title",
                ],
                &rows,
            );
        }
        IncidentCommand::Show { id } => {
            let d = console.incident(profile, &id).await?;
            if json {
                return output::json(&d);
            }
            let inc = &d.incident;
            println!(
                "{} [{}] {} — {}",
                inc.id,
                inc.status.as_str(),
                inc.severity.as_str().to_uppercase(),
                output::clean(&inc.title, 200)
            );
            println!(
                "opened {} by {}; {} users, {} sessions, {} findings, {} actions",
                output::time(Some(inc.created_at)),
                output::clean(&inc.created_by, 80),
                d.users.len(),
                d.sessions.len(),
                d.findings.len(),
                d.actions.len()
            );
            if !inc.notes.is_empty() {
                println!("notes: {}", output::clean(&inc.notes, 2000));
            }
            for a in &d.actions {
                println!(
                    "  action {} {}: {}{}",
                    a.kind,
                    output::clean(&a.target, 80),
                    a.outcome,
                    if a.verified { ", verified" } else { "" }
                );
            }
            let rows: Vec<Vec<String>> = d
                .timeline
                .iter()
                .filter(|t| t.notable)
                .map(|t| {
                    vec![
                        output::time(Some(t.at)),
                        t.source.as_str().into(),
                        t.subject.clone(),
                        t.summary.clone(),
                    ]
                })
                .collect();
            output::table(&["time", "source", "subject", "what"], &rows);
        }
        IncidentCommand::Update(a) => {
            let inc = console
                .update_incident(
                    profile,
                    &a.id,
                    IncidentUpdate {
                        status: a.status.map(status),
                        severity: a.severity.map(severity),
                        title: a.title,
                        notes: a.notes,
                    },
                )
                .await?;
            if json {
                return output::json(&inc);
            }
            println!("{} is {}", inc.id, inc.status.as_str());
        }
        IncidentCommand::Close { id, notes } => {
            let inc = console
                .update_incident(
                    profile,
                    &id,
                    IncidentUpdate {
                        status: Some(IncidentStatus::Closed),
                        notes,
                        ..Default::default()
                    },
                )
                .await?;
            if json {
                return output::json(&inc);
            }
            println!("{} closed", inc.id);
        }
    }
    Ok(())
}
