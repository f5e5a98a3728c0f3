//! One analyst run against Ory Kratos through the real `gatehouse` binary: the real OS keyring
//! (an Ory Network API key), a real SQLite store, Kratos's admin API faked at the HTTP boundary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::kratos::Kratos;
use sha2::{Digest, Sha256};

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
    assert!(text.contains("PATCH /admin/identities/i1"), "{text}");
    assert!(text.contains("POST /admin/recovery/code"), "{text}");
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
    // The recovery code reaches the analyst once, in the result.
    let (code, digest) = {
        let st = kr.state();
        assert_eq!(st.recovery.len(), 1, "{:?}", st.recovery);
        let code = st.recovery[0]["secret"].as_str().unwrap().to_string();
        (code.clone(), hex::encode(Sha256::digest(code.as_bytes())))
    };
    let reset = &done[0];
    assert_eq!(reset["kind"], "force_password_reset");
    assert_eq!(reset["handover"]["kind"], "recovery_code");
    assert_eq!(reset["handover"]["urlOrCode"], code.as_str());
    assert!(reset["handover"]["expiresAt"].is_string(), "{reset}");
    let checks = reset["checks"].to_string();
    assert!(checks.contains("identity is inactive"), "{checks}");
    assert!(done[1].get("handover").is_none(), "{done}");
    {
        let st = kr.state();
        assert_eq!(st.identities[0]["state"], "inactive");
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
    // A plain-text reset prints the code for the analyst.
    let text = gh.ok(&["reset-password", "i2", "--require-mfa"]);
    let code2 = kr.state().recovery[1]["secret"].as_str().unwrap().to_string();
    assert!(
        text.contains(&format!(
            "recovery_code for the owner (shown once, not stored): {code2}"
        )),
        "{text}"
    );
    assert!(text.contains("re-activate"), "{text}");

    // The audit log records that it was made, its expiry and its digest, never the code.
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);
    let audit = gh.ok(&["audit", "export"]);
    let outcome: serde_json::Value = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "force_password_reset.outcome" && e["target"] == "i1")
        .expect("the reset's outcome is audited");
    let recorded = &outcome["detail"]["handover"];
    assert_eq!(recorded["sha256"], digest.as_str(), "{outcome}");
    assert_eq!(recorded["kind"], "recovery_code");
    assert!(recorded["expires_at"].is_string(), "{outcome}");
    assert!(
        !audit.contains(&code) && !audit.contains(&code2),
        "a code reached the audit log"
    );
    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(!contains(&bytes, KEY), "key leaked into {}", path.display());
        for c in [&code, &code2] {
            assert!(
                !contains(&bytes, c),
                "recovery code written to {}",
                path.display()
            );
        }
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
