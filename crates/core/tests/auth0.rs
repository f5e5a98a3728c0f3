//! The Auth0 adapter against an HTTP-boundary fake of the Management API, built from the
//! documented shapes (shared/ADMIN-APIS.md §2.3): paging, rate limits, permission errors,
//! malformed bodies and the exact calls of each containment action.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use gatehouse_core::ErrorKind;
use gatehouse_core::backend::auth0::{Auth0, Auth0Settings};
use gatehouse_core::backend::{AdminBackend, pages};
use gatehouse_core::http::{ClientOptions, HttpClient, RetryPolicy};
use gatehouse_core::secrets::Sensitive;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ALL_SCOPES: &str = "read:users update:users read:logs read:sessions delete:sessions \
    read:refresh_tokens delete:refresh_tokens create:user_tickets delete:guardian_enrollments";

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

async fn tenant(scopes: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_json(json!({
            "grant_type": "client_credentials",
            "client_id": "m2m",
            "client_secret": "s3cret",
            "audience": format!("{}/api/v2/", server.uri()),
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "mgmt-token", "expires_in": 86400, "scope": scopes, "token_type": "Bearer"
        })))
        .mount(&server)
        .await;
    server
}

fn adapter(server: &MockServer, configure: impl FnOnce(&mut Auth0Settings)) -> Auth0 {
    let mut settings = Auth0Settings::new(
        server.uri().parse().unwrap(),
        "m2m",
        Sensitive::new("s3cret".to_string()),
    );
    configure(&mut settings);
    Auth0::new(settings, client()).unwrap()
}

fn user(i: usize) -> Value {
    json!({"user_id": format!("auth0|{i:04}"), "email": format!("u{i}@ex.com"), "name": format!("User {i}"),
           "nickname": format!("u{i}"), "blocked": i == 3})
}

fn session(id: &str, user: &str, ip: &str) -> Value {
    json!({"id": id, "user_id": user, "created_at": "2026-07-01T10:00:00.000Z",
           "updated_at": "2026-07-01T11:00:00.000Z", "authenticated_at": "2026-07-01T10:00:00.000Z",
           "idle_expires_at": "2099-07-04T10:00:00.000Z", "expires_at": "2099-07-08T10:00:00.000Z",
           "last_interacted_at": "2026-07-01T11:00:00.000Z",
           "device": {"initial_user_agent": "Mozilla/5.0 first", "initial_ip": "203.0.113.7", "initial_asn": "64500",
                      "last_user_agent": "curl/8.0", "last_ip": ip, "last_asn": "64501"},
           "clients": [{"client_id": "web"}], "authentication": {"methods": [{"name": "pwd", "timestamp": "2026-07-01T10:00:00.000Z"}]},
           "cookie": {}, "session_metadata": {}})
}

fn log(i: usize, kind: &str) -> Value {
    json!({"log_id": format!("9002026070100000000{i:04}"), "date": format!("2026-07-01T12:{:02}:{:02}.000Z", i / 60 % 60, i % 60),
           "type": kind, "description": if kind == "f" { "Wrong email or password." } else { "" },
           "connection": "Username-Password-Authentication", "client_id": "web", "client_name": "Web",
           "ip": "198.51.100.9", "hostname": "acme.eu.auth0.com", "user_id": "auth0|0001", "user_name": "u1@ex.com",
           "user_agent": "Chrome 126.0.0 / Mac OS X 14.5.0", "details": {},
           "location_info": {"country_code": "PT", "country_name": "Portugal", "city_name": "Lisbon",
                             "latitude": 38.72, "longitude": -9.14, "time_zone": "Europe/Lisbon", "continent_code": "EU"}})
}

