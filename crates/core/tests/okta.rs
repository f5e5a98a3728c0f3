//! The Okta adapter against an HTTP-boundary fake of the Management API, built from the
//! documented shapes (shared/ADMIN-APIS.md §2.2): private_key_jwt client assertions, `Link`
//! paging, sessions from the System Log, rate-limit headers, permission errors, malformed
//! bodies and the exact calls of each containment action.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use gatehouse_core::ErrorKind;
use gatehouse_core::backend::okta::{AssertionAlgorithm, Okta, OktaAuth, OktaSettings, session_evidence};
use gatehouse_core::backend::{AdminBackend, pages};
use gatehouse_core::http::{ClientOptions, HttpClient, RetryPolicy};
use gatehouse_core::secrets::Sensitive;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta");
const ALL: &str = "okta.users.read okta.users.manage okta.logs.read okta.sessions.read okta.sessions.manage";

fn client() -> HttpClient {
    HttpClient::new(ClientOptions {
        timeout: Some(Duration::from_secs(10)),
        ca_file: None,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    })
    .unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// The token endpoint: checks the RFC 7523 assertion against the registered public key, as Okta
/// does, and grants `scopes`.
#[derive(Clone)]
struct TokenEndpoint {
    public_pem: String,
    alg: Algorithm,
    audience: String,
    scopes: String,
    jtis: Arc<Mutex<Vec<String>>>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let refuse = |why: &str| {
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "invalid_client", "error_description": why}))
        };
        if get("grant_type").as_deref() != Some("client_credentials")
            || get("client_assertion_type").as_deref()
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return refuse("bad grant");
        }
        let Some(assertion) = get("client_assertion") else {
            return refuse("no assertion");
        };
        let key = match self.alg {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(self.public_pem.as_bytes()).unwrap(),
            _ => DecodingKey::from_ec_pem(self.public_pem.as_bytes()).unwrap(),
        };
        let mut v = Validation::new(self.alg);
        v.set_audience(&[&self.audience]);
        v.set_issuer(&["0oa-service"]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud", "jti"]);
        let Ok(data) = jsonwebtoken::decode::<Value>(&assertion, &key, &v) else {
            return refuse("The client_assertion signature is invalid.");
        };
        if data.header.kid.as_deref() != Some("key-1") || data.claims["sub"] != "0oa-service" {
            return refuse("kid or sub");
        }
        let exp = data.claims["exp"].as_i64().unwrap();
        let iat = data.claims["iat"].as_i64().unwrap();
        if exp - iat > 3600 {
            return refuse("assertion lifetime too long");
        }
        self.jtis
            .lock()
            .unwrap()
            .push(data.claims["jti"].as_str().unwrap().to_string());
        let requested = get("scope").unwrap_or_default();
        let granted: Vec<&str> = requested
            .split(' ')
            .filter(|s| self.scopes.split(' ').any(|g| g == *s))
            .chain(self.scopes.split(' ').filter(|g| g.starts_with("okta.apps")))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "okta-at", "scope": granted.join(" ")
        }))
    }
}

async fn org(alg: Algorithm, scopes: &str) -> (MockServer, TokenEndpoint) {
    let server = MockServer::start().await;
    let endpoint = TokenEndpoint {
        public_pem: fixture(if alg == Algorithm::RS256 {
            "rsa.pub.pem"
        } else {
            "ec.pub.pem"
        }),
        alg,
        audience: format!("{}/oauth2/v1/token", server.uri()),
        scopes: scopes.to_string(),
        jtis: Arc::default(),
    };
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(endpoint.clone())
        .mount(&server)
        .await;
    (server, endpoint)
}

fn oauth_settings(server: &MockServer, alg: AssertionAlgorithm, scopes: Vec<String>) -> OktaSettings {
    let pem = fixture(if alg == AssertionAlgorithm::Rs256 {
        "rsa.pem"
    } else {
        "ec.pem"
    });
    OktaSettings::new(
        server.uri().parse().unwrap(),
        OktaAuth::PrivateKeyJwt {
            client_id: "0oa-service".into(),
            key_id: "key-1".into(),
            private_key: Sensitive::new(pem),
            algorithm: alg,
            scopes,
        },
    )
}

