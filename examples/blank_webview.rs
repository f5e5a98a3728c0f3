//! The floor under the desktop's memory figure: one GTK window holding one WebKitGTK webview
//! on an empty page, with the same settings the console applies (no GPU compositing), and
//! nothing else. Prints the proportional set size of the process and WebKit's helpers once
//! idle. Run under the same display as the console's measurement, with the environment the
//! console gives WebKit (see `webkit_environment` in src-tauri/lib.rs):
//! `JSC_useJIT=0 WEBKIT_DISABLE_DMABUF_RENDERER=1 cargo run --example blank_webview` (Linux only).

#[cfg(target_os = "linux")]
#[path = "../tests/util/procfs.rs"]
mod procfs;

#[cfg(target_os = "linux")]
fn main() {
    use gtk::prelude::*;
    use procfs::{comm, family_line, pss_mb};
    use std::time::Duration;
    use webkit2gtk::{SettingsExt, WebViewExt};

    if gtk::init().is_err() {
        eprintln!("no display");
        std::process::exit(2);
    }
    let window = gtk::Window::new(gtk::WindowType::Toplevel);
    window.set_default_size(1280, 800);
    let view = webkit2gtk::WebView::new();
    if let Some(settings) = WebViewExt::settings(&view) {
        settings.set_hardware_acceleration_policy(webkit2gtk::HardwareAccelerationPolicy::Never);
    }
    view.load_html("<!doctype html><title>blank</title><p>blank</p>", None);
    window.add(&view);
    window.show_all();
    gtk::glib::timeout_add_local_once(Duration::from_secs(8), || {
        let me = std::process::id();
        let mut total = 0.0;
        let mut parts = Vec::new();
        let mut families = Vec::new();
        for pid in std::iter::once(me).chain(children(me)) {
            let mb = pss_mb(pid);
            total += mb;
            parts.push(format!("{} {mb:.0}", comm(pid)));
            families.push(format!("  {} (MB): {}", comm(pid), family_line(pid)));
        }
        println!(
            "blank WebKitGTK window, idle (PSS, MB): {total:.0} = {}",
            parts.join(" + ")
        );
        println!("{}", families.join("\n"));
        gtk::main_quit();
    });
    gtk::main();
}

#[cfg(target_os = "linux")]
fn children(pid: u32) -> Vec<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    text.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("Linux only");
}
