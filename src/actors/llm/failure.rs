//! The outcome of one provider call: a reply with its usage, or a failure sorted into a
//! [`FailureClass`], which decides what the router does next.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Serialize;

use crate::circuit_breaker::Failure;

/// What the router does with a failure; each class says its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// 408, 409, 429 per-minute, 5xx, timeouts, connection errors: retry with backoff, then
    /// fall back.
    Transient,
    /// Bad key, no credits, daily quota, unknown model: open the circuit for a long cooldown
    /// and fall back at once.
    TargetDown,
    /// The request itself is wrong: fail without fallback and without counting against the
    /// target.
    RequestBad,
    /// The prompt exceeds the model's context: fall back to a larger model.
    TooLong,
    /// Safety or content filters: recorded, falls back, never a circuit failure.
    Blocked,
    /// The answer hit the output limit before it was complete.
    Truncated,
    /// The answer is not the JSON the schema asks for.
    InvalidReply,
}

impl FailureClass {
    pub const ALL: [FailureClass; 7] = [
        FailureClass::Transient,
        FailureClass::TargetDown,
        FailureClass::RequestBad,
        FailureClass::TooLong,
        FailureClass::Blocked,
        FailureClass::Truncated,
        FailureClass::InvalidReply,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::TargetDown => "target_down",
            FailureClass::RequestBad => "request_bad",
            FailureClass::TooLong => "too_long",
            FailureClass::Blocked => "blocked",
            FailureClass::Truncated => "truncated",
            FailureClass::InvalidReply => "invalid_reply",
        }
    }

    /// What the failure means to the target's circuit breaker; `None` when the answer proves
    /// the target alive (a bad request, blocked content, an invalid reply).
    pub const fn breaker_failure(self, server_delay: Option<Duration>) -> Option<Failure> {
        match self {
            FailureClass::Transient => Some(Failure::Transient),
            // A daily quota names its own reset; the breaker keeps the longer of the two.
            FailureClass::TargetDown => Some(Failure::Down {
                at_least: server_delay,
            }),
            FailureClass::RequestBad
            | FailureClass::TooLong
            | FailureClass::Blocked
            | FailureClass::Truncated
            | FailureClass::InvalidReply => None,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tokens billed for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    /// Billed output tokens, thinking tokens included.
    pub output_tokens: u64,
    /// The part of `output_tokens` spent thinking (Gemini `thoughtsTokenCount`, OpenAI
    /// `reasoning_tokens`).
    pub thinking_tokens: u64,
    /// The part of `input_tokens` served from the provider's cache. Billed at the full input
    /// price (an overestimate, never a double count).
    pub cached_tokens: u64,
    /// The provider's own cost figure in USD (OpenRouter `usage.cost`); preferred when given.
    pub reported_cost_usd: Option<f64>,
}

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderReply {
    /// The answer's text (thought parts left out).
    pub text: String,
    pub usage: Usage,
}

/// A failed call, classified. `message` is the provider's own error text (never a key, never
/// the prompt).
#[derive(Debug, Clone, PartialEq)]
pub struct CallFailure {
    pub class: FailureClass,
    /// HTTP status when there was an answer.
    pub status: Option<u16>,
    /// How long the server asked us to wait (Retry-After, retry-after-ms, Gemini RetryInfo;
    /// for a daily quota, the time to the next UTC midnight).
    pub retry_after: Option<Duration>,
    pub message: String,
    /// Usage billed even though the call failed (truncated or blocked answers).
    pub usage: Option<Usage>,
}

impl CallFailure {
    pub fn new(class: FailureClass, status: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            class,
            status,
            retry_after: None,
            message: message.into(),
            usage: None,
        }
    }

    pub fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        self.retry_after = delay;
        self
    }

    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// A transport-level failure: timeouts, refused or reset connections are transient.
    pub fn from_transport(err: &reqwest::Error) -> Self {
        let what = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        Self::new(FailureClass::Transient, None, format!("{what}: {err}"))
    }
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.class)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Longest error text kept from a provider answer, in chars: enough for the reason, short
/// enough for a log line (and an echoed prompt fragment stays a fragment).
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

pub(crate) fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(MAX_ERROR_MESSAGE_CHARS).collect();
    if text.chars().count() > MAX_ERROR_MESSAGE_CHARS {
        clipped.push('…');
    }
    clipped
}

/// `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date.
pub(crate) fn header_delay(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(ms) = text("retry-after-ms").and_then(|value| value.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    wait.to_std().ok().or(Some(Duration::ZERO))
}

/// Gemini's protobuf duration text: `"34s"`, `"1.5s"`.
pub(crate) fn parse_proto_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Time to the next UTC midnight: when a daily quota or budget resets.
pub fn until_utc_midnight() -> Duration {
    let now = chrono::Utc::now();
    let tomorrow = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc());
    tomorrow
        .and_then(|midnight| (midnight - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

/// Provider messages that mean "the prompt is longer than the context window".
pub(crate) fn mentions_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "maximum context",
        "context window",
        "too many tokens",
        "input token count",
        "exceeds the maximum number of tokens",
        "prompt is too long",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Status-based class shared by both wire formats; the callers refine 400 and 429.
pub(crate) fn class_of_status(status: u16) -> FailureClass {
    match status {
        401..=404 => FailureClass::TargetDown,
        408 | 409 | 425 | 429 => FailureClass::Transient,
        413 => FailureClass::TooLong,
        500..=599 => FailureClass::Transient,
        _ => FailureClass::RequestBad,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn server_delays_are_read_from_every_header_form() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(header_delay(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(header_delay(&headers), Some(Duration::from_millis(1500)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(header_delay(&dated), Some(Duration::ZERO));
        assert_eq!(parse_proto_duration("34s"), Some(Duration::from_secs(34)));
        assert_eq!(
            parse_proto_duration("0.5s"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_proto_duration("soon"), None);
    }

    #[test]
    fn midnight_is_within_a_day() {
        assert!(until_utc_midnight() <= Duration::from_secs(86_400));
    }
}