fn adapter(server: &MockServer, configure: impl FnOnce(&mut OktaSettings)) -> Okta {
    let mut s = oauth_settings(server, AssertionAlgorithm::Rs256, Vec::new());
    configure(&mut s);
    Okta::new(s, client()).unwrap()
}

fn ssws(server: &MockServer) -> Okta {
    let s = OktaSettings::new(
        server.uri().parse().unwrap(),
        OktaAuth::Ssws {
            token: Sensitive::new("00api-token".to_string()),
        },
    );
    Okta::new(s, client()).unwrap()
}

fn user(i: usize) -> Value {
    json!({"id": format!("00u{i}"), "status": if i == 2 { "SUSPENDED" } else { "ACTIVE" },
           "created": "2026-01-01T00:00:00.000Z", "lastLogin": null,
           "profile": {"login": format!("u{i}@ex.com"), "email": format!("u{i}@ex.com"), "firstName": "User", "lastName": format!("{i}")},
           "_links": {}})
}

#[allow(clippy::too_many_arguments)]
fn event(
    uuid: &str,
    at: &str,
    kind: &str,
    user: &str,
    session: &str,
    ip: &str,
    result: &str,
    asn: u32,
) -> Value {
    json!({"uuid": uuid, "published": at, "eventType": kind, "severity": "INFO", "displayMessage": "x",
           "actor": {"id": user, "type": "User", "alternateId": "alice@ex.com", "displayName": "Alice"},
           "client": {"ipAddress": ip, "device": "Computer", "zone": "null",
                      "userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh)", "os": "Mac OS X", "browser": "CHROME"},
                      "geographicalContext": {"city": "Lisbon", "state": "Lisbon", "country": "Portugal", "postalCode": "1000",
                                              "geolocation": {"lat": 38.72, "lon": -9.14}}},
           "authenticationContext": {"externalSessionId": session, "credentialType": "PASSWORD"},
           "securityContext": {"asNumber": asn, "asOrg": "ExampleNet", "isp": "x", "domain": "x", "isProxy": asn == 64666},
           "debugContext": {"debugData": {}}, "outcome": {"result": result, "reason": if result == "FAILURE" { Some("INVALID_CREDENTIALS") } else { None }},
           "request": {"ipChain": []}, "target": [], "transaction": {"type": "WEB", "id": "t"}})
}

fn link(server: &MockServer, path: &str, after: &str) -> String {
    format!("<{}{path}?after={after}&limit=200>; rel=\"next\"", server.uri())
}

#[tokio::test]
async fn private_key_jwt_assertions_verify_with_rs256_and_es256_and_the_token_is_cached() {
    for (alg, key_alg) in [
        (Algorithm::RS256, AssertionAlgorithm::Rs256),
        (Algorithm::ES256, AssertionAlgorithm::Es256),
    ] {
        let (server, endpoint) = org(alg, ALL).await;
        Mock::given(method("GET"))
            .and(path("/api/v1/users"))
            .and(header("authorization", "Bearer okta-at"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([user(1)])))
            .expect(2)
            .mount(&server)
            .await;
        let b = Okta::new(oauth_settings(&server, key_alg, Vec::new()), client()).unwrap();
        b.users_page(None).await.unwrap();
        b.users_page(None).await.unwrap();
        assert_eq!(
            endpoint.jtis.lock().unwrap().len(),
            1,
            "{alg:?}: one token for both calls"
        );
        let probe = b.probe().await.unwrap();
        assert!(probe.missing.is_empty(), "{alg:?}: {probe:?}");
        let jtis = endpoint.jtis.lock().unwrap().clone();
        assert_eq!(jtis.len(), 2);
        assert_ne!(jtis[0], jtis[1], "each assertion has a fresh jti");
    }
    // A key of the wrong kind fails at setup.
    let server = MockServer::start().await;
    let mut s = oauth_settings(&server, AssertionAlgorithm::Es256, Vec::new());
    if let OktaAuth::PrivateKeyJwt { private_key, .. } = &mut s.auth {
        *private_key = Sensitive::new(fixture("rsa.pem"));
    }
    let err = Okta::new(s, client()).err().unwrap();
    assert!(err.to_string().contains("ES256"), "{err}");
}