#[tokio::test]
async fn users_page_by_offset_until_a_short_page() {
    let server = tenant(ALL_SCOPES).await;
    for (page, range) in [(0, 0..100), (1, 100..200), (2, 200..237)] {
        Mock::given(method("GET"))
            .and(path("/api/v2/users"))
            .and(query_param("page", page.to_string()))
            .and(query_param("per_page", "100"))
            .and(query_param("search_engine", "v3"))
            .and(header("authorization", "Bearer mgmt-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(range.map(user).collect())))
            .expect(1)
            .mount(&server)
            .await;
    }
    let b = adapter(&server, |_| {});
    let pages: Vec<_> = pages(None, |c| b.users_page(c)).try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    let users: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(users.len(), 237);
    assert_eq!(users[3].status, "blocked");
    assert_eq!(users[0].id, "auth0|0000");
    assert_eq!(users[0].username, "u0@ex.com");
    assert_eq!(users[236].display_name.as_deref(), Some("User 236"));
}

#[tokio::test]
async fn logs_page_oldest_first_then_by_checkpoint() {
    let server = tenant(ALL_SCOPES).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .and(query_param("sort", "date:1"))
        .and(query_param("page", "0"))
        .and(query_param_is_missing("from"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(Value::Array(
                (0..100)
                    .map(|i| log(i, if i % 10 == 0 { "f" } else { "s" }))
                    .collect(),
            )),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .and(query_param("from", "90020260701000000000099"))
        .and(query_param("take", "100"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([log(100, "scp"), log(101, "limit_wc")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C0001/logs"))
        .and(query_param("sort", "date:-1"))
        .and(query_param("page", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([log(7, "s"), log(6, "f")])))
        .expect(1)
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let recent = b.user_logs("auth0|0001", 50).await.unwrap();
    assert_eq!(recent.len(), 2);
    let place = recent[0].location_info.as_ref().unwrap();
    assert_eq!(place.city_name.as_deref(), Some("Lisbon"));
    assert_eq!(place.latitude, Some(38.72));
    let pages: Vec<_> = pages(None, |c| b.activity_page(c)).try_collect().await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1].cursor.as_deref(), Some("90020260701000000000101"));
    let all: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(all.len(), 102);
    assert_eq!(all[0].status, Some(401));
    assert_eq!(all[0].denial_reason.as_deref(), Some("Wrong email or password."));
    assert_eq!(all[1].status, Some(200));
    assert_eq!(all[1].ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(all[1].user_id.as_deref(), Some("auth0|0001"));
    assert!(all[100].sensitive, "a password change is sensitive");
    assert_eq!(all[101].status, Some(429));

    // An empty checkpoint page keeps the cursor and ends the pull.
    let server = tenant(ALL_SCOPES).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .and(query_param("from", "900"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let p = b.activity_page(Some("900".into())).await.unwrap();
    assert!(!p.more && p.items.is_empty());
    assert_eq!(p.cursor.as_deref(), Some("900"));
}

#[tokio::test]
async fn a_429_with_rate_headers_is_waited_out_then_succeeds() {
    let server = tenant(ALL_SCOPES).await;
    let reset = chrono::Utc::now().timestamp() + 1;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "50")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([user(1)])))
        .with_priority(2)
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let page = b.users_page(None).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let users_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v2/users")
        .count();
    assert_eq!(users_calls, 2, "one 429, one retry");
}

/// Records when each request arrived and answers with a fixed response.
#[derive(Clone)]
struct Recorder {
    arrivals: Arc<Mutex<Vec<(Instant, i64)>>>,
    response: ResponseTemplate,
}

impl Respond for Recorder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap()
            .push((Instant::now(), chrono::Utc::now().timestamp()));
        self.response.clone()
    }
}

#[tokio::test]
async fn an_exhausted_quota_holds_the_next_request_until_its_reset() {
    let server = tenant(ALL_SCOPES).await;
    let reset = chrono::Utc::now().timestamp() + 1;
    let rec = Recorder {
        arrivals: Arc::default(),
        response: ResponseTemplate::new(200)
            .insert_header("x-ratelimit-limit", "10")
            .insert_header("x-ratelimit-remaining", "1")
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .set_body_json(json!([user(1)])),
    };
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    b.users_page(None).await.unwrap();
    assert_eq!(b.gate().quota().remaining, Some(1));
    b.users_page(Some("1".into())).await.unwrap();
    let arrivals = rec.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2);
    assert!(
        arrivals[1].1 > reset,
        "the second request was sent at {} before the window reset at {reset}",
        arrivals[1].1
    );
}

#[tokio::test]
async fn bulk_revocation_keeps_at_most_the_configured_requests_in_flight() {
    let server = tenant(ALL_SCOPES).await;
    let delay = Duration::from_millis(300);
    let rec = Recorder {
        arrivals: Arc::default(),
        response: ResponseTemplate::new(204).set_delay(delay),
    };
    Mock::given(method("DELETE"))
        .and(wiremock::matchers::path_regex(
            r"^/api/v2/users/[^/]+/refresh-tokens$",
        ))
        .respond_with(rec.clone())
        .expect(6)
        .mount(&server)
        .await;
    let b = adapter(&server, |s| {
        s.sessions_api = false;
        s.concurrency = 2;
    });
    let ids: Vec<String> = (0..6).map(|i| format!("auth0|{i}")).collect();
    let results = b.revoke_many_user_sessions(&ids).await;
    assert_eq!(results.len(), 6);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(results[4].0, "auth0|4", "results come back in the order given");
    let mut t: Vec<Instant> = rec.arrivals.lock().unwrap().iter().map(|a| a.0).collect();
    t.sort();
    for i in 2..t.len() {
        // Request i can only start once request i-2 has been answered.
        assert!(
            t[i] - t[i - 2] >= delay - Duration::from_millis(50),
            "three requests in flight at once ({:?} apart)",
            t[i] - t[i - 2]
        );
    }
}

#[tokio::test]
async fn a_403_names_the_missing_scope_and_the_probe_lists_missing_and_extra_scopes() {
    let scopes = "read:users update:users read:logs read:sessions read:refresh_tokens \
        delete:refresh_tokens create:user_tickets delete:guardian_enrollments delete:users";
    let server = tenant(scopes).await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/auth0%7C1/sessions"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "statusCode": 403, "error": "Forbidden",
            "message": "Insufficient scope, expected any of: delete:sessions", "errorCode": "insufficient_scope"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C1/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sessions": [], "next": null})))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let err = b.revoke_user_sessions("auth0|1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("missing permission `delete:sessions`"),
        "{err}"
    );

    let probe = b.probe().await.unwrap();
    assert_eq!(probe.missing, vec!["delete:sessions"]);
    assert_eq!(probe.broader_than_needed, vec!["delete:users"]);
    let check = b.check().await.unwrap();
    assert!(check.reachable && check.authenticated);
    assert!(
        check
            .permissions
            .contains(&("delete:sessions".to_string(), false))
    );
    assert!(check.permissions.contains(&("read:logs".to_string(), true)));

    // A refused client secret is "credential rejected", not a permission problem.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "access_denied", "error_description": "Unauthorized"
        })))
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let check = b.check().await.unwrap();
    assert!(check.reachable && !check.authenticated);
    let err = b.users_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

