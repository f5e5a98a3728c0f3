//! The analyst's whole workflow through the real `gatehouse` binary, against a real authd over
//! HTTP, the real OS keyring and a real SQLite store: profile, sync, list, revoke each way,
//! reset, contain, audit verify; then the secret scan and tampering with the audit table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN_SECRET, Authd, Gh, contains, files_under, require_session_bus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_workflow_revokes_verifies_audits_and_leaks_nothing() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("alice", false);
    authd.add_user("bob", false);
    let mut gh = Gh::new(&dir.path().join("home"));
    gh.log = "debug";

    gh.add_profile("demo", &authd);
    let config = std::fs::read_to_string(dir.path().join("home/config/config.toml")).unwrap();
    assert!(config.contains("[profiles.demo]") && !config.contains(ADMIN_SECRET));
    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["reachable"], true);
    assert_eq!(check["authenticated"], true);

    // Sessions with activity: alice twice (home and a thief far away), bob once.
    let (alice1, _s_alice1) = authd.login("alice", "81.2.69.142").await;
    let (alice2, s_alice2) = authd.login("alice", "175.16.199.1").await;
    let (bob, _s_bob) = authd.login("bob", "81.2.69.160").await;
    for _ in 0..3 {
        assert_eq!(authd.api(&alice1, "81.2.69.142").await, 200);
        assert_eq!(authd.api(&alice2, "175.16.199.1").await, 200);
        assert_eq!(authd.api(&bob, "81.2.69.160").await, 200);
    }

    let report = gh.json(&["sync"]);
    assert_eq!(report["users"], 2);
    assert_eq!(report["sessions"], 3);
    assert!(report["activity"].as_u64().unwrap() >= 9, "{report}");
    // A second sync brings only what is new.
    assert_eq!(gh.json(&["sync"])["activity"], 0);

    let users = gh.json(&["users"]);
    let alice_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions = gh.json(&["sessions", "--user", &alice_id, "--active"]);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let activity = gh.json(&["activity", &s_alice2]);
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["ip"] == "175.16.199.1")
    );

    // Revoke the thief's session: verified, and the very next request is refused.
    let r = gh.json(&["revoke", "session", &s_alice2]);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["residual"]["until"], serde_json::Value::Null);
    assert_eq!(authd.api(&alice2, "175.16.199.1").await, 401);
    assert_eq!(
        authd.api(&alice1, "81.2.69.142").await,
        200,
        "the victim's other session keeps working"
    );
    // Repeating it is harmless and says so.
    assert_eq!(gh.json(&["revoke", "session", &s_alice2])["alreadyDone"], true);

    // Revoke one token by pasting it.
    let r = gh.json(&["revoke", "token", &alice1]);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(authd.api(&alice1, "81.2.69.142").await, 401);

    // Forced reset with MFA for bob.
    let r = gh.json(&["reset-password", &bob_id, "--require-mfa"]);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(authd.api(&bob, "81.2.69.160").await, 401);

    // Contain alice: the dry run lists the steps, in order, and does nothing.
    let (alice3, _) = authd.login("alice", "81.2.69.142").await;
    let plan = gh.json(&["contain", &alice_id, "--dry-run"]);
    let kinds: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["force_password_reset", "revoke_user_sessions"]);
    assert_eq!(
        authd.api(&alice3, "81.2.69.142").await,
        200,
        "a dry run changes nothing"
    );
    let done = gh.json(&["contain", &alice_id]);
    assert!(
        done.as_array().unwrap().iter().all(|r| r["verified"] == true),
        "{done}"
    );
    assert_eq!(authd.api(&alice3, "81.2.69.142").await, 401);

    // The audit log: intent and outcome of every action, and an intact chain.
    let verify = gh.json(&["audit", "verify"]);
    assert_eq!(verify["ok"], true, "{verify}");
    let export = dir.path().join("audit.jsonl");
    gh.ok(&["audit", "export", "-o", export.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intents = lines
        .iter()
        .filter(|l| l["action"].as_str().unwrap().ends_with(".intent"))
        .count();
    let outcomes = lines
        .iter()
        .filter(|l| l["action"].as_str().unwrap().ends_with(".outcome"))
        .count();
    // revoke session twice, revoke token, reset, and contain (reset + revoke all sessions).
    assert_eq!((intents, outcomes), (6, 6), "{lines:#?}");
    assert!(lines.iter().all(|l| l["actor"] == "analyst@test"));

    // The secret never reached the config, the data folder, the output or the logs (debug level).
    for (path, bytes) in files_under(&gh.home) {
        assert!(
            !contains(&bytes, ADMIN_SECRET),
            "admin secret found in {}",
            path.display()
        );
    }
    let transcript = gh.transcript.borrow().clone();
    assert!(
        transcript.contains("DEBUG") || transcript.contains("debug"),
        "debug logging was on"
    );
    assert!(
        !transcript.contains(ADMIN_SECRET),
        "admin secret in the CLI's output or logs"
    );
    // It is in the keyring, under the test namespace.
    let out = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "gatehouse-test",
            "username",
            "profile/demo/client-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), ADMIN_SECRET);

    // Tampering with the audit table is found and named.
    let db = gh.home.join("data/gatehouse.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER audit_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit SET target = 'someone-else' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = gh.run(&["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 3 was edited"));

    gh.ok(&["profile", "remove", "demo"]);
    let out = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "gatehouse-test",
            "username",
            "profile/demo/client-secret",
        ])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "profile remove deletes the keyring entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_backend_and_bad_input_get_clear_errors_and_exit_codes() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let mut authd = Authd::start(dir.path(), &[]);
    let gh = Gh::new(&dir.path().join("home"));
    // Profile names are keyring entries: each test has its own.
    gh.add_profile("down", &authd);
    authd.kill();
    let out = gh.run(&["sync"], None);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the backend"));

    let out = gh.run(&["inspect", "not-a-token"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gh.run(&["--profile", "nope", "users"], None);
    assert_eq!(out.status.code(), Some(3));
    let out = gh.run(
        &[
            "profile",
            "add",
            "x",
            "--kind",
            "authd",
            "--url",
            "http://idp.example.com",
            "--client-id",
            "c",
        ],
        Some("s\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));
}