#[tokio::test]
async fn users_page_by_link_cursor_and_ssws_sends_its_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .and(query_param_is_missing("after"))
        .and(header("authorization", "SSWS 00api-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{}/api/v1/users?limit=200>; rel=\"self\"", server.uri()).as_str(),
                )
                .append_header("link", link(&server, "/api/v1/users", "00u2").as_str())
                .set_body_json(json!([user(1), user(2)])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .and(query_param("after", "00u2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link(&server, "/api/v1/users", "00u4").as_str())
                .set_body_json(json!([user(3), user(4)])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .and(query_param("after", "00u4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([user(5)])))
        .expect(1)
        .mount(&server)
        .await;
    let b = ssws(&server);
    let pages: Vec<_> = pages(None, |c| b.users_page(c)).try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0].cursor.as_deref(), Some("00u2"));
    let users: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(users.len(), 5);
    assert_eq!(users[1].status, "suspended");
    assert_eq!(users[0].username, "u1@ex.com");
    assert_eq!(users[0].display_name.as_deref(), Some("User 1"));
}

#[tokio::test]
async fn activity_and_sessions_come_from_the_system_log_with_places_networks_and_proxies() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    let first = vec![
        event(
            "e1",
            "2026-07-01T10:00:00.000Z",
            "user.session.start",
            "00u1",
            "102aaa",
            "203.0.113.7",
            "SUCCESS",
            64500,
        ),
        event(
            "e2",
            "2026-07-01T10:05:00.000Z",
            "user.authentication.sso",
            "00u1",
            "102aaa",
            "198.51.100.9",
            "SUCCESS",
            64666,
        ),
        event(
            "e3",
            "2026-07-01T10:06:00.000Z",
            "user.session.start",
            "00u2",
            "unknown",
            "192.0.2.1",
            "FAILURE",
            64501,
        ),
    ];
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param("sortOrder", "ASCENDING"))
        .and(query_param_is_missing("after"))
        .and(query_param_is_missing("filter"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link(&server, "/api/v1/logs", "c1").as_str())
                .insert_header("x-rate-limit-limit", "120")
                .insert_header("x-rate-limit-remaining", "119")
                .insert_header(
                    "x-rate-limit-reset",
                    (chrono::Utc::now().timestamp() + 60).to_string().as_str(),
                )
                .set_body_json(Value::Array(first.clone())),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param("after", "c1"))
        .and(query_param_is_missing("filter"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link(&server, "/api/v1/logs", "c2").as_str())
                .set_body_json(json!([event(
                    "e4",
                    "2026-07-01T11:00:00.000Z",
                    "user.account.update_password",
                    "00u1",
                    "102aaa",
                    "198.51.100.9",
                    "SUCCESS",
                    64666
                )])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param("after", "c2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link(&server, "/api/v1/logs", "c2").as_str())
                .set_body_json(json!([])),
        )
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let pages: Vec<_> = pages(None, |c| b.activity_page(c)).try_collect().await.unwrap();
    assert_eq!(pages.len(), 3, "polling ends at the first empty page");
    assert_eq!(pages[2].cursor.as_deref(), Some("c2"));
    assert_eq!(b.gate().quota().remaining.map(|r| r <= 119), Some(true));
    let all: Vec<_> = pages.iter().flat_map(|p| p.items.clone()).collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].session_id.as_deref(), Some("102aaa"));
    assert_eq!(all[0].user_agent.as_deref(), Some("Mozilla/5.0 (Macintosh)"));
    assert_eq!(all[2].session_id, None, "`unknown` is no session");
    assert_eq!(all[2].status, Some(401));
    assert_eq!(all[2].denial_reason.as_deref(), Some("INVALID_CREDENTIALS"));
    assert!(all[3].sensitive);

    let events: Vec<_> = first
        .iter()
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    let evidence = session_evidence(&events);
    assert_eq!(evidence.len(), 1);
    let e = &evidence[0];
    assert_eq!(e.ips, ["203.0.113.7", "198.51.100.9"]);
    assert_eq!(e.asns, [64500, 64666]);
    assert!(e.proxy_seen);
    assert_eq!(e.places, ["Lisbon, Portugal"]);
    assert_eq!(e.user_id.as_deref(), Some("00u1"));
}

#[tokio::test]
async fn user_sessions_are_confirmed_one_by_one_and_a_gone_session_reads_as_ended() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .and(query_param(
            "filter",
            r#"actor.id eq "00u1" and (eventType eq "user.session.start" or eventType eq "user.session.end")"#,
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            event("e1", "2026-07-01T10:00:00.000Z", "user.session.start", "00u1", "102live", "203.0.113.7", "SUCCESS", 64500),
            event("e2", "2026-07-01T10:01:00.000Z", "user.session.start", "00u1", "102gone", "198.51.100.9", "SUCCESS", 64501),
            event("e3", "2026-07-01T10:02:00.000Z", "user.session.start", "00u1", "102out", "192.0.2.1", "SUCCESS", 64501),
            event("e4", "2026-07-01T10:03:00.000Z", "user.session.end", "00u1", "102out", "192.0.2.1", "SUCCESS", 64501),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sessions/102live"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "102live", "login": "alice@ex.com", "userId": "00u1", "createdAt": "2026-07-01T10:00:00.000Z",
            "expiresAt": "2099-07-01T12:00:00.000Z", "status": "ACTIVE",
            "lastPasswordVerification": "2026-07-01T10:00:00.000Z", "lastFactorVerification": null,
            "amr": ["pwd"], "idp": {"id": "00o1", "type": "OKTA"}, "mfaActive": false})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sessions/102gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorCode": "E0000007", "errorSummary": "Not found: Resource not found: 102gone (Session)"})))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let sessions = b.user_sessions("00u1").await.unwrap();
    let state: Vec<_> = sessions.iter().map(|s| (s.id.as_str(), s.active)).collect();
    assert_eq!(state, [("102live", true), ("102gone", false), ("102out", false)]);
    assert_eq!(sessions[0].ip.as_deref(), Some("203.0.113.7"));
    assert!(!b.session("102gone").await.unwrap().session.active);
    assert!(b.session("102live").await.unwrap().session.active);

    let err = b.user_sessions("00u1\" or actor.id ne \"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "no filter injection");
}

#[tokio::test]
async fn a_429_is_waited_out_and_a_nearly_empty_window_holds_requests_until_reset() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    let reset = chrono::Utc::now().timestamp() + 1;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-limit", "600")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.to_string().as_str())
                .set_body_json(json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let arrivals: Arc<Mutex<Vec<i64>>> = Arc::default();
    #[derive(Clone)]
    struct Near(Arc<Mutex<Vec<i64>>>, i64);
    impl Respond for Near {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0.lock().unwrap().push(chrono::Utc::now().timestamp());
            ResponseTemplate::new(200)
                .insert_header("x-rate-limit-limit", "600")
                .insert_header("x-rate-limit-remaining", "2")
                .insert_header("x-rate-limit-reset", self.1.to_string().as_str())
                .set_body_json(json!([user(1)]))
        }
    }
    let second_reset = chrono::Utc::now().timestamp() + 3;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .respond_with(Near(arrivals.clone(), second_reset))
        .with_priority(2)
        .mount(&server)
        .await;
    let b = adapter(&server, |s| s.rate_reserve = 2);
    assert_eq!(b.users_page(None).await.unwrap().items.len(), 1);
    // Two left, both kept in reserve: the next call waits for the window to reset.
    b.users_page(None).await.unwrap();
    let at = arrivals.lock().unwrap().clone();
    assert_eq!(at.len(), 2);
    assert!(
        at[1] > second_reset,
        "sent at {} before the reset at {second_reset}",
        at[1]
    );
}

