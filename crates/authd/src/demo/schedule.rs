//! When things happen: each user's day (windows of activity on a network, visits made of a few
//! requests, the end of the day) and each attack wave (who is robbed, from where, when the thief
//! acts). Pure functions of the seed, the plan and the timeline; the runner only executes them.
//!
//! Days are generated lazily, one UTC day number at a time, so the continuous mode can run for
//! as long as it is left running. Attack waves are generated ahead of the days they touch, and
//! a victim's day is shaped around the attack: active when a concurrent replay needs them to be,
//! gone idle or logged out when the attack is about what happens after.

use std::net::IpAddr;

use serde::Serialize;

use super::geo::{Atlas, distance_km};
use super::plan::{self, Persona, Place, Plan, THIEF_UAS, UserPlan};
use super::rng::Rng;

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// How a stolen session is abused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Replayed from another continent while the victim is using it, with the thief's own UA.
    RemoteReplay,
    /// The same, with the victim's exact user agent.
    RemoteReplaySameUa,
    /// Replayed from a city a few hundred km away while the victim is active.
    NearbyReplay,
    /// Request bursts (invoice enumeration) through the victim's session, from the victim's own
    /// address and user agent (session riding: only the rate gives it away).
    RateAbuse,
    /// Replayed after the victim logged out: every request is refused.
    PostLogoutReplay,
    /// Stolen access and refresh tokens used after the victim went idle; the thief rotates the
    /// refresh token itself.
    IdleReplay,
}

/// The kinds in the order each wave runs them.
pub const KINDS: [AttackKind; 6] = [
    AttackKind::RemoteReplay,
    AttackKind::RemoteReplaySameUa,
    AttackKind::NearbyReplay,
    AttackKind::RateAbuse,
    AttackKind::PostLogoutReplay,
    AttackKind::IdleReplay,
];

impl AttackKind {
    pub fn describe(self) -> &'static str {
        match self {
            AttackKind::RemoteReplay => {
                "stolen session replayed from far away while the victim is active (thief's own user agent)"
            }
            AttackKind::RemoteReplaySameUa => {
                "stolen session replayed from far away while the victim is active, with the victim's exact user agent"
            }
            AttackKind::NearbyReplay => {
                "stolen session replayed from a city a few hundred km away while the victim is active"
            }
            AttackKind::RateAbuse => {
                "request bursts through the victim's session from the victim's own IP and user agent"
            }
            AttackKind::PostLogoutReplay => "stolen tokens replayed after the victim logged out",
            AttackKind::IdleReplay => {
                "stolen access and refresh tokens used after the victim went idle; the thief refreshes them"
            }
        }
    }

    /// Whether the thief's copy of the tokens follows the victim's refreshes (an implant in the
    /// victim's browser) rather than being one stolen pair the thief rotates itself.
    pub fn follows_victim(self) -> bool {
        self != AttackKind::IdleReplay
    }
}

/// What a victim's laptop must do for an attack to have its shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// Actively used over this span.
    Active { from_ms: i64, to_ms: i64 },
    /// Last request at `at_ms`, then logout or silence for the rest of the day.
    EndAt { at_ms: i64, logout: bool },
}

impl Constraint {
    pub fn start_ms(&self) -> i64 {
        match *self {
            Constraint::Active { from_ms, .. } => from_ms,
            Constraint::EndAt { at_ms, .. } => at_ms - LAST_WINDOW,
        }
    }
}

/// Length of the forced window before an `EndAt`.
const LAST_WINDOW: i64 = 35 * MINUTE;

/// Where a thief operates from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attacker {
    pub places: Vec<Place>,
    pub user_agent: String,
    /// From the victim's home city.
    pub distance_km: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackPlan {
    pub id: String,
    pub kind: AttackKind,
    pub wave: u32,
    /// Index into the plan's users.
    pub victim: usize,
    pub stolen_at_ms: i64,
    /// First planned thief request.
    pub from_ms: i64,
    pub until_ms: i64,
    /// `None`: the thief rides the victim's own address and user agent.
    pub attacker: Option<Attacker>,
    pub constraint: Constraint,
}

