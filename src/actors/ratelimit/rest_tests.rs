//! The client and the RateLimiterActor together against a local HTTP server answering with
//! real headers and every 429 shape. Timing assertions are lower bounds only ("not before"),
//! which a busy machine cannot break.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::json;
use slog::{Logger, o, warn};

use super::{
    RateLimitStatus, RateLimiterActor, RateLimiterHandle, RateLimiterMetrics, RateLimiterSettings,
    TokenRejected, TokenState,
};
use crate::actors::health::{GetHealth, HealthActor};
use crate::config::{LogLevel, Secret};
use crate::discord::Snowflake;
use crate::discord::config::{DiscordConfig, TokenType};
use crate::discord::rest::test_server::{FakeDiscord, FixedWindow, Recorded, Reply};
use crate::discord::rest::*;
use crate::logging::{LogBuffer, memory_logger};
use crate::metrics::Metrics;
use crate::supervisor::ComponentStatus;
use crate::supervisor::{Readiness, RestartPolicy, supervise};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.never-log-this-token-value";

/// Deadline for anything a test waits for; far above what an idle machine needs.
const GENEROUS_WAIT: Duration = Duration::from_secs(20);

const SECOND: Duration = Duration::from_secs(1);

struct Harness {
    server: FakeDiscord,
    rest: DiscordRest,
    limiter: RateLimiterHandle,
    token: TokenState,
    metrics: Arc<Metrics>,
    logs: LogBuffer,
    log: Logger,
}

fn config(base_url: String) -> DiscordConfig {
    DiscordConfig {
        token: Some(Secret::new(TOKEN)),
        api_base_url: base_url,
        // Out of the way: these tests are about Discord's limits.
        rate_limit_requests_per_minute: 3_000,
        max_retries: 3,
        connection_timeout: 10.0,
        ..DiscordConfig::default()
    }
}

fn start(
    responder: impl FnMut(&Recorded, usize) -> Reply + Send + 'static,
    tweak: impl FnOnce(&mut DiscordConfig),
) -> Harness {
    start_with(responder, tweak, None)
}

fn start_with(
    responder: impl FnMut(&Recorded, usize) -> Reply + Send + 'static,
    tweak: impl FnOnce(&mut DiscordConfig),
    token_rejected_to: Option<Recipient<TokenRejected>>,
) -> Harness {
    let server = FakeDiscord::start(responder);
    let mut config = config(server.base_url());
    tweak(&mut config);
    let (log, logs) = memory_logger(LogLevel::Debug);
    let metrics = Arc::new(Metrics::new());
    let token = TokenState::new();
    let mut limiter = RateLimiterActor::new(
        RateLimiterSettings::from_config(&config),
        token.clone(),
        &log,
    )
    .with_metrics(RateLimiterMetrics::register(&metrics).unwrap());
    if let Some(recipient) = token_rejected_to {
        limiter = limiter.notify_token_rejected(recipient);
    }
    let limiter = RateLimiterHandle::from(limiter.start());
    let rest = DiscordRest::new(&config, Arc::new(limiter.clone()), &log)
        .unwrap()
        .with_retry_backoff(Duration::from_millis(20));
    Harness {
        server,
        rest,
        limiter,
        token,
        metrics,
        logs,
        log,
    }
}

impl Harness {
    async fn status(&self) -> RateLimitStatus {
        self.limiter.status().await.unwrap()
    }

    fn metric(&self, needle: &str) -> Option<String> {
        self.metrics
            .render_prometheus()
            .lines()
            .find(|line| line.contains(needle) && !line.starts_with('#'))
            .map(str::to_owned)
    }
}

fn message(id: u64, channel_id: u64) -> serde_json::Value {
    json!({
        "id": id.to_string(), "channel_id": channel_id.to_string(),
        "author": {"id": "9", "username": "ann", "global_name": null},
        "content": "hello", "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null, "type": 0, "attachments": [], "embeds": [],
        "nonce": 123_456_789_u64
    })
}

