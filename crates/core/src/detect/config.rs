//! Every threshold of every detector, in one struct, with its default and why.
//!
//! Analysts tune detections to their population (a company of road warriors is not a call
//! centre), so no number is hidden in a detector: each is a field here, addressable by a dotted
//! key (`travel.min_km`) from `gatehouse analyze --set KEY=VALUE` or the console's settings.
//! `Config::keys()` lists them with their documentation; the table below is the same list.

use serde::Serialize;

macro_rules! config {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr => $key:literal; )*) => {
        /// Detector thresholds. Build with `Config::default()` and change fields or call
        /// [`Config::set`].
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $( $field: $default, )* }
            }
        }

        impl Config {
            /// Sets one threshold by its dotted key, parsing the value; the whole configuration
            /// must stay valid.
            pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
                let mut next = self.clone();
                next.set_unchecked(key, value)?;
                next.validate()?;
                *self = next;
                Ok(())
            }

            fn set_unchecked(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
                match key {
                    $( $key => {
                        self.$field = value.trim().parse::<$ty>().map_err(|_| ConfigError::Value {
                            key: key.to_string(),
                            value: value.to_string(),
                            expected: stringify!($ty),
                        })?;
                    } )*
                    _ => return Err(ConfigError::UnknownKey(key.to_string())),
                }
                Ok(())
            }

            /// (key, current value, documentation) for every threshold.
            pub fn keys(&self) -> Vec<(&'static str, String, &'static str)> {
                vec![ $( ($key, self.$field.to_string(), concat!($($doc, " "),*).trim()), )* ]
            }
        }
    };
}