/// The span the demo covers.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    pub from_ms: i64,
    /// End of the fast-forwarded history (== `from_ms` without history).
    pub history_end_ms: i64,
    /// Whether traffic continues in real time after the history.
    pub live: bool,
    /// Spacing of thief starts within a live wave.
    pub attack_interval_ms: i64,
}

impl Timeline {
    pub fn has_history(&self) -> bool {
        self.history_end_ms > self.from_ms
    }

    /// End of everything (exclusive), `None` when live.
    pub fn end_ms(&self) -> Option<i64> {
        (!self.live).then_some(self.history_end_ms)
    }

    fn live_wave_period(&self) -> i64 {
        6 * self.attack_interval_ms + 40 * MINUTE
    }

    /// Start of wave `w` (live waves only): a minute (at most one interval) after going live.
    fn live_wave_start(&self, w: u32) -> i64 {
        let first_live = u32::from(self.has_history());
        let lead = MINUTE.min(self.attack_interval_ms);
        self.history_end_ms + lead + i64::from(w.saturating_sub(first_live)) * self.live_wave_period()
    }

    /// Waves whose attacks may start before `t`.
    pub fn waves_until(&self, t: i64) -> u32 {
        let mut n = u32::from(self.has_history());
        if self.live {
            while self.live_wave_start(n) <= t {
                n += 1;
            }
        }
        n
    }
}

/// One API request of a simulated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Me,
    Projects,
    /// The n-th project the client has seen in a listing.
    Project(u8),
    Invoices,
    Invoice(u8),
    /// A raw id (thieves enumerate).
    InvoiceById(i64),
    /// A settings change; `true` for a thief's (notification e-mail pointed elsewhere).
    Settings(bool),
}

/// What happens at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A device (2 × user for the laptop, + 1 for the phone) sends a request from `ip`.
    Device { device: usize, ip: IpAddr, req: Req },
    /// A laptop ends its day: logs out, or just forgets its session.
    EndDay { device: usize, logout: bool },
    /// The thief of `attack` gets hold of the victim's current session.
    Steal { attack: usize },
    /// A planned thief request, through attacker place `via`.
    Thief { attack: usize, req: Req, via: usize },
    /// A thief trying again after being refused (scheduled at run time).
    Retry { attack: usize },
}

/// Legitimate behaviour that looks suspicious, for judging false positives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Benign {
    Travel {
        username: String,
        from: Place,
        to: Place,
        depart_ms: i64,
        arrive_ms: i64,
        distance_km: f64,
        speed_kmh: f64,
    },
}

pub fn laptop(user: usize) -> usize {
    2 * user
}

pub fn phone(user: usize) -> usize {
    2 * user + 1
}

pub fn user_of(device: usize) -> usize {
    device / 2
}

fn offset_ms(minutes: i32) -> i64 {
    i64::from(minutes) * MINUTE
}

/// Local midnight of UTC day number `day` for a user `offset` minutes ahead of UTC.
fn local_midnight(day: i64, offset_min: i32) -> i64 {
    day * DAY - offset_ms(offset_min)
}

/// The local day number an instant falls in.
pub fn local_day(t_ms: i64, offset_min: i32) -> i64 {
    (t_ms + offset_ms(offset_min)).div_euclid(DAY)
}

fn is_weekend(day: i64) -> bool {
    // 1970-01-01 was a Thursday.
    matches!((day + 4).rem_euclid(7), 0 | 6)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Home,
    Office,
    Vpn,
    Dest(usize),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    from: i64,
    to: i64,
    net: Net,
    /// Short gaps between visits (a victim during an attack).
    intense: bool,
    /// Ends with one request exactly at `to`.
    ends_sharp: bool,
}

fn resolve(u: &UserPlan, net: Net) -> &Place {
    match net {
        Net::Home => &u.home,
        Net::Office => u.office.as_ref().unwrap_or(&u.home),
        Net::Vpn => u.vpn_exit.as_ref().unwrap_or(&u.home),
        Net::Dest(i) => u.destinations.get(i).unwrap_or(&u.home),
    }
}

