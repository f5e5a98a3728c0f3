#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Randomised robustness: mutated records of every format, and random bytes through the splitter
//! and the whole pipeline, never panic; malformed records are counted with their lines.

use std::io::Write;

use gatehouse_core::detect::batch::{self, Options};
use gatehouse_core::enrich::Enricher;
use gatehouse_core::ingest::split::Splitter;
use gatehouse_core::ingest::{Format, detect_format, parse_record};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[(&str, Format)] = &[
    (
        r#"{"ts":"2026-07-01T12:00:00.123+02:00","user":"a@b","ip":"81.2.69.142","session":"s","jti":"j","ua":"curl/8","method":"POST","path":"/api/me/password","status":200,"lat":51.5,"lon":-0.1,"city":"London","country":"GB","asn":"AS1","as_org":"x","accuracy_km":5,"event":"logout","denial":"session_revoked","sensitive":true,"proxy":false}"#,
        Format::Jsonl,
    ),
    (
        r#"{"published":"2026-07-01T12:00:00.000Z","eventType":"user.session.start","actor":{"id":"1","alternateId":"a"},"client":{"ipAddress":"203.0.113.7","userAgent":{"rawUserAgent":"x"},"geographicalContext":{"city":"L","country":"P","geolocation":{"lat":1.0,"lon":2.0}}},"authenticationContext":{"externalSessionId":"s"},"securityContext":{"asNumber":1,"asOrg":"o","isProxy":true},"outcome":{"result":"DENY","reason":"r"}}"#,
        Format::Okta,
    ),
    (
        r#"{"time":1782907200000,"type":"LOGIN","realmId":"r","clientId":"c","userId":"u","sessionId":"s","ipAddress":"203.0.113.7","error":null,"details":{"username":"alice"}}"#,
        Format::Keycloak,
    ),
    (
        r#"{"date":"2026-07-01T12:00:00.000Z","type":"ferrt","description":"reused","ip":"203.0.113.7","user_id":"auth0|1","user_name":"a","user_agent":"x","session_id":"s","details":{"session_id":"t"},"location_info":{"country_code":"PT","city_name":"L","latitude":1.0,"longitude":2.0}}"#,
        Format::Auth0,
    ),
];

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "\\u00",
    "\\ud800",
    "null",
    "-1e999",
    "1e308",
    "9999999999999999999999",
    "\u{0}",
    "é",
    "\n",
    "true",
    " ",
];

fn mutate(rng: &mut Rng, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if !b.is_empty() => {
                let end = (at + rng.below(8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.bytes());
            }
            2 if at < b.len() => b[at] = (rng.next() & 0xff) as u8,
            _ => b.truncate(at),
        }
    }
    b
}

#[test]
fn mutated_records_never_panic() {
    let mut rng = Rng(42);
    let mut outcomes = [0usize; 2];
    for (seed, format) in SEEDS {
        assert!(
            parse_record(*format, seed.as_bytes()).is_ok(),
            "seed must parse: {format:?}"
        );
        assert_eq!(detect_format(seed.as_bytes()), Some(*format));
        for _ in 0..4000 {
            let m = mutate(&mut rng, seed);
            let r = parse_record(*format, &m);
            outcomes[usize::from(r.is_ok())] += 1;
            let _ = detect_format(&m);
        }
    }
    assert!(outcomes[0] > 1000 && outcomes[1] > 100, "{outcomes:?}");
}

#[test]
fn random_bytes_through_the_splitter_stay_in_bounds() {
    let mut rng = Rng(7);
    for round in 0..300 {
        let mut input = Vec::new();
        let array = round % 2 == 0;
        if array {
            input.push(b'[');
        }
        for _ in 0..rng.below(30) {
            let (seed, _) = SEEDS[rng.below(SEEDS.len())];
            input.extend(mutate(&mut rng, seed));
            input.extend_from_slice(if array { b",\n" } else { b"\n" });
        }
        let mut s = Splitter::new(&input[..], 1024 + rng.below(4096));
        let mut last_line = 0;
        while let Some(c) = s.next_chunk().unwrap() {
            for r in &c.records {
                assert!(r.start <= r.end && r.end <= c.data.len());
                assert!(r.line >= last_line, "lines only go forward");
                last_line = r.line;
            }
        }
    }
}

#[test]
fn whole_pipeline_counts_mutants_with_line_numbers() {
    let mut rng = Rng(99);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let (seed, _) = SEEDS[0];
    let mut bad_lines = Vec::new();
    for line in 1..=2000u64 {
        if line % 7 == 0 {
            let m = mutate(&mut rng, seed);
            let ok = !m.contains(&b'\n') && parse_record(Format::Jsonl, &m).is_ok();
            let blank = m.iter().all(u8::is_ascii_whitespace);
            if m.contains(&b'\n') {
                // Keep one record per line so that line numbers are predictable.
                writeln!(f, "not json").unwrap();
                bad_lines.push(line);
            } else {
                f.write_all(&m).unwrap();
                writeln!(f).unwrap();
                if !ok && !blank {
                    bad_lines.push(line);
                }
            }
        } else {
            writeln!(f, "{seed}").unwrap();
        }
    }
    drop(f);
    let options = Options {
        format: Format::Jsonl,
        threads: 2,
        ..Options::default()
    };
    let r = batch::analyze(&[path], &options, &Enricher::without_geoip())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(r.summary.malformed, bad_lines.len() as u64);
    let listed: Vec<u64> = r.summary.malformed_records.iter().map(|m| m.line).collect();
    assert_eq!(
        listed,
        bad_lines.iter().copied().take(listed.len()).collect::<Vec<_>>()
    );
}
