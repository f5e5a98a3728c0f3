//! Shared Signals through the real binary: a verified `revoke session` in one console is
//! announced as a CAEP session-revoked SET, pushed to a second console's `ssf receive`
//! endpoint (validated there against the first one's JWKS), applied to the session the
//! second console knows and listed by `ssf received`; both sides audit it. Real authd, real keyring, real SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{Authd, Gh, require_session_bus};

fn append(gh: &Gh, toml: &str) {
    let path = gh.home.join("config/config.toml");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(toml.as_bytes()).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_revocation_is_announced_to_another_console_as_a_caep_set() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("alice", false);
    let (_token, sid) = authd.login("alice", "81.2.69.142").await;
    let rport = free_port();

    let tx = Gh::new(&dir.path().join("transmitter"));
    tx.add_profile("demo", &authd);
    append(
        &tx,
        &format!(
            "\n[profiles.demo.ssf]\nissuer = \"https://gatehouse.test/tx\"\n\n[[profiles.demo.ssf.receivers]]\nname = \"rp\"\nendpoint = \"http://127.0.0.1:{rport}/\"\naudience = \"https://gatehouse.test/rx\"\n"
        ),
    );
    let jwks = tx.json(&["ssf", "jwks"]);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let j = jwks.clone();
            async move { axum::Json(j) }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });

    let rx = Gh::new(&dir.path().join("receiver"));
    rx.add_profile("demo", &authd);
    append(
        &rx,
        &format!(
            "\n[profiles.demo.ssf]\nissuer = \"https://gatehouse.test/rx\"\n\n[profiles.demo.ssf.transmitter]\nissuer = \"https://gatehouse.test/tx\"\njwks_url = \"{jwks_url}\"\naudience = \"https://gatehouse.test/rx\"\n"
        ),
    );
    let mut receiver = rx
        .cmd()
        .args(["ssf", "receive", "--listen", &format!("127.0.0.1:{rport}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", rport)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the receiver never listened");

    tx.ok(&["sync"]);
    // The receiving console knows the session from its own sync of the same provider.
    rx.ok(&["sync"]);
    let r = tx.json(&["revoke", "session", &sid]);
    assert_eq!(r["verified"], true);
    let got = rx.json(&["ssf", "received"]);
    let items = got.as_array().unwrap();
    assert_eq!(items.len(), 1, "{got}");
    assert_eq!(
        items[0]["event"],
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
    );
    assert_eq!(items[0]["subId"]["session"]["id"], sid.as_str());
    assert_eq!(items[0]["iss"], "https://gatehouse.test/tx");
    // Applied to the receiver's store: the session it names ended there.
    assert_eq!(items[0]["applied"]["effect"], "ended", "{got}");
    assert_eq!(items[0]["applied"]["sessionsEnded"][0], sid.as_str());

    let tx_audit = tx.json(&["audit", "list"]);
    let actions: Vec<&str> = tx_audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"ssf.emit") && actions.contains(&"ssf.delivered"),
        "{actions:?}"
    );
    let rx_audit = rx.json(&["audit", "list"]);
    assert!(
        rx_audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "ssf.received")
    );
    let d = tx.json(&["ssf", "deliver"]);
    assert_eq!(d["pendingTotal"], 0);

    let _ = receiver.kill();
    let _ = receiver.wait();
}
