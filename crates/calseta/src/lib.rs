//! The `calseta` binary's library half: configuration, logging and wiring, shared by `main.rs`
//! and the integration tests (which start the real server on port 0).

#![allow(clippy::print_stderr)]

pub mod app;
pub mod config;
pub mod in_process;
pub mod logging;
