//! Bad days: authd crashing in the middle of a bulk revoke, 429 storms, responses cut off on the
//! wire, and the token inspector on real and forged tokens. Always the real authd and keyring;
//! network faults are injected by a small TCP proxy in front of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Authd, Gh, require_session_bus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn store(gh: &Gh) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        gh.home.join("data/gatehouse.db").display()
    ))
    .await
    .unwrap()
}

/// An admin token, waiting out the test's own tight rate limit.
async fn admin_token(authd: &Authd) -> String {
    for _ in 0..50 {
        let resp = reqwest::Client::new()
            .post(format!("{}/admin/v1/token", authd.url))
            .json(&serde_json::json!({"client_id": common::ADMIN_CLIENT, "client_secret": common::ADMIN_SECRET}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            continue;
        }
        let v: serde_json::Value = resp.json().await.unwrap();
        return v["access_token"].as_str().unwrap().to_string();
    }
    panic!("no admin token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_killed_during_a_bulk_revoke_loses_nothing_and_does_nothing_twice() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    // A tight admin rate limit makes the bulk run slow enough to crash the server in its middle.
    let mut authd = Authd::start(
        dir.path(),
        &["--admin-rate-limit", "3", "--admin-rate-window", "1s"],
    );
    authd.add_user("victim", false);
    let mut sessions = Vec::new();
    for i in 0..10 {
        let (_, sid) = authd.login("victim", &format!("81.2.69.{}", 140 + i)).await;
        sessions.push(sid);
    }
    let gh = Gh::new(&dir.path().join("home"));
    gh.add_profile("crash", &authd);

    let mut args = vec!["revoke".to_string(), "session".to_string()];
    args.extend(sessions.iter().cloned());
    args.push("--json".into());
    let child = gh
        .cmd()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill authd once a few revocations have been recorded as done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the bulk run never got going"
        );
        if gh.home.join("data/gatehouse.db").exists() {
            let pool = store(&gh).await;
            let done: i64 = sqlx::query_scalar("SELECT count(*) FROM actions WHERE state = 'succeeded'")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            if done >= 2 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    authd.kill();
    let first = child.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(7), "a partial run says so");
    let items: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let done_first: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "done")
        .map(|i| i["step"]["target"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !done_first.is_empty() && done_first.len() < sessions.len(),
        "{items}"
    );

    // Restart on the same database and run the same command again.
    authd.restart();
    let second = gh.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let items: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    for item in items.as_array().unwrap() {
        let target = item["step"]["target"].as_str().unwrap();
        assert_eq!(item["report"]["verified"], true, "{item}");
        // Sessions revoked in the first run are reported as already revoked, not revoked again.
        if done_first.iter().any(|d| d == target) {
            assert_eq!(item["report"]["alreadyDone"], true, "{item}");
        }
    }

    // Nothing lost: every pending action from the crash was resumed (same id), none is left.
    let pool = store(&gh).await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM actions WHERE state = 'pending'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 0);
    pool.close().await;
    // Nothing done twice: authd's own audit shows one effective revocation per session.
    let token = admin_token(&authd).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let audit: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/audit?limit=500", authd.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["items"].as_array().or(audit.as_array()).unwrap().clone();
    for sid in &sessions {
        let effective = entries
            .iter()
            .filter(|e| e["action"] == "revoke_session" && e["target"] == format!("session:{sid}"))
            .filter(|e| {
                let d = &e["detail"];
                let d: serde_json::Value = if let Some(s) = d.as_str() {
                    serde_json::from_str(s).unwrap()
                } else {
                    d.clone()
                };
                d["already_revoked"] == false
            })
            .count();
        assert_eq!(effective, 1, "session {sid} revoked {effective} times");
    }
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_ridden_out_and_an_unreasonable_wait_is_reported() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(
        dir.path(),
        &["--admin-rate-limit", "2", "--admin-rate-window", "1s"],
    );
    authd.add_user("u", false);
    let mut sessions = Vec::new();
    for i in 0..6 {
        sessions.push(authd.login("u", &format!("81.2.69.{}", 150 + i)).await.1);
    }
    let gh = Gh::new(&dir.path().join("home"));
    gh.add_profile("storm", &authd);
    let mut args = vec!["revoke", "session"];
    args.extend(sessions.iter().map(String::as_str));
    let out = gh.run(&args, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("ok ").count(), 6);

    // A server asking us to wait two minutes is reported as rate limiting (exit 6), not waited out.
    let dir2 = tempfile::tempdir().unwrap();
    let slow = Authd::start(
        dir2.path(),
        &["--admin-rate-limit", "1", "--admin-rate-window", "120s"],
    );
    let gh2 = Gh::new(&dir2.path().join("home"));
    gh2.add_profile("slow", &slow);
    let started = std::time::Instant::now();
    let out = gh2.run(&["sync"], None);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate limiting"));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// A TCP proxy in front of authd that, while `cut` is set, cuts every activity response off
/// after a few bytes (a dropped connection in the middle of a body).
async fn cutting_proxy(upstream: String, cut: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let cut = cut.clone();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let mut head = vec![0u8; 16 * 1024];
                let n = client.read(&mut head).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&head[..n]).to_string();
                // One request per connection, so every request passes through this check.
                let forwarded = match request.find("\r\n\r\n") {
                    Some(end) => {
                        let mut f = head[..end].to_vec();
                        f.extend_from_slice(b"\r\nConnection: close");
                        f.extend_from_slice(&head[end..n]);
                        f
                    }
                    None => head[..n].to_vec(),
                };
                server.write_all(&forwarded).await.unwrap();
                if cut.load(Ordering::SeqCst) && request.contains("/admin/v1/activity") {
                    let mut buf = vec![0u8; 400];
                    let got = server.read(&mut buf).await.unwrap_or(0);
                    let _ = client.write_all(&buf[..got.min(400)]).await;
                    return; // both sides dropped: the body is cut off
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cut_off_mid_body_stores_nothing_half_way_and_the_next_sync_resumes() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("carol", false);
    let (token, _) = authd.login("carol", "81.2.69.142").await;
    for _ in 0..25 {
        assert_eq!(authd.api(&token, "81.2.69.142").await, 200);
    }
    let cut = Arc::new(AtomicBool::new(true));
    let proxy_url = cutting_proxy(authd.url.clone(), cut.clone()).await;
    let gh = Gh::new(&dir.path().join("home"));
    let out = gh.run(
        &[
            "profile",
            "add",
            "cut",
            "--kind",
            "authd",
            "--url",
            &proxy_url,
            "--client-id",
            common::ADMIN_CLIENT,
        ],
        Some(&format!("{}\n", common::ADMIN_SECRET)),
    );
    assert!(out.status.success());

    let out = tokio::task::spawn_blocking({
        let home = gh.home.clone();
        move || Gh::new(&home).run(&["sync"], None)
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cut off"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = store(&gh).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM activity")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "no part of a cut-off page is stored");
    let cursor: Option<String> =
        sqlx::query_scalar("SELECT cursor FROM sync_state WHERE stream = 'activity'")
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten();
    assert_eq!(cursor, None);

    cut.store(false, Ordering::SeqCst);
    let report = tokio::task::spawn_blocking({
        let home = gh.home.clone();
        move || Gh::new(&home).json(&["sync"])
    })
    .await
    .unwrap();
    assert_eq!(report["activity"], 25);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM activity")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_verifies_a_real_token_finds_its_session_and_sees_the_revocation() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("dave", false);
    let (token, sid) = authd.login("dave", "81.2.69.142").await;
    assert_eq!(authd.api(&token, "81.2.69.142").await, 200);
    let gh = Gh::new(&dir.path().join("home"));
    gh.add_profile("insp", &authd);
    gh.ok(&["sync"]);

    let out = gh.run(&["inspect", "-", "--json"], Some(&token));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let i: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(i["signature"]["status"], "valid");
    assert_eq!(i["sessionId"], sid.as_str());
    assert_eq!(i["knownSession"], true);
    assert_eq!(i["revoked"], false);
    assert!(i["usableUntil"].is_string());

    gh.ok(&["revoke", "session", &sid]);
    let i = gh.json(&["inspect", &token]);
    assert_eq!(i["revoked"], true);
    assert_eq!(i["usableUntil"], serde_json::Value::Null);

    // A forged signature is named as such; a token with alg none is linted as critical.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    // Change one character in the middle of the signature (keeping the encoding canonical).
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
    parts[2] = sig.into_iter().collect();
    let forged = parts.join(".");
    let i = gh.json(&["inspect", &forged]);
    assert_eq!(i["signature"]["status"], "invalid", "{i}");
    let none = format!("{}.{}.", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", parts[1]);
    let i = gh.json(&["inspect", &none]);
    assert_ne!(i["signature"]["status"], "valid");
    assert!(
        i["lints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["severity"] == "critical"),
        "{i}"
    );
}
