//! The RateLimiterActor's settings: our own ceiling from the `discord` section, and Discord's
//! published limits with the bounds that keep the limiter's memory fixed.

use std::time::Duration;

use crate::discord::config::DiscordConfig;

/// Requests per second Discord allows a bot across all routes (`topics/rate-limits`).
pub const DISCORD_GLOBAL_REQUESTS_PER_SECOND: u32 = 50;

/// Buckets kept at most; past it idle ones are evicted, least recently used first. A monitor
/// with a few thousand channels needs about one bucket per channel and route.
pub const DEFAULT_MAX_BUCKETS: usize = 10_000;

/// Seconds a bucket may sit unused (and past its reset) before it is forgotten: long enough
/// that a backfill pass every few minutes finds its buckets still learned.
pub const DEFAULT_BUCKET_IDLE_TTL: Duration = Duration::from_secs(600);

/// Requests kept for `/status`.
pub const DEFAULT_HISTORY_LEN: usize = 100;

/// Callers waiting for a permit at most; more are refused rather than queued without bound.
pub const DEFAULT_MAX_WAITERS: usize = 10_000;

/// Added to twice the request timeout to get how long a permit may stay unreported before the
/// limiter assumes its caller vanished and frees the slot (so one lost report cannot
/// serialise a channel forever).
const IN_FLIGHT_LEASE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiterSettings {
    /// Our ceiling, `discord.rate_limit_requests_per_minute`, enforced as a token bucket.
    pub requests_per_minute: u32,
    /// Discord's global limit.
    pub global_requests_per_second: u32,
    pub max_buckets: usize,
    pub bucket_idle_ttl: Duration,
    pub history_len: usize,
    pub max_waiters: usize,
    /// How long a granted permit may go unreported.
    pub in_flight_lease: Duration,
}

impl RateLimiterSettings {
    pub fn from_config(config: &DiscordConfig) -> Self {
        let request_timeout = Duration::try_from_secs_f64(config.connection_timeout)
            .unwrap_or(Duration::from_secs(30));
        Self {
            requests_per_minute: config.rate_limit_requests_per_minute.max(1),
            global_requests_per_second: DISCORD_GLOBAL_REQUESTS_PER_SECOND,
            max_buckets: DEFAULT_MAX_BUCKETS,
            bucket_idle_ttl: DEFAULT_BUCKET_IDLE_TTL,
            history_len: DEFAULT_HISTORY_LEN,
            max_waiters: DEFAULT_MAX_WAITERS,
            in_flight_lease: request_timeout.saturating_mul(2) + IN_FLIGHT_LEASE_MARGIN,
        }
    }
}

impl Default for RateLimiterSettings {
    fn default() -> Self {
        Self::from_config(&DiscordConfig::default())
    }
}
