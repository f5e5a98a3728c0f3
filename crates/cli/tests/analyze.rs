#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `gatehouse analyze`: the real binary over the core's fixtures and the shared GeoIP test data.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn fixture(name: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/fixtures/detect"
    ))
    .join(name)
    .display()
    .to_string()
}

fn geoip(name: &str) -> String {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip"))
        .join(name)
        .display()
        .to_string()
}

fn gatehouse() -> Command {
    let home = std::env::temp_dir().join("gatehouse-cli-analyze-test");
    let mut c = Command::cargo_bin("gatehouse").unwrap();
    c.env("GATEHOUSE_HOME", home)
        .env("GATEHOUSE_KEYRING_NAMESPACE", "test")
        .env_remove("GATEHOUSE_GEOIP")
        .env_remove("GATEHOUSE_ASN");
    c
}

#[test]
fn help_documents_schema_contract_and_settings() {
    gatehouse().args(["analyze", "--help"]).assert().success().stdout(
        predicate::str::contains("required  ts")
            .and(predicate::str::contains("\"detected_at\""))
            .and(predicate::str::contains("travel.min_km [500]"))
            .and(predicate::str::contains("--backtest")),
    );
}

#[test]
fn json_output_follows_the_contract() {
    let out = gatehouse()
        .args([
            "analyze",
            "--json",
            "--geoip",
            &geoip("GeoIP2-City-Test.mmdb"),
            "--asn",
            &geoip("GeoLite2-ASN-Test.mmdb"),
        ])
        .arg(fixture("contract.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["user"], "Åsa.Lindqvist@example.se");
    assert_eq!(f["session"], "0042-ABC");
    assert_eq!(f["severity"], "critical");
    assert_eq!(v["summary"]["malformed"], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("contract.jsonl:7:") && stderr.contains("contract.jsonl:8:"),
        "{stderr}"
    );
}

#[test]
fn human_output_and_backtest_table() {
    gatehouse()
        .args([
            "analyze",
            "--geoip",
            &geoip("GeoIP2-City-Test.mmdb"),
            "--set",
            "concurrent.min_switches=50",
            "--backtest",
        ])
        .arg(fixture("contract.jsonl"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Åsa.Lindqvist@example.se")
                .and(predicate::str::contains("Backtest"))
                .and(predicate::str::contains("concurrent_use")),
        );
}

#[test]
fn vendor_format_is_auto_detected() {
    gatehouse()
        .args(["analyze", "--json"])
        .arg(fixture("okta.json"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("\"format\": \"okta\"").and(predicate::str::contains("102abcSESSION")),
        );
}

#[test]
fn bad_settings_and_missing_files_have_documented_exit_codes() {
    gatehouse()
        .args(["analyze", "--set", "travel.nope=1"])
        .arg(fixture("contract.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown setting `travel.nope`"));
    gatehouse()
        .args(["analyze", "--set", "travel.kmh=fast"])
        .arg(fixture("contract.jsonl"))
        .assert()
        .code(2);
    gatehouse()
        .args(["analyze", "/nonexistent/file.jsonl"])
        .assert()
        .code(3);
    gatehouse()
        .args(["analyze", "--format", "splunk"])
        .arg(fixture("contract.jsonl"))
        .assert()
        .code(2);
}
