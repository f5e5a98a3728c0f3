//! The admin API: separation from user tokens, rate limiting, listings, audit, keys, OpenAPI.

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN_ID, ADMIN_SECRET, Authd, s};

#[tokio::test]
async fn user_tokens_are_refused_on_admin_and_admin_tokens_on_api() {
    let a = Authd::start().await;
    a.add_user("nina").await;
    let user = a.login("nina").await;
    let admin = a.admin_token().await;

    let r = a.get("/admin/v1/users", s(&user["access_token"])).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "bad_audience");
    let r = a.get("/api/me", &admin).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "bad_audience");
    assert_eq!(a.get("/admin/v1/users", &admin).await.status, 200);

    let none = a.call(Method::GET, "/admin/v1/users", None, None).await;
    assert_eq!(none.body["error"], "missing_token");
    let wrong = a
        .post(
            "/admin/v1/token",
            None,
            json!({"client_id": ADMIN_ID, "client_secret": "wrong"}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"], "invalid_client");

    // Form-encoded client credentials work too.
    let form = a
        .http
        .post(format!("{}/admin/v1/token", a.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ADMIN_ID),
            ("client_secret", ADMIN_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    a.stop().await;
}

#[tokio::test]
async fn admin_rate_limit_answers_429_with_retry_after_and_ratelimit_headers() {
    let a = Authd::start_with(|c| {
        c.admin_rate_limit.limit = 3;
        c.admin_rate_limit.window = std::time::Duration::from_secs(30);
    })
    .await;
    let admin = a.admin_token().await; // 1 of 3 for this client
    let r1 = a.get("/admin/v1/users", &admin).await;
    assert_eq!(r1.status, 200);
    assert_eq!(r1.headers["ratelimit-limit"], "3");
    assert_eq!(r1.headers["ratelimit-remaining"], "1");
    let reset: u64 = r1.headers["ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&reset));
    assert_eq!(a.get("/admin/v1/users", &admin).await.status, 200);
    let limited = a.get("/admin/v1/users", &admin).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error"], "rate_limited");
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry));
    a.stop().await;
}

#[tokio::test]
async fn admin_lists_users_sessions_activity_and_audit() {
    let a = Authd::start().await;
    let uid = a.add_user("oscar").await;
    a.add_user("olga").await;
    a.add_user("peggy").await;
    let admin = a.admin_token().await;

    let users = a.get("/admin/v1/users?q=o&per_page=1&page=2", &admin).await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(users.body["total"], 2);
    assert_eq!(users.body["items"][0]["username"], "olga");
    let one = a.get(&format!("/admin/v1/users/{uid}"), &admin).await;
    assert_eq!(one.body["email"], "oscar@example.test");
    assert_eq!(a.get("/admin/v1/users/9999", &admin).await.status, 404);

    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(s(&a.login("oscar").await["session_id"]).to_owned());
    }
    a.login("peggy").await;
    let page1 = a
        .get(&format!("/admin/v1/sessions?user={uid}&limit=2"), &admin)
        .await;
    let items = page1.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], sids[2].as_str(), "newest first");
    assert_eq!(items[0]["active"], true);
    let cursor = page1.body["next_cursor"].as_i64().unwrap();
    let page2 = a
        .get(
            &format!("/admin/v1/sessions?user={uid}&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(page2.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2.body["items"][0]["id"], sids[0].as_str());
    assert!(page2.body["next_cursor"].is_null());
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", sids[1]),
        Some(&admin),
        json!({}),
    )
    .await;
    let active = a
        .get(&format!("/admin/v1/sessions?user={uid}&active=true"), &admin)
        .await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 2);
    let ended = a
        .get(&format!("/admin/v1/sessions?user={uid}&active=false"), &admin)
        .await;
    assert_eq!(ended.body["items"][0]["revoked_reason"], "admin");
    let future = a.get("/admin/v1/sessions?since=99999999999", &admin).await;
    assert_eq!(future.body["items"].as_array().unwrap().len(), 0);

    let per_min = a
        .get(
            &format!("/admin/v1/sessions/{}/activity/per-minute", sids[1]),
            &admin,
        )
        .await;
    assert_eq!(per_min.status, 200);

    let audit = a.get("/admin/v1/audit", &admin).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert_eq!(actions, ["revoke_session", "token"], "newest first");
    assert_eq!(audit.body["items"][0]["client_id"], ADMIN_ID);
    assert_eq!(audit.body["items"][0]["target"], format!("session:{}", sids[1]));
    assert_eq!(audit.body["items"][0]["client_ip"], "127.0.0.1");
    a.stop().await;
}

