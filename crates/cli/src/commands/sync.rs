use gatehouse_core::Console;
use gatehouse_core::sync::Stage;

use crate::output;

pub async fn run(profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    let bar = indicatif::ProgressBar::new_spinner();
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |stage: Stage, n: u64| bar.set_message(format!("{stage:?}: {n}"));
    let report = console.sync(profile, &progress).await?;
    bar.finish_and_clear();
    if json {
        return output::json(&report);
    }
    println!(
        "synced {}: {} users, {} sessions, {} new activity rows ({} pruned) in {} ms",
        report.profile,
        report.users,
        report.sessions,
        report.activity,
        report.pruned_activity,
        report.duration_ms
    );
    Ok(())
}
