//! The harness: a real authd on a free loopback port, plus small HTTP helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_authd::config::{BootstrapClient, Config, Database, HashCost, RateLimit};
use gatehouse_authd::secrets::Sensitive;
use gatehouse_authd::users::{self, NewUser};
use gatehouse_authd::{AppState, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_ID: &str = "console";
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Authd {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub db_path: PathBuf,
    _dir: Option<Arc<tempfile::TempDir>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Authd {
    pub async fn start() -> Authd {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Authd {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let path = dir.path().join("authd.db");
        let mut a = Self::start_at(&path, configure).await;
        a._dir = Some(dir);
        a
    }

    /// Starts on an existing (or new) database file; the caller keeps the directory alive.
    pub async fn start_at(path: &Path, configure: impl FnOnce(&mut Config)) -> Authd {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = Config::new(Database::File(path.to_owned()), base.clone());
        config.hash_cost = HashCost::INSECURE_FAST;
        config.admin_clients.push(BootstrapClient {
            client_id: ADMIN_ID.into(),
            secret: Sensitive(ADMIN_SECRET.into()),
        });
        config.admin_rate_limit = RateLimit {
            limit: 1000,
            window: Duration::from_secs(60),
        };
        configure(&mut config);
        let server = Server::open(config).await.unwrap();
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async {
            let _ = rx.await;
        }));
        Authd {
            base,
            state,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            db_path: path.to_owned(),
            _dir: None,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Graceful stop: drains, flushes activity, closes the database.
    pub async fn stop(mut self) -> Option<Arc<tempfile::TempDir>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops within 10 s")
                .unwrap()
                .unwrap();
        }
        self._dir.take()
    }

    pub async fn add_user(&self, username: &str) -> i64 {
        self.add_user_with(username, false).await
    }

    pub async fn add_user_with(&self, username: &str, mfa_required: bool) -> i64 {
        users::create(
            &self.state.db,
            &self.state.hashing,
            NewUser {
                username: username.into(),
                email: format!("{username}@example.test"),
                display_name: format!("User {username}"),
                roles: vec!["analyst".into()],
                password: Sensitive(PASSWORD.into()),
                mfa_required,
            },
        )
        .await
        .unwrap()
        .id
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn login(&self, username: &str) -> Value {
        let r = self
            .post(
                "/auth/login",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.body);
        r.body
    }

    pub async fn admin_token(&self) -> String {
        let r = self
            .post(
                "/admin/v1/token",
                None,
                json!({"grant_type": "client_credentials", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}),
            )
            .await;
        assert_eq!(r.status, 200, "admin token: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Activity rows of a session, via the admin API.
    pub async fn activity(&self, admin: &str, sid: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/admin/v1/sessions/{sid}/activity"), admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["items"].as_array().unwrap().clone()
    }
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Decodes a JWT's header and claims without verifying (assertions only).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let mut it = token.split('.');
    let dec = |p: &str| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    let h = dec(it.next().unwrap());
    let c = dec(it.next().unwrap());
    (h, c)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A TOTP code for a base32 secret at `now + offset_steps * 30`.
pub fn totp(secret_b32: &str, offset_steps: i64) -> String {
    let secret = gatehouse_authd::mfa::decode_secret(secret_b32).unwrap();
    gatehouse_authd::mfa::current_code(&secret, (now() as i64 + offset_steps * 30) as u64).unwrap()
}
