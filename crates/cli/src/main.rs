//! `gatehouse`: the console's command line, for scripted incident response. Each subcommand is a
//! few lines over gatehouse-core; `output.rs` prints tables for people and JSON for scripts, and
//! `exit.rs` maps error kinds to the documented exit codes.

mod commands;
mod exit;
mod output;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes:
  0 success
  1 internal error
  2 bad usage or invalid input
  3 not found
  4 unauthorized (credential refused, or missing from the keyring)
  5 backend or keyring failure (unreachable, 5xx, unreadable answer)
  6 rate limited (retries exhausted)
  7 an action ran but its verification failed

Examples:
  printf %s \"$SECRET\" | gatehouse profile add demo --kind authd --url http://127.0.0.1:8420 --client-id console
  gatehouse profile test
  gatehouse sync
  gatehouse findings list --severity high
  gatehouse findings suppress f-1a2b… --scope place --note \"VPN exit in Frankfurt\"
  gatehouse sessions --user 42 --active
  gatehouse revoke session s_3f9a…
  gatehouse revoke token eyJhbGciOi…   (a pasted token, or its jti)
  gatehouse contain 42 --dry-run
  gatehouse audit verify
  gatehouse incident create --title \"Stolen session of alice\" --finding f-1a2b…
  gatehouse report export inc-4c5d… --format pdf -o incident.pdf
  gatehouse report verify incident.pdf
  gatehouse status --json";

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Find and contain stolen sessions and JWTs", after_help = AFTER_HELP)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The backend profile to use (default: the configured default profile).
    #[arg(long, short = 'p', global = true, env = "GATEHOUSE_PROFILE")]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the version, data folder and whether the OS keyring answers.
    Status,
    /// Manage backend profiles (secrets go to the OS keyring).
    #[command(subcommand)]
    Profile(commands::profile::ProfileCommand),
    /// Pull users, sessions and new activity into the local store, then run detection over it.
    Sync,
    /// Users in the local store, with session counts.
    Users,
    /// Findings of the detection engine over the synced activity; verdicts and suppressions.
    #[command(subcommand)]
    Findings(commands::findings::FindingsCommand),
    /// Sessions in the local store.
    Sessions(commands::sessions::SessionsArgs),
    /// The requests of one session, oldest first.
    Activity(commands::activity::ActivityArgs),
    /// Revoke sessions, all of a user's sessions, or tokens.
    #[command(subcommand)]
    Revoke(commands::revoke::RevokeCommand),
    /// Force a password reset that requires MFA at the next login.
    ResetPassword(commands::reset::ResetArgs),
    /// Contain an account: forced reset with MFA, all sessions revoked, tokens revoked.
    Contain(commands::contain::ContainArgs),
    /// Decode, verify and lint a token; find its session; say whether it is revoked.
    Inspect(commands::inspect::InspectArgs),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Incidents: findings, sessions and users gathered for hand-over, with a status.
    #[command(subcommand)]
    Incident(commands::incident::IncidentCommand),
    /// Signed incident reports (HTML, PDF, OCSF JSON, CSV, Markdown) and their verification.
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Analyse log files (JSONL, Okta, Keycloak, Auth0) for stolen sessions; --help has the formats.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Shared Signals (CAEP): receive pushed SETs, deliver the outbox, show our JWKS.
    #[command(subcommand)]
    Ssf(commands::ssf::SsfCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GATEHOUSE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json = cli.json;
    let profile = cli.profile.as_deref();
    let result = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
        Ok(rt) => rt.block_on(async {
            match cli.command {
                Command::Status => commands::status::run(json),
                Command::Profile(c) => commands::profile::run(c, json).await,
                Command::Sync => commands::sync::run(profile, json).await,
                Command::Findings(c) => commands::findings::run(c, profile, json).await,
                Command::Users => commands::users::run(profile, json).await,
                Command::Sessions(a) => commands::sessions::run(a, profile, json).await,
                Command::Activity(a) => commands::activity::run(a, profile, json).await,
                Command::Revoke(c) => commands::revoke::run(c, profile, json).await,
                Command::ResetPassword(a) => commands::reset::run(a, profile, json).await,
                Command::Contain(a) => commands::contain::run(a, profile, json).await,
                Command::Inspect(a) => commands::inspect::run(a, profile, json).await,
                Command::Audit(c) => commands::audit::run(c, profile, json).await,
                Command::Incident(c) => commands::incident::run(c, profile, json).await,
                Command::Report(c) => commands::report::run(c, profile, json).await,
                Command::Analyze(a) => commands::analyze::run(a, json),
                Command::Ssf(c) => commands::ssf::run(c, profile, json).await,
            }
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => exit::report(&e),
    }
}