/// Network a user's laptop uses at local hour `hour` on an ordinary day.
fn usual_net(u: &UserPlan, hour: i64) -> Net {
    let work = (8..18).contains(&hour);
    match u.persona {
        Persona::Office | Persona::Power if work => Net::Office,
        Persona::Vpn if hour < 12 => Net::Vpn,
        _ => Net::Home,
    }
}

fn visit_req(r: &mut Rng, first: bool) -> Req {
    if first && r.chance(0.6) {
        return Req::Me;
    }
    match r.below(100) {
        0..=19 => Req::Projects,
        20..=39 => Req::Project(r.below(2) as u8),
        40..=59 => Req::Invoices,
        60..=84 => Req::Invoice(r.below(3) as u8),
        85..=96 => Req::Me,
        _ => Req::Settings(false),
    }
}

/// Requests of one window, appended to `out`.
fn window_requests(
    device: usize,
    ip: IpAddr,
    w: &Window,
    power: bool,
    r: &mut Rng,
    out: &mut Vec<(i64, What)>,
) {
    let mut t = w.from;
    let mut last = t;
    while t < w.to {
        if power {
            out.push((
                t,
                What::Device {
                    device,
                    ip,
                    req: visit_req(r, false),
                },
            ));
            last = t;
            t += r.range(15, 45) * SECOND;
            continue;
        }
        let n = r.range(2, if w.intense { 5 } else { 7 });
        for j in 0..n {
            if t >= w.to {
                break;
            }
            out.push((
                t,
                What::Device {
                    device,
                    ip,
                    req: visit_req(r, j == 0),
                },
            ));
            last = t;
            t += r.range(3, 25) * SECOND;
        }
        t += if w.intense {
            r.range(3, 9) * MINUTE
        } else {
            r.range(10, 40) * MINUTE
        };
    }
    if w.ends_sharp && last < w.to {
        out.push((
            w.to,
            What::Device {
                device,
                ip,
                req: Req::Me,
            },
        ));
    }
}

/// Laptop windows of an ordinary (non-travelling) day, in local time.
fn ordinary_windows(u: &UserPlan, day: i64, r: &mut Rng) -> Vec<Window> {
    let m = local_midnight(day, u.utc_offset_min);
    let hm = |r: &mut Rng, h0: i64, h1: i64| m + r.range(h0 * 60, h1 * 60) * MINUTE;
    let mut out = Vec::new();
    let mut push = |from: i64, to: i64| {
        let hour = (from - m).div_euclid(HOUR);
        out.push(Window {
            from,
            to,
            net: usual_net(u, hour),
            intense: false,
            ends_sharp: false,
        });
    };
    if u.persona == Persona::Power {
        if is_weekend(day) {
            let a = hm(r, 10, 14);
            push(a, a + 2 * HOUR);
        } else {
            let a = hm(r, 7, 8);
            push(a, a + 9 * HOUR);
        }
        return out;
    }
    if is_weekend(day) {
        if r.chance(0.4) {
            let a = hm(r, 10, 20);
            push(a, a + r.range(30, 120) * MINUTE);
        }
        return out;
    }
    let a = hm(r, 8, 9);
    push(a, a + r.range(180, 240) * MINUTE);
    let b = hm(r, 13, 14);
    push(b, b + r.range(180, 240) * MINUTE);
    if r.chance(0.3) {
        let c = hm(r, 19, 21);
        push(c, c + r.range(30, 90) * MINUTE);
    }
    out
}

