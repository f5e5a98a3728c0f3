//! Timestamps as integer milliseconds since the Unix epoch (UTC).
//!
//! Every log source spells time differently (RFC 3339 with or without fraction and offset, epoch
//! milliseconds, epoch seconds). The detectors only ever compare and subtract times, so the
//! normalized event carries one `i64` and parsing happens once at the edge. The RFC 3339 parser
//! is hand-written because it runs once per imported line (a million times per file); anything it
//! does not recognise falls back to chrono's full parser.

use chrono::{DateTime, SecondsFormat, Utc};

/// Parses `2026-07-01T12:00:00Z`, `2026-07-01T12:00:00.123+02:00`, `2026-07-01 12:00:00Z` ...
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    fast_rfc3339(s.as_bytes()).or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp_millis()))
}

/// Interprets a JSON number as epoch time: values below 10^11 are taken as seconds (that is
/// before 1973 in milliseconds, after 5138 in seconds), others as milliseconds.
pub fn epoch_number_ms(v: f64) -> Option<i64> {
    if !v.is_finite() || !(0.0..=1.0e15).contains(&v) {
        return None;
    }
    if v < 1.0e11 {
        Some((v * 1000.0) as i64)
    } else {
        Some(v as i64)
    }
}

/// Formats milliseconds as RFC 3339 UTC with millisecond precision (`2026-07-01T12:00:00.000Z`).
pub fn format_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(d) => d.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// Formats milliseconds as `HH:MM` UTC, for explanations.
pub fn format_hm(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(d) => d.format("%H:%M").to_string(),
        None => ms.to_string(),
    }
}

/// Formats a duration in milliseconds for explanations: `45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`.
pub fn format_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 120 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 2 * 86_400 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    }
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in b.get(from..from + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn fast_rfc3339(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                frac_ms = frac_ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            frac_ms *= 10;
        }
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *c == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    Some(secs * 1000 + frac_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_chrono() {
        for s in [
            "2026-07-01T12:00:00Z",
            "2026-07-01T12:00:00.5Z",
            "2026-07-01T12:00:00.123456Z",
            "1999-12-31T23:59:59.999+02:00",
            "2024-02-29T00:00:00-07:30",
            "1970-01-01T00:00:00Z",
        ] {
            let want = DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
            assert_eq!(fast_rfc3339(s.as_bytes()), Some(want), "{s}");
        }
        assert_eq!(parse_rfc3339_ms("2026-07-01 12:00:00Z"), Some(1_782_907_200_000));
        assert_eq!(parse_rfc3339_ms("2026-13-01T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    /// Dates that do not exist (the 31st of a 30-day month, the 29th of February outside leap
    /// years) and offsets out of range are invalid, as chrono says; every answer of the fast
    /// path is chrono's.
    #[test]
    fn fast_path_never_accepts_what_chrono_rejects() {
        let mut checked = 0;
        for y in [1900, 1999, 2000, 2024, 2026] {
            for mo in 0..=13 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    for (time, zone) in [
                        ("23:59:60", "Z"),
                        ("00:00:00.5", "+23:59"),
                        ("12:00:00", "+24:00"),
                        ("12:00:00", "-05:60"),
                        ("24:00:00", "Z"),
                    ] {
                        let s = format!("{y:04}-{mo:02}-{d:02}T{time}{zone}");
                        let want = DateTime::parse_from_rfc3339(&s)
                            .ok()
                            .map(|t| t.timestamp_millis());
                        let fast = fast_rfc3339(s.as_bytes());
                        assert!(
                            fast.is_none() || fast == want,
                            "{s}: fast {fast:?}, chrono {want:?}"
                        );
                        assert_eq!(parse_rfc3339_ms(&s), want, "{s}");
                        checked += usize::from(want.is_some());
                    }
                }
            }
        }
        assert!(checked > 300, "{checked}");
        assert_eq!(parse_rfc3339_ms("2026-02-31T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2026-04-31T00:00:00Z"), None);
        assert!(parse_rfc3339_ms("2028-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn epoch_numbers_in_seconds_or_millis() {
        assert_eq!(epoch_number_ms(1_782_907_200.0), Some(1_782_907_200_000));
        assert_eq!(epoch_number_ms(1_782_907_200_000.0), Some(1_782_907_200_000));
        assert_eq!(epoch_number_ms(-1.0), None);
        assert_eq!(format_ms(1_782_907_200_000), "2026-07-01T12:00:00.000Z");
        assert_eq!(format_duration(3 * 3600 * 1000 + 5 * 60 * 1000), "3 h 05 min");
    }
}
