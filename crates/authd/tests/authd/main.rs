//! authd over real HTTP: every test starts a real server on 127.0.0.1:0 with its own database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod admin;
mod auth;
mod demo;
mod feed;
mod hygiene;
mod resource_server;
mod revocation;
