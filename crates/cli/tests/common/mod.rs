//! A small harness for the CLI tests: a real gatehouse-authd process on a free loopback port
//! (the sibling binary in the same target folder), users created through its own CLI, logins and
//! requests over real HTTP, and the `gatehouse` binary run with its own home and the test
//! keyring namespace.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const ADMIN_CLIENT: &str = "gatehouse-console";
/// Distinctive, so the secret scan cannot miss it.
pub const ADMIN_SECRET: &str = "adm1n-S3CRET-q9v7x2-do-not-leak";
pub const PASSWORD: &str = "correct horse battery staple";

pub fn authd_bin() -> PathBuf {
    let gatehouse = PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"));
    let bin = gatehouse.with_file_name("gatehouse-authd");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p gatehouse-authd` (./x test does)",
        bin.display()
    );
    bin
}

pub struct Authd {
    pub url: String,
    pub db: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Authd {
    pub fn start(dir: &Path, extra: &[&str]) -> Authd {
        let mut a = Authd {
            url: String::new(),
            db: dir.join("authd.db"),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        a.spawn("127.0.0.1:0");
        a
    }

    fn spawn(&mut self, listen: &str) {
        let mut child = Command::new(authd_bin())
            .args(["serve", "--listen", listen, "--db"])
            .arg(&self.db)
            .args([
                "--admin-client",
                ADMIN_CLIENT,
                "--admin-secret-env",
                "GH_TEST_ADMIN_SECRET",
            ])
            .args(["--insecure-fast-hashing", "--trusted-proxy", "127.0.0.1"])
            .args(&self.extra)
            .env("GH_TEST_ADMIN_SECRET", ADMIN_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("authd's first line")
            .to_string();
        self.child = Some(child);
    }

    /// SIGKILL: a crash, not a clean shutdown.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and database.
    pub fn restart(&mut self) {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        for _ in 0..50 {
            if std::net::TcpListener::bind(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.spawn(&addr);
    }

    pub fn add_user(&self, username: &str, mfa: bool) {
        let mut cmd = Command::new(authd_bin());
        cmd.args(["user", "add", "--db"])
            .arg(&self.db)
            .args(["--insecure-fast-hashing", "--username", username, "--email"])
            .arg(format!("{username}@example.test"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if mfa {
            cmd.arg("--require-mfa");
        }
        let mut child = cmd.spawn().unwrap();
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

    /// Logs in from `ip` (through X-Forwarded-For, honoured from loopback); returns (token, sid).
    pub async fn login(&self, username: &str, ip: &str) -> (String, String) {
        let resp = reqwest::Client::new()
            .post(format!("{}/auth/login", self.url))
            .header("x-forwarded-for", ip)
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "login {username}");
        let v: serde_json::Value = resp.json().await.unwrap();
        (
            v["access_token"].as_str().unwrap().to_string(),
            v["session_id"].as_str().unwrap().to_string(),
        )
    }

    /// One request to the protected API; returns the status.
    pub async fn api(&self, token: &str, ip: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/api/me", self.url))
            .bearer_auth(token)
            .header("x-forwarded-for", ip)
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for Authd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `gatehouse` binary with its own home and the test keyring namespace.
pub struct Gh {
    pub home: PathBuf,
    /// `GATEHOUSE_LOG` for every run (the secret scan turns it up to debug).
    pub log: &'static str,
    /// Everything the CLI printed, for the secret scan.
    pub transcript: std::cell::RefCell<String>,
}

impl Gh {
    pub fn new(home: &Path) -> Gh {
        Gh {
            home: home.to_path_buf(),
            log: "warn",
            transcript: Default::default(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        c.env("GATEHOUSE_HOME", &self.home)
            .env("GATEHOUSE_KEYRING_NAMESPACE", "test")
            .env("GATEHOUSE_LOG", self.log)
            .env("GATEHOUSE_ACTOR", "analyst@test")
            .env_remove("GATEHOUSE_PROFILE");
        c
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.cmd();
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let mut t = self.transcript.borrow_mut();
        t.push_str(&String::from_utf8_lossy(&out.stdout));
        t.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "gatehouse {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    pub fn add_profile(&self, name: &str, authd: &Authd) {
        let out = self.run(
            &[
                "profile",
                "add",
                name,
                "--kind",
                "authd",
                "--url",
                &authd.url,
                "--client-id",
                ADMIN_CLIENT,
            ],
            Some(&format!("{ADMIN_SECRET}\n")),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

pub fn require_session_bus() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the tests through `./x test`, which starts D-Bus and an unlocked gnome-keyring"
    );
}

/// Every file under `dir`, as bytes (the secret scan).
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}
