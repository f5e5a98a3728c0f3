use clap::Args;
use gatehouse_core::Console;
use gatehouse_core::sync::read;

use crate::output;

#[derive(Args)]
pub struct ActivityArgs {
    session: String,
    #[arg(long, default_value_t = 500)]
    limit: i64,
}

pub async fn run(a: ActivityArgs, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    let p = console.profile(profile)?;
    output::data_age(&console, &p.name).await;
    let rows = read::activity(console.store().await?, &p.name, &a.session, a.limit)
        .await
        .map_err(gatehouse_core::Error::from)?;
    if json {
        return output::json(&rows);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                output::time(Some(r.at)),
                r.ip.clone().unwrap_or_default(),
                format!(
                    "{} {}",
                    r.method.as_deref().unwrap_or(""),
                    r.path.as_deref().unwrap_or("")
                ),
                r.status.map(|s| s.to_string()).unwrap_or_default(),
                r.denial_reason.clone().unwrap_or_default(),
                r.user_agent.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &["time", "ip", "request", "status", "denied", "user agent"],
        &table,
    );
    Ok(())
}
