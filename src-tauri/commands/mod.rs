//! One module per area; each command takes `State`, calls one core function, maps the error.

pub mod actions;
pub mod console;
pub mod findings;
pub mod incidents;
pub mod status;
pub mod views;
