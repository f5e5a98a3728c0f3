use clap::Subcommand;
use gatehouse_core::Console;
use gatehouse_core::audit::Problem;

use crate::exit::NotVerified;
use crate::output;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The newest entries.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Re-compute the hash chain and check it reaches the head anchored in the OS keyring.
    Verify,
    /// The provider's own record of admin calls (Keycloak's admin events), to cross-check what
    /// the console did there.
    Provider {
        /// How far back to look.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Only calls on this user or session id.
        #[arg(long)]
        target: Option<String>,
    },
    /// Write the whole log as JSON lines.
    Export {
        /// Output file (default: stdout).
        #[arg(long, short = 'o')]
        output: Option<std::path::PathBuf>,
    },
}

/// `audit provider`: the provider's admin events, as core reads them.
async fn provider(
    console: &Console,
    profile: Option<&str>,
    hours: u32,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let ev = console.provider_admin_events(profile, hours, target).await?;
    if json {
        return output::json(&ev);
    }
    match ev.recorded {
        Some(true) => println!("the provider stores admin events"),
        Some(false) => println!("the provider does NOT store admin events"),
        None => println!("whether the provider stores admin events is unknown"),
    }
    for n in &ev.notes {
        println!("note: {}", output::clean(n, 400));
    }
    let rows: Vec<Vec<String>> = ev
        .events
        .iter()
        .map(|e| {
            vec![
                output::time(Some(e.at)),
                output::clean(&e.operation, 20),
                output::clean(&e.resource_path, 120),
                output::clean(e.actor_client.as_deref().unwrap_or("-"), 60),
                output::clean(e.ip.as_deref().unwrap_or("-"), 45),
                output::clean(e.error.as_deref().unwrap_or(""), 80),
            ]
        })
        .collect();
    output::table(&["time", "operation", "resource", "client", "ip", "error"], &rows);
    Ok(())
}

pub async fn run(cmd: AuditCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match cmd {
        AuditCommand::Provider { hours, target } => {
            provider(&console, profile, hours, target.as_deref(), json).await?;
        }
        AuditCommand::List { limit } => {
            let log = console.audit_log().await?;
            let entries = gatehouse_core::audit::recent(log.store(), limit)
                .await
                .map_err(gatehouse_core::Error::from)?;
            if json {
                return output::json(&entries);
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        output::time(Some(e.at)),
                        e.actor.clone(),
                        e.action.clone(),
                        e.target.clone().unwrap_or_default(),
                        e.hash[..12].to_string(),
                    ]
                })
                .collect();
            output::table(&["seq", "time", "actor", "action", "target", "hash"], &rows);
        }
        AuditCommand::Verify => {
            let v = console
                .audit_log()
                .await?
                .verify()
                .await
                .map_err(gatehouse_core::Error::from)?;
            if json {
                output::json(&v)?;
            } else if v.ok {
                println!(
                    "audit log intact: {} entries, chain and anchor verified",
                    v.entries
                );
            } else {
                println!("audit log TAMPERED ({} entries read):", v.entries);
                for p in &v.problems {
                    println!("  {}", describe(p));
                }
            }
            if !v.ok {
                return Err(NotVerified(format!("{} problem(s) in the audit log", v.problems.len())).into());
            }
        }
        AuditCommand::Export { output: path } => {
            let log = console.audit_log().await?;
            let mut out: Box<dyn std::io::Write> = match &path {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
                None => Box::new(std::io::stdout().lock()),
            };
            let n = gatehouse_core::audit::export_jsonl(log.store(), &mut out)
                .await
                .map_err(gatehouse_core::Error::from)?;
            out.flush()?;
            if let Some(p) = path {
                eprintln!("wrote {n} entries to {}", p.display());
            }
        }
    }
    Ok(())
}

fn describe(p: &Problem) -> String {
    match p {
        Problem::Edited { seq } => format!("entry {seq} was edited (its content no longer matches its hash)"),
        Problem::BrokenLink { seq, .. } => {
            format!("entry {seq} does not follow the entry before it (reordered or inserted)")
        }
        Problem::Missing { after_seq, next_seq } => {
            format!("entries between {after_seq} and {next_seq} were deleted")
        }
        Problem::Truncated {
            anchored_seq,
            last_seq,
        } => {
            format!("the log ends at {last_seq} but reached {anchored_seq}: the newest entries were removed")
        }
        Problem::HeadMismatch { seq } => format!("entry {seq} differs from the anchored head"),
    }
}
