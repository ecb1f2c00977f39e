//! [`DiscordRest`]: the one way the service calls Discord's REST API. Every request waits for
//! a permit from the [`RequestGate`] (the RateLimiterActor) and reports its answer back; 5xx answers and transport
//! failures are retried up to `discord.max_retries` times with jittered exponential backoff,
//! 429s are retried after the wait the limiter imposes. The token travels only in the
//! `Authorization` header, marked sensitive; no log line, error or Debug output shows it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use slog::{Logger, info, o, warn};

use super::error::RestError;
use super::forbidden::ForbiddenChannels;
use super::gate::{Permit, RateLimitError, RequestGate};
use super::headers::{RateLimitBody, RateLimitHeaders, ResponseOutcome, ResponseReport};
use super::route::Route;
use crate::discord::config::{DiscordConfig, TokenType};

/// What Discord asks bots to send (`DiscordBot ($url, $versionNumber)`).
pub const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/discord-monitor, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// Wait before the first retry of a 5xx or transport failure; doubled for each further one.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// Cap on the wait between retries: Discord outages are usually over in seconds, and a
/// caller (backfill) has its own schedule for longer ones.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(10);

/// 429 answers one call accepts before giving up. Each was waited out by the limiter, so
/// more than a few means the limits changed under us; the caller tries again later.
const MAX_RATE_LIMITED_ATTEMPTS: u32 = 5;

/// Characters of a body kept in a decode or refusal error: enough to recognise an HTML page
/// or an error object, short enough for a log line.
const BODY_EXCERPT_CHARS: usize = 200;

/// Cheap to clone; clones share the HTTP connection pool and the forbidden-channel set.
#[derive(Clone)]
pub struct DiscordRest {
    inner: Arc<Inner>,
    retry_backoff: Duration,
}

struct Inner {
    http: reqwest::Client,
    /// Without a trailing slash; paths start with one.
    base_url: String,
    /// `Bot <token>` or the bare user token, marked sensitive.
    authorization: HeaderValue,
    token_type: TokenType,
    limiter: Arc<dyn RequestGate>,
    forbidden: ForbiddenChannels,
    max_retries: u32,
    /// `logger = discord_rest`.
    log: Logger,
}

