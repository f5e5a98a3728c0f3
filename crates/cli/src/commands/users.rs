use gatehouse_core::Console;
use gatehouse_core::sync::read;

use crate::output;

pub async fn run(profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    let p = console.profile(profile)?;
    output::data_age(&console, &p.name).await;
    let users = read::users(console.store().await?, &p.name)
        .await
        .map_err(gatehouse_core::Error::from)?;
    if json {
        return output::json(&users);
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.username.clone(),
                u.status.clone(),
                format!("{}/{}", u.active_sessions, u.sessions),
                output::time(u.last_seen_at),
            ]
        })
        .collect();
    output::table(&["id", "user", "status", "active/all", "last seen"], &rows);
    Ok(())
}
