//! `gatehouse-authd demo`: realistic traffic with known attacks, so the console has something
//! real to find and its findings can be scored against a ground-truth file.
//!
//! The demo seeds users into an authd and then drives simulated clients against it over real
//! HTTP on loopback, each with its own address (`X-Forwarded-For`, trusted from 127.0.0.1 only)
//! and user agent. Addresses come from a real GeoIP database ([`geo`]); who lives where and
//! uses which networks is the [`plan`]; when everything happens is the [`schedule`]; all three
//! are pure functions of the seed, so a seed names one reproducible world. The [`Demo`] runner
//! executes the schedule in time order: in the past (history) by moving authd's manual
//! [`Clock`](crate::clock::Clock) to each event's time, in the present by waiting for it.
//!
//! Thieves work on one victim session each. Most hold a copy of whatever tokens the victim's
//! browser holds (an implant: the copy follows the victim's refreshes, never the victim's next
//! session); the idle-session thief holds one stolen pair and rotates the refresh token itself.
//! After a refusal a thief keeps trying a few times, then gives up, so revocations show as
//! denied activity. What each thief did is reported in the [`truth`] file.

pub mod client;
mod devices;
pub mod geo;
pub mod plan;
pub mod resource_server;
pub mod rng;
pub mod schedule;
mod thieves;
pub mod truth;

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::client::{Http, Tokens};
use self::geo::Atlas;
use self::plan::{Persona, Plan};
use self::rng::Rng;
use self::schedule::{AttackPlan, DAY, HOUR, MINUTE, SECOND, Timeline, What};
use self::truth::{AttackTruth, AttackerTruth, BenignTruth, GroundTruth, Observed, UserTruth, VictimTruth};
use crate::secrets::{self, Sensitive};
use crate::state::AppState;
use crate::users::{self, CreateError, NewUser};

/// Longest history the fast mode writes.
pub const MAX_HISTORY_DAYS: u32 = 14;
/// Refresh this long before the access token expires.
const REFRESH_AHEAD_MS: i64 = 2 * MINUTE;
/// Attempts a refused thief makes before giving up.
const THIEF_RETRIES: u32 = 5;
/// Attempts to catch a victim holding a session before a theft is abandoned.
const STEAL_ATTEMPTS: u32 = 20;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub users: usize,
    /// Days of history written fast, ending now (0: none).
    pub history_days: u32,
    /// Continue in real time after the history (the live demo).
    pub live: bool,
    /// Start of the history instead of `now - days` (tests pin it for reproducible times).
    pub history_from_ms: Option<i64>,
    /// Spacing of thief starts in a live wave.
    pub attack_interval: Duration,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            users: 24,
            history_days: 0,
            live: true,
            history_from_ms: None,
            attack_interval: Duration::from_secs(180),
        }
    }

    fn timeline(&self, now_ms: i64) -> anyhow::Result<Timeline> {
        if self.history_days > MAX_HISTORY_DAYS {
            anyhow::bail!("at most {MAX_HISTORY_DAYS} days of history");
        }
        if self.history_days == 0 && !self.live {
            anyhow::bail!("nothing to do: ask for days of history, live traffic, or both");
        }
        let interval = i64::try_from(self.attack_interval.as_millis()).unwrap_or(i64::MAX);
        if !(10 * SECOND..=6 * HOUR).contains(&interval) {
            anyhow::bail!("the attack interval must be between 10 s and 6 h");
        }
        let span = i64::from(self.history_days) * DAY;
        let from = self
            .history_from_ms
            .unwrap_or_else(|| now_ms.div_euclid(MINUTE) * MINUTE - span);
        if from + span > now_ms + SECOND {
            anyhow::bail!("the history must end in the past");
        }
        Ok(Timeline {
            from_ms: from,
            history_end_ms: from + span,
            live: self.live,
            attack_interval_ms: interval,
        })
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub events: u64,
    /// `/api` requests (users and thieves).
    pub api_requests: u64,
    pub logins: u64,
    pub refreshes: u64,
    pub logouts: u64,
    /// Transport errors and unexpected answers (the demo carries on).
    pub errors: u64,
    pub elapsed: Duration,
    /// Thief calls to the guarded resource server, and how many it refused with 401.
    pub rs_requests: u64,
    pub rs_refused: u64,
}