#[tokio::test]
async fn malformed_bodies_are_clear_upstream_errors() {
    let server = tenant(ALL_SCOPES).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": "not a list"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/logs"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/sessions/sess_1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "sess_1", "created_at": "yesterday"})),
        )
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let err = b.users_page(None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(err.to_string().contains("auth0 GET /api/v2/users"), "{err}");
    let err = b.activity_page(None).await.unwrap_err();
    assert!(err.to_string().contains("maintenance"), "{err}");
    let err = b.session("sess_1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert!(
        err.to_string().contains("/sessions/{id}"),
        "ids stay out of messages: {err}"
    );
}

#[tokio::test]
async fn sessions_are_read_per_user_with_device_facts_and_a_gone_session_reads_as_ended() {
    let server = tenant(ALL_SCOPES).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([user(1), user(2), user(3)])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C0001/sessions"))
        .and(query_param_is_missing("from"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"sessions": [session("sess_a", "auth0|0001", "198.51.100.9")], "next": "c1"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C0001/sessions"))
        .and(query_param("from", "c1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sessions": [session("sess_b", "auth0|0001", "192.0.2.1")]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C0002/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sessions": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C0003/sessions"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"statusCode": 404, "message": "User not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/sessions/sess_gone"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"statusCode": 404, "message": "Session not found"})),
        )
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});
    let page = b.sessions_page(None).await.unwrap();
    assert!(!page.more);
    let ids: Vec<_> = page.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sess_a", "sess_b"]);
    let a = &page.items[0];
    assert_eq!(a.ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(a.user_agent.as_deref(), Some("curl/8.0"));
    assert!(a.active);
    assert_eq!(
        a.expires_at.unwrap().to_rfc3339(),
        "2099-07-04T10:00:00+00:00",
        "idle expiry comes first"
    );
    let gone = b.session("sess_gone").await.unwrap();
    assert!(!gone.session.active);
}

