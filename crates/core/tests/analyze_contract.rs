#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `gatehouse analyze --json` contract and the batch pipeline over every input format.

use std::path::PathBuf;

use gatehouse_core::detect::batch::{self, Options};
use gatehouse_core::detect::{Config, Engine, Kind, Severity};
use gatehouse_core::enrich::{EnrichConfig, Enricher};
use gatehouse_core::ingest::{Format, Parsed, parse_record};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/detect")).join(name)
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip")).join(name)
}

fn geo() -> Enricher {
    Enricher::open(&EnrichConfig {
        city_db: Some(data("GeoIP2-City-Test.mmdb")),
        asn_db: Some(data("GeoLite2-ASN-Test.mmdb")),
    })
    .unwrap()
}

fn run(paths: &[PathBuf], format: Format) -> batch::Report {
    let options = Options {
        format,
        ..Options::default()
    };
    batch::analyze(paths, &options, &geo()).unwrap().pop().unwrap()
}

#[test]
fn json_document_has_exactly_the_contract_keys() {
    let report = run(&[fixture("contract.jsonl")], Format::Auto);
    let v = serde_json::to_value(&report).unwrap();
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["findings", "summary"]);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "detected_at",
            "evidence",
            "explanation",
            "first_seen",
            "id",
            "kind",
            "last_seen",
            "score",
            "session",
            "severity",
            "user"
        ]
    );
    // Identifiers exactly as in the input; times RFC 3339; score 0-100.
    assert_eq!(f["user"], "Åsa.Lindqvist@example.se");
    assert_eq!(f["session"], "0042-ABC");
    assert_eq!(f["first_seen"], "2026-07-01T12:00:00.000Z");
    assert_eq!(f["detected_at"], "2026-07-01T12:30:00.000Z");
    assert_eq!(f["last_seen"], "2026-07-01T12:34:00.000Z");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["kind"], "concurrent_use");
    assert!(f["score"].as_u64().unwrap() <= 100);
    assert!(f["id"].as_str().unwrap().starts_with("f-"));
    for ev in f["evidence"].as_array().unwrap() {
        let mut k: Vec<&str> = ev.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        assert_eq!(
            k,
            ["at", "event", "explanation", "facts", "kind", "previous", "score"]
        );
        assert!(ev["at"].as_str().unwrap() >= f["detected_at"].as_str().unwrap());
    }
    let s = &v["summary"];
    assert_eq!(s["events"], 7);
    assert_eq!(s["malformed"], 2);
    assert_eq!(s["malformed_records"][0]["line"], 7);
    assert_eq!(s["malformed_records"][1]["line"], 8);
    assert!(
        s["malformed_records"][1]["message"]
            .as_str()
            .unwrap()
            .contains("user")
    );
    assert_eq!(s["files"][0]["format"], "jsonl");
    assert_eq!(s["by_severity"]["critical"], 1);
    assert_eq!(s["geoip_city"], true);
}

#[test]
fn vendor_exports_are_detected_sorted_and_analysed() {
    let okta = run(&[fixture("okta.json")], Format::Auto);
    assert_eq!(okta.summary.files[0].format, "okta");
    assert_eq!(
        (okta.summary.events, okta.summary.ignored, okta.summary.malformed),
        (2, 1, 1)
    );
    let f = &okta.findings[0];
    assert_eq!(
        (f.user.as_str(), f.session.as_deref()),
        ("alice@example.com", Some("102abcSESSION"))
    );
    assert!(f.kinds().contains(&Kind::ImpossibleTravel) && f.kinds().contains(&Kind::DeviceChange));
    assert!(f.severity.is_actionable(), "{}", f.explanation);

    let kc = run(&[fixture("keycloak.json")], Format::Auto);
    assert_eq!(kc.summary.files[0].format, "keycloak");
    assert_eq!(kc.findings.len(), 1);
    assert_eq!(kc.findings[0].kind, Kind::RevokedTokenUse);
    assert!(kc.findings[0].explanation.contains("session_not_active"));

    // Auth0 pages come newest first: the pipeline sorts them before detection.
    let a0 = run(&[fixture("auth0.json")], Format::Auto);
    assert_eq!(a0.summary.files[0].format, "auth0");
    assert_eq!(a0.summary.out_of_order, 0);
    let f = &a0.findings[0];
    assert_eq!(f.session.as_deref(), Some("sess_A1"));
    assert!(f.kinds().contains(&Kind::RevokedTokenUse), "{}", f.explanation);
    assert_eq!(f.first_seen, 1_782_907_200_000);

    // Several files at once are merged into one timeline.
    let all = run(
        &[
            fixture("okta.json"),
            fixture("keycloak.json"),
            fixture("auth0.json"),
        ],
        Format::Auto,
    );
    assert_eq!(all.summary.files.len(), 3);
    assert_eq!(
        all.summary.events,
        okta.summary.events + kc.summary.events + a0.summary.events
    );
}

