use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use gatehouse_core::Console;
use gatehouse_core::config::{Profile, RawIntrospection, RawProfile};
use gatehouse_core::secrets::Sensitive;

use crate::output;

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Add a profile. Its secret (client secret, API key or token, private key) is read from a
    /// prompt, or from stdin when piped; never from argv. Kratos with --auth none needs none.
    Add(Box<AddArgs>),
    /// List profiles (never shows secrets).
    List,
    /// Remove a profile and its secret from the keyring.
    Remove { name: String },
    /// Check connectivity and what the credential may do.
    Test { name: Option<String> },
    /// Give a profile a standard OAuth client: RFC 7662 introspection verifies a revoked token
    /// (RFC 7009 revokes it where the provider cannot). Its secret is read like `add`'s.
    Introspection(IntrospectionArgs),
}

#[derive(Args)]
pub struct IntrospectionArgs {
    name: String,
    /// The authorization server's issuer (endpoints from its discovery document).
    #[arg(long)]
    issuer: Option<String>,
    /// The RFC 7662 endpoint (instead of, or overriding, discovery).
    #[arg(long)]
    introspection_endpoint: Option<String>,
    /// The RFC 7009 endpoint (instead of, or overriding, discovery).
    #[arg(long)]
    revocation_endpoint: Option<String>,
    #[arg(long)]
    client_id: String,
    /// basic (client_secret_basic, default) or post (client_secret_post).
    #[arg(long)]
    auth: Option<String>,
    /// Allow plain http to a non-loopback host.
    #[arg(long)]
    allow_insecure_http: bool,
}

#[derive(Args)]
pub struct AddArgs {
    name: String,
    /// authd, keycloak, okta, auth0 or kratos.
    #[arg(long)]
    kind: String,
    /// The backend's base URL (https, or http to loopback): the Keycloak server, the Kratos
    /// admin API, the Okta org, the Auth0 tenant.
    #[arg(long)]
    url: String,
    /// The client id (authd, keycloak, auth0; okta with private_key_jwt).
    #[arg(long, default_value = "")]
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
    /// Kratos: bearer (Ory Network API key) or none (private OSS admin port); Okta:
    /// private_key_jwt or ssws.
    #[arg(long)]
    auth: Option<String>,
    /// Okta private_key_jwt: the key id registered with the service app.
    #[arg(long)]
    key_id: Option<String>,
    /// Okta private_key_jwt: a scope to ask for (repeat; default: the ones the console needs).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Auth0: the Management API audience (default https://<tenant>/api/v2/).
    #[arg(long)]
    audience: Option<String>,
    /// Request timeout in seconds (1 to 300).
    #[arg(long)]
    timeout_secs: Option<u64>,
}

/// Reads the secret: a prompt on a terminal, else all of stdin (a PEM key spans lines).
fn read_secret(label: &str) -> anyhow::Result<Sensitive<String>> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{label}: "))?
    } else if label.contains("PEM") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)?;
        text.trim().to_string()
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    anyhow::ensure!(!secret.is_empty(), "an empty {label} was given");
    Ok(Sensitive::new(secret))
}

pub async fn run(cmd: ProfileCommand, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match cmd {
        ProfileCommand::Add(a) => {
            let a = *a;
            let raw = RawProfile {
                kind: a.kind,
                base_url: a.url,
                client_id: a.client_id,
                allow_insecure_http: a.allow_insecure_http,
                ca_file: a.ca_file,
                timeout_secs: a.timeout_secs,
                realm: a.realm,
                ssf: None,
                auth: a.auth,
                key_id: a.key_id,
                scopes: (!a.scopes.is_empty()).then_some(a.scopes),
                audience: a.audience,
                introspection: None,
            };
            // Validated first, so bad settings are refused before a secret is asked for.
            let checked = Profile::validate(&a.name, raw.clone()).map_err(gatehouse_core::Error::from)?;
            let secret = match checked.secret_kind() {
                Some(kind) => Some(read_secret(kind.label())?),
                None => None,
            };
            let stored = secret.is_some();
            let p = console.add_profile(&a.name, raw, secret)?;
            println!(
                "added profile {} ({} at {}){}",
                p.name,
                p.kind.as_str(),
                p.base_url,
                if stored {
                    "; secret stored in the OS keyring"
                } else {
                    "; no secret needed"
                }
            );
        }
        ProfileCommand::Introspection(a) => {
            let raw = RawIntrospection {
                issuer: a.issuer,
                introspection_endpoint: a.introspection_endpoint,
                revocation_endpoint: a.revocation_endpoint,
                client_id: a.client_id,
                auth: a.auth,
                allow_insecure_http: a.allow_insecure_http,
            };
            // Validated first, so bad settings are refused before a secret is asked for.
            raw.validate().map_err(|message| {
                gatehouse_core::Error::from(gatehouse_core::config::Error::Invalid {
                    profile: a.name.clone(),
                    message,
                })
            })?;
            let secret = read_secret("introspection client secret")?;
            console.set_introspection(&a.name, raw, secret).await?;
            println!(
                "profile {}: tokens are verified by RFC 7662 introspection; secret stored in the OS keyring",
                a.name
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
            let c = &check.check;
            println!("reachable      {}", c.reachable);
            println!("authenticated  {}", c.authenticated);
            for (perm, ok) in &c.permissions {
                println!(
                    "  [{}] {}",
                    if *ok { "ok" } else { "MISSING" },
                    output::clean(perm, 300)
                );
            }
            for w in &check.warnings {
                println!("warning: {}", output::clean(w, 400));
            }
            for l in &check.limitations {
                println!("cannot: {}", output::clean(l, 400));
            }
            anyhow::ensure!(c.reachable && c.authenticated, "the profile does not work");
        }
    }
    Ok(())
}
