/// Every app command; `src-tauri/capabilities/main.json` grants exactly these.
const COMMANDS: &[&str] = &[
    "app_status",
    "overview",
    "start_demo",
    "add_profile",
    "replace_profile_secret",
    "test_profile",
    "sync_now",
    "list_users",
    "list_sessions",
    "sparklines",
    "session_view",
    "user_view",
    "list_findings",
    "set_verdict",
    "suppress_finding",
    "plan_action",
    "run_steps",
    "cancel_steps",
    "inspect_token",
    "revoke_held_token",
    "audit_recent",
    "audit_verify",
    "list_incidents",
    "create_incident",
    "incident_view",
    "update_incident",
    "export_report",
    "reveal_export",
];

fn main() {
    // App commands are declared here so Tauri generates one permission per command and the
    // capability file can grant exactly those (least privilege).
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error={e:#}");
    }
}