#[tokio::test]
async fn key_rotation_keeps_the_old_key_published_and_old_tokens_valid() {
    let a = Authd::start().await;
    a.add_user("quinn").await;
    let admin = a.admin_token().await;
    let before = a.login("quinn").await;
    let (h_old, _) = crate::common::jwt_parts(s(&before["access_token"]));
    let rot = a.post("/admin/v1/keys/rotate", Some(&admin), json!({})).await;
    assert_eq!(rot.status, 200, "{}", rot.body);
    assert_eq!(rot.body["retired_kid"], h_old["kid"]);
    let published = rot.body["published_kids"].as_array().unwrap();
    assert!(published.contains(&h_old["kid"]));
    assert!(published.contains(&rot.body["new_kid"]));
    let after = a.login("quinn").await;
    let (h_new, _) = crate::common::jwt_parts(s(&after["access_token"]));
    assert_eq!(h_new["kid"], rot.body["new_kid"]);
    assert_eq!(a.get("/api/me", s(&before["access_token"])).await.status, 200);
    assert_eq!(a.get("/api/me", s(&after["access_token"])).await.status, 200);
    let jwks = a
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // Private material is never part of the JWKS.
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none())
    );
    a.stop().await;
}

#[tokio::test]
async fn served_openapi_matches_the_committed_document() {
    let committed = include_str!("../../openapi.json");
    let generated = gatehouse_authd::http::admin::openapi_document();
    if std::env::var_os("GATEHOUSE_UPDATE_OPENAPI").is_some() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), &generated).unwrap();
    } else {
        assert!(
            committed == generated,
            "crates/authd/openapi.json is stale: rerun with GATEHOUSE_UPDATE_OPENAPI=1"
        );
    }
    let a = Authd::start().await;
    let served = a.call(Method::GET, "/admin/v1/openapi.json", None, None).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body,
        serde_json::from_str::<serde_json::Value>(&generated).unwrap()
    );
    assert!(served.body["paths"]["/admin/v1/sessions/{sid}/revoke"]["post"].is_object());
    a.stop().await;
}

#[tokio::test]
async fn token_status_and_tenant_activity_reflect_revocation_and_traffic() {
    let a = Authd::start().await;
    a.add_user("tess").await;
    let admin = a.admin_token().await;
    let t = a.login("tess").await;
    let access = s(&t["access_token"]);
    let (_, claims) = crate::common::jwt_parts(access);
    let jti = s(&claims["jti"]);
    let live = a.get(&format!("/admin/v1/tokens/{jti}"), &admin).await;
    assert_eq!(live.status, 200, "{}", live.body);
    assert_eq!(live.body["revoked"], false);
    assert_eq!(live.body["session_id"], t["session_id"]);
    a.get("/api/me", access).await;
    a.post(
        &format!("/admin/v1/sessions/{}/revoke", s(&t["session_id"])),
        Some(&admin),
        json!({}),
    )
    .await;
    a.get("/api/me", access).await;
    let dead = a.get(&format!("/admin/v1/tokens/{jti}"), &admin).await;
    assert_eq!(dead.body["revoked"], true);
    assert_eq!(dead.body["reason"], "session_revoked");
    assert_eq!(a.get("/admin/v1/tokens/at_unknown", &admin).await.status, 404);

    let first = a.get("/admin/v1/activity?limit=1", &admin).await;
    assert_eq!(first.body["items"][0]["status"], 200);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_i64().unwrap();
    let rest = a.get(&format!("/admin/v1/activity?after={cursor}"), &admin).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["items"][0]["denial_reason"], "session_revoked");
    assert_eq!(rest.body["has_more"], false);

    // The rows format carries the same page: the column names once, then one array per row.
    let objects = a.get("/admin/v1/activity?limit=10", &admin).await;
    let rows = a.get("/admin/v1/activity?limit=10&format=rows", &admin).await;
    assert_eq!(rows.status, 200, "{}", rows.body);
    let columns: Vec<String> = serde_json::from_value(rows.body["columns"].clone()).unwrap();
    let rebuilt: Vec<serde_json::Value> = rows.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let values = r.as_array().unwrap().iter().cloned();
            serde_json::Value::Object(columns.iter().cloned().zip(values).collect())
        })
        .collect();
    assert_eq!(rebuilt.len(), 2);
    assert_eq!(serde_json::Value::Array(rebuilt), objects.body["items"]);
    assert_eq!(rows.body["next_cursor"], objects.body["next_cursor"]);
    assert_eq!(rows.body["has_more"], false);
    assert!(rows.body.get("items").is_none());
    let bad = a.get("/admin/v1/activity?format=csv", &admin).await;
    assert_eq!(bad.status, 400);
    a.stop().await;
}
