use std::sync::atomic::AtomicBool;

use clap::Subcommand;
use gatehouse_core::Console;
use gatehouse_core::actions::{ActionKind, ItemResult, step};

use crate::exit::NotVerified;
use crate::output;

#[derive(Subcommand)]
pub enum RevokeCommand {
    /// Revoke one or more sessions.
    Session { ids: Vec<String> },
    /// Revoke every session of one or more users.
    User { ids: Vec<String> },
    /// Revoke tokens, given as pasted JWTs or as jti values. One pasted token is verified by the
    /// profile's RFC 7662 introspection client when it has one (`profile introspection`).
    Token {
        tokens: Vec<String>,
        /// The one token given is an opaque token (not a jti): revoke and introspect it as held.
        /// Give `-` to read the token from stdin.
        #[arg(long)]
        opaque: bool,
    },
}

/// A pasted JWT is reduced to its jti (decoded without trusting it); anything else is a jti.
fn jti_of(arg: &str) -> anyhow::Result<String> {
    Ok(gatehouse_core::inspect::jti_of(arg).map_err(gatehouse_core::Error::from)?)
}

pub async fn run(cmd: RevokeCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    // A pasted token is revoked as held (so the profile's RFC 7662 client can introspect it);
    // a bare jti goes through the backend like any other target.
    if let RevokeCommand::Token { tokens, opaque } = &cmd
        && let [one] = tokens.as_slice()
        && (*opaque || one == "-" || one.trim().matches('.').count() == 2)
    {
        // `-`: from stdin, so the token is not in the process list.
        let token = if one == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)?;
            text.trim().to_string()
        } else {
            one.clone()
        };
        let report = Console::open()?
            .revoke_held_token(profile, gatehouse_core::secrets::Sensitive::new(token))
            .await?;
        return super::report_action(&report, json);
    }
    let (kind, targets) = match cmd {
        RevokeCommand::Session { ids } => (ActionKind::RevokeSession, ids),
        RevokeCommand::User { ids } => (ActionKind::RevokeUserSessions, ids),
        RevokeCommand::Token { tokens, opaque } => {
            anyhow::ensure!(!opaque, "--opaque takes exactly one token");
            (
                ActionKind::RevokeToken,
                tokens.iter().map(|t| jti_of(t)).collect::<anyhow::Result<_>>()?,
            )
        }
    };
    anyhow::ensure!(!targets.is_empty(), "name at least one target");
    let actions = Console::open()?.actions(profile).await?;
    if let [one] = targets.as_slice() {
        let report = actions
            .run(kind, one)
            .await
            .map_err(gatehouse_core::Error::from)?;
        return super::report_action(&report, json);
    }
    let steps = targets.iter().map(|t| step(kind, t)).collect();
    run_bulk(&actions, steps, json).await
}

/// Bulk: a progress bar, Ctrl-C cancels what has not started, one line per item.
pub async fn run_bulk(
    actions: &gatehouse_core::actions::Actions,
    steps: Vec<gatehouse_core::actions::Step>,
    json: bool,
) -> anyhow::Result<()> {
    let cancel = AtomicBool::new(false);
    let bar = indicatif::ProgressBar::new(steps.len() as u64);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |done: usize, _total: usize| bar.set_position(done as u64);
    let results = tokio::select! {
        r = actions.bulk(steps, 4, &cancel, &progress) => r,
        _ = tokio::signal::ctrl_c() => {
            anyhow::bail!("cancelled; actions already started are recorded as pending and resume on the next run");
        }
    };
    bar.finish_and_clear();
    let failed = results
        .iter()
        .filter(|r| !matches!(r, ItemResult::Done { report, .. } if report.verified))
        .count();
    if json {
        output::json(&results)?;
    } else {
        for r in &results {
            match r {
                ItemResult::Done { step, report } => println!(
                    "{:<10} {} {}",
                    if report.verified { "ok" } else { "UNVERIFIED" },
                    step.kind.as_str(),
                    step.target
                ),
                ItemResult::Failed { step, error } => {
                    println!(
                        "{:<10} {} {}: {}",
                        "FAILED",
                        step.kind.as_str(),
                        step.target,
                        output::clean(error, 200)
                    )
                }
                ItemResult::Skipped { step } => {
                    println!("{:<10} {} {}", "skipped", step.kind.as_str(), step.target)
                }
            }
        }
    }
    if failed > 0 {
        return Err(NotVerified(format!(
            "{failed} of {} items were not done and verified",
            results.len()
        ))
        .into());
    }
    Ok(())
}
