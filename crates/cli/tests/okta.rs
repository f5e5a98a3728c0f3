//! One analyst run against Okta through the real `gatehouse` binary: the real OS keyring (the
//! service app's private key), a real SQLite store, and Okta's Management API faked at the HTTP
//! boundary (documented shapes: `private_key_jwt` token endpoint, `Link` paging, System Log
//! LogEvents with Okta's own geo and network facts, session clearing with `oauthTokens=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::Server;
use gatehouse_fakes::okta::{Okta, Origin};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures/okta");
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn lisbon() -> Origin {
    Origin::new("203.0.113.7", BROWSER)
        .place("Lisbon", "Portugal", 38.72, -9.14)
        .network(64500, "Lisbon Fibre", false)
}

fn changchun() -> Origin {
    Origin::new("175.16.199.1", "python-requests/2.32.3")
        .place("Changchun", "China", 43.88, 125.32)
        .network(4837, "CHINA UNICOM China169 Backbone", true)
}

/// alice's browser session in Lisbon, taken over by a script in Changchun an hour later; bob in
/// Berlin; carol with no session (three users page through `Link` two at a time).
fn org() -> Okta {
    let mut f = Okta::new("0oa-gatehouse", "key-1", &key("ec.pub.pem"));
    f.page_size = 2;
    f.add_user("00u1", "alice@acme.test");
    f.add_user("00u2", "bob@acme.test");
    f.add_user("00u3", "carol@acme.test");
    f.add_session("102alice", "00u1", 120, &lisbon());
    for i in 0..4 {
        f.add_event(
            &format!("a{i}"),
            110 - i,
            "user.authentication.sso",
            "00u1",
            Some("102alice"),
            &lisbon(),
        );
    }
    for i in 0..5 {
        f.add_event(
            &format!("t{i}"),
            60 - i,
            "user.authentication.sso",
            "00u1",
            Some("102alice"),
            &changchun(),
        );
    }
    let berlin = Origin::new("81.2.69.160", BROWSER)
        .place("Berlin", "Germany", 52.52, 13.40)
        .network(3320, "Deutsche Telekom AG", false);
    f.add_session("102bob", "00u2", 100, &berlin);
    for i in 0..3 {
        f.add_event(
            &format!("b{i}"),
            90 - i,
            "user.authentication.sso",
            "00u2",
            Some("102bob"),
            &berlin,
        );
    }
    f
}

fn add_profile(gh: &Gh, name: &str, okta: &Server<Okta>, pem: &str) -> std::process::Output {
    gh.run(
        &[
            "profile",
            "add",
            name,
            "--kind",
            "okta",
            "--url",
            &okta.url,
            "--client-id",
            "0oa-gatehouse",
            "--key-id",
            "key-1",
        ],
        Some(pem),
    )
}

/// Calls that change something at Okta (token requests excluded).
fn writes(okta: &Server<Okta>) -> Vec<String> {
    okta.state()
        .calls
        .iter()
        .filter(|c| !c.starts_with("GET") && !c.contains("/oauth2/v1/token"))
        .cloned()
        .collect()
}

