//! Command-line definitions. Machine-readable output goes to stdout (the `listening on` line,
//! created secrets); everything else is tracing on stderr.

mod admin;
mod demo;
mod keys;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use gatehouse_authd::config::HashCost;
use gatehouse_authd::secrets::PasswordHashing;

#[derive(Parser)]
#[command(name = "gatehouse-authd", version, about = "Gatehouse reference auth server")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
    /// Manage admin API clients.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Serve with simulated users and token thieves, writing a ground-truth file.
    Demo(Box<demo::DemoArgs>),
}

/// Options shared by the offline subcommands that work on a database file.
#[derive(Args)]
struct DbArgs {
    /// SQLite database file (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// Cheap Argon2id parameters: tests and the demo only, never real passwords.
    #[arg(long)]
    insecure_fast_hashing: bool,
}

impl DbArgs {
    async fn open(&self) -> anyhow::Result<sqlx::SqlitePool> {
        gatehouse_authd::db::open(&gatehouse_authd::config::Database::File(self.db.clone())).await
    }

    fn hashing(&self) -> anyhow::Result<PasswordHashing> {
        PasswordHashing::new(if self.insecure_fast_hashing {
            HashCost::INSECURE_FAST
        } else {
            HashCost::DEFAULT
        })
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Admin { command } => admin::run(command).await,
        Command::User { command } => user::run(command).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Demo(args) => demo::run(*args).await,
    }
}

/// SIGTERM or Ctrl-C: what `serve` and `demo` stop on (activity is flushed on the way out).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}
