use std::io::Read;

use clap::Args;
use gatehouse_core::Console;
use gatehouse_core::inspect::Signature;

use crate::output;

#[derive(Args)]
pub struct InspectArgs {
    /// The token, or `-` to read it from stdin (keeps it out of shell history).
    token: String,
}

pub async fn run(a: InspectArgs, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let token = if a.token == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        a.token
    };
    let i = Console::open()?.inspect(&token, profile).await?;
    if json {
        return output::json(&i);
    }
    println!("header   {}", output::clean(&i.header.to_string(), 300));
    println!("claims   {}", output::clean(&i.claims.to_string(), 600));
    match &i.signature {
        Signature::Valid { kid } => println!("signature valid (kid {})", kid.as_deref().unwrap_or("-")),
        Signature::Invalid { reason } => println!("signature INVALID: {}", output::clean(reason, 200)),
        Signature::Unchecked { why } => println!("signature not checked: {}", output::clean(why, 200)),
    }
    for l in &i.lints {
        println!(
            "  [{}] {}: {}",
            l.severity,
            l.code,
            output::clean(&l.message, 200)
        );
    }
    println!(
        "session  {} ({})",
        i.session_id.as_deref().unwrap_or("-"),
        if i.known_session {
            "in the local store"
        } else {
            "not synced"
        }
    );
    println!(
        "revoked  {}",
        match i.revoked {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        }
    );
    println!("usable until {}", output::time(i.usable_until));
    Ok(())
}
