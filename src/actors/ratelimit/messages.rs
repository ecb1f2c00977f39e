//! Messages the RateLimiterActor handles, the permit it grants, and the status it reports
//! for `/status`. Timestamps are RFC 3339 in UTC with milliseconds, like every log line's `ts`.

use actix::Message;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::discord::rest::{Permit, RateLimitError, RateLimitScope, ResponseOutcome, Route};

/// Answers once the request may go: at once, or when its bucket, the global limit, our
/// ceiling or a 429 pause allows. The actor computes the wait and answers later; nothing
/// sleeps inside it. Dropping the answer's future gives up the place in the queue.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Permit, RateLimitError>")]
pub struct AcquirePermit {
    pub route: Route,
}

/// How the request a permit was granted for ended: the actor learns the bucket from the
/// headers, pauses after a 429, stops everything after a 401, and frees the slot.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ReportResponse {
    pub permit: Permit,
    pub outcome: ResponseOutcome,
}

/// The limiter's state and the last requests, for `/status`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "RateLimitStatus")]
pub struct GetRateLimitStatus;

/// Sent (with `try_send`) to whoever asked, the first time Discord rejects the token.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct TokenRejected {
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitStatus {
    /// Discord answered 401: nothing is sent any more.
    pub token_rejected: bool,
    pub buckets: usize,
    /// Requests waiting for a permit.
    pub waiting: usize,
    /// Requests granted and not yet answered.
    pub in_flight: usize,
    /// 401/403/429 answers in the last ten minutes (Discord bans at 10 000).
    pub invalid_requests_last_10_minutes: u32,
    /// Time left of a global or Cloudflare pause.
    pub global_pause_ms: Option<u64>,
    /// Newest first.
    pub recent_requests: Vec<RequestRecord>,
}

/// One request as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Route template, e.g. `GET /channels/{channel_id}/messages`.
    pub route: String,
    /// `None`: no answer (connection failure or timeout).
    pub status: Option<u16>,
    /// Time spent waiting for the permit.
    pub wait_ms: u64,
    /// When the answer (or the failure) came.
    #[serde(serialize_with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// Set on a 429.
    pub rate_limit_scope: Option<RateLimitScope>,
}

fn rfc3339_millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}