fn me() -> Reply {
    Reply::json(
        200,
        json!({"id": "1", "username": "monitor", "global_name": null, "bot": true}),
    )
}

fn global_429(retry_after: u64) -> Reply {
    Reply::json(
        429,
        json!({"message": "You are being rate limited.", "retry_after": retry_after as f64, "global": true}),
    )
    .header("X-RateLimit-Global", "true")
    .header("X-RateLimit-Scope", "global")
    .header("Retry-After", retry_after)
}

async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + GENEROUS_WAIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_not_before(request: &Recorded, earliest: Instant, what: &str) {
    assert!(
        request.at >= earliest,
        "{what}: {} arrived {:?} too early",
        request.path,
        earliest - request.at
    );
}

#[actix_rt::test]
async fn tokens_user_agent_and_paging_query_are_sent_as_discord_expects() {
    let bot = start(
        |request, _| match request.path.as_str() {
            "/users/@me" => me(),
            _ => Reply::json(200, json!([message(12, 5), message(11, 5)])),
        },
        |_| {},
    );
    assert_eq!(bot.rest.current_user().await.unwrap().username, "monitor");
    let page = bot
        .rest
        .channel_messages(Snowflake(5), Some(Snowflake(10)), 100)
        .await
        .unwrap();
    assert_eq!(page[0].id, Snowflake(12));
    bot.rest
        .channel_messages_before(Snowflake(5), None, 1)
        .await
        .unwrap();
    let requests = bot.server.requests();
    let expected = format!("Bot {TOKEN}");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(requests[0].user_agent.as_deref(), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("DiscordBot (https://"));
    assert_eq!(requests[1].path, "/channels/5/messages");
    assert_eq!(requests[1].query, "after=10&limit=100");
    assert_eq!(requests[2].query, "limit=1");
    // Out-of-range page sizes are refused before anything is sent.
    for limit in [0, 101] {
        assert!(matches!(
            bot.rest.channel_messages(Snowflake(5), None, limit).await,
            Err(RestError::InvalidLimit(_))
        ));
    }
    assert_eq!(bot.server.requests().len(), 3);

    let user = start(|_, _| me(), |config| config.token_type = TokenType::User);
    user.rest.current_user().await.unwrap();
    assert_eq!(
        user.server.requests()[0].authorization.as_deref(),
        Some(TOKEN)
    );
    assert!(user.logs.text().contains("terms of service"));
    assert!(!bot.logs.text().contains("terms of service"));
}

#[actix_rt::test]
async fn requests_wait_for_the_reset_their_bucket_headers_announce() {
    let too_many = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&too_many);
    let mut window = FixedWindow::new(2, SECOND);
    let h = start(
        move |request, _| match window.take(request.at) {
            Ok((remaining, reset_after)) => {
                Reply::json(200, json!([])).bucket("msgs", 2, remaining, reset_after)
            }
            Err(reset_after) => {
                counted.fetch_add(1, Ordering::SeqCst);
                Reply::json(
                    429,
                    json!({"message": "slow", "retry_after": reset_after.as_secs_f64(), "global": false}),
                )
                .bucket("msgs", 2, 0, reset_after)
                .header("X-RateLimit-Scope", "user")
            }
        },
        |_| {},
    );
    let calls = (0..5).map(|_| h.rest.channel_messages(Snowflake(1), None, 100));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(
        too_many.load(Ordering::SeqCst),
        0,
        "a request broke the limit"
    );
    let requests = h.server.requests();
    assert_eq!(requests.len(), 5);
    assert_not_before(&requests[2], requests[0].at + SECOND, "third request");
    assert_not_before(&requests[4], requests[0].at + 2 * SECOND, "fifth request");
    // The waits show in the history and the metrics.
    let status = h.status().await;
    assert_eq!(status.recent_requests.len(), 5);
    assert!(status.recent_requests[0].wait_ms >= 1_000);
    assert_eq!(
        status.recent_requests[0].route,
        "GET /channels/{channel_id}/messages"
    );
    assert!(
        h.metric(
            r#"discord_monitor_rest_requests_total{route="GET /channels/{channel_id}/messages",status="200"}"#
        )
        .is_some_and(|line| line.ends_with(" 5"))
    );
    assert!(
        h.metric("discord_monitor_rest_rate_limit_wait_seconds_count")
            .is_some()
    );
    assert!(
        h.metric("discord_monitor_rest_rate_limit_buckets ")
            .is_some()
    );
    assert!(
        h.metric("discord_monitor_rest_invalid_requests 0")
            .is_some()
    );
}

