//! The thieves: take hold of the victim's session, replay it on schedule, and after a refusal
//! keep trying a few times before giving up, recording what authd answered.

use std::net::IpAddr;

use super::client::{As, Reply, Tokens};
use super::devices::{learn, request_of};
use super::schedule::{self, AttackKind, MINUTE, Req, SECOND, What};
use super::{Demo, Mode, REFRESH_AHEAD_MS, STEAL_ATTEMPTS, THIEF_RETRIES};

impl Demo {
    pub(super) fn steal(&mut self, k: usize) {
        let victim = schedule::laptop(self.attacks[k].victim);
        let now = self.now_ms();
        let tokens = self.devices.get(victim).and_then(|d| d.tokens.clone());
        let th = &mut self.thieves[k];
        match tokens {
            Some(t) if th.mode == Mode::Waiting => {
                th.sid = Some(t.sid.clone());
                th.tokens = Some(t);
                th.mode = Mode::Planned;
                th.observed.stolen_at_ms = Some(now);
                tracing::info!(attack = %self.attacks[k].id, kind = ?self.attacks[k].kind, "session stolen");
            }
            None if th.mode == Mode::Waiting && th.steal_attempts < STEAL_ATTEMPTS => {
                // The victim holds no session right now: try again shortly.
                th.steal_attempts += 1;
                self.push(now + MINUTE, What::Steal { attack: k });
            }
            _ => {}
        }
    }

    /// The thief's address and user agent for planned place `via`.
    pub(super) fn thief_identity(&self, k: usize, via: usize) -> (IpAddr, String) {
        let a = &self.attacks[k];
        let victim = &self.devices[schedule::laptop(a.victim)];
        match &a.attacker {
            Some(x) => (
                x.places
                    .get(via)
                    .or(x.places.first())
                    .map_or(self.plan.users[a.victim].home.ip, |p| p.ip),
                x.user_agent.clone(),
            ),
            None => (
                victim.last_ip.unwrap_or(self.plan.users[a.victim].home.ip),
                victim.user_agent.clone(),
            ),
        }
    }

    pub(super) async fn thief_step(&mut self, k: usize, req: Req, via: usize) -> anyhow::Result<()> {
        match self.thieves[k].mode {
            Mode::Planned => {}
            Mode::Waiting => {
                self.thieves[k].observed.skipped += 1;
                return Ok(());
            }
            Mode::Retrying(_) | Mode::Done => return Ok(()),
        }
        let now = self.now_ms();
        let (ip, ua) = self.thief_identity(k, via);
        self.freshen_thief_tokens(k, ip, &ua).await?;
        let reply = self.thief_send(k, req, ip, &ua).await?;
        if reply.status == 401 {
            if self.attacks[k].kind == AttackKind::PostLogoutReplay {
                // Try the stolen refresh token too (refused: the session is gone).
                self.thief_refresh(k, ip, &ua).await?;
            }
            let th = &mut self.thieves[k];
            th.mode = Mode::Retrying(THIEF_RETRIES);
            let at = now + th.rng.range(45, 90) * SECOND;
            self.push(at, What::Retry { attack: k });
        }
        Ok(())
    }

    /// Before a thief request: an implant's copy is kept fresh by the victim's browser, which
    /// refreshes on its own timer while it holds the session; the idle-session thief refreshes
    /// its stolen pair itself. Either way the thief then sends what it has.
    pub(super) async fn freshen_thief_tokens(
        &mut self,
        k: usize,
        ip: IpAddr,
        ua: &str,
    ) -> anyhow::Result<()> {
        let now = self.now_ms();
        let stale = self.thieves[k]
            .tokens
            .as_ref()
            .is_none_or(|t| t.exp_ms - now < REFRESH_AHEAD_MS);
        if !stale {
            return Ok(());
        }
        if self.attacks[k].kind.follows_victim() {
            let device = schedule::laptop(self.attacks[k].victim);
            let d = &self.devices[device];
            if d.tokens.as_ref().map(|t| &t.sid) == self.thieves[k].sid.as_ref() {
                let ip = d.last_ip.unwrap_or(self.plan.users[d.user].home.ip);
                self.ensure_session(device, ip).await?;
            }
        } else if self.thieves[k].tokens.as_ref().is_some_and(|t| t.exp_ms <= now) {
            self.thief_refresh(k, ip, ua).await?;
        }
        Ok(())
    }

