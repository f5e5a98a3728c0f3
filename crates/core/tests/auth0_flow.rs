//! Auth0 end to end against a tenant faked at the HTTP boundary (`gatehouse-fakes`), through the
//! same core calls `Console` makes: sync into a real SQLite store, then "contain account" planned
//! from the adapter's declared capabilities, run, audited and verified against the tenant's
//! changed state. Auth0 keeps no "must change password" flag, so that one check stays unverified
//! by design; the password-change link reaches the analyst once and only its hash is audited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gatehouse_core::actions::{ActionKind, Actions};
use gatehouse_core::audit::Log;
use gatehouse_core::backend::AdminBackend;
use gatehouse_core::backend::auth0::{Auth0, Auth0Settings};
use gatehouse_core::http::{ClientOptions, HttpClient};
use gatehouse_core::secrets::Sensitive;
use gatehouse_core::store::Store;
use gatehouse_fakes::auth0::{Auth0 as Fake, Client};

#[tokio::test]
async fn sync_and_contain_an_auth0_account() {
    let mut f = Fake::new("m2m", "s", "set below");
    f.add_user("auth0|1", "alice@ex.com");
    let browser = Client::new("203.0.113.7", "Mozilla/5.0").located("PT", "Portugal", "Lisbon", 38.72, -9.14);
    let script = Client::new("198.51.100.9", "python-requests/2.32").asn("64501");
    f.add_session("sess_1", "auth0|1", 90, &browser, &script);
    f.add_log("f", 30, "auth0|1", None, &script);
    let tenant = f.start();
    tenant.state().audience = format!("{}/api/v2/", tenant.url);

    let settings = Auth0Settings::new(
        tenant.url.parse().unwrap(),
        "m2m",
        Sensitive::new("s".to_string()),
    );
    let auth0 = Arc::new(Auth0::new(settings, HttpClient::new(ClientOptions::default()).unwrap()).unwrap());
    let backend: Arc<dyn AdminBackend> = auth0.clone();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    let report = gatehouse_core::sync::sync(&store, "auth0", backend.as_ref(), 30, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (report.users, report.sessions, report.activity),
        (1, 1, 2),
        "{report:?}"
    );
    // The login's place is Auth0's `location_info`, stored with the event.
    let origin: Option<String> = sqlx::query_scalar("SELECT origin FROM activity WHERE path = 'auth0:s'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let origin: serde_json::Value = serde_json::from_str(&origin.unwrap()).unwrap();
    assert_eq!(origin["city"], "Lisbon");
    assert_eq!(origin["country"], "PT");

    let actions = Actions {
        log: Log::new(store.clone(), None),
        profile: "auth0".into(),
        backend: backend.clone(),
        actor: "analyst@test".into(),
        ssf: None,
    };
    let steps = actions.plan_contain("auth0|1").await.unwrap();
    let kinds: Vec<_> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [ActionKind::ForcePasswordReset, ActionKind::RevokeUserSessions]
    );

    let reset = actions
        .run(ActionKind::ForcePasswordReset, "auth0|1")
        .await
        .unwrap();
    let check = |what: &str| reset.checks.iter().find(|c| c.what.contains(what)).map(|c| c.ok);
    assert_eq!(check("MFA is required"), Some(true));
    assert_eq!(check("no active session"), Some(true));
    // Auth0 keeps no "must change password" flag: the block stands in for it and is read back.
    assert_eq!(check("password change is required"), None);
    assert_eq!(check("the account is blocked"), Some(true));
    assert!(reset.verified, "{reset:?}");
    assert_eq!(tenant.state().users[0]["blocked"], true);
    assert_eq!(reset.sessions_revoked, ["sess_1"]);
    let url = {
        let st = tenant.state();
        assert_eq!(st.tickets.len(), 1, "one ticket, never retried");
        st.tickets[0].1.clone()
    };
    let handover = reset.handover.as_ref().expect("the ticket reaches the analyst");
    assert_eq!(handover.kind, "password_change_ticket");
    assert_eq!(handover.url_or_code.expose(), &url);
    assert!(handover.expires_at.unwrap() > chrono::Utc::now() + chrono::Duration::hours(23));
    let audited = serde_json::to_string(&gatehouse_core::audit::recent(&store, 50).await.unwrap()).unwrap();
    assert!(!audited.contains(&url), "the URL is not audited");
    assert!(audited.contains(&handover.sha256()), "its hash is");
    let stored: Vec<String> = sqlx::query_scalar("SELECT coalesce(outcome, '') FROM actions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(
        stored.iter().all(|o| !o.contains(&url)),
        "nor kept in the actions table"
    );

    let revoke = actions
        .run(ActionKind::RevokeUserSessions, "auth0|1")
        .await
        .unwrap();
    assert!(revoke.verified, "{:?}", revoke.checks);
    assert!(revoke.already_done);
    assert!(revoke.handover.is_none());
    let until = revoke.residual.until.unwrap();
    assert!(
        until > chrono::Utc::now() + chrono::Duration::hours(23),
        "24 h access tokens stay usable"
    );
    {
        let st = tenant.state();
        assert!(st.sessions.is_empty() && st.refresh_tokens.is_empty());
        assert!(st.enrollments["auth0|1"].is_empty());
    }
    assert!(gatehouse_core::audit::recent(&store, 50).await.unwrap().len() >= 4);
}