#[test]
fn okta_profile_sync_detect_and_contain() {
    require_session_bus();
    let pem = key("ec.pem");
    let okta = org().start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    let out = add_profile(&gh, "okta-main", &okta, &pem);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("secret stored in the OS keyring"));

    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["reachable"], true, "{check}");
    assert_eq!(check["authenticated"], true, "{check}");
    let perms = check["permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 5, "{check}");
    assert!(perms.iter().all(|p| p[1] == true), "{check}");
    let caps = &check["capabilities"];
    assert_eq!(caps["revokeSession"], true);
    assert_eq!(caps["revokeToken"], false);
    assert_eq!(caps["enforcesAccessTokenRevocation"], false);
    assert!(
        check["limitations"].to_string().contains("session-list API"),
        "{check}"
    );
    let text = gh.ok(&["profile", "test"]);
    assert!(text.contains("[ok] okta.sessions.manage"), "{text}");

    let report = gh.json(&["sync"]);
    assert_eq!(report["users"], 3, "{report}");
    assert_eq!(report["sessions"], 2, "{report}");
    assert_eq!(report["activity"], 14, "{report}");
    assert_eq!(
        gh.json(&["sync"])["activity"],
        0,
        "a second sync brings only what is new"
    );
    {
        let st = okta.state();
        let user_pages = st
            .calls
            .iter()
            .filter(|c| c.starts_with("GET /api/v1/users?"))
            .count();
        assert!(user_pages >= 2, "users paged through Link: {:?}", st.calls);
        assert!(
            st.calls
                .iter()
                .any(|c| c.starts_with("GET /api/v1/logs?") && c.contains("after=")),
            "logs paged through Link"
        );
        let mut jtis = st.jtis.clone();
        jtis.sort();
        jtis.dedup();
        assert_eq!(jtis.len(), st.jtis.len(), "every assertion has a fresh jti");
    }

    // The scripted replay from another country in alice's browser session is flagged, with the
    // place and network Okta's System Log gave (no GeoIP database is configured).
    let findings = gh.json(&["findings", "list", "--session", "102alice"]);
    let rows = findings.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{findings}");
    assert!(
        ["high", "critical"].contains(&rows[0]["severity"].as_str().unwrap()),
        "{findings}"
    );
    let body = rows[0]["finding"].to_string();
    assert!(body.contains("Changchun"), "{body}");
    assert!(body.contains("4837"), "{body}");
    assert!(
        gh.json(&["findings", "list", "--session", "102bob"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The dry run lists Okta's real calls and changes nothing.
    let before = writes(&okta);
    let text = gh.ok(&["contain", "00u1", "--dry-run"]);
    for call in [
        "POST /api/v1/users/00u1/lifecycle/expire_password",
        "POST /api/v1/users/00u1/lifecycle/reset_factors",
        "DELETE /api/v1/users/00u1/sessions?oauthTokens=true&forgetDevices=true",
        "DELETE /api/v1/users/00u1/grants",
    ] {
        assert!(text.contains(call), "{call} missing from:\n{text}");
    }
    let plan = gh.json(&["contain", "00u1", "--dry-run"]);
    let kinds: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["force_password_reset", "revoke_user_sessions"]);
    assert_eq!(writes(&okta), before, "a dry run writes nothing");

    let done = gh.json(&["contain", "00u1"]);
    let done = done.as_array().unwrap();
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|r| r["verified"] == true), "{done:?}");
    assert!(
        done.iter().all(|r| !r["residual"]["until"].is_null()),
        "issued JWTs stay valid until exp: {done:?}"
    );
    {
        let st = okta.state();
        let alice = st.users.iter().find(|u| u["id"] == "00u1").unwrap();
        assert_eq!(alice["status"], "PASSWORD_EXPIRED");
        assert!(st.factors["00u1"].is_empty(), "factors reset");
        assert!(st.sessions.iter().all(|s| s["userId"] != "00u1"));
        assert!(
            st.sessions.iter().any(|s| s["id"] == "102bob"),
            "bob's session is untouched"
        );
        assert!(
            st.calls
                .iter()
                .any(|c| c == "DELETE /api/v1/users/00u1/sessions?oauthTokens=true&forgetDevices=true")
        );
    }
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);

    // The private key is only in the keyring.
    let secret_line = pem.lines().nth(1).unwrap();
    assert!(secret_line.len() > 40);
    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(
            !contains(&bytes, secret_line),
            "key leaked into {}",
            path.display()
        );
    }
    assert!(!gh.transcript.borrow().contains(secret_line));
    gh.ok(&["profile", "remove", "okta-main"]);
}

