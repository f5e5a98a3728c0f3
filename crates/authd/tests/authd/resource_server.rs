//! The demo's second resource server: tokens verified by gatehouse-guard over authd's JWKS,
//! revocations learned from the feed, decisions visible through the admin activity API (what
//! the console syncs) as `/rs/...` rows.

use std::time::Duration;

use gatehouse_authd::demo::resource_server;

use crate::common::Authd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_is_refused_by_the_second_server_and_the_console_sees_it() {
    let a = Authd::start().await;
    a.add_user("victim").await;
    let rs = resource_server::start(a.state.clone(), &a.base).await.unwrap();
    assert!(rs.guard.ready(Duration::from_secs(10)).await);
    let login = a.login("victim").await;
    let token = login["access_token"].as_str().unwrap();
    let sid = login["session_id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/rs/reports", rs.base);
    let call = async |token: &str| {
        let r = http
            .get(&url)
            .bearer_auth(token)
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(call(token).await.0, 200);

    let admin = a.admin_token().await;
    let r = a
        .post(
            &format!("/admin/v1/sessions/{sid}/revoke"),
            Some(&admin),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut refused = None;
    for _ in 0..400 {
        let (status, body) = call(token).await;
        if status == 401 {
            refused = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(refused.unwrap()["error"], "session_revoked");

    a.state.recorder.flush().await;
    let rows = a.activity(&admin, sid).await;
    let rs_rows: Vec<_> = rows
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/rs/")))
        .collect();
    assert!(rs_rows.len() >= 2, "{rows:?}");
    assert_eq!(rs_rows[0]["status"], 200);
    assert_eq!(rs_rows[0]["client_ip"], "203.0.113.7");
    let last = rs_rows.last().unwrap();
    assert_eq!(last["status"], 401);
    assert_eq!(last["denial_reason"], "session_revoked");
    drop(rs);
    a.stop().await;
}
