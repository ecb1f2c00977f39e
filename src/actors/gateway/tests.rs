//! The GatewayActor end to end: a real actor under the supervisor, reporting to a real
//! HealthActor, connected over loopback to the scripted gateway in `test_server`, with its
//! log in memory. Every test ends by checking that the token never reached the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use slog::{Logger, o};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::test_server::{GENEROUS_WAIT, ServerConn, TestGateway};
use super::*;
use crate::actors::db::DbError;
use crate::actors::health::{GetHealth, HealthActor, HealthReport};
use crate::config::{LogLevel, Secret};
use crate::discord::config::{Compression, TokenType};
use crate::discord::gateway::{
    GatewayBot, GatewayEvent, PersistedSession, ResumableSession, SequencedEvent,
    SessionStartLimit, intents, token_fingerprint,
};
use crate::discord::rest::RestError;
use crate::discord::{Snowflake, channel_type};
use crate::logging::{LogBuffer, memory_logger};
use crate::metrics::Metrics;
use crate::supervisor::{
    AskError, ComponentError, ComponentHandle, ComponentStatus, Readiness, RestartPolicy, supervise,
};

const TOKEN: &str = "MTAxNTk4NzY1NDMy.Gx7Yqz.kept-secret-token-value";

const COMPONENT: &str = "discord_gateway";

/// Long enough that no heartbeat interferes with a script that is not about heartbeats.
const QUIET_INTERVAL_MS: u64 = 45_000;

fn fast_timing() -> GatewayTiming {
    GatewayTiming {
        hello_timeout: Duration::from_secs(10),
        identify_interval: Duration::from_millis(50),
        invalid_session_delay: (Duration::from_millis(50), Duration::from_millis(150)),
        max_reconnect_backoff: Duration::from_millis(200),
        max_failed_resumes: 3,
        close_timeout: Duration::from_secs(1),
        degraded_after_failures: 3,
    }
}

fn plenty_of_session_starts() -> SessionStartLimit {
    SessionStartLimit {
        total: 1000,
        remaining: 998,
        reset_after: 3_600_000,
        max_concurrency: 1,
    }
}

struct Options {
    compression: Compression,
    queue_capacity: usize,
    session_start_limit: SessionStartLimit,
    token_type: TokenType,
    timing: GatewayTiming,
    /// `GET /gateway/bot` fails this many times before it answers.
    info_failures: usize,
    /// Set `discord.gateway_url` to the test server.
    configured_url: bool,
    /// What the saved-session source answers (built with the test server's URL); `None`:
    /// the actor has no source.
    saved_session: Option<SavedAnswer>,
}

/// What a saved-session source answers, given the test server's URL.
type SavedAnswer = fn(&str) -> Result<Option<PersistedSession>, SessionLoadError>;

impl Default for Options {
    fn default() -> Self {
        Self {
            compression: Compression::None,
            queue_capacity: 256,
            session_start_limit: plenty_of_session_starts(),
            token_type: TokenType::Bot,
            timing: fast_timing(),
            info_failures: 0,
            configured_url: false,
            saved_session: None,
        }
    }
}

struct Harness {
    server: TestGateway,
    events: mpsc::Receiver<SequencedEvent>,
    gateway: ComponentHandle<GatewayActor>,
    health: Addr<HealthActor>,
    logs: LogBuffer,
    registry: Arc<Metrics>,
    info_calls: Arc<AtomicUsize>,
    started_at: Instant,
}

