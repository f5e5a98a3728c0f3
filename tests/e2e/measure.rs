//! Desktop figures, printed, never asserted on time (`cargo test --test integration measure --
//! --ignored --nocapture`, under ./x's keyring wrapper): cold start to the first rendered list over
//! a cached store, scroll jumps and a filter over the sessions list, and the memory of the whole
//! app (its process and WebKit's, proportional set size) once idle. `GATEHOUSE_MEASURE_SESSIONS`
//! sets the store's size (default 10 000). The profile uses the demo's city database (DB-IP City
//! Lite, installed by `./x`) as an analyst's would use one, unless `GATEHOUSE_MEASURE_GEOIP=0`.
//! `GATEHOUSE_E2E_APP` measures another build of the app (e.g. `target/release/gatehouse-desktop`).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{AppSession, descendants};
use crate::util::procfs::{comm, family_line, pss_by_mapping, pss_mb};

/// The demo's city database, when installed and not turned off.
fn geoip() -> Option<std::path::PathBuf> {
    if std::env::var_os("GATEHOUSE_MEASURE_GEOIP").is_some_and(|v| v == "0") {
        return None;
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(gatehouse_core::demo::GEOIP_IN_REPO);
    p.is_file().then_some(p)
}

async fn seed(home: &std::path::Path, sessions: i64, geoip: Option<&std::path::Path>) {
    let users = (sessions / 100).max(10);
    std::fs::create_dir_all(home.join("config")).unwrap();
    let geoip = geoip.map_or(String::new(), |p| {
        format!("geoip_city = {:?}\n", p.display().to_string())
    });
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "{geoip}default_profile = \"bench\"\n\n[profiles.bench]\nkind = \"authd\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"console\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(home.join("data")).unwrap();
    let store = gatehouse_core::store::Store::open(&home.join("data/gatehouse.db"))
        .await
        .unwrap();
    let pool = store.pool();
    let now = chrono::Utc::now().timestamp_millis();
    for sql in [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO users (profile, id, username, email, display_name, status, synced_at_ms)
         SELECT 'bench', 'u' || i, 'user' || i, 'user' || i || '@example.test', 'User ' || i, 'active', ?3 FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO sessions (profile, id, user_id, started_at_ms, last_seen_at_ms, expires_at_ms, ip, user_agent,
                               active, revoked_at_ms, synced_at_ms)
         SELECT 'bench', 's' || i, 'u' || (i % ?2 + 1), ?3 - i * 1000, ?3 - i * 10, ?3 + 86400000,
                '198.51.' || (i % 250) || '.' || (i % 200), 'Mozilla/5.0 Firefox/130.0', i % 3 <> 0, NULL, ?3 FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO session_facts (profile, session_id, user_id, first_at_ms, last_at_ms, events, denied, last_ip,
                                    city, country, lat, lon, accuracy_km, asn, org, network_class, device, places)
         SELECT 'bench', 's' || i, 'u' || (i % ?2 + 1), ?3 - i * 1000, ?3 - i * 10, 10 + i % 90, i % 7,
                '198.51.' || (i % 250) || '.' || (i % 200),
                CASE i % 4 WHEN 0 THEN 'London' WHEN 1 THEN 'Berlin' WHEN 2 THEN 'Lisbon' ELSE 'Tokyo' END,
                CASE i % 4 WHEN 0 THEN 'GB' WHEN 1 THEN 'DE' WHEN 2 THEN 'PT' ELSE 'JP' END,
                51.5, -0.1, 20.0, 64500 + i % 20, 'Example ISP', 'ISP', 'Firefox on Linux', 1 FROM n",
    ] {
        sqlx::query(sql).bind(sessions).bind(users).bind(now).execute(pool).await.unwrap();
    }
    sqlx::query("INSERT INTO sync_state (profile, stream, cursor, synced_at_ms) VALUES ('bench', 'activity', NULL, ?)")
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Waits until the sessions list shows no pending rows in view; returns the time it took.
async fn settled(app: &AppSession) -> Duration {
    let t = Instant::now();
    loop {
        let v = app
            .js("const l = document.querySelector('[data-testid=sessions-table]');
                 return !!l && l.querySelectorAll('.pending').length === 0
                        && l.querySelectorAll('[data-testid=session-row]').length > 0;")
            .await;
        if v == json!(true) {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the list never settled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_cold_start_scrolling_and_memory() {
    let n: i64 = std::env::var("GATEHOUSE_MEASURE_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let home = tempfile::tempdir().unwrap();
    let geoip = geoip();
    seed(home.path(), n, geoip.as_deref()).await;
    let started = Instant::now();
    // Extra environment for the app, e.g. WebKit switches: "K=V,K2=V2".
    let extra: Vec<(&str, String)> = std::env::var("GATEHOUSE_MEASURE_ENV")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (&*Box::leak(k.to_string().into_boxed_str()), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let app = AppSession::start_with(home, &extra).await;
    let session_up = started.elapsed();
    app.wait_for_within("[data-testid=user-row]", Duration::from_secs(60))
        .await;
    let first_list = started.elapsed();
    println!(
        "store: {n} sessions of {} users; city database: {}",
        (n / 100).max(10),
        geoip.as_ref().map_or("none".into(), |p| p.display().to_string())
    );
    println!(
        "cold start to the first rendered users list: {:.2} s (WebDriver session ready at {:.2} s)",
        first_list.as_secs_f64(),
        session_up.as_secs_f64()
    );

    app.click("[data-testid=view-mode-sessions]").await;
    let first = settled(&app).await;
    println!("all sessions, first page: {:.0} ms", first.as_secs_f64() * 1000.0);
    let mut jumps = Vec::new();
    for frac in [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6] {
        app.js(&format!(
            "const l = document.querySelector('[data-testid=sessions-table]');
             l.scrollTop = l.scrollHeight * {frac}; l.dispatchEvent(new Event('scroll')); return true;"
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        jumps.push(settled(&app).await.as_secs_f64() * 1000.0 + 20.0);
    }
    jumps.sort_by(|a, b| a.total_cmp(b));
    println!(
        "scroll jump to an unloaded region until rows shown: median {:.0} ms, max {:.0} ms",
        jumps[4], jumps[8]
    );
    let t = Instant::now();
    app.js("const i = document.querySelector('[data-testid=filter-search]');
            i.value = 'Tokyo'; i.dispatchEvent(new Event('input', { bubbles: true })); return true;")
        .await;
    loop {
        let v = app
            .js("return [...document.querySelectorAll('[data-testid=session-row]')].length > 0 &&
                        [...document.querySelectorAll('[data-testid=session-row]')].every(r => r.textContent.includes('Tokyo'));")
            .await;
        if v == json!(true) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "search \"Tokyo\" (debounced input) until only matching rows: {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    tokio::time::sleep(Duration::from_secs(5)).await;
    let procs: Vec<(u32, String)> = descendants(app.driver.pid())
        .into_iter()
        .map(|p| (p, comm(p)))
        .filter(|(_, c)| !c.starts_with("WebKitWebDrive"))
        .collect();
    let total: f64 = procs.iter().map(|(p, _)| pss_mb(*p)).sum();
    let detail: Vec<String> = procs
        .iter()
        .map(|(p, c)| format!("{c} {:.0}", pss_mb(*p)))
        .collect();
    println!(
        "idle memory of the app (PSS, MB): {total:.0} = {}",
        detail.join(" + ")
    );
    for (p, c) in &procs {
        println!("  {c} (MB): {}", family_line(*p));
    }
    // `GATEHOUSE_MEASURE_SMAPS=N`: the N largest mappings of each process (12 for a value that
    // is not a number).
    if let Ok(n) = std::env::var("GATEHOUSE_MEASURE_SMAPS") {
        let n = n.parse().unwrap_or(12);
        for (p, c) in &procs {
            for (name, mb) in pss_by_mapping(*p).into_iter().take(n) {
                println!("  {c}: {mb:7.1} MB {name}");
            }
        }
    }
    app.stop().await;
}
