//! Revoke-to-401 latency over loopback HTTP: for each of N fresh sessions, time from sending
//! the admin revoke until a request with the session's access token has come back 401.
//! Prints percentiles (target: p99 <= 50 ms). Bounded: N iterations against 127.0.0.1 only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use gatehouse_authd::Server;
use gatehouse_authd::config::{BootstrapClient, Config, Database, HashCost};
use gatehouse_authd::secrets::Sensitive;
use gatehouse_authd::users::{self, NewUser};
use serde_json::{Value, json};

fn main() {
    let iterations: usize = std::env::var("REVOKE_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(iterations));
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn run(iterations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::new(Database::File(dir.path().join("bench.db")), base.clone());
    config.hash_cost = HashCost::INSECURE_FAST;
    config.admin_rate_limit.limit = 1_000_000;
    config.admin_clients.push(BootstrapClient {
        client_id: "bench".into(),
        secret: Sensitive("bench-secret".into()),
    });
    let server = Server::open(config).await.unwrap();
    let state = server.state().clone();
    users::create(
        &state.db,
        &state.hashing,
        NewUser {
            username: "victim".into(),
            email: "victim@example.test".into(),
            display_name: "Victim".into(),
            roles: vec![],
            password: Sensitive("bench password 123".into()),
            mfa_required: false,
        },
    )
    .await
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::new();
    let admin: Value = http
        .post(format!("{base}/admin/v1/token"))
        .json(&json!({"client_id": "bench", "client_secret": "bench-secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_owned();

    let mut total = Vec::with_capacity(iterations);
    let mut revoke_call = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t: Value = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": "victim", "password": "bench password 123"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = t["access_token"].as_str().unwrap();
        let sid = t["session_id"].as_str().unwrap();
        let ok = http
            .get(format!("{base}/api/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let start = Instant::now();
        let r = http
            .post(format!("{base}/admin/v1/sessions/{sid}/revoke"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        let revoked = start.elapsed();
        let denied = http
            .get(format!("{base}/api/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401, "the very next request must be refused");
        let _ = denied.bytes().await.unwrap();
        total.push(start.elapsed());
        revoke_call.push(revoked);
    }
    total.sort();
    revoke_call.sort();
    println!("revoke-to-401 over loopback, {iterations} sessions (ms):");
    for (name, v) in [
        ("revoke call + next request", &total),
        ("revoke call alone", &revoke_call),
    ] {
        println!(
            "  {name:28} p50 {:6.2}  p90 {:6.2}  p99 {:6.2}  max {:6.2}",
            pct(v, 0.50),
            pct(v, 0.90),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    let p99 = pct(&total, 0.99);
    println!(
        "  target p99 <= 50 ms: {}",
        if p99 <= 50.0 { "met" } else { "MISSED" }
    );
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();
}
