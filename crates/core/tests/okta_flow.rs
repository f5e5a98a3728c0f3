//! The whole flow against an Okta org faked at the HTTP boundary (`gatehouse-fakes`), through
//! the same core calls `Console` makes: sync users, sessions and the System Log into a real
//! SQLite store, detect a scripted client taking over a browser session (placed by the log's
//! own `geographicalContext` and `securityContext`, no GeoIP database), plan "contain account",
//! run it, and verify each step by re-reading the org's state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
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
use gatehouse_fakes::okta::{Okta as Fake, Origin};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta");
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

#[tokio::test]
async fn sync_detect_and_contain_an_okta_account() {
    let public = std::fs::read_to_string(format!("{FIXTURES}/ec.pub.pem")).unwrap();
    let mut f = Fake::new("0oa-service", "key-1", &public);
    f.add_user("00u1", "alice@ex.com");
    let home = Origin::new("203.0.113.7", BROWSER)
        .place("Lisbon", "Portugal", 38.72, -9.14)
        .network(64500, "Lisbon Fibre", false);
    let thief = Origin::new("198.51.100.9", "curl/8.4.0")
        .place("Changchun", "China", 43.88, 125.32)
        .network(4837, "CHINA UNICOM China169 Backbone", true);
    f.add_session("102aaa", "00u1", 120, &home);
    f.add_event(
        "e2",
        110,
        "user.authentication.sso",
        "00u1",
        Some("102aaa"),
        &home,
    );
    f.add_event(
        "e3",
        60,
        "user.authentication.sso",
        "00u1",
        Some("102aaa"),
        &thief,
    );
    f.add_event(
        "e4",
        59,
        "user.authentication.sso",
        "00u1",
        Some("102aaa"),
        &thief,
    );
    let org = f.start();

    let settings = OktaSettings::new(
        org.url.parse().unwrap(),
        OktaAuth::PrivateKeyJwt {
            client_id: "0oa-service".into(),
            key_id: "key-1".into(),
            private_key: Sensitive::new(std::fs::read_to_string(format!("{FIXTURES}/ec.pem")).unwrap()),
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
    assert_eq!(
        (report.users, report.sessions, report.activity),
        (1, 1, 4),
        "{report:?}"
    );

    // Detect: a scripted client took over the browser session, from where Okta placed it.
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
        .find(|f| f.session_id.as_deref() == Some("102aaa"))
        .unwrap_or_else(|| panic!("no finding for the session in {findings:?}"));
    // Okta's own places make the jump measurable: Lisbon, then Changchun 50 minutes later.
    assert_eq!(takeover.kind, Kind::ImpossibleTravel, "{takeover:?}");
    assert!(takeover.severity >= gatehouse_core::detect::Severity::High);
    let body = serde_json::to_string(&takeover.finding).unwrap();
    assert!(
        body.contains("Lisbon, Portugal") && body.contains("Changchun, China"),
        "{body}"
    );
    assert!(
        body.contains("\"asn\":4837"),
        "the log's network is the evidence: {body}"
    );

    // The session's stored facts (what lists, filters and the map read) are Okta's: the latest
    // place and network of the session, with coordinates for the map.
    let row = gatehouse_core::views::session_by_id(&store, "okta", "102aaa")
        .await
        .unwrap();
    assert_eq!(row.city.as_deref(), Some("Changchun"));
    assert_eq!(row.country.as_deref(), Some("China"));
    assert_eq!(row.asn, Some(4837));
    assert_eq!(row.org.as_deref(), Some("CHINA UNICOM China169 Backbone"));
    assert_eq!(row.network_class.as_deref(), Some("VPN/proxy"), "isProxy");
    let (lat, lon): (f64, f64) =
        sqlx::query_as("SELECT lat, lon FROM session_facts WHERE profile = 'okta' AND session_id = '102aaa'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((lat, lon), (43.88, 125.32));

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
        assert!(r.handover.is_none(), "Okta's reset creates no link");
        let until = r
            .residual
            .until
            .expect("JWT access tokens outlive the session at resource servers");
        assert!(until > chrono::Utc::now() + chrono::Duration::minutes(55));
    }
    {
        let st = org.state();
        assert_eq!(st.users[0]["status"], "PASSWORD_EXPIRED");
        assert!(st.factors["00u1"].is_empty());
        assert!(st.sessions.is_empty());
        assert!(
            st.calls
                .iter()
                .any(|c| c == "DELETE /api/v1/users/00u1/sessions?oauthTokens=true&forgetDevices=true")
        );
    }
    let state_now = okta.user_state("00u1").await.unwrap();
    assert!(state_now.active_sessions.is_empty());

    let audit = gatehouse_core::audit::recent(&store, 50).await.unwrap();
    assert!(
        audit.len() >= 4,
        "intent and outcome of each step are audited: {}",
        audit.len()
    );
}