struct Scheduled {
    at: i64,
    seq: u64,
    what: What,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest (then first scheduled) event.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Ids a client learned from listings, to open details like a person would.
#[derive(Default)]
struct Known {
    projects: Vec<i64>,
    invoices: Vec<i64>,
}

struct Account {
    user_id: i64,
    password: Sensitive<String>,
    totp: Option<Vec<u8>>,
}

struct Device {
    user: usize,
    user_agent: String,
    tokens: Option<Tokens>,
    last_ip: Option<IpAddr>,
    known: Known,
    /// Suspended: skip until the end of the day.
    blocked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not yet in possession of the session.
    Waiting,
    Planned,
    Retrying(u32),
    Done,
}

struct Thief {
    sid: Option<String>,
    tokens: Option<Tokens>,
    mode: Mode,
    steal_attempts: u32,
    known: Known,
    rng: Rng,
    observed: Observed,
}

/// The runner: the schedule, the clients' state and the thieves'.
pub struct Demo {
    state: AppState,
    http: Http,
    atlas: Arc<Atlas>,
    plan: Plan,
    tl: Timeline,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    /// Next UTC day number to generate.
    next_day: i64,
    waves: u32,
    busy: Vec<(usize, i64, i64)>,
    attacks: Vec<AttackPlan>,
    thieves: Vec<Thief>,
    accounts: Vec<Account>,
    devices: Vec<Device>,
    benign: Vec<schedule::Benign>,
    /// Time of the last event run.
    cursor_ms: i64,
    stats: RunStats,
    /// The second resource server (behind `gatehouse-guard`) thieves also call, if any.
    rs: Option<Http>,
}

impl Demo {
    /// Plans the world, seeds its users into `state`'s database and prepares the schedule.
    /// `base` is the server's loopback URL. With history, `state` must run on a manual clock.
    pub async fn new(
        state: AppState,
        base: String,
        atlas: Arc<Atlas>,
        options: &Options,
    ) -> anyhow::Result<Demo> {
        let tl = options.timeline(crate::db::now_ms())?;
        if tl.has_history() {
            state
                .config
                .clock
                .advance_to(tl.from_ms)
                .map_err(|_| anyhow::anyhow!("history needs authd on a manual clock (Config::clock)"))?;
        }
        if !state.config.trusted_proxies.iter().any(IpAddr::is_loopback) {
            anyhow::bail!("the demo needs authd to trust X-Forwarded-For from loopback");
        }
        let plan = Plan::new(options.seed, options.users, &atlas)?;
        let mut accounts = Vec::with_capacity(plan.users.len());
        let mut devices = Vec::with_capacity(2 * plan.users.len());
        for (i, u) in plan.users.iter().enumerate() {
            let password = secrets::opaque_token("pw-")?;
            let mut roles = vec!["staff".to_owned()];
            if u.persona == Persona::Power {
                roles.push("automation".to_owned());
            }
            let created = users::create(
                &state.db,
                &state.hashing,
                NewUser {
                    username: u.username.clone(),
                    email: u.email.clone(),
                    display_name: u.display_name.clone(),
                    roles,
                    password: password.clone(),
                    mfa_required: u.totp,
                },
            )
            .await;
            let user = match created {
                Ok(user) => user,
                Err(CreateError::Exists) => {
                    anyhow::bail!(
                        "user {} already exists: the demo needs a fresh database",
                        u.username
                    )
                }
                Err(e) => return Err(e.into()),
            };
            accounts.push(Account {
                user_id: user.id,
                password,
                totp: None,
            });
            for ua in [Some(&u.laptop_ua), u.phone_ua.as_ref()] {
                devices.push(Device {
                    user: i,
                    user_agent: ua.cloned().unwrap_or_default(),
                    tokens: None,
                    last_ip: None,
                    known: Known::default(),
                    blocked: false,
                });
            }
        }
        // Accounts (and their demo projects) predate the history.
        let created_at = tl.from_ms / 1000 - 30 * 86_400;
        for a in &accounts {
            sqlx::query("UPDATE users SET created_at = ?, updated_at = ? WHERE id = ?")
                .bind(created_at)
                .bind(created_at)
                .bind(a.user_id)
                .execute(&state.db)
                .await?;
            sqlx::query("UPDATE projects SET created_at = ? WHERE owner_id = ?")
                .bind(created_at)
                .bind(a.user_id)
                .execute(&state.db)
                .await?;
        }
        let mut demo = Demo {
            state,
            http: Http::new(base)?,
            rs: None,
            atlas,
            plan,
            tl,
            queue: BinaryHeap::new(),
            seq: 0,
            next_day: tl.from_ms.div_euclid(DAY) - 1,
            waves: 0,
            busy: Vec::new(),
            attacks: Vec::new(),
            thieves: Vec::new(),
            accounts,
            devices,
            benign: Vec::new(),
            cursor_ms: tl.from_ms,
            stats: RunStats::default(),
        };
        demo.generate_until(tl.from_ms);
        Ok(demo)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn timeline(&self) -> Timeline {
        self.tl
    }

    pub fn attacks(&self) -> &[AttackPlan] {
        &self.attacks
    }

    /// Thieves also call the resource server at `base` (see [`resource_server`]) with each
    /// stolen token they use at authd.
    pub fn use_resource_server(&mut self, base: String) -> anyhow::Result<()> {
        self.rs = Some(Http::new(base)?);
        Ok(())
    }

    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    pub fn atlas(&self) -> &Atlas {
        &self.atlas
    }

    fn push(&mut self, at: i64, what: What) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            what,
        });
    }

    /// Plans waves and generates days until every event before `t` is queued.
    fn generate_until(&mut self, t: i64) {
        // Events of day `d` start no earlier than its UTC start minus 14 h (the largest offset).
        while (self.next_day * DAY - 15 * HOUR) <= t {
            let day = self.next_day;
            let horizon = (day + 2) * DAY;
            let wanted = self.tl.waves_until(horizon);
            while self.waves < wanted {
                let first = self.attacks.len();
                let wave = schedule::plan_wave(
                    &self.plan,
                    &self.atlas,
                    &self.tl,
                    self.waves,
                    first,
                    &mut self.busy,
                );
                for (i, a) in wave.into_iter().enumerate() {
                    let index = first + i;
                    let mut steps = vec![(a.stolen_at_ms, What::Steal { attack: index })];
                    schedule::thief_steps(&a, self.plan.seed, &mut steps, index);
                    self.thieves.push(Thief {
                        sid: None,
                        tokens: None,
                        mode: Mode::Waiting,
                        steal_attempts: 0,
                        known: Known::default(),
                        rng: Rng::derive(self.plan.seed, &format!("retry/{}", a.id)),
                        observed: Observed::default(),
                    });
                    self.attacks.push(a);
                    for (at, what) in steps {
                        self.push_in_window(at, what);
                    }
                }
                self.waves += 1;
            }
            let mut events = Vec::new();
            for u in 0..self.plan.users.len() {
                let off = self.plan.users[u].utc_offset_min;
                let constraints: Vec<schedule::Constraint> = self
                    .attacks
                    .iter()
                    .filter(|a| a.victim == u && schedule::local_day(a.constraint.start_ms(), off) == day)
                    .map(|a| a.constraint)
                    .collect();
                schedule::user_day(&self.plan, u, day, &constraints, &mut events, &mut self.benign);
            }
            for (at, what) in events {
                self.push_in_window(at, what);
            }
            self.next_day += 1;
        }
    }

    fn push_in_window(&mut self, at: i64, what: What) {
        if at < self.tl.from_ms || self.tl.end_ms().is_some_and(|end| at >= end) {
            return;
        }
        self.push(at, what);
    }

    fn next_event_time(&mut self) -> Option<i64> {
        loop {
            let horizon = self.next_day * DAY - 15 * HOUR;
            match self.queue.peek() {
                Some(e) if e.at < horizon => return Some(e.at),
                _ if self.tl.end_ms().is_some_and(|end| horizon >= end) => {
                    return self.queue.peek().map(|e| e.at);
                }
                _ => self.generate_until(horizon),
            }
        }
    }

    /// Runs the history (fast) part: every event before the end of the history. Flushes
    /// activity to the database before returning.
    pub async fn run_history(&mut self) -> anyhow::Result<RunStats> {
        let end = self.tl.history_end_ms;
        self.run_until(end, None).await
    }

    /// Runs events before `until_ms`: those in the history at once on the manual clock, the
    /// others in real time (the clock then follows the system clock). Stops early when `stop`
    /// turns true. Flushes activity before returning.
    pub async fn run_until(
        &mut self,
        until_ms: i64,
        mut stop: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> anyhow::Result<RunStats> {
        let started = Instant::now();
        let clock = self.state.config.clock.clone();
        let mut last_day_logged = self.cursor_ms.div_euclid(DAY);
        loop {
            if stop.as_ref().is_some_and(|s| *s.borrow()) {
                break;
            }
            let Some(at) = self.next_event_time() else {
                break;
            };
            if at >= until_ms {
                // A live stretch lasts until `until_ms` even when nothing happens before then.
                if until_ms > self.tl.history_end_ms {
                    clock.follow_system();
                    sleep_until(until_ms, &mut stop).await;
                }
                break;
            }
            if at < self.tl.history_end_ms && clock.is_manual() {
                clock.advance_to(at)?;
            } else {
                if clock.is_manual() {
                    clock.follow_system();
                    tracing::info!("history written; the demo continues in real time");
                }
                if !sleep_until(at, &mut stop).await {
                    break;
                }
            }
            let Some(ev) = self.queue.pop() else {
                break;
            };
            self.cursor_ms = ev.at;
            self.stats.events += 1;
            if let Err(e) = self.handle(ev.what).await {
                self.stats.errors += 1;
                tracing::debug!(error = %e, "demo event failed");
            }
            let day = self.cursor_ms.div_euclid(DAY);
            if day != last_day_logged {
                last_day_logged = day;
                tracing::info!(
                    requests = self.stats.api_requests,
                    logins = self.stats.logins,
                    "simulated up to day {}",
                    day - self.tl.from_ms.div_euclid(DAY)
                );
            }
        }
        if until_ms <= self.tl.history_end_ms && clock.is_manual() {
            clock.advance_to(until_ms.min(self.tl.history_end_ms))?;
        }
        self.state.recorder.flush().await;
        self.stats.elapsed += started.elapsed();
        Ok(self.stats.clone())
    }

    fn now_ms(&self) -> i64 {
        self.state.now_ms()
    }
}

