//! Auth0 end to end through the same core calls `Console` makes (the profile wiring for Auth0
//! lands separately): sync into a real SQLite store, then "contain account" planned from the
//! adapter's declared capabilities, run, audited and verified against the tenant's changed state.
//! Auth0 keeps no "must change password" flag, so that one check stays unverified by design.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gatehouse_core::actions::{ActionKind, Actions};
use gatehouse_core::audit::Log;
use gatehouse_core::backend::AdminBackend;
use gatehouse_core::backend::auth0::{Auth0, Auth0Settings};
use gatehouse_core::http::{ClientOptions, HttpClient};
use gatehouse_core::secrets::Sensitive;
use gatehouse_core::store::Store;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Set(Arc<AtomicBool>, ResponseTemplate);
impl Respond for Set {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.store(true, Ordering::SeqCst);
        self.1.clone()
    }
}

struct Either(Arc<AtomicBool>, ResponseTemplate, ResponseTemplate);
impl Respond for Either {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::SeqCst) {
            self.2.clone()
        } else {
            self.1.clone()
        }
    }
}

#[tokio::test]
async fn sync_and_contain_an_auth0_account() {
    let server = MockServer::start().await;
    let (ended, unenrolled) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "mgmt", "expires_in": 86400, "token_type": "Bearer",
            "scope": "read:users update:users read:logs read:sessions delete:sessions read:refresh_tokens delete:refresh_tokens create:user_tickets delete:guardian_enrollments"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"user_id": "auth0|1", "email": "alice@ex.com", "name": "Alice"}])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"user_id": "auth0|1", "email": "alice@ex.com"})),
        )
        .mount(&server)
        .await;
    let now = chrono::Utc::now();
    let at =
        |m: i64| (now - chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let session = json!({"id": "sess_1", "user_id": "auth0|1", "created_at": at(90), "last_interacted_at": at(5),
        "expires_at": "2099-01-01T00:00:00.000Z",
        "device": {"initial_ip": "203.0.113.7", "initial_user_agent": "Mozilla/5.0", "last_ip": "198.51.100.9",
                   "last_user_agent": "python-requests/2.32", "last_asn": "64501"}});
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C1/sessions"))
        .respond_with(Either(
            ended.clone(),
            ResponseTemplate::new(200).set_body_json(json!({"sessions": [session]})),
            ResponseTemplate::new(200).set_body_json(json!({"sessions": []})),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .and(query_param("sort", "date:1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"log_id": "900001", "date": at(90), "type": "s", "ip": "203.0.113.7", "user_id": "auth0|1", "user_agent": "Chrome 126"},
            {"log_id": "900002", "date": at(30), "type": "f", "description": "Wrong password", "ip": "198.51.100.9", "user_id": "auth0|1"}])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/auth0%7C1/sessions"))
        .respond_with(Set(ended.clone(), ResponseTemplate::new(202)))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/auth0%7C1/refresh-tokens"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/auth0%7C1/authenticators"))
        .respond_with(Set(unenrolled.clone(), ResponseTemplate::new(204)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/api/v2/users/auth0%7C1/multifactor/actions/invalidate-remember-browser",
        ))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets/password-change"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"ticket": "https://t/lo/reset?ticket=x#"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C1/enrollments"))
        .respond_with(Either(
            unenrolled.clone(),
            ResponseTemplate::new(200).set_body_json(json!([{"id": "dev_1", "status": "confirmed"}])),
            ResponseTemplate::new(200).set_body_json(json!([])),
        ))
        .mount(&server)
        .await;

    let settings = Auth0Settings::new(
        server.uri().parse().unwrap(),
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
    assert_eq!(
        check("password change is required"),
        Some(false),
        "Auth0 has no such flag to read back"
    );
    assert!(!reset.verified);
    assert_eq!(reset.sessions_revoked, ["sess_1"]);
    assert!(
        auth0.take_password_ticket("auth0|1").is_some(),
        "the ticket waits for the analyst"
    );

    let revoke = actions
        .run(ActionKind::RevokeUserSessions, "auth0|1")
        .await
        .unwrap();
    assert!(revoke.verified, "{:?}", revoke.checks);
    assert!(revoke.already_done);
    let until = revoke.residual.until.unwrap();
    assert!(
        until > chrono::Utc::now() + chrono::Duration::hours(23),
        "24 h access tokens stay usable"
    );
    assert!(gatehouse_core::audit::recent(&store, 50).await.unwrap().len() >= 4);
}