/// A traveller's windows on trip days (a four-day cycle: home, fly out, stay, fly back);
/// `None` on days at home.
fn travel_windows(
    u: &UserPlan,
    user: usize,
    day: i64,
    r: &mut Rng,
    benign: &mut Vec<Benign>,
) -> Option<Vec<Window>> {
    if u.persona != Persona::Traveller || u.destinations.is_empty() {
        return None;
    }
    let phase = (day + user as i64).rem_euclid(4);
    // The trip that started on the outbound day of this cycle.
    let outbound_day = day - (phase - 1).max(0);
    let dest = (outbound_day.div_euclid(4).rem_euclid(u.destinations.len() as i64)) as usize;
    let d = resolve(u, Net::Dest(dest));
    let km = distance_km(u.home.coords(), d.coords());
    let flight = (km / 850.0 * HOUR as f64) as i64 + 45 * MINUTE;
    let dest_offset = ((d.longitude / 15.0).round() as i32).clamp(-12, 14) * 60;
    let home_m = local_midnight(day, u.utc_offset_min);
    let dest_m = local_midnight(day, dest_offset);
    let leg = |from: &Place, to: &Place, depart: i64| Benign::Travel {
        username: u.username.clone(),
        from: from.clone(),
        to: to.clone(),
        depart_ms: depart,
        arrive_ms: depart + flight,
        distance_km: km.round(),
        speed_kmh: (km / (flight as f64 / HOUR as f64)).round(),
    };
    let w = |from: i64, to: i64, net: Net| Window {
        from,
        to,
        net,
        intense: false,
        ends_sharp: false,
    };
    match phase {
        1 => {
            let depart = home_m + r.range(7 * 60, 9 * 60) * MINUTE;
            let arrive = depart + flight;
            benign.push(leg(&u.home, d, depart));
            let morning = home_m + r.range(5 * 60, 6 * 60) * MINUTE;
            let evening = arrive + r.range(60, 90) * MINUTE;
            Some(vec![
                w(
                    morning,
                    (depart - 75 * MINUTE).max(morning + 10 * MINUTE),
                    Net::Home,
                ),
                w(evening, evening + r.range(90, 150) * MINUTE, Net::Dest(dest)),
            ])
        }
        2 => {
            let a = dest_m + r.range(8 * 60, 9 * 60) * MINUTE;
            let b = dest_m + r.range(13 * 60, 14 * 60) * MINUTE;
            Some(vec![
                w(a, a + r.range(180, 240) * MINUTE, Net::Dest(dest)),
                w(b, b + r.range(180, 240) * MINUTE, Net::Dest(dest)),
            ])
        }
        3 => {
            let depart = dest_m + r.range(9 * 60, 11 * 60) * MINUTE;
            let arrive = depart + flight;
            benign.push(leg(d, &u.home, depart));
            let morning = dest_m + r.range(6 * 60, 7 * 60) * MINUTE;
            let evening = arrive + r.range(60, 90) * MINUTE;
            Some(vec![
                w(
                    morning,
                    (depart - 90 * MINUTE).max(morning + 10 * MINUTE),
                    Net::Dest(dest),
                ),
                w(evening, evening + 90 * MINUTE, Net::Home),
            ])
        }
        _ => None,
    }
}

/// Everything user `user` does on UTC day number `day` (their local day), shaped by the
/// constraints of attacks on them that day.
pub fn user_day(
    plan: &Plan,
    user: usize,
    day: i64,
    constraints: &[Constraint],
    out: &mut Vec<(i64, What)>,
    benign: &mut Vec<Benign>,
) {
    let Some(u) = plan.users.get(user) else {
        return;
    };
    let mut r = Rng::derive(plan.seed, &format!("day/{day}/user/{user}"));
    let mut windows =
        travel_windows(u, user, day, &mut r, benign).unwrap_or_else(|| ordinary_windows(u, day, &mut r));
    let m = local_midnight(day, u.utc_offset_min);
    let hour_of = |t: i64| (t - m).div_euclid(HOUR);
    let mut end_override = None;
    for c in constraints {
        match *c {
            Constraint::Active { from_ms, to_ms } => {
                windows.retain(|w| w.to + 10 * MINUTE < from_ms || w.from > to_ms + 10 * MINUTE);
                windows.push(Window {
                    from: from_ms,
                    to: to_ms,
                    net: usual_net(u, hour_of(from_ms)),
                    intense: true,
                    ends_sharp: false,
                });
            }
            Constraint::EndAt { at_ms, logout } => {
                windows.retain(|w| w.to < at_ms - LAST_WINDOW - 10 * MINUTE);
                windows.push(Window {
                    from: at_ms - LAST_WINDOW,
                    to: at_ms,
                    net: usual_net(u, hour_of(at_ms - LAST_WINDOW)),
                    intense: true,
                    ends_sharp: true,
                });
                end_override = Some((at_ms, logout));
            }
        }
    }
    windows.sort_by_key(|w| w.from);
    let device = laptop(user);
    for w in &windows {
        let ip = resolve(u, w.net).ip;
        window_requests(device, ip, w, u.persona == Persona::Power, &mut r, out);
    }
    match end_override {
        Some((at, logout)) => {
            out.push((at + r.range(3, 15) * SECOND, What::EndDay { device, logout }));
        }
        None => {
            if let Some(last) = windows.iter().map(|w| w.to).max() {
                let logout = u.logs_out && u.persona != Persona::Power;
                out.push((last + r.range(1, 5) * MINUTE, What::EndDay { device, logout }));
            }
        }
    }
    if !u.mobile.is_empty() {
        let device = phone(user);
        for _ in 0..r.range(4, 9) {
            let mut t = m + r.range(7 * 60, 23 * 60) * MINUTE;
            let ip = r.pick(&u.mobile).map_or(u.home.ip, |p| p.ip);
            for j in 0..r.range(1, 3) {
                out.push((
                    t,
                    What::Device {
                        device,
                        ip,
                        req: visit_req(&mut r, j == 0),
                    },
                ));
                t += r.range(2, 20) * SECOND;
            }
        }
    }
}