config! {
    /// Minimum great-circle distance in km, after subtracting both accuracy radii, for impossible travel.
    travel_min_km: f64 = 500.0 => "travel.min_km";
    /// Speed in km/h above which travel is impossible (airliners cruise at 800-950 km/h).
    travel_kmh: f64 = 800.0 => "travel.kmh";
    /// Second tier: speed in km/h that no scheduled flight reaches, even with generous radii.
    travel_tier2_kmh: f64 = 2500.0 => "travel.tier2_kmh";
    /// Score of a first-tier impossible travel inside one session.
    travel_score: f64 = 0.55 => "travel.score";
    /// Score of a second-tier impossible travel inside one session.
    travel_tier2_score: f64 = 0.65 => "travel.tier2_score";
    /// Factor applied when the travel is between two different sessions of the user (two devices can be in two places).
    travel_cross_session_factor: f64 = 0.8 => "travel.cross_session_factor";
    /// Accuracy radius in km assumed when a place has none (flat GeoIP layouts, vendor coordinates).
    travel_default_radius_km: f64 = 50.0 => "travel.default_radius_km";
    /// Extra uncertainty in km for addresses of mobile carriers, which geolocate coarsely.
    travel_mobile_extra_km: f64 = 250.0 => "travel.mobile_extra_km";
    /// Distinct days on which a pair of places must have been seen in succession before the pair is learned (VPN toggling) and no longer flagged.
    pair_learn_days: u32 = 3 => "baseline.pair_learn_days";
    /// Factor applied to travel between a pair seen on an earlier day but not yet learned.
    pair_seen_factor: f64 = 0.6 => "baseline.pair_seen_factor";
    /// Window in seconds within which switches between networks of one session count as concurrent use.
    concurrent_window_s: i64 = 600 => "concurrent.window_s";
    /// Switches between two networks (A, B, A, B is three) within the window that make concurrent use.
    concurrent_min_switches: u32 = 3 => "concurrent.min_switches";
    /// Minimum effective distance in km between the two networks, unless the devices differ or one network is rented (hosting/VPN).
    concurrent_min_km: f64 = 100.0 => "concurrent.min_km";
    /// Score of concurrent use from two networks.
    concurrent_score: f64 = 0.8 => "concurrent.score";
    /// Score of concurrent use when the two places are also impossibly far apart or the devices differ.
    concurrent_strong_score: f64 = 0.92 => "concurrent.strong_score";
    /// Score of a browser or OS family change inside a session.
    device_change_score: f64 = 0.5 => "device.change_score";
    /// Score of a scripted client (curl, python-requests, headless browser) after an interactive start.
    device_tool_score: f64 = 0.6 => "device.tool_score";
    /// Days of history (with activity) needed before rate spikes are judged.
    rate_min_days: u32 = 7 => "rate.min_days";
    /// Days of hourly history kept per user.
    rate_history_days: u32 = 28 => "rate.history_days";
    /// Requests in one clock hour below which nothing is a spike.
    rate_min_requests: u32 = 240 => "rate.min_requests";
    /// Robust z: the hour's median plus this many scaled MADs.
    rate_mad_k: f64 = 8.0 => "rate.mad_k";
    /// The spike must also exceed this multiple of the user's usual busy hour (90th percentile of active hours).
    rate_busy_factor: f64 = 3.0 => "rate.busy_factor";
    /// Score of a rate spike at its threshold (grows with log2 of the excess, capped at rate.max_score).
    rate_score: f64 = 0.45 => "rate.score";
    /// Highest score a rate spike alone reaches.
    rate_max_score: f64 = 0.75 => "rate.max_score";
    /// Logins (or distinct sessions) before new countries and networks are judged.
    novelty_min_logins: u32 = 10 => "novelty.min_logins";
    /// Days since the user was first seen after which new countries and networks are judged anyway.
    novelty_min_days: u32 = 14 => "novelty.min_days";
    /// Score of a new country (a traveller's new country stays below medium unless the network is rented).
    new_country_score: f64 = 0.35 => "novelty.country_score";
    /// Score of a new AS in a known country.
    new_asn_score: f64 = 0.2 => "novelty.asn_score";
    /// Added when the new network is a hosting provider or an anonymizer.
    rented_bonus: f64 = 0.2 => "novelty.rented_bonus";
    /// Score of a refused request with a revoked credential from the session's own device and network.
    revoked_same_score: f64 = 0.3 => "revoked.same_score";
    /// Score once revoked.min_attempts refused requests were seen in the session.
    revoked_repeat_score: f64 = 0.6 => "revoked.repeat_score";
    /// Refused requests with a revoked credential that make a repeat.
    revoked_min_attempts: u32 = 3 => "revoked.min_attempts";
    /// Score of a revoked credential used from another device or network than the session's own.
    revoked_foreign_score: f64 = 0.85 => "revoked.foreign_score";
    /// Score of a successful request after the session's logout, from the session's own device and network.
    after_logout_same_score: f64 = 0.6 => "revoked.after_logout_same_score";
    /// Score of a successful request after the session's logout from another device or network.
    after_logout_foreign_score: f64 = 0.85 => "revoked.after_logout_foreign_score";
    /// Seconds after a logout during which requests are in-flight stragglers, not replay.
    logout_grace_s: i64 = 30 => "revoked.logout_grace_s";
    /// Score of a password, email or MFA change from a place or network new for the user.
    sensitive_score: f64 = 0.6 => "sensitive.score";
    /// Score when that change also comes from a rented network or a scripted client.
    sensitive_strong_score: f64 = 0.8 => "sensitive.strong_score";
    /// Lowest score of a medium finding (0..1).
    medium_at: f64 = 0.4 => "severity.medium";
    /// Lowest score of a high finding: "likely stolen, act now".
    high_at: f64 = 0.7 => "severity.high";
    /// Lowest score of a critical finding.
    critical_at: f64 = 0.9 => "severity.critical";
    /// Evidence items kept per kind in one finding (the count of all occurrences is kept too).
    max_evidence_per_kind: usize = 5 => "findings.max_evidence_per_kind";
    /// Hours without activity after which a session's state is dropped from memory.
    session_idle_hours: i64 = 48 => "engine.session_idle_hours";
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("unknown setting `{0}` (see `gatehouse analyze --help` for the list)")]
    UnknownKey(String),
    #[error("setting `{key}`: `{value}` is not a valid {expected}")]
    Value {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("setting `{key}`: {message}")]
    Range {
        key: &'static str,
        message: &'static str,
    },
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let scores = [
            self.travel_score,
            self.travel_tier2_score,
            self.concurrent_score,
            self.concurrent_strong_score,
            self.device_change_score,
            self.device_tool_score,
            self.rate_score,
            self.rate_max_score,
            self.new_country_score,
            self.new_asn_score,
            self.revoked_same_score,
            self.revoked_repeat_score,
            self.revoked_foreign_score,
            self.after_logout_same_score,
            self.after_logout_foreign_score,
            self.sensitive_score,
            self.sensitive_strong_score,
        ];
        if scores.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Err(ConfigError::Range {
                key: "score",
                message: "scores are between 0 and 1",
            });
        }
        if !(self.medium_at < self.high_at && self.high_at < self.critical_at && self.critical_at <= 1.0) {
            return Err(ConfigError::Range {
                key: "severity",
                message: "severity.medium < severity.high < severity.critical <= 1",
            });
        }
        if self.travel_kmh <= 0.0 || self.travel_tier2_kmh < self.travel_kmh {
            return Err(ConfigError::Range {
                key: "travel.kmh",
                message: "0 < travel.kmh <= travel.tier2_kmh",
            });
        }
        if self.rate_history_days == 0 || self.rate_history_days > 366 {
            return Err(ConfigError::Range {
                key: "rate.history_days",
                message: "between 1 and 366",
            });
        }
        if self.concurrent_min_switches == 0 {
            return Err(ConfigError::Range {
                key: "concurrent.min_switches",
                message: "at least 1",
            });
        }
        Ok(())
    }

    /// Applies `KEY=VALUE` overrides in order, then checks the result as a whole (so that
    /// related limits can be moved together in any order).
    pub fn with_overrides<'a>(
        mut self,
        sets: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        for s in sets {
            let (k, v) = s.split_once('=').ok_or_else(|| ConfigError::Value {
                key: s.to_string(),
                value: String::new(),
                expected: "KEY=VALUE",
            })?;
            self.set_unchecked(k.trim(), v)?;
        }
        self.validate()?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_by_key_parses_and_validates() {
        let mut c = Config::default();
        c.set("travel.min_km", "300").unwrap();
        assert_eq!(c.travel_min_km, 300.0);
        c.set("rate.min_days", "3").unwrap();
        assert_eq!(c.rate_min_days, 3);
        assert!(matches!(
            c.set("travel.nope", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            c.set("rate.min_days", "-1"),
            Err(ConfigError::Value { .. })
        ));
        assert!(matches!(
            c.set("severity.high", "0.95"),
            Err(ConfigError::Range { .. })
        ));
        let c = Config::default()
            .with_overrides(["travel.kmh=900", "severity.critical=0.95"])
            .unwrap();
        assert_eq!((c.travel_kmh, c.critical_at), (900.0, 0.95));
        assert!(
            Config::default()
                .keys()
                .iter()
                .all(|(k, _, doc)| k.contains('.') && !doc.is_empty())
        );
    }
}
