//! Discord's REST API as the service uses it: [`DiscordRest`] (reqwest over rustls, every
//! request through a [`RequestGate`] (the RateLimiterActor in the service), retries, typed
//! [`RestError`]s), the endpoints backfill and `discord check` need, [`ForbiddenChannels`],
//! the channels that answered 403 and are skipped from then on, and what the gate works
//! with: routes and their major parameters ([`Route`]) and what an answer says about the
//! limits ([`RateLimitHeaders`], [`RateLimitBody`], [`RateLimitHit`]).
//!
//! ```ignore
//! let gate: Arc<dyn RequestGate> = Arc::new(RateLimiterHandle::from(limiter));
//! let rest = DiscordRest::new(&config.discord, gate, &log)?;
//! let page = rest.channel_messages(channel_id, Some(cursor), MAX_MESSAGES_PER_PAGE).await?;
//! ```

mod client;
mod endpoints;
mod error;
mod forbidden;
mod gate;
mod headers;
mod route;
#[cfg(test)]
pub(crate) mod test_server;

pub use client::{DEFAULT_RETRY_BACKOFF, DiscordRest, USER_AGENT};
pub use endpoints::{
    Application, ArchivedThreads, GatewayUrl, MAX_ARCHIVED_THREADS_PER_PAGE, MAX_MESSAGES_PER_PAGE,
    MIN_ARCHIVED_THREADS_PER_PAGE, MessageContentIntent, application_flags, routes,
};
pub use error::RestError;
pub use forbidden::{ForbiddenChannel, ForbiddenChannels, MAX_FORBIDDEN_CHANNELS};
pub use gate::{Permit, RateLimitError, RequestGate};
pub use headers::{
    RateLimitBody, RateLimitHeaders, RateLimitHit, RateLimitScope, ResponseOutcome, ResponseReport,
    UNSPECIFIED_RETRY_AFTER,
};
pub use route::{MajorKind, MajorParameter, Route, RouteId};
