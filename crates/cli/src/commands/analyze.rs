//! `gatehouse analyze`: the detection engine over log files, without a backend or a store.

use std::path::PathBuf;

use gatehouse_core::detect::batch::{self, Options, Report};
use gatehouse_core::detect::{Config, Finding};
use gatehouse_core::enrich::{EnrichConfig, Enricher};
use gatehouse_core::ingest::Format;
use gatehouse_core::ingest::time::format_ms;

use crate::exit::Failed;
use crate::output;
use gatehouse_core::ErrorKind;

const SCHEMA: &str = "\
Input (generic JSONL, one object per line; blank lines are skipped):
  required  ts       RFC 3339 string, or epoch number (milliseconds; below 10^11: seconds)
            user     string (a number is kept as its decimal text)
            ip       IPv4 or IPv6
  optional  session, jti, ua, method, path, status (integer),
            lat, lon (together), city, country (ISO alpha-2), asn (64500 or \"AS64500\"), as_org
  extensions (authd activity rows): accuracy_km, event (login|logout|request),
            denial (e.g. session_revoked), sensitive (bool), proxy (bool)
  Missing place and network are looked up in --geoip / --asn. Okta System Log, Keycloak events and
  Auth0 logs are read as JSON arrays or JSONL (--format, or auto from the first record's keys).
  Malformed records are reported with their line numbers and skipped; the summary counts them.

Output (--json):
  {\"findings\":[{\"id\",\"kind\",\"severity\",\"score\",\"user\",\"session\",\"detected_at\",\"first_seen\",
  \"last_seen\",\"explanation\",\"evidence\":[{\"kind\",\"at\",\"score\",\"explanation\",\"event\",\"previous\",
  \"facts\"}]}],\"summary\":{\"files\",\"events\",\"malformed\",\"malformed_records\",\"ignored\",\"users\",
  \"sessions\",\"out_of_order\",\"unlocated\",\"signals\",\"suppressed\",\"findings\",\"by_kind\",\"by_severity\",
  \"enrichment\",\"geoip_city\",\"geoip_asn\"}}
  One finding per session (incident). user and session are exactly as in the input (session is the
  jti when the input has no session, null without either). Times are RFC 3339 UTC. score is 0-100;
  severity is low, medium, high or critical: high and critical mean \"likely stolen, act now\".
  detected_at is the time of the event at which the finding fired (as it would have live).
  kind is the kind of the strongest signal: impossible_travel, concurrent_use, device_change,
  rate_spike, new_country, new_asn, revoked_token_use, sensitive_new_location.
  With --backtest, a \"backtest\" array adds {kind, severity, before, after} rows.

Exit codes: 0 analysed (whatever was found), 2 invalid input or setting, 3 file not found.

Examples:
  gatehouse analyze --geoip GeoLite2-City.mmdb --asn GeoLite2-ASN.mmdb access.jsonl
  gatehouse analyze --format okta okta-logs.json --json
  gatehouse analyze --set travel.kmh=1000 --set rate.min_days=3 --backtest access.jsonl

Get a GeoIP database: MaxMind GeoLite2 City + ASN (free account), or DB-IP Lite City /
ip-location-db (CC BY 4.0 / CC0) MMDB files.
";

fn long_help() -> String {
    let mut s = String::from(SCHEMA);
    s.push_str("\nSettings (--set KEY=VALUE; default in brackets):\n");
    for (k, v, doc) in Config::default().keys() {
        s.push_str(&format!("  {k} [{v}]\n      {doc}\n"));
    }
    s
}

#[derive(clap::Args)]
#[command(after_long_help = long_help())]
pub struct AnalyzeArgs {
    /// Input format: auto, jsonl, okta, keycloak or auth0.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: Format,
    /// City database (MaxMind GeoIP2/GeoLite2 City, or DB-IP / ip-location-db city MMDB).
    #[arg(long, value_name = "CITY.mmdb", env = "GATEHOUSE_GEOIP")]
    geoip: Option<PathBuf>,
    /// ASN database (GeoLite2 ASN or ip-location-db ASN MMDB).
    #[arg(long, value_name = "ASN.mmdb", env = "GATEHOUSE_ASN")]
    asn: Option<PathBuf>,
    /// Override a threshold (repeatable); `--help` lists every key.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Also run with the defaults and show how counts per kind and severity change.
    #[arg(long)]
    backtest: bool,
    /// Parsing threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Log files to analyse, in any order.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Bad input ends with exit code 2, a missing file with 3 (the codes `--help` documents).
fn fail(kind: ErrorKind, message: impl std::fmt::Display) -> anyhow::Error {
    Failed::new(kind, message).into()
}

pub fn run(args: AnalyzeArgs, json: bool) -> anyhow::Result<()> {
    let config = Config::default()
        .with_overrides(args.set.iter().map(String::as_str))
        .map_err(|e| fail(ErrorKind::Validation, e))?;
    for f in &args.files {
        if !f.is_file() {
            return Err(fail(
                ErrorKind::NotFound,
                format!("no such file: {}", f.display()),
            ));
        }
    }
    let enricher = Enricher::open(&EnrichConfig {
        city_db: args.geoip.clone(),
        asn_db: args.asn.clone(),
    })
    .map_err(|e| fail(ErrorKind::Validation, e))?;
    let mut configs = vec![config];
    if args.backtest {
        configs.push(Config::default());
    }
    let options = Options {
        format: args.format,
        configs,
        suppressions: Vec::new(),
        threads: args.threads,
    };
    let mut reports = batch::analyze(&args.files, &options, &enricher).map_err(|e| match e {
        batch::BatchError::Internal(_) => fail(ErrorKind::Internal, e),
        _ => fail(ErrorKind::Validation, e),
    })?;
    let baseline = if args.backtest { reports.pop() } else { None };
    let Some(report) = reports.pop() else {
        anyhow::bail!("no report produced")
    };
    let diff = baseline
        .as_ref()
        .map(|b| batch::backtest_diff(&b.findings, &report.findings));
    if json && diff.is_none() {
        output::json(&report)?;
    } else if json {
        let mut v = serde_json::to_value(&report)?;
        if let (Some(diff), Some(obj)) = (&diff, v.as_object_mut()) {
            let rows: Vec<serde_json::Value> = diff
                .iter()
                .map(|(k, s, a, b)| serde_json::json!({"kind": k, "severity": s, "before": a, "after": b}))
                .collect();
            obj.insert("backtest".into(), serde_json::Value::Array(rows));
        }
        output::json(&v)?;
    } else {
        print_human(&report);
        if let Some(diff) = diff {
            println!();
            println!("Backtest: defaults (before) against --set overrides (after)");
            let rows: Vec<Vec<String>> = diff
                .iter()
                .map(|(k, s, a, b)| {
                    vec![
                        k.clone(),
                        s.clone(),
                        a.to_string(),
                        b.to_string(),
                        format!("{:+}", *b as i64 - *a as i64),
                    ]
                })
                .collect();
            output::table(&["kind", "severity", "before", "after", "change"], &rows);
        }
    }
    for m in &report.summary.malformed_records {
        eprintln!(
            "malformed: {}:{}: {}",
            m.file,
            m.line,
            output::clean(&m.message, 200)
        );
    }
    if report.summary.malformed > report.summary.malformed_records.len() as u64 {
        eprintln!(
            "malformed: {} more not listed",
            report.summary.malformed - report.summary.malformed_records.len() as u64
        );
    }
    Ok(())
}

fn print_human(r: &Report) {
    let rows: Vec<Vec<String>> = r.findings.iter().map(row).collect();
    if rows.is_empty() {
        println!("No findings.");
    } else {
        output::table(
            &["severity", "score", "kind", "user", "session", "detected", "id"],
            &rows,
        );
        println!();
        for f in &r.findings {
            println!(
                "{} {} {}",
                f.severity.as_str().to_uppercase(),
                f.id,
                output::clean(&f.explanation, 2000)
            );
        }
    }
    let s = &r.summary;
    println!();
    println!(
        "{} events from {} file(s), {} users, {} sessions; {} malformed, {} ignored, {} out of order, {} without a place",
        s.events,
        s.files.len(),
        s.users,
        s.sessions,
        s.malformed,
        s.ignored,
        s.out_of_order,
        s.unlocated
    );
    let sev: Vec<String> = s.by_severity.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{} findings ({}); {} signals, {} suppressed",
        s.findings,
        sev.join(", "),
        s.signals,
        s.suppressed
    );
}

fn row(f: &Finding) -> Vec<String> {
    vec![
        f.severity.as_str().to_string(),
        f.score.to_string(),
        f.kind.as_str().to_string(),
        f.user.clone(),
        f.session.clone().unwrap_or_else(|| "-".into()),
        format_ms(f.detected_at),
        f.id.clone(),
    ]
}
