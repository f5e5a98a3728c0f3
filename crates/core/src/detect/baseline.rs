//! What is normal for one user: the countries, networks and places they use, the pairs of
//! places they switch between, and how many requests they make in each hour of the day.
//!
//! Everything is counted in distinct *days* rather than events: a user who makes a thousand
//! requests from a hotel in one afternoon has not made that hotel home, while a user who toggles
//! a VPN between home and Frankfurt every day for a week has made that pair normal. Memory per
//! user is bounded (28 days × 24 hourly counters, plus the places they actually use).

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::config::Config;
use super::geo::Cell;

pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

pub fn day_of(ts: i64) -> i32 {
    ts.div_euclid(DAY_MS) as i32
}

/// On how many distinct days something was seen.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub first_day: i32,
    pub last_day: i32,
    pub days: u16,
}

impl Seen {
    fn new(day: i32) -> Self {
        Seen {
            first_day: day,
            last_day: day,
            days: 1,
        }
    }
    fn touch(&mut self, day: i32) {
        if day > self.last_day {
            self.last_day = day;
            self.days = self.days.saturating_add(1);
        }
    }
    /// Seen on a day before `day`.
    pub fn established(&self, day: i32) -> bool {
        self.first_day < day
    }
}

#[derive(Debug, Default)]
pub struct Baseline {
    pub first_at: Option<i64>,
    /// Logins and distinct sessions.
    pub logins: u32,
    pub countries: FxHashMap<Box<str>, Seen>,
    pub asns: FxHashMap<u32, Seen>,
    pub cells: FxHashMap<Cell, Seen>,
    /// Unordered pairs of cells seen in succession.
    pub pairs: FxHashMap<(Cell, Cell), Seen>,
    pub rate: Rate,
}

impl Baseline {
    /// The learning period is over: enough logins, or enough time since the user was first seen.
    pub fn learned(&self, now: i64, cfg: &Config) -> bool {
        self.logins >= cfg.novelty_min_logins
            || self
                .first_at
                .is_some_and(|f| now - f >= i64::from(cfg.novelty_min_days) * DAY_MS)
    }

    pub fn learn_country(&mut self, country: &str, day: i32) {
        match self.countries.get_mut(country) {
            Some(s) => s.touch(day),
            None => {
                self.countries.insert(country.into(), Seen::new(day));
            }
        }
    }

    pub fn learn_asn(&mut self, asn: u32, day: i32) {
        self.asns
            .entry(asn)
            .and_modify(|s| s.touch(day))
            .or_insert_with(|| Seen::new(day));
    }

    pub fn learn_cell(&mut self, cell: Cell, day: i32) {
        self.cells
            .entry(cell)
            .and_modify(|s| s.touch(day))
            .or_insert_with(|| Seen::new(day));
    }

    pub fn learn_pair(&mut self, a: Cell, b: Cell, day: i32) {
        if a != b {
            self.pairs
                .entry(pair(a, b))
                .and_modify(|s| s.touch(day))
                .or_insert_with(|| Seen::new(day));
        }
    }

    pub fn pair(&self, a: Cell, b: Cell) -> Option<&Seen> {
        self.pairs.get(&pair(a, b))
    }
}

fn pair(a: Cell, b: Cell) -> (Cell, Cell) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Requests per clock hour (UTC), kept per day.
#[derive(Debug, Default)]
pub struct Rate {
    /// The hour being counted (ms / HOUR_MS).
    pub hour: i64,
    pub count: u32,
    /// Threshold for the current hour, computed once the count reaches `rate.min_requests`.
    pub threshold: Option<Option<Threshold>>,
    /// How many times the current hour fired: at the threshold, at twice it, at four times it.
    pub level: u32,
    /// (day, requests in each hour of that day), oldest first.
    pub days: VecDeque<(i32, [u16; 24])>,
}

/// A rate threshold and the statistics behind it, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub value: f64,
    pub median: f64,
    pub mad: f64,
    pub busy: f64,
    pub days: usize,
}

impl Rate {
    /// Counts one request; returns (count, level, threshold) when this request crossed the
    /// threshold (level 1), or twice it (2), or four times it (3).
    pub fn count(&mut self, ts: i64, cfg: &Config) -> Option<(u32, u32, Threshold)> {
        let hour = ts.div_euclid(HOUR_MS);
        if hour < self.hour {
            // Late event for an hour already closed: just count it.
            self.add_to_history(hour, 1, cfg);
            return None;
        }
        if hour > self.hour {
            self.close_hour(cfg);
            self.hour = hour;
            self.count = 0;
            self.threshold = None;
            self.level = 0;
        }
        self.count += 1;
        if self.level >= 3 || self.count < cfg.rate_min_requests {
            return None;
        }
        let t = match self.threshold {
            Some(t) => t,
            None => {
                let t = self.compute(hour, cfg);
                self.threshold = Some(t);
                t
            }
        }?;
        let next = t.value * [1.0, 2.0, 4.0][self.level as usize];
        if f64::from(self.count) >= next {
            self.level += 1;
            return Some((self.count, self.level, t));
        }
        None
    }