impl DiscordRest {
    /// A client for `config`'s token and API base; every request goes through `limiter`.
    pub fn new(
        config: &DiscordConfig,
        limiter: Arc<dyn RequestGate>,
        log: &Logger,
    ) -> Result<Self, RestError> {
        let token = config
            .token
            .as_ref()
            .filter(|token| !token.is_empty())
            .ok_or(RestError::MissingToken)?;
        let credential = match config.token_type {
            TokenType::Bot => format!("Bot {}", token.expose().trim()),
            TokenType::User => token.expose().trim().to_owned(),
        };
        let mut authorization =
            HeaderValue::from_str(&credential).map_err(|_| RestError::InvalidToken)?;
        authorization.set_sensitive(true);
        let timeout = Duration::try_from_secs_f64(config.connection_timeout)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or(RestError::InvalidTimeout(config.connection_timeout))?;

        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            // Every attempt must pass the limiter, so reqwest retries nothing on its own.
            .retry(reqwest::retry::never())
            .build()
            .map_err(RestError::Client)?;

        let log = log.new(o!("logger" => "discord_rest"));
        if config.token_type == TokenType::User {
            warn!(log, "Using a user token: automating a user account breaks Discord's terms of service and can get the account banned";
                "hint" => "create a bot (https://discord.com/developers/applications) and set discord.token_type to bot");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.api_base_url.trim_end_matches('/').to_owned(),
                authorization,
                token_type: config.token_type,
                limiter,
                forbidden: ForbiddenChannels::new(),
                max_retries: config.max_retries,
                log,
            }),
            retry_backoff: DEFAULT_RETRY_BACKOFF,
        })
    }

    /// Changes the wait before the first retry (tests and the simulator shorten it).
    pub fn with_retry_backoff(mut self, initial: Duration) -> Self {
        self.retry_backoff = initial;
        self
    }

    pub fn token_type(&self) -> TokenType {
        self.inner.token_type
    }

    /// Channels that answered 403; consult it before asking about a channel.
    pub fn forbidden_channels(&self) -> &ForbiddenChannels {
        &self.inner.forbidden
    }

    /// `GET {base}{path}?{query}` on `route`, decoded as `T`.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        route: Route,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, RestError> {
        let url = format!("{}{}", self.inner.base_url, path);
        let label = route.label();
        let mut failures = 0_u32;
        let mut rate_limited = 0_u32;
        loop {
            let permit = self.acquire(route, &label).await?;
            let guard = PermitGuard {
                limiter: self.inner.limiter.as_ref(),
                permit: Some(permit),
            };
            let sent = self
                .inner
                .http
                .get(&url)
                .header(AUTHORIZATION, self.inner.authorization.clone())
                .query(query)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(source) => {
                    guard.report(ResponseOutcome::NoAnswer).await;
                    failures += 1;
                    if failures > self.inner.max_retries {
                        return Err(RestError::Transport {
                            route: label,
                            attempts: failures,
                            source,
                        });
                    }
                    self.retry_after_failure(&label, failures, &source).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let headers = RateLimitHeaders::parse(response.headers(), SystemTime::now());
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(source) => {
                    // Status and headers came, so they still teach the limiter.
                    guard.report(answered(status, headers, None)).await;
                    failures += 1;
                    if failures > self.inner.max_retries {
                        return Err(RestError::Transport {
                            route: label,
                            attempts: failures,
                            source,
                        });
                    }
                    self.retry_after_failure(&label, failures, &source).await;
                    continue;
                }
            };
            let rate_limit_body = (status == 429)
                .then(|| RateLimitBody::parse(&body))
                .flatten();
            guard
                .report(answered(status, headers, rate_limit_body))
                .await;
            match status {
                200..=299 => return decode(&label, &body),
                401 => return Err(RestError::Unauthorized { route: label }),
                403 => return Err(self.forbidden(route, label)),
                404 => return Err(RestError::NotFound { route: label }),
                429 => {
                    rate_limited += 1;
                    if rate_limited >= MAX_RATE_LIMITED_ATTEMPTS {
                        return Err(RestError::RateLimited {
                            route: label,
                            attempts: rate_limited,
                        });
                    }
                }
                500..=599 => {
                    failures += 1;
                    if failures > self.inner.max_retries {
                        return Err(RestError::Server {
                            route: label,
                            status,
                            attempts: failures,
                        });
                    }
                    self.retry_after_failure(&label, failures, &format!("status {status}"))
                        .await;
                }
                _ => {
                    return Err(RestError::Refused {
                        route: label,
                        status,
                        excerpt: excerpt(&body),
                    });
                }
            }
        }
    }

    async fn acquire(&self, route: Route, label: &str) -> Result<Permit, RestError> {
        self.inner
            .limiter
            .acquire(route)
            .await
            .map_err(|source| match source {
                RateLimitError::TokenRejected => RestError::Fatal {
                    route: label.to_owned(),
                },
                source => RestError::Limiter {
                    route: label.to_owned(),
                    source,
                },
            })
    }

    fn forbidden(&self, route: Route, label: String) -> RestError {
        // Listing private archived threads needs MANAGE_THREADS: its 403 says nothing about
        // access to the channel itself.
        let channel_id = route
            .channel_id()
            .filter(|_| route.id != super::routes::ARCHIVED_PRIVATE_THREADS.id);
        if let Some(channel_id) = channel_id
            && self.inner.forbidden.insert(channel_id)
        {
            info!(self.inner.log, "No access to channel, skipping it from now on";
                "channel_id" => channel_id.get(), "route" => &label);
        }
        RestError::Forbidden {
            route: label,
            channel_id,
        }
    }

    async fn retry_after_failure(&self, label: &str, failures: u32, error: &dyn fmt::Display) {
        let delay = self.retry_delay(failures);
        warn!(self.inner.log, "Discord request failed, retrying";
            "route" => label,
            "attempt" => failures,
            "retry_in_ms" => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "error" => %error);
        tokio::time::sleep(delay).await;
    }

    /// `retry_backoff * 2^(failures - 1)`, capped, with up to half taken off at random so
    /// that callers failing together do not retry together.
    fn retry_delay(&self, failures: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let base = self
            .retry_backoff
            .saturating_mul(factor)
            .min(MAX_RETRY_BACKOFF);
        base.mul_f64(rand::random_range(0.5..=1.0))
    }
}

impl fmt::Debug for DiscordRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordRest")
            .field("base_url", &self.inner.base_url)
            .field("token_type", &self.inner.token_type)
            .field("token", &crate::config::REDACTED)
            .finish_non_exhaustive()
    }
}

fn answered(
    status: u16,
    headers: RateLimitHeaders,
    body: Option<RateLimitBody>,
) -> ResponseOutcome {
    ResponseOutcome::Answered(ResponseReport {
        status,
        headers,
        body,
    })
}

/// A permit between acquiring and reporting: if the caller's future is dropped in between,
/// the permit is handed back instead of holding its bucket until the lease runs out.
struct PermitGuard<'a> {
    limiter: &'a dyn RequestGate,
    permit: Option<Permit>,
}

impl PermitGuard<'_> {
    async fn report(mut self, outcome: ResponseOutcome) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // A limiter that is gone or restarting has forgotten the permit anyway; the next
        // acquire reports the trouble.
        let _ = self.limiter.report(permit, outcome).await;
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.limiter.release_unused(permit);
        }
    }
}

fn decode<T: DeserializeOwned>(label: &str, body: &[u8]) -> Result<T, RestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|source| RestError::Decode {
        route: label.to_owned(),
        excerpt: excerpt(body),
        source,
    })
}

/// The start of a body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut short: String = text
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        short.push('…');
    }
    short
}
