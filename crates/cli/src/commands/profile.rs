use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use gatehouse_core::Console;
use gatehouse_core::config::RawProfile;
use gatehouse_core::secrets::Sensitive;

use crate::output;

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Add a profile. The client secret is read from a prompt, or from stdin when piped; never from argv.
    Add(AddArgs),
    /// List profiles (never shows secrets).
    List,
    /// Remove a profile and its secret from the keyring.
    Remove { name: String },
    /// Check connectivity and what the credential may do.
    Test { name: Option<String> },
}

#[derive(Args)]
pub struct AddArgs {
    name: String,
    /// authd, keycloak, okta, auth0 or kratos.
    #[arg(long)]
    kind: String,
    /// The backend's base URL (https, or http to loopback).
    #[arg(long)]
    url: String,
    #[arg(long)]
    client_id: String,
    /// Allow plain http to a non-loopback host.
    #[arg(long)]
    allow_insecure_http: bool,
    /// Extra trusted root certificates (PEM).
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// Keycloak realm.
    #[arg(long)]
    realm: Option<String>,
}

fn read_secret() -> anyhow::Result<Sensitive<String>> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Client secret: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    anyhow::ensure!(!secret.is_empty(), "an empty client secret was given");
    Ok(Sensitive::new(secret))
}

pub async fn run(cmd: ProfileCommand, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match cmd {
        ProfileCommand::Add(a) => {
            let raw = RawProfile {
                kind: a.kind,
                base_url: a.url,
                client_id: a.client_id,
                allow_insecure_http: a.allow_insecure_http,
                ca_file: a.ca_file,
                timeout_secs: None,
                realm: a.realm,
                ssf: None,
            };
            let secret = read_secret()?;
            let p = console.add_profile(&a.name, raw, secret)?;
            println!(
                "added profile {} ({} at {}); secret stored in the OS keyring",
                p.name,
                p.kind.as_str(),
                p.base_url
            );
        }
        ProfileCommand::List => {
            let views = console.config()?.views();
            if json {
                return output::json(&views);
            }
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    vec![
                        format!("{}{}", v.name, if v.is_default { " *" } else { "" }),
                        v.kind.as_str().into(),
                        v.base_url.clone(),
                        v.client_id.clone(),
                    ]
                })
                .collect();
            output::table(&["profile", "kind", "url", "client id"], &rows);
        }
        ProfileCommand::Remove { name } => {
            console.remove_profile(&name)?;
            println!("removed profile {name} and its keyring entry");
        }
        ProfileCommand::Test { name } => {
            let check = console.test_profile(name.as_deref()).await?;
            if json {
                return output::json(&check);
            }
            println!("reachable      {}", check.reachable);
            println!("authenticated  {}", check.authenticated);
            for (perm, ok) in &check.permissions {
                println!("  [{}] {perm}", if *ok { "ok" } else { "DENIED" });
            }
            anyhow::ensure!(
                check.reachable && check.authenticated,
                "the profile does not work"
            );
        }
    }
    Ok(())
}
