//! The real binary, over real HTTP on a free loopback port.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_serves_health_on_a_free_port() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse-authd"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_string();
    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}
