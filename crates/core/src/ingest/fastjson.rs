//! A scanner for the common shape of a generic JSONL line: one flat object of strings, numbers,
//! booleans and nulls.
//!
//! serde_json's derive path spends most of its time on generic machinery this schema does not
//! need; on the 1M-line benchmark it was the largest single cost. This scanner reads the same
//! [`Line`] three to four times faster and is deliberately partial: whenever it meets anything
//! unusual (a nested value, a duplicate key, an invalid escape or number, a value of an unexpected
//! type) it gives up and returns `None`, and the caller falls back to serde_json, which also
//! words the error message. A randomized differential test holds it to serde's answers.

use std::borrow::Cow;

use super::jsonl::{Line, asn_from_str, time_from_str};
use super::time;

/// A scalar JSON value as written.
enum Val<'a> {
    Str(Cow<'a, str>),
    /// The number's text (validated JSON number grammar).
    Num(&'a str),
    Bool(bool),
    Null,
}

struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string starting at the opening quote.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        // Eight bytes at a time up to the first quote, backslash or control character.
        while let Some(w) = self.b.get(self.i..self.i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let m = special(u64::from_le_bytes(word));
            if m != 0 {
                self.i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            self.i += 1;
        }
        if self.b.get(self.i) == Some(&b'"') {
            let out = self.s.get(start..self.i)?;
            self.i += 1;
            return Some(Cow::Borrowed(out));
        }
        self.escaped(start)
    }

    /// The rest of a string from `self.i`, where [`Self::string`] met a backslash or a raw
    /// control character, or the end of the line; `start` is where the string's text began.
    /// Rare, and kept out of line so that the common path stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        if *self.b.get(self.i)? != b'\\' {
            return None; // a raw control character
        }
        let mut out = String::from(self.s.get(start..self.i)?);
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i) != Some(&b'\\') || self.b.get(self.i + 1) != Some(&b'u')
                                {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return None;
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp)?);
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => {
                    // Copy the run up to the next quote or backslash in one go.
                    let run_start = self.i;
                    while let Some(&c) = self.b.get(self.i) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(self.s.get(run_start..self.i)?);
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    /// A number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        let _ = self.eat(b'-');
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            if !self.b.get(self.i)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.b.get(self.i)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        self.s.get(start..self.i)
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if self.s.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Val<'a>> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(Val::Str),
            b'-' | b'0'..=b'9' => self.number().map(Val::Num),
            b't' => self.literal("true").map(|()| Val::Bool(true)),
            b'f' => self.literal("false").map(|()| Val::Bool(false)),
            b'n' => self.literal("null").map(|()| Val::Null),
            _ => None,
        }
    }
}

/// One high bit per byte of `x` that is `"`, `\\` or below 0x20. Bits above the lowest set one
/// may be spurious (borrows carry upwards); the lowest is exact, which is all the caller reads.
fn special(x: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    zero(x ^ (LO * u64::from(b'"')))
        | zero(x ^ (LO * u64::from(b'\\')))
        | (x.wrapping_sub(LO * 0x20) & !x & HI)
}

fn is_integer(n: &str) -> bool {
    !n.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'))
}

/// serde_json's view of an integer literal: u64, else i64, else (overflow) a float.
enum IntOr {
    U(u64),
    I(i64),
    F(f64),
}

fn int_or(n: &str) -> Option<IntOr> {
    if is_integer(n) {
        if let Ok(u) = n.parse::<u64>() {
            return Some(IntOr::U(u));
        }
        if let Ok(i) = n.parse::<i64>() {
            return Some(IntOr::I(i));
        }
    }
    n.parse::<f64>().ok().map(IntOr::F)
}

fn opt_str<'a>(v: Val<'a>) -> Option<Option<Cow<'a, str>>> {
    match v {
        Val::Str(s) => Some(Some(s)),
        Val::Null => Some(None),
        _ => None,
    }
}

fn opt_f64(v: Val<'_>) -> Option<Option<f64>> {
    match v {
        Val::Num(n) => n.parse::<f64>().ok().filter(|f| f.is_finite()).map(Some),
        Val::Null => Some(None),
        _ => None,
    }
}

