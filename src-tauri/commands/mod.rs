//! One module per area; each command takes `State`, calls one core function, maps the error.

pub mod status;
