//! The whole flow against an Okta org faked at the HTTP boundary, through the same core calls
//! `Console` makes (the profile wiring for Okta lands separately): sync users, sessions and the
//! System Log into a real SQLite store, detect a scripted client taking over a browser session,
//! plan "contain account", run it, and verify each step by re-reading the org's state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gatehouse_core::actions::{ActionKind, Actions};
use gatehouse_core::audit::Log;
use gatehouse_core::backend::AdminBackend;
use gatehouse_core::backend::okta::{AssertionAlgorithm, Okta, OktaAuth, OktaSettings};
use gatehouse_core::detect::Kind;
use gatehouse_core::enrich::EnrichConfig;
use gatehouse_core::http::{ClientOptions, HttpClient};
use gatehouse_core::secrets::Sensitive;
use gatehouse_core::store::Store;
use gatehouse_core::triage::{Detector, FindingFilter};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn event(uuid: &str, minutes_ago: i64, kind: &str, ip: &str, ua: &str) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({"uuid": uuid, "published": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
           "eventType": kind, "severity": "INFO", "displayMessage": "x",
           "actor": {"id": "00u1", "type": "User", "alternateId": "alice@ex.com", "displayName": "Alice"},
           "client": {"ipAddress": ip, "userAgent": {"rawUserAgent": ua}},
           "authenticationContext": {"externalSessionId": "102aaa"},
           "securityContext": {"asNumber": 64500, "isProxy": false},
           "outcome": {"result": "SUCCESS"}})
}

/// The org's state as the containment calls change it.
#[derive(Clone, Default)]
struct OrgState {
    cleared: Arc<AtomicBool>,
    expired: Arc<AtomicBool>,
    factors_reset: Arc<AtomicBool>,
}

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

async fn org(state: &OrgState) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "at",
            "scope": "okta.users.read okta.users.manage okta.logs.read okta.sessions.read okta.sessions.manage"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "00u1", "status": "ACTIVE", "profile": {"login": "alice@ex.com", "email": "alice@ex.com"}}])))
        .mount(&server)
        .await;
    let start = event("e1", 120, "user.session.start", "203.0.113.7", BROWSER);
    let events = json!([
        start.clone(),
        event("e2", 110, "user.authentication.sso", "203.0.113.7", BROWSER),
        event("e3", 60, "user.authentication.sso", "198.51.100.9", "curl/8.4.0"),
        event("e4", 59, "user.authentication.sso", "198.51.100.9", "curl/8.4.0"),
    ]);
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param_is_missing("filter"))
        .respond_with(ResponseTemplate::new(200).set_body_json(events))
        .mount(&server)
        .await;
    // Session reconstruction (tenant-wide and per user) reads the session events only.
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(wiremock::matchers::query_param_contains(
            "filter",
            "user.session.start",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([start])))
        .mount(&server)
        .await;
    let live = json!({"id": "102aaa", "userId": "00u1", "createdAt": "2026-07-01T10:00:00.000Z",
                      "expiresAt": "2099-07-01T12:00:00.000Z", "status": "ACTIVE", "amr": ["pwd"]});
    Mock::given(method("GET"))
        .and(path("/api/v1/sessions/102aaa"))
        .respond_with(Either(
            state.cleared.clone(),
            ResponseTemplate::new(200).set_body_json(live),
            ResponseTemplate::new(404)
                .set_body_json(json!({"errorCode": "E0000007", "errorSummary": "Not found"})),
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/sessions"))
        .and(query_param("oauthTokens", "true"))
        .respond_with(Set(state.cleared.clone(), ResponseTemplate::new(204)))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/grants"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/expire_password"))
        .respond_with(Set(
            state.expired.clone(),
            ResponseTemplate::new(200).set_body_json(json!({"id": "00u1", "status": "PASSWORD_EXPIRED"})),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/reset_factors"))
        .respond_with(Set(
            state.factors_reset.clone(),
            ResponseTemplate::new(200).set_body_json(json!({})),
        ))
        .mount(&server)
        .await;
    let user = |status: &str| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"id": "00u1", "status": status, "profile": {"login": "alice@ex.com"}}))
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00u1"))
        .respond_with(Either(
            state.expired.clone(),
            user("ACTIVE"),
            user("PASSWORD_EXPIRED"),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00u1/factors"))
        .respond_with(Either(
            state.factors_reset.clone(),
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": "opf1", "factorType": "push", "status": "ACTIVE"}])),
            ResponseTemplate::new(200).set_body_json(json!([])),
        ))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn sync_detect_and_contain_an_okta_account() {
    let state = OrgState::default();
    let server = org(&state).await;
    let settings = OktaSettings::new(
        server.uri().parse().unwrap(),
        OktaAuth::PrivateKeyJwt {
            client_id: "0oa-service".into(),
            key_id: "key-1".into(),
            private_key: Sensitive::new(
                std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta/ec.pem"))
                    .unwrap(),
            ),
            algorithm: AssertionAlgorithm::Es256,
            scopes: Vec::new(),
        },
    );
    let http = HttpClient::new(ClientOptions {
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    })
    .unwrap();
    let okta: Arc<dyn AdminBackend> = Arc::new(Okta::new(settings, http).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();

    // Sync: users, sessions from the System Log, activity.
    let report = gatehouse_core::sync::sync(&store, "okta", okta.as_ref(), 30, &|_, _| {})
        .await
        .unwrap();
    assert_eq!((report.users, report.sessions), (1, 1), "{report:?}");

    // Detect: a scripted client took over the browser session.
    let detector = Detector::new(
        gatehouse_core::detect::Config::default(),
        EnrichConfig {
            city_db: None,
            asn_db: None,
        },
    );
    let detected = detector.run(&store, "okta").await.unwrap();
    assert!(detected.events >= 4, "{detected:?}");
    let findings = gatehouse_core::triage::list(
        &store,
        "okta",
        &FindingFilter {
            user_id: Some("00u1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let takeover = findings
        .iter()
        .find(|f| f.kind == Kind::DeviceChange)
        .unwrap_or_else(|| panic!("no device-change finding in {findings:?}"));
    assert_eq!(takeover.session_id.as_deref(), Some("102aaa"));

    // Contain: the plan is the backend's declared actions; each runs audited and verified.
    let actions = Actions {
        log: Log::new(store.clone(), None),
        profile: "okta".into(),
        backend: okta.clone(),
        actor: "analyst@test".into(),
        ssf: None,
    };
    let steps = actions.plan_contain("00u1").await.unwrap();
    let kinds: Vec<_> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [ActionKind::ForcePasswordReset, ActionKind::RevokeUserSessions]
    );
    for s in &steps {
        let r = actions.run(s.kind, &s.target).await.unwrap();
        assert!(r.verified, "{:?} not verified: {:?}", s.kind, r.checks);
        let until = r
            .residual
            .until
            .expect("JWT access tokens outlive the session at resource servers");
        assert!(until > chrono::Utc::now() + chrono::Duration::minutes(55));
    }
    assert!(state.cleared.load(Ordering::SeqCst) && state.expired.load(Ordering::SeqCst));
    assert!(state.factors_reset.load(Ordering::SeqCst));
    let state_now = okta.user_state("00u1").await.unwrap();
    assert!(state_now.active_sessions.is_empty());

    let audit = gatehouse_core::audit::recent(&store, 50).await.unwrap();
    assert!(
        audit.len() >= 4,
        "intent and outcome of each step are audited: {}",
        audit.len()
    );
}