/// Plans wave `wave`: six attacks, one per kind, on distinct ordinary victims not already
/// shaped by another attack around that time. `busy` holds (user, from, to) of earlier ones.
pub fn plan_wave(
    plan: &Plan,
    atlas: &Atlas,
    tl: &Timeline,
    wave: u32,
    first_index: usize,
    busy: &mut Vec<(usize, i64, i64)>,
) -> Vec<AttackPlan> {
    let seed = plan.seed;
    let mut r = Rng::derive(seed, &format!("wave/{wave}"));
    let mut eligible: Vec<usize> = (0..plan.users.len())
        .filter(|&i| plan.users[i].is_ordinary())
        .collect();
    r.shuffle(&mut eligible);
    let history = wave == 0 && tl.has_history();
    let floor = if history { tl.from_ms } else { tl.history_end_ms };
    let mut out = Vec::new();
    for (k, kind) in KINDS.iter().copied().enumerate() {
        let mut ar = Rng::derive(seed, &format!("wave/{wave}/attack/{k}"));
        let free = |v: usize, from: i64, to: i64, busy: &Vec<(usize, i64, i64)>| {
            !busy
                .iter()
                .any(|&(b, f, t)| b == v && from < t + HOUR && to + HOUR > f)
        };
        let (victim, timing) = if history {
            // Distinct victims across the wave; the time follows the victim's working hours.
            let Some(&v) = eligible
                .iter()
                .find(|&&v| !out.iter().any(|a: &AttackPlan| a.victim == v))
            else {
                continue;
            };
            let target =
                tl.from_ms + ((k as f64 + 0.5) / 6.0 * (tl.history_end_ms - tl.from_ms) as f64) as i64;
            (v, history_timing(kind, &plan.users[v], target, tl, &mut ar))
        } else {
            let anchor = tl.live_wave_start(wave) + k as i64 * tl.attack_interval_ms;
            let timing = live_timing(kind, anchor, floor, &mut ar);
            let (from, to) = timing.busy_span();
            let Some(&v) = eligible
                .iter()
                .find(|&&v| free(v, from, to, busy) && !out.iter().any(|a: &AttackPlan| a.victim == v))
            else {
                continue;
            };
            (v, timing)
        };
        let (bf, bt) = timing.busy_span();
        busy.push((victim, bf, bt));
        let u = &plan.users[victim];
        let home = u.home.city_index;
        let thief_ua = |ar: &mut Rng| {
            let mut ua = (*ar.pick(THIEF_UAS).unwrap_or(&THIEF_UAS[0])).to_owned();
            if ua == u.laptop_ua {
                ua = THIEF_UAS[0].to_owned();
            }
            ua
        };
        let attacker = match kind {
            AttackKind::RateAbuse => None,
            _ => {
                let city = match kind {
                    AttackKind::NearbyReplay => plan::nearby_city(atlas, home, &mut ar),
                    AttackKind::RemoteReplay | AttackKind::RemoteReplaySameUa => {
                        plan::far_city(atlas, home, 4000.0, &mut ar)
                    }
                    AttackKind::IdleReplay => plan::far_city(atlas, home, 1500.0, &mut ar),
                    _ => plan::far_city(atlas, home, 1000.0, &mut ar),
                };
                let n = if kind == AttackKind::RemoteReplay { 2 } else { 1 };
                let places: Vec<Place> = (0..n).map(|_| plan::place(atlas, city, &mut ar)).collect();
                let user_agent = if kind == AttackKind::RemoteReplaySameUa {
                    u.laptop_ua.clone()
                } else {
                    thief_ua(&mut ar)
                };
                let distance_km = places
                    .first()
                    .map_or(0.0, |p| distance_km(u.home.coords(), p.coords()).round());
                Some(Attacker {
                    places,
                    user_agent,
                    distance_km,
                })
            }
        };
        out.push(AttackPlan {
            id: format!("A{:02}", first_index + out.len() + 1),
            kind,
            wave,
            victim,
            stolen_at_ms: timing.stolen_at_ms,
            from_ms: timing.from_ms,
            until_ms: timing.until_ms,
            attacker,
            constraint: timing.constraint,
        });
    }
    out
}

