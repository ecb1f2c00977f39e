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
    /// The server refused how we asked for structured output (a 400/422 naming
    /// `response_format`, `json_schema`, `schema`, `grammar`, `responseSchema`): a capability
    /// of the target, never retried as transient, never a circuit failure. Under `auto` the
    /// target steps down one mode and the call is sent again at once; otherwise falls back.
    UnsupportedFormat,
    /// The server refused another field of the request (`max_tokens`, `temperature`, ...): a
    /// capability or configuration mismatch of the target; falls back at once, never a
    /// circuit failure.
    UnsupportedParameter,
}

impl FailureClass {
    pub const ALL: [FailureClass; 9] = [
        FailureClass::Transient,
        FailureClass::TargetDown,
        FailureClass::RequestBad,
        FailureClass::TooLong,
        FailureClass::Blocked,
        FailureClass::Truncated,
        FailureClass::InvalidReply,
        FailureClass::UnsupportedFormat,
        FailureClass::UnsupportedParameter,
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
            FailureClass::UnsupportedFormat => "unsupported_format",
            FailureClass::UnsupportedParameter => "unsupported_parameter",
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
            | FailureClass::InvalidReply
            | FailureClass::UnsupportedFormat
            | FailureClass::UnsupportedParameter => None,
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

/// Request fields that carry the structured-output mode, in every wire format and server
/// dialect we send or might be answered about (compared lower-case, camelCase flattened).
const FORMAT_FIELDS: &[&str] = &[
    "response_format",
    "json_schema",
    "schema",
    "grammar",
    "guided_json",
    "guided_grammar",
    "responseschema",
    "response_schema",
    "responsejsonschema",
    "response_json_schema",
    "responsemimetype",
    "response_mime_type",
];

/// Other request fields a server may not take, or take only within limits of its own.
const PARAMETER_FIELDS: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "maxoutputtokens",
    "max_output_tokens",
    "thinkingconfig",
    "thinking_config",
    "thinkingbudget",
    "thinking_budget",
];

/// The class of a refusal that names a field of our request: [`FailureClass::UnsupportedFormat`]
/// or [`FailureClass::UnsupportedParameter`]; `None` when `message` names none of them or the
/// answer is no refusal of the request. A refusal is an HTTP 400 or 422, or a request
/// validation error under any status: llama-cpp-python's server answers a `response_format`
/// it does not know with HTTP 500 and pydantic's "validation error ... ('body',
/// 'response_format', 'type')".
pub(crate) fn refused_field(status: u16, message: &str) -> Option<FailureClass> {
    if !(matches!(status, 400 | 422) || is_request_validation_error(message)) {
        return None;
    }
    let words: Vec<String> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let names = |fields: &[&str]| words.iter().any(|word| fields.contains(&word.as_str()));
    if names(FORMAT_FIELDS) {
        Some(FailureClass::UnsupportedFormat)
    } else if names(PARAMETER_FIELDS) {
        Some(FailureClass::UnsupportedParameter)
    } else {
        None
    }
}

/// Pydantic's report of a request body that failed validation (FastAPI servers: vLLM,
/// llama-cpp-python), in its text form (`'loc': ('body', ...)`) or as JSON
/// (`"loc":["body", ...]`).
fn is_request_validation_error(message: &str) -> bool {
    let compact: String = message.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("'loc':('body'") || compact.contains("\"loc\":[\"body\"")
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
    fn refusals_naming_a_request_field_are_capabilities_not_outages() {
        // llama-cpp-python 0.3.36, verbatim apart from the path of its source file.
        let llama_cpp_python = "1 validation error:\n  {'type': 'literal_error', 'loc': \
            ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or \
            'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or \
            'json_object'\"}}\n\n  File \"app.py\", line 376, in create_chat_completion";
        assert_eq!(
            refused_field(500, llama_cpp_python),
            Some(FailureClass::UnsupportedFormat)
        );
        let fastapi = r#"{"detail":[{"type":"literal_error","loc":["body","response_format","type"],"msg":"Input should be 'text' or 'json_object'"}]}"#;
        assert_eq!(
            refused_field(422, fastapi),
            Some(FailureClass::UnsupportedFormat)
        );
        let llama_server = "Either \"json_schema\" or \"grammar\" can be specified, but not both";
        assert_eq!(
            refused_field(400, llama_server),
            Some(FailureClass::UnsupportedFormat)
        );
        let gemini = "Invalid JSON payload received. Unknown name \"responseSchema\" at \
            'generation_config': Cannot find field.";
        assert_eq!(
            refused_field(400, gemini),
            Some(FailureClass::UnsupportedFormat)
        );
        assert_eq!(
            refused_field(400, "Unsupported parameter: 'max_tokens' is not supported"),
            Some(FailureClass::UnsupportedParameter)
        );
        // Not a field of ours, or not a refusal of the request.
        assert_eq!(refused_field(400, "Unsupported parameter: 'foo'"), None);
        assert_eq!(refused_field(500, "schema registry unavailable"), None);
        assert_eq!(
            refused_field(503, "response_format handler overloaded"),
            None
        );
        assert_eq!(refused_field(400, "schemas are fine, budget is not"), None);
    }

    #[test]
    fn midnight_is_within_a_day() {
        assert!(until_utc_midnight() <= Duration::from_secs(86_400));
    }
}
