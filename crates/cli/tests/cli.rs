//! The real `gatehouse` binary, with its own data folder.

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn help_lists_exit_codes_and_examples() {
    Command::cargo_bin("gatehouse")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Exit codes").and(predicate::str::contains("gatehouse status --json")),
        );
}

#[test]
fn status_json_reports_the_folders_it_was_given() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("gatehouse")
        .unwrap()
        .env("GATEHOUSE_HOME", home.path())
        .env("GATEHOUSE_KEYRING_NAMESPACE", "test")
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dataDir"], home.path().join("data").display().to_string());
    assert_eq!(v["keyring"]["namespace"], "test");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn unknown_namespace_is_a_validation_error_with_exit_code_2() {
    let home = tempfile::tempdir().unwrap();
    Command::cargo_bin("gatehouse")
        .unwrap()
        .env("GATEHOUSE_HOME", home.path())
        .env("GATEHOUSE_KEYRING_NAMESPACE", "prod")
        .arg("status")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown keyring namespace"));
}
