//! Database actor.

pub mod config;
