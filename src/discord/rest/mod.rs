//! Discord's REST API as the service uses it: [`DiscordRest`] (reqwest over rustls, every
//! request through the RateLimiterActor, retries, typed [`RestError`]s), the endpoints
//! backfill and `discord check` need, and [`ForbiddenChannels`], the channels that answered
//! 403 and are skipped from then on.
//!
//! ```ignore
//! let rest = DiscordRest::new(&config.discord, RateLimiterHandle::from(limiter), &log)?;
//! let page = rest.channel_messages(channel_id, Some(cursor), MAX_MESSAGES_PER_PAGE).await?;
//! ```

mod client;
mod endpoints;
mod error;
mod forbidden;
#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

pub use client::{DEFAULT_RETRY_BACKOFF, DiscordRest, USER_AGENT};
pub use endpoints::{
    Application, ArchivedThreads, GatewayUrl, MAX_ARCHIVED_THREADS_PER_PAGE, MAX_MESSAGES_PER_PAGE,
    MIN_ARCHIVED_THREADS_PER_PAGE, MessageContentIntent, application_flags, routes,
};
pub use error::RestError;
pub use forbidden::{ForbiddenChannel, ForbiddenChannels, MAX_FORBIDDEN_CHANNELS};
