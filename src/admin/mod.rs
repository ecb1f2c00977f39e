//! Admin HTTP API.

pub mod config;