impl Harness {
    async fn start(options: Options) -> Self {
        let server = TestGateway::start().await;
        let (log, logs) = memory_logger(LogLevel::Debug);
        let health =
            HealthActor::new(Duration::from_secs(600), &Logger::root(slog::Discard, o!())).start();
        let registry = Arc::new(Metrics::new());
        let metrics = GatewayMetrics::register(&registry).unwrap();
        let info_calls = Arc::new(AtomicUsize::new(0));
        let bot = GatewayBot {
            url: server.url(),
            shards: 1,
            session_start_limit: options.session_start_limit,
        };
        let calls = Arc::clone(&info_calls);
        let info_failures = options.info_failures;
        let gateway_info: GatewayInfoSource = Arc::new(move || {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let answer = if call < info_failures {
                Err(RestError::Server {
                    route: "GET /gateway/bot".to_owned(),
                    status: 503,
                    attempts: 1,
                })
            } else {
                Ok(bot.clone())
            };
            Box::pin(async move { answer })
        });
        let settings = GatewaySettings {
            token: Secret::new(TOKEN),
            token_type: options.token_type,
            intents: intents::DEFAULT,
            shard: [0, 1],
            compression: options.compression,
            connection_timeout: Duration::from_secs(5),
            gateway_url: options.configured_url.then(|| server.url()),
            timing: options.timing,
        };
        let (sender, events) = mpsc::channel(options.queue_capacity);
        let saved_session: Option<PersistedSessionSource> = options.saved_session.map(|answer| {
            let url = server.url();
            let source: PersistedSessionSource = Arc::new(move |shard_id| {
                assert_eq!(shard_id, 0, "asked for its own shard");
                let answer = answer(&url);
                Box::pin(async move { answer })
            });
            source
        });
        let policy = RestartPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_restarts: 5,
            window: Duration::from_secs(60),
        };
        let gateway = supervise(
            COMPONENT,
            Readiness::Required,
            policy,
            health.clone().recipient(),
            move |lifecycle| {
                let actor = GatewayActor::new(
                    settings.clone(),
                    Arc::clone(&gateway_info),
                    sender.clone(),
                    metrics.clone(),
                    &log,
                    lifecycle,
                );
                match &saved_session {
                    Some(source) => actor.with_persisted_sessions(Arc::clone(source)),
                    None => actor,
                }
            },
        );
        Self {
            server,
            events,
            gateway,
            health,
            logs,
            registry,
            info_calls,
            started_at: Instant::now(),
        }
    }

    async fn next_connection(&mut self) -> ServerConn {
        self.server.next_connection().await
    }

    async fn next_event(&mut self) -> GatewayEvent {
        self.next_item().await.event
    }

    /// The next queued event with its session and sequence number.
    async fn next_item(&mut self) -> SequencedEvent {
        tokio::time::timeout(GENEROUS_WAIT, self.events.recv())
            .await
            .expect("timed out waiting for an event")
            .expect("event queue closed")
    }

    /// True if no event arrives within `wait`.
    async fn no_event_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .is_err()
    }

    async fn status(&self) -> GatewayStatus {
        self.gateway.send(GetGatewayStatus).await.unwrap()
    }

    async fn health(&self) -> HealthReport {
        self.health
            .send(GetHealth {
                refresh_probes: false,
            })
            .await
            .unwrap()
    }

    async fn wait_for_status(&self, what: &str, check: impl Fn(&GatewayStatus) -> bool) {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            if check(&self.status().await) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_for_component(&self, status: ComponentStatus) -> HealthReport {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            let report = self.health().await;
            if report
                .components
                .get(COMPONENT)
                .is_some_and(|component| component.status == status)
            {
                return report;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {status}");
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The value of one series in the Prometheus text, e.g. `name{label="x"}`.
    fn metric(&self, series: &str) -> f64 {
        self.registry
            .render_prometheus()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series}"))
    }

    /// Plays HELLO, checks the IDENTIFY and answers READY with `seq`.
    async fn identify(&self, conn: &mut ServerConn, seq: u64, session_id: &str) -> Value {
        conn.hello(QUIET_INTERVAL_MS);
        let identify = conn.expect_op(2).await;
        conn.ready(seq, session_id, &format!("{}/resume", self.server.url()));
        identify
    }

    fn assert_no_token_logged(&self) {
        let text = self.logs.text();
        assert!(!text.is_empty());
        assert!(!text.contains(TOKEN), "the token reached the log");
        assert!(
            !text.contains("kept-secret"),
            "part of the token reached the log"
        );
    }
}

fn message(id: u64, content: &str) -> Value {
    json!({
        "id": id.to_string(), "channel_id": "200", "guild_id": "300",
        "author": {"id": "7", "username": "ann", "global_name": "Ann", "bot": false},
        "member": {"nick": null, "roles": []},
        "content": content, "timestamp": "2026-11-28T21:27:06.123000+00:00",
        "edited_timestamp": null, "type": 0, "nonce": 1_234_567_890_123_u64, "tts": false,
        "attachments": [], "embeds": [], "mentions": [], "pinned": false
    })
}

fn message_id(event: &GatewayEvent) -> u64 {
    match event {
        GatewayEvent::MessageCreate(message) => message.id.get(),
        other => panic!("expected MESSAGE_CREATE, got {other:?}"),
    }
}

fn assert_ready(event: &GatewayEvent, session: &str, resumed_expected: bool) {
    match event {
        GatewayEvent::Ready {
            session_id,
            user,
            resumed,
        } => {
            assert_eq!(session_id, session);
            assert_eq!(user.id, Snowflake(900));
            assert_eq!(*resumed, resumed_expected);
        }
        other => panic!("expected Ready, got {other:?}"),
    }
}

#[test]
fn every_connection_uses_the_same_query_string() {
    use super::actor::with_query;
    assert_eq!(
        with_query("wss://gateway.discord.gg", Compression::None),
        "wss://gateway.discord.gg/?v=10&encoding=json"
    );
    assert_eq!(
        with_query(
            "wss://gateway-us-east1-b.discord.gg/",
            Compression::ZlibStream
        ),
        "wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json&compress=zlib-stream"
    );
    assert_eq!(
        with_query("ws://127.0.0.1:9/gw?proxy=1", Compression::None),
        "ws://127.0.0.1:9/gw?proxy=1&v=10&encoding=json"
    );
}

#[actix_rt::test]
async fn identify_ready_and_dispatches_become_events() {
    let mut harness = Harness::start(Options::default()).await;
    let mut conn = harness.next_connection().await;
    assert_eq!(conn.path, "/?v=10&encoding=json");
    let identify = harness.identify(&mut conn, 1, "session-a").await;
    let d = &identify["d"];
    assert_eq!(d["token"], TOKEN, "bot tokens go in IDENTIFY as they are");
    assert_eq!(d["intents"], intents::DEFAULT);
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["large_threshold"], 50);
    assert_eq!(d["properties"]["os"], std::env::consts::OS);

    conn.dispatch(
        "MESSAGE_CREATE",
        2,
        message(1001, r#"say {"t":"READY","op":7}"#),
    );
    conn.dispatch(
        "TYPING_START",
        3,
        json!({"channel_id": "200", "user_id": "7"}),
    );
    conn.dispatch(
        "MESSAGE_UPDATE",
        4,
        json!({"id": "1001", "channel_id": "200", "guild_id": "300", "embeds": [{"type": "link"}]}),
    );
    let mut edited = message(1001, "edited");
    edited["edited_timestamp"] = json!("2026-11-28T21:30:00+00:00");
    conn.dispatch("MESSAGE_UPDATE", 5, edited);
    conn.dispatch(
        "MESSAGE_DELETE",
        6,
        json!({"id": "1001", "channel_id": "200", "guild_id": "300"}),
    );
    conn.dispatch(
        "MESSAGE_DELETE_BULK",
        7,
        json!({"ids": ["1", "2"], "channel_id": "200", "guild_id": "300"}),
    );
    conn.dispatch(
        "GUILD_CREATE",
        8,
        json!({"id": "300", "name": "Guild", "unavailable": false, "member_count": 3,
               "channels": [{"id": "200", "type": 0, "name": "general"}],
               "threads": [{"id": "201", "type": 11, "parent_id": "200", "name": "t"}]}),
    );
    conn.dispatch("GUILD_UPDATE", 9, json!({"id": "300", "name": "Renamed"}));
    conn.dispatch(
        "CHANNEL_CREATE",
        10,
        json!({"id": "202", "type": 0, "guild_id": "300"}),
    );
    conn.dispatch(
        "CHANNEL_UPDATE",
        11,
        json!({"id": "202", "type": 0, "name": "x"}),
    );
    conn.dispatch("CHANNEL_DELETE", 12, json!({"id": "202", "type": 0}));
    conn.dispatch(
        "THREAD_CREATE",
        13,
        json!({"id": "203", "type": 11, "parent_id": "200", "newly_created": true}),
    );
    conn.dispatch(
        "THREAD_UPDATE",
        14,
        json!({"id": "203", "type": 11, "parent_id": "200"}),
    );
    conn.dispatch(
        "THREAD_DELETE",
        15,
        json!({"id": "203", "type": 11, "parent_id": "200"}),
    );
    conn.dispatch(
        "THREAD_LIST_SYNC",
        16,
        json!({"guild_id": "300", "threads": [{"id": "204", "type": 11, "parent_id": "200"}],
               "members": []}),
    );
    conn.dispatch(
        "GUILD_DELETE",
        17,
        json!({"id": "300", "unavailable": true}),
    );

    assert_ready(&harness.next_event().await, "session-a", false);
    match harness.next_event().await {
        GatewayEvent::MessageCreate(message) => {
            assert_eq!(message.content, r#"say {"t":"READY","op":7}"#);
            assert_eq!(message.guild_id, Some(Snowflake(300)));
        }
        other => panic!("unexpected {other:?}"),
    }
    // TYPING_START is ignored: the next event is the partial update.
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::MessageUpdatePartial(update) if update.embeds.as_ref().is_some_and(|e| e.len() == 1)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::MessageUpdate(message) if message.edited_timestamp.is_some()
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::MessageDelete(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::MessageDeleteBulk(bulk) if bulk.ids.len() == 2
    ));
    match harness.next_event().await {
        GatewayEvent::GuildCreate(guild) => {
            assert_eq!(guild.channels.len(), 1);
            assert!(channel_type::is_thread(guild.threads[0].kind));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(harness.next_event().await, GatewayEvent::GuildUpdate(guild) if guild.name == "Renamed")
    );
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ChannelCreate(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ChannelUpdate(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ChannelDelete(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ThreadCreate(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ThreadUpdate(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ThreadDelete(_)
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::ThreadListSync { guild_id: Snowflake(300), threads } if threads.len() == 1
    ));
    assert!(matches!(
        harness.next_event().await,
        GatewayEvent::GuildDelete {
            id: Snowflake(300),
            unavailable: true
        }
    ));

    harness
        .wait_for_status("sequence 17", |status| status.sequence == Some(17))
        .await;
    let status = harness.status().await;
    assert_eq!(status.state, GatewayState::Ready);
    assert!(status.session);
    assert_eq!(status.identifies, 1);
    assert_eq!(status.reconnects, 0);
    assert!(status.connected_since.is_some());
    harness.wait_for_component(ComponentStatus::Up).await;
    assert_eq!(harness.metric("discord_monitor_gateway_connected"), 1.0);
    assert_eq!(
        harness.metric(r#"discord_monitor_gateway_events_total{type="MESSAGE_UPDATE"}"#),
        2.0
    );
    assert_eq!(
        harness.metric(r#"discord_monitor_gateway_events_total{type="other"}"#),
        1.0
    );
    assert_eq!(harness.info_calls.load(Ordering::SeqCst), 1);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn heartbeats_start_jittered_repeat_and_carry_the_sequence() {
    let mut harness = Harness::start(Options::default()).await;
    let mut conn = harness.next_connection().await;
    let interval = Duration::from_millis(200);
    conn.hello(200);
    let hello_sent = Instant::now();
    conn.expect_op(2).await;
    // Before READY the sequence is null.
    let first_beat = wait_for_beats(&conn, 1).await[0].clone();
    assert_eq!(first_beat.1, Value::Null);
    // The first beat waits a random share of the interval (plus scheduling slack).
    assert!(first_beat.0.duration_since(hello_sent) < interval + Duration::from_millis(500));

    conn.ready(5, "session-a", &harness.server.url());
    harness.next_event().await;
    let before = conn.heartbeats().len();
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    let beats = conn.heartbeats();
    // About 7 in 1.5 s; a busy machine may delay some, never add many.
    let new_beats = beats.len() - before;
    assert!((3..=12).contains(&new_beats), "{new_beats} beats");
    assert_eq!(
        beats.last().unwrap().1,
        json!(5),
        "READY's own sequence counts"
    );

    // Op 1 is answered at once; with a long interval no scheduled beat comes meanwhile.
    let mut quiet = {
        conn.close(4000);
        harness.next_connection().await
    };
    quiet.hello(QUIET_INTERVAL_MS);
    quiet.expect_op(6).await;
    let count = quiet.heartbeats().len();
    quiet.send(json!({"op": 1, "d": null}));
    let answered = wait_for_beats(&quiet, count + 1).await;
    assert_eq!(answered.last().unwrap().1, json!(5));
    harness
        .wait_for_status("a heartbeat latency", |status| {
            status.last_heartbeat_latency_ms.is_some()
        })
        .await;
    assert_eq!(harness.metric("discord_monitor_gateway_zombie_total"), 0.0);
    harness.assert_no_token_logged();
}

/// Waits until `conn` has received at least `count` heartbeats.
async fn wait_for_beats(conn: &ServerConn, count: usize) -> Vec<(Instant, Value)> {
    let deadline = Instant::now() + GENEROUS_WAIT;
    loop {
        let beats = conn.heartbeats();
        if beats.len() >= count {
            return beats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for heartbeats"
        );
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_rt::test]
async fn op_7_resumes_on_the_resume_url_with_the_last_sequence() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    first.dispatch("MESSAGE_CREATE", 2, message(2, "two"));
    first.dispatch("MESSAGE_CREATE", 3, message(3, "three"));
    assert_ready(&harness.next_event().await, "session-a", false);
    assert_eq!(message_id(&harness.next_event().await), 2);
    assert_eq!(message_id(&harness.next_event().await), 3);

    // Right behind op 7: read or not, it must not be delivered, since the resume replays it.
    first.send(json!({"op": 7, "d": null, "s": null, "t": null}));
    first.dispatch("MESSAGE_CREATE", 4, message(4, "missed"));
    assert_eq!(
        first.closed().await,
        Some(4000),
        "a planned resume never closes 1000"
    );

    let mut second = harness.next_connection().await;
    assert_eq!(
        second.path, "/resume/?v=10&encoding=json",
        "same query string"
    );
    // RESUME waits for this connection's HELLO.
    assert!(second.silent_for(Duration::from_millis(300)).await);
    second.hello(QUIET_INTERVAL_MS);
    let resume = second.expect_op(6).await;
    assert_eq!(resume["d"]["token"], TOKEN);
    assert_eq!(resume["d"]["session_id"], "session-a");
    assert_eq!(resume["d"]["seq"], 3);
    // The replay, then RESUMED.
    second.dispatch("MESSAGE_CREATE", 4, message(4, "missed"));
    second.dispatch("RESUMED", 5, Value::Null);
    second.dispatch("MESSAGE_CREATE", 6, message(6, "live"));
    assert_eq!(message_id(&harness.next_event().await), 4);
    assert_ready(&harness.next_event().await, "session-a", true);
    assert_eq!(message_id(&harness.next_event().await), 6);

    harness
        .wait_for_status("sequence 6", |status| status.sequence == Some(6))
        .await;
    let status = harness.status().await;
    assert_eq!(status.state, GatewayState::Ready);
    assert_eq!(
        (status.identifies, status.resumes, status.reconnects),
        (1, 1, 1)
    );
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn invalid_session_false_identifies_anew_and_signals_the_lost_session() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    first.dispatch("MESSAGE_CREATE", 2, message(2, "two"));
    assert_ready(&harness.next_event().await, "session-a", false);
    assert_eq!(message_id(&harness.next_event().await), 2);

    first.send(json!({"op": 9, "d": false}));
    assert_eq!(first.closed().await, Some(4000));
    let mut second = harness.next_connection().await;
    assert_eq!(
        second.path, "/?v=10&encoding=json",
        "identify goes to the gateway URL"
    );
    second.hello(QUIET_INTERVAL_MS);
    let identify = second.expect_op(2).await;
    assert_eq!(identify["d"]["token"], TOKEN);
    second.ready(1, "session-b", &harness.server.url());
    assert_ready(&harness.next_event().await, "session-b", false);
    assert_eq!(harness.next_event().await, GatewayEvent::SessionLost);

    let status = harness.status().await;
    assert_eq!((status.identifies, status.resumes), (2, 0));
    assert_eq!(
        harness.metric("discord_monitor_gateway_invalid_sessions_total"),
        1.0
    );
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn invalid_session_true_resumes() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    first.send(json!({"op": 9, "d": true}));
    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    let resume = second.expect_op(6).await;
    assert_eq!(resume["d"]["seq"], 1);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn fatal_close_4004_makes_one_attempt_and_fails_the_component() {
    let mut harness = Harness::start(Options::default()).await;
    let mut conn = harness.next_connection().await;
    conn.hello(QUIET_INTERVAL_MS);
    conn.expect_op(2).await;
    conn.close(4004);

    let report = harness.wait_for_component(ComponentStatus::Failed).await;
    assert!(!report.ready);
    let component = &report.components[COMPONENT];
    assert!(
        component
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("4004") && error.contains("token")),
        "{component:?}"
    );
    assert!(
        harness
            .server
            .no_connection_within(Duration::from_secs(2))
            .await,
        "no second attempt after a fatal close"
    );
    // Still answering, for /status.
    let status = harness.status().await;
    assert_eq!(status.state, GatewayState::Failed);
    assert_eq!(status.last_close_code, Some(4004));
    assert_eq!(status.identifies, 1);
    assert_eq!(harness.info_calls.load(Ordering::SeqCst), 1);
    assert_eq!(harness.gateway.restarts(), 0, "not a restart loop either");
    assert!(harness.no_event_within(Duration::from_millis(100)).await);
    assert_eq!(
        harness.metric(r#"discord_monitor_gateway_close_codes_total{code="4004"}"#),
        1.0
    );
    assert!(harness.logs.text().contains("fatal code"));
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_dropped_tcp_connection_reconnects_and_resumes() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    for seq in 2..=4 {
        first.dispatch("MESSAGE_CREATE", seq, message(seq, "burst"));
    }
    first.drop_tcp();
    assert_ready(&harness.next_event().await, "session-a", false);
    for id in 2..=4 {
        assert_eq!(message_id(&harness.next_event().await), id);
    }

    let mut second = harness.next_connection().await;
    assert!(second.path.starts_with("/resume/"));
    second.hello(QUIET_INTERVAL_MS);
    let resume = second.expect_op(6).await;
    assert_eq!(resume["d"]["seq"], 4);
    second.dispatch("RESUMED", 5, Value::Null);
    assert_ready(&harness.next_event().await, "session-a", true);
    assert_eq!(
        harness.metric(r#"discord_monitor_gateway_close_codes_total{code="none"}"#),
        1.0
    );
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn an_unacknowledged_heartbeat_closes_the_zombie_and_resumes() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    first.set_acks(false);
    first.hello(200);
    first.expect_op(2).await;
    first.ready(1, "session-a", &format!("{}/resume", harness.server.url()));
    assert_ready(&harness.next_event().await, "session-a", false);
    let silent_since = Instant::now();
    assert_eq!(first.closed().await, Some(4000));
    // Two intervals after the last frame, plus slack for a busy machine.
    assert!(silent_since.elapsed() < Duration::from_secs(5));

    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    assert_eq!(second.expect_op(6).await["d"]["seq"], 1);
    assert_eq!(harness.metric("discord_monitor_gateway_zombie_total"), 1.0);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn zlib_stream_round_trip_with_a_fresh_context_after_reconnect() {
    let mut harness = Harness::start(Options {
        compression: Compression::ZlibStream,
        ..Options::default()
    })
    .await;
    let mut first = harness.next_connection().await;
    assert_eq!(first.path, "/?v=10&encoding=json&compress=zlib-stream");
    harness.identify(&mut first, 1, "session-a").await;
    first.send_split(json!({"op": 0, "t": "MESSAGE_CREATE", "s": 2, "d": message(2, "split")}));
    first.dispatch("MESSAGE_CREATE", 3, message(3, "whole"));
    assert_ready(&harness.next_event().await, "session-a", false);
    assert_eq!(message_id(&harness.next_event().await), 2);
    assert_eq!(message_id(&harness.next_event().await), 3);

    first.send(json!({"op": 7, "d": null}));
    // The new connection's stream starts with a new zlib header: the old context would fail.
    let mut second = harness.next_connection().await;
    assert_eq!(
        second.path,
        "/resume/?v=10&encoding=json&compress=zlib-stream"
    );
    second.hello(QUIET_INTERVAL_MS);
    assert_eq!(second.expect_op(6).await["d"]["seq"], 3);
    second.dispatch("RESUMED", 4, Value::Null);
    second.dispatch("MESSAGE_CREATE", 5, message(5, "after"));
    assert_ready(&harness.next_event().await, "session-a", true);
    assert_eq!(message_id(&harness.next_event().await), 5);
    assert_eq!(
        harness.metric("discord_monitor_gateway_malformed_frames_total"),
        0.0
    );
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_broken_zlib_stream_closes_with_4000_and_resumes() {
    let mut harness = Harness::start(Options {
        compression: Compression::ZlibStream,
        ..Options::default()
    })
    .await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    // After a sync flush the inflater expects a block header; 0xff names the reserved type.
    first.send_raw(WsMessage::binary(vec![0xff, 0x12, 0x00, 0x00, 0xff, 0xff]));
    assert_eq!(first.closed().await, Some(4000));
    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    assert_eq!(second.expect_op(6).await["d"]["seq"], 1);
    assert!(harness.logs.text().contains("compression stream broken"));
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_three_megabyte_guild_create_arrives_whole() {
    for compression in [Compression::ZlibStream, Compression::None] {
        let mut harness = Harness::start(Options {
            compression,
            ..Options::default()
        })
        .await;
        let mut conn = harness.next_connection().await;
        harness.identify(&mut conn, 1, "session-a").await;
        let channels: Vec<Value> = (0..12_000)
            .map(|i| {
                json!({"id": (10_000 + i).to_string(), "type": 0, "guild_id": "300",
                       "name": format!("channel-{i}"), "topic": "t".repeat(200),
                       "permission_overwrites": [], "position": i})
            })
            .collect();
        let guild = json!({"id": "300", "name": "Big", "channels": channels,
                           "threads": [], "members": [], "member_count": 250_000});
        assert!(guild.to_string().len() > 3_000_000);
        conn.dispatch("GUILD_CREATE", 2, guild);
        assert_ready(&harness.next_event().await, "session-a", false);
        match harness.next_event().await {
            GatewayEvent::GuildCreate(guild) => assert_eq!(guild.channels.len(), 12_000),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            harness
                .server
                .no_connection_within(Duration::from_millis(200))
                .await
        );
        harness.assert_no_token_logged();
    }
}

#[actix_rt::test]
async fn malformed_frames_and_bodies_are_skipped_and_the_connection_survives() {
    let mut harness = Harness::start(Options::default()).await;
    let mut conn = harness.next_connection().await;
    harness.identify(&mut conn, 1, "session-a").await;
    conn.send_raw(WsMessage::text(format!("{{not json at all {TOKEN}")));
    conn.dispatch(
        "MESSAGE_CREATE",
        2,
        json!({"id": "2", "author": 5, "content": "x"}),
    );
    conn.dispatch("MESSAGE_CREATE", 3, message(3, "fine"));
    assert_ready(&harness.next_event().await, "session-a", false);
    assert_eq!(message_id(&harness.next_event().await), 3);
    assert!(
        harness
            .server
            .no_connection_within(Duration::from_millis(300))
            .await
    );
    assert_eq!(harness.status().await.state, GatewayState::Ready);
    assert_eq!(harness.status().await.sequence, Some(3));
    assert_eq!(
        harness.metric("discord_monitor_gateway_malformed_frames_total"),
        2.0
    );
    let warnings: Vec<Value> = harness
        .logs
        .records()
        .into_iter()
        .filter(|record| record.to_string().contains("skipped"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|line| line.to_string().len() < 2_000));
    assert!(warnings[0].to_string().contains("not json at all"));
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_full_event_queue_slows_the_reader_without_a_zombie_close_or_loss() {
    let mut harness = Harness::start(Options {
        queue_capacity: 1,
        ..Options::default()
    })
    .await;
    let mut conn = harness.next_connection().await;
    conn.hello(150);
    conn.expect_op(2).await;
    conn.ready(1, "session-a", &harness.server.url());
    for seq in 2..=31 {
        conn.dispatch("MESSAGE_CREATE", seq, message(seq, "queued"));
    }
    // Nobody reads for ten heartbeat intervals: ACKs sit unread behind the messages.
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    assert!(conn.heartbeats().len() >= 3, "heartbeats go on meanwhile");
    assert_ready(&harness.next_event().await, "session-a", false);
    for id in 2..=31 {
        assert_eq!(message_id(&harness.next_event().await), id);
    }
    assert!(
        harness
            .server
            .no_connection_within(Duration::from_millis(500))
            .await
    );
    assert!(
        conn.silent_for(Duration::from_millis(100)).await,
        "no close"
    );
    assert_eq!(harness.metric("discord_monitor_gateway_zombie_total"), 0.0);
    assert!(harness.metric("discord_monitor_gateway_output_blocked_seconds_total") > 0.5);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn failed_resumes_fall_back_to_the_gateway_url_then_to_identify() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    first.hello(QUIET_INTERVAL_MS);
    first.expect_op(2).await;
    // A resume URL where nothing listens.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("ws://{}", unused.local_addr().unwrap());
    drop(unused);
    first.ready(1, "session-a", &dead_url);
    assert_ready(&harness.next_event().await, "session-a", false);
    first.close(4000);

    // Resume 1 failed to connect; resumes 2 and 3 go to the gateway URL and fail there.
    for _ in 0..2 {
        let mut conn = harness.next_connection().await;
        assert_eq!(conn.path, "/?v=10&encoding=json");
        conn.hello(QUIET_INTERVAL_MS);
        conn.expect_op(6).await;
        conn.close(4000);
    }
    // Then no endless loop: a new session.
    let mut conn = harness.next_connection().await;
    conn.hello(QUIET_INTERVAL_MS);
    conn.expect_op(2).await;
    conn.ready(1, "session-b", &harness.server.url());
    assert_ready(&harness.next_event().await, "session-b", false);
    assert_eq!(harness.next_event().await, GatewayEvent::SessionLost);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_session_ending_close_code_identifies_anew() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    first.close(4009);
    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    second.expect_op(2).await;
    second.ready(1, "session-b", &harness.server.url());
    assert_ready(&harness.next_event().await, "session-b", false);
    assert_eq!(harness.next_event().await, GatewayEvent::SessionLost);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn no_hello_within_the_timeout_means_a_new_connection() {
    let mut harness = Harness::start(Options {
        timing: GatewayTiming {
            hello_timeout: Duration::from_millis(300),
            ..fast_timing()
        },
        ..Options::default()
    })
    .await;
    let mut silent = harness.next_connection().await;
    assert_eq!(silent.closed().await, Some(4000));
    let mut conn = harness.next_connection().await;
    harness.identify(&mut conn, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn op_7_before_hello_reconnects() {
    let mut harness = Harness::start(Options::default()).await;
    let first = harness.next_connection().await;
    first.send(json!({"op": 7, "d": null}));
    let mut second = harness.next_connection().await;
    harness.identify(&mut second, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_spent_session_start_limit_is_waited_out() {
    let mut harness = Harness::start(Options {
        session_start_limit: SessionStartLimit {
            total: 1000,
            remaining: 0,
            reset_after: 1_500,
            max_concurrency: 1,
        },
        ..Options::default()
    })
    .await;
    let conn = harness.next_connection().await;
    assert!(harness.started_at.elapsed() >= Duration::from_millis(1_400));
    drop(conn);
    assert!(harness.logs.text().contains("Session start limit reached"));
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn shutdown_closes_resumably_and_stops_heartbeats() {
    let mut harness = Harness::start(Options::default()).await;
    let mut conn = harness.next_connection().await;
    conn.hello(100);
    conn.expect_op(2).await;
    conn.ready(1, "session-a", &harness.server.url());
    assert_ready(&harness.next_event().await, "session-a", false);
    tokio::time::timeout(GENEROUS_WAIT, harness.gateway.stop())
        .await
        .unwrap();
    // Not 1000: that would end the session the next process resumes.
    assert_eq!(conn.closed().await, Some(4000));
    let beats = conn.heartbeats().len();
    actix_rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        conn.heartbeats().len(),
        beats,
        "no heartbeat after shutdown"
    );
    assert!(
        harness
            .server
            .no_connection_within(Duration::from_millis(300))
            .await
    );
    assert_eq!(harness.metric("discord_monitor_gateway_connected"), 0.0);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_user_token_is_warned_about_once() {
    let mut harness = Harness::start(Options {
        token_type: TokenType::User,
        ..Options::default()
    })
    .await;
    let mut conn = harness.next_connection().await;
    harness.identify(&mut conn, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    let warnings = harness
        .logs
        .records()
        .into_iter()
        .filter(|record| record.to_string().contains("terms of service"))
        .count();
    assert_eq!(warnings, 1);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_closed_event_queue_restarts_the_actor_with_a_new_session() {
    let mut harness = Harness::start(Options::default()).await;
    let mut first = harness.next_connection().await;
    harness.identify(&mut first, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    // The consumer goes away: the gateway cannot deliver, so it restarts (and the service
    // wiring would notice the dead consumer).
    let (_unused_sender, replacement) = mpsc::channel(1);
    drop(std::mem::replace(&mut harness.events, replacement));
    first.dispatch("MESSAGE_CREATE", 2, message(2, "undeliverable"));
    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    second.expect_op(2).await;
    assert!(harness.gateway.restarts() >= 1);
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn gateway_info_failures_are_retried_with_backoff() {
    let mut harness = Harness::start(Options {
        info_failures: 2,
        ..Options::default()
    })
    .await;
    let mut conn = harness.next_connection().await;
    assert_eq!(harness.info_calls.load(Ordering::SeqCst), 3);
    harness.identify(&mut conn, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    let status = harness.status().await;
    assert_eq!(status.reconnects, 2);
    assert!(status.last_error.is_none(), "cleared once ready");
    assert!(
        harness
            .logs
            .text()
            .contains("could not get the gateway URL: discord answered 503 on GET /gateway/bot")
    );
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_configured_url_is_used_when_gateway_info_is_unavailable() {
    let mut harness = Harness::start(Options {
        info_failures: usize::MAX,
        configured_url: true,
        ..Options::default()
    })
    .await;
    let mut conn = harness.next_connection().await;
    harness.identify(&mut conn, 1, "session-a").await;
    assert_ready(&harness.next_event().await, "session-a", false);
    assert_eq!(harness.info_calls.load(Ordering::SeqCst), 1);
    harness.assert_no_token_logged();
}

/// A session saved by an earlier process `age_secs` ago, resumable from seq 41 on the test
/// server's resume URL.
fn saved(server_url: &str, age_secs: i64, token: &str) -> PersistedSession {
    PersistedSession {
        session: ResumableSession {
            session_id: "session-saved".to_owned(),
            resume_url: format!("{server_url}/resume"),
            user: serde_json::from_value(json!({"id": "900", "username": "monitor", "bot": true}))
                .unwrap(),
            shard: [0, 1],
            token_fingerprint: token_fingerprint(&Secret::new(token)),
        },
        seq: 41,
        saved_at_ms: chrono::Utc::now().timestamp_millis() - age_secs * 1_000,
    }
}

fn logged(harness: &Harness, message: &str) -> Vec<Value> {
    harness
        .logs
        .records()
        .into_iter()
        .filter(|record| record["message"] == message)
        .collect()
}

#[actix_rt::test]
async fn a_saved_session_is_resumed_on_its_resume_url_from_the_committed_sequence() {
    let mut harness = Harness::start(Options {
        saved_session: Some(|url| Ok(Some(saved(url, 20, TOKEN)))),
        ..Options::default()
    })
    .await;
    let mut conn = harness.next_connection().await;
    assert_eq!(conn.path, "/resume/?v=10&encoding=json");
    conn.hello(QUIET_INTERVAL_MS);
    let resume = conn.expect_op(6).await;
    assert_eq!(resume["d"]["session_id"], "session-saved");
    assert_eq!(resume["d"]["seq"], 41);
    assert_eq!(resume["d"]["token"], TOKEN);
    // What the killed process received but never committed comes again, then RESUMED.
    conn.dispatch("MESSAGE_CREATE", 42, message(42, "replayed"));
    conn.dispatch("RESUMED", 43, Value::Null);
    conn.dispatch("MESSAGE_CREATE", 44, message(44, "live"));

    let replayed = harness.next_item().await;
    assert_eq!(message_id(&replayed.event), 42);
    assert_eq!(replayed.seq, Some(42));
    let session = replayed.session.expect("queued with its session");
    assert_eq!(session.session_id, "session-saved");
    assert_eq!(
        session.resume_url,
        format!("{}/resume", harness.server.url())
    );
    let resumed = harness.next_item().await;
    assert_ready(&resumed.event, "session-saved", true);
    assert_eq!(resumed.seq, Some(43));
    assert_eq!(message_id(&harness.next_event().await), 44);

    harness
        .wait_for_status("sequence 44", |status| status.sequence == Some(44))
        .await;
    let status = harness.status().await;
    assert_eq!((status.identifies, status.resumes), (0, 1));
    let lines = logged(&harness, "Gateway session resumed");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["context"]["resumed_from"], "database");
    assert_eq!(lines[0]["context"]["seq"], 43);
    assert!(
        !harness.logs.text().contains("session-saved"),
        "session ids stay out of logs"
    );

    // A later resume of the same session is an ordinary one.
    conn.send(json!({"op": 7, "d": null}));
    let mut second = harness.next_connection().await;
    second.hello(QUIET_INTERVAL_MS);
    assert_eq!(second.expect_op(6).await["d"]["seq"], 44);
    second.dispatch("RESUMED", 45, Value::Null);
    assert_ready(&harness.next_event().await, "session-saved", true);
    harness
        .wait_for_status("sequence 45", |status| status.sequence == Some(45))
        .await;
    let lines = logged(&harness, "Gateway session resumed");
    assert_eq!(lines[1]["context"]["resumed_from"], "memory");
    harness.assert_no_token_logged();
}

#[actix_rt::test]
async fn a_saved_session_too_old_of_another_token_or_unreadable_is_not_resumed() {
    let cases: [(SavedAnswer, Option<&str>); 4] = [
        (|url| Ok(Some(saved(url, 6 * 60, TOKEN))), Some("too_old")),
        (
            |url| Ok(Some(saved(url, 5, "MTAy.another.token"))),
            Some("other_token"),
        ),
        (|_| Ok(None), None),
        (
            |_| {
                Err(Box::new(AskError::<DbError>::Component(
                    ComponentError::Unavailable("database".to_owned()),
                )))
            },
            None,
        ),
    ];
    for (answer, reason) in cases {
        let mut harness = Harness::start(Options {
            saved_session: Some(answer),
            ..Options::default()
        })
        .await;
        let mut conn = harness.next_connection().await;
        assert_eq!(conn.path, "/?v=10&encoding=json", "{reason:?}");
        harness.identify(&mut conn, 1, "session-new").await;
        assert_ready(&harness.next_event().await, "session-new", false);
        if let Some(reason) = reason {
            let lines = logged(&harness, "Saved gateway session not resumable; identifying");
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0]["context"]["reason"], reason);
        }
        if answer("").is_err() {
            let lines = logged(&harness, "Saved gateway session unavailable; identifying");
            assert_eq!(lines.len(), 1);
            assert_eq!(
                lines[0]["context"]["error"],
                "component database is restarting"
            );
        }
        assert_eq!(harness.status().await.resumes, 0);
        harness.assert_no_token_logged();
    }
}

#[actix_rt::test]
async fn a_refused_saved_session_falls_back_to_identify_and_announces_the_gap() {
    let mut harness = Harness::start(Options {
        saved_session: Some(|url| Ok(Some(saved(url, 20, TOKEN)))),
        ..Options::default()
    })
    .await;
    let mut first = harness.next_connection().await;
    first.hello(QUIET_INTERVAL_MS);
    first.expect_op(6).await;
    // Discord no longer has it (expired, or the replay would reach too far back).
    first.send(json!({"op": 9, "d": false}));
    assert_eq!(first.closed().await, Some(4000));

    let mut second = harness.next_connection().await;
    assert_eq!(second.path, "/?v=10&encoding=json");
    harness.identify(&mut second, 1, "session-b").await;
    let ready = harness.next_item().await;
    assert_ready(&ready.event, "session-b", false);
    assert_eq!(ready.seq, Some(1));
    let lost = harness.next_item().await;
    assert_eq!(
        lost.event,
        GatewayEvent::SessionLost,
        "backfill covers the gap"
    );
    assert_eq!(lost.seq, None);
    assert_eq!(
        lost.session.map(|session| session.session_id.clone()),
        Some("session-b".to_owned())
    );
    let status = harness.status().await;
    assert_eq!((status.identifies, status.resumes), (1, 1));
    harness.assert_no_token_logged();
}