#[tokio::test]
async fn bulk_session_clears_keep_at_most_the_configured_requests_in_flight() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    let delay = Duration::from_millis(300);
    #[derive(Clone)]
    struct Slow(Arc<Mutex<Vec<Instant>>>, Duration);
    impl Respond for Slow {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0.lock().unwrap().push(Instant::now());
            ResponseTemplate::new(204).set_delay(self.1)
        }
    }
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(wiremock::matchers::path_regex(r"^/api/v1/users/[^/]+/sessions$"))
        .respond_with(Slow(arrivals.clone(), delay))
        .expect(5)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(wiremock::matchers::path_regex(r"^/api/v1/users/[^/]+/grants$"))
        .respond_with(ResponseTemplate::new(204))
        .expect(5)
        .mount(&server)
        .await;
    let b = adapter(&server, |s| s.concurrency = 2);
    let ids: Vec<String> = (0..5).map(|i| format!("00u{i}")).collect();
    let results = b.revoke_many_user_sessions(&ids).await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let mut t = arrivals.lock().unwrap().clone();
    t.sort();
    for i in 2..t.len() {
        assert!(
            t[i] - t[i - 2] >= delay - Duration::from_millis(50),
            "three clears in flight at once ({:?} apart)",
            t[i] - t[i - 2]
        );
    }
}