#[test]
fn an_ssws_token_of_a_super_admin_is_warned_as_too_broad() {
    require_session_bus();
    let mut f = org();
    f.ssws_token = Some("00SSWS-S3CRET-okta-do-not-leak".into());
    f.ssws_roles = vec!["SUPER_ADMIN".into()];
    let okta = f.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    let out = gh.run(
        &[
            "profile",
            "add",
            "okta-ssws",
            "--kind",
            "okta",
            "--url",
            &okta.url,
            "--auth",
            "ssws",
        ],
        Some("00SSWS-S3CRET-okta-do-not-leak\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["authenticated"], true, "{check}");
    let warnings = check["warnings"].to_string();
    assert!(
        warnings.contains("broader than needed") && warnings.contains("SUPER_ADMIN"),
        "{check}"
    );
    assert_eq!(gh.json(&["sync"])["users"], 3);
    assert!(
        okta.state().calls.iter().all(|c| !c.contains("/oauth2/v1/token")),
        "SSWS needs no token request"
    );
    assert!(!gh.transcript.borrow().contains("S3CRET-okta"));
    gh.ok(&["profile", "remove", "okta-ssws"]);
}

#[test]
fn a_rejected_key_a_429_and_a_malformed_log_page_are_clear_and_lose_nothing() {
    require_session_bus();
    let okta = org().start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));

    // A key Okta does not have registered for the app: refused at the token endpoint.
    let out = add_profile(&gh, "okta-wrong", &okta, &key("rsa.pem"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = gh.json(&["profile", "test"]);
    assert_eq!(check["reachable"], true);
    assert_eq!(check["authenticated"], false);
    let test = gh.run(&["profile", "test"], None);
    assert!(!test.status.success());
    assert!(String::from_utf8_lossy(&test.stdout).contains("authenticated  false"));
    let out = gh.run(&["sync"], None);
    assert_eq!(out.status.code(), Some(4), "unauthorized");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the credential"), "{err}");
    gh.ok(&["profile", "remove", "okta-wrong"]);

    add_profile(&gh, "okta-err", &okta, &key("ec.pem"));
    // Two 429s (X-Rate-Limit-Reset a second away) are waited out.
    okta.state().rate_limit = 2;
    let report = gh.json(&["sync"]);
    assert_eq!(report["activity"], 14, "{report}");
    assert_eq!(okta.state().throttled, 2);

    // A quota that resets only in an hour is reported at once, not waited for.
    {
        let mut st = okta.state();
        st.rate_limit = 100;
        st.rate_limit_reset_secs = 3600;
    }
    let out = gh.run(&["sync"], None);
    assert_eq!(out.status.code(), Some(6), "rate limited");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate limiting"));
    okta.state().rate_limit = 0;

    // New events arrive, and the System Log answers a body of the wrong shape: a clear error,
    // nothing stored half-way, and the next sync brings them.
    {
        let mut st = okta.state();
        st.add_event(
            "t9",
            1,
            "user.authentication.sso",
            "00u1",
            Some("102alice"),
            &changchun(),
        );
        st.malformed = vec!["/api/v1/logs".into()];
    }
    let rows_before = gh.json(&["activity", "102alice"]).as_array().unwrap().len();
    let out = gh.run(&["sync"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "upstream: {err}");
    assert!(
        err.contains("cannot read") && err.contains("/api/v1/logs"),
        "{err}"
    );
    assert_eq!(
        gh.json(&["activity", "102alice"]).as_array().unwrap().len(),
        rows_before
    );
    okta.state().malformed.clear();
    assert_eq!(gh.json(&["sync"])["activity"], 1);
    assert_eq!(
        gh.json(&["activity", "102alice"]).as_array().unwrap().len(),
        rows_before + 1
    );
    gh.ok(&["profile", "remove", "okta-err"]);
}

/// An org with Identity Threat Protection, and a profile that asks for `okta.userRisk.manage`
/// besides the scopes the console needs: a forced reset also raises the user's ITP risk to
/// HIGH, and the dry run says so first.
#[test]
fn with_the_user_risk_scope_a_forced_reset_raises_the_itp_risk() {
    require_session_bus();
    let pem = key("ec.pem");
    let mut fake = org();
    fake.itp = true;
    if !fake.granted_scopes.iter().any(|s| s == "okta.userRisk.manage") {
        fake.granted_scopes.push("okta.userRisk.manage".into());
    }
    let okta = fake.start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    let mut args = vec![
        "profile",
        "add",
        "okta-itp",
        "--kind",
        "okta",
        "--url",
        okta.url.as_str(),
        "--client-id",
        "0oa-gatehouse",
        "--key-id",
        "key-1",
    ];
    for s in [
        "okta.users.read",
        "okta.users.manage",
        "okta.sessions.read",
        "okta.sessions.manage",
        "okta.logs.read",
        "okta.userRisk.manage",
    ] {
        args.extend(["--scope", s]);
    }
    let out = gh.run(&args, Some(&pem));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    gh.ok(&["sync"]);
    let plan = gh.ok(&["contain", "00u2", "--dry-run"]);
    assert!(plan.contains("/api/v1/users/00u2/risk"), "{plan}");

    let r = gh.json(&["reset-password", "00u2", "--require-mfa"]);
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(okta.state().risk.get("00u2").map(String::as_str), Some("HIGH"));
    assert!(!okta.state().risk.contains_key("00u1"), "only the target");
    gh.ok(&["profile", "remove", "okta-itp"]);
}
