//! One analyst run against Ory Kratos through the real `gatehouse` binary: the real OS keyring
//! (an Ory Network API key), a real SQLite store, Kratos's admin API faked at the HTTP boundary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::kratos::Kratos;

const KEY: &str = "ory_pat_S3CRET-kr-do-not-leak";

#[test]
fn kratos_profile_sync_revoke_and_contain() {
    require_session_bus();
    let mut f = Kratos::new(Some(KEY));
    f.add_identity("i1", "alice@example.test");
    f.add_identity("i2", "bob@example.test");
    f.add_session("s1", "i1", "203.0.113.7", "2026-07-01T12:00:00Z");
    f.add_session("s2", "i1", "175.16.199.1", "2026-07-01T13:00:00Z");
    f.add_session("s3", "i2", "81.2.69.160", "2026-07-01T14:00:00Z");
    let kr = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    let out = gh.run(
        &[
            "profile", "add", "ory", "--kind", "kratos", "--url", &kr.url, "--auth", "bearer",
        ],
        Some(&format!("{KEY}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["authenticated"], true, "{check}");
    assert!(
        check["warnings"].to_string().contains("cannot be scoped"),
        "{check}"
    );
    assert_eq!(check["capabilities"]["activity"], false);

    let report = gh.json(&["sync"]);
    assert_eq!(report["users"], 2, "{report}");
    assert_eq!(report["sessions"], 3, "{report}");
    assert_eq!(report["activity"], 0, "Kratos has no activity API");
    assert_eq!(
        gh.json(&["sessions", "--user", "i1", "--active"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = gh.json(&["revoke", "session", "s2"]);
    assert_eq!(r["verified"], true, "{r}");
    assert!(
        kr.state()
            .calls
            .contains(&"DELETE /admin/sessions/s2".to_string())
    );

    let calls_before = kr.state().calls.iter().filter(|c| !c.starts_with("GET")).count();
    let text = gh.ok(&["contain", "i1", "--dry-run"]);
    assert!(
        text.contains("DELETE /admin/identities/i1/credentials/password"),
        "{text}"
    );
    assert!(text.contains("DELETE /admin/identities/i1/sessions"), "{text}");
    assert_eq!(
        kr.state().calls.iter().filter(|c| !c.starts_with("GET")).count(),
        calls_before,
        "a dry run writes nothing"
    );
    let done = gh.json(&["contain", "i1"]);
    assert!(
        done.as_array().unwrap().iter().all(|r| r["verified"] == true),
        "{done}"
    );
    {
        let st = kr.state();
        assert!(st.identities[0]["credentials"].get("password").is_none());
        assert!(
            st.sessions
                .iter()
                .all(|s| s["identity"]["id"] != "i1" || s["active"] == false)
        );
        assert!(
            st.sessions.iter().any(|s| s["id"] == "s3"),
            "bob's session is untouched"
        );
    }
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);
    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(!contains(&bytes, KEY), "key leaked into {}", path.display());
    }
    assert!(!gh.transcript.borrow().contains(KEY));
    gh.ok(&["profile", "remove", "ory"]);
}

#[test]
fn an_oss_admin_port_needs_no_secret_and_a_bad_auth_mode_is_refused() {
    require_session_bus();
    let kr = Kratos::new(None).start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    let out = gh.run(
        &["profile", "add", "oss", "--kind", "kratos", "--url", &kr.url],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no secret needed"));
    assert_eq!(gh.json(&["profile", "test"])["authenticated"], true);
    let out = gh.run(
        &[
            "profile", "add", "bad", "--kind", "kratos", "--url", &kr.url, "--auth", "basic",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bearer or none"));
}
