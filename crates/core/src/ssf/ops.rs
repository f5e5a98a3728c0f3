//! The console's Shared Signals operations (one call per CLI subcommand or command), kept
//! beside the module rather than in `console.rs`.

use std::net::SocketAddr;

use crate::audit::Log;
use crate::config::Profile;
use crate::console::Console;
use crate::error::Error;
use crate::http::{ClientOptions, HttpClient};

use super::receive::{self, Inbox, ReceivedSignal};
use super::{Delivery, Error as SsfError, Transmitter};

fn http_for(profile: &Profile) -> Result<HttpClient, Error> {
    Ok(HttpClient::new(ClientOptions {
        timeout: Some(profile.timeout),
        ca_file: profile.ca_file.clone(),
        ..Default::default()
    })?)
}

impl Console {
    /// The profile's SET transmitter, or `None` without an `ssf` table. Reads (or creates) the
    /// signing key in the keyring.
    pub fn ssf_transmitter(&self, profile: &Profile, log: &Log) -> Result<Option<Transmitter>, Error> {
        let Some(config) = profile.ssf.clone() else {
            return Ok(None);
        };
        let signer = super::signing_key(self.secrets().as_ref(), &profile.name)?;
        Ok(Some(Transmitter {
            log: log.clone(),
            profile: profile.name.clone(),
            idp: profile.base_url.as_str().trim_end_matches('/').to_owned(),
            config,
            signer,
            http: http_for(profile)?,
        }))
    }

    /// The transmitter of `profile` (the active one for `None`), or `None` when the profile has
    /// no `ssf` table; with the profile's name.
    async fn transmitter_of(&self, profile: Option<&str>) -> Result<(String, Option<Transmitter>), Error> {
        let config = self.config()?;
        let profile = config.resolve(profile)?.clone();
        if profile.ssf.is_none() {
            return Ok((profile.name, None));
        }
        let log = self.audit_log().await?;
        let t = self.ssf_transmitter(&profile, &log)?;
        Ok((profile.name, t))
    }

    async fn required_transmitter(&self, profile: Option<&str>) -> Result<Transmitter, Error> {
        match self.transmitter_of(profile).await? {
            (_, Some(t)) => Ok(t),
            (name, None) => Err(SsfError::Config(format!("profile {name} has no ssf table")).into()),
        }
    }

    /// Pushes the SETs that are due (all pending ones when `now`).
    pub async fn ssf_deliver(&self, profile: Option<&str>, now: bool) -> Result<Delivery, Error> {
        let t = self.required_transmitter(profile).await?;
        if now {
            t.retry_now().await?;
        }
        Ok(t.deliver_due().await?)
    }

    /// One delivery pass for the active profile's outbox, as the desktop's live loop runs it
    /// between syncs: `None` when the profile has no `ssf` table (nothing to deliver).
    pub async fn ssf_deliver_pending(&self) -> Result<Option<Delivery>, Error> {
        match self.transmitter_of(None).await? {
            (_, Some(t)) => Ok(Some(t.deliver_due().await?)),
            (_, None) => Ok(None),
        }
    }

    /// The public keys receivers verify our SETs with.
    pub async fn ssf_jwks(&self, profile: Option<&str>) -> Result<serde_json::Value, Error> {
        Ok(self.required_transmitter(profile).await?.jwks())
    }

    /// Accepts SETs pushed by the profile's configured transmitter at `listen` until `shutdown`.
    pub async fn ssf_receive(
        &self,
        profile: Option<&str>,
        listen: SocketAddr,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let config = self.config()?;
        let profile = config.resolve(profile)?.clone();
        let transmitter = profile
            .ssf
            .as_ref()
            .and_then(|s| s.transmitter.clone())
            .ok_or_else(|| {
                SsfError::Config(format!(
                    "profile {} has no [profiles.{}.ssf.transmitter]",
                    profile.name, profile.name
                ))
            })?;
        let rules = receive::rules_for(&http_for(&profile)?, &transmitter).await?;
        let inbox = Inbox {
            log: self.audit_log().await?,
            profile: profile.name.clone(),
            rules,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| SsfError::Io(format!("binding {listen}: {e}")))?;
        tracing::info!(%listen, profile = %profile.name, "accepting pushed SETs");
        Ok(receive::serve(inbox, listener, shutdown).await?)
    }

    /// The newest SETs received for a profile.
    pub async fn ssf_received(
        &self,
        profile: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReceivedSignal>, Error> {
        let config = self.config()?;
        let profile = config.resolve(profile)?.clone();
        let log = self.audit_log().await?;
        Ok(receive::recent(&log, &profile.name, limit.clamp(1, 1000)).await?)
    }
}
