//! `gatehouse-authd demo` against a real authd: reproducibility, the shape every attack kind
//! leaves in the recorded activity, thieves refused after a revocation, the fast history, and
//! the binary's continuous mode. Addresses come from MaxMind's small test database (the real
//! DB-IP file is only present after `npm ci --prefix tools/geoip`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gatehouse_authd::clock::Clock;
use gatehouse_authd::demo::geo::{Atlas, MAXMIND_ATTRIBUTION, distance_km};
use gatehouse_authd::demo::schedule::{AttackKind, DAY, HOUR, KINDS, MINUTE};
use gatehouse_authd::demo::truth::{AttackTruth, GroundTruth};
use gatehouse_authd::demo::{Demo, Options};
use serde_json::{Value, json};

use crate::common::{ADMIN_ID, ADMIN_SECRET, Authd, s};

const TEST_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/geoip/GeoIP2-City-Test.mmdb"
);
/// 2026-01-01T00:00:00Z, a Thursday: two working days follow.
const FROM_MS: i64 = 1_767_225_600_000;

fn atlas() -> Arc<Atlas> {
    static ATLAS: OnceLock<Arc<Atlas>> = OnceLock::new();
    ATLAS
        .get_or_init(|| Arc::new(Atlas::open(std::path::Path::new(TEST_DB), None).unwrap()))
        .clone()
}

fn options(seed: u64, days: u32) -> Options {
    Options {
        users: 12,
        history_days: days,
        live: false,
        history_from_ms: Some(FROM_MS),
        ..Options::new(seed)
    }
}

/// An authd on a manual clock that trusts X-Forwarded-For from loopback, as the demo runs it.
async fn demo_authd() -> Authd {
    Authd::start_with(|c| {
        c.clock = Clock::manual(0);
        c.trusted_proxies = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    })
    .await
}

async fn fast(seed: u64, days: u32) -> (Authd, Demo, GroundTruth) {
    let authd = demo_authd().await;
    let mut demo = Demo::new(
        authd.state.clone(),
        authd.base.clone(),
        atlas(),
        &options(seed, days),
    )
    .await
    .unwrap();
    demo.run_history().await.unwrap();
    let truth = demo.ground_truth();
    (authd, demo, truth)
}

/// Every activity row of a session, through the admin API (all pages).
async fn session_rows(a: &Authd, admin: &str, sid: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = a
            .get(&format!("/admin/v1/sessions/{sid}/activity?limit=1000{q}"), admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body["items"].as_array().unwrap().clone();
        let done = items.len() < 1000;
        rows.extend(items);
        cursor = r.body["next_cursor"].as_i64();
        if done || cursor.is_none() {
            return rows;
        }
    }
}

/// All activity, oldest first, through the admin API.
async fn all_rows(a: &Authd, admin: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let r = a
            .get(&format!("/admin/v1/activity?after={after}&limit=10000"), admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        rows.extend(r.body["items"].as_array().unwrap().iter().cloned());
        after = r.body["next_cursor"].as_i64().unwrap_or(after);
        if !r.body["has_more"].as_bool().unwrap() {
            return rows;
        }
    }
}

fn ip(row: &Value) -> IpAddr {
    s(&row["client_ip"]).parse().unwrap()
}

fn at(row: &Value) -> i64 {
    row["at_ms"].as_i64().unwrap()
}

fn attack(truth: &GroundTruth, kind: AttackKind) -> &AttackTruth {
    truth
        .attacks
        .iter()
        .find(|a| a.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} attack in {:?}", truth.attacks))
}

/// The truth without the ids authd draws at random (session ids).
fn comparable(truth: &GroundTruth) -> Value {
    let mut v = serde_json::to_value(truth).unwrap();
    for a in v["attacks"].as_array_mut().unwrap() {
        assert!(
            a["victim"]["session_id"].is_string(),
            "every attack got its session"
        );
        a["victim"]["session_id"] = Value::Null;
    }
    v
}

