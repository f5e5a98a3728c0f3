use clap::Args;
use gatehouse_core::Console;
use gatehouse_core::sync::read;

use crate::output;

#[derive(Args)]
pub struct SessionsArgs {
    /// Only this user's sessions (backend user id).
    #[arg(long)]
    user: Option<String>,
    /// Only active sessions.
    #[arg(long)]
    active: bool,
}

pub async fn run(a: SessionsArgs, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    let p = console.profile(profile)?;
    output::data_age(&console, &p.name).await;
    let sessions = read::sessions(console.store().await?, &p.name, a.user.as_deref(), a.active)
        .await
        .map_err(gatehouse_core::Error::from)?;
    if json {
        return output::json(&sessions);
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.user_id.clone(),
                s.ip.clone().unwrap_or_default(),
                output::time(Some(s.started_at)),
                output::time(s.last_seen_at),
                if s.active { "active".into() } else { "ended".into() },
                s.user_agent.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "session",
            "user",
            "ip",
            "started",
            "last seen",
            "state",
            "user agent",
        ],
        &rows,
    );
    Ok(())
}