#[test]
fn unknown_format_is_an_error_and_forced_format_reports_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.jsonl");
    std::fs::write(&p, "{\"a\":1}\n{\"b\":2}\n").unwrap();
    let err = batch::analyze(std::slice::from_ref(&p), &Options::default(), &geo()).unwrap_err();
    assert!(err.to_string().contains("cannot tell the format"), "{err}");
    let r = run(&[p], Format::Jsonl);
    assert_eq!(r.summary.malformed, 2);
}

/// The incremental engine and the batch pipeline agree.
#[test]
fn live_feeding_equals_batch() {
    let path = fixture("contract.jsonl");
    let batch_findings = run(std::slice::from_ref(&path), Format::Auto).findings;
    let mut en = geo();
    let mut engine = Engine::new(Config::default());
    let mut live_updates = Vec::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        if let Ok(Parsed::Event(mut e)) = parse_record(Format::Jsonl, line.as_bytes()) {
            en.enrich(&mut e);
            if let Some(f) = engine.observe(&e) {
                live_updates.push(f);
            }
        }
    }
    assert_eq!(engine.findings(), batch_findings);
    assert!(
        live_updates.len() >= 2,
        "findings are updated as evidence arrives"
    );
    assert!(live_updates.windows(2).all(|w| w[0].id == w[1].id));
    assert!(live_updates.first().unwrap().severity <= live_updates.last().unwrap().severity);
}

#[test]
fn backtest_runs_two_configurations_over_one_read() {
    let strict = Config::default()
        .with_overrides([
            "concurrent.min_switches=99",
            "travel.kmh=100000",
            "travel.tier2_kmh=100000",
        ])
        .unwrap();
    let options = Options {
        configs: vec![strict, Config::default()],
        ..Options::default()
    };
    let reports = batch::analyze(&[fixture("contract.jsonl")], &options, &geo()).unwrap();
    assert_eq!(reports.len(), 2);
    let diff = batch::backtest_diff(&reports[1].findings, &reports[0].findings);
    assert!(diff.iter().any(|(k, s, before, after)| k == "concurrent_use"
        && s == "critical"
        && *before == 1
        && *after == 0));
    assert!(
        reports[0]
            .findings
            .iter()
            .all(|f| f.severity < Severity::Critical)
    );
}