fn most_per_minute(rows: &[&Value]) -> usize {
    let mut per: BTreeMap<i64, usize> = BTreeMap::new();
    for r in rows {
        *per.entry(at(r) / MINUTE).or_insert(0) += 1;
    }
    per.values().copied().max().unwrap_or(0)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_world_traffic_and_ground_truth() {
    let (a1, d1, t1) = fast(7, 1).await;
    let (a2, d2, t2) = fast(7, 1).await;
    assert_eq!(d1.plan(), d2.plan(), "users, homes, networks and user agents");
    assert_eq!(d1.attacks(), d2.attacks(), "attack plan");
    assert_eq!(comparable(&t1), comparable(&t2));
    assert_eq!(t1.seed, 7);
    assert_eq!(t1.attribution, MAXMIND_ATTRIBUTION);
    let kinds: Vec<AttackKind> = t1.attacks.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, KINDS.to_vec(), "one attack of each kind");

    // Not only the plan: authd recorded the very same requests, at the same simulated times.
    let key = |r: &Value| {
        json!([
            r["at_ms"],
            r["user_id"],
            r["client_ip"],
            r["user_agent"],
            r["method"],
            r["path"],
            r["status"],
            r["denial_reason"]
        ])
    };
    let (admin1, admin2) = (a1.admin_token().await, a2.admin_token().await);
    let rows1: Vec<Value> = all_rows(&a1, &admin1).await.iter().map(key).collect();
    let rows2: Vec<Value> = all_rows(&a2, &admin2).await.iter().map(key).collect();
    assert!(rows1.len() > 500, "a day of traffic: {}", rows1.len());
    assert_eq!(rows1, rows2);

    let other = gatehouse_authd::demo::plan::Plan::new(8, 12, &atlas()).unwrap();
    assert_ne!(&other, d1.plan(), "another seed, another world");
    a1.stop().await;
    a2.stop().await;
}

