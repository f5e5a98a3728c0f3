//! Format-level tests over a hand-made report with hostile backend strings. The end-to-end
//! tests (real authd, detection, a verified revocation) are in `tests/report.rs`.

use super::*;
use crate::detect::Severity;
use crate::incident::IncidentStatus;

const EVIL: &str = "=HYPERLINK(\"http://x\")<script>alert(1)</script>&\u{202E}gpj.exe\u{7}";

fn sample() -> ReportData {
    let t = |s: i64| DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap();
    let finding = serde_json::json!({
        "explanation": format!("Likely stolen: {EVIL}"),
        "first_seen": "2026-05-28T20:26:40Z",
        "evidence": [{
            "kind": "impossible_travel", "at": "2026-05-28T20:30:00Z", "score": 90,
            "explanation": "9000 km in 4 minutes",
            "event": {"ip": "175.16.199.1", "place": {"city": "Changchun", "country": "CN", "coords": [43.9, 125.3]}},
            "facts": {"distance_km": 9000.0}
        }]
    });
    ReportData {
        incident: Incident {
            id: "inc-0011223344556677".into(),
            profile: "demo".into(),
            title: format!("Stolen session {EVIL}"),
            severity: Severity::High,
            status: IncidentStatus::Contained,
            notes: format!("notes line 1\n{EVIL}"),
            created_by: "analyst".into(),
            created_at: t(0),
            updated_at: t(60),
            closed_at: None,
            users: vec!["u1".into()],
            sessions: vec!["s1".into()],
            findings: vec!["f-1".into()],
        },
        generated_at: t(120),
        generated_by: "analyst".into(),
        generator: "Gatehouse test".into(),
        users: vec![UserSummary {
            id: "u1".into(),
            username: format!("alice{EVIL}"),
            display_name: None,
            email: None,
            status: "active".into(),
            sessions: 1,
            active_sessions: 0,
            last_seen_at: Some(t(100)),
            risk: Some(Severity::High),
            findings: 1,
            countries: 2,
        }],
        sessions: vec![SessionRow {
            id: "s1".into(),
            user_id: "u1".into(),
            username: Some("alice".into()),
            ip: Some("175.16.199.1".into()),
            city: Some(format!("-Changchun{EVIL}")),
            country: Some("CN".into()),
            asn: None,
            org: None,
            network_class: None,
            device: Some("@Firefox, on Linux".into()),
            user_agent: Some(EVIL.into()),
            started_at: t(0),
            last_seen_at: Some(t(90)),
            expires_at: None,
            active: false,
            revoked_at: Some(t(95)),
            events: 12,
            denied: 1,
            places: 2,
            top_finding: None,
        }],
        findings: vec![FindingRow {
            id: "f-1".into(),
            user_id: "u1".into(),
            username: Some("alice".into()),
            session_id: Some("s1".into()),
            kind: crate::detect::Kind::ImpossibleTravel,
            severity: Severity::High,
            score: 90,
            detected_at: t(30),
            last_seen: t(90),
            verdict: None,
            finding,
        }],
        actions: vec![ActionRecord {
            at: t(95),
            action_id: "act_1".into(),
            kind: "revoke_session".into(),
            target: "s1".into(),
            actor: "analyst".into(),
            outcome: "succeeded".into(),
            verified: true,
            checks: vec![Check {
                what: format!("session s1 is no longer active {EVIL}"),
                ok: true,
            }],
            residual: Some(Residual {
                until: None,
                note: "revocation is enforced on every request".into(),
            }),
            sessions_revoked: vec!["s1".into()],
            error: None,
            audit_seq: 7,
            audit_hash: "ab".repeat(32),
        }],
        timeline: vec![TimelineItem {
            at: t(10),
            source: TimelineSource::Event,
            subject: "s1".into(),
            summary: format!("GET /api/me → 200 {EVIL}"),
            ip: Some("175.16.199.1".into()),
            place: Some("Changchun, CN".into()),
            notable: true,
        }],
        timeline_truncated: false,
        charts: vec![],
        geoip_attribution: Some("IP geolocation by DB-IP".into()),
    }
}