#[tokio::test]
async fn each_containment_call_is_the_documented_method_path_and_body() {
    let server = tenant(ALL_SCOPES).await;
    let uid = "/api/v2/users/auth0%7C123";
    let ok = |status| ResponseTemplate::new(status);
    Mock::given(method("POST"))
        .and(path("/api/v2/sessions/sess_1/revoke"))
        .and(header("authorization", "Bearer mgmt-token"))
        .respond_with(ok(202))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/sessions/sess_old/revoke"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Session not found"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{uid}/sessions")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sessions": [
            session("sess_x", "auth0|123", "198.51.100.9"), session("sess_y", "auth0|123", "192.0.2.1")]})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{uid}/sessions")))
        .respond_with(ok(202))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{uid}/refresh-tokens")))
        .respond_with(ok(204))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{uid}/authenticators")))
        .respond_with(ok(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "{uid}/multifactor/actions/invalidate-remember-browser"
        )))
        .respond_with(ok(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(uid.to_string()))
        .and(body_json(json!({"blocked": true})))
        .respond_with(ok(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets/password-change"))
        .and(body_json(json!({"user_id": "auth0|123", "ttl_sec": 86400,
                              "mark_email_as_verified": false, "includeEmailInRedirect": false})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"ticket": "https://acme/lo/reset?ticket=abc#"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/refresh-tokens/revoke"))
        .respond_with(ok(204))
        .expect(2)
        .mount(&server)
        .await;
    let b = adapter(&server, |_| {});

    let before = chrono::Utc::now();
    let r = b.revoke_session("sess_1").await.unwrap();
    assert!(!r.already_done);
    assert_eq!(r.sessions_revoked, ["sess_1"]);
    let exposure = r.backend_exposure_until.unwrap() - before;
    assert!(
        exposure >= chrono::Duration::hours(24),
        "access tokens outlive the session: {exposure}"
    );
    assert!(b.revoke_session("sess_old").await.unwrap().already_done);

    let r = b.revoke_user_sessions("auth0|123").await.unwrap();
    assert_eq!(r.sessions_revoked, ["sess_x", "sess_y"]);

    let (r, ticket) = b.force_reset("auth0|123", true).await.unwrap();
    assert_eq!(r.sessions_revoked.len(), 2);
    let ticket = ticket.expect("the reset hands over a password-change link");
    assert_eq!(ticket.url_or_code.expose(), "https://acme/lo/reset?ticket=abc#");
    assert!(!format!("{ticket:?}").contains("ticket=abc"), "redacted in Debug");

    let ids: Vec<String> = (0..150).map(|i| format!("rt_{i}")).collect();
    b.revoke_refresh_tokens(&ids).await.unwrap();
    let bodies: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v2/refresh-tokens/revoke")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["ids"].as_array().unwrap().len(), 100);
    assert_eq!(bodies[1]["ids"].as_array().unwrap().len(), 50);
    assert_eq!(bodies[1]["ids"][0], "rt_100");

    let err = b.revoke_token("jti-1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err.to_string().contains("until exp"), "{err}");
    assert_eq!(b.token_revoked("jti-1").await.unwrap(), None);

    let plan = b.contain_playbook("auth0|123");
    let calls: Vec<_> = plan.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert_eq!(
        calls,
        [
            "DELETE /api/v2/users/auth0%7C123/authenticators",
            "POST /api/v2/users/auth0%7C123/multifactor/actions/invalidate-remember-browser",
            "PATCH /api/v2/users/auth0%7C123",
            "POST /api/v2/tickets/password-change",
            "DELETE /api/v2/users/auth0%7C123/sessions",
            "DELETE /api/v2/users/auth0%7C123/refresh-tokens",
        ]
    );
    assert!(plan.iter().all(|c| !c.permission.is_empty()));
}

#[tokio::test]
async fn user_state_reads_enrolments_and_sessions_or_refresh_tokens_without_the_sessions_api() {
    let server = tenant(ALL_SCOPES).await;
    let uid = "/api/v2/users/auth0%7C9";
    Mock::given(method("GET"))
        .and(path(uid))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"user_id": "auth0|9", "email": "n@ex.com"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{uid}/enrollments")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": "dev_1", "status": "pending", "type": "authenticator"}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{uid}/refresh-tokens")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tokens": [
            {"id": "rt_1", "user_id": "auth0|9", "session_id": "sess_9", "client_id": "web"},
            {"id": "rt_2", "user_id": "auth0|9", "session_id": "sess_9", "client_id": "app"}]})))
        .mount(&server)
        .await;
    let b = adapter(&server, |s| s.sessions_api = false);
    let state = b.user_state("auth0|9").await.unwrap();
    assert_eq!(state.user.username, "n@ex.com");
    assert_eq!(state.mfa_required, Some(true), "no confirmed enrolment left");
    assert_eq!(state.password_change_required, None, "Auth0 has no such flag");
    assert_eq!(state.active_sessions, ["sess_9"]);
    assert!(!b.capabilities().list_sessions_per_user);
    assert!(b.user_sessions("auth0|9").await.is_err());
    assert!(b.sessions_page(None).await.unwrap().items.is_empty());
}