    fn close_hour(&mut self, cfg: &Config) {
        if self.count == 0 {
            return;
        }
        // A spiking hour is stored at its threshold, so that an attack does not teach the
        // baseline that attacks are normal.
        let stored = match (self.level > 0, self.threshold) {
            (true, Some(Some(t))) => (t.value as u32).min(self.count),
            _ => self.count,
        };
        self.add_to_history(self.hour, stored, cfg);
    }

    fn add_to_history(&mut self, hour: i64, n: u32, cfg: &Config) {
        let day = hour.div_euclid(24) as i32;
        let slot = hour.rem_euclid(24) as usize;
        let n = u16::try_from(n).unwrap_or(u16::MAX);
        if let Some((_, counts)) = self.days.iter_mut().rev().find(|(d, _)| *d == day) {
            counts[slot] = counts[slot].saturating_add(n);
            return;
        }
        if self.days.back().is_some_and(|(d, _)| *d > day) {
            return; // older than the newest day and not kept: ignore
        }
        let mut counts = [0u16; 24];
        counts[slot] = n;
        self.days.push_back((day, counts));
        let keep_from = day - cfg.rate_history_days as i32;
        while self.days.front().is_some_and(|(d, _)| *d <= keep_from) {
            self.days.pop_front();
        }
    }

    /// Robust threshold for `hour` from the days before it.
    fn compute(&self, hour: i64, cfg: &Config) -> Option<Threshold> {
        let day = hour.div_euclid(24) as i32;
        let slot = hour.rem_euclid(24) as usize;
        let from = day - cfg.rate_history_days as i32;
        let active: Vec<&[u16; 24]> = self
            .days
            .iter()
            .filter(|(d, c)| *d < day && *d >= from && c.iter().any(|&x| x > 0))
            .map(|(_, c)| c)
            .collect();
        if active.len() < cfg.rate_min_days as usize {
            return None;
        }
        let mut at_slot: Vec<f64> = active.iter().map(|c| f64::from(c[slot])).collect();
        let median = median(&mut at_slot);
        let mut dev: Vec<f64> = at_slot.iter().map(|x| (x - median).abs()).collect();
        let mad = median_of(&mut dev) * 1.4826;
        let mut busy_hours: Vec<f64> = active
            .iter()
            .flat_map(|c| c.iter())
            .filter(|&&x| x > 0)
            .map(|&x| f64::from(x))
            .collect();
        let busy = percentile(&mut busy_hours, 0.9);
        let value = f64::from(cfg.rate_min_requests)
            .max(median + cfg.rate_mad_k * mad.max(1.0))
            .max(cfg.rate_busy_factor * busy)
            .ceil();
        Some(Threshold {
            value,
            median,
            mad,
            busy,
            days: active.len(),
        })
    }
}

fn median(v: &mut [f64]) -> f64 {
    median_of(v)
}

fn median_of(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() - 1) as f64 * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_needs_history_then_fires_once_per_hour() {
        let cfg = Config::default();
        let mut r = Rate::default();
        // 10 days with 30 requests at 09:00 and 50 at 14:00.
        for d in 0..10i64 {
            for (h, n) in [(9, 30), (14, 50)] {
                for i in 0..n {
                    assert!(r.count(d * DAY_MS + h * HOUR_MS + i * 1000, &cfg).is_none());
                }
            }
        }
        // Day 10, 09:00: a scripted burst.
        let base = 10 * DAY_MS + 9 * HOUR_MS;
        let mut fired = Vec::new();
        for i in 0..400 {
            if let Some(x) = r.count(base + i * 100, &cfg) {
                fired.push(x);
            }
        }
        assert_eq!(fired.len(), 1, "at 240; twice that is not reached");
        let (count, level, t) = fired[0];
        assert_eq!(level, 1);
        assert_eq!(t.median, 30.0);
        assert_eq!(t.busy, 50.0);
        // max(240, 30 + 8·1, 3·50) = 240
        assert_eq!(t.value, 240.0);
        assert_eq!(count, 240);
    }

    #[test]
    fn too_little_history_never_fires() {
        let cfg = Config::default();
        let mut r = Rate::default();
        for i in 0..5000 {
            assert!(r.count(i * 100, &cfg).is_none());
        }
    }

    #[test]
    fn pairs_are_unordered_and_count_days() {
        let mut b = Baseline::default();
        let (x, y) = (Cell(51, 0), Cell(50, 6));
        b.learn_pair(x, y, 1);
        b.learn_pair(y, x, 1);
        b.learn_pair(y, x, 2);
        assert_eq!(b.pair(x, y).map(|s| s.days), Some(2));
    }
}
