//! "Start the demo" end to end below the UI: the console starts the real `gatehouse-authd demo`
//! (simulator with token thieves, DB-IP City Lite) as a child process, stores the fresh admin
//! secret in the real OS keyring, syncs into a real SQLite file and detects. The views the
//! desktop shows are then read back: stolen sessions are flagged high or critical with places,
//! and their detail renders the rate graph and the map with the DB-IP attribution.

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::Console;
use gatehouse_core::console::Intent;
use gatehouse_core::detect::Severity;
use gatehouse_core::paths::Paths;
use gatehouse_core::render::Theme;
use gatehouse_core::secrets::{KeyringStore, Namespace, SecretName, SecretStore};
use gatehouse_core::views::{SessionQuery, SessionSort, UserQuery};

use crate::util::require_session_bus;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The authd binary next to this test's target folder (`cargo test --workspace` builds it).
fn authd_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("gatehouse-authd");
    assert!(bin.exists(), "{} not built: run through ./x test", bin.display());
    bin
}

fn geoip() -> PathBuf {
    let p = repo().join(gatehouse_core::demo::GEOIP_IN_REPO);
    assert!(
        p.exists(),
        "{} missing: run `./x setup` (npm ci --prefix tools/geoip)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_demo_syncs_flags_thieves_and_renders_their_sessions() {
    require_session_bus();
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let secrets = Arc::new(KeyringStore::new(Namespace::Test));
    let console = Console::with(paths, secrets.clone()).unwrap();
    assert!(console.overview().await.unwrap().profiles.is_empty());

    let (sync, detection) = console.start_demo_with(&authd_bin(), &geoip(), 1).await.unwrap();
    assert_eq!(sync.profile, "demo");
    assert!(sync.users >= 10 && sync.sessions > 10, "{sync:?}");
    assert!(sync.activity > 1_000, "{sync:?}");
    assert!(detection.replayed && detection.events > 1_000, "{detection:?}");
    assert!(
        !detection.newly_actionable.is_empty(),
        "no thief flagged: {detection:?}"
    );

    // The secret went to the keyring, not to the config file.
    let name = SecretName::new("profile/demo/client-secret").unwrap();
    let secret = secrets.get(&name).unwrap().expect("demo secret in the keyring");
    let config = std::fs::read_to_string(console.config_path()).unwrap();
    assert!(config.contains("[profiles.demo]") && !config.contains(secret.expose().as_str()));

    let overview = console.overview().await.unwrap();
    assert_eq!(overview.active_profile.as_deref(), Some("demo"));
    assert_eq!(
        overview.geoip_attribution.as_deref(),
        Some("IP geolocation by DB-IP")
    );
    assert!(overview.demo.is_some() && overview.last_sync.is_some());

    // Sessions by risk: the flagged ones come first, with a place and an explanation.
    let page = console
        .sessions_page(
            None,
            &SessionQuery {
                min_severity: Some(Severity::High),
                sort: SessionSort::Risk,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page.total >= 1 && !page.rows.is_empty(), "{page:?}");
    let top = &page.rows[0];
    let finding = top.top_finding.as_ref().expect("flagged session has its finding");
    assert!(finding.severity >= Severity::High);
    assert!(top.country.is_some() && top.events > 0, "{top:?}");
    let all = console
        .sessions_page(None, &SessionQuery::default())
        .await
        .unwrap();
    assert!(all.total > page.total);

    // Users by risk: the victim is at the top with a badge.
    let users = console
        .users_page(
            None,
            &UserQuery {
                with_findings: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        users
            .rows
            .first()
            .and_then(|u| u.risk)
            .is_some_and(|r| r >= Severity::High),
        "{users:?}"
    );

    // The detail of the stolen session: finding with explanation, timeline, graph and map.
    let view = console.session_view(None, &top.id, Theme::Dark).await.unwrap();
    assert!(!view.findings.is_empty() && !view.timeline.is_empty());
    let explanation = view.findings[0].finding["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Likely stolen"), "{explanation}");
    assert!(view.rate_svg.starts_with("<svg") && view.rate_svg.contains("</svg>"));
    assert!(
        view.map_svg.contains("IP geolocation by DB-IP"),
        "map without attribution"
    );
    assert!(!view.map_svg.contains("<script"));
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("demo-session-rate.svg"), &view.rate_svg).unwrap();
    std::fs::write(artifacts.join("demo-session-map.svg"), &view.map_svg).unwrap();
    let user = console.user_view(None, &top.user_id, Theme::Light).await.unwrap();
    assert!(!user.sessions.is_empty() && !user.baseline_places.is_empty());
    std::fs::write(artifacts.join("demo-user-map.svg"), &user.map_svg).unwrap();
    std::fs::write(artifacts.join("demo-user-rate.svg"), &user.rate_svg).unwrap();
    let sparks = console
        .sparklines(None, std::slice::from_ref(&top.id), Theme::Dark)
        .await
        .unwrap();
    assert!(sparks[0].1.starts_with("<svg"));

    // The dry run of containing the victim lists the steps and changes nothing.
    let steps = console
        .plan(None, Intent::Contain, std::slice::from_ref(&top.user_id))
        .await
        .unwrap();
    assert!(steps.len() >= 2, "{steps:?}");
    assert!(console.audit_recent(10).await.unwrap().is_empty());

    // Revoke the stolen session: audited, verified, and the next sync shows it ended.
    let results = console
        .run_steps(
            None,
            console
                .plan(None, Intent::RevokeSession, std::slice::from_ref(&top.id))
                .await
                .unwrap(),
            1,
            &|_, _| {},
        )
        .await
        .unwrap();
    match &results[0] {
        gatehouse_core::actions::ItemResult::Done { report, .. } => assert!(report.verified, "{report:?}"),
        other => panic!("revoke failed: {other:?}"),
    }
    console.sync_and_detect(None, &|_, _| {}).await.unwrap();
    let after = console.session_view(None, &top.id, Theme::Dark).await.unwrap();
    assert!(
        !after.session.active && after.session.revoked_at.is_some(),
        "{:?}",
        after.session
    );
    assert!(after.actions.iter().any(|a| a.action == "revoke_session.outcome"));
    console.remove_profile("demo").unwrap();
}
