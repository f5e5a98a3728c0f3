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
            "GET /admin/identities/i1",
            "PATCH /admin/identities/i1",
            "DELETE /admin/identities/i1/credentials/password",
            "GET /admin/identities/i1/sessions?page_size=250",
            "DELETE /admin/identities/i1/sessions",
        ]
    );
    assert_eq!(server.state().identities[0]["state"], "inactive");
    let state = kr.user_state("i1").await.unwrap();
    assert_eq!(state.user.status, "inactive");
    assert!(kr.reset_checks(&state).iter().all(|(_, ok)| *ok));
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
    assert_eq!(planned[1].method, "PATCH");
    assert_eq!(planned[2].method, "DELETE");
    assert_eq!(planned[2].path, "/admin/identities/i2/credentials/password");
    assert!(kr.can_force_reset() && !kr.capabilities().force_reset_with_mfa);
}

#[tokio::test]
async fn the_forced_reset_locks_the_identity_and_mints_one_recovery_code_for_the_owner() {
    let server = fake(Some("ory-key")).start();
    let kr = adapter(&server.url, Some("ory-key"));
    let (out, handover) = kr.force_reset("i1", false).await.unwrap();
    assert_eq!(out.sessions_revoked, ["s1", "s2"]);
    let h = handover.expect("a recovery code");
    {
        let st = server.state();
        // The dry run lists exactly the calls made, in order.
        let planned: Vec<String> = kr
            .planned_calls(ActionKind::ForcePasswordReset, "i1")
            .iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect();
        assert_eq!(st.calls, planned);
        assert_eq!(st.recovery.len(), 1, "minted once");
        let minted = &st.recovery[0];
        assert_eq!(minted["identity_id"], "i1");
        assert_eq!(minted["kind"], "code");
        assert_eq!(minted["expires_in"], "24h");
        assert_eq!(h.kind, "recovery_code");
        assert_eq!(h.url_or_code.expose(), minted["secret"].as_str().unwrap());
        let left = h.expires_at.unwrap() - chrono::Utc::now();
        assert!(left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24));
        assert!(h.note.contains("re-activate"), "{}", h.note);
        assert!(h.note.contains("/self-service/recovery?flow="), "{}", h.note);
        // Redacted when printed for a log; only its digest in the audit record.
        let code = h.url_or_code.expose().clone();
        assert!(!format!("{h:?}").contains(&code));
        let audit = h.audit_record().to_string();
        assert!(!audit.contains(&code), "{audit}");
        assert_eq!(h.audit_record()["sha256"].as_str().unwrap().len(), 64);
        // The analyst's result carries it.
        assert!(serde_json::to_string(&h).unwrap().contains(&code));
        assert_eq!(st.identities[0]["state"], "inactive");
        assert!(st.identities[0]["credentials"].get("password").is_none());
        assert!(st.sessions.iter().all(|s| s["identity"]["id"] != "i1"));
    }

    // An unknown identity is a clear error and mints nothing.
    server.state().calls.clear();
    let err = kr.force_reset("nobody", false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(server.state().recovery.len(), 1);
    assert_eq!(server.state().calls, ["GET /admin/identities/nobody"]);
}
