//! Integration tests of the desktop app and the pieces it runs on, all real: the OS keyring
//! (gnome-keyring under D-Bus), the built app binary in WebKit through tauri-driver, Xvfb.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod demo;
mod e2e;
mod keyring;
