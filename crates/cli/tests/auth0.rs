//! One analyst run against Auth0 through the real `gatehouse` binary: the real OS keyring (the
//! machine-to-machine client secret), a real SQLite store, and the Management API faked at the
//! HTTP boundary (documented shapes: client-credentials token with an audience, per-user
//! sessions, tenant logs by checkpoint, password-change tickets, authenticators, refresh tokens).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::Server;
use gatehouse_fakes::auth0::{Auth0, Client};
use sha2::Digest;

const SECRET: &str = "a0-S3CRET-m2m-9xq-do-not-leak";
const AUDIENCE: &str = "https://acme.auth0.test/api/v2/";
const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn lisbon() -> Client {
    Client::new("203.0.113.7", BROWSER)
        .asn("64500")
        .located("PT", "Portugal", "Lisbon", 38.72, -9.14)
}

fn changchun() -> Client {
    Client::new("175.16.199.1", "python-requests/2.32.3")
        .asn("4837")
        .located("CN", "China", "Changchun", 43.88, 125.32)
}

/// alice's browser session in Lisbon, whose refresh token a script exchanges from Changchun an
/// hour later; bob in Berlin.
fn tenant() -> Auth0 {
    let mut f = Auth0::new("m2m-gatehouse", SECRET, AUDIENCE);
    f.add_user("auth0|1", "alice@acme.test");
    f.add_user("auth0|2", "bob@acme.test");
    f.add_session("sess_alice", "auth0|1", 120, &lisbon(), &changchun());
    for i in 0..4 {
        f.add_log("ssa", 110 - i, "auth0|1", Some("sess_alice"), &lisbon());
    }
    for i in 0..5 {
        f.add_log("sertft", 60 - i, "auth0|1", Some("sess_alice"), &changchun());
    }
    let berlin = Client::new("81.2.69.160", BROWSER).located("DE", "Germany", "Berlin", 52.52, 13.40);
    f.add_session("sess_bob", "auth0|2", 100, &berlin, &berlin);
    for i in 0..3 {
        f.add_log("ssa", 90 - i, "auth0|2", Some("sess_bob"), &berlin);
    }
    f
}

fn add_profile(gh: &Gh, name: &str, a0: &Server<Auth0>, secret: &str) -> std::process::Output {
    gh.run(
        &[
            "profile",
            "add",
            name,
            "--kind",
            "auth0",
            "--url",
            &a0.url,
            "--client-id",
            "m2m-gatehouse",
            "--audience",
            AUDIENCE,
        ],
        Some(&format!("{secret}\n")),
    )
}

fn writes(a0: &Server<Auth0>) -> usize {
    a0.state()
        .calls
        .iter()
        .filter(|c| !c.starts_with("GET") && !c.starts_with("POST /oauth/token"))
        .count()
}

