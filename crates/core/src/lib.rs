//! Gatehouse's domain logic. The desktop app (`src-tauri/`) and the `gatehouse` CLI are thin
//! adapters over this crate: everything that touches the keyring, the network or the local store
//! lives here, so both front ends behave the same and can be tested without a window.
//!
//! This crate must never depend on Tauri (`./x test` checks it).

pub mod console;
pub mod error;
pub mod paths;
pub mod secrets;
pub mod status;

pub use console::Console;
pub use error::{Error, ErrorKind};
