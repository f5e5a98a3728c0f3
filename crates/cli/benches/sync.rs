//! Sync throughput: a fresh local store pulls 100k sessions and 1M activity rows from a real
//! authd over loopback HTTP. Prints wall time, rows per second and peak RSS. Run with
//! `cargo bench -p gatehouse-cli --bench sync` (release profile). The target is <= 10 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use gatehouse_authd::Server;
use gatehouse_authd::config::{BootstrapClient, Config, Database, HashCost};
use gatehouse_authd::secrets::Sensitive as AuthdSensitive;
use gatehouse_core::Console;
use gatehouse_core::config::RawProfile;
use gatehouse_core::paths::Paths;
use gatehouse_core::secrets::{MemoryStore, Sensitive};

const SESSIONS: i64 = 100_000;
const ACTIVITY: i64 = 1_000_000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::new(Database::File(dir.path().join("authd.db")), base.clone());
        config.hash_cost = HashCost::INSECURE_FAST;
        config.admin_rate_limit.limit = 1_000_000;
        config.admin_clients.push(BootstrapClient {
            client_id: "bench".into(),
            secret: AuthdSensitive("bench-secret".into()),
        });
        let server = Server::open(config).await.unwrap();
        let db = server.state().db.clone();
        let seeded = Instant::now();
        let now = gatehouse_authd::db::now();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at)
             SELECT 'user' || i, 'user' || i || '@example.test', 'User ' || i, 'x', ?1, ?1 FROM n",
        )
        .bind(now)
        .execute(&db)
        .await
        .unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, client_ip, user_agent, amr)
             SELECT 's_bench_' || i, (i % 1000) + 1, ?2 - i, ?2 - (i / 2), ?2 + 86400,
                    '198.51.100.' || (i % 250), 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0', '[\"pwd\"]'
             FROM n",
        )
        .bind(SESSIONS)
        .bind(now)
        .execute(&db)
        .await
        .unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO activity (at_ms, user_id, session_id, jti, client_ip, user_agent, method, path, status,
                                   denial_reason, sensitive)
             SELECT ?2 * 1000 - (?1 - i) * 50, ((i % ?3) % 1000) + 1, 's_bench_' || ((i % ?3) + 1),
                    'at_bench_' || (i % ?3), '198.51.100.' || (i % 250),
                    'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0', 'GET', '/api/projects/' || (i % 50), 200,
                    NULL, 0
             FROM n",
        )
        .bind(ACTIVITY)
        .bind(now)
        .bind(SESSIONS)
        .execute(&db)
        .await
        .unwrap();
        eprintln!("seeded authd in {:.1} s", seeded.elapsed().as_secs_f64());
        tokio::spawn(server.run(listener, std::future::pending()));

        let home = tempfile::tempdir().unwrap();
        let console = Console::with(Paths::under(home.path()), Arc::new(MemoryStore::default())).unwrap();
        console
            .add_profile(
                "bench",
                RawProfile {
                    kind: "authd".into(),
                    base_url: base,
                    client_id: "bench".into(),
                    timeout_secs: Some(120),
                    ..Default::default()
                },
                Some(Sensitive::new("bench-secret".into())),
            )
            .unwrap();
        let started = Instant::now();
        let marks = std::sync::Mutex::new(Vec::<(String, f64)>::new());
        let progress = |stage: gatehouse_core::sync::Stage, _n: u64| {
            let mut m = marks.lock().unwrap();
            let name = format!("{stage:?}");
            if m.last().is_none_or(|(last, _)| *last != name) {
                m.push((name, started.elapsed().as_secs_f64()));
            }
        };
        let report = console.sync(None, &progress).await.unwrap();
        let wall = started.elapsed().as_secs_f64();
        assert_eq!(report.sessions, SESSIONS as u64);
        assert_eq!(report.activity, ACTIVITY as u64);
        println!("sync of {} sessions + {} activity rows into a fresh store:", report.sessions, report.activity);
        println!("  wall        {wall:.2} s (target <= 10 s)");
        println!("  activity    {:.0} rows/s", report.activity as f64 / wall);
        for (stage, at) in marks.lock().unwrap().iter() {
            println!("  {stage:<11} first page done at {at:.2} s");
        }
        println!("  peak RSS    {:.0} MB (authd and console in one process)", peak_rss_mb());
    });
}
