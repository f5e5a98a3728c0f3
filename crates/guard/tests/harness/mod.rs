#![allow(dead_code)] // shared by tests and benches; each uses a part
//! A real authd on loopback, a TCP proxy in front of it that a test can cut (every open
//! connection dropped, new ones refused) and restore, and a guarded axum server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gatehouse_authd::config::{BootstrapClient, Config, Database, HashCost, RateLimit};
use gatehouse_authd::secrets::Sensitive;
use gatehouse_authd::users::{self, NewUser};
use gatehouse_authd::{AppState, Server};
use gatehouse_guard::{AccessToken, Guard, GuardConfig, GuardLayer};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

pub const ADMIN_ID: &str = "console";
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Authd {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Authd {
    /// authd on `addr` (port 0: any) over the database at `path`.
    pub async fn start_at(path: &Path, addr: SocketAddr) -> Authd {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = Config::new(Database::File(path.to_owned()), base.clone());
        config.hash_cost = HashCost::INSECURE_FAST;
        config.admin_clients.push(BootstrapClient {
            client_id: ADMIN_ID.into(),
            secret: Sensitive(ADMIN_SECRET.into()),
        });
        config.admin_rate_limit = RateLimit {
            limit: 100_000,
            window: Duration::from_secs(60),
        };
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
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("authd stops")
                .unwrap()
                .unwrap();
        }
    }

    pub async fn add_user(&self, username: &str) -> i64 {
        users::create(
            &self.state.db,
            &self.state.hashing,
            NewUser {
                username: username.into(),
                email: format!("{username}@example.test"),
                display_name: username.into(),
                roles: vec![],
                password: Sensitive(PASSWORD.into()),
                mfa_required: false,
            },
        )
        .await
        .unwrap()
        .id
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Value {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// Logs in: (access token, session id).
    pub async fn login(&self, username: &str) -> (String, String) {
        let v = self
            .post(
                "/auth/login",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        (
            v["access_token"].as_str().unwrap().to_owned(),
            v["session_id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn admin_token(&self) -> String {
        let v = self
            .post(
                "/admin/v1/token",
                None,
                json!({"grant_type": "client_credentials", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}),
            )
            .await;
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn revoke_session(&self, admin: &str, sid: &str) {
        self.post(
            &format!("/admin/v1/sessions/{sid}/revoke"),
            Some(admin),
            json!({}),
        )
        .await;
    }

    pub async fn revoke_token(&self, admin: &str, jti: &str) {
        self.post("/admin/v1/tokens/revoke", Some(admin), json!({"jti": jti}))
            .await;
    }

    pub async fn suspend(&self, admin: &str, user_id: i64) {
        self.post(
            &format!("/admin/v1/users/{user_id}/suspend"),
            Some(admin),
            json!({}),
        )
        .await;
    }

    /// The status and error code of a login attempt that is expected to fail.
    pub async fn login_refused(&self, username: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/auth/login", self.base))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn revoke_user(&self, admin: &str, user_id: i64) {
        self.post(
            &format!("/admin/v1/users/{user_id}/revoke-sessions"),
            Some(admin),
            json!({}),
        )
        .await;
    }
}

/// A TCP proxy that can be cut: `cut()` drops every open connection and refuses new ones
/// until `restore()`.
pub struct Proxy {
    pub base: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().await.push(h);
            }
        });
        Proxy {
            base,
            up,
            conns,
            accept,
        }
    }

    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().await.drain(..) {
            h.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

pub fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// The guard configured for this authd (feed and JWKS through `via`).
pub fn guard_config(authd: &Authd, via: &str) -> GuardConfig {
    let mut c = GuardConfig::for_authd(via, &authd.base, "gatehouse-api");
    c.max_backoff = Duration::from_millis(200);
    c
}

/// An axum server with the guard in front of one route that echoes the token's subject.
pub async fn guarded_server(guard: Guard) -> (String, JoinHandle<()>) {
    use axum::routing::get;
    use axum::{Extension, Json, Router};
    let app =
        Router::new()
            .route(
                "/rs/whoami",
                get(|Extension(t): Extension<AccessToken>| async move {
                    Json(json!({"sub": t.sub, "sid": t.sid}))
                }),
            )
            .layer(GuardLayer::new(guard));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

/// Retries `f` every 5 ms until it returns true or `within` passes.
pub async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
