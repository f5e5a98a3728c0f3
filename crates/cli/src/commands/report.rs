use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use gatehouse_core::report::{FileStatus, ReportFormat};
use gatehouse_core::{Console, ErrorKind};

use crate::exit::Failed;
use crate::output;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Export an incident; writes PATH and PATH.manifest.json (signed), atomically.
    Export {
        /// The incident id (`inc-…`).
        incident: String,
        #[arg(long, short = 'f', value_enum)]
        format: FormatArg,
        /// The report file (for csv, the timeline; the sessions go to <stem>.sessions.csv).
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Check an export's signature and the SHA-256 of each of its files.
    Verify {
        /// The report (or any file of the export, or its .manifest.json).
        path: PathBuf,
        /// Also trust this Ed25519 public key (PEM, from `gatehouse report public-key`).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print this machine's report signing public key (PEM); creates the key on first use.
    PublicKey,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Html,
    Pdf,
    Json,
    Csv,
    Md,
}

pub async fn run(c: ReportCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match c {
        ReportCommand::Export {
            incident,
            format,
            output: path,
        } => {
            let format = match format {
                FormatArg::Html => ReportFormat::Html,
                FormatArg::Pdf => ReportFormat::Pdf,
                FormatArg::Json => ReportFormat::Json,
                FormatArg::Csv => ReportFormat::Csv,
                FormatArg::Md => ReportFormat::Md,
            };
            let r = console
                .export_report(profile, &incident, format, &path, &|_| {})
                .await?;
            if json {
                return output::json(&r);
            }
            for f in &r.files {
                println!("wrote {f}");
            }
            println!("signed with report key {}", r.key_id);
        }
        ReportCommand::Verify { path, public_key } => {
            let pem = match public_key {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| {
                    Failed::new(ErrorKind::Validation, format!("cannot read {}: {e}", p.display()))
                })?),
                None => None,
            };
            let v = console.verify_report(&path, pem.as_deref())?;
            if json {
                output::json(&v)?;
            } else {
                for f in &v.files {
                    let state = match &f.status {
                        FileStatus::Ok => "ok".to_string(),
                        FileStatus::Missing => "MISSING".into(),
                        FileStatus::Truncated { .. } => "TRUNCATED".into(),
                        FileStatus::Changed { .. } => "CHANGED".into(),
                    };
                    println!("  [{state}] {}", output::clean(&f.name, 200));
                }
                println!(
                    "signature: {}; key {} {}",
                    if v.signature_valid { "valid" } else { "INVALID" },
                    v.key_id,
                    if v.key_trusted {
                        "(trusted)"
                    } else {
                        "(NOT trusted)"
                    }
                );
            }
            if !v.ok {
                return Err(Failed::new(
                    ErrorKind::Validation,
                    format!("verification failed: {}", v.problems.join("; ")),
                )
                .into());
            }
            if !json {
                println!(
                    "verified: incident {}, {} export of {}",
                    v.incident, v.report_format, v.generated_at
                );
            }
        }
        ReportCommand::PublicKey => {
            let pem = console.report_public_key()?;
            if json {
                return output::json(&serde_json::json!({ "pem": pem }));
            }
            print!("{pem}");
        }
    }
    Ok(())
}