#[test]
fn html_escapes_backend_strings_and_forbids_scripts() {
    let html = html::render(&sample());
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(doc.descendants().all(|n| n.tag_name().name() != "script"));
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    assert!(!html.contains('\u{202E}') && !html.contains('\u{7}'));
    let csp = doc
        .descendants()
        .find(|n| n.attribute("http-equiv") == Some("Content-Security-Policy"))
        .unwrap();
    assert!(
        csp.attribute("content")
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert!(!html.contains("http-equiv=\"refresh\"") && !html.contains(" src="));
}

#[test]
fn markdown_escapes_markup() {
    let md = md::render(&sample());
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("\\<script\\>"));
    assert!(!md.contains('\u{202E}'));
}

#[test]
fn csv_guards_formulas_and_round_trips() {
    let d = sample();
    let text = csv::sessions(&d);
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<::csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(rows[0][col("city")].starts_with("'-Changchun"));
    assert_eq!(&rows[0][col("device")], "'@Firefox, on Linux");
    assert_eq!(&rows[0][col("requests")], "12");
    let text = csv::timeline(&d);
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<::csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), d.timeline.len());
    assert!(rows[0][3].starts_with("GET /api/me"));
    assert!(rows[0][3].contains("=HYPERLINK"), "kept as text inside the cell");
}

