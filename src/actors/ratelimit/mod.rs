//! The RateLimiterActor: every Discord REST request asks it for a permit first and reports
//! how it went after, so the process as a whole stays inside Discord's limits.
//!
//! - Per-route buckets keyed by route template and major parameter (`channel_id`,
//!   `guild_id`, `webhook_id`), learned from `X-RateLimit-*` headers (`Reset-After` preferred);
//!   routes answering the same `X-RateLimit-Bucket` hash share one limit; until a route's
//!   bucket is learned, requests under the same major parameter go one at a time.
//! - Discord's global 50 requests/s, and our own `discord.rate_limit_requests_per_minute` as a
//!   token bucket (a five-second burst, then the configured pace).
//! - 429s of every shape (JSON body, headers only, Cloudflare HTML): the larger of the waits
//!   they name; global and Cloudflare ones pause everything. 401/403/429 answers count toward
//!   Discord's 10 000 per 10 minutes (shared-scope 429s excepted); requests are paced from a
//!   tenth of it and paused at half.
//! - A 401 is fatal: the token is dead, nothing more is sent ([`TokenState`]).
//! - Idle buckets are evicted and the map is bounded; the last requests are kept for
//!   `/status` ([`GetRateLimitStatus`]).
//!
//! Files: `limiter.rs` holds the arithmetic (plain structs on tokio's clock, tested on the
//! paused clock), `actor.rs` the actor that wraps it, `metrics.rs` its metric handles (which
//! the ops rules read the failed requests from), `handle.rs` how the REST client reaches
//! it (the client's [`RequestGate`](crate::discord::rest::RequestGate)); what a response says
//! and the routes it is keyed by are Discord's formats, in [`crate::discord::rest`].
//! `rest_tests.rs` runs the REST client and this actor together against a local server.
//!
//! ```ignore
//! let token = TokenState::new();
//! let metrics = RateLimiterMetrics::register(&registry)?;
//! let limiter = components.supervise("discord_rest", Readiness::Required, policy, move |lifecycle| {
//!     RateLimiterActor::new(settings.clone(), token.clone(), &log)
//!         .with_metrics(metrics.clone())
//!         .with_lifecycle(lifecycle)
//! })?;
//! let rest = DiscordRest::new(&config.discord, Arc::new(RateLimiterHandle::from(limiter)), &log)?;
//! ```

mod actor;
pub mod config;
mod handle;
mod limiter;
mod messages;
mod metrics;
#[cfg(test)]
mod rest_tests;
mod token;

pub use actor::RateLimiterActor;
pub use config::RateLimiterSettings;
pub use handle::RateLimiterHandle;
pub use limiter::{INVALID_REQUEST_BAN_THRESHOLD, INVALID_REQUEST_WINDOW};
pub use messages::{
    AcquirePermit, GetRateLimitStatus, RateLimitStatus, ReportResponse, RequestRecord,
    TokenRejected,
};
pub use metrics::RateLimiterMetrics;
pub use token::TokenState;
