//! What a response tells the limiter: the `X-RateLimit-*` headers, `Retry-After`, and the
//! JSON body of a 429, parsed once by the client and sent to the actor as plain data. Headers
//! and body can disagree; [`RateLimitHit::from_response`] takes the larger wait.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};

/// Wait assumed for a 429 that names none (Discord always does; a proxy might not). Long
/// enough not to hammer whoever answered, short enough not to stall a backfill for long.
pub const UNSPECIFIED_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Waits longer than this in a header or body are treated as this: a garbage value must not
/// park the service for days. An hour is above any limit Discord documents.
const LONGEST_CREDIBLE_WAIT: Duration = Duration::from_secs(3_600);

/// The `X-RateLimit-*` and `Retry-After` headers of one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// `X-RateLimit-Limit`: requests per reset window in this bucket.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// From `X-RateLimit-Reset-After` (seconds, float), else `X-RateLimit-Reset` (epoch
    /// seconds) minus our wall clock: Reset-After is preferred because clocks are skewed.
    pub reset_after: Option<Duration>,
    /// `X-RateLimit-Bucket`: routes answering the same hash share one limit.
    pub bucket: Option<String>,
    /// `X-RateLimit-Global: true`.
    pub global: bool,
    /// `X-RateLimit-Scope`.
    pub scope: Option<RateLimitScope>,
    /// `Retry-After` (whole seconds per Discord; an HTTP date is accepted too).
    pub retry_after: Option<Duration>,
}

impl RateLimitHeaders {
    /// Reads the headers; `wall_now` converts an absolute `X-RateLimit-Reset`.
    pub fn parse(headers: &HeaderMap, wall_now: SystemTime) -> Self {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let number = |name: &str| text(name).and_then(|value| value.trim().parse::<u32>().ok());
        let reset_after = text("x-ratelimit-reset-after")
            .and_then(parse_seconds)
            .or_else(|| {
                let reset = text("x-ratelimit-reset")?.trim().parse::<f64>().ok()?;
                let now = wall_now.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                let until = Duration::try_from_secs_f64(reset).ok()?;
                Some(until.saturating_sub(now))
            });
        Self {
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            reset_after: reset_after.map(credible),
            bucket: text("x-ratelimit-bucket")
                .map(str::trim)
                .filter(|hash| !hash.is_empty())
                .map(str::to_owned),
            global: text("x-ratelimit-global")
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("true")),
            scope: text("x-ratelimit-scope").and_then(RateLimitScope::from_header),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, wall_now))
                .map(credible),
        }
    }

    /// Whether any `X-RateLimit-*` header came: Discord's own answers carry them, a
    /// Cloudflare block page does not.
    pub fn from_discord(&self) -> bool {
        self.limit.is_some()
            || self.remaining.is_some()
            || self.reset_after.is_some()
            || self.bucket.is_some()
            || self.global
            || self.scope.is_some()
    }
}

/// A float number of seconds, as Discord writes them.
fn parse_seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// `Retry-After` is seconds or an HTTP date (RFC 9110); the date is converted with our clock.
fn parse_retry_after(text: &str, wall_now: SystemTime) -> Option<Duration> {
    parse_seconds(text).or_else(|| {
        let at = chrono::DateTime::parse_from_rfc2822(text.trim()).ok()?;
        let at = SystemTime::from(at.with_timezone(&chrono::Utc));
        Some(at.duration_since(wall_now).unwrap_or(Duration::ZERO))
    })
}

fn credible(wait: Duration) -> Duration {
    wait.min(LONGEST_CREDIBLE_WAIT)
}

/// Body of a 429 from Discord: `{message, retry_after (float s), global, code?}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RateLimitBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub retry_after: Option<f64>,
    #[serde(default)]
    pub global: Option<bool>,
    #[serde(default)]
    pub code: Option<i64>,
}

impl RateLimitBody {
    /// `None` for anything that is not such a JSON object (an HTML page from Cloudflare, an
    /// empty body).
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body).ok()
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .map(credible)
    }
}