#[tokio::test]
async fn permission_errors_name_the_scope_and_the_probes_report_missing_and_broad_grants() {
    let (server, _) = org(
        Algorithm::RS256,
        "okta.users.read okta.users.manage okta.logs.read okta.sessions.read okta.apps.manage",
    )
    .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sessions/102abc"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header(
                    "www-authenticate",
                    "Bearer authorization_uri=\"x\", realm=\"IdpMyAccountAPI\", scope=\"okta.sessions.manage\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\"",
                )
                .set_body_json(json!({"errorCode": "E0000006", "errorSummary": "You do not have permission to perform the requested action",
                                      "errorLink": "E0000006", "errorId": "oae1", "errorCauses": []})),
        )
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let err = b.revoke_session("102abc").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.to_string()
            .contains("missing permission `okta.sessions.manage`"),
        "{err}"
    );
    let probe = b.probe().await.unwrap();
    assert_eq!(probe.missing, ["okta.sessions.manage"]);
    assert_eq!(probe.optional_missing, ["okta.userRisk.manage"]);
    assert_eq!(probe.broader_than_needed, ["okta.apps.manage"]);
    let check = b.check().await.unwrap();
    assert!(check.authenticated);
    assert!(
        check
            .permissions
            .contains(&("okta.sessions.manage".to_string(), false))
    );

    // SSWS: the owner's admin roles stand for scopes.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me/roles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "ra1", "label": "Super Organization Administrator", "type": "SUPER_ADMIN", "status": "ACTIVE", "assignmentType": "USER"}])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/me/roles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "ra2", "type": "REPORT_ADMIN", "status": "ACTIVE"}])))
        .mount(&server)
        .await;
    let b = ssws(&server);
    let probe = b.probe().await.unwrap();
    assert!(probe.missing.is_empty());
    assert_eq!(probe.broader_than_needed, ["role SUPER_ADMIN"]);
    let probe = b.probe().await.unwrap();
    assert_eq!(
        probe.missing,
        [
            "okta.users.read",
            "okta.users.manage",
            "okta.sessions.read",
            "okta.sessions.manage"
        ]
    );
    assert!(probe.broader_than_needed.is_empty());

    // A refused assertion is "credential rejected".
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "The client_assertion signature is invalid."})))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    assert!(!b.check().await.unwrap().authenticated);

    // An app that requires DPoP says so; the error names the setting.
    let dpop = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_dpop_proof", "error_description": "The DPoP proof JWT header is missing."})))
        .mount(&dpop)
        .await;
    let err = adapter(&dpop, |_| {}).users_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string()
            .contains("Require Demonstrating Proof of Possession"),
        "{err}"
    );
    let err = b.users_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("client_assertion signature"), "{err}");
}