#[tokio::test]
async fn each_attack_kind_leaves_its_shape_in_the_recorded_activity() {
    let (authd, demo, truth) = fast(11, 2).await;
    let admin = authd.admin_token().await;
    let atlas = demo.atlas();
    for a in &truth.attacks {
        assert!(a.observed.requests > 0, "{} sent nothing: {:?}", a.id, a.observed);
        let sid = a.victim.session_id.as_deref().unwrap();
        let rows = session_rows(&authd, &admin, sid).await;
        let thief_ips = &a.observed.ips;
        let thief: Vec<&Value> = rows
            .iter()
            .filter(|r| thief_ips.contains(&ip(r)) && s(&r["user_agent"]) == a.attacker.user_agent)
            .filter(|r| at(r) >= a.observed.first_request_ms.unwrap())
            .collect();
        let victim: Vec<&Value> = rows.iter().filter(|r| !thief_ips.contains(&ip(r))).collect();
        let located = |ip: &IpAddr| atlas.locate(*ip).unwrap();
        match a.kind {
            AttackKind::RemoteReplay | AttackKind::RemoteReplaySameUa | AttackKind::NearbyReplay => {
                assert_eq!(
                    thief.len() as u64,
                    a.observed.requests,
                    "{}: every request on the session",
                    a.id
                );
                assert!(a.observed.allowed > 0);
                let city = &a.attacker.planned[0];
                for t in &thief {
                    let l = located(&ip(t));
                    assert_eq!(
                        l.city.as_deref(),
                        Some(city.city.as_str()),
                        "{}: {}",
                        a.id,
                        t["client_ip"]
                    );
                    assert_eq!(l.country.as_deref(), Some(city.country.as_str()));
                }
                let (first, last) = (at(thief[0]), at(thief[thief.len() - 1]));
                let interleaved = victim.iter().filter(|r| (first..=last).contains(&at(r))).count();
                assert!(
                    interleaved >= 2,
                    "{}: the victim is active meanwhile ({interleaved})",
                    a.id
                );
                let ua_same = a.attacker.user_agent == a.victim.user_agent;
                assert_eq!(ua_same, a.kind == AttackKind::RemoteReplaySameUa, "{}", a.id);
                let home = a.victim.home.coords();
                let d = distance_km(home, city.coords());
                if a.kind == AttackKind::NearbyReplay {
                    // A few hundred km when the catalogue has such a city, else the nearest to 400.
                    let ds: Vec<f64> = atlas
                        .cities()
                        .iter()
                        .map(|c| distance_km(home, c.coords()))
                        .filter(|d| *d > 1.0)
                        .collect();
                    if ds.iter().any(|d| (150.0..=900.0).contains(d)) {
                        assert!((150.0..=900.0).contains(&d), "{}: {d} km", a.id);
                    } else {
                        let best = ds.iter().map(|x| (x - 400.0).abs()).fold(f64::MAX, f64::min);
                        assert!(((d - 400.0).abs() - best).abs() < 1.0, "{}: {d} km", a.id);
                    }
                } else {
                    assert!(d >= 4000.0, "{}: {d} km is not far away", a.id);
                }
            }
            AttackKind::RateAbuse => {
                assert!(a.attacker.rides_victim_network);
                assert_eq!(a.attacker.user_agent, a.victim.user_agent);
                let span = a.observed.first_request_ms.unwrap()..=a.observed.last_request_ms.unwrap();
                let before: Vec<&Value> = rows.iter().filter(|r| at(r) < *span.start()).collect();
                assert!(
                    thief_ips.iter().all(|i| before.iter().any(|r| ip(r) == *i)),
                    "the abuse comes from an address the victim used"
                );
                let during: Vec<&Value> = rows.iter().filter(|r| span.contains(&at(r))).collect();
                assert!(
                    most_per_minute(&during) >= 30,
                    "a burst: {}",
                    most_per_minute(&during)
                );
                assert!(
                    most_per_minute(&before) <= 12,
                    "the victim's own pace: {}",
                    most_per_minute(&before)
                );
                let not_found = a.observed.denial_reasons.get("not_found").copied().unwrap_or(0);
                assert!(
                    not_found * 2 >= a.observed.requests,
                    "enumeration: {:?}",
                    a.observed
                );
            }
            AttackKind::PostLogoutReplay => {
                let detail = authd.get(&format!("/admin/v1/sessions/{sid}"), &admin).await;
                let session = &detail.body["session"];
                assert_eq!(session["revoked_reason"], "logout", "{}", detail.body);
                let revoked_at = session["revoked_at"].as_i64().unwrap() * 1000;
                assert!(!thief.is_empty());
                assert!(
                    thief.iter().all(|r| at(r) >= revoked_at && r["status"] == 401),
                    "{thief:?}"
                );
                assert_eq!(thief[0]["denial_reason"], "session_revoked");
                assert_eq!(a.observed.allowed, 0);
                assert!(a.observed.requests >= 3, "keeps trying: {:?}", a.observed);
                assert!(a.observed.refresh_refused >= 1);
            }
            AttackKind::IdleReplay => {
                let last_victim = victim.iter().map(|r| at(r)).max().unwrap();
                let first_thief = at(thief[0]);
                assert!(
                    first_thief - last_victim >= 2 * HOUR,
                    "idle gap {} ms",
                    first_thief - last_victim
                );
                assert!(
                    a.observed.allowed >= 5 && a.observed.refreshes >= 1,
                    "{:?}",
                    a.observed
                );
                let city = &a.attacker.planned[0];
                assert!(
                    thief
                        .iter()
                        .all(|t| located(&ip(t)).city.as_deref() == Some(city.city.as_str()))
                );
                assert!(
                    rows.iter()
                        .filter(|r| at(r) > last_victim)
                        .all(|r| thief_ips.contains(&ip(r)))
                );
            }
        }
    }
    authd.stop().await;
}

