#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The User-Agent parser against a sample of uap-core's own test corpus. The workspace uses
//! patched copies of `ua-parser` and `regex-filtered` (vendor/: each regex is compiled the first
//! time the prefilter lets an input reach it); they must parse exactly as the crates.io releases
//! do, whose answers the fixture holds.

use gatehouse_core::enrich::UaParser;
use gatehouse_core::enrich::ua::tool_client;

#[test]
fn lazily_compiled_regexes_parse_like_the_released_crates() {
    let text = include_str!("fixtures/uap_sample.tsv");
    let parser = UaParser::new();
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [ua, family, major, os] = f[..] else {
            panic!("malformed fixture line: {line}");
        };
        if tool_client(ua).is_some() {
            continue; // our own list of scripted clients answers before uap
        }
        let d = parser.parse(ua);
        assert_eq!(
            (d.family.as_str(), d.major.as_deref().unwrap_or(""), d.os.as_str()),
            (family, major, os),
            "{ua}"
        );
        checked += 1;
    }
    assert!(checked >= 250, "only {checked} User-Agents checked");
}
