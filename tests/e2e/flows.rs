//! The analyst's flows on the real app: the embedded demo (real authd child process, real
//! keyring, real SQLite, DB-IP City Lite) and a plain authd reached through the Connect form with
//! an XSS corpus injected through it. A token thief is played by this test over real HTTP, so it
//! can check that the thief's next request is refused after the analyst's click.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use super::AppSession;
use crate::util::{Proc, free_port, wait_until};

const PASSWORD: &str = "correct horse battery staple";
const HOME_IP: &str = "81.2.69.142";
const THIEF_IP: &str = "175.16.199.1";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn authd_bin() -> PathBuf {
    PathBuf::from(super::APP).with_file_name("gatehouse-authd")
}

fn dbip() -> PathBuf {
    let p = repo().join(gatehouse_core::demo::GEOIP_IN_REPO);
    assert!(
        p.exists(),
        "{} missing: run ./x test (it runs npm ci in tools/geoip)",
        p.display()
    );
    p
}

/// `gatehouse-authd user add` into a (possibly running) authd's database.
fn add_user(db: &Path, username: &str, display_name: &str) {
    let mut child = Command::new(authd_bin())
        .args(["user", "add", "--db"])
        .arg(db)
        .args(["--insecure-fast-hashing", "--username", username, "--email"])
        .arg(format!("{username}@example.test"))
        .args(["--display-name", display_name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn login(&self, username: &str, ip: &str, ua: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/auth/login", self.base))
            .header("x-forwarded-for", ip)
            .header("user-agent", ua)
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "login {username}");
        let v: serde_json::Value = resp.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn get(&self, token: &str, ip: &str, ua: &str, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("x-forwarded-for", ip)
            .header("user-agent", ua)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The victim works from home while the thief replays her token from another continent.
async fn steal(client: &Client, username: &str, victim_ua: &str, paths: &[&str]) -> String {
    let token = client.login(username, HOME_IP, victim_ua).await;
    for round in 0..4 {
        for p in paths {
            // Hostile paths may be 404s: still authenticated requests, recorded as activity.
            assert!(client.get(&token, HOME_IP, victim_ua, p).await < 500, "{p}");
        }
        assert_eq!(
            client
                .get(&token, THIEF_IP, "python-requests/2.32.3", "/api/me")
                .await,
            200,
            "round {round}"
        );
    }
    token
}

fn config_value(home: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(home.join("config/config.toml")).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key} = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{key} not in config:\n{text}"))
}

/// Runs the confirmation dialog to its end; returns the per-item statuses.
async fn confirm_and_wait(app: &AppSession, min_steps: usize) -> Vec<(String, String)> {
    app.wait_for("[data-testid=confirm-dialog] [data-testid=plan-step]")
        .await;
    let steps = app.count("[data-testid=plan-step]").await;
    assert!(
        steps >= min_steps,
        "{steps} planned steps, expected at least {min_steps}"
    );
    // Nothing ran before the confirmation.
    assert_eq!(app.count("[data-testid=action-result]").await, 0);
    app.click("[data-testid=confirm-run]").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = app.count("[data-testid=action-result]").await;
        if n >= steps {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {steps} results"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let results = app
        .js(
            "return [...document.querySelectorAll('[data-testid=action-result]')]
                .map(e => [e.dataset.status || '', e.dataset.verified || '']);",
        )
        .await;
    serde_json::from_value(results).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_stolen_session_is_found_revoked_and_refused_then_user_contained_and_bulk_revoked() {
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_path_buf();
    // Desktop notifications go over the session bus to org.freedesktop.Notifications: record
    // every Notify call the app makes (no notification daemon needs to be running to see them).
    let notify_log = home_path.join("notify-calls.txt");
    let _monitor = Proc::spawn(
        "dbus-monitor",
        Command::new("dbus-monitor")
            .args([
                "--session",
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(Stdio::from(std::fs::File::create(&notify_log).unwrap()))
            .stderr(Stdio::null()),
    );
    let app = AppSession::start_with(
        home,
        &[
            ("GATEHOUSE_GEOIP_DB", dbip().display().to_string()),
            ("GATEHOUSE_LIVE_INTERVAL_SECS", "4".into()),
        ],
    )
    .await;

    // First run: the welcome screen; "Start the demo" lands on flagged sessions.
    app.click("[data-testid=welcome] [data-testid=start-demo]").await;
    app.wait_for_within("[data-testid=user-row]", Duration::from_secs(180))
        .await;
    app.wait_text("[data-testid=attribution]", |t| t.contains("DB-IP"))
        .await;
    let flagged = app
        .js(
            "return [...document.querySelectorAll('[data-testid=user-row] [data-testid=risk-badge]')]
                .filter(b => /high|critical/i.test(b.textContent)).length;",
        )
        .await;
    assert!(
        flagged.as_u64().unwrap() >= 1,
        "no demo thief flagged in the users list"
    );
    app.screenshot("e2e-sessions.png").await;

    // Our own thief inside the demo backend.
    let db = std::fs::read_dir(home_path.join("data/demo"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "db"))
        .expect("the demo's authd database");
    add_user(&db, "e2e-victim", "E2E Victim");
    add_user(&db, "e2e-holder", "E2E Holder");
    let client = Client {
        base: config_value(&home_path, "base_url"),
        http: reqwest::Client::new(),
    };
    let token = steal(&client, "e2e-victim", FIREFOX, &["/api/me", "/api/projects"]).await;

    // The live sync picks it up; find the session by searching for the victim.
    app.click("[data-testid=view-mode-sessions]").await;
    let search = app.el("[data-testid=filter-search]").await;
    search.send_keys("e2e-victim").await.unwrap();
    // Wait until the search shows the victim's session flagged, then open that row.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let opened = app
            .js("const rows = [...document.querySelectorAll('[data-testid=session-row]')]
                    .filter(r => r.textContent.includes('e2e-victim'))
                    .filter(r => /high|critical/i.test(r.querySelector('[data-testid=risk-badge]')?.textContent || ''));
                 if (rows.length) { rows[0].click(); return true; } return false;")
            .await;
        if opened == json!(true) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayed session was never flagged"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.wait_for("[data-testid=session-detail]").await;
    // The live sync that flagged it raised a desktop notification for the new high finding.
    let calls = wait_for_notification(&notify_log, Duration::from_secs(30));
    assert!(
        calls.contains("Gatehouse: act now")
            && (calls.contains("likely stolen session") || calls.contains("new high or critical findings")),
        "no desktop notification for the new finding; Notify calls seen:\n{calls}"
    );
    app.wait_image("[data-testid=rate-graph]").await;
    app.wait_image("[data-testid=session-map]").await;
    app.wait_text("[data-testid=finding-explanation]", |t| {
        t.starts_with("Likely stolen")
    })
    .await;
    app.screenshot("e2e-session-detail.png").await;

    // Revoke it: the dialog states the step, runs it, shows the verified result and exposure.
    app.click("[data-testid=action-revoke-session]").await;
    let results = confirm_and_wait(&app, 1).await;
    assert_eq!(results, vec![("done".to_string(), "true".to_string())]);
    app.wait_for("[data-testid=residual]").await;
    app.screenshot("e2e-revoked.png").await;
    app.click("[data-testid=close-dialog]").await;
    // The thief's next request is refused by authd.
    assert_eq!(
        client
            .get(&token, THIEF_IP, "python-requests/2.32.3", "/api/me")
            .await,
        401
    );

    // Contain the account: reset with MFA, all sessions, tokens, in that order, all verified.
    app.click("[data-testid=action-contain]").await;
    let results = confirm_and_wait(&app, 2).await;
    assert!(
        results.iter().all(|(s, v)| s == "done" && v == "true"),
        "{results:?}"
    );
    app.click("[data-testid=close-dialog]").await;

    // Bulk: two active demo sessions selected, revoked with progress and a result each.
    app.click("[data-testid=back]").await;
    // WebDriver's clear() fires no input event; clear the search the way typing would.
    app.js("const i = document.querySelector('[data-testid=filter-search]');
            i.value = ''; i.dispatchEvent(new Event('input', { bubbles: true })); return true;")
        .await;
    app.click("[data-testid=filter-active]").await;
    app.wait_for("[data-testid=session-row] [data-testid=select-session]")
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let boxes = app
        .client()
        .find_all(Locator::Css(
            "[data-testid=session-row] [data-testid=select-session]",
        ))
        .await
        .unwrap();
    assert!(boxes.len() >= 2, "fewer than two active sessions to select");
    boxes[0].click().await.unwrap();
    boxes[1].click().await.unwrap();
    // The progress bar is only up while steps run: record every state it shows.
    app.js("window.__progress = [];
            new MutationObserver(() => {
              const p = document.querySelector('[data-testid=action-progress]');
              if (p) window.__progress.push([Number(p.dataset.done), Number(p.dataset.total)]);
            }).observe(document.body, { subtree: true, childList: true, attributes: true });
            return true;")
        .await;
    app.click("[data-testid=bulk-revoke]").await;
    let results = confirm_and_wait(&app, 2).await;
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|(s, _)| s == "done"), "{results:?}");
    let progress: Vec<(u32, u32)> =
        serde_json::from_value(app.js("return window.__progress;").await).unwrap();
    assert!(!progress.is_empty(), "no progress was shown");
    assert!(progress.iter().all(|&(d, t)| t == 2 && d <= 2), "{progress:?}");
    app.click("[data-testid=close-dialog]").await;

    // The token inspector: a token the analyst holds is pasted, inspected, revoked as held
    // (confirmed first) and verified; authd then refuses it.
    let held = client.login("e2e-holder", HOME_IP, FIREFOX).await;
    assert_eq!(client.get(&held, HOME_IP, FIREFOX, "/api/me").await, 200);
    app.click("[data-testid=nav-inspector]").await;
    app.el("[data-testid=inspector-input]")
        .await
        .send_keys(&held)
        .await
        .unwrap();
    app.click("[data-testid=inspector-run]").await;
    app.wait_for("[data-testid=action-revoke-token-inspector]").await;
    app.click("[data-testid=action-revoke-token-inspector]").await;
    let results = confirm_and_wait(&app, 1).await;
    assert_eq!(results, [("done".to_string(), "true".to_string())]);
    assert_eq!(
        client.get(&held, HOME_IP, FIREFOX, "/api/me").await,
        401,
        "the held token is refused after the inspector's revoke"
    );
    app.click("[data-testid=close-dialog]").await;

    // Triage: mark a finding a false positive; it is audited and the chain verifies.
    app.click("[data-testid=nav-findings]").await;
    app.wait_for("[data-testid=finding-row]").await;
    app.screenshot("e2e-findings.png").await;
    // A benign-looking one: the lowest-ranked finding in the queue.
    app.js("const rows = document.querySelectorAll('[data-testid=finding-row]'); rows[rows.length - 1].click(); return true;")
        .await;
    app.click("[data-testid=finding] [data-testid=mark-false]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.click("[data-testid=nav-audit]").await;
    app.wait_text("[data-testid=audit-verify-status]", |t| {
        t.to_lowercase().contains("verified")
    })
    .await;
    let actions = app
        .js("return [...document.querySelectorAll('[data-testid=audit-row]')].map(r => r.textContent).join('\\n');")
        .await;
    let actions = actions.as_str().unwrap_or_default().to_string();
    for expected in [
        "revoke_session",
        "force_password_reset",
        "revoke_user_sessions",
        "finding.verdict",
    ] {
        assert!(
            actions.contains(expected),
            "{expected} not in the audit view:\n{actions}"
        );
    }
    app.screenshot("e2e-audit.png").await;

    // An incident from the replayed session's finding: created, listed, opened with its
    // timeline (the revocation is on it), then marked contained.
    app.click("[data-testid=nav-findings]").await;
    app.wait_for("[data-testid=finding-row]").await;
    let opened = app
        .js(
            "const r = [...document.querySelectorAll('[data-testid=finding-row]')]
                .find(r => r.textContent.includes('e2e-victim'));
             if (r) { r.click(); return true; } return false;",
        )
        .await;
    assert_eq!(opened, json!(true), "the victim's finding is not in the queue");
    app.click("[data-testid=finding] [data-testid=create-incident-from-finding]")
        .await;
    app.wait_for("[data-testid=incident-create]").await;
    app.js("const i = document.querySelector('[data-testid=incident-title]');
            i.value = 'E2E: e2e-victim token replayed'; i.dispatchEvent(new Event('input', { bubbles: true })); return true;")
        .await;
    app.click("[data-testid=incident-create-submit]").await;
    app.wait_text("[data-testid=incident-status]", |t| {
        t.trim().eq_ignore_ascii_case("open")
    })
    .await;
    app.wait_text("[data-testid=incident-timeline]", |t| {
        t.contains("revoke_session") || t.to_lowercase().contains("revoke")
    })
    .await;
    app.click("[data-testid=mark-contained]").await;
    app.wait_text("[data-testid=incident-status]", |t| {
        t.trim().eq_ignore_ascii_case("contained")
    })
    .await;
    app.screenshot("e2e-incident.png").await;
    app.click("[data-testid=nav-incidents]").await;
    app.wait_text("[data-testid=incidents-table]", |t| {
        t.contains("E2E: e2e-victim token replayed")
    })
    .await;
    app.stop().await;
}

/// The Notify calls recorded so far, once one that carries Gatehouse's title has arrived.
fn wait_for_notification(log: &Path, timeout: Duration) -> String {
    let mut seen = String::new();
    wait_until("a desktop notification", timeout, || {
        seen = std::fs::read_to_string(log).unwrap_or_default();
        seen.contains("Gatehouse: act now")
    });
    seen
}

/// A city database whose names are hostile markup, for the two addresses the test uses.
fn hostile_city_db(dir: &Path) -> PathBuf {
    #[derive(serde::Serialize)]
    struct City {
        country_code: &'static str,
        city: &'static str,
        latitude: f32,
        longitude: f32,
    }
    let mut w = mmdb_writer::Writer::new("DBIP-City-Lite");
    let add =
        |w: &mut mmdb_writer::Writer, net: &str, city: &'static str, country: &'static str, lat, lon| {
            w.insert(
                net.parse::<ipnet::IpNet>().unwrap(),
                &City {
                    country_code: country,
                    city,
                    latitude: lat,
                    longitude: lon,
                },
            )
            .unwrap();
        };
    add(
        &mut w,
        "81.2.69.0/24",
        "<img src=x onerror=\"window.__xss=1\">",
        "GB",
        51.5,
        -0.1,
    );
    add(
        &mut w,
        "175.16.199.0/24",
        "<script>window.__xss=2</script>",
        "CN",
        43.9,
        125.3,
    );
    let path = dir.join("hostile-city.mmdb");
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_form_then_hostile_strings_from_the_backend_render_as_text() {
    let dir = tempfile::tempdir().unwrap();
    // A plain authd, and a user whose display name, user agent, paths and cities are hostile.
    let db = dir.path().join("authd.db");
    let port = free_port();
    let secret = "e2e-admin-secret-for-the-connect-form";
    let mut authd = Proc::spawn(
        "gatehouse-authd",
        Command::new(authd_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(&db)
            .args([
                "--admin-client",
                "console",
                "--admin-secret-env",
                "E2E_ADMIN_SECRET",
            ])
            .args(["--insecure-fast-hashing", "--trusted-proxy", "127.0.0.1"])
            .env("E2E_ADMIN_SECRET", secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_until("authd to listen", Duration::from_secs(20), || {
        authd.assert_running();
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let display_name = "<img src=x onerror=\"window.__xss=3\">Mallory";
    add_user(&db, "hostile", display_name);
    let ua = "<script>window.__xss=4</script> Mozilla/5.0";
    let client = Client {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    steal(
        &client,
        "hostile",
        ua,
        &["/api/me", "/api/projects/%3Csvg%20onload=window.__xss=5%3E"],
    )
    .await;

    // The console's GeoIP is the hostile city database; no profile yet.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!(
            "geoip_city = {:?}\n",
            hostile_city_db(dir.path()).display().to_string()
        ),
    )
    .unwrap();
    let app = AppSession::start_with(home, &[("GATEHOUSE_LIVE_INTERVAL_SECS", "3".into())]).await;
    app.click("[data-testid=welcome] [data-testid=connect-backend]")
        .await;
    app.el("#cf-name").await.send_keys("local").await.unwrap();
    app.el("#cf-kind").await.select_by_value("authd").await.unwrap();
    app.el("#cf-url").await.send_keys(&client.base).await.unwrap();
    app.el("#cf-client").await.send_keys("console").await.unwrap();
    app.el("#cf-secret").await.send_keys(secret).await.unwrap();
    app.click("[data-testid=connect-submit]").await;
    app.wait_text("[data-testid=connection-check]", |t| {
        t.to_lowercase().contains("authenticated")
    })
    .await;
    app.screenshot("e2e-connect.png").await;
    app.click("[data-testid=connect-done]").await;

    // The hostile user's session, flagged, opened: every string is there as text.
    app.wait_for_within("[data-testid=user-row]", Duration::from_secs(60))
        .await;
    let users_text = app.js("return document.body.innerText;").await;
    assert!(
        users_text.as_str().unwrap().contains(display_name),
        "the display name is not shown as text in the users list"
    );
    app.click("[data-testid=view-mode-sessions]").await;
    app.wait_for_within("[data-testid=session-row]", Duration::from_secs(30))
        .await;
    app.click("[data-testid=session-row]").await;
    app.wait_for("[data-testid=timeline-row]").await;
    app.wait_image("[data-testid=session-map]").await;
    let text = app.js("return document.body.innerText;").await;
    let text = text.as_str().unwrap().to_string();
    for hostile in [
        "<img src=x onerror=\"window.__xss=1\">",
        "<script>window.__xss=2</script>",
        "<script>window.__xss=4</script>",
    ] {
        assert!(text.contains(hostile), "{hostile:?} is not shown as text");
    }
    app.screenshot("e2e-xss.png").await;
    let executed = app
        .js(
            "return [typeof window.__xss, document.querySelectorAll('img[src=\"x\"], svg[onload]').length,
                     [...document.scripts].filter(s => s.textContent.includes('__xss')).length];",
        )
        .await;
    assert_eq!(
        executed,
        json!(["undefined", 0, 0]),
        "something from the backend executed or became markup"
    );
    app.stop().await;
    authd.terminate(Duration::from_secs(5));
}
