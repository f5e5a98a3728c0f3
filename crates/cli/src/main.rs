//! `gatehouse`: the console's command line. Each subcommand is a few lines over gatehouse-core.

mod commands;
mod exit;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Find and contain stolen sessions and JWTs",
    after_help = "Exit codes:\n  0 success\n  2 bad usage or invalid input\n  3 not found\n  4 unauthorized\n  5 backend or keyring failure\n  6 rate limited\n  1 internal error\n\nExamples:\n  gatehouse status\n  gatehouse status --json"
)]
struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the version, data folder and whether the OS keyring answers.
    Status,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GATEHOUSE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status => commands::status::run(cli.json),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}
