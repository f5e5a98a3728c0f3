//! One analyst run against Keycloak through the real `gatehouse` binary: the real OS keyring, a
//! real SQLite store, and Keycloak's admin API faked at the HTTP boundary (documented shapes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::keycloak::Keycloak;

const SECRET: &str = "kc-S3CRET-7f2k-do-not-leak";

/// `gatehouse profile add NAME` for the fake realm `acme`, the client secret on stdin.
fn add_profile(gh: &Gh, name: &str, url: &str) -> std::process::Output {
    gh.run(
        &[
            "profile",
            "add",
            name,
            "--kind",
            "keycloak",
            "--url",
            url,
            "--realm",
            "acme",
            "--client-id",
            "gatehouse",
        ],
        Some(&format!("{SECRET}\n")),
    )
}

#[test]
fn keycloak_profile_sync_revoke_and_contain() {
    require_session_bus();
    let mut f = Keycloak::new("acme", "gatehouse", SECRET);
    f.add_user("u1", "alice");
    f.add_user("u2", "bob");
    f.add_session("s1", "u1", "203.0.113.7", 1_786_025_333_000);
    f.add_session("s2", "u1", "175.16.199.1", 1_786_025_400_000);
    f.add_session("s3", "u2", "81.2.69.160", 1_786_025_500_000);
    f.consents.insert("u1".into(), vec!["web-app".into()]);
    // A long-lived offline token on a second client, with no consent screen of its own.
    f.add_offline_session("off1", "u1", "mobile-app", "198.51.100.20", 1_786_025_350_000);
    for i in 0..5 {
        f.add_event(
            None,
            1_786_025_333_000 + i * 1000,
            "LOGIN",
            "u1",
            "s1",
            "203.0.113.7",
        );
    }
    f.add_event(None, 1_786_025_400_000, "LOGIN", "u1", "s2", "175.16.199.1");
    let kc = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    let out = add_profile(&gh, "kc", &kc.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["reachable"], true);
    assert_eq!(check["authenticated"], true);
    let perms = check["permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 4);
    assert!(perms.iter().all(|p| p[1] == true), "{check}");
    assert!(check["warnings"].as_array().unwrap().is_empty(), "{check}");
    assert!(check["limitations"].to_string().contains("accessTokenLifespan"));

    let report = gh.json(&["sync"]);
    assert_eq!(report["users"], 2, "{report}");
    assert_eq!(report["sessions"], 4, "{report}");
    assert_eq!(report["activity"], 6, "{report}");
    assert_eq!(
        gh.json(&["sync"])["activity"],
        0,
        "a second sync brings only what is new"
    );
    let sessions = gh.json(&["sessions", "--user", "u1", "--active"]);
    let ids: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{sessions}");
    assert!(
        ids.contains(&"offline:off1"),
        "the offline session is listed, marked: {ids:?}"
    );

    let r = gh.json(&["revoke", "session", "s2"]);
    assert_eq!(r["verified"], true, "{r}");
    assert!(
        !r["residual"]["until"].is_null(),
        "bounded by the access-token lifespan: {r}"
    );
    assert!(
        kc.state()
            .calls
            .contains(&"DELETE /admin/realms/acme/sessions/s2".to_string())
    );

    // The dry run shows the real calls and changes nothing.
    let writes = kc.state().bodies.len();
    let text = gh.ok(&["contain", "u1", "--dry-run"]);
    assert!(
        text.contains("PUT /admin/realms/acme/users/u1/reset-password"),
        "{text}"
    );
    assert!(text.contains("POST /admin/realms/acme/users/u1/logout"), "{text}");
    let plan = gh.json(&["contain", "u1", "--dry-run"]);
    let kinds: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["force_password_reset", "revoke_user_sessions"]);
    assert_eq!(kc.state().bodies.len(), writes, "a dry run writes nothing");

    let done = gh.json(&["contain", "u1"]);
    assert!(
        done.as_array().unwrap().iter().all(|r| r["verified"] == true),
        "{done}"
    );
    // Keycloak's own audit trail holds our calls, and verification says so.
    let checks = done[0]["checks"].to_string();
    assert!(checks.contains("the provider's admin events record"), "{checks}");
    assert!(
        done[0]["sessionsRevoked"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("offline:off1")),
        "{done}"
    );
    let ev = gh.json(&["audit", "provider", "--target", "u1"]);
    assert_eq!(ev["recorded"], true, "{ev}");
    let paths: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resourcePath"].as_str().unwrap())
        .collect();
    for p in [
        "users/u1/reset-password",
        "users/u1",
        "users/u1/logout",
        "users/u1/consents/web-app",
        "users/u1/consents/mobile-app",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    assert!(paths.iter().all(|p| p.starts_with("users/u1")), "{paths:?}");
    let text = gh.ok(&["audit", "provider"]);
    assert!(text.contains("the provider stores admin events"), "{text}");
    assert!(text.contains("sessions/s2"), "{text}");
    {
        let st = kc.state();
        assert!(st.sessions.iter().all(|s| s["userId"] != "u1"));
        let alice = st.users.iter().find(|u| u["id"] == "u1").unwrap();
        assert_eq!(
            alice["requiredActions"],
            serde_json::json!(["UPDATE_PASSWORD", "CONFIGURE_TOTP"])
        );
        assert!(st.consents["u1"].is_empty(), "offline tokens revoked");
        assert!(st.offline_sessions.is_empty(), "the offline session is gone");
        assert_eq!(st.sessions.len(), 1, "bob's session is untouched");
    }
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);

    // The secret is only in the keyring.
    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(!contains(&bytes, SECRET), "secret leaked into {}", path.display());
    }
    assert!(!gh.transcript.borrow().contains(SECRET));
    gh.ok(&["profile", "remove", "kc"]);
}

