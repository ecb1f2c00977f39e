//! `discord` section: how we talk to Discord.

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Bot (or, in the seed's mode, user) token; env `DISCORD_TOKEN` / `DISCORD_TOKEN_FILE`.
    /// Only `run` needs it.
    pub token: Option<Secret>,
    /// Our own ceiling on REST calls, below Discord's published limits (seed key).
    pub rate_limit_requests_per_minute: u32,
    /// Attempts per REST call before it is reported failed (seed key).
    pub max_retries: u32,
    /// Seconds to wait for a TCP/TLS connection to Discord (seed key, hence no unit suffix).
    pub connection_timeout: f64,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            rate_limit_requests_per_minute: default_rate_limit_requests_per_minute(),
            max_retries: default_max_retries(),
            connection_timeout: default_connection_timeout(),
        }
    }
}

/// The seed's value: well under Discord's 50 requests/second global limit.
pub const fn default_rate_limit_requests_per_minute() -> u32 {
    50
}

pub const fn default_max_retries() -> u32 {
    3
}

/// Seconds; the seed's value.
pub const fn default_connection_timeout() -> f64 {
    30.0
}
