pub mod activity;
pub mod analyze;
pub mod audit;
pub mod contain;
pub mod findings;
pub mod incident;
pub mod inspect;
pub mod profile;
pub mod report;
pub mod reset;
pub mod revoke;
pub mod sessions;
pub mod ssf;
pub mod status;
pub mod sync;
pub mod users;

use gatehouse_core::actions::ActionReport;

use crate::exit::NotVerified;
use crate::output;

/// Prints one action's result; a failed verification becomes exit code 7.
pub fn report_action(r: &ActionReport, json: bool) -> anyhow::Result<()> {
    if json {
        output::json(r)?;
    } else {
        let state = if r.already_done { "already done" } else { "done" };
        println!(
            "{} {}: {state}{}",
            r.kind.as_str(),
            r.target,
            if r.resumed { " (resumed)" } else { "" }
        );
        for c in &r.checks {
            println!(
                "  [{}] {}",
                if c.ok { "ok" } else { "FAILED" },
                output::clean(&c.what, 200)
            );
        }
        match r.residual.until {
            None => println!("  residual exposure: {}", r.residual.note),
            Some(t) => println!(
                "  residual exposure until {} ({})",
                output::time(Some(t)),
                r.residual.note
            ),
        }
        if let Some(h) = &r.handover {
            // Shown here once: the audit log keeps only its kind, expiry and SHA-256.
            println!(
                "  {} for the owner (shown once, not stored): {}",
                h.kind,
                output::clean(h.url_or_code.expose(), 2000)
            );
            println!("    expires {}", output::time(h.expires_at));
            println!("    {}", output::clean(&h.note, 600));
        }
    }
    if r.verified {
        Ok(())
    } else {
        Err(NotVerified(format!("{} {} was not verified", r.kind.as_str(), r.target)).into())
    }
}
