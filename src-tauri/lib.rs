//! The desktop shell: builds the Tauri app over one [`Console`] from gatehouse-core. Commands are
//! thin (one core call each, error mapped at the boundary); everything else lives in the core.

pub mod commands;
pub mod ipc_error;
pub mod live;

use std::sync::Arc;

use gatehouse_core::Console;
use tauri::{Manager, Runtime};

pub use ipc_error::IpcError;

/// Every command the UI may call, with the types the TypeScript bindings are generated from.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .events(tauri_specta::collect_events![live::LiveUpdate])
        .commands(tauri_specta::collect_commands![
            commands::status::app_status,
            commands::console::overview,
            commands::console::start_demo,
            commands::console::add_profile,
            commands::console::replace_profile_secret,
            commands::console::test_profile,
            commands::console::sync_now,
            commands::views::list_users,
            commands::views::list_sessions,
            commands::views::sparklines,
            commands::views::session_view,
            commands::views::user_view,
            commands::findings::list_findings,
            commands::findings::set_verdict,
            commands::findings::suppress_finding,
            commands::actions::plan_action,
            commands::actions::run_steps,
            commands::actions::cancel_steps,
            commands::actions::inspect_token,
            commands::actions::revoke_held_token,
            commands::actions::audit_recent,
            commands::actions::audit_verify,
            commands::incidents::list_incidents,
            commands::incidents::create_incident,
            commands::incidents::incident_view,
            commands::incidents::update_incident,
            commands::incidents::export_report,
            commands::incidents::reveal_export
        ])
}

/// Builds the app on any runtime, so tests can use `tauri::test::mock_builder()`.
pub fn build_app<R: Runtime>(builder: tauri::Builder<R>, console: Arc<Console>) -> tauri::Builder<R> {
    let specta = specta_builder::<R>();
    let live_console = Arc::clone(&console);
    builder
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .manage(console)
        .manage(commands::incidents::Exported::default())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            #[cfg(target_os = "linux")]
            software_rendering(app);
            specta.mount_events(app);
            app.manage(commands::incidents::SaveDialog::new(app.handle().clone()));
            live::spawn(app.handle().clone(), live_console);
            Ok(())
        })
}

/// Dense tables and static SVG need no GPU compositing, and on Linux WebKit's accelerated mode
/// costs the web process over 100 MB even when idle (most of it a software GL stack when there
/// is no GPU). `GATEHOUSE_WEBVIEW_GPU=1` keeps WebKit's default.
#[cfg(target_os = "linux")]
fn software_rendering<R: Runtime>(app: &tauri::App<R>) {
    use tauri::Manager;
    if std::env::var_os("GATEHOUSE_WEBVIEW_GPU").is_some_and(|v| v == "1") {
        return;
    }
    for window in app.webview_windows().values() {
        let applied = window.with_webview(|webview| {
            use webkit2gtk::{SettingsExt, WebViewExt};
            if let Some(settings) = WebViewExt::settings(&webview.inner()) {
                settings.set_hardware_acceleration_policy(webkit2gtk::HardwareAccelerationPolicy::Never);
            }
        });
        if let Err(e) = applied {
            tracing::warn!(error = %e, "cannot turn off the webview's GPU compositing");
        }
    }
}

/// The TypeScript bindings as committed in `ui/src/lib/bindings.ts`.
pub fn typescript_bindings() -> Result<String, specta_typescript::ExportError> {
    let ts = specta_builder::<tauri::Wry>().export_str(
        specta_typescript::Typescript::default()
            .header(
                "// Generated from the Rust commands by `./x bindings`; do not edit.\n/* eslint-disable */",
            )
            .bigint(specta_typescript::BigIntExportBehavior::Number),
    )?;
    // tauri-specta imports `Channel as TAURI_CHANNEL` from @tauri-apps/api and specta also emits a
    // placeholder type of that name for `tauri::ipc::Channel`; the import is the real one.
    Ok(ts.replace("export type TAURI_CHANNEL<TSend> = null\n", ""))
}

pub fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("GATEHOUSE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let console = match Console::open() {
        Ok(c) => {
            if std::env::args().any(|a| a == "--demo") {
                c.request_demo_on_start();
            }
            Arc::new(c)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the console");
            eprintln!("gatehouse: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match build_app(tauri::Builder::default(), console).run(tauri::generate_context!()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the app stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// CI fails when the committed bindings drift from the Rust commands.
    #[test]
    fn typescript_bindings_are_committed_and_current() {
        let generated = super::typescript_bindings().unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/bindings.ts");
        if std::env::var_os("GATEHOUSE_WRITE_BINDINGS").is_some() {
            std::fs::write(path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "ui/src/lib/bindings.ts is out of date: run `./x bindings` and commit it"
        );
    }
}
