//! The real app binary in WebKit, driven through tauri-driver and WebKitWebDriver. The test
//! starts everything it needs (Xvfb when there is no display, tauri-driver on free ports) and
//! stops it with SIGTERM, so no WebKitWebDriver or app process is left behind.

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::util::{Proc, artifacts_dir, display, free_port, require_session_bus, wait_until, which};

const APP: &str = env!("CARGO_BIN_EXE_gatehouse-desktop");

/// A running app session: Xvfb (if needed), tauri-driver, and a WebDriver client.
struct AppSession {
    client: Option<Client>,
    driver: Proc,
    _xvfb: Option<Proc>,
    home: tempfile::TempDir,
}

impl AppSession {
    async fn start() -> AppSession {
        Self::start_with(tempfile::tempdir().unwrap(), &[]).await
    }

    /// Starts the app with its own `GATEHOUSE_HOME` and extra environment.
    async fn start_with(home: tempfile::TempDir, env: &[(&str, String)]) -> AppSession {
        require_session_bus();
        let (display, xvfb) = display();
        let port = free_port();
        let native_port = free_port();
        let tauri_driver = which("tauri-driver").expect("tauri-driver not installed; run ./x test");
        let log = std::fs::File::create(artifacts_dir().join("tauri-driver.log")).unwrap();
        let mut driver = Proc::spawn(
            "tauri-driver",
            Command::new(tauri_driver)
                .args([
                    "--port",
                    &port.to_string(),
                    "--native-port",
                    &native_port.to_string(),
                ])
                .env("DISPLAY", &display)
                .env("GATEHOUSE_HOME", home.path())
                .env("GATEHOUSE_KEYRING_NAMESPACE", "test")
                .env("NO_AT_BRIDGE", "1")
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log)),
        );
        wait_until("tauri-driver to listen", Duration::from_secs(20), || {
            driver.assert_running();
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });

        // Another build of the app may be tested or measured (a release build, say).
        let app = std::env::var("GATEHOUSE_E2E_APP").unwrap_or_else(|_| APP.to_string());
        let caps = json!({ "tauri:options": { "application": app } });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        // tauri-driver accepts connections before the WebKitWebDriver it spawns for the session
        // does; a request that lands in between is cut off (hyper `IncompleteMessage`) without
        // the app having started. Ask again a few times, waiting longer each time (a cold start
        // of WebKit, the first run after the machine was idle, cut off three tries a second
        // apart), before calling it a failure.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let result = tokio::time::timeout(
                Duration::from_secs(60),
                ClientBuilder::rustls()
                    .unwrap()
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .await
            .expect("timed out starting the app through WebDriver");
            match result {
                Ok(c) => break c,
                Err(e) if attempt < 6 && format!("{e:?}").contains("IncompleteMessage") => {
                    driver.assert_running();
                    eprintln!("WebDriver session attempt {attempt} was cut off ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(attempt)).await;
                }
                Err(e) => panic!("WebDriver session: {e:?}"),
            }
        };
        AppSession {
            client: Some(client),
            driver,
            _xvfb: xvfb,
            home,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn text(&self, css: &str) -> String {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits (up to 20 s) until the element's text satisfies `ok`; returns the text.
    async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(el) = self.client().find(Locator::Css(css)).await
                && let Ok(t) = el.text().await
                && ok(&t)
            {
                return t;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn el(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_for(css).await;
        self.client().find(Locator::Css(css)).await.unwrap()
    }

    /// Waits (up to 20 s) until an element matches `css`.
    async fn wait_for(&self, css: &str) {
        self.wait_for_within(css, Duration::from_secs(20)).await;
    }

    async fn wait_for_within(&self, css: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.client().find(Locator::Css(css)).await.is_err() {
            if tokio::time::Instant::now() >= deadline {
                let body = self.js("return document.body.innerText;").await;
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), self.screenshot("e2e-failure.png")).await;
                panic!(
                    "timed out waiting for {css}; the window shows:\n{}",
                    body.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.el(css).await.click().await.unwrap();
    }

    async fn count(&self, css: &str) -> usize {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.client().execute(script, vec![]).await.unwrap()
    }

    /// Waits until the <img> matching `css` has decoded (its SVG is a real picture).
    async fn wait_image(&self, css: &str) {
        self.wait_for(css).await;
        let script = format!(
            "const i = document.querySelector({}); return !!i && i.complete && i.naturalWidth > 0;",
            serde_json::to_string(css).unwrap()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.js(&script).await != json!(true) {
            assert!(tokio::time::Instant::now() < deadline, "{css} never rendered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        // Let WebKit paint the current DOM before capturing: wait for two animation frames.
        // The app renders without GPU compositing, where WebKit takes a snapshot on the next
        // paint; an idle page never paints again, so keep one pixel in the corner changing
        // (alpha 1/255) until the capture is done.
        tokio::time::timeout(
            Duration::from_secs(10),
            self.client().execute_async(
                "const done = arguments[arguments.length - 1];
                 const px = document.createElement('div');
                 px.id = '__e2e_paint';
                 px.style.cssText = 'position:fixed;right:0;bottom:0;width:1px;height:1px;pointer-events:none;z-index:2147483647';
                 document.body.appendChild(px);
                 let on = false;
                 window.__e2ePaint = setInterval(() => { on = !on; px.style.background = on ? 'rgba(0,0,0,0.004)' : 'transparent'; }, 50);
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            ),
        )
        .await
        .expect("no animation frame within 10 s")
        .unwrap();
        let png = tokio::time::timeout(Duration::from_secs(20), self.client().screenshot())
            .await
            .expect("screenshot timed out")
            .unwrap();
        self.js("clearInterval(window.__e2ePaint); document.getElementById('__e2e_paint')?.remove(); return true;")
            .await;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(artifacts_dir().join(name), png).unwrap();
    }

    /// Closes the WebDriver session (which closes the app), then SIGTERMs tauri-driver.
    async fn stop(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), client.close()).await;
        }
        assert!(
            self.driver.terminate(Duration::from_secs(10)),
            "tauri-driver did not stop on SIGTERM"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_window_shows_keyring_and_rechecks_on_click() {
    let app = AppSession::start().await;

    // The first check runs on load.
    app.wait_text("[data-testid=checks]", |t| t.contains("Checked 1 time"))
        .await;
    assert_eq!(app.text("[data-testid=version]").await, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        app.text("[data-testid=data-dir]").await,
        app.home.path().join("data").display().to_string()
    );
    assert_eq!(
        app.text("[data-testid=keyring-backend]").await,
        "Secret Service (D-Bus)"
    );

    // A click runs a second round trip through IPC to the core and the real keyring.
    app.client()
        .find(Locator::Id("check-status"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_text("[data-testid=checks]", |t| t.contains("Checked 2 times"))
        .await;
    assert_eq!(app.text("[data-testid=keyring-state]").await, "Reachable");
    assert!(
        app.client()
            .find(Locator::Css("[data-testid=status-error]"))
            .await
            .is_err(),
        "no error is shown"
    );

    app.screenshot("e2e-status.png").await;

    // The app replaced itself with a copy that has WebKit's environment (no JavaScript JIT, no
    // DMA-BUF renderer; see `webkit_environment` in src-tauri/lib.rs) before WebKit started, and
    // its web process inherited it.
    let started = descendants(app.driver.pid());
    for comm in ["gatehouse-deskt", "WebKitWebProces"] {
        let pid = started
            .iter()
            .copied()
            .find(|p| crate::util::procfs::comm(*p).starts_with(comm))
            .unwrap_or_else(|| panic!("no {comm} process under tauri-driver"));
        let env = crate::util::procfs::environ(pid);
        for var in ["JSC_useJIT=0", "WEBKIT_DISABLE_DMABUF_RENDERER=1"] {
            assert!(env.iter().any(|v| v == var), "{comm} runs without {var}");
        }
    }

    // Everything tauri-driver started (WebKitWebDriver, and the app under it) must be gone after
    // the session is closed and the driver got SIGTERM.
    assert!(
        !started.is_empty(),
        "tauri-driver has no child processes while the app is open"
    );
    app.stop().await;
    wait_until("the driver's processes to exit", Duration::from_secs(10), || {
        started.iter().all(|pid| !alive(*pid))
    });
}

mod flows;
mod measure;

fn descendants(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    let children: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let mut all = children.clone();
    for c in children {
        all.extend(descendants(c));
    }
    all
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}
