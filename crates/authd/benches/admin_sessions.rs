//! Listing 100k sessions through the admin API (pages of 1000, newest first), plus the first
//! page alone and a per-user filter. Sessions are bulk-inserted directly into SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_authd::Server;
use gatehouse_authd::config::{BootstrapClient, Config, Database, HashCost};
use gatehouse_authd::secrets::Sensitive;
use gatehouse_authd::users::{self, NewUser};
use serde_json::{Value, json};

const SESSIONS: i64 = 100_000;

struct Fixture {
    base: String,
    admin: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn setup() -> Fixture {
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
    for i in 0..100 {
        users::create(
            &state.db,
            &state.hashing,
            NewUser {
                username: format!("user{i}"),
                email: format!("user{i}@example.test"),
                display_name: format!("User {i}"),
                roles: vec![],
                password: Sensitive("bench password 123".into()),
                mfa_required: false,
            },
        )
        .await
        .unwrap();
    }
    let now = gatehouse_authd::db::now();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, client_ip, user_agent, amr,
                               revoked_at, revoked_reason)
         SELECT 's_bench_' || i, (i % 100) + 1, ?2 - i, ?2 - (i / 2), ?2 + 86400,
                '198.51.100.' || (i % 250), 'bench-agent/1.0', '[\"pwd\"]',
                CASE WHEN i % 7 = 0 THEN ?2 END, CASE WHEN i % 7 = 0 THEN 'admin' END
         FROM n",
    )
    .bind(SESSIONS)
    .bind(now)
    .execute(&state.db)
    .await
    .unwrap();
    tokio::spawn(server.run(listener, std::future::pending()));
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!("{base}/admin/v1/token"))
        .json(&json!({"client_id": "bench", "client_secret": "bench-secret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Fixture {
        admin: t["access_token"].as_str().unwrap().to_owned(),
        base,
        http,
        _dir: dir,
    }
}

async fn page(f: &Fixture, query: &str) -> Value {
    let r = f
        .http
        .get(format!("{}/admin/v1/sessions?{query}", f.base))
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn list_all(f: &Fixture) -> usize {
    let mut n = 0;
    let mut cursor: Option<i64> = None;
    loop {
        let q = match cursor {
            Some(c) => format!("limit=1000&cursor={c}"),
            None => "limit=1000".to_owned(),
        };
        let body = page(f, &q).await;
        n += body["items"].as_array().unwrap().len();
        match body["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => return n,
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(setup());
    assert_eq!(rt.block_on(list_all(&f)), SESSIONS as usize);
    let mut g = c.benchmark_group("admin_sessions_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("list_all_100k_pages_of_1000", |b| {
        b.iter(|| rt.block_on(list_all(&f)))
    });
    g.bench_function("first_page_of_100", |b| {
        b.iter(|| rt.block_on(page(&f, "limit=100")))
    });
    g.bench_function("one_user_active_first_page", |b| {
        b.iter(|| rt.block_on(page(&f, "user=42&active=true&limit=100")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
