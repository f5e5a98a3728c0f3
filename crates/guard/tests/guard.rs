#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The guard against a real authd over loopback HTTP: revocations pushed over the feed are
//! enforced on the next request, a cut feed is caught up after reconnecting, the
//! fail-closed/fail-open rule, and JWKS refresh on an unknown kid.

mod harness;

use std::time::Duration;

use gatehouse_guard::{FailMode, Guard, Reason};
use gatehouse_jwt::{Limits, Signer, decode_unverified};
use harness::{Authd, Proxy, addr_of, eventually, guard_config, guarded_server};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn jti_of(token: &str) -> String {
    decode_unverified(token, &Limits::default()).unwrap().claims["jti"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn fresh_authd() -> (tempfile::TempDir, Authd) {
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start_at(&dir.path().join("authd.db"), "127.0.0.1:0".parse().unwrap()).await;
    (dir, authd)
}

/// Waits until the guard has applied everything authd has written to its feed.
async fn caught_up(guard: &Guard, authd: &Authd) {
    let head = authd.state.revocations.head();
    assert!(
        eventually(WAIT, async || guard.metrics().feed.cursor >= head).await,
        "guard never reached feed cursor {head}: {:?}",
        guard.metrics()
    );
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_jti_session_and_user_are_refused_on_the_next_request_after_the_event() {
    let (_dir, authd) = fresh_authd().await;
    for u in ["tok", "ses", "usr"] {
        authd.add_user(u).await;
    }
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (rs, _task) = guarded_server(guard.clone()).await;
    let url = format!("{rs}/rs/whoami");
    let http = reqwest::Client::new();
    let admin = authd.admin_token().await;

    let (tok, _) = authd.login("tok").await;
    let (ses, ses_sid) = authd.login("ses").await;
    let (usr, _) = authd.login("usr").await;
    for t in [&tok, &ses, &usr] {
        assert_eq!(get(&http, &url, t).await.0, 200);
    }

    authd.revoke_token(&admin, &jti_of(&tok)).await;
    caught_up(&guard, &authd).await;
    assert_eq!(
        get(&http, &url, &tok).await,
        (
            401,
            json!({"error": "token_revoked", "message": "the access token was revoked"})
        )
    );
    assert_eq!(get(&http, &url, &ses).await.0, 200, "other tokens are untouched");

    authd.revoke_session(&admin, &ses_sid).await;
    caught_up(&guard, &authd).await;
    assert_eq!(get(&http, &url, &ses).await.1["error"], "session_revoked");

    // A user-wide revocation is a not-before: issued strictly before it, refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let usr_id: i64 = decode_unverified(&usr, &Limits::default()).unwrap().claims["sub"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    authd.revoke_user(&admin, usr_id).await;
    caught_up(&guard, &authd).await;
    assert_eq!(get(&http, &url, &usr).await.1["error"], "user_revoked");
    let (again, _) = authd.login("usr").await;
    assert_eq!(
        get(&http, &url, &again).await.0,
        200,
        "a login after the revocation works"
    );

    let m = guard.metrics();
    assert_eq!(m.rejected.get("token_revoked"), Some(&1));
    assert_eq!(m.rejected.get("session_revoked"), Some(&1));
    assert_eq!(m.rejected.get("user_revoked"), Some(&1));
    assert_eq!(m.verified, 5);
    assert!(m.feed.connected && m.feed.fresh);
    assert_eq!(m.feed.lag_entries, 0);
    guard.stop();
    authd.stop().await;
}

/// Suspending an account in authd reaches the guard as the user's not-before (the suspension
/// revokes every session in the same transaction), so the tokens already issued are refused
/// at the next request; no new token can be had while the account is suspended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_users_tokens_are_refused_and_no_new_one_is_issued() {
    let (_dir, authd) = fresh_authd().await;
    let uid = authd.add_user("sus").await;
    authd.add_user("bystander").await;
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (rs, _task) = guarded_server(guard.clone()).await;
    let url = format!("{rs}/rs/whoami");
    let http = reqwest::Client::new();
    let admin = authd.admin_token().await;
    let (token, _) = authd.login("sus").await;
    let (other, _) = authd.login("bystander").await;
    assert_eq!(get(&http, &url, &token).await.0, 200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    authd.suspend(&admin, uid).await;
    caught_up(&guard, &authd).await;
    assert_eq!(get(&http, &url, &token).await.1["error"], "user_revoked");
    assert_eq!(get(&http, &url, &other).await.0, 200, "other users are untouched");
    let (status, body) = authd.login_refused("sus").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("account_suspended")));
    assert_eq!(guard.metrics().rejected.get("user_revoked"), Some(&1));
    guard.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_the_feed_was_cut_is_caught_up_after_reconnecting() {
    let (_dir, authd) = fresh_authd().await;
    authd.add_user("victim").await;
    let proxy = Proxy::start(addr_of(&authd.base)).await;
    let guard = Guard::start(guard_config(&authd, &proxy.base)).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (token, sid) = authd.login("victim").await;
    assert!(guard.check(Some(&token)).await.is_ok());

    proxy.cut().await;
    assert!(eventually(WAIT, async || !guard.metrics().feed.connected).await);
    let admin = authd.admin_token().await;
    authd.revoke_session(&admin, &sid).await;
    // Nothing can reach the guard while cut: it still knows only the old set.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(guard.check(Some(&token)).await.is_ok());

    proxy.restore();
    caught_up(&guard, &authd).await;
    assert_eq!(
        guard.check(Some(&token)).await.unwrap_err().reason,
        Reason::SessionRevoked
    );
    // The catch-up poll comes first; the stream reconnects right after it.
    assert!(eventually(WAIT, async || guard.metrics().feed.connected).await);
    let m = guard.metrics();
    assert!(m.feed.reconnects >= 1, "{m:?}");
    guard.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_authd_restarts_the_guard_reconnects_and_follows_new_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("authd.db");
    let authd = Authd::start_at(&db, "127.0.0.1:0".parse().unwrap()).await;
    let addr = addr_of(&authd.base);
    authd.add_user("victim").await;
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (token, sid) = authd.login("victim").await;
    assert!(guard.check(Some(&token)).await.is_ok());

    authd.stop().await;
    assert!(eventually(WAIT, async || !guard.metrics().feed.connected).await);
    let authd = Authd::start_at(&db, addr).await;
    assert!(eventually(WAIT, async || guard.metrics().feed.connected).await);
    let admin = authd.admin_token().await;
    authd.revoke_session(&admin, &sid).await;
    caught_up(&guard, &authd).await;
    assert_eq!(
        guard.check(Some(&token)).await.unwrap_err().reason,
        Reason::SessionRevoked
    );
    guard.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_with_503_once_the_feed_is_stale_and_recovers() {
    let (_dir, authd) = fresh_authd().await;
    authd.add_user("u").await;
    let proxy = Proxy::start(addr_of(&authd.base)).await;
    let mut config = guard_config(&authd, &proxy.base);
    config.fail_mode = FailMode::Closed;
    config.staleness_bound = Duration::from_millis(300);
    let guard = Guard::start(config).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (rs, _task) = guarded_server(guard.clone()).await;
    let url = format!("{rs}/rs/whoami");
    let http = reqwest::Client::new();
    let (token, _) = authd.login("u").await;
    assert_eq!(get(&http, &url, &token).await.0, 200);

    proxy.cut().await;
    let refused = eventually(WAIT, async || get(&http, &url, &token).await.0 == 503).await;
    assert!(refused, "{:?}", guard.metrics());
    assert_eq!(get(&http, &url, &token).await.1["error"], "revocation_feed_stale");
    let m = guard.metrics();
    assert!(!m.feed.fresh && !m.feed.connected);
    assert!(m.feed.lag_ms.unwrap() >= 300);
    assert!(m.rejected["revocation_feed_stale"] >= 2);
    assert!(m.to_prometheus().contains("gatehouse_guard_feed_fresh 0"));

    proxy.restore();
    assert!(eventually(WAIT, async || get(&http, &url, &token).await.0 == 200).await);
    guard.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_keeps_serving_on_the_last_known_set_and_counts_it() {
    let (_dir, authd) = fresh_authd().await;
    authd.add_user("a").await;
    authd.add_user("b").await;
    let proxy = Proxy::start(addr_of(&authd.base)).await;
    let mut config = guard_config(&authd, &proxy.base);
    config.fail_mode = FailMode::Open;
    config.staleness_bound = Duration::from_millis(300);
    let guard = Guard::start(config).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (good, _) = authd.login("a").await;
    let (bad, bad_sid) = authd.login("b").await;
    let admin = authd.admin_token().await;
    authd.revoke_session(&admin, &bad_sid).await;
    caught_up(&guard, &authd).await;

    proxy.cut().await;
    assert!(eventually(WAIT, async || !guard.metrics().feed.fresh).await);
    assert!(guard.check(Some(&good)).await.is_ok());
    assert_eq!(
        guard.check(Some(&bad)).await.unwrap_err().reason,
        Reason::SessionRevoked,
        "what was known before the cut is still enforced"
    );
    let m = guard.metrics();
    assert_eq!(m.accepted_while_stale, 1);
    assert!(!m.rejected.contains_key("revocation_feed_stale"));
    guard.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_on_its_first_token_and_unknown_kids_are_rate_limited() {
    let (_dir, authd) = fresh_authd().await;
    authd.add_user("u").await;
    let mut config = guard_config(&authd, &authd.base);
    config.jwks_min_refresh = Duration::from_secs(60);
    let guard = Guard::start(config).await.unwrap();
    assert!(guard.ready(WAIT).await);
    assert_eq!(guard.metrics().jwks_refreshes, 1);

    // A forged token under a kid nobody published: the JWKS was fetched at start less than a
    // minute ago, so no forged kid makes the guard fetch again.
    let forger = Signer::generate_ed25519("forged");
    let (real, _) = authd.login("u").await;
    let claims = decode_unverified(&real, &Limits::default()).unwrap().claims;
    let forged = forger.sign_with_typ(&claims, "at+jwt").unwrap();
    for _ in 0..5 {
        assert_eq!(
            guard.check(Some(&forged)).await.unwrap_err().reason,
            Reason::Token(gatehouse_jwt::RejectReason::UnknownKid)
        );
    }
    assert_eq!(guard.metrics().jwks_refreshes, 1, "refreshes are rate-limited");

    // A rotation: the next token's kid is new; the guard's next allowed refresh picks it up.
    let mut config2 = guard_config(&authd, &authd.base);
    config2.jwks_min_refresh = Duration::from_millis(50);
    let guard2 = Guard::start(config2).await.unwrap();
    assert!(guard2.ready(WAIT).await);
    authd.state.keys.rotate(&authd.state.db).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (rotated, _) = authd.login("u").await;
    assert!(guard2.check(Some(&rotated)).await.is_ok());
    assert!(
        guard2.check(Some(&real)).await.is_ok(),
        "the retired key is still published"
    );
    assert_eq!(guard2.metrics().jwks_refreshes, 2);
    guard.stop();
    guard2.stop();
    authd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_a_token_for_another_audience_is_refused_without_reaching_the_handler() {
    let (_dir, authd) = fresh_authd().await;
    let guard = Guard::start(guard_config(&authd, &authd.base)).await.unwrap();
    assert!(guard.ready(WAIT).await);
    let (rs, _task) = guarded_server(guard.clone()).await;
    let url = format!("{rs}/rs/whoami");
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let admin = authd.admin_token().await;
    let (status, body) = get(&reqwest::Client::new(), &url, &admin).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("bad_audience")));
    let m = guard.metrics();
    assert_eq!(m.rejected.get("missing_token"), Some(&1));
    assert_eq!(m.rejected.get("bad_audience"), Some(&1));
    assert_eq!(m.verified, 0);
    guard.stop();
    authd.stop().await;
}
