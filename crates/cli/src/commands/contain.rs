use clap::Args;
use gatehouse_core::Console;

use crate::output;

#[derive(Args)]
pub struct ContainArgs {
    user: String,
    /// List exactly what would happen, and do nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(a: ContainArgs, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let actions = Console::open()?.actions(profile).await?;
    let steps = actions
        .plan_contain(&a.user)
        .await
        .map_err(gatehouse_core::Error::from)?;
    if a.dry_run {
        if json {
            return output::json(&steps);
        }
        println!("Dry run: containing user {} would, in this order:", a.user);
        for (i, s) in steps.iter().enumerate() {
            println!("  {}. {}", i + 1, s.description);
            for c in &s.calls {
                match &c.note {
                    Some(n) => println!("       {} {}  ({})", c.method, output::clean(&c.path, 300), n),
                    None => println!("       {} {}", c.method, output::clean(&c.path, 300)),
                }
            }
        }
        return Ok(());
    }
    // In order, one at a time: the reset must be in place before sessions are ended.
    let mut results = Vec::new();
    for s in &steps {
        let report = actions
            .run(s.kind, &s.target)
            .await
            .map_err(gatehouse_core::Error::from)?;
        if !json {
            super::report_action(&report, false)?;
        }
        results.push(report);
    }
    if json {
        output::json(&results)?;
    }
    Ok(())
}