fn opt_bool(v: Val<'_>) -> Option<Option<bool>> {
    match v {
        Val::Bool(b) => Some(Some(b)),
        Val::Null => Some(None),
        _ => None,
    }
}

/// An identifier: a string, or an integer written as a number (kept out of line: rare).
#[inline(always)]
fn text<'a>(v: Val<'a>) -> Option<Option<Cow<'a, str>>> {
    match v {
        Val::Str(s) => Some(Some(s)),
        Val::Null => Some(None),
        Val::Num(n) => number_text(n),
        Val::Bool(_) => None,
    }
}

#[cold]
fn number_text<'a>(n: &str) -> Option<Option<Cow<'a, str>>> {
    match int_or(n)? {
        IntOr::U(u) => Some(Some(Cow::Owned(u.to_string()))),
        IntOr::I(i) => Some(Some(Cow::Owned(i.to_string()))),
        IntOr::F(_) => None,
    }
}

fn ts(v: Val<'_>) -> Option<Option<i64>> {
    match v {
        Val::Str(s) => time_from_str(&s).map(Some),
        Val::Null => Some(None),
        Val::Num(n) => {
            let f = match int_or(n)? {
                IntOr::U(u) => u as f64,
                IntOr::I(i) => i as f64,
                IntOr::F(f) => f,
            };
            time::epoch_number_ms(f).map(Some)
        }
        Val::Bool(_) => None,
    }
}

fn asn(v: Val<'_>) -> Option<Option<u32>> {
    match v {
        Val::Str(s) => asn_from_str(&s).ok(),
        Val::Null => Some(None),
        Val::Num(n) => match int_or(n)? {
            IntOr::U(u) => u32::try_from(u).ok().map(Some),
            IntOr::I(i) => u32::try_from(i).ok().map(Some),
            IntOr::F(f) => {
                (f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f)).then_some(Some(f as u32))
            }
        },
        Val::Bool(_) => None,
    }
}

fn status(v: Val<'_>) -> Option<Option<u16>> {
    match v {
        Val::Null => Some(None),
        Val::Num(n) if is_integer(n) => n.parse::<u16>().ok().map(Some),
        _ => None,
    }
}

/// Reads a flat line, or `None` to let serde_json decide.
pub(crate) fn line(bytes: &[u8]) -> Option<Line<'_>> {
    let mut l = Line::default();
    line_into(std::str::from_utf8(bytes).ok()?, &mut l)?;
    Some(l)
}

