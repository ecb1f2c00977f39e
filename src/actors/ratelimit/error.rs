//! Why a permit was not granted. [`RateLimitError::TokenRejected`] is fatal: nothing is sent
//! with that token again until the process restarts with a new one.

use actix::MailboxError;
use thiserror::Error;

use crate::supervisor::ComponentError;

#[derive(Debug, Error)]
pub enum RateLimitError {
    /// Discord answered 401: the token is invalid or revoked. Every further request is refused
    /// without being sent (a dead token must not burn the invalid-request budget).
    #[error("discord rejected the token (401); no further requests are sent with it")]
    TokenRejected,

    #[error("{waiting} requests already wait for a rate-limit permit")]
    Overloaded { waiting: usize },

    /// The actor restarted while the request waited; asking again works.
    #[error("rate limiter restarted while the request waited")]
    Interrupted,

    #[error("rate limiter unavailable")]
    Component(#[source] ComponentError),

    #[error("rate limiter unavailable")]
    Mailbox(#[source] MailboxError),
}

impl RateLimitError {
    /// Whether the token is dead (stop, alert, never retry).
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::TokenRejected)
    }
}
