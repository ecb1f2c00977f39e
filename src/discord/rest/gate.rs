//! What the REST client asks before every request and reports after it: the [`RequestGate`]
//! (in the service, the RateLimiterActor's handle; the client does not know which), the
//! [`Permit`] it grants and why it may refuse one ([`RateLimitError`]).

use std::time::Duration;

use futures_util::future::BoxFuture;
use thiserror::Error;

use super::headers::ResponseOutcome;
use super::route::Route;

/// Leave to send one request on `route`. Report how it went ([`RequestGate::report`], or
/// [`RequestGate::release_unused`]); a permit never reported frees its slot only after the
/// gate's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    /// Identifies the permit in its report.
    pub ticket: u64,
    pub route: Route,
    /// How long the request waited for the permit.
    pub waited: Duration,
}

/// Decides when each request may go, and learns from each answer, so the process as a whole
/// stays inside Discord's limits.
pub trait RequestGate: Send + Sync + 'static {
    /// Waits for leave to send one request on `route`. Dropping the future gives up the place
    /// in the queue.
    fn acquire(&self, route: Route) -> BoxFuture<'static, Result<Permit, RateLimitError>>;

    /// Reports how the request went; resolves once the gate has learned from it, so the
    /// caller's next request already sees the new state.
    fn report(
        &self,
        permit: Permit,
        outcome: ResponseOutcome,
    ) -> BoxFuture<'static, Result<(), RateLimitError>>;

    /// Gives an unused permit back without waiting (from `Drop`).
    fn release_unused(&self, permit: Permit);
}

/// Why a permit was not granted. [`RateLimitError::TokenRejected`] is fatal: nothing is sent
/// with that token again until the process restarts with a new one.
#[derive(Debug, Error)]
pub enum RateLimitError {
    /// Discord answered 401: the token is invalid or revoked. Every further request is refused
    /// without being sent (a dead token must not burn the invalid-request budget).
    #[error("discord rejected the token (401); no further requests are sent with it")]
    TokenRejected,

    #[error("{waiting} requests already wait for a rate-limit permit")]
    Overloaded { waiting: usize },

    /// The gate restarted while the request waited; asking again works.
    #[error("rate limiter restarted while the request waited")]
    Interrupted,

    /// The gate cannot be reached (its actor is restarting, failed or stopped).
    #[error("rate limiter unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RateLimitError {
    /// Whether the token is dead (stop, alert, never retry).
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::TokenRejected)
    }
}
