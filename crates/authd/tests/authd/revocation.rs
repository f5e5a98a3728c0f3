//! Each kind of revocation takes effect on the very next request, reports what it covered,
//! survives a restart; force-reset and suspension end to end.

use serde_json::json;

use crate::common::{Authd, PASSWORD, s, totp};

#[tokio::test]
async fn revoking_a_session_refuses_its_tokens_on_the_next_request_and_reports_coverage() {
    let a = Authd::start().await;
    a.add_user("erin").await;
    let admin = a.admin_token().await;
    let t = a.login("erin").await;
    let sid = s(&t["session_id"]);
    let access = s(&t["access_token"]);
    assert_eq!(a.get("/api/me", access).await.status, 200);
    let other = a.login("erin").await;

    let r = a
        .post(
            &format!("/admin/v1/sessions/{sid}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "session");
    assert_eq!(r.body["sessions_revoked"], json!([sid]));
    assert_eq!(r.body["refresh_tokens_revoked"], 1);
    assert_eq!(r.body["access_tokens"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["residual_exposure"]["still_valid_tokens"], 0);
    assert_eq!(r.body["feed"][0]["kind"], "sid");

    let denied = a.get("/api/me", access).await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.body["error"], "session_revoked");
    assert_eq!(denied.headers["www-authenticate"], "Bearer");
    let refresh = a
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh.body["error"], "session_revoked");
    // The user's other session is untouched.
    assert_eq!(a.get("/api/me", s(&other["access_token"])).await.status, 200);

    let again = a
        .post(
            &format!("/admin/v1/sessions/{sid}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.body["already_revoked"], true);
    let missing = a
        .post("/admin/v1/sessions/s_nope/revoke", Some(&admin), json!({}))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"], "not_found");
    a.stop().await;
}

#[tokio::test]
async fn revoking_all_user_sessions_refuses_every_earlier_token_but_not_a_new_login() {
    let a = Authd::start().await;
    let uid = a.add_user("frank").await;
    let victim = a.add_user("grace").await;
    let admin = a.admin_token().await;
    let t1 = a.login("frank").await;
    let t2 = a.login("frank").await;
    let g = a.login("grace").await;
    let r = a
        .post(
            &format!("/admin/v1/users/{uid}/revoke-sessions"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["sessions_revoked"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["access_tokens"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = r.body["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["kind"]))
        .collect();
    assert_eq!(kinds, ["sid", "sid", "user"]);
    assert!(r.body["feed"][2]["not_before"].is_i64());

    for t in [&t1, &t2] {
        let d = a.get("/api/me", s(&t["access_token"])).await;
        assert_eq!(d.status, 401);
        assert!(
            ["user_revoked", "session_revoked"].contains(&s(&d.body["error"])),
            "{}",
            d.body
        );
    }
    assert_eq!(
        a.get("/api/me", s(&g["access_token"])).await.status,
        200,
        "other users unaffected ({victim})"
    );
    let fresh = a.login("frank").await;
    assert_eq!(a.get("/api/me", s(&fresh["access_token"])).await.status, 200);
    a.stop().await;
}

#[tokio::test]
async fn revoking_one_token_by_jti_leaves_the_rest_of_the_session_working() {
    let a = Authd::start().await;
    a.add_user("heidi").await;
    let admin = a.admin_token().await;
    let t = a.login("heidi").await;
    let old = s(&t["access_token"]).to_owned();
    let next = a
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await
        .body;
    let (_, claims) = crate::common::jwt_parts(&old);
    let jti = s(&claims["jti"]);
    let r = a
        .post("/admin/v1/tokens/revoke", Some(&admin), json!({"jti": jti}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "token");
    assert_eq!(r.body["access_tokens"][0]["jti"], jti);
    assert_eq!(r.body["feed"][0]["kind"], "jti");
    let d = a.get("/api/me", &old).await;
    assert_eq!(d.body["error"], "token_revoked");
    assert_eq!(a.get("/api/me", s(&next["access_token"])).await.status, 200);

    // Session detail lists both tokens and marks the revoked one.
    let detail = a
        .get(&format!("/admin/v1/sessions/{}", s(&t["session_id"])), &admin)
        .await;
    let tokens = detail.body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["jti"], jti);
    assert_eq!(tokens[0]["revoked"], true);
    assert_eq!(tokens[1]["revoked"], false);
    let unknown = a
        .post(
            "/admin/v1/tokens/revoke",
            Some(&admin),
            json!({"jti": "at_unknown"}),
        )
        .await;
    assert_eq!(unknown.status, 404);
    a.stop().await;
}

#[tokio::test]
async fn revocations_survive_a_restart_on_the_same_database() {
    let a = Authd::start().await;
    a.add_user("ivan").await;
    let admin = a.admin_token().await;
    let t = a.login("ivan").await;
    let keep = a.login("ivan").await;
    let sid = s(&t["session_id"]).to_owned();
    a.post(
        &format!("/admin/v1/sessions/{sid}/revoke"),
        Some(&admin),
        json!({}),
    )
    .await;
    let path = a.db_path.clone();
    let issuer = a.base.clone();
    let dir = a.stop().await;

    // A new port, so the issuer is pinned as a deployment would with --issuer.
    let b = Authd::start_at(&path, |c| c.issuer = issuer).await;
    let d = b.get("/api/me", s(&t["access_token"])).await;
    assert_eq!(d.status, 401);
    assert_eq!(d.body["error"], "session_revoked");
    // Tokens from before the restart still verify (the signing key is persisted).
    assert_eq!(b.get("/api/me", s(&keep["access_token"])).await.status, 200);
    let feed = b
        .call(reqwest::Method::GET, "/revocations?since=0", None, None)
        .await;
    assert_eq!(feed.body["entries"][0]["value"], sid.as_str());
    b.stop().await;
    drop(dir);
}

#[tokio::test]
async fn forced_password_reset_revokes_then_requires_new_password_and_totp_enrollment() {
    let a = Authd::start().await;
    let uid = a.add_user("judy").await;
    let admin = a.admin_token().await;
    let t = a.login("judy").await;
    let r = a
        .post(
            &format!("/admin/v1/users/{uid}/force-password-reset"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["password_change_required"], true);
    assert_eq!(r.body["user"]["mfa_required"], true);
    assert_eq!(
        r.body["revocation"]["sessions_revoked"].as_array().unwrap().len(),
        1
    );
    assert_eq!(a.get("/api/me", s(&t["access_token"])).await.status, 401);
    let rf = a
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(rf.status, 401);

    // Old password still identifies the user but only yields a reset token.
    let l = a
        .post(
            "/auth/login",
            None,
            json!({"username": "judy", "password": PASSWORD}),
        )
        .await;
    assert_eq!(l.status, 403);
    assert_eq!(l.body["error"], "password_change_required");
    let reset = s(&l.body["reset_token"]).to_owned();
    let weak = a
        .post(
            "/auth/password",
            None,
            json!({"reset_token": reset, "new_password": "short"}),
        )
        .await;
    assert_eq!(weak.body["error"], "weak_password");
    let same = a
        .post(
            "/auth/password",
            None,
            json!({"reset_token": reset, "new_password": PASSWORD}),
        )
        .await;
    assert_eq!(same.body["error"], "password_reused");
    // A refused new password does not spend the one-use reset token.
    let new_pw = "a brand new passphrase 42";
    let p = a
        .post(
            "/auth/password",
            None,
            json!({"reset_token": reset, "new_password": new_pw}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["status"], "mfa_enrollment_required");
    let reuse = a
        .post(
            "/auth/password",
            None,
            json!({"reset_token": reset, "new_password": "another passphrase 99"}),
        )
        .await;
    assert_eq!(reuse.body["error"], "invalid_reset_token");

    // MFA is required and not enrolled: login refuses until enrollment.
    let l = a
        .post(
            "/auth/login",
            None,
            json!({"username": "judy", "password": new_pw}),
        )
        .await;
    assert_eq!(l.status, 403);
    assert_eq!(l.body["error"], "mfa_enrollment_required");
    let enr_token = s(&p.body["enrollment_token"]).to_owned();
    let e = a
        .post("/auth/mfa/enroll", None, json!({"enrollment_token": enr_token}))
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    let secret = s(&e.body["secret"]).to_owned();
    let c = a
        .post(
            "/auth/mfa/confirm",
            None,
            json!({"enrollment_token": enr_token, "code": totp(&secret, 0)}),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["recovery_codes"].as_array().unwrap().len(), 10);

    let l = a
        .post(
            "/auth/login",
            None,
            json!({"username": "judy", "password": new_pw}),
        )
        .await;
    assert_eq!(l.body["error"], "mfa_required");
    let ok = a
        .post(
            "/auth/login",
            None,
            json!({"username": "judy", "password": new_pw, "totp_code": totp(&secret, 1)}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        a.get("/api/me", s(&ok.body["access_token"])).await.body["password_change_required"],
        false
    );
    a.stop().await;
}

#[tokio::test]
async fn suspension_refuses_tokens_refresh_and_login_until_lifted() {
    let a = Authd::start().await;
    let uid = a.add_user("mallory").await;
    let admin = a.admin_token().await;
    let t = a.login("mallory").await;
    let r = a
        .post(&format!("/admin/v1/users/{uid}/suspend"), Some(&admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["status"], "suspended");
    let d = a.get("/api/me", s(&t["access_token"])).await;
    assert_eq!(d.body["error"], "user_suspended");
    let l = a
        .post(
            "/auth/login",
            None,
            json!({"username": "mallory", "password": PASSWORD}),
        )
        .await;
    assert_eq!(l.body["error"], "account_suspended");
    let u = a
        .post(
            &format!("/admin/v1/users/{uid}/unsuspend"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(u.body["status"], "active");
    // The suspension also revoked earlier tokens; only a new login works.
    assert_eq!(a.get("/api/me", s(&t["access_token"])).await.status, 401);
    let fresh = a.login("mallory").await;
    assert_eq!(a.get("/api/me", s(&fresh["access_token"])).await.status, 200);
    a.stop().await;
}

#[tokio::test]
async fn concurrent_traffic_refreshes_and_revocations_never_fail_with_500() {
    let a = std::sync::Arc::new(Authd::start().await);
    let uid = a.add_user("zoe").await;
    let admin = a.admin_token().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let t = a.login("zoe").await;
            let mut access = s(&t["access_token"]).to_owned();
            let mut refresh = t["refresh_token"].clone();
            let mut statuses = Vec::new();
            for i in 0..25 {
                statuses.push(a.get("/api/projects", &access).await.status.as_u16());
                if i % 5 == 4 {
                    let r = a
                        .post("/auth/refresh", None, json!({"refresh_token": refresh}))
                        .await;
                    statuses.push(r.status.as_u16());
                    if r.status == 200 {
                        access = s(&r.body["access_token"]).to_owned();
                        refresh = r.body["refresh_token"].clone();
                    }
                }
            }
            statuses
        }));
    }
    let revoker = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..10 {
                let page = a
                    .get(
                        &format!("/admin/v1/sessions?user={uid}&active=true&limit=1"),
                        &admin,
                    )
                    .await;
                if let Some(sid) = page.body["items"][0]["id"].as_str() {
                    let r = a
                        .post(
                            &format!("/admin/v1/sessions/{sid}/revoke"),
                            Some(&admin),
                            json!({}),
                        )
                        .await;
                    statuses.push(r.status.as_u16());
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            statuses
        })
    };
    let mut all = revoker.await.unwrap();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert!(
        all.iter().all(|s| [200, 401].contains(s)),
        "unexpected statuses: {all:?}"
    );
    assert!(all.contains(&401), "some revocation must have hit live traffic");
    std::sync::Arc::into_inner(a).unwrap().stop().await;
}