/// [`line`] over text already known to be UTF-8, filling `l` (which must be empty) in place: the
/// struct is large, and this runs once per line. On `None`, `l` holds part of the line.
pub(crate) fn line_into<'a>(s: &'a str, l: &mut Line<'a>) -> Option<()> {
    let bytes = s.as_bytes();
    let mut p = Scan { s, b: bytes, i: 0 };
    let mut seen = 0u32;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.eat(b'}').is_none() {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let v = p.value()?;
            let bit = match key.as_ref() {
                "ts" => {
                    l.ts = ts(v)?;
                    1
                }
                "user" => {
                    l.user = text(v)?;
                    1 << 1
                }
                "ip" => {
                    l.ip = opt_str(v)?;
                    1 << 2
                }
                "session" => {
                    l.session = text(v)?;
                    1 << 3
                }
                "jti" => {
                    l.jti = text(v)?;
                    1 << 4
                }
                "ua" => {
                    l.ua = opt_str(v)?;
                    1 << 5
                }
                "method" => {
                    l.method = opt_str(v)?;
                    1 << 6
                }
                "path" => {
                    l.path = opt_str(v)?;
                    1 << 7
                }
                "status" => {
                    l.status = status(v)?;
                    1 << 8
                }
                "lat" => {
                    l.lat = opt_f64(v)?;
                    1 << 9
                }
                "lon" => {
                    l.lon = opt_f64(v)?;
                    1 << 10
                }
                "city" => {
                    l.city = opt_str(v)?;
                    1 << 11
                }
                "country" => {
                    l.country = opt_str(v)?;
                    1 << 12
                }
                "asn" => {
                    l.asn = asn(v)?;
                    1 << 13
                }
                "as_org" => {
                    l.as_org = opt_str(v)?;
                    1 << 14
                }
                "accuracy_km" => {
                    l.accuracy_km = opt_f64(v)?;
                    1 << 15
                }
                "event" => {
                    l.event = opt_str(v)?;
                    1 << 16
                }
                "denial" => {
                    l.denial = opt_str(v)?;
                    1 << 17
                }
                "sensitive" => {
                    l.sensitive = opt_bool(v)?;
                    1 << 18
                }
                "proxy" => {
                    l.proxy = opt_bool(v)?;
                    1 << 19
                }
                _ => 0,
            };
            if seen & bit != 0 {
                return None; // duplicate key: serde reports it
            }
            seen |= bit;
            p.ws();
            if p.eat(b',').is_some() {
                continue;
            }
            p.eat(b'}')?;
            break;
        }
    }
    p.ws();
    (p.i == bytes.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_line(b: &[u8]) -> Option<Line<'_>> {
        serde_json::from_slice(b).ok()
    }

    #[test]
    fn agrees_with_serde_on_valid_lines() {
        for l in [
            r#"{"ts":"2026-07-01T12:00:00Z","user":"a","ip":"1.2.3.4"}"#,
            r#" { "ts" : 1782907200123 , "user" : 42 , "ip" : "::1" , "session" : -7 , "x" : [1] } "#,
            r#"{"ts":1.5e12,"user":"a\u00e9\ud83d\ude00\n","ip":"1.2.3.4","asn":"AS12","lat":1,"lon":-2.5e0,"status":404,"sensitive":null,"proxy":true}"#,
            r#"{}"#,
        ] {
            let fast = line(l.as_bytes());
            let slow = serde_line(l.as_bytes());
            if fast.is_some() {
                assert_eq!(fast, slow, "{l}");
            }
        }
        assert!(line(br#"{"ts":1,"user":"a","ip":"1.2.3.4"}"#).is_some());
        assert!(line(br#"{"user":"a\ud83d\ude00"}"#).is_some());
    }

    #[test]
    fn gives_up_where_serde_must_decide() {
        for l in [
            r#"{"ts":1,"ts":2}"#,
            r#"{"user":1.5}"#,
            r#"{"status":70000}"#,
            r#"{"user":"\ud800"}"#,
            r#"{"user":"a"} x"#,
            r#"{"user":"a",}"#,
            r#"{"lat":01}"#,
            "{\"user\":\"a\u{1}\"}",
            "{\"user\":\"abcdefghijklmnop\u{1f}q\"}",
            "{\"user\":\"abcdefghijklmnopq",
            r#"{"nested":{"a":1}}"#,
        ] {
            assert!(line(l.as_bytes()).is_none(), "{l}");
        }
    }

    /// Mutated lines: wherever the scanner answers, serde gives the same line.
    #[test]
    fn differential_against_serde() {
        let seed = r#"{"ts":"2026-07-01T12:00:00.5+02:00","user":"a@b","ip":"81.2.69.142","session":12,"jti":"j\"k","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36","method":"GET","path":"/a?b=1","status":200,"lat":51.5,"lon":-0.1,"city":"London","country":"GB","asn":"AS1","as_org":"x","accuracy_km":5,"event":"login","denial":null,"sensitive":false,"proxy":false}"#;
        let tokens: &[&str] = &[
            "\"", "\\", "\\u12", "\\ud83d", "1e5", "-", ".", "null", ",", ":", "{", "}", "[", "é", " ", "0",
            "true",
        ];
        let mut x: u64 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut agreed, mut fell_back) = (0, 0);
        for _ in 0..20_000 {
            let mut b = seed.as_bytes().to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % (b.len() + 1);
                match next() % 3 {
                    0 => {
                        let end = (at + (next() % 6) as usize).min(b.len());
                        b.drain(at..end);
                    }
                    1 => {
                        let t = tokens[(next() as usize) % tokens.len()];
                        b.splice(at..at, t.bytes());
                    }
                    _ => {
                        if at < b.len() {
                            b[at] = (next() & 0x7f) as u8;
                        }
                    }
                }
            }
            match line(&b) {
                Some(fast) => {
                    assert_eq!(Some(fast), serde_line(&b), "{}", String::from_utf8_lossy(&b));
                    agreed += 1;
                }
                None => fell_back += 1,
            }
        }
        assert!(agreed > 2000 && fell_back > 2000, "{agreed} {fell_back}");
    }
}
