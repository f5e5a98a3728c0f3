//! The users' devices: log in (enrolling TOTP or resetting a password when authd asks),
//! refresh ahead of expiry, browse, and end the day with a logout or by just going away.

use std::net::IpAddr;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{As, Reply, Tokens};
use super::schedule::{self, Req};
use super::{Demo, Known, Mode, REFRESH_AHEAD_MS};
use crate::secrets;

impl Demo {
    pub(super) async fn device_request(&mut self, device: usize, ip: IpAddr, req: Req) -> anyhow::Result<()> {
        if self.devices.get(device).is_none_or(|d| d.blocked) {
            return Ok(());
        }
        self.devices[device].last_ip = Some(ip);
        if !self.ensure_session(device, ip).await? {
            return Ok(());
        }
        let reply = self.device_api(device, ip, req).await?;
        if reply.status == 401 {
            // Revoked under the user's feet: log in again, like any client, and retry once.
            self.devices[device].tokens = None;
            if self.ensure_session(device, ip).await? {
                self.device_api(device, ip, req).await?;
            }
        }
        Ok(())
    }

    async fn device_api(&mut self, device: usize, ip: IpAddr, req: Req) -> anyhow::Result<Reply> {
        let d = &self.devices[device];
        let token = d
            .tokens
            .as_ref()
            .map(|t| t.access.expose().clone())
            .unwrap_or_default();
        let ua = d.user_agent.clone();
        let (method, path, body) = request_of(req, &d.known);
        self.stats.api_requests += 1;
        let reply = self
            .http
            .send(method, &path, As { ip, user_agent: &ua }, Some(&token), body)
            .await?;
        learn(&mut self.devices[device].known, &path, &reply);
        Ok(reply)
    }

    /// Makes sure the device holds a session with an access token good for a while.
    pub(super) async fn ensure_session(&mut self, device: usize, ip: IpAddr) -> anyhow::Result<bool> {
        let now = self.now_ms();
        let Some(t) = self.devices[device].tokens.clone() else {
            return self.login(device, ip).await;
        };
        if t.exp_ms - now > REFRESH_AHEAD_MS {
            return Ok(true);
        }
        let ua = self.devices[device].user_agent.clone();
        let r = self
            .http
            .refresh(As { ip, user_agent: &ua }, t.refresh.expose())
            .await?;
        match Tokens::from_reply(&r, self.now_ms()) {
            Some(new) if r.ok() => {
                self.stats.refreshes += 1;
                self.set_tokens(device, Some(new));
                Ok(true)
            }
            _ => {
                self.devices[device].tokens = None;
                self.login(device, ip).await
            }
        }
    }

    /// Keeps implants in sync: a thief following this device's session sees its new tokens.
    fn set_tokens(&mut self, device: usize, tokens: Option<Tokens>) {
        if let Some(t) = &tokens {
            for (k, a) in self.attacks.iter().enumerate() {
                let th = &mut self.thieves[k];
                if a.kind.follows_victim()
                    && schedule::laptop(a.victim) == device
                    && th.sid.as_deref() == Some(t.sid.as_str())
                    && th.mode != Mode::Done
                {
                    th.tokens = Some(t.clone());
                }
            }
        }
        self.devices[device].tokens = tokens;
    }

