//! discord-monitor: watches Discord servers, keeps every message, and uses LLMs to tell its
//! user what matters.
//!
//! # Layout
//! (filled in as the components land)

pub mod actors;
pub mod admin;
pub mod app;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod supervisor;
pub mod system_stats;
pub mod tls;