#[actix_rt::test]
async fn a_global_429_means_no_request_at_all_inside_the_announced_window() {
    // The very first request of the run is answered with a global 429.
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    let h = start(
        move |_, _| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                global_429(1)
            } else {
                Reply::json(200, json!([]))
            }
        },
        |_| {},
    );
    let rest = h.rest.clone();
    let first =
        actix_rt::spawn(async move { rest.channel_messages(Snowflake(1), None, 100).await });
    wait_until("the limiter to learn the global pause", || async {
        h.status().await.global_pause_ms.is_some()
    })
    .await;
    let others = [2, 3].map(|channel| {
        let rest = h.rest.clone();
        actix_rt::spawn(async move { rest.channel_messages(Snowflake(channel), None, 100).await })
    });
    first.await.unwrap().unwrap();
    for other in others {
        other.await.unwrap().unwrap();
    }
    let requests = h.server.requests();
    assert_eq!(requests.len(), 4);
    let window_ends = requests[0].at + SECOND;
    for request in &requests[1..] {
        assert_not_before(request, window_ends, "request after a global 429");
    }
    assert!(
        h.metric("discord_monitor_rest_rate_limited_total{scope=\"global\"}")
            .is_some_and(|line| line.ends_with(" 1"))
    );
    assert_eq!(h.status().await.invalid_requests_last_10_minutes, 1);
}

#[actix_rt::test]
async fn a_header_only_shared_429_waits_and_is_not_counted_as_invalid() {
    let h = start(
        |_, nth| {
            if nth == 0 {
                Reply::empty(429)
                    .bucket("msgs", 5, 0, SECOND)
                    .header("X-RateLimit-Scope", "shared")
                    .header("Retry-After", 1)
            } else {
                Reply::json(200, json!([message(3, 1)])).bucket("msgs", 5, 4, SECOND)
            }
        },
        |_| {},
    );
    let page = h
        .rest
        .channel_messages(Snowflake(1), None, 100)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let requests = h.server.requests();
    assert_eq!(requests.len(), 2);
    assert_not_before(
        &requests[1],
        requests[0].at + SECOND,
        "retry after shared 429",
    );
    assert_eq!(h.status().await.invalid_requests_last_10_minutes, 0);
    assert!(
        h.metric("discord_monitor_rest_rate_limited_total{scope=\"shared\"}")
            // Present at 0 from the start: the 429 must have counted.
            .is_some_and(|line| !line.ends_with(" 0"))
    );
    assert!(h.logs.text().contains("Rate limited by Discord"));
}

#[actix_rt::test]
async fn a_cloudflare_html_429_pauses_and_is_retried() {
    let h = start(
        |_, nth| {
            if nth == 0 {
                Reply::html(
                    429,
                    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head><body>Error 1015</body></html>",
                )
                .header("Retry-After", 1)
            } else {
                me()
            }
        },
        |_| {},
    );
    assert_eq!(h.rest.current_user().await.unwrap().id, Snowflake(1));
    let requests = h.server.requests();
    assert_eq!(requests.len(), 2);
    assert_not_before(
        &requests[1],
        requests[0].at + SECOND,
        "retry after Cloudflare",
    );
    assert_eq!(h.status().await.invalid_requests_last_10_minutes, 1);
    assert!(
        h.metric("discord_monitor_rest_rate_limited_total{scope=\"cloudflare\"}")
            // Present at 0 from the start: the 429 must have counted.
            .is_some_and(|line| !line.ends_with(" 0"))
    );
}