/// Sleeps until unix time `t_ms` on the system clock; false when `stop` fired (or its sender
/// went away) first.
async fn sleep_until(t_ms: i64, stop: &mut Option<tokio::sync::watch::Receiver<bool>>) -> bool {
    let wait = t_ms - crate::db::now_ms();
    if wait <= 0 {
        return true;
    }
    let sleep = tokio::time::sleep(Duration::from_millis(wait as u64));
    match stop {
        Some(s) => tokio::select! {
            _ = sleep => true,
            _ = s.changed() => false,
        },
        None => {
            sleep.await;
            true
        }
    }
}

impl Demo {
    async fn handle(&mut self, what: What) -> anyhow::Result<()> {
        match what {
            What::Device { device, ip, req } => self.device_request(device, ip, req).await,
            What::EndDay { device, logout } => self.end_day(device, logout).await,
            What::Steal { attack } => {
                self.steal(attack);
                Ok(())
            }
            What::Thief { attack, req, via } => self.thief_step(attack, req, via).await,
            What::Retry { attack } => self.thief_retry(attack).await,
        }
    }

    /// The ground truth so far.
    pub fn ground_truth(&self) -> GroundTruth {
        let mode = match (self.tl.has_history(), self.tl.live) {
            (true, true) => "fast+continuous",
            (true, false) => "fast",
            _ => "continuous",
        };
        let users = self
            .plan
            .users
            .iter()
            .zip(&self.accounts)
            .map(|(u, a)| UserTruth {
                username: u.username.clone(),
                user_id: a.user_id,
                persona: u.persona,
                totp: u.totp,
                utc_offset_min: u.utc_offset_min,
                home: u.home.clone(),
                office: u.office.clone(),
                vpn_exit: u.vpn_exit.clone(),
                phone: u.phone_ua.is_some(),
                laptop_user_agent: u.laptop_ua.clone(),
                phone_user_agent: u.phone_ua.clone(),
            })
            .collect();
        let until = self.cursor_ms;
        // Waves are planned ahead; only attacks whose theft time has come are reported.
        let attacks = self
            .attacks
            .iter()
            .zip(&self.thieves)
            .filter(|(a, _)| a.stolen_at_ms <= until)
            .map(|(a, th)| {
                let u = &self.plan.users[a.victim];
                AttackTruth {
                    id: a.id.clone(),
                    kind: a.kind,
                    description: a.kind.describe(),
                    wave: a.wave,
                    victim: VictimTruth {
                        username: u.username.clone(),
                        user_id: self.accounts[a.victim].user_id,
                        session_id: th.sid.clone(),
                        home: u.home.clone(),
                        user_agent: u.laptop_ua.clone(),
                    },
                    attacker: match &a.attacker {
                        Some(x) => AttackerTruth {
                            planned: x.places.clone(),
                            user_agent: x.user_agent.clone(),
                            distance_km: x.distance_km,
                            rides_victim_network: false,
                        },
                        None => AttackerTruth {
                            planned: Vec::new(),
                            user_agent: u.laptop_ua.clone(),
                            distance_km: 0.0,
                            rides_victim_network: true,
                        },
                    },
                    stolen_at_ms: a.stolen_at_ms,
                    from_ms: a.from_ms,
                    planned_until_ms: a.until_ms,
                    victim_behaviour: a.constraint,
                    observed: th.observed.clone(),
                }
            })
            .collect();
        let mut benign: Vec<BenignTruth> = Vec::new();
        for u in &self.plan.users {
            match (u.persona, &u.vpn_exit) {
                (Persona::Vpn, Some(exit)) => benign.push(BenignTruth::Vpn {
                    username: u.username.clone(),
                    home: u.home.clone(),
                    exit: exit.clone(),
                }),
                (Persona::Power, _) => benign.push(BenignTruth::PowerUser {
                    username: u.username.clone(),
                }),
                _ => {}
            }
        }
        benign.extend(
            self.benign
                .iter()
                .filter(|b| match b {
                    schedule::Benign::Travel { depart_ms, .. } => {
                        *depart_ms >= self.tl.from_ms && *depart_ms <= until
                    }
                })
                .cloned()
                .map(BenignTruth::Other),
        );
        GroundTruth {
            schema: truth::SCHEMA,
            attribution: self.atlas.attribution().to_owned(),
            geoip: truth::GeoipSource {
                database: self.atlas.source().to_owned(),
                database_type: self.atlas.database_type().to_owned(),
                build_epoch: self.atlas.build_epoch(),
            },
            seed: self.plan.seed,
            mode: mode.to_owned(),
            window: truth::Window {
                from_ms: self.tl.from_ms,
                history_until_ms: self.tl.history_end_ms,
                until_ms: until,
            },
            users,
            attacks,
            benign,
        }
    }
}

/// One line per attack, for humans (the CLI prints them).
pub fn summary(truth: &GroundTruth) -> Vec<String> {
    truth
        .attacks
        .iter()
        .map(|a| {
            format!(
                "{} {:<22} victim={:<18} session={} requests={} denied={}",
                a.id,
                serde_json::to_value(a.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                a.victim.username,
                a.victim.session_id.as_deref().unwrap_or("-"),
                a.observed.requests,
                a.observed.denied
            )
        })
        .collect()
}
