//! The desktop's list queries over a large store: 100k sessions of 1,000 users with facts and
//! 2,000 findings. Prints the time of each page query (median of 9 runs) for the sorts and
//! filters the sessions view offers, plus the first page of users and a sparkline batch.
//!
//! ```text
//! cargo bench -p gatehouse-core --bench views
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use gatehouse_core::detect::Severity;
use gatehouse_core::store::Store;
use gatehouse_core::views::{self, SessionQuery, SessionSort, UserQuery, UserSort};

const SESSIONS: i64 = 100_000;
const USERS: i64 = 1_000;
const P: &str = "bench";

async fn seed(store: &Store) {
    let pool = store.pool();
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO users (profile, id, username, email, display_name, status, synced_at_ms)
         SELECT ?2, 'u' || i, 'user' || i, 'user' || i || '@example.test', 'User ' || i, 'active', ?3 FROM n",
    )
    .bind(USERS)
    .bind(P)
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO sessions (profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent,
                               active, revoked_at_ms, synced_at_ms)
         SELECT ?2, 's' || i, 'u' || (i % ?4 + 1), ?3 - i * 1000, ?3 - i * 10, ?3 + 86400000,
                '198.51.' || (i % 250) || '.' || (i % 200), 'Mozilla/5.0 Firefox/130.0', i % 3 <> 0, NULL, ?3
         FROM n",
    )
    .bind(SESSIONS)
    .bind(P)
    .bind(now)
    .bind(USERS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO session_facts (profile, session_id, user_id, first_at_ms, last_at_ms, events, denied, last_ip,
                                    city, country, lat, lon, accuracy_km, asn, org, network_class, device, places)
         SELECT ?2, 's' || i, 'u' || (i % ?4 + 1), ?3 - i * 1000, ?3 - i * 10, 10 + i % 90, i % 7,
                '198.51.' || (i % 250) || '.' || (i % 200),
                CASE i % 4 WHEN 0 THEN 'London' WHEN 1 THEN 'Berlin' WHEN 2 THEN 'Lisbon' ELSE 'Tokyo' END,
                CASE i % 4 WHEN 0 THEN 'GB' WHEN 1 THEN 'DE' WHEN 2 THEN 'PT' ELSE 'JP' END,
                51.5, -0.1, 20.0, 64500 + i % 20, 'Example ISP', 'ISP', 'Firefox on Linux', 1
         FROM n",
    )
    .bind(SESSIONS)
    .bind(P)
    .bind(now)
    .bind(USERS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO findings (profile, id, user_id, session_id, kind, severity, severity_rank, score,
                               detected_at_ms, first_seen_ms, last_seen_ms, body, updated_at_ms)
         SELECT ?1, 'f-' || i, 'u' || ((i * 50) % ?3 + 1), 's' || (i * 50), 'impossible_travel',
                CASE i % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'critical' END,
                i % 4, 30 + i % 70, ?2 - i, ?2 - i - 1000, ?2 - i, '{\"explanation\":\"x\"}', ?2
         FROM n",
    )
    .bind(P)
    .bind(now)
    .bind(USERS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
}

async fn time<F, Fut, T>(label: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut ms: Vec<f64> = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        std::hint::black_box(f().await);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<58} median {:>7.1} ms  (min {:.1}, max {:.1})",
        ms[4], ms[0], ms[8]
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // GATEHOUSE_BENCH_DB keeps the seeded database for EXPLAIN QUERY PLAN sessions.
        let path = std::env::var_os("GATEHOUSE_BENCH_DB")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| dir.path().join("views.db"));
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path).await.unwrap();
        let t = Instant::now();
        seed(&store).await;
        println!(
            "seeded {SESSIONS} sessions, {USERS} users, 2000 findings in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let s = &store;
        let page = |q: SessionQuery| async move { views::sessions(s, P, &q, None).await.unwrap() };
        let cache = views::ListCache::default();
        let c = &cache;
        views::sessions(s, P, &SessionQuery::default(), Some(c))
            .await
            .unwrap();
        time(
            "sessions, by risk, cached order, scrolling to offset 50,000",
            || async move {
                views::sessions(
                    s,
                    P,
                    &SessionQuery {
                        offset: 50_000,
                        ..Default::default()
                    },
                    Some(c),
                )
                .await
                .unwrap()
            },
        )
        .await;
        time("sessions, by risk, first page of 100", || {
            page(SessionQuery::default())
        })
        .await;
        time("sessions, by risk, page at offset 50,000", || {
            page(SessionQuery {
                offset: 50_000,
                ..Default::default()
            })
        })
        .await;
        time("sessions, by last seen", || {
            page(SessionQuery {
                sort: SessionSort::LastSeen,
                ..Default::default()
            })
        })
        .await;
        time("sessions, by country", || {
            page(SessionQuery {
                sort: SessionSort::Country,
                ..Default::default()
            })
        })
        .await;
        time("sessions, search \"user42\"", || {
            page(SessionQuery {
                search: Some("user42".into()),
                ..Default::default()
            })
        })
        .await;
        time("sessions, high or worse, active only", || {
            page(SessionQuery {
                min_severity: Some(Severity::High),
                active_only: true,
                ..Default::default()
            })
        })
        .await;
        time("sessions, country = JP", || {
            page(SessionQuery {
                country: Some("JP".into()),
                ..Default::default()
            })
        })
        .await;
        time("sessions of one user", || {
            page(SessionQuery {
                user_id: Some("u7".into()),
                ..Default::default()
            })
        })
        .await;
        time("users, by risk, first page of 100", || async {
            views::users(s, P, &UserQuery::default(), None).await.unwrap()
        })
        .await;
        time("users, by name", || async {
            views::users(
                s,
                P,
                &UserQuery {
                    sort: UserSort::Name,
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap()
        })
        .await;
    });
}