#[test]
fn a_missing_role_is_reported_by_profile_test_and_by_the_action() {
    require_session_bus();
    let mut f = Keycloak::new("acme", "gatehouse", SECRET);
    f.add_user("u1", "alice");
    f.roles = vec!["view-users".into(), "view-events".into(), "view-realm".into()];
    f.roles.push("manage-realm".into());
    let kc = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    let out = add_profile(&gh, "kc2", &kc.url);
    assert!(out.status.success());
    let text = gh.ok(&["profile", "test"]);
    assert!(
        text.contains("[MISSING] manage-users (realm-management)"),
        "{text}"
    );
    assert!(text.contains("broader than needed (manage-realm)"), "{text}");
    let out = gh.run(&["revoke", "user", "u1"], None);
    assert_eq!(out.status.code(), Some(4), "unauthorized");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("manage-users"), "{err}");
    gh.ok(&["profile", "remove", "kc2"]);
}

#[test]
fn with_admin_events_off_the_cross_check_is_said_missing_not_faked() {
    require_session_bus();
    let mut f = Keycloak::new("acme", "gatehouse", SECRET);
    f.add_user("u1", "alice");
    f.add_session("s1", "u1", "203.0.113.7", 1_786_025_333_000);
    f.admin_events_enabled = false;
    let kc = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    let out = add_profile(&gh, "kc3", &kc.url);
    assert!(out.status.success());
    let check = gh.json(&["profile", "test"]);
    assert!(
        check["warnings"]
            .to_string()
            .contains("adminEventsEnabled = false"),
        "{check}"
    );
    let r = gh.json(&["revoke", "user", "u1"]);
    assert_eq!(r["verified"], true, "the state checks still verify it: {r}");
    assert!(!r["checks"].to_string().contains("admin events"), "{r}");
    let ev = gh.json(&["audit", "provider"]);
    assert_eq!(ev["recorded"], false, "{ev}");
    assert!(ev["events"].as_array().unwrap().is_empty());
    assert!(
        ev["notes"].to_string().contains("adminEventsEnabled = false"),
        "{ev}"
    );
    gh.ok(&["profile", "remove", "kc3"]);
}