struct Timing {
    stolen_at_ms: i64,
    from_ms: i64,
    until_ms: i64,
    constraint: Constraint,
}

impl Timing {
    /// When the victim must not be shaped by another attack.
    fn busy_span(&self) -> (i64, i64) {
        match self.constraint {
            Constraint::EndAt { at_ms, .. } => (at_ms - LAST_WINDOW, self.until_ms.max(at_ms + DAY)),
            Constraint::Active { from_ms, .. } => (from_ms, self.until_ms),
        }
    }

    fn shift(mut self, by: i64) -> Timing {
        self.stolen_at_ms += by;
        self.from_ms += by;
        self.until_ms += by;
        self.constraint = match self.constraint {
            Constraint::Active { from_ms, to_ms } => Constraint::Active {
                from_ms: from_ms + by,
                to_ms: to_ms + by,
            },
            Constraint::EndAt { at_ms, logout } => Constraint::EndAt {
                at_ms: at_ms + by,
                logout,
            },
        };
        self
    }
}

/// Timing of an attack whose first thief request is at `anchor`.
fn timing_at(kind: AttackKind, anchor: i64, live: bool, r: &mut Rng) -> Timing {
    let minutes = |r: &mut Rng, a: i64, b: i64| r.range(a, b) * MINUTE;
    // The implant is in place a little before the thief starts (less in the live demo).
    let lead = |r: &mut Rng, a: i64, b: i64| {
        if live {
            r.range(20, 90) * SECOND
        } else {
            minutes(r, a, b)
        }
    };
    match kind {
        AttackKind::RemoteReplay | AttackKind::RemoteReplaySameUa | AttackKind::NearbyReplay => {
            let dur = match (live, kind) {
                (true, _) => minutes(r, 30, 45),
                (false, AttackKind::NearbyReplay) => minutes(r, 45, 75),
                (false, _) => minutes(r, 60, 90),
            };
            Timing {
                stolen_at_ms: anchor - lead(r, 3, 8),
                from_ms: anchor,
                until_ms: anchor + dur,
                constraint: Constraint::Active {
                    from_ms: anchor - 25 * MINUTE,
                    to_ms: anchor + dur + 5 * MINUTE,
                },
            }
        }
        AttackKind::RateAbuse => Timing {
            stolen_at_ms: anchor - lead(r, 3, 6),
            from_ms: anchor,
            until_ms: anchor + 25 * MINUTE,
            constraint: Constraint::Active {
                from_ms: anchor - 20 * MINUTE,
                to_ms: anchor + 25 * MINUTE,
            },
        },
        AttackKind::PostLogoutReplay => {
            // After the logout (3-15 s after the victim's last request) and while the copied
            // access token is still unexpired (the victim refreshes 2 min before expiry).
            let logout = anchor - r.range(25, 55) * SECOND;
            Timing {
                stolen_at_ms: logout - lead(r, 10, 25),
                from_ms: anchor,
                until_ms: anchor + 15 * MINUTE,
                constraint: Constraint::EndAt {
                    at_ms: logout,
                    logout: true,
                },
            }
        }
        AttackKind::IdleReplay => {
            let gap = if live {
                minutes(r, 10, 14)
            } else {
                minutes(r, 150, 300)
            };
            let idle_at = anchor - gap;
            let dur = if live {
                minutes(r, 30, 45)
            } else {
                minutes(r, 60, 120)
            };
            Timing {
                stolen_at_ms: idle_at + SECOND,
                from_ms: anchor,
                until_ms: anchor + dur,
                constraint: Constraint::EndAt {
                    at_ms: idle_at,
                    logout: false,
                },
            }
        }
    }
}

