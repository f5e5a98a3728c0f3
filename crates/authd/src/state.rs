//! The one shared state every handler gets, built by [`AppState::open`] for both the server and
//! the CLI subcommands that work on the same database.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::SqlitePool;

use crate::activity::{self, Recorder, Writer};
use crate::config::Config;
use crate::keys::KeyRing;
use crate::ratelimit::RateLimiter;
use crate::revocation::Revocations;
use crate::secrets::PasswordHashing;

pub struct Inner {
    pub config: Config,
    pub db: SqlitePool,
    pub keys: KeyRing,
    pub revocations: Revocations,
    pub recorder: Recorder,
    pub hashing: PasswordHashing,
    pub admin_limiter: RateLimiter,
    /// Hash checked when a login names an unknown user, so timing does not reveal usernames.
    pub dummy_hash: String,
    /// Flips to true when the server stops, ending long-lived streams.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Unix seconds on the user-plane clock ([`crate::clock`]).
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }

    /// Unix milliseconds on the user-plane clock.
    pub fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// Opens the database, loads keys and revocations, starts the activity writer.
    pub async fn open(config: Config) -> anyhow::Result<(AppState, Writer)> {
        config.validate()?;
        let db = crate::db::open(&config.database).await?;
        let hashing = PasswordHashing::new(config.hash_cost)?;
        crate::admin_clients::provision(&db, &hashing, &config.admin_clients).await?;
        let keys = KeyRing::load(&db, &config).await?;
        let revocations = Revocations::load(&db).await?;
        let (recorder, writer) = activity::start(
            db.clone(),
            config.activity_queue,
            config.activity_batch_rows,
            config.activity_flush_interval,
        );
        let dummy_hash = hashing.hash("gatehouse-dummy-password")?;
        let admin_limiter = RateLimiter::new(config.admin_rate_limit);
        Ok((
            AppState(Arc::new(Inner {
                config,
                db,
                keys,
                revocations,
                recorder,
                hashing,
                admin_limiter,
                dummy_hash,
                shutdown: tokio::sync::watch::Sender::new(false),
            })),
            writer,
        ))
    }
}
