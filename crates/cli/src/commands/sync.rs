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
    let (report, detected) = console.sync_and_detect(profile, &progress).await?;
    bar.finish_and_clear();
    if json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("detection".into(), serde_json::to_value(&detected)?);
        }
        return output::json(&v);
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
    println!(
        "detection: {} events{}, {} findings changed, {} newly high or critical, in {} ms",
        detected.events,
        if detected.replayed {
            " (replayed the retained activity)"
        } else {
            ""
        },
        detected.changed,
        detected.newly_actionable.len(),
        detected.duration_ms
    );
    for f in &detected.newly_actionable {
        println!(
            "  {} {} user {} session {}",
            f.severity.as_str().to_uppercase(),
            f.id,
            output::clean(f.username.as_deref().unwrap_or(&f.user_id), 60),
            output::clean(f.session_id.as_deref().unwrap_or("-"), 60)
        );
    }
    Ok(())
}
