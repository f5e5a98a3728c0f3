//! The Keycloak adapter against an HTTP-boundary fake of its admin API (documented shapes):
//! paging, 429s, missing roles, malformed answers, and the exact revoke and reset calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use gatehouse_core::ErrorKind;
use gatehouse_core::actions::ActionKind;
use gatehouse_core::backend::{AdminBackend, Error, keycloak::Keycloak, pages};
use gatehouse_core::http::{ClientOptions, HttpClient, RetryPolicy};
use gatehouse_core::secrets::Sensitive;
use gatehouse_fakes::keycloak::Keycloak as Fake;

fn adapter(url: &str, secret: &str) -> Keycloak {
    let http = HttpClient::new(ClientOptions {
        retry: RetryPolicy {
            base_delay: std::time::Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    Keycloak::new(
        http,
        url.parse().unwrap(),
        "acme".into(),
        "gatehouse".into(),
        Sensitive::new(secret.into()),
    )
}

fn fake() -> Fake {
    let mut f = Fake::new("acme", "gatehouse", "kc-secret");
    f.add_user("u1", "alice");
    f.add_user("u2", "bob");
    f.add_session("s1", "u1", "203.0.113.7", 1_786_025_333_000);
    f.add_session("s2", "u1", "198.51.100.9", 1_786_025_400_000);
    f.add_session("s3", "u2", "203.0.113.8", 1_786_025_500_000);
    f.consents.insert("u1".into(), vec!["web-app".into()]);
    f
}

#[tokio::test]
async fn users_page_through_first_and_max_until_a_short_page() {
    let mut f = Fake::new("acme", "gatehouse", "kc-secret");
    for i in 0..250 {
        f.add_user(&format!("u{i}"), &format!("user{i}"));
    }
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");
    let got: Vec<_> = pages(None, |c| kc.users_page(c)).try_collect().await.unwrap();
    assert_eq!(
        got.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    assert_eq!(got[2].items[49].username, "user249");
    assert!(!got[2].more);
    let calls: Vec<String> = server
        .state()
        .calls
        .iter()
        .filter(|c| c.starts_with("GET /admin/realms/acme/users?"))
        .cloned()
        .collect();
    assert_eq!(
        calls,
        [
            "GET /admin/realms/acme/users?first=0&max=100&briefRepresentation=false",
            "GET /admin/realms/acme/users?first=100&max=100&briefRepresentation=false",
            "GET /admin/realms/acme/users?first=200&max=100&briefRepresentation=false",
        ]
    );
    // Sessions are read user by user, 50 users a page; no total is trusted, so a full last page
    // is followed by an empty one.
    let sessions: Vec<_> = pages(None, |c| kc.sessions_page(c)).try_collect().await.unwrap();
    assert_eq!(sessions.len(), 6);
    assert!(sessions[5].items.is_empty() && !sessions[5].more);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let mut f = fake();
    f.rate_limit = 2;
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");
    let page = kc.users_page(None).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let calls = server.state().calls.clone();
    let tries = calls.iter().filter(|c| c.contains("/users?first=0")).count();
    assert_eq!(tries, 3, "{calls:?}");
}

#[tokio::test]
async fn a_missing_role_is_named() {
    let mut f = fake();
    f.roles = vec!["view-users".into(), "view-events".into(), "view-realm".into()];
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");
    let err = kc.revoke_user_sessions("u1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        matches!(&err, Error::MissingPermission { missing, .. } if missing.contains("manage-users")),
        "{err}"
    );
    assert!(err.to_string().contains("manage-users"), "{err}");
    // Nothing was changed.
    assert_eq!(server.state().sessions.len(), 3);

    let report = kc.check_report().await.unwrap();
    assert!(report.check.authenticated);
    let manage = report
        .check
        .permissions
        .iter()
        .find(|(p, _)| p.starts_with("manage-users"))
        .unwrap();
    assert!(!manage.1);
    assert!(
        report.warnings.iter().any(|w| w.contains("missing manage-users")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.check.capabilities.access_token_lifetime_secs, Some(300));
}

#[tokio::test]
async fn a_broad_credential_is_warned_about_and_a_bad_secret_is_refused() {
    let mut f = fake();
    f.roles.push("realm-admin".into());
    let server = f.start();
    let report = adapter(&server.url, "kc-secret").check_report().await.unwrap();
    assert!(report.check.permissions.iter().all(|(_, ok)| *ok));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("broader than needed") && w.contains("realm-admin")),
        "{:?}",
        report.warnings
    );
    assert!(
        report
            .limitations
            .iter()
            .any(|l| l.contains("accessTokenLifespan"))
    );

    let bad = adapter(&server.url, "wrong");
    let report = bad.check_report().await.unwrap();
    assert!(report.check.reachable && !report.check.authenticated);
    assert_eq!(
        bad.users_page(None).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_error_and_nothing_is_stored() {
    let mut f = fake();
    f.malformed = vec!["/users".into()];
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");
    let err = kc.users_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.to_string().contains("keycloak list users"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let store = gatehouse_core::store::Store::open(&dir.path().join("g.db"))
        .await
        .unwrap();
    let r = gatehouse_core::sync::sync(&store, "kc", &kc, 30, &|_, _| {}).await;
    assert!(r.is_err());
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((users, sessions), (0, 0));
}

#[tokio::test]
async fn revocations_and_the_reset_make_the_documented_calls() {
    let server = fake().start();
    let kc = adapter(&server.url, "kc-secret");

    let out = kc.revoke_session("s2").await.unwrap();
    assert_eq!(out.sessions_revoked, ["s2"]);
    assert!(!out.already_done);
    assert!(
        out.backend_exposure_until.is_some(),
        "bounded by accessTokenLifespan"
    );
    assert!(
        server
            .state()
            .calls
            .contains(&"DELETE /admin/realms/acme/sessions/s2".to_string())
    );
    let d = kc.session("s2").await.unwrap();
    assert!(!d.session.active, "an ended session reads as inactive");
    assert!(kc.revoke_session("s2").await.unwrap().already_done);

    server.state().bodies.clear();
    kc.force_password_reset("u1", true).await.unwrap();
    {
        let st = server.state();
        let writes: Vec<&str> = st.bodies.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            writes,
            [
                "PUT /admin/realms/acme/users/u1/reset-password",
                "PUT /admin/realms/acme/users/u1",
                "POST /admin/realms/acme/users/u1/logout",
                "DELETE /admin/realms/acme/users/u1/consents/web-app",
            ]
        );
        let reset = &st.bodies[0].1;
        assert_eq!(reset["type"], "password");
        assert_eq!(reset["temporary"], true);
        assert!(reset["value"].as_str().unwrap().len() >= 32);
        let actions = st.bodies[1].1["requiredActions"].as_array().unwrap().clone();
        assert!(actions.contains(&"UPDATE_PASSWORD".into()) && actions.contains(&"CONFIGURE_TOTP".into()));
        assert_eq!(
            st.bodies[1].1["username"], "alice",
            "the whole representation is written back"
        );
    }

    let state = kc.user_state("u1").await.unwrap();
    assert_eq!(state.password_change_required, Some(true));
    assert_eq!(state.mfa_required, Some(true));
    assert!(state.active_sessions.is_empty());

    // An access token cannot be revoked by an admin: said, not pretended.
    assert!(!kc.capabilities().revoke_token);
    assert!(matches!(
        kc.revoke_token("jti").await,
        Err(Error::Unsupported { .. })
    ));

    // The dry run names the calls.
    let calls = kc.planned_calls(ActionKind::RevokeUserSessions, "u2");
    let lines: Vec<String> = calls.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert!(
        lines.contains(&"POST /admin/realms/acme/users/u2/logout".to_string()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn login_events_arrive_oldest_first_and_only_once() {
    let mut f = fake();
    for i in 0..230 {
        let id = format!("e{i:03}");
        f.add_event(
            Some(&id),
            1_786_000_000_000 + i * 1000,
            "LOGIN",
            "u1",
            "s1",
            "203.0.113.7",
        );
    }
    // Two events in the same millisecond, without Keycloak ids.
    f.add_event(None, 1_786_000_500_000, "LOGIN_ERROR", "u2", "s3", "198.51.100.1");
    f.add_event(
        None,
        1_786_000_500_000,
        "UPDATE_PASSWORD",
        "u2",
        "s3",
        "198.51.100.1",
    );
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");
    let first = kc.activity_page(None).await.unwrap();
    assert_eq!(first.items.len(), 232);
    assert!(first.items.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(first.items[0].event_id, "e000");
    assert!(
        first
            .items
            .iter()
            .any(|a| a.sensitive && a.path.as_deref() == Some("UPDATE_PASSWORD"))
    );
    let again = kc.activity_page(first.cursor.clone()).await.unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items.first());
    server
        .state()
        .add_event(Some("late"), 1_786_000_600_000, "LOGIN", "u1", "s9", "192.0.2.1");
    let next = kc.activity_page(first.cursor).await.unwrap();
    assert_eq!(
        next.items.iter().map(|a| a.event_id.as_str()).collect::<Vec<_>>(),
        ["late"]
    );
}

#[tokio::test]
async fn offline_sessions_are_listed_marked_and_revoked_with_the_consents() {
    let mut f = fake();
    // Keycloak gives an offline session the id of the login session it came from.
    f.add_offline_session("s1", "u1", "web-app", "203.0.113.7", 1_786_025_333_000);
    f.add_offline_session("off9", "u1", "mobile-app", "198.51.100.20", 1_786_025_600_000);
    let server = f.start();
    let kc = adapter(&server.url, "kc-secret");

    let mut ids: Vec<String> = kc
        .user_sessions("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["offline:off9", "offline:s1", "s1", "s2"]);
    {
        let calls = &server.state().calls;
        for client in ["web-app", "mobile-app"] {
            let line = format!(
                "GET /admin/realms/acme/users/u1/offline-sessions/{}",
                gatehouse_fakes::keycloak::client_uuid(client)
            );
            assert!(calls.contains(&line), "{line} not in {calls:?}");
        }
    }
    assert_eq!(kc.user_sessions("u2").await.unwrap().len(), 1, "bob has none");

    // One offline session, by its marked id.
    let out = kc.revoke_session("offline:off9").await.unwrap();
    assert_eq!(out.sessions_revoked, ["offline:off9"]);
    assert!(
        server
            .state()
            .calls
            .contains(&"DELETE /admin/realms/acme/sessions/off9?isOffline=true".to_string())
    );
    assert!(!kc.session("offline:off9").await.unwrap().session.active);
    let planned = kc.planned_calls(ActionKind::RevokeSession, "offline:s1");
    assert_eq!(
        planned.last().unwrap().path,
        "/admin/realms/acme/sessions/s1?isOffline=true"
    );

    // All of them: logout ends the online ones, the consents take the offline tokens.
    let out = kc.revoke_user_sessions("u1").await.unwrap();
    assert!(
        out.sessions_revoked.contains(&"offline:s1".to_string()),
        "{out:?}"
    );
    assert!(kc.user_state("u1").await.unwrap().active_sessions.is_empty());
    assert!(server.state().offline_sessions.is_empty());
}

#[tokio::test]
async fn admin_events_show_our_calls_and_say_when_the_realm_keeps_none() {
    let server = fake().start();
    let kc = adapter(&server.url, "kc-secret");
    let start = chrono::Utc::now() - chrono::Duration::seconds(5);
    kc.revoke_user_sessions("u1").await.unwrap();
    kc.revoke_session("s3").await.unwrap();

    let ev = kc.admin_events(start, Some("u1")).await.unwrap().unwrap();
    assert_eq!(ev.recorded, Some(true));
    let paths: Vec<&str> = ev.events.iter().map(|e| e.resource_path.as_str()).collect();
    assert_eq!(
        paths,
        ["users/u1/consents/web-app", "users/u1/logout"],
        "newest first"
    );
    assert_eq!(ev.events[1].operation, "ACTION");
    assert_eq!(ev.events[1].ip.as_deref(), Some("127.0.0.1"));
    let s3 = kc.admin_events(start, Some("s3")).await.unwrap().unwrap();
    assert_eq!(s3.events.len(), 1);
    assert_eq!(s3.events[0].resource_path, "sessions/s3");
    assert_eq!(s3.events[0].resource_type.as_deref(), Some("USER_SESSION"));
    // Older than the window: not ours.
    let later = kc
        .admin_events(chrono::Utc::now() + chrono::Duration::seconds(60), None)
        .await
        .unwrap()
        .unwrap();
    assert!(later.events.is_empty());

    // Paged with first/max back to the window's start.
    {
        let mut st = server.state();
        let now = chrono::Utc::now().timestamp_millis();
        for i in 0..230 {
            st.admin_events.push(serde_json::json!({
                "time": now - 1000 - i, "realmId": "acme", "operationType": "UPDATE",
                "resourceType": "USER", "resourcePath": format!("users/x{i}"),
                "authDetails": {"clientId": "other"}, "error": null
            }));
        }
        st.calls.clear();
    }
    let all = kc.admin_events(start, None).await.unwrap().unwrap();
    assert_eq!(all.events.len(), 233);
    let reads: Vec<String> = server
        .state()
        .calls
        .iter()
        .filter(|c| c.contains("/admin-events"))
        .cloned()
        .collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(reads[2].contains("first=200&max=100"), "{reads:?}");

    // A realm that keeps none says so.
    let mut f = fake();
    f.admin_events_enabled = false;
    let quiet = f.start();
    let kc = adapter(&quiet.url, "kc-secret");
    kc.revoke_user_sessions("u1").await.unwrap();
    let ev = kc.admin_events(start, None).await.unwrap().unwrap();
    assert_eq!(ev.recorded, Some(false));
    assert!(ev.events.is_empty());
    assert!(
        ev.notes[0].contains("adminEventsEnabled = false"),
        "{:?}",
        ev.notes
    );
    let report = kc.check_report().await.unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("admin events")),
        "{:?}",
        report.warnings
    );
    // Without view-events the read names the role.
    let mut f = fake();
    f.roles.retain(|r| r != "view-events");
    let blind = f.start();
    let err = adapter(&blind.url, "kc-secret")
        .admin_events(start, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("view-events"), "{err}");
}
