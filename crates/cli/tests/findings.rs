//! Live detection through the real `gatehouse` binary: a real authd over HTTP, a stolen token
//! replayed from another continent, `sync` runs the engine over what it stored, findings persist
//! in the SQLite store, and the analyst's verdicts and suppressions are audited and honoured by
//! later runs (in new processes, which replay the store).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{Authd, Gh, require_session_bus};

fn geoip() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geoip/GeoIP2-City-Test.mmdb"
    ))
}

fn set_geoip(gh: &Gh) {
    let path = gh.home.join("config/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = format!("geoip_city = {:?}\n", geoip().display().to_string());
    std::fs::write(&path, format!("{line}{text}")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_detects_a_replayed_token_and_feedback_is_audited_and_honoured() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("alice", false);
    authd.add_user("bob", false);
    let gh = Gh::new(&dir.path().join("home"));
    gh.add_profile("demo", &authd);
    set_geoip(&gh);

    // Nothing synced yet: no findings, and that is not an error.
    assert_eq!(gh.json(&["findings", "list"]), serde_json::json!([]));

    // alice in London; her token is replayed from Changchun, interleaved with her own requests.
    let (alice, s_alice) = authd.login("alice", "81.2.69.142").await;
    let (bob, s_bob) = authd.login("bob", "81.2.69.160").await;
    for _ in 0..4 {
        assert_eq!(authd.api(&alice, "81.2.69.142").await, 200);
        assert_eq!(authd.api(&alice, "175.16.199.1").await, 200);
        assert_eq!(authd.api(&bob, "81.2.69.160").await, 200);
    }

    let report = gh.json(&["sync"]);
    let detection = &report["detection"];
    assert_eq!(detection["replayed"], true, "{report}");
    assert!(detection["events"].as_u64().unwrap() >= 12, "{report}");
    let flagged: Vec<&serde_json::Value> = detection["newlyActionable"].as_array().unwrap().iter().collect();
    assert_eq!(flagged.len(), 1, "{report}");
    assert_eq!(flagged[0]["sessionId"], s_alice.as_str());
    assert_eq!(flagged[0]["username"], "alice");

    let high = gh.json(&["findings", "list", "--severity", "high"]);
    let rows = high.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{high}");
    let finding = &rows[0];
    let id = finding["id"].as_str().unwrap().to_string();
    assert!(["high", "critical"].contains(&finding["severity"].as_str().unwrap()));
    let explanation = finding["finding"]["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Likely stolen"), "{explanation}");
    assert!(
        explanation.contains("Changchun") || explanation.contains("CN"),
        "{explanation}"
    );
    // bob stayed home: nothing about his session.
    assert!(
        gh.json(&["findings", "list", "--session", &s_bob])
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A second sync sees no new activity and changes nothing; in a new process the store is
    // replayed and the same finding (same id) is rebuilt, not duplicated.
    let again = gh.json(&["sync"]);
    assert_eq!(again["activity"], 0);
    assert_eq!(again["detection"]["newlyActionable"], serde_json::json!([]));
    assert_eq!(gh.json(&["findings", "list"]).as_array().unwrap().len(), 1);

    // Verdicts: unknown ids are refused (exit 3), known ones are audited and shown.
    let out = gh.run(&["findings", "mark", "f-0000000000000000", "true-positive"], None);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gh.ok(&[
        "findings",
        "mark",
        &id,
        "true-positive",
        "--note",
        "confirmed with alice",
    ]);
    let shown = gh.json(&["findings", "show", &id]);
    assert_eq!(shown["verdict"], "true_positive");
    let audit = gh.json(&["audit", "list"]);
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "finding.verdict")
        .expect("verdict audited");
    assert_eq!(entry["target"], id.as_str());
    assert_eq!(entry["detail"]["note"], "confirmed with alice");

    // Suppressing Changchun for alice (say it was her VPN after all) removes the finding's
    // location evidence; the finding is re-scored below high or disappears, and stays so after
    // new activity and a fresh replay.
    let s = gh.json(&[
        "findings",
        "suppress",
        &id,
        "--scope",
        "place",
        "--note",
        "corporate VPN",
    ]);
    assert_eq!(s["scope"]["type"], "place");
    assert_eq!(s["scope"]["country"], "CN");
    assert!(
        gh.json(&["findings", "list", "--severity", "high"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = gh.json(&["findings", "list"]);
    if let Some(row) = all.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()) {
        assert_eq!(row["verdict"], "false_positive", "{row}");
        assert!(
            ["low", "medium"].contains(&row["severity"].as_str().unwrap()),
            "{row}"
        );
    }
    assert_eq!(authd.api(&alice, "175.16.199.1").await, 200);
    assert_eq!(authd.api(&alice, "81.2.69.142").await, 200);
    let later = gh.json(&["sync"]);
    assert_eq!(
        later["detection"]["newlyActionable"],
        serde_json::json!([]),
        "{later}"
    );
    assert!(
        gh.json(&["findings", "list", "--severity", "high"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let actions: Vec<String> = gh
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"finding.suppress".to_string()), "{actions:?}");
    let verify = gh.json(&["audit", "verify"]);
    assert_eq!(verify["ok"], true, "{verify}");
}
