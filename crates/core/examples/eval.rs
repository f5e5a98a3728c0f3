//! Prints precision, recall and F1 per kind over the labelled scenarios (or over your own
//! events and ground truth), at session level.
//!
//! ```text
//! cargo run -p gatehouse-core --example eval                      # built-in scenarios
//! cargo run -p gatehouse-core --example eval -- --set travel.kmh=1000
//! cargo run -p gatehouse-core --example eval -- --events sim.jsonl --truth truth.jsonl [--geoip CITY.mmdb]
//! ```

#[path = "../eval/harness.rs"]
mod harness;

use std::path::PathBuf;

use gatehouse_core::detect::batch::{self, Options};
use gatehouse_core::detect::{Config, Severity};
use gatehouse_core::enrich::{EnrichConfig, Enricher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut sets = Vec::new();
    let mut events: Vec<PathBuf> = Vec::new();
    let mut truth = None;
    let mut geoip = None;
    let mut per = 10usize;
    let mut min = Severity::Medium;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--set" => sets.push(args.next().ok_or("--set needs KEY=VALUE")?),
            "--events" => events.push(args.next().ok_or("--events needs a file")?.into()),
            "--truth" => truth = Some(PathBuf::from(args.next().ok_or("--truth needs a file")?)),
            "--geoip" => geoip = Some(PathBuf::from(args.next().ok_or("--geoip needs a file")?)),
            "--per" => per = args.next().ok_or("--per needs a number")?.parse()?,
            "--min-severity" => min = args.next().ok_or("--min-severity needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let cfg = Config::default().with_overrides(sets.iter().map(String::as_str))?;
    let (findings, truth) = if let Some(t) = truth {
        let truth = harness::read_truth(&std::fs::read_to_string(t)?)?;
        let enricher = Enricher::open(&EnrichConfig {
            city_db: geoip,
            asn_db: None,
        })?;
        let options = Options {
            configs: vec![cfg],
            ..Options::default()
        };
        let mut reports = batch::analyze(&events, &options, &enricher)?;
        (reports.pop().map(|r| r.findings).unwrap_or_default(), truth)
    } else {
        let s = harness::scenarios(per);
        println!(
            "{} events, {} labelled sessions ({} users per scenario)",
            s.events.len(),
            s.truth.len(),
            per
        );
        (harness::run_engine(&s.events, cfg), s.truth)
    };
    let ev = harness::evaluate(&findings, &truth, min);
    println!(
        "Session level, a kind counts when a finding of severity >= {} contains it:\n",
        min.as_str()
    );
    print!("{}", harness::table(&ev));
    println!("\nDetected attack sessions by severity: {:?}", ev.attack_severity);
    println!("Highest severity on benign classes: {:?}", ev.class_max);
    if ev.over_severity.is_empty() {
        println!("No session above its tolerated severity (travellers and VPN users: at most medium).");
    } else {
        println!("Sessions above their tolerated severity:");
        for (class, s, sev) in &ev.over_severity {
            println!("  {class} {s} {}", sev.as_str());
        }
    }
    for (s, kinds) in ev.false_positive_sessions.iter().take(20) {
        println!("  false positive: {s} {kinds:?}");
        if let Some(f) = findings
            .iter()
            .find(|f| format!("{}/{}", f.user, f.session.as_deref().unwrap_or("")) == *s)
        {
            println!("    {}", f.explanation);
        }
    }
    Ok(())
}
