//! Gatehouse's domain logic. The desktop app (`src-tauri/`) and the `gatehouse` CLI are thin
//! adapters over this crate: everything that touches the keyring, the network or the local store
//! lives here, so both front ends behave the same and can be tested without a window.
//!
//! This crate must never depend on Tauri (`./x test` checks it).

pub mod actions;
pub mod audit;
pub mod backend;
pub mod config;
pub mod console;
pub mod demo;
pub mod detect;
pub mod enrich;
pub mod error;
pub mod http;
pub mod incident;
pub mod ingest;
pub mod inspect;
pub mod oauth;
pub mod paths;
pub mod render;
pub mod report;
pub mod secrets;
pub mod ssf;
pub mod status;
pub mod store;
pub mod sync;
pub mod triage;
pub mod views;

pub use console::Console;
pub use error::{Error, ErrorKind};
