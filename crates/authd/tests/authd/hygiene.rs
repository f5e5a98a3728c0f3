//! Activity recording, client IPs, input bounds, and the real binary: CLI subcommands and a
//! workflow whose trace-level logs must contain no secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::common::{Authd, s};

#[tokio::test]
async fn every_api_request_is_recorded_allowed_or_denied_with_its_reason() {
    let a = Authd::start().await;
    let uid = a.add_user("rita").await;
    let admin = a.admin_token().await;
    let t = a.login("rita").await;
    let access = s(&t["access_token"]);
    let sid = s(&t["session_id"]);
    let (_, claims) = crate::common::jwt_parts(access);
    let ua = [("user-agent", "forensics-test/1.0")];
    a.call_with(Method::GET, "/api/me", Some(access), None, &ua).await;
    a.call_with(Method::GET, "/api/projects/999999", Some(access), None, &ua)
        .await;
    a.call_with(
        Method::POST,
        "/api/me/settings",
        Some(access),
        Some(json!({"display_name": "R."})),
        &ua,
    )
    .await;
    a.post(
        &format!("/admin/v1/sessions/{sid}/revoke"),
        Some(&admin),
        json!({}),
    )
    .await;
    let denied = a
        .call_with(Method::GET, "/api/invoices", Some(access), None, &ua)
        .await;
    assert_eq!(denied.status, 401);
    // Not attributable to a session, but still recorded (checked through the database).
    a.call(Method::GET, "/api/me", Some("not.a.jwt"), None).await;
    a.call(Method::GET, "/api/me", None, None).await;

    let rows = a.activity(&admin, sid).await;
    let summary: Vec<(String, i64, Option<String>, bool)> = rows
        .iter()
        .map(|r| {
            (
                format!("{} {}", s(&r["method"]), s(&r["path"])),
                r["status"].as_i64().unwrap(),
                r["denial_reason"].as_str().map(str::to_owned),
                r["sensitive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET /api/me".to_owned(), 200, None, false),
            (
                "GET /api/projects/999999".to_owned(),
                404,
                Some("not_found".to_owned()),
                false
            ),
            ("POST /api/me/settings".to_owned(), 200, None, true),
            (
                "GET /api/invoices".to_owned(),
                401,
                Some("session_revoked".to_owned()),
                false
            ),
        ]
    );
    for r in &rows {
        assert_eq!(r["user_id"], uid);
        assert_eq!(r["jti"], claims["jti"]);
        assert_eq!(r["client_ip"], "127.0.0.1");
        assert_eq!(r["user_agent"], "forensics-test/1.0");
        assert!(r["at_ms"].as_i64().unwrap() > 1_600_000_000_000);
    }
    let anonymous: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT denial_reason, user_id FROM activity WHERE session_id IS NULL ORDER BY id")
            .fetch_all(&a.state.db)
            .await
            .unwrap();
    assert_eq!(
        anonymous,
        vec![
            ("bad_encoding".to_owned(), None),
            ("missing_token".to_owned(), None)
        ]
    );
    a.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    let trusting = Authd::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let plain = Authd::start().await;
    for (a, expected) in [(&trusting, "203.0.113.77"), (&plain, "127.0.0.1")] {
        a.add_user("sam").await;
        let admin = a.admin_token().await;
        let login = a
            .http
            .post(format!("{}/auth/login", a.base))
            .header("x-forwarded-for", "203.0.113.77")
            .json(&json!({"username": "sam", "password": crate::common::PASSWORD}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let sid = s(&login["session_id"]);
        a.call_with(
            Method::GET,
            "/api/me",
            Some(s(&login["access_token"])),
            None,
            &[("x-forwarded-for", "203.0.113.77")],
        )
        .await;
        let rows = a.activity(&admin, sid).await;
        assert_eq!(rows[0]["client_ip"], expected);
        let session = a.get(&format!("/admin/v1/sessions/{sid}"), &admin).await;
        assert_eq!(session.body["session"]["client_ip"], expected);
    }
    trusting.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn bad_input_gets_json_errors_413_400_415_431_404() {
    let a = Authd::start_with(|c| c.max_body_bytes = 1024).await;
    let big = "x".repeat(4096);
    let r = a
        .post("/auth/login", None, json!({"username": big, "password": "p"}))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"], "payload_too_large");

    let raw = |body: &'static str, ct: &'static str| {
        a.http
            .post(format!("{}/auth/login", a.base))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = raw("{\"username\": ", "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "malformed_json");
    assert!(body["message"].is_string());
    let r = raw("{\"username\": 5}", "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let r = raw("username=x", "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "unsupported_media_type"
    );

    let huge = "h".repeat(20 * 1024);
    let r = a
        .call_with(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-filler", huge.as_str())],
        )
        .await;
    assert_eq!(r.status, 431);
    assert_eq!(r.body["error"], "headers_too_large");
    let r = a.call(Method::GET, "/nope", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
    let r = a.call(Method::DELETE, "/auth/login", None, None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["error"], "method_not_allowed");
    a.stop().await;
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gatehouse-authd"))
}

/// Runs a CLI subcommand and returns its stdout (`key=value` lines).
fn cli(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = bin()
        .args(args)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
}

#[tokio::test]
async fn cli_workflow_over_the_binary_never_logs_secrets_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("authd.db");
    let db = db.to_str().unwrap();
    let password = "cli user passphrase 123";
    let created = cli(
        &[
            "admin",
            "create-client",
            "--db",
            db,
            "--client-id",
            "cli-console",
            "--insecure-fast-hashing",
        ],
        None,
    );
    let cli_secret = value(&created, "client_secret").to_owned();
    assert!(cli_secret.starts_with("gh_admin_"));
    let added = cli(
        &[
            "user",
            "add",
            "--db",
            db,
            "--username",
            "uma",
            "--email",
            "uma@example.test",
            "--insecure-fast-hashing",
        ],
        Some(&format!("{password}\n")),
    );
    let uid = value(&added, "user_id").to_owned();
    let first = cli(&["keys", "rotate", "--db", db], None);
    let rotated = cli(&["keys", "rotate", "--db", db], None);
    assert_eq!(value(&rotated, "retired_kid"), value(&first, "new_kid"));

    let env_secret = "env-provided-admin-secret-xyz";
    let mut child = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db,
            "--trusted-proxy",
            "127.0.0.1",
            "--access-ttl",
            "5m",
            "--admin-client",
            "demo",
            "--admin-secret-env",
            "GH_TEST_ADMIN_SECRET",
            "--insecure-fast-hashing",
        ])
        .env("RUST_LOG", "trace")
        .env("GH_TEST_ADMIN_SECRET", env_secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let mut stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });

    let http = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut req = http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let t: serde_json::Value = post(
        "/auth/login",
        None,
        json!({"username": "uma", "password": password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let access = s(&t["access_token"]).to_owned();
    let refresh = s(&t["refresh_token"]).to_owned();
    assert_eq!(t["expires_in"], 300);
    let t2: serde_json::Value = post("/auth/refresh", None, json!({"refresh_token": refresh}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh2 = s(&t2["refresh_token"]).to_owned();
    let me = http
        .get(format!("{base}/api/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let mut admin_tokens = Vec::new();
    for (id, secret) in [("cli-console", cli_secret.as_str()), ("demo", env_secret)] {
        let r: serde_json::Value = post(
            "/admin/v1/token",
            None,
            json!({"client_id": id, "client_secret": secret}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        admin_tokens.push(s(&r["access_token"]).to_owned());
    }
    let reset: serde_json::Value = post(
        &format!("/admin/v1/users/{uid}/force-password-reset"),
        Some(&admin_tokens[0]),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(reset["user"]["password_change_required"], true);
    let l: serde_json::Value = post(
        "/auth/login",
        None,
        json!({"username": "uma", "password": password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let reset_token = s(&l["reset_token"]).to_owned();
    let new_password = "a second cli passphrase 456";
    let p: serde_json::Value = post(
        "/auth/password",
        None,
        json!({"reset_token": reset_token, "new_password": new_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let enrollment = s(&p["enrollment_token"]).to_owned();
    // Wrong password and an oversized body are logged as failures, still without secrets.
    post(
        "/auth/login",
        None,
        json!({"username": "uma", "password": "wrong-password-secret"}),
    )
    .await
    .unwrap();

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM");
    let logs = log_reader.join().unwrap();
    assert!(logs.contains("session started"), "trace logs were captured");
    assert!(logs.contains("gatehouse-authd stopped"));
    for secret in [
        password,
        new_password,
        "wrong-password-secret",
        cli_secret.as_str(),
        env_secret,
        access.as_str(),
        refresh.as_str(),
        refresh2.as_str(),
        admin_tokens[0].as_str(),
        admin_tokens[1].as_str(),
        reset_token.as_str(),
        enrollment.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    // Token fragments too: the signature part of a JWT alone is enough to be careless with.
    let sig = access.rsplit('.').next().unwrap();
    assert!(!logs.contains(sig));
    // The activity of the run was flushed at shutdown.
    let pool = gatehouse_authd::db::open(&gatehouse_authd::config::Database::File(db.into()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM activity WHERE path = '/api/me'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    pool.close().await;
}
