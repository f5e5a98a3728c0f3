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

/// WebKitGTK settings that exist only as environment variables, read once when WebKit starts
/// (and by the web process it spawns), each kept if the user already set it:
/// - `JSC_useJIT=0`: JavaScriptCore interprets instead of compiling. The console's scripts are
///   small and the heavy work (queries, detection, charts) happens in Rust; without the JIT the
///   web process needs 12–18 MB less, and the webview that renders attacker-supplied strings has
///   no JIT compiler to attack (what Safari's Lockdown Mode does).
/// - `WEBKIT_DISABLE_DMABUF_RENDERER=1`: with GPU compositing off (see
///   [`software_rendering`]) the DMA-BUF renderer brings nothing, and the app and web process
///   need 7 MB less without it.
///
/// (Measured idle with 10k sessions: 276–283 MB → 255 MB for both.) Setting the environment of a
/// running process is `unsafe` (other threads may read it), and this crate forbids unsafe code,
/// so when something is missing the process replaces itself with the same program, arguments
/// and process id, plus these variables (`exec`), before anything else has started.
/// `GATEHOUSE_WEBKIT_DEFAULTS=1` keeps WebKit's defaults.
#[cfg(target_os = "linux")]
fn webkit_environment() {
    use std::os::unix::process::CommandExt;
    const DEFAULTS: &[(&str, &str)] = &[("JSC_useJIT", "0"), ("WEBKIT_DISABLE_DMABUF_RENDERER", "1")];
    if std::env::var_os("GATEHOUSE_WEBKIT_DEFAULTS").is_some_and(|v| v == "1") {
        return;
    }
    let missing: Vec<(&str, &str)> = DEFAULTS
        .iter()
        .copied()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // Returns only if the exec failed; then WebKit runs with its defaults.
    let e = cmd.args(args).envs(missing).exec();
    eprintln!("gatehouse: keeping WebKit's default JIT and renderer: cannot re-execute: {e}");
}

pub fn run() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    webkit_environment();
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
