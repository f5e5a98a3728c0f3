//! The Ory Kratos adapter against an HTTP-boundary fake of its admin API (documented shapes):
//! keyset paging through `Link` headers, 429s, a refused key, malformed answers, and the exact
//! revoke and reset calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use gatehouse_core::ErrorKind;
use gatehouse_core::actions::ActionKind;
use gatehouse_core::backend::{AdminBackend, Error, kratos::Kratos, pages};
use gatehouse_core::http::{ClientOptions, HttpClient, RetryPolicy};
use gatehouse_core::secrets::Sensitive;
use gatehouse_fakes::kratos::Kratos as Fake;

fn adapter(url: &str, key: Option<&str>) -> Kratos {
    let http = HttpClient::new(ClientOptions {
        retry: RetryPolicy {
            base_delay: std::time::Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    Kratos::new(
        http,
        url.parse().unwrap(),
        key.map(|k| Sensitive::new(k.to_string())),
    )
}

fn fake(key: Option<&str>) -> Fake {
    let mut f = Fake::new(key);
    f.add_identity("i1", "alice@example.test");
    f.add_identity("i2", "bob@example.test");
    f.add_session("s1", "i1", "203.0.113.7", "2026-07-01T12:00:00Z");
    f.add_session("s2", "i1", "175.16.199.1", "2026-07-01T13:00:00Z");
    f.add_session("s3", "i2", "81.2.69.160", "2026-07-01T14:00:00Z");
    f
}

#[tokio::test]
async fn identities_page_by_the_link_headers_page_token() {
    let mut f = Fake::new(Some("ory-key"));
    for i in 0..600 {
        f.add_identity(&format!("id{i:04}"), &format!("u{i}@example.test"));
    }
    let server = f.start();
    let kr = adapter(&server.url, Some("ory-key"));
    let got: Vec<_> = pages(None, |c| kr.users_page(c)).try_collect().await.unwrap();
    assert_eq!(
        got.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [250, 250, 100]
    );
    assert_eq!(got[0].items[0].email.as_deref(), Some("u0@example.test"));
    assert_eq!(
        got[0].items[0].display_name.as_deref(),
        Some("Test u0@example.test")
    );
    let calls = server.state().calls.clone();
    assert_eq!(
        calls,
        [
            "GET /admin/identities?page_size=250",
            "GET /admin/identities?page_size=250&page_token=id0249",
            "GET /admin/identities?page_size=250&page_token=id0499",
        ]
    );
}

#[tokio::test]
async fn sessions_come_with_identity_and_devices() {
    let server = fake(None).start();
    let kr = adapter(&server.url, None);
    let page = kr.sessions_page(None).await.unwrap();
    assert_eq!(page.items.len(), 3);
    let s2 = page.items.iter().find(|s| s.id == "s2").unwrap();
    assert_eq!(s2.user_id, "i1");
    assert_eq!(s2.ip.as_deref(), Some("175.16.199.1"));
    assert!(s2.user_agent.as_deref().unwrap().contains("Firefox"));
    assert!(
        server
            .state()
            .calls
            .contains(&"GET /admin/sessions?page_size=250&expand=identity&expand=devices".to_string())
    );
    assert!(!kr.capabilities().activity, "Kratos has no activity API");
}

#[tokio::test]
async fn a_429_is_waited_out_and_a_wrong_key_is_refused() {
    let mut f = fake(Some("ory-key"));
    f.rate_limit = 1;
    let server = f.start();
    let kr = adapter(&server.url, Some("ory-key"));
    assert_eq!(kr.users_page(None).await.unwrap().items.len(), 2);
    assert_eq!(server.state().calls.len(), 2);

    let bad = adapter(&server.url, Some("wrong"));
    assert_eq!(
        bad.users_page(None).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    let report = bad.check_report().await.unwrap();
    assert!(report.check.reachable && !report.check.authenticated);
    let report = kr.check_report().await.unwrap();
    assert!(report.check.permissions.iter().all(|(_, ok)| *ok));
    assert!(
        report.warnings.iter().any(|w| w.contains("cannot be scoped")),
        "{:?}",
        report.warnings
    );
    assert!(report.limitations.iter().any(|l| l.contains("No activity API")));
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_error_and_nothing_is_stored() {
    let mut f = fake(None);
    f.malformed = vec!["/admin/sessions".into()];
    let server = f.start();
    let kr = adapter(&server.url, None);
    let err = kr.sessions_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.to_string().contains("kratos list sessions"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let store = gatehouse_core::store::Store::open(&dir.path().join("g.db"))
        .await
        .unwrap();
    assert!(
        gatehouse_core::sync::sync(&store, "kr", &kr, 30, &|_, _| {})
            .await
            .is_err()
    );
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn revocations_and_the_reset_make_the_documented_calls() {
    let server = fake(None).start();
    let kr = adapter(&server.url, None);

    let out = kr.revoke_session("s2").await.unwrap();
    assert_eq!(out.sessions_revoked, ["s2"]);
    assert!(
        server
            .state()
            .calls
            .contains(&"DELETE /admin/sessions/s2".to_string())
    );
    assert!(!kr.session("s2").await.unwrap().session.active);
    assert!(kr.revoke_session("s2").await.unwrap().already_done);

    assert!(matches!(
        kr.force_password_reset("i1", true).await,
        Err(Error::Unsupported { .. })
    ));
    server.state().calls.clear();
    let out = kr.force_password_reset("i1", false).await.unwrap();
    assert_eq!(out.sessions_revoked, ["s1"]);
    let calls = server.state().calls.clone();
    assert_eq!(
        calls,
        [
            "DELETE /admin/identities/i1/credentials/password",
            "GET /admin/identities/i1/sessions?page_size=250",
            "DELETE /admin/identities/i1/sessions",
        ]
    );
    let state = kr.user_state("i1").await.unwrap();
    assert_eq!(state.password_change_required, Some(true));
    assert_eq!(state.mfa_required, None);
    assert!(state.active_sessions.is_empty());
    assert!(
        server.state().identities[0]["credentials"].get("totp").is_some(),
        "MFA is kept"
    );
    // Repeating it is harmless and says so.
    assert!(kr.force_password_reset("i1", false).await.unwrap().already_done);

    let planned = kr.planned_calls(ActionKind::ForcePasswordReset, "i2");
    assert_eq!(planned[0].method, "DELETE");
    assert_eq!(planned[0].path, "/admin/identities/i2/credentials/password");
    assert!(kr.can_force_reset() && !kr.capabilities().force_reset_with_mfa);
}