#[tokio::test]
async fn malformed_bodies_are_clear_upstream_errors() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": "00u1"}])))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let err = b.activity_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.to_string().contains("okta GET /api/v1/logs"), "{err}");
    let err = b.users_page(None).await.unwrap_err();
    assert!(err.to_string().contains("missing field `status`"), "{err}");
}

#[tokio::test]
async fn each_containment_call_is_the_documented_method_path_and_body() {
    let (server, _) = org(Algorithm::RS256, &format!("{ALL} okta.userRisk.manage")).await;
    let ok = || ResponseTemplate::new(204);
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sessions/102abc"))
        .and(header("authorization", "Bearer okta-at"))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/sessions/102old"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errorCode": "E0000007", "errorSummary": "Not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([event(
            "e1",
            "2026-07-01T10:00:00.000Z",
            "user.session.start",
            "00u1",
            "102s1",
            "203.0.113.7",
            "SUCCESS",
            64500
        )])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/sessions/102s1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "102s1", "userId": "00u1", "createdAt": "2026-07-01T10:00:00.000Z",
            "expiresAt": "2099-07-01T12:00:00.000Z", "status": "ACTIVE", "amr": ["pwd"]})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/sessions"))
        .and(query_param("oauthTokens", "true"))
        .and(query_param("forgetDevices", "true"))
        .respond_with(ok())
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/grants"))
        .respond_with(ok())
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/expire_password"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "00u1", "status": "PASSWORD_EXPIRED"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/00u1/lifecycle/reset_factors"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/users/00u1/risk"))
        .and(body_json(
            json!({"riskLevel": "HIGH", "riskReason": "Gatehouse: account contained after token theft"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"riskLevel": "HIGH", "reason": "override.by.admin"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/users/00u9/risk"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"errorCode": "E0000007", "errorSummary": "Not found"})),
        )
        .mount(&server)
        .await;
    let b = adapter(&server, |s| s.set_user_risk = true);

    let before = chrono::Utc::now();
    let r = b.revoke_session("102abc").await.unwrap();
    assert_eq!(r.sessions_revoked, ["102abc"]);
    assert!(r.backend_exposure_until.unwrap() - before >= chrono::Duration::minutes(60));
    assert!(b.revoke_session("102old").await.unwrap().already_done);
    let r = b.revoke_user_sessions("00u1").await.unwrap();
    assert_eq!(r.sessions_revoked, ["102s1"]);
    b.force_password_reset("00u1", true).await.unwrap();
    assert!(
        !b.set_user_risk("00u9", "HIGH", "x").await.unwrap(),
        "no ITP: reported, not failed"
    );

    let err = b.revoke_token("jti").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(b.token_revoked("jti").await.unwrap(), None);

    let plan: Vec<_> = b
        .contain_playbook("00u1")
        .iter()
        .map(|c| format!("{} {} [{}]", c.method, c.path, c.permission))
        .collect();
    assert_eq!(
        plan,
        [
            "POST /api/v1/users/00u1/lifecycle/expire_password [okta.users.manage]",
            "POST /api/v1/users/00u1/lifecycle/reset_factors [okta.users.manage]",
            "PUT /api/v1/users/00u1/risk [okta.userRisk.manage]",
            "DELETE /api/v1/users/00u1/sessions?oauthTokens=true&forgetDevices=true [okta.users.manage]",
            "DELETE /api/v1/users/00u1/grants [okta.users.manage]",
        ]
    );
    let seen: HashSet<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(seen.contains("POST /api/v1/users/00u1/lifecycle/reset_factors"));
}

#[tokio::test]
async fn user_state_reads_the_status_factors_and_sessions() {
    let (server, _) = org(Algorithm::RS256, ALL).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00u1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "00u1", "status": "PASSWORD_EXPIRED", "profile": {"login": "alice@ex.com"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/00u1/factors"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let s = b.user_state("00u1").await.unwrap();
    assert_eq!(s.password_change_required, Some(true));
    assert_eq!(s.mfa_required, Some(true));
    assert!(s.active_sessions.is_empty());
    assert_eq!(s.user.status, "password_expired");
}
