//! A held token revoked through the real `gatehouse` binary and verified by RFC 7662
//! introspection at a real, OpenID-certified authorization server (the `oidc-provider` fixture
//! of gatehouse-core, started as a node process): the profile's provider (Kratos, faked at the
//! HTTP boundary) cannot revoke one token, so the profile's standard client revokes it (RFC 7009).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gh, contains, files_under, require_session_bus};
use gatehouse_fakes::kratos::Kratos;
use gatehouse_fakes::oidc_provider::start;

const SECRET: &str = "gatehouse-test-secret-0123456789";

/// A client-credentials token of the fixture's `gatehouse` client: the token "the analyst holds".
fn token(issuer: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let resp: serde_json::Value = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth("gatehouse", Some(SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["access_token"].as_str().unwrap().to_string()
    })
}

#[test]
fn a_held_token_is_revoked_and_verified_by_introspection() {
    require_session_bus();
    let Some(p) = start() else { return };
    let kr = Kratos::new(None).start();
    let dir = tempfile::tempdir().unwrap();
    let gh = Gh::new(&dir.path().join("home"));
    gh.ok(&["profile", "add", "ory", "--kind", "kratos", "--url", &kr.url]);

    // Without a standard client, the provider's limit is said.
    let held = token(&p.issuer);
    let out = gh.run(&["revoke", "token", "--opaque", &held], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("RFC 7009"), "{stderr}");

    let out = gh.run(
        &[
            "profile",
            "introspection",
            "ory",
            "--issuer",
            &p.issuer,
            "--client-id",
            "gatehouse",
        ],
        Some(&format!("{SECRET}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let r = gh.json(&["revoke", "token", "--opaque", &held]);
    assert_eq!(r["verified"], true, "{r}");
    let target = r["target"].as_str().unwrap();
    assert!(target.starts_with("sha256:"), "{r}");
    let by = r["checks"][0]["what"].as_str().unwrap();
    assert!(
        by.starts_with("verified by RFC 7662 introspection at ") && by.contains("active: false"),
        "{by}"
    );
    let out = gh.run(&["revoke", "token", "--opaque", "-"], Some(&held));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("already done"), "{text}");
    assert!(text.contains("[ok] verified by RFC 7662 introspection"), "{text}");

    // Neither the token nor the client secret reaches the disk.
    let audit = gh.ok(&["audit", "export"]);
    assert!(audit.contains(target) && !audit.contains(&held));
    for (path, bytes) in files_under(&dir.path().join("home")) {
        assert!(!contains(&bytes, &held), "token written to {}", path.display());
        assert!(!contains(&bytes, SECRET), "secret written to {}", path.display());
    }
    gh.ok(&["profile", "remove", "ory"]);
}