#[test]
fn svg_allow_list() {
    assert!(safe_svg(
        r##"<svg width="10" height="10" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="1" height="1" fill="#fff"/><text x="1" y="1">a = b onload</text></svg>"##
    ));
    assert!(!safe_svg(r#"<svg><script>alert(1)</script></svg>"#));
    assert!(!safe_svg(r#"<svg onload="alert(1)"></svg>"#));
    assert!(!safe_svg(r#"<svg><a href="http://x"><rect/></a></svg>"#));
    assert!(!safe_svg(r#"<svg><image href="http://x"/></svg>"#));
    assert!(!safe_svg(r#"<?xml version="1.0"?><svg></svg>"#));
}

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

#[test]
fn export_signs_and_a_changed_byte_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incident.md");
    let r = export(&sample(), ReportFormat::Md, &path, &key()).unwrap();
    assert_eq!(r.files.len(), 2);
    let trusted = [key().verifying_key()];
    let v = manifest::verify(&path, &trusted).unwrap();
    assert!(v.ok && v.signature_valid && v.key_trusted, "{v:?}");
    // Verifying through the manifest itself works too.
    assert!(manifest::verify(&manifest_path(&path), &trusted).unwrap().ok);

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let v = manifest::verify(&path, &trusted).unwrap();
    assert!(!v.ok && v.signature_valid);
    assert!(matches!(v.files[0].status, FileStatus::Changed { .. }), "{v:?}");
    assert!(
        v.problems[0].contains("incident.md was changed"),
        "{:?}",
        v.problems
    );

    // Truncated, then missing.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let v = manifest::verify(&manifest_path(&path), &trusted).unwrap();
    assert!(matches!(v.files[0].status, FileStatus::Truncated { .. }));
    assert!(v.problems[0].contains("is truncated"), "{:?}", v.problems);
    std::fs::remove_file(&path).unwrap();
    let v = manifest::verify(&manifest_path(&path), &trusted).unwrap();
    assert_eq!(v.files[0].status, FileStatus::Missing);

    // An untrusted key is named.
    export(&sample(), ReportFormat::Md, &path, &key()).unwrap();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    let v = manifest::verify(&path, &[other]).unwrap();
    assert!(!v.ok && v.signature_valid && !v.key_trusted);
    assert!(v.problems[0].contains(&manifest::key_id(&key().verifying_key())));
}

#[test]
fn an_edited_manifest_fails_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.md");
    export(&sample(), ReportFormat::Md, &path, &key()).unwrap();
    let m = manifest_path(&path);
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("inc-0011223344556677", "inc-0011223344556678")).unwrap();
    let v = manifest::verify(&path, &[key().verifying_key()]).unwrap();
    assert!(!v.signature_valid && !v.ok);
    assert!(v.problems[0].contains("changed after it was signed"));
}

#[test]
fn verify_says_what_is_wrong_with_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = [key().verifying_key()];
    let missing = dir.path().join("nope.html");
    let e = manifest::verify(&missing, &trusted).unwrap_err();
    assert!(matches!(e, manifest::VerifyError::Missing(_)), "{e}");
    assert_eq!(e.kind(), crate::ErrorKind::NotFound);

    let foreign = dir.path().join("holiday.jpg");
    std::fs::write(&foreign, b"\xff\xd8\xff\xe0 not ours").unwrap();
    let e = manifest::verify(&foreign, &trusted).unwrap_err();
    assert!(
        e.to_string().contains("expected") && e.to_string().contains("holiday.jpg.manifest.json"),
        "{e}"
    );

    let path = dir.path().join("r.md");
    export(&sample(), ReportFormat::Md, &path, &key()).unwrap();
    let m = manifest_path(&path);
    let text = std::fs::read(&m).unwrap();
    std::fs::write(&m, &text[..text.len() / 2]).unwrap();
    let e = manifest::verify(&path, &trusted).unwrap_err();
    assert!(e.to_string().contains("is truncated"), "{e}");
    std::fs::write(&m, b"").unwrap();
    assert!(
        manifest::verify(&path, &trusted)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    std::fs::write(&m, b"{\"hello\": \"world\"}").unwrap();
    let e = manifest::verify(&path, &trusted).unwrap_err();
    assert!(e.to_string().contains("not a Gatehouse report manifest"), "{e}");
    std::fs::write(&m, b"\x89PNG\r\n\x1a\n").unwrap();
    let e = manifest::verify(&path, &trusted).unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
}

#[test]
fn csv_export_is_two_files_under_one_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inc.csv");
    let r = export(&sample(), ReportFormat::Csv, &path, &key()).unwrap();
    assert_eq!(r.files.len(), 3);
    assert!(dir.path().join("inc.sessions.csv").exists());
    let v = manifest::verify(&dir.path().join("inc.sessions.csv"), &[key().verifying_key()]).unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.files.len(), 2);
}

#[test]
fn unwritable_targets_fail_clearly_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = export(
        &sample(),
        ReportFormat::Html,
        &dir.path().join("no/such/dir/r.html"),
        &key(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert_eq!(e.kind(), crate::ErrorKind::Validation);
    let e = export(&sample(), ReportFormat::Html, dir.path(), &key()).unwrap_err();
    assert!(e.to_string().contains("folder"), "{e}");
    // A file where the folder should be.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let e = export(&sample(), ReportFormat::Html, &file.join("r.html"), &key()).unwrap_err();
    assert!(e.to_string().contains("cannot write"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("plain")],
        "nothing partial left"
    );
}

#[test]
fn a_failed_second_file_removes_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("a.csv");
    let bad = dir.path().join("missing-dir").join("b.csv");
    let e = write_all_atomic(&[(ok.clone(), b"a".to_vec()), (bad, b"b".to_vec())]).unwrap_err();
    assert!(e.to_string().contains("b.csv"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_full_disk_half_way_through_the_second_file_leaves_nothing() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("r.csv");
    let second = dir.path().join("r.sessions.csv");
    let manifest = dir.path().join("r.csv.manifest.json");
    // The disk fills up after 4 KiB of the second file: ENOSPC from the write, as the kernel
    // gives it, with the half-written temporary file on disk.
    let written = std::sync::atomic::AtomicUsize::new(0);
    let fill = |tmp: &Path, bytes: &[u8]| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)?;
        if written.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            f.write_all(&bytes[..4096])?;
            return Err(std::io::Error::from_raw_os_error(28));
        }
        f.write_all(bytes)
    };
    let e = write_all_atomic_with(
        &[
            (first.clone(), vec![b'a'; 10_000]),
            (second.clone(), vec![b'b'; 10_000]),
            (manifest.clone(), b"{}".to_vec()),
        ],
        &fill,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("r.sessions.csv") && e.to_string().contains("disk is full"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing partial left"
    );
}

#[test]
fn pdf_has_text_and_the_charts_render_made() {
    let mut d = sample();
    let svg = crate::render::sparkline_svg(
        &[1, 5, 2, 8, 0, 3],
        crate::render::Size::new(96, 20),
        crate::render::Theme::Light,
    );
    assert!(safe_svg(&svg), "{svg}");
    d.charts.push(Chart {
        title: "Session s1 of alice".into(),
        rate_svg: svg.clone(),
        map_svg: svg,
    });
    let pdf = pdf::render(&d).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.len() > 10_000, "fonts are embedded: {} bytes", pdf.len());
}
