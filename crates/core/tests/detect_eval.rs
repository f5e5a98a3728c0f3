#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The quality bar over the labelled scenarios: F1 >= 0.95 per kind at session level, and no
//! traveller or VPN session above medium. `cargo run -p gatehouse-core --example eval` prints the
//! table.

#[path = "../eval/harness.rs"]
mod harness;

use gatehouse_core::detect::{Config, Kind, Severity};

#[test]
fn scenarios_meet_the_bar() {
    let s = harness::scenarios(4);
    let findings = harness::run_engine(&s.events, Config::default());
    let ev = harness::evaluate(&findings, &s.truth, Severity::Medium);
    let table = harness::table(&ev);
    for (kind, score) in &ev.per_kind {
        if *kind == Kind::NewAsn {
            continue; // informational only: never an attack label
        }
        assert!(score.tp > 0, "no positive example for {kind:?}\n{table}");
        assert!(score.f1() >= 0.95, "{kind:?} F1 {:.3}\n{table}", score.f1());
    }
    assert!(ev.over_severity.is_empty(), "{:?}", ev.over_severity);
    for class in ["traveller", "vpn", "moved", "mobile", "two-devices", "power-user"] {
        assert!(
            ev.class_max.get(class).is_none_or(|s| *s <= Severity::Medium),
            "{class}: {:?}",
            ev.class_max
        );
    }
    assert!(ev.incidents.f1() >= 0.95, "{table}");
}

#[test]
fn ground_truth_files_are_read() {
    let t = harness::read_truth(
        "{\"user\":\"u\",\"session\":\"s\",\"attack\":[\"impossible_travel\"],\"class\":\"attack\"}\n\n\
         {\"user\":\"v\",\"session\":null,\"allowed\":[\"new_country\"],\"max_severity\":\"medium\"}\n",
    )
    .unwrap();
    assert_eq!(t.len(), 2);
    assert!(t[0].attack.contains(&Kind::ImpossibleTravel));
    assert_eq!(t[1].max_severity, Severity::Medium);
    assert!(harness::read_truth("{\"user\":").unwrap_err().contains("line 1"));
}