#[actix_rt::test]
async fn a_bucket_still_exhausted_after_the_wait_gives_up_as_rate_limited() {
    let h = start(
        |_, _| {
            Reply::json(
                429,
                json!({"message": "slow", "retry_after": 0.05, "global": false}),
            )
            .bucket("msgs", 1, 0, Duration::from_millis(50))
        },
        |_| {},
    );
    let err = h
        .rest
        .channel_messages(Snowflake(1), None, 100)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestError::RateLimited { attempts: 5, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
}

/// Collects the TokenRejected notifications.
struct Alerts(Arc<Mutex<Vec<TokenRejected>>>);

impl Actor for Alerts {
    type Context = Context<Self>;
}

impl Handler<TokenRejected> for Alerts {
    type Result = ();

    fn handle(&mut self, msg: TokenRejected, _ctx: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg);
    }
}

#[actix_rt::test]
async fn a_401_stops_every_request_waiting_or_to_come() {
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let alert_addr = Alerts(Arc::clone(&alerts)).start();
    let h = start_with(
        |_, _| {
            Reply::json(401, json!({"message": "401: Unauthorized", "code": 0}))
                .delayed(Duration::from_millis(100))
        },
        |_| {},
        Some(alert_addr.recipient()),
    );
    // Three requests on one channel: the bucket is unknown, so one goes and two wait.
    let calls = (0..3).map(|_| h.rest.channel_messages(Snowflake(1), None, 100));
    let results = futures_util::future::join_all(calls).await;
    let unauthorized = results
        .iter()
        .filter(|result| matches!(result, Err(RestError::Unauthorized { .. })))
        .count();
    let not_sent = results
        .iter()
        .filter(|result| matches!(result, Err(RestError::Fatal { .. })))
        .count();
    assert_eq!((unauthorized, not_sent), (1, 2));
    assert!(
        results
            .iter()
            .all(|result| { result.as_ref().is_err_and(RestError::is_fatal) })
    );

    // Nothing is sent any more, on any route.
    assert!(matches!(
        h.rest.current_user().await,
        Err(RestError::Fatal { .. })
    ));
    assert!(matches!(
        h.rest.guild(Snowflake(3)).await,
        Err(RestError::Fatal { .. })
    ));
    assert_eq!(h.server.requests().len(), 1);
    assert!(h.token.is_rejected());
    assert!(h.status().await.token_rejected);
    wait_until("the token alert", || async {
        !alerts.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(alerts.lock().unwrap().len(), 1);
    assert!(
        h.logs
            .text()
            .contains("check DISCORD_TOKEN and discord.token_type")
    );
}

#[actix_rt::test]
async fn a_supervised_limiter_reports_the_dead_token_to_health_and_keeps_it_dead() {
    let server =
        FakeDiscord::start(|_, _| Reply::json(401, json!({"message": "401: Unauthorized"})));
    let config = config(server.base_url());
    let log = Logger::root(slog::Discard, o!());
    let health = HealthActor::new(Duration::from_secs(600), &log).start();
    let token = TokenState::new();
    let settings = RateLimiterSettings::from_config(&config);
    let factory_token = token.clone();
    let factory_log = log.clone();
    let limiter = supervise(
        "discord_rest",
        Readiness::Required,
        RestartPolicy::default(),
        health.clone().recipient(),
        move |lifecycle| {
            RateLimiterActor::new(settings.clone(), factory_token.clone(), &factory_log)
                .with_lifecycle(lifecycle)
        },
    );
    let rest = DiscordRest::new(&config, Arc::new(RateLimiterHandle::from(limiter)), &log).unwrap();
    assert!(matches!(
        rest.current_user().await,
        Err(RestError::Unauthorized { .. })
    ));
    wait_until("health to show the rejected token", || async {
        let report = health
            .send(GetHealth {
                refresh_probes: false,
            })
            .await
            .unwrap();
        report
            .components
            .get("discord_rest")
            .is_some_and(|component| {
                component.status == ComponentStatus::Degraded
                    && component
                        .last_error
                        .as_deref()
                        .is_some_and(|error| error.contains("401"))
            })
    })
    .await;
    assert!(matches!(
        rest.current_user().await,
        Err(RestError::Fatal { .. })
    ));
    assert_eq!(server.requests().len(), 1);
    assert!(token.is_rejected());
}

#[actix_rt::test]
async fn a_403_is_not_retried_and_the_channel_is_remembered() {
    let h = start(
        |_, _| Reply::json(403, json!({"message": "Missing Access", "code": 50001})),
        |_| {},
    );
    let err = h
        .rest
        .channel_messages(Snowflake(5), None, 100)
        .await
        .unwrap_err();
    assert_eq!(err.forbidden_channel(), Some(Snowflake(5)));
    assert!(!err.is_fatal() && !err.is_retryable());
    assert!(h.rest.forbidden_channels().contains(Snowflake(5)));
    assert_eq!(
        h.rest.forbidden_channels().snapshot()[0].channel_id,
        Snowflake(5)
    );
    // A guild-scoped 403 names no channel.
    let err = h.rest.guild_channels(Snowflake(9)).await.unwrap_err();
    assert_eq!(err.forbidden_channel(), None);
    assert_eq!(h.rest.forbidden_channels().len(), 1);
    assert_eq!(h.server.requests().len(), 2);
    assert_eq!(h.status().await.invalid_requests_last_10_minutes, 2);
}

#[actix_rt::test]
async fn archived_threads_are_paged_by_archive_time_and_a_private_403_forbids_nothing() {
    let thread = |id: u64, archived_at: &str| {
        json!({
            "id": id.to_string(), "type": 11, "guild_id": "9", "parent_id": "5",
            "name": format!("thread {id}"), "owner_id": "7", "member_count": 2,
            "thread_metadata": {"archived": true, "archive_timestamp": archived_at,
                "auto_archive_duration": 1440, "locked": false, "unknown": 1}
        })
    };
    let h = start(
        move |request, _| match request.path.as_str() {
            "/channels/5/threads/archived/public" if request.query.contains("before") => {
                Reply::json(
                    200,
                    json!({"threads": [thread(21, "2026-01-01T09:00:00.000000+00:00")],
                           "members": [], "has_more": false}),
                )
            }
            "/channels/5/threads/archived/public" => Reply::json(
                200,
                json!({"threads": [thread(23, "2026-01-01T11:00:00.000000+00:00"),
                                   thread(22, "2026-01-01T10:00:00.000000+00:00")],
                       "members": [{"id": "23", "user_id": "7"}], "has_more": true}),
            ),
            _ => Reply::json(
                403,
                json!({"message": "Missing Permissions", "code": 50013}),
            ),
        },
        |_| {},
    );
    let first = h
        .rest
        .archived_public_threads(Snowflake(5), None, 2)
        .await
        .unwrap();
    assert!(first.has_more);
    assert_eq!(first.threads.len(), 2);
    let oldest = first.threads[1].thread_metadata.clone().unwrap();
    assert!(oldest.archived);
    let before = oldest.archive_timestamp.unwrap();
    assert_eq!(before, "2026-01-01T10:00:00.000000+00:00");
    let second = h
        .rest
        .archived_public_threads(Snowflake(5), Some(before), 100)
        .await
        .unwrap();
    assert!(!second.has_more);
    assert_eq!(second.threads[0].id, Snowflake(21));

    let err = h
        .rest
        .archived_private_threads(Snowflake(5), None, 100)
        .await
        .unwrap_err();
    assert!(matches!(err, RestError::Forbidden { .. }), "{err}");
    assert_eq!(err.forbidden_channel(), None);
    assert!(h.rest.forbidden_channels().is_empty());
    // Discord refuses pages of fewer than two threads: refused before anything is sent.
    for limit in [1, 101] {
        assert!(matches!(
            h.rest
                .archived_public_threads(Snowflake(5), None, limit)
                .await,
            Err(RestError::InvalidLimit(_))
        ));
    }

    let requests = h.server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].query, "limit=2");
    // The timestamp's `:` and `+` go out escaped, or `+` would read as a space.
    assert_eq!(
        requests[1].query,
        "before=2026-01-01T10%3A00%3A00.000000%2B00%3A00&limit=100"
    );
    assert_eq!(requests[2].path, "/channels/5/threads/archived/private");
    let status = h.status().await;
    assert!(
        status
            .recent_requests
            .iter()
            .any(|r| r.route.contains("/threads/archived/public")),
        "requests go through the limiter: {:?}",
        status.recent_requests
    );
}