/// Live timing: anchored at `anchor`, shifted later if the victim's lead-in would start before
/// `floor` (the live start), and the theft kept after the victim's first request.
fn live_timing(kind: AttackKind, anchor: i64, floor: i64, r: &mut Rng) -> Timing {
    let mut t = timing_at(kind, anchor, true, r);
    // A victim who starts at `floor` needs a couple of minutes of use before any theft.
    let deficit = match t.constraint {
        Constraint::EndAt { at_ms, .. } => (floor + 2 * MINUTE) - at_ms,
        Constraint::Active { .. } => (floor + 30 * SECOND) - t.stolen_at_ms,
    };
    if deficit > 0 {
        t = t.shift(deficit);
    }
    if let Constraint::Active { from_ms, to_ms } = t.constraint
        && from_ms < floor
    {
        t.constraint = Constraint::Active {
            from_ms: floor,
            to_ms,
        };
    }
    t
}

/// History timing: the candidate nearest `target` at a plausible local time of the victim
/// that keeps the attack, and the victim's lead-in, inside the history.
fn history_timing(kind: AttackKind, u: &UserPlan, target: i64, tl: &Timeline, r: &mut Rng) -> Timing {
    let (h0, h1) = match kind {
        AttackKind::IdleReplay => (16 * 60 + 30, 18 * 60 + 30),
        AttackKind::PostLogoutReplay => (11 * 60, 16 * 60),
        _ => (10 * 60, 15 * 60),
    };
    let tod = r.range(h0, h1) * MINUTE;
    let draft = r.clone();
    let fits = |t: &Timing| {
        t.constraint.start_ms().min(t.stolen_at_ms) >= tl.from_ms + 10 * MINUTE
            && t.until_ms <= tl.history_end_ms - 5 * MINUTE
    };
    let first = local_day(tl.from_ms, u.utc_offset_min) - 1;
    let last = local_day(tl.history_end_ms, u.utc_offset_min) + 1;
    let mut best: Option<(i64, i64)> = None;
    for day in first..=last {
        let at = local_midnight(day, u.utc_offset_min) + tod;
        // The local time is that of the first thief request, or of the victim's logout or last
        // request for the kinds that come later: the same draws give the same offset, so a
        // dry run at `at` tells where the thief's start must be.
        let t = timing_at(kind, at, false, &mut draft.clone());
        let anchor = match t.constraint {
            Constraint::EndAt { at_ms, .. } => t.from_ms - at_ms + at,
            Constraint::Active { .. } => at,
        };
        let t = timing_at(kind, anchor, false, &mut draft.clone());
        if fits(&t) {
            let d = (anchor - target).abs();
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, anchor));
            }
        }
    }
    match best {
        Some((_, anchor)) => timing_at(kind, anchor, false, &mut draft.clone()),
        None => {
            // Too short a history for local hours: fit it anywhere.
            let t = timing_at(kind, target, false, &mut draft.clone());
            let lo = tl.from_ms + 10 * MINUTE - t.constraint.start_ms().min(t.stolen_at_ms);
            let hi = tl.history_end_ms - 5 * MINUTE - t.until_ms;
            t.shift(if lo > 0 { lo } else { hi.min(0) })
        }
    }
}

