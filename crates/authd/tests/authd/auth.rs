//! Login (with and without TOTP), refresh rotation and reuse detection, logout.

use reqwest::Method;
use serde_json::json;

use crate::common::{Authd, PASSWORD, jwt_parts, s, totp};

#[tokio::test]
async fn login_without_totp_issues_an_eddsa_access_token_and_a_refresh_token() {
    let a = Authd::start().await;
    let uid = a.add_user("alice").await;
    let t = a.login("alice").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 600);
    assert!(s(&t["refresh_token"]).starts_with("rt_"));
    let access = s(&t["access_token"]);
    let (h, c) = jwt_parts(access);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(c["iss"], a.base.as_str());
    assert_eq!(c["sub"], uid.to_string());
    assert_eq!(c["aud"], "gatehouse-api");
    assert_eq!(c["sid"], t["session_id"]);
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert_eq!(c["nbf"], c["iat"]);
    assert!(c["jti"].is_string());
    assert!(s(&c["scope"]).contains("projects"));

    // The kid is published, and discovery points at it.
    let jwks = a
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == h["kid"] && k["crv"] == "Ed25519")
    );
    let disc = a
        .call(Method::GET, "/.well-known/openid-configuration", None, None)
        .await
        .body;
    assert_eq!(disc["issuer"], a.base.as_str());
    assert_eq!(disc["jwks_uri"], format!("{}/.well-known/jwks.json", a.base));

    let me = a.get("/api/me", access).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["mfa_enrolled"], false);
    assert!(me.body.get("password_hash").is_none());
    let projects = a.get("/api/projects", access).await;
    assert_eq!(projects.body["items"].as_array().unwrap().len(), 2);
    let pid = projects.body["items"][0]["id"].as_i64().unwrap();
    assert_eq!(a.get(&format!("/api/projects/{pid}"), access).await.status, 200);
    assert_eq!(
        a.get("/api/invoices", access).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Wrong password and unknown user look the same.
    let bad = a
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": "nope nope nope"}),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "invalid_credentials");
    let unknown = a
        .post(
            "/auth/login",
            None,
            json!({"username": "mallory", "password": PASSWORD}),
        )
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body["error"], "invalid_credentials");
    a.stop().await;
}

#[tokio::test]
async fn totp_enrollment_then_login_requires_a_fresh_code_or_a_recovery_code() {
    let a = Authd::start().await;
    a.add_user("bob").await;
    let t = a.login("bob").await;
    let access = s(&t["access_token"]);
    let enr = a.post("/api/me/mfa/enroll", Some(access), json!({})).await;
    assert_eq!(enr.status, 200, "{}", enr.body);
    let secret = s(&enr.body["secret"]).to_owned();
    assert!(s(&enr.body["otpauth_url"]).starts_with("otpauth://totp/Gatehouse:bob?"));
    let wrong = a
        .post("/api/me/mfa/confirm", Some(access), json!({"code": "000000"}))
        .await;
    assert_eq!(wrong.body["error"], "invalid_mfa_code");
    let conf = a
        .post(
            "/api/me/mfa/confirm",
            Some(access),
            json!({"code": totp(&secret, 0)}),
        )
        .await;
    assert_eq!(conf.status, 200, "{}", conf.body);
    let codes: Vec<String> = conf.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(c).to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    let no_code = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(no_code.status, 401);
    assert_eq!(no_code.body["error"], "mfa_required");
    let bad = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD, "totp_code": "123456"}),
        )
        .await;
    // (A 1-in-a-million chance that 123456 is the current code is accepted here.)
    assert_eq!(bad.body["error"], "invalid_mfa_code");
    // The enrollment consumed the current step: the next step's code is fresh.
    let code = totp(&secret, 1);
    let ok = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let (_, claims) = jwt_parts(s(&ok.body["access_token"]));
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let replay = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD, "totp_code": code}),
        )
        .await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.body["error"], "invalid_mfa_code");

    let rc = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD, "recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(rc.status, 200);
    let again = a
        .post(
            "/auth/login",
            None,
            json!({"username": "bob", "password": PASSWORD, "recovery_code": codes[0]}),
        )
        .await;
    assert_eq!(again.body["error"], "invalid_mfa_code");

    // Recovery codes are stored hashed, never in clear.
    let stored: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes")
        .fetch_all(&a.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|h| h.len() == 64 && !codes.contains(h)));
    a.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_session() {
    let a = Authd::start().await;
    a.add_user("carol").await;
    let t1 = a.login("carol").await;
    let r1 = s(&t1["refresh_token"]).to_owned();
    let t2 = a.post("/auth/refresh", None, json!({"refresh_token": r1})).await;
    assert_eq!(t2.status, 200, "{}", t2.body);
    assert_eq!(t2.body["session_id"], t1["session_id"]);
    let r2 = s(&t2.body["refresh_token"]).to_owned();
    assert_ne!(r1, r2);
    let a2 = s(&t2.body["access_token"]).to_owned();
    assert_eq!(a.get("/api/me", &a2).await.status, 200);

    // Only hashes are stored.
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE token_hash IN (?, ?)")
        .bind(&r1)
        .bind(&r2)
        .fetch_one(&a.state.db)
        .await
        .unwrap();
    assert_eq!(raw, 0);

    // r1 again: the thief (or the user) replays a rotated token -> the whole session dies.
    let reuse = a.post("/auth/refresh", None, json!({"refresh_token": r1})).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.body["error"], "refresh_token_reused");
    let denied = a.get("/api/me", &a2).await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.body["error"], "session_revoked");
    let r2_after = a.post("/auth/refresh", None, json!({"refresh_token": r2})).await;
    assert_eq!(r2_after.status, 401);
    assert_eq!(r2_after.body["error"], "session_revoked");
    let unknown = a
        .post("/auth/refresh", None, json!({"refresh_token": "rt_nope"}))
        .await;
    assert_eq!(unknown.body["error"], "invalid_refresh_token");
    a.stop().await;
}

#[tokio::test]
async fn logout_by_refresh_token_or_bearer_ends_the_session() {
    let a = Authd::start().await;
    a.add_user("dan").await;
    let t = a.login("dan").await;
    let out = a
        .post("/auth/logout", None, json!({"refresh_token": t["refresh_token"]}))
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["revoked"], true);
    assert_eq!(
        a.get("/api/me", s(&t["access_token"])).await.body["error"],
        "session_revoked"
    );

    let t = a.login("dan").await;
    let out = a
        .call(Method::POST, "/auth/logout", Some(s(&t["access_token"])), None)
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["session_id"], t["session_id"]);
    assert_eq!(a.get("/api/me", s(&t["access_token"])).await.status, 401);
    a.stop().await;
}