    pub(super) async fn thief_retry(&mut self, k: usize) -> anyhow::Result<()> {
        let Mode::Retrying(left) = self.thieves[k].mode else {
            return Ok(());
        };
        let (ip, ua) = self.thief_identity(k, 0);
        let now = self.now_ms();
        self.freshen_thief_tokens(k, ip, &ua).await?;
        let reply = self.thief_send(k, Req::Me, ip, &ua).await?;
        let th = &mut self.thieves[k];
        if reply.ok() {
            th.mode = Mode::Planned;
        } else if left <= 1 {
            th.mode = Mode::Done;
            th.observed.gave_up = true;
        } else {
            th.mode = Mode::Retrying(left - 1);
            let at = now + th.rng.range(2, 6) * MINUTE;
            self.push(at, What::Retry { attack: k });
        }
        Ok(())
    }

    pub(super) async fn thief_refresh(&mut self, k: usize, ip: IpAddr, ua: &str) -> anyhow::Result<()> {
        let Some(refresh) = self.thieves[k]
            .tokens
            .as_ref()
            .map(|t| t.refresh.expose().clone())
        else {
            return Ok(());
        };
        let r = self.http.refresh(As { ip, user_agent: ua }, &refresh).await?;
        let now = self.now_ms();
        let th = &mut self.thieves[k];
        match Tokens::from_reply(&r, now) {
            Some(t) if r.ok() => {
                th.tokens = Some(t);
                th.observed.refreshes += 1;
            }
            _ => th.observed.refresh_refused += 1,
        }
        Ok(())
    }

    pub(super) async fn thief_send(
        &mut self,
        k: usize,
        req: Req,
        ip: IpAddr,
        ua: &str,
    ) -> anyhow::Result<Reply> {
        let now = self.now_ms();
        let token = self.thieves[k]
            .tokens
            .as_ref()
            .map(|t| t.access.expose().clone())
            .unwrap_or_default();
        let (method, path, body) = request_of(req, &self.thieves[k].known);
        self.stats.api_requests += 1;
        let reply = self
            .http
            .send(method, &path, As { ip, user_agent: ua }, Some(&token), body)
            .await?;
        if let Some(rs) = &self.rs {
            // The same stolen token at the second, independent server.
            match rs.get("/rs/reports", As { ip, user_agent: ua }, &token).await {
                Ok(r) => {
                    self.stats.rs_requests += 1;
                    if r.status == 401 {
                        self.stats.rs_refused += 1;
                    }
                }
                Err(e) => {
                    self.stats.errors += 1;
                    tracing::warn!(error = %e, "resource server call failed");
                }
            }
        }
        let th = &mut self.thieves[k];
        learn(&mut th.known, &path, &reply);
        let o = &mut th.observed;
        o.requests += 1;
        o.first_request_ms.get_or_insert(now);
        o.last_request_ms = Some(now);
        if !o.ips.contains(&ip) {
            o.ips.push(ip);
        }
        if reply.ok() {
            o.allowed += 1;
        } else {
            o.denied += 1;
            if reply.status == 401 {
                o.unauthorized += 1;
                o.first_denied_ms.get_or_insert(now);
            }
            let reason = match reply.code() {
                "" => format!("http_{}", reply.status),
                c => c.to_owned(),
            };
            *o.denial_reasons.entry(reason).or_insert(0) += 1;
        }
        Ok(reply)
    }
}