/// The planned requests of a thief, as (time, request, attacker place).
pub fn thief_steps(a: &AttackPlan, seed: u64, out: &mut Vec<(i64, What)>, index: usize) {
    let mut r = Rng::derive(seed, &format!("thief/{}", a.id));
    let places = a.attacker.as_ref().map_or(1, |x| x.places.len().max(1));
    let mut push = |t: i64, req: Req, via: usize| {
        out.push((
            t,
            What::Thief {
                attack: index,
                req,
                via,
            },
        ));
    };
    match a.kind {
        AttackKind::RateAbuse => {
            let mut t = a.from_ms;
            let mut id = 1;
            for _ in 0..3 {
                for _ in 0..r.range(60, 120) {
                    let req = if r.chance(0.1) {
                        Req::Invoices
                    } else {
                        Req::InvoiceById(id)
                    };
                    id += 1;
                    push(t, req, 0);
                    t += r.range(300, 1500);
                }
                t += r.range(4, 6) * MINUTE;
            }
        }
        AttackKind::PostLogoutReplay => {
            let mut t = a.from_ms;
            for req in [Req::Me, Req::Invoices, Req::Invoice(0)] {
                push(t, req, 0);
                t += r.range(2, 5) * MINUTE;
            }
        }
        _ => {
            let mut t = a.from_ms;
            let mut burst = 0usize;
            let settings_burst = r.range(1, 3) as usize;
            while t < a.until_ms {
                let via = burst % places;
                let n = r.range(2, 5);
                for j in 0..n {
                    let req = match (j, burst == settings_burst) {
                        (0, _) => Req::Me,
                        (1, true) => Req::Settings(true),
                        _ => match r.below(4) {
                            0 => Req::Invoices,
                            1 => Req::Invoice(r.below(3) as u8),
                            2 => Req::Projects,
                            _ => Req::Project(r.below(2) as u8),
                        },
                    };
                    push(t, req, via);
                    t += r.range(2, 15) * SECOND;
                }
                burst += 1;
                t += if a.kind == AttackKind::IdleReplay {
                    r.range(5, 12) * MINUTE
                } else {
                    r.range(4, 9) * MINUTE
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_DB: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geoip/GeoIP2-City-Test.mmdb"
    );

    #[test]
    fn live_waves_start_after_going_live_one_kind_each_on_distinct_free_victims() {
        let atlas = Atlas::open(std::path::Path::new(TEST_DB), None).unwrap();
        let plan = Plan::new(3, 12, &atlas).unwrap();
        let t0 = 1_767_225_600_000;
        let tl = Timeline {
            from_ms: t0,
            history_end_ms: t0,
            live: true,
            attack_interval_ms: 3 * MINUTE,
        };
        assert_eq!(tl.waves_until(t0), 0);
        assert_eq!(tl.waves_until(t0 + MINUTE), 1);
        let mut busy = Vec::new();
        let w0 = plan_wave(&plan, &atlas, &tl, 0, 0, &mut busy);
        let kinds: Vec<AttackKind> = w0.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, KINDS.to_vec());
        for (k, a) in w0.iter().enumerate() {
            assert!(plan.users[a.victim].is_ordinary());
            assert!(
                w0.iter().filter(|b| b.victim == a.victim).count() == 1,
                "distinct victims"
            );
            assert!(
                a.from_ms >= t0 + MINUTE + k as i64 * tl.attack_interval_ms,
                "{a:?}"
            );
            assert!(
                a.stolen_at_ms >= t0 + 30 * SECOND && a.stolen_at_ms < a.from_ms,
                "{a:?}"
            );
            match a.constraint {
                Constraint::Active { from_ms, to_ms } => {
                    assert!(from_ms >= t0 && from_ms <= a.stolen_at_ms && to_ms >= a.until_ms)
                }
                Constraint::EndAt { at_ms, .. } => assert!(at_ms >= t0 + 2 * MINUTE && at_ms < a.from_ms),
            }
        }
        assert_eq!(w0[0].id, "A01");
        let w1 = plan_wave(&plan, &atlas, &tl, 1, w0.len(), &mut busy);
        assert_eq!(w1.first().map(|a| a.id.as_str()), Some("A07"));
        for a in &w1 {
            let clash = w0.iter().any(|b| {
                b.victim == a.victim
                    && a.constraint.start_ms() < b.until_ms + HOUR
                    && a.until_ms + HOUR > b.constraint.start_ms()
            });
            assert!(!clash, "a victim is not shaped by two attacks at once: {a:?}");
        }
    }
}