#[test]
fn auth0_profile_sync_detect_and_contain() {
    require_session_bus();
    let mut f = tenant();
    f.scopes.push("delete:users".into());
    let a0 = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    let out = add_profile(&gh, "a0-main", &a0, SECRET);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["authenticated"], true, "{check}");
    let perms = check["permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 9, "{check}");
    assert!(perms.iter().all(|p| p[1] == true), "{check}");
    assert_eq!(check["capabilities"]["revokeSession"], true);
    assert_eq!(check["capabilities"]["revokeToken"], false);
    let warnings = check["warnings"].to_string();
    assert!(
        warnings.contains("broader than needed") && warnings.contains("delete:users"),
        "a credential that may delete users is too broad: {check}"
    );
    assert!(
        check["limitations"].to_string().contains("cannot be revoked"),
        "{check}"
    );

    let report = gh.json(&["sync"]);
    assert_eq!(report["users"], 2, "{report}");
    assert_eq!(report["sessions"], 2, "{report}");
    assert_eq!(report["activity"], 14, "{report}");
    assert_eq!(gh.json(&["sync"])["activity"], 0, "the log checkpoint resumes");
    assert!(
        a0.state()
            .calls
            .iter()
            .any(|c| c.starts_with("GET /api/v2/logs?from=")),
        "checkpoint paging"
    );

    let findings = gh.json(&["findings", "list", "--session", "sess_alice"]);
    let rows = findings.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{findings}");
    assert!(
        ["high", "critical"].contains(&rows[0]["severity"].as_str().unwrap()),
        "{findings}"
    );
    assert!(rows[0]["finding"].to_string().contains("Changchun"), "{findings}");
    assert!(
        gh.json(&["findings", "list", "--session", "sess_bob"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let before = writes(&a0);
    let text = gh.ok(&["contain", "auth0|1", "--dry-run"]);
    for call in [
        "DELETE /api/v2/users/auth0%7C1/authenticators",
        "POST /api/v2/users/auth0%7C1/multifactor/actions/invalidate-remember-browser",
        "PATCH /api/v2/users/auth0%7C1",
        "POST /api/v2/tickets/password-change",
        "DELETE /api/v2/users/auth0%7C1/sessions",
        "DELETE /api/v2/users/auth0%7C1/refresh-tokens",
    ] {
        assert!(text.contains(call), "{call} missing from:\n{text}");
    }
    assert_eq!(writes(&a0), before, "a dry run writes nothing");

    // Contain: both steps run and verify. Auth0 keeps no "must change password" flag, so the
    // reset blocks the account and that is what is read back.
    let done = gh.json(&["contain", "auth0|1"]);
    let done = done.as_array().unwrap();
    assert_eq!(done.len(), 2, "{done:?}");
    let (reset, revoke) = (&done[0], &done[1]);
    assert_eq!(reset["kind"], "force_password_reset");
    let checks = reset["checks"].as_array().unwrap();
    let ok = |what: &str| {
        checks
            .iter()
            .find(|c| c["what"].as_str().unwrap().contains(what))
            .map(|c| c["ok"] == true)
    };
    assert_eq!(ok("MFA is required"), Some(true), "{reset}");
    assert_eq!(ok("no active session"), Some(true), "{reset}");
    assert_eq!(ok("no such flag"), None, "{reset}");
    assert_eq!(ok("the account is blocked"), Some(true), "{reset}");
    assert_eq!(reset["verified"], true, "{reset}");
    assert_eq!(revoke["verified"], true, "{revoke}");
    assert!(
        !revoke["residual"]["until"].is_null(),
        "24 h access tokens stay valid"
    );

    // The password-change link reaches the analyst once; the audit log keeps its hash only.
    let url = {
        let st = a0.state();
        assert_eq!(st.tickets.len(), 1);
        assert_eq!(st.tickets[0].0, "auth0|1");
        st.tickets[0].1.clone()
    };
    let handover = &reset["handover"];
    assert_eq!(handover["kind"], "password_change_ticket", "{reset}");
    assert_eq!(handover["urlOrCode"], url.as_str(), "{reset}");
    let sha = hex::encode(sha2::Sha256::digest(url.as_bytes()));
    assert!(handover["expiresAt"].is_string());
    {
        let st = a0.state();
        assert!(st.sessions.iter().all(|s| s["user_id"] != "auth0|1"));
        assert!(st.refresh_tokens.iter().all(|t| t["user_id"] != "auth0|1"));
        assert!(st.enrollments["auth0|1"].is_empty());
        assert_eq!(st.forgotten_browsers, ["auth0|1"]);
        assert!(st.sessions.iter().any(|s| s["id"] == "sess_bob"), "bob untouched");
    }
    let audit = gh.json(&["audit", "list"]).to_string();
    assert!(audit.contains(&sha), "the audit log records the link's hash");
    assert!(!audit.contains(&url));
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);

    // In text mode the link is printed once, with its expiry; the reset is verified.
    let out = gh.run(&["reset-password", "auth0|2", "--require-mfa"], None);
    assert_eq!(out.status.code(), Some(0), "verified by the block");
    let text = String::from_utf8_lossy(&out.stdout);
    let bob_url = a0.state().tickets[1].1.clone();
    assert_eq!(text.matches(&bob_url).count(), 1, "{text}");
    assert!(text.contains("password_change_ticket for the owner"), "{text}");

    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(!contains(&bytes, SECRET), "secret leaked into {}", path.display());
        for u in [&url, &bob_url] {
            assert!(!contains(&bytes, u), "ticket URL written to {}", path.display());
        }
    }
    assert!(!gh.transcript.borrow().contains(SECRET));
    gh.ok(&["profile", "remove", "a0-main"]);
}

#[test]
fn a_wrong_secret_a_429_and_a_malformed_log_page_are_clear_and_lose_nothing() {
    require_session_bus();
    let a0 = tenant().start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    add_profile(&gh, "a0-wrong", &a0, "not-the-secret");
    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["reachable"], true);
    assert_eq!(check["authenticated"], false);
    let out = gh.run(&["sync"], None);
    assert_eq!(out.status.code(), Some(4), "unauthorized");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the credential"), "{err}");
    gh.ok(&["profile", "remove", "a0-wrong"]);

    add_profile(&gh, "a0-err", &a0, SECRET);
    a0.state().rate_limit = 2;
    let report = gh.json(&["sync"]);
    assert_eq!(report["activity"], 14, "{report}");
    assert_eq!(a0.state().throttled, 2, "the 429s were waited out");

    {
        let mut st = a0.state();
        st.add_log("sertft", 1, "auth0|1", Some("sess_alice"), &changchun());
        st.malformed = vec!["/logs".into()];
    }
    let rows_before = gh.json(&["activity", "sess_alice"]).as_array().unwrap().len();
    let out = gh.run(&["sync"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "upstream: {err}");
    assert!(err.contains("cannot read") && err.contains("/logs"), "{err}");
    assert_eq!(
        gh.json(&["activity", "sess_alice"]).as_array().unwrap().len(),
        rows_before
    );
    a0.state().malformed.clear();
    assert_eq!(gh.json(&["sync"])["activity"], 1);
    assert_eq!(
        gh.json(&["activity", "sess_alice"]).as_array().unwrap().len(),
        rows_before + 1
    );
    gh.ok(&["profile", "remove", "a0-err"]);
}
