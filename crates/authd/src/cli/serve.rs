//! `gatehouse-authd serve`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use gatehouse_authd::Server;
use gatehouse_authd::config::{self, BootstrapClient, Config, Database, HashCost, RateLimit};
use gatehouse_authd::secrets::Sensitive;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8420")]
    listen: SocketAddr,
    /// SQLite database file (created if missing). Without it, an in-memory database.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Token issuer URL. Default: http://<bound address>.
    #[arg(long)]
    issuer: Option<String>,
    /// Peer whose X-Forwarded-For is believed (repeatable).
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<IpAddr>,
    /// Access token lifetime, e.g. 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    access_ttl: std::time::Duration,
    /// Admin client provisioned at start (with --admin-secret-env).
    #[arg(long, requires = "admin_secret_env")]
    admin_client: Option<String>,
    /// Environment variable holding the admin client's secret.
    #[arg(long, requires = "admin_client")]
    admin_secret_env: Option<String>,
    /// Admin API requests per client per window.
    #[arg(long, default_value_t = 600)]
    admin_rate_limit: u32,
    /// Admin rate-limit window, e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    admin_rate_window: std::time::Duration,
    /// Cheap Argon2id parameters: tests and the demo only, never real passwords.
    #[arg(long)]
    insecure_fast_hashing: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s).map_err(|e| e.to_string())
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let database = match &args.db {
        Some(p) => Database::File(p.clone()),
        None => {
            tracing::warn!("no --db given: using an in-memory database, lost at exit");
            Database::Memory
        }
    };
    let mut config = Config::new(
        database,
        args.issuer.clone().unwrap_or_else(|| format!("http://{addr}")),
    );
    config.trusted_proxies = args.trusted_proxies.clone();
    config.access_ttl = args.access_ttl;
    config.admin_rate_limit = RateLimit {
        limit: args.admin_rate_limit,
        window: args.admin_rate_window,
    };
    if args.insecure_fast_hashing {
        config.hash_cost = HashCost::INSECURE_FAST;
    }
    if let (Some(id), Some(var)) = (&args.admin_client, &args.admin_secret_env) {
        let secret = std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?;
        config.admin_clients.push(BootstrapClient {
            client_id: id.clone(),
            secret: Sensitive(secret),
        });
    }
    let server = Server::open(config).await?;
    // Machine-readable first line: tests and the console read the bound address from it.
    println!("listening on http://{addr}");
    tracing::info!(%addr, "gatehouse-authd serving");
    server.run(listener, super::shutdown_signal()).await
}