/// Who a 429 applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitScope {
    /// This bucket, for this bot.
    User,
    /// Every request of this bot.
    Global,
    /// This bucket, shared with other bots (e.g. a busy channel); does not count toward the
    /// invalid-request budget.
    Shared,
    /// A Cloudflare block (HTML, no `X-RateLimit-*` headers): applies to every request from
    /// this IP address.
    Cloudflare,
}

impl RateLimitScope {
    pub const ALL: [RateLimitScope; 4] = [Self::User, Self::Global, Self::Shared, Self::Cloudflare];

    fn from_header(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "user" => Some(Self::User),
            "global" => Some(Self::Global),
            "shared" => Some(Self::Shared),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Global => "global",
            Self::Shared => "shared",
            Self::Cloudflare => "cloudflare",
        }
    }

    /// Whether every request must pause, not only those of one bucket.
    pub const fn blocks_everything(self) -> bool {
        matches!(self, Self::Global | Self::Cloudflare)
    }

    /// Whether the 429 counts toward the 10 000 invalid requests per 10 minutes.
    pub const fn counts_as_invalid(self) -> bool {
        !matches!(self, Self::Shared)
    }
}

impl fmt::Display for RateLimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One answer from Discord, reduced to what the limiter learns from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseReport {
    pub status: u16,
    pub headers: RateLimitHeaders,
    /// The parsed body of a 429 (`None` otherwise, or when it was not JSON).
    pub body: Option<RateLimitBody>,
}

/// How the request a permit was granted for ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseOutcome {
    /// Discord (or something in front of it) answered.
    Answered(ResponseReport),
    /// No answer: connect failure, timeout, broken body. Nothing to learn; the slot is freed.
    NoAnswer,
    /// The caller gave up before sending; the slot is freed and nothing is recorded.
    Unused,
}

/// What a 429 means: whom it blocks and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHit {
    pub scope: RateLimitScope,
    pub wait: Duration,
}