#[actix_rt::test]
async fn server_errors_are_retried_up_to_max_retries() {
    let h = start(
        |request, nth| match request.path.as_str() {
            "/users/@me" if nth < 2 => Reply::html(502, "<html>502 Bad Gateway</html>"),
            "/users/@me" => me(),
            _ => Reply::json(500, json!({"message": "500: Internal Server Error"})),
        },
        |config| config.max_retries = 3,
    );
    h.rest.current_user().await.unwrap();
    assert_eq!(h.server.requests_to("/users/@me").len(), 3);
    let err = h.rest.get_gateway_bot().await.unwrap_err();
    assert!(
        matches!(
            err,
            RestError::Server {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(h.server.requests_to("/gateway/bot").len(), 4);
    assert!(h.logs.text().contains("Discord request failed, retrying"));
}

#[actix_rt::test]
async fn transport_failures_are_retried_then_reported() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = start(
        |_, _| me(),
        |config| {
            config.api_base_url = format!("http://127.0.0.1:{closed_port}/api/v10");
            config.max_retries = 1;
        },
    );
    let err = h.rest.current_user().await.unwrap_err();
    assert!(
        matches!(err, RestError::Transport { attempts: 2, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    let status = h.status().await;
    assert_eq!(status.recent_requests.len(), 2);
    assert!(
        status
            .recent_requests
            .iter()
            .all(|record| record.status.is_none())
    );
    assert!(
        h.metric("status=\"error\"")
            .is_some_and(|line| line.ends_with(" 2"))
    );
}

#[actix_rt::test]
async fn routes_answering_one_bucket_hash_share_its_limit() {
    let too_many = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&too_many);
    let mut shared = FixedWindow::new(2, SECOND);
    let h = start(
        move |request, _| match shared.take(request.at) {
            Ok((remaining, reset_after)) => {
                let body = if request.path.ends_with("/messages") {
                    json!([])
                } else {
                    json!({"id": "1", "type": 0, "name": "general"})
                };
                Reply::json(200, body).bucket("shared-hash", 2, remaining, reset_after)
            }
            Err(reset_after) => {
                counted.fetch_add(1, Ordering::SeqCst);
                Reply::json(
                    429,
                    json!({"message": "slow", "retry_after": 1.0, "global": false}),
                )
                .bucket("shared-hash", 2, 0, reset_after)
            }
        },
        |_| {},
    );
    h.rest.channel(Snowflake(1)).await.unwrap();
    h.rest
        .channel_messages(Snowflake(1), None, 100)
        .await
        .unwrap();
    // The channel route's bucket was emptied by the messages route: this one waits.
    h.rest.channel(Snowflake(1)).await.unwrap();
    assert_eq!(too_many.load(Ordering::SeqCst), 0);
    let requests = h.server.requests();
    assert_not_before(&requests[2], requests[0].at + SECOND, "shared bucket");
}

#[actix_rt::test]
async fn a_caller_giving_up_hands_its_permit_back() {
    let h = start(
        |_, nth| {
            let reply = Reply::json(200, json!([]));
            if nth == 0 {
                reply.delayed(Duration::from_secs(3))
            } else {
                reply
            }
        },
        |_| {},
    );
    let abandoned = actix_rt::time::timeout(
        Duration::from_millis(200),
        h.rest.channel_messages(Snowflake(1), None, 100),
    )
    .await;
    assert!(abandoned.is_err());
    wait_until("the permit to be handed back", || async {
        h.status().await.in_flight == 0
    })
    .await;
    // The channel's unlearned bucket is free again long before the permit's lease ends.
    let started = Instant::now();
    h.rest
        .channel_messages(Snowflake(1), None, 100)
        .await
        .unwrap();
    assert!(started.elapsed() < RateLimiterSettings::default().in_flight_lease);
}

#[actix_rt::test]
async fn undecodable_answers_carry_a_short_excerpt_and_the_path() {
    let h = start(
        |request, _| match request.path.as_str() {
            "/users/@me/guilds" => Reply::json(200, json!({"unexpected": "object"})),
            _ => Reply::json(
                200,
                json!({"id": "7", "type": "text", "padding": "x".repeat(500)}),
            ),
        },
        |_| {},
    );
    let err = h.rest.channel(Snowflake(7)).await.unwrap_err();
    let RestError::Decode {
        route,
        excerpt,
        source,
    } = &err
    else {
        panic!("expected a decode error, got {err}");
    };
    assert_eq!(route, "GET /channels/{channel_id}");
    assert!(excerpt.starts_with(r#"{"id":"7","type":"text""#));
    assert!(excerpt.chars().count() <= 201);
    assert_eq!(source.path().to_string(), "type");
    assert!(h.rest.current_user_guilds().await.is_err());
}

#[actix_rt::test]
async fn guild_lists_are_read_page_by_page() {
    let h = start(
        |_, nth| {
            let ids = if nth == 0 { 1..=200_u64 } else { 201..=203 };
            Reply::json(
                200,
                serde_json::Value::Array(
                    ids.map(|id| json!({"id": id.to_string(), "name": format!("g{id}")}))
                        .collect(),
                ),
            )
        },
        |_| {},
    );
    let guilds = h.rest.current_user_guilds().await.unwrap();
    assert_eq!(guilds.len(), 203);
    let requests = h.server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].query, "limit=200");
    assert_eq!(requests[1].query, "limit=200&after=200");
}

#[actix_rt::test]
async fn the_token_never_reaches_logs_errors_or_debug_output() {
    let h = start(
        |request, _| match request.path.as_str() {
            "/users/@me" => me(),
            "/channels/1/messages" => Reply::json(403, json!({"message": "Missing Access"})),
            "/channels/2" => Reply::json(200, json!({"id": "2", "type": "bad"})),
            "/gateway/bot" => Reply::html(503, "<html>upstream connect error</html>"),
            "/channels/3/messages" => global_429(0),
            _ => Reply::json(401, json!({"message": "401: Unauthorized"})),
        },
        |config| config.max_retries = 1,
    );
    let mut seen = vec![format!("{:?}", h.rest)];
    h.rest.current_user().await.unwrap();
    let errors = [
        h.rest
            .channel_messages(Snowflake(1), None, 100)
            .await
            .unwrap_err(),
        h.rest.channel(Snowflake(2)).await.unwrap_err(),
        h.rest.get_gateway_bot().await.unwrap_err(),
        h.rest.guild(Snowflake(4)).await.unwrap_err(),
        h.rest.guild(Snowflake(5)).await.unwrap_err(),
    ];
    for err in &errors {
        // As a caller would log it.
        warn!(h.log, "Discord call failed"; "error" => %err, "debug" => ?err);
        seen.push(err.to_string());
        seen.push(format!("{err:?}"));
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            seen.push(cause.to_string());
            source = cause.source();
        }
    }
    seen.push(serde_json::to_string(&h.status().await).unwrap());
    seen.push(h.metrics.render_prometheus());
    seen.push(h.logs.text());
    assert!(
        h.logs.lines().len() > 5,
        "the scenario logged too little to prove anything"
    );
    let secret_part = TOKEN.rsplit('.').next().unwrap();
    for text in seen {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(secret_part), "token leaked: {text}");
    }
}