#[tokio::test]
async fn thieves_keep_trying_after_a_revocation_and_are_refused() {
    let authd = demo_authd().await;
    let mut demo = Demo::new(authd.state.clone(), authd.base.clone(), atlas(), &options(5, 1))
        .await
        .unwrap();
    let target = demo
        .attacks()
        .iter()
        .find(|a| a.kind == AttackKind::RemoteReplay)
        .unwrap()
        .clone();
    // The thief's first request goes through; right then the analyst revokes the session.
    demo.run_until(target.from_ms + 1, None).await.unwrap();
    let truth = demo.ground_truth();
    let a = attack(&truth, AttackKind::RemoteReplay);
    assert!(a.observed.allowed > 0, "{:?}", a.observed);
    let sid = a.victim.session_id.clone().unwrap();
    let admin = authd.admin_token().await;
    let r = authd
        .post(
            &format!("/admin/v1/sessions/{sid}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let revoked_ms = authd.state.now_ms();
    demo.run_history().await.unwrap();

    let truth = demo.ground_truth();
    let a = attack(&truth, AttackKind::RemoteReplay);
    let rows = session_rows(&authd, &admin, &sid).await;
    let after: Vec<&Value> = rows
        .iter()
        .filter(|r| at(r) >= revoked_ms && a.observed.ips.contains(&ip(r)))
        .collect();
    assert!(after.len() >= 2, "the thief keeps trying: {after:?}");
    assert!(after.iter().all(|r| r["status"] == 401), "{after:?}");
    assert_eq!(after[0]["denial_reason"], "session_revoked");
    assert!(
        after
            .iter()
            .all(|r| matches!(s(&r["denial_reason"]), "session_revoked" | "expired")),
        "{after:?}"
    );
    assert!(a.observed.gave_up, "{:?}", a.observed);
    // The victim just logs in again and carries on in a new session.
    let newer = sessions_since(&authd, &admin, a.victim.user_id, revoked_ms).await;
    assert!(!newer.is_empty());
    assert!(newer.iter().all(|x| x["id"] != sid.as_str()));
    authd.stop().await;
}

/// Sessions of a user created at or after `since_ms`.
async fn sessions_since(a: &Authd, admin: &str, user_id: i64, since_ms: i64) -> Vec<Value> {
    let r = a
        .get(&format!("/admin/v1/sessions?user={user_id}&limit=1000"), admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert!(items.iter().all(|x| x["user_id"] == user_id));
    items
        .iter()
        .filter(|x| x["created_at"].as_i64().unwrap() * 1000 >= since_ms)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_user_forced_to_reset_sets_a_new_password_enrolls_totp_and_carries_on() {
    let authd = demo_authd().await;
    let mut demo = Demo::new(authd.state.clone(), authd.base.clone(), atlas(), &options(9, 2))
        .await
        .unwrap();
    let victims: Vec<usize> = demo.attacks().iter().map(|a| a.victim).collect();
    let (index, user) = demo
        .plan()
        .users
        .iter()
        .enumerate()
        .find(|(i, u)| u.is_ordinary() && !u.totp && !victims.contains(i))
        .unwrap();
    let username = user.username.clone();
    demo.run_until(FROM_MS + HOUR, None).await.unwrap();
    let user_id = demo.ground_truth().users[index].user_id;
    let admin = authd.admin_token().await;
    let r = authd
        .post(
            &format!("/admin/v1/users/{user_id}/force-password-reset"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reset_ms = authd.state.now_ms();
    demo.run_history().await.unwrap();

    let u = authd.get(&format!("/admin/v1/users/{user_id}"), &admin).await;
    assert_eq!(u.body["username"], username.as_str());
    assert_eq!(u.body["password_change_required"], false, "{}", u.body);
    assert_eq!(u.body["mfa_enrolled"], true, "{}", u.body);
    let newer = sessions_since(&authd, &admin, user_id, reset_ms).await;
    assert!(!newer.is_empty(), "the user logged in again");
    assert!(newer.iter().all(|x| s(&x["amr"]).contains("otp")), "{newer:?}");
    authd.stop().await;
}

#[tokio::test]
async fn fast_mode_writes_days_of_history_in_seconds_then_goes_live() {
    let authd = demo_authd().await;
    let days = 3;
    let opts = Options {
        live: true,
        history_from_ms: None,
        ..options(3, days)
    };
    let started = Instant::now();
    let mut demo = Demo::new(authd.state.clone(), authd.base.clone(), atlas(), &opts)
        .await
        .unwrap();
    let stats = demo.run_history().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(90), "{took:?}");
    let tl = demo.timeline();
    assert_eq!(tl.history_end_ms - tl.from_ms, i64::from(days) * DAY);
    assert!(tl.history_end_ms <= gatehouse_authd::db::now_ms());

    let admin = authd.admin_token().await;
    let rows = all_rows(&authd, &admin).await;
    assert_eq!(
        rows.len() as u64,
        stats.api_requests,
        "one activity row per request"
    );
    let times: Vec<i64> = rows.iter().map(at).collect();
    assert!(times.iter().all(|t| (tl.from_ms..tl.history_end_ms).contains(t)));
    for day in 0..i64::from(days) {
        let from = tl.from_ms + day * DAY;
        assert!(
            times.iter().any(|t| (from..from + DAY).contains(t)),
            "day {day} has traffic"
        );
    }
    let truth = demo.ground_truth();
    assert_eq!(truth.mode, "fast+continuous");
    assert_eq!(truth.attacks.len(), 6);
    assert!(truth.attacks.iter().all(|a| a.victim.session_id.is_some()));

    // After the history the clock is the system's again and traffic continues in real time.
    demo.run_until(gatehouse_authd::db::now_ms() + 1_500, None)
        .await
        .unwrap();
    assert!(!authd.state.config.clock.is_manual());
    assert!((authd.state.now_ms() - gatehouse_authd::db::now_ms()).abs() < 5_000);

    // The database serves as is afterwards (what `serve --db` does).
    let path = authd.db_path.clone();
    let dir = authd.stop().await;
    let again = Authd::start_at(&path, |_| {}).await;
    let admin = again.admin_token().await;
    let listed = again.get("/admin/v1/sessions?limit=5", &admin).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.body["items"].as_array().unwrap().is_empty());
    again.stop().await;
    drop(dir);
}

#[tokio::test]
async fn the_binary_runs_continuously_prints_where_it_listens_and_the_attribution() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let truth_path = dir.path().join("truth.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse-authd"))
        .args([
            "demo",
            "--continuous",
            "--duration",
            "8s",
            "--users",
            "10",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--geoip")
        .arg(TEST_DB)
        .arg("--truth")
        .arg(&truth_path)
        .args([
            "--admin-client",
            ADMIN_ID,
            "--admin-secret-env",
            "DEMO_ADMIN_SECRET",
        ])
        .env("DEMO_ADMIN_SECRET", ADMIN_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let second = lines.next().unwrap().unwrap();
    assert_eq!(second, format!("attribution: {MAXMIND_ATTRIBUTION}"));

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let token: Value = http
        .post(format!("{base}/admin/v1/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = s(&token["access_token"]).to_owned();
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut seen = 0;
    while Instant::now() < deadline && seen == 0 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let page: Value = http
            .get(format!("{base}/admin/v1/activity"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen = page["items"].as_array().map_or(0, Vec::len);
    }
    assert!(seen > 0, "live traffic reaches authd within seconds");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {rest:?}");
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    assert_eq!(truth["schema"], "gatehouse.demo.ground-truth/v1");
    assert_eq!(truth["mode"], "continuous");
    assert_eq!(truth["attribution"], MAXMIND_ATTRIBUTION);
    assert_eq!(truth["users"].as_array().unwrap().len(), 10);
}