impl RateLimitHit {
    /// Reads a 429 of any shape: JSON body, headers only, Cloudflare HTML. Global when the
    /// header, the scope or the body says so; Cloudflare when neither a `X-RateLimit-*` header
    /// nor a JSON body came. The wait is the largest any source names.
    pub fn from_response(report: &ResponseReport) -> Self {
        let headers = &report.headers;
        let body = report.body.as_ref();
        let global = headers.global
            || headers.scope == Some(RateLimitScope::Global)
            || body.and_then(|body| body.global) == Some(true);
        let scope = if global {
            RateLimitScope::Global
        } else if !headers.from_discord() && body.is_none() {
            RateLimitScope::Cloudflare
        } else if headers.scope == Some(RateLimitScope::Shared) {
            RateLimitScope::Shared
        } else {
            RateLimitScope::User
        };
        // A bucket's Reset-After is about that bucket; it says nothing about a global pause.
        let bucket_reset = (!scope.blocks_everything())
            .then_some(headers.reset_after)
            .flatten();
        let wait = [
            body.and_then(RateLimitBody::retry_after),
            headers.retry_after,
            bucket_reset,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(UNSPECIFIED_RETRY_AFTER);
        Self { scope, wait }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    fn epoch(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn too_many(pairs: &[(&str, &str)], body: &str) -> ResponseReport {
        ResponseReport {
            status: 429,
            headers: RateLimitHeaders::parse(&headers(pairs), epoch(1_000)),
            body: RateLimitBody::parse(body.as_bytes()),
        }
    }

    #[test]
    fn reset_after_is_preferred_over_the_absolute_reset() {
        let parsed = RateLimitHeaders::parse(
            &headers(&[
                ("X-RateLimit-Limit", "5"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "1470173023.123"),
                ("X-RateLimit-Reset-After", "1.5"),
                ("X-RateLimit-Bucket", "abcd1234"),
            ]),
            epoch(1_470_173_000),
        );
        assert_eq!(parsed.limit, Some(5));
        assert_eq!(parsed.remaining, Some(0));
        assert_eq!(parsed.reset_after, Some(Duration::from_millis(1_500)));
        assert_eq!(parsed.bucket.as_deref(), Some("abcd1234"));
        assert!(parsed.from_discord());

        // Without Reset-After the epoch is converted with our clock.
        let parsed = RateLimitHeaders::parse(
            &headers(&[("X-RateLimit-Reset", "1470173023.5")]),
            epoch(1_470_173_020),
        );
        assert_eq!(parsed.reset_after, Some(Duration::from_millis(3_500)));
        // A reset in the past means no wait.
        let parsed = RateLimitHeaders::parse(
            &headers(&[("X-RateLimit-Reset", "10")]),
            epoch(1_470_173_020),
        );
        assert_eq!(parsed.reset_after, Some(Duration::ZERO));
    }

    #[test]
    fn garbage_headers_are_ignored_and_huge_waits_capped() {
        let parsed = RateLimitHeaders::parse(
            &headers(&[
                ("X-RateLimit-Limit", "many"),
                ("X-RateLimit-Reset-After", "-3"),
                ("Retry-After", "99999999"),
                ("X-RateLimit-Scope", "planet"),
            ]),
            epoch(0),
        );
        assert_eq!(parsed.limit, None);
        assert_eq!(parsed.reset_after, None);
        assert_eq!(parsed.scope, None);
        assert_eq!(parsed.retry_after, Some(LONGEST_CREDIBLE_WAIT));
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let parsed = RateLimitHeaders::parse(
            &headers(&[("Retry-After", "Thu, 01 Jan 1970 00:20:00 GMT")]),
            epoch(1_190),
        );
        assert_eq!(parsed.retry_after, Some(Duration::from_secs(10)));
    }

    #[test]
    fn json_429_with_global_in_the_body_only() {
        let hit = RateLimitHit::from_response(&too_many(
            &[("Retry-After", "1")],
            r#"{"message": "You are being rate limited.", "retry_after": 0.75, "global": true}"#,
        ));
        assert_eq!(hit.scope, RateLimitScope::Global);
        // Headers and body disagree: the larger wait wins.
        assert_eq!(hit.wait, Duration::from_secs(1));
    }

    #[test]
    fn header_global_flag_and_scope_header() {
        let hit = RateLimitHit::from_response(&too_many(
            &[("X-RateLimit-Global", "true"), ("Retry-After", "3")],
            "",
        ));
        assert_eq!(hit.scope, RateLimitScope::Global);
        assert_eq!(hit.wait, Duration::from_secs(3));

        let hit = RateLimitHit::from_response(&too_many(
            &[
                ("X-RateLimit-Scope", "shared"),
                ("X-RateLimit-Reset-After", "2.5"),
                ("Retry-After", "2"),
            ],
            r#"{"message": "x", "retry_after": 2.1, "global": false}"#,
        ));
        assert_eq!(hit.scope, RateLimitScope::Shared);
        assert!(!hit.scope.counts_as_invalid());
        assert_eq!(hit.wait, Duration::from_millis(2_500));
    }

    #[test]
    fn header_only_429_is_a_bucket_limit() {
        let hit = RateLimitHit::from_response(&too_many(
            &[
                ("X-RateLimit-Limit", "5"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset-After", "0.4"),
                ("X-RateLimit-Scope", "user"),
                ("Retry-After", "1"),
            ],
            "",
        ));
        assert_eq!(hit.scope, RateLimitScope::User);
        assert_eq!(hit.wait, Duration::from_secs(1));
    }

    #[test]
    fn cloudflare_html_blocks_everything() {
        let hit = RateLimitHit::from_response(&too_many(
            &[("Retry-After", "7")],
            "<html><head><title>Error 1015</title></head><body>You are being rate limited</body></html>",
        ));
        assert_eq!(hit.scope, RateLimitScope::Cloudflare);
        assert!(hit.scope.blocks_everything());
        assert_eq!(hit.wait, Duration::from_secs(7));
    }

    #[test]
    fn a_429_naming_no_wait_gets_the_default() {
        let hit = RateLimitHit::from_response(&too_many(&[], r#"{"message": "slow down"}"#));
        assert_eq!(hit.scope, RateLimitScope::User);
        assert_eq!(hit.wait, UNSPECIFIED_RETRY_AFTER);
    }
}
