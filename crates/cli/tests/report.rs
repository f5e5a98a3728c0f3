//! Incidents and signed reports end to end through the real `gatehouse` binary: a real authd
//! over HTTP, a stolen token replayed from another continent, `sync` detects it, the session is
//! revoked (verified), then `incident create|list|show|close` and `report export` in every
//! format, each checked the way its reader would: the HTML parsed, the PDF turned into text and
//! rendered (poppler), the OCSF JSON checked for the required fields of its classes, the CSV
//! parsed back; then `report verify` on the untouched, changed, truncated, missing and foreign
//! files. The signing key lives in the real OS keyring (test namespace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Authd, Gh, require_session_bus};

fn geoip() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geoip/GeoIP2-City-Test.mmdb"
    ))
}

fn artifacts() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-artifacts"));
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}): install poppler-utils"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(gh: &Gh, args: &[&str]) -> (i32, String) {
    let out = gh.run(args, None);
    assert!(!out.status.success(), "{args:?} should fail");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every required attribute of the OCSF 1.x base event, present and typed.
fn assert_base_event(e: &serde_json::Value, class_uid: u64, category_uid: u64) {
    assert_eq!(e["class_uid"], class_uid, "{e}");
    assert_eq!(e["category_uid"], category_uid, "{e}");
    let activity = e["activity_id"].as_u64().expect("activity_id");
    assert_eq!(e["type_uid"], class_uid * 100 + activity, "{e}");
    assert!(e["time"].as_i64().unwrap() > 1_600_000_000_000, "time in ms: {e}");
    assert!((0..=6).contains(&e["severity_id"].as_u64().unwrap()) || e["severity_id"] == 99);
    assert!(e["metadata"]["version"].as_str().unwrap().starts_with("1."));
    assert_eq!(e["metadata"]["product"]["name"], "Gatehouse");
    assert!(e["metadata"]["product"]["vendor_name"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_exports_in_every_format_are_signed_and_verifiable() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let authd = Authd::start(dir.path(), &[]);
    authd.add_user("alice", false);
    authd.add_user("bob", false);
    let gh = Gh::new(&dir.path().join("home"));
    gh.add_profile("demo", &authd);
    let config = gh.home.join("config/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("geoip_city = {:?}\n{text}", geoip().display().to_string()),
    )
    .unwrap();

    // alice in London; her token replayed from Changchun.
    let (alice, s_alice) = authd.login("alice", "81.2.69.142").await;
    let (bob, _s_bob) = authd.login("bob", "81.2.69.160").await;
    for _ in 0..4 {
        assert_eq!(authd.api(&alice, "81.2.69.142").await, 200);
        assert_eq!(authd.api(&alice, "175.16.199.1").await, 200);
        assert_eq!(authd.api(&bob, "81.2.69.160").await, 200);
    }
    let sync = gh.json(&["sync"]);
    let flagged = sync["detection"]["newlyActionable"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{sync}");
    let finding_id = flagged[0]["id"].as_str().unwrap().to_string();

    // Contain: revoke the stolen session (verified), then the thief is refused.
    let revoke = gh.json(&["revoke", "session", &s_alice]);
    assert_eq!(revoke["verified"], true, "{revoke}");
    assert_ne!(authd.api(&alice, "175.16.199.1").await, 200);
    gh.json(&["sync"]);

    // The incident.
    let (code, err) = fails(&gh, &["incident", "create", "--title", "nothing"]);
    assert_eq!(code, 2, "{err}");
    let inc = gh.json(&[
        "incident",
        "create",
        "--title",
        "Stolen session of alice <b>&</b>",
        "--finding",
        &finding_id,
        "--notes",
        "Replayed from Changchun; session revoked.",
    ]);
    let id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(inc["status"], "open");
    assert_eq!(inc["sessions"][0], s_alice.as_str());
    assert!(["high", "critical"].contains(&inc["severity"].as_str().unwrap()));
    let list = gh.json(&["incident", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let shown = gh.json(&["incident", "show", &id]);
    let sources: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    for s in ["event", "finding", "action", "analyst"] {
        assert!(sources.contains(&s), "timeline has no {s}: {sources:?}");
    }
    let times: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "timeline is in time order");
    assert_eq!(shown["actions"][0]["kind"], "revoke_session");
    assert_eq!(shown["actions"][0]["verified"], true);
    let human = gh.ok(&["incident", "show", &id]);
    assert!(
        human.contains("revoke_session") && human.contains("verified"),
        "{human}"
    );

    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let export = |format: &str, name: &str| -> PathBuf {
        let p = out.join(name);
        let r = gh.json(&[
            "report",
            "export",
            &id,
            "--format",
            format,
            "-o",
            p.to_str().unwrap(),
        ]);
        assert_eq!(r["format"], format);
        let v = gh.json(&["report", "verify", p.to_str().unwrap()]);
        assert_eq!(v["ok"], true, "{v}");
        p
    };

    // HTML: parsed; findings, actions and inline SVGs present; no script, no external URL.
    let html_path = export("html", "incident.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    let title = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("title"))
        .unwrap();
    assert_eq!(title.text(), Some("Stolen session of alice <b>&</b>"));
    let finding = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(finding_id.as_str()))
        .expect("finding section");
    let finding_text: String = finding.descendants().filter_map(|n| n.text()).collect();
    assert!(finding_text.contains("Likely stolen"), "{finding_text}");
    let actions = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("actions"))
        .unwrap();
    let action_text: String = actions.descendants().filter_map(|n| n.text()).collect();
    assert!(action_text.contains("revoke_session"), "{action_text}");
    assert!(action_text.contains("succeeded, verified"), "{action_text}");
    assert!(action_text.contains("Residual exposure"), "{action_text}");
    let svgs = doc.descendants().filter(|n| n.tag_name().name() == "svg").count();
    assert!(svgs >= 4, "rate graphs and maps inline: {svgs}");
    assert!(doc.descendants().all(|n| n.tag_name().name() != "script"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url("));
    std::fs::copy(&html_path, artifacts().join("report.html")).unwrap();

    // PDF: real text, a sensible number of pages, page 1 rendered.
    let pdf_path = export("pdf", "incident.pdf");
    let text = tool("pdftotext", &["-layout", pdf_path.to_str().unwrap(), "-"]);
    for fact in [
        "Stolen session of alice",
        id.as_str(),
        "Likely stolen",
        "revoke_session",
        "succeeded, verified",
        "Residual exposure",
        "Timeline",
        "Changchun",
    ] {
        assert!(text.contains(fact), "PDF text lacks {fact:?}:\n{text}");
    }
    let info = tool("pdfinfo", &[pdf_path.to_str().unwrap()]);
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((2..=30).contains(&pages), "{pages} pages");
    assert!(info.contains("A4") || info.contains("595.28 x 841.89"), "{info}");
    let png_base = artifacts().join("report-page1");
    tool(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf_path.to_str().unwrap(),
            png_base.to_str().unwrap(),
        ],
    );
    assert!(std::fs::metadata(png_base.with_extension("png")).unwrap().len() > 1000);
    std::fs::copy(&pdf_path, artifacts().join("report.pdf")).unwrap();

    // OCSF JSON.
    let json_path = export("json", "incident.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(doc["incident"]["uid"], id.as_str());
    let findings = doc["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        assert_base_event(f, 2004, 2);
        assert!(f["finding_info"]["uid"].is_string() && f["finding_info"]["title"].is_string());
        assert!(!f["evidences"].as_array().unwrap().is_empty(), "{f}");
    }
    assert!(
        findings
            .iter()
            .any(|f| f["finding_info"]["uid"] == finding_id.as_str())
    );
    let rem = doc["remediations"].as_array().unwrap();
    assert_eq!(rem.len(), 1, "{doc}");
    assert_base_event(&rem[0], 7001, 7);
    assert!(rem[0]["command_uid"].as_str().unwrap().starts_with("act_"));
    assert_eq!(rem[0]["status_id"], 1);
    assert_eq!(doc["sessions"][0]["uid"], s_alice.as_str());
    assert!(doc["sessions"][0]["revoked_time"].is_i64());

    // CSV: the timeline and the sessions round-trip through a CSV reader.
    let csv_path = export("csv", "incident.csv");
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), shown["timeline"].as_array().unwrap().len());
    for (row, item) in rows.iter().zip(shown["timeline"].as_array().unwrap()) {
        assert_eq!(&row[1], item["source"].as_str().unwrap());
        assert_eq!(&row[2], item["subject"].as_str().unwrap());
    }
    let mut r = csv::Reader::from_path(out.join("incident.sessions.csv")).unwrap();
    let sessions: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(sessions.len(), 1);
    assert_eq!(&sessions[0][0], s_alice.as_str());
    assert_eq!(&sessions[0][6], "false");

    // Markdown.
    let md_path = export("md", "incident.md");
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("## Incident: Stolen session of alice \\<b\\>\\&\\</b\\>"),
        "{md}"
    );
    assert!(md.contains("revoke\\_session") && md.contains("verified"), "{md}");

    // The public key verifies elsewhere (here: as an explicit trusted key).
    let pem = gh.ok(&["report", "public-key"]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let pem_path = out.join("key.pem");
    std::fs::write(&pem_path, &pem).unwrap();
    gh.ok(&[
        "report",
        "verify",
        pdf_path.to_str().unwrap(),
        "--public-key",
        pem_path.to_str().unwrap(),
    ]);

    // A changed byte fails, naming the file.
    let mut bytes = std::fs::read(&pdf_path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&pdf_path, &bytes).unwrap();
    let (code, err) = fails(&gh, &["report", "verify", pdf_path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("incident.pdf was changed"), "{err}");
    // Truncated.
    std::fs::write(&html_path, &html.as_bytes()[..html.len() / 3]).unwrap();
    let (_, err) = fails(&gh, &["report", "verify", html_path.to_str().unwrap()]);
    assert!(err.contains("incident.html is truncated"), "{err}");
    // Missing, foreign, truncated manifest.
    let (code, err) = fails(&gh, &["report", "verify", out.join("gone.pdf").to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("gone.pdf does not exist"), "{err}");
    std::fs::write(out.join("notes.txt"), b"hello").unwrap();
    let (_, err) = fails(
        &gh,
        &["report", "verify", out.join("notes.txt").to_str().unwrap()],
    );
    assert!(
        err.contains("no manifest") && err.contains("notes.txt.manifest.json"),
        "{err}"
    );
    let m = out.join("incident.md.manifest.json");
    let mtext = std::fs::read(&m).unwrap();
    std::fs::write(&m, &mtext[..mtext.len() - 40]).unwrap();
    let (_, err) = fails(&gh, &["report", "verify", md_path.to_str().unwrap()]);
    assert!(err.contains("manifest") && err.contains("truncated"), "{err}");
    std::fs::write(&m, b"%PDF-1.7 definitely not a manifest").unwrap();
    let (_, err) = fails(&gh, &["report", "verify", md_path.to_str().unwrap()]);
    assert!(err.contains("not a Gatehouse report manifest"), "{err}");

    // Unwritable targets: a clear error, nothing left behind.
    let before = list_dir(&out);
    let (code, err) = fails(
        &gh,
        &[
            "report",
            "export",
            &id,
            "--format",
            "pdf",
            "-o",
            out.join("missing/r.pdf").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let (_, err) = fails(
        &gh,
        &[
            "report",
            "export",
            &id,
            "--format",
            "html",
            "-o",
            "/proc/gatehouse-report.html",
        ],
    );
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(list_dir(&out), before);
    let (code, _) = fails(
        &gh,
        &[
            "report",
            "export",
            "inc-nope",
            "--format",
            "md",
            "-o",
            out.join("x.md").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3);

    // Close it; the timeline records the analyst's steps.
    let closed = gh.json(&["incident", "close", &id, "--notes", "Password reset done."]);
    assert_eq!(closed["status"], "closed");
    assert!(closed["closedAt"].is_string());
    let audit = gh.json(&["audit", "list", "--limit", "500"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"incident.create") && actions.contains(&"incident.update"));
    // Every successful export is on the record (html, pdf, json, csv, md at least).
    let exports = actions.iter().filter(|a| **a == "report.export").count();
    assert!(exports >= 5, "{exports} report.export entries in {actions:?}");
    assert_eq!(gh.json(&["audit", "verify"])["ok"], true);
}

fn list_dir(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
