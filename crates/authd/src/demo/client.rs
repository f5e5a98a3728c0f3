//! The simulated clients' HTTP: every call goes to the in-process authd on loopback, with the
//! simulated address in `X-Forwarded-For` (authd trusts 127.0.0.1 as a proxy in the demo) and
//! the client's user agent.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::secrets::Sensitive;

/// Per-request bound: a stuck call never stalls the demo for long.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Http {
    client: reqwest::Client,
    base: String,
}

/// Status and JSON body (or `Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `error` code of an error body.
    pub fn code(&self) -> &str {
        self.body.get("error").and_then(Value::as_str).unwrap_or("")
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }
}

/// Tokens of one session as a client holds them.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: Sensitive<String>,
    pub refresh: Sensitive<String>,
    pub sid: String,
    /// Access-token expiry on the clock of the moment they were issued.
    pub exp_ms: i64,
}

impl Tokens {
    /// From a login or refresh response received at `now_ms`.
    pub fn from_reply(r: &Reply, now_ms: i64) -> Option<Tokens> {
        Some(Tokens {
            access: Sensitive(r.str_field("access_token")?.to_owned()),
            refresh: Sensitive(r.str_field("refresh_token")?.to_owned()),
            sid: r.str_field("session_id")?.to_owned(),
            exp_ms: now_ms + r.body.get("expires_in").and_then(Value::as_i64).unwrap_or(0) * 1000,
        })
    }
}

/// Who is calling: the simulated address and user agent.
#[derive(Debug, Clone, Copy)]
pub struct As<'a> {
    pub ip: IpAddr,
    pub user_agent: &'a str,
}

impl Http {
    /// A client for `base` (`http://127.0.0.1:PORT`). Proxies from the environment are ignored:
    /// the demo only ever talks to loopback.
    pub fn new(base: String) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Http { client, base })
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        who: As<'_>,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-forwarded-for", who.ip.to_string())
            .header(reqwest::header::USER_AGENT, who.user_agent);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str, who: As<'_>, bearer: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, who, Some(bearer), None).await
    }

    pub async fn post(
        &self,
        path: &str,
        who: As<'_>,
        bearer: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, who, bearer, Some(body)).await
    }

    pub async fn refresh(&self, who: As<'_>, refresh: &str) -> anyhow::Result<Reply> {
        self.post("/auth/refresh", who, None, json!({ "refresh_token": refresh }))
            .await
    }
}
