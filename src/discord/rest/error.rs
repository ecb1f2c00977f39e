//! Why a REST call failed. [`RestError::is_fatal`] marks a dead token (stop, alert, never
//! retry); [`RestError::Forbidden`] names the channel to remember and skip. No variant holds
//! a header, and so none can hold the token.

use thiserror::Error;

use super::gate::RateLimitError;
use crate::discord::Snowflake;

#[derive(Debug, Error)]
pub enum RestError {
    /// Discord answered 401: the token is invalid or revoked. The limiter refuses every
    /// further request.
    #[error("discord rejected the token (401) on {route}")]
    Unauthorized { route: String },

    /// The token was rejected earlier; this request was not sent.
    #[error("{route} not sent: discord rejected the token earlier")]
    Fatal { route: String },

    /// Discord answered 403: no access. Channel-scoped ones are remembered in
    /// [`super::ForbiddenChannels`].
    #[error("no access to {route} (403)")]
    Forbidden {
        route: String,
        channel_id: Option<Snowflake>,
    },

    #[error("{route} not found (404)")]
    NotFound { route: String },

    /// Still 429 after the limiter waited out each one.
    #[error("{route} still rate limited after {attempts} attempts")]
    RateLimited { route: String, attempts: u32 },

    #[error("discord answered {status} on {route} after {attempts} attempts")]
    Server {
        route: String,
        status: u16,
        attempts: u32,
    },

    /// Another 4xx: a request Discord considers wrong.
    #[error("discord refused {route} with {status}: {excerpt}")]
    Refused {
        route: String,
        status: u16,
        excerpt: String,
    },

    #[error("{route} failed after {attempts} attempts")]
    Transport {
        route: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// The answer was not what the route returns; `excerpt` is the start of the body.
    #[error("cannot decode the answer of {route} (body starts {excerpt:?})")]
    Decode {
        route: String,
        excerpt: String,
        #[source]
        source: serde_path_to_error::Error<serde_json::Error>,
    },

    #[error("rate limiter refused {route}")]
    Limiter {
        route: String,
        #[source]
        source: RateLimitError,
    },

    #[error(
        "page size {0} is outside the range discord accepts on this route (messages 1..=100, archived threads 2..=100)"
    )]
    InvalidLimit(u8),

    #[error("discord.token is not set (DISCORD_TOKEN or DISCORD_TOKEN_FILE)")]
    MissingToken,

    /// The value itself is never shown.
    #[error("discord.token contains characters an HTTP header cannot carry")]
    InvalidToken,

    #[error("discord.connection_timeout must be a positive number of seconds, got {0}")]
    InvalidTimeout(f64),

    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

impl RestError {
    /// The token is dead: nothing will succeed until it is replaced.
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::Fatal { .. })
    }

    /// Whether the same call may succeed later without any change on our side.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. } => true,
            Self::Limiter { source, .. } => !source.is_fatal(),
            _ => false,
        }
    }

    /// The channel a 403 was about.
    pub const fn forbidden_channel(&self) -> Option<Snowflake> {
        match self {
            Self::Forbidden { channel_id, .. } => *channel_id,
            _ => None,
        }
    }
}