/// The batch pipeline keeps generic JSONL strings in the chunk's text, numbers its GeoIP and
/// User-Agent lookups (see `ingest::lean`) and splits detection by user across threads, each
/// keeping the whole stream's clock. Over many chunks of varied lines — JSON escapes, a line that
/// is not UTF-8, places and networks given by the source, a city without coordinates, token ids
/// without sessions, no User-Agent, late events, a session resumed after the idle sweep — it
/// must find and count exactly what one engine finds fed one owned, enriched event at a time,
/// whatever the number of threads.
#[test]
fn chunked_lean_events_equal_owned_events() {
    const IPS: &[&str] = &[
        "81.2.69.142",
        "175.16.199.0",
        "216.160.83.56",
        "89.160.20.112",
        "2.125.160.216",
        "67.43.156.0",
        "2001:480::1",
    ];
    const UAS: &[&str] = &[
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "python-requests/2.31.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
        "curl/8.5.0 \\\"quoted\\\"",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut text: Vec<u8> = Vec::new();
    let t0 = 1_780_272_000_000i64;
    const LINES: usize = 70_000;
    for i in 0..LINES {
        let user = if i % 97 == 0 {
            format!("u{}\\u00e9@example.com", next(40))
        } else {
            format!("user{}@example.com", next(40))
        };
        // Now and then a late event (ten minutes behind).
        let ts = t0 + (i as i64) * 7_000 - if i % 500 == 499 { 600_000 } else { 0 };
        let ip = IPS[next(IPS.len())];
        let ident = match next(10) {
            // One session used at the start and again days later, after the idle sweep.
            _ if i == 5 || i == LINES - 5 => "\"session\":\"napping\"".to_string(),
            0 => format!("\"jti\":\"tok-{}\"", next(300)),
            1 => format!("\"session\":\"s\\/{}\"", next(300)),
            _ => format!("\"session\":\"s-{}\",\"jti\":\"j{}\"", next(300), next(5)),
        };
        let ua = match next(8) {
            0 => String::new(),
            k => format!(",\"ua\":\"{}\"", UAS[k % UAS.len()]),
        };
        let place = match next(20) {
            0 => ",\"lat\":48.85,\"lon\":2.35,\"city\":\"Paris\",\"country\":\"FR\"".to_string(),
            1 => ",\"city\":\"Somewhere\",\"country\":\"SE\"".to_string(),
            2 => ",\"asn\":64500,\"as_org\":\"Example \\\"Net\\\"\",\"proxy\":true".to_string(),
            _ => String::new(),
        };
        let request = match next(30) {
            0 => ",\"method\":\"POST\",\"path\":\"/logout\"".to_string(),
            1 => ",\"method\":\"POST\",\"path\":\"/account/password\"".to_string(),
            2 => ",\"status\":401,\"denial\":\"token_revoked\",\"path\":\"/api\"".to_string(),
            _ => ",\"method\":\"GET\",\"path\":\"/api/v1/items?page=2\"".to_string(),
        };
        let line =
            format!("{{\"ts\":{ts},\"user\":\"{user}\",\"ip\":\"{ip}\",{ident}{ua}{place}{request}}}\n");
        text.extend_from_slice(line.as_bytes());
        if i == 9_000 {
            // Not UTF-8: reported on its line; the rest of its chunk is read as usual.
            text.extend_from_slice(b"{\"ts\":1,\"user\":\"bad\xff\",\"ip\":\"1.2.3.4\"}\n");
        }
    }
    assert!(text.len() > 3 << 20, "several chunks: {} bytes", text.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("varied.jsonl");
    std::fs::write(&path, &text).unwrap();

    let reports: Vec<batch::Report> = [1, 2, 3]
        .into_iter()
        .map(|threads| {
            let options = Options {
                format: Format::Jsonl,
                threads,
                ..Options::default()
            };
            batch::analyze(std::slice::from_ref(&path), &options, &geo())
                .unwrap()
                .pop()
                .unwrap()
        })
        .collect();
    let report = &reports[1];
    assert_eq!(report.summary.malformed, 1);
    assert_eq!(report.summary.malformed_records[0].line, 9_002);
    assert_eq!(report.summary.events, LINES as u64);

    let mut en = geo();
    let mut engine = Engine::new(Config::default());
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Parsed::Event(mut e)) = parse_record(Format::Jsonl, line) {
            en.enrich(&mut e);
            engine.observe(&e);
        }
    }
    let owned = engine.findings();
    assert!(owned.len() > 10, "the file raises findings: {}", owned.len());
    assert!(
        owned
            .iter()
            .any(|f| f.user.contains('é') || f.session.as_deref().is_some_and(|s| s.contains('/'))),
        "escaped identifiers reach the findings"
    );
    let stats = engine.stats();
    assert!(stats.out_of_order > 100, "late events: {}", stats.out_of_order);
    for (r, threads) in reports.iter().zip([1, 2, 3]) {
        assert_eq!(r.findings, owned, "{threads} threads");
        let s = &r.summary;
        assert_eq!(
            (s.users, s.sessions, s.unlocated, s.out_of_order, s.signals),
            (
                stats.users,
                stats.sessions,
                stats.unlocated,
                stats.out_of_order,
                stats.signals
            ),
            "{threads} threads"
        );
    }
    // The napping session was forgotten by the sweep and counted again when it woke.
    let mut unswept = Engine::new(
        Config::default()
            .with_overrides(["engine.session_idle_hours=10000"])
            .unwrap(),
    );
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Parsed::Event(mut e)) = parse_record(Format::Jsonl, line) {
            en.enrich(&mut e);
            unswept.observe(&e);
        }
    }
    assert!(unswept.stats().sessions < stats.sessions, "the sweep ran");
}