    async fn login(&mut self, device: usize, ip: IpAddr) -> anyhow::Result<bool> {
        let user = self.devices[device].user;
        let ua = self.devices[device].user_agent.clone();
        let who = As { ip, user_agent: &ua };
        let username = self.plan.users[user].username.clone();
        // A TOTP step can be spent only once: a code from the next step (the authenticator
        // app showing the next code half a minute later) when this one was just used.
        let mut step_ahead = 0;
        for _ in 0..4 {
            let now = self.now_ms();
            let mut body = json!({
                "username": username,
                "password": self.accounts[user].password.expose(),
            });
            if let Some(secret) = &self.accounts[user].totp {
                let at = (now / 1000 + 30 * step_ahead).max(0) as u64;
                body["totp_code"] = json!(crate::mfa::current_code(secret, at)?);
            }
            let r = self.http.post("/auth/login", who, None, body).await?;
            if r.ok() {
                self.stats.logins += 1;
                let tokens = Tokens::from_reply(&r, self.now_ms());
                let ok = tokens.is_some();
                self.set_tokens(device, tokens);
                return Ok(ok);
            }
            match r.code() {
                "invalid_mfa_code" if step_ahead == 0 => step_ahead = 1,
                "mfa_enrollment_required" => {
                    let token = r.str_field("enrollment_token").unwrap_or_default().to_owned();
                    if !self.enroll(user, who, &token).await? {
                        return Ok(false);
                    }
                    step_ahead = 1;
                }
                "password_change_required" => {
                    // An analyst forced a reset: the user picks a new password.
                    let token = r.str_field("reset_token").unwrap_or_default().to_owned();
                    let new = secrets::opaque_token("pw-")?;
                    let r = self
                        .http
                        .post(
                            "/auth/password",
                            who,
                            None,
                            json!({"reset_token": token, "new_password": new.expose()}),
                        )
                        .await?;
                    if !r.ok() {
                        return Ok(false);
                    }
                    self.accounts[user].password = new;
                    if let Some(enrollment) = r.str_field("enrollment_token").map(str::to_owned) {
                        if !self.enroll(user, who, &enrollment).await? {
                            return Ok(false);
                        }
                        step_ahead = 1;
                    }
                }
                "account_suspended" => {
                    self.devices[device].blocked = true;
                    return Ok(false);
                }
                _ => {
                    self.stats.errors += 1;
                    tracing::debug!(status = r.status, code = r.code(), "demo login refused");
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// TOTP enrollment as the user's authenticator app would do it.
    async fn enroll(&mut self, user: usize, who: As<'_>, token: &str) -> anyhow::Result<bool> {
        let r = self
            .http
            .post("/auth/mfa/enroll", who, None, json!({"enrollment_token": token}))
            .await?;
        let Some(secret) = r.str_field("secret").and_then(crate::mfa::decode_secret) else {
            return Ok(false);
        };
        let code = crate::mfa::current_code(&secret, (self.now_ms() / 1000).max(0) as u64)?;
        let r = self
            .http
            .post(
                "/auth/mfa/confirm",
                who,
                None,
                json!({"enrollment_token": token, "code": code}),
            )
            .await?;
        if r.ok() {
            self.accounts[user].totp = Some(secret);
        }
        Ok(r.ok())
    }

    pub(super) async fn end_day(&mut self, device: usize, logout: bool) -> anyhow::Result<()> {
        let Some(d) = self.devices.get_mut(device) else {
            return Ok(());
        };
        d.blocked = false;
        let Some(t) = d.tokens.take() else {
            return Ok(());
        };
        if logout {
            let ua = d.user_agent.clone();
            let ip = d.last_ip.unwrap_or(self.plan.users[d.user].home.ip);
            let r = self
                .http
                .post(
                    "/auth/logout",
                    As { ip, user_agent: &ua },
                    None,
                    json!({"refresh_token": t.refresh.expose()}),
                )
                .await?;
            if r.ok() {
                self.stats.logouts += 1;
            }
        }
        Ok(())
    }
}

/// Method, path and body of a request, using ids the client has seen.
pub(super) fn request_of(req: Req, known: &Known) -> (Method, String, Option<Value>) {
    let get = |p: String| (Method::GET, p, None);
    match req {
        Req::Me => get("/api/me".into()),
        Req::Projects => get("/api/projects".into()),
        Req::Project(i) => match known.projects.get(usize::from(i)) {
            Some(id) => get(format!("/api/projects/{id}")),
            None => get("/api/projects".into()),
        },
        Req::Invoices => get("/api/invoices".into()),
        Req::Invoice(i) => match known.invoices.get(usize::from(i)) {
            Some(id) => get(format!("/api/invoices/{id}")),
            None => get("/api/invoices".into()),
        },
        Req::InvoiceById(id) => get(format!("/api/invoices/{id}")),
        Req::Settings(false) => (
            Method::POST,
            "/api/me/settings".into(),
            Some(json!({"settings": {"theme": "dark"}})),
        ),
        // A thief points notifications elsewhere (classic account-takeover persistence).
        Req::Settings(true) => (
            Method::POST,
            "/api/me/settings".into(),
            Some(json!({"settings": {"notification_email": "billing-alerts@proton.example"}})),
        ),
    }
}

/// Remembers ids from a listing.
pub(super) fn learn(known: &mut Known, path: &str, reply: &Reply) {
    if !reply.ok() {
        return;
    }
    let ids = || -> Vec<i64> {
        reply
            .body
            .get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default()
    };
    match path {
        "/api/projects" => known.projects = ids(),
        "/api/invoices" => known.invoices = ids(),
        _ => {}
    }
}
