//! The GatewayActor: keeps one shard connected and hands what arrives to the event queue.
//!
//! # One attempt, one connection, one generation
//! Every attempt gets a new generation number: fetching the gateway URL and
//! `session_start_limit`, waiting for the identify limits, opening the socket, and then the
//! connection's reader, writer and timers. Everything scheduled for an attempt checks its
//! generation first, and dropping a connection moves the generation on, so a late timer or
//! frame of an old connection can never touch a new one (an old heartbeat timer firing on
//! the new socket is a classic bug).
//!
//! # Ending
//! A close is classified by [`close_action`]: resume, identify anew, or fatal. Fatal codes
//! (4004 bad token, 4010-4014) put the actor in [`GatewayState::Failed`]: it stays alive to
//! answer [`GetGatewayStatus`], reports the component failed through
//! [`Lifecycle::give_up`] (readiness off, an alert), and never reconnects. Anything that
//! needs a fresh actor (the event queue closed) goes through [`Lifecycle::fail`] instead,
//! and `restarting()` forgets the session. On shutdown the heartbeats stop with the context
//! and the socket is closed with 4000, not 1000: Discord ends a session closed with
//! 1000/1001, and the next process (a deployment, a restart) resumes this one.
//!
//! # Starting
//! A start without a session in memory (the process's first, or after `restarting()`)
//! first asks the [`PersistedSessionSource`] for the session the storage side saved with
//! the sequence of the last committed event (see [`super::session`]). A usable one is
//! resumed like a live session, and a refused RESUME falls back to IDENTIFY the same way.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use rand::Rng;
use slog::{Logger, debug, error, info, o, warn};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backoff::ReconnectBackoff;
use super::config::GatewaySettings;
use super::connection::{
    self, Inbound, Outbox, RESUMABLE_CLOSE_CODE, ReaderActivity, ReaderItem, ReaderSetup,
    SessionStart, Socket,
};
use super::error::{GatewayError, SavedSessionError, SessionLoadError};
use super::heartbeat::{Beat, Heartbeat};
use super::limiter::{IdentifyPacer, IdentifyWait, SendClass, SendLimiter};
use super::messages::{GatewayState, GatewayStatus, GetGatewayStatus};
use super::metrics::GatewayMetrics;
use crate::discord::config::{Compression, TokenType};
use crate::discord::gateway::{
    API_VERSION, CloseAction, GatewayBot, Identify, IdentifyProperties, OutboundFrame,
    PersistedSession, ResumableSession, Resume, SequencedEvent, close_action, close_code_reason,
    opcode, token_fingerprint,
};
use crate::discord::rest::RestError;
use crate::logging::error_chain;
use crate::supervisor::Lifecycle;

/// Where the gateway URL and `session_start_limit` come from: `GET /gateway/bot` through the
/// REST client in the service, a closure in tests.
pub type GatewayInfoSource =
    Arc<dyn Fn() -> LocalBoxFuture<'static, Result<GatewayBot, RestError>> + Send + Sync>;

/// Loads the session saved for a shard (`shard_id`) by the storage side of an earlier
/// process: through the DbActor in the service, a closure in tests.
pub type PersistedSessionSource = Arc<
    dyn Fn(u32) -> LocalBoxFuture<'static, Result<Option<PersistedSession>, SessionLoadError>>
        + Send
        + Sync,
>;

/// Messages waiting for the actor: status queries only, so a small mailbox does.
const MAILBOX_CAPACITY: usize = 64;

/// Bytes: Discord closes with 4002 on a larger payload.
const MAX_PAYLOAD_BYTES: usize = 4096;

/// Longest a start waits for the saved session before identifying without it: a database
/// that cannot answer a one-row read in this time should not keep the gateway offline.
const SAVED_SESSION_LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Members above which GUILD_CREATE leaves the member list out; 50 is Discord's minimum and
/// we store no members.
const LARGE_THRESHOLD: u32 = 50;

/// How the next connection starts its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Identify,
    Resume,
}

struct Session {
    /// What READY said (the queued events carry it too).
    resumable: Arc<ResumableSession>,
    /// Where RESUME goes; cleared when it fails to connect, so the next try uses the gateway
    /// URL.
    resume_url: Option<String>,
    /// Loaded from the database and not resumed yet.
    from_database: bool,
}

/// A payload waiting for the send limiter. No Debug: it may hold the token.
struct Outgoing {
    class: SendClass,
    text: String,
}

struct Connection {
    plan: Plan,
    outbox: Outbox,
    reader: SpawnHandle,
    activity: Rc<ReaderActivity>,
    /// Set by HELLO.
    heartbeat: Option<Heartbeat>,
    limiter: SendLimiter,
    queued: VecDeque<Outgoing>,
    hello_timer: Option<SpawnHandle>,
    beat_timer: Option<SpawnHandle>,
    flush_timer: Option<SpawnHandle>,
}

/// Everything a restart forgets.
struct RunState {
    state: GatewayState,
    /// See the module doc.
    generation: u64,
    connection: Option<Connection>,
    /// The step of an attempt under way (fetch, wait, open) or the reconnect timer.
    pending: Option<SpawnHandle>,
    session: Option<Session>,
    /// The last sequence number delivered (READY's own counts).
    seq: Option<u64>,
    /// The next READY starts a session that replaces a lost one.
    lost_session: bool,
    /// From `GET /gateway/bot`.
    gateway_url: Option<String>,
    pacer: IdentifyPacer,
    backoff: ReconnectBackoff,
    failed_resumes: u32,
    last_close: Option<(Option<u16>, String)>,
    last_error: Option<String>,
    connected_since: Option<DateTime<Utc>>,
    latency: Option<Duration>,
    /// Reported up since the (re)start: only a component that worked can be degraded; one
    /// that never connected stays starting, hence not ready.
    reported_up: bool,
}

impl RunState {
    fn new(settings: &GatewaySettings, lost_session: bool) -> Self {
        Self {
            state: GatewayState::Connecting,
            generation: 0,
            connection: None,
            pending: None,
            session: None,
            seq: None,
            lost_session,
            gateway_url: None,
            pacer: IdentifyPacer::new(settings.timing.identify_interval),
            backoff: ReconnectBackoff::new(settings.timing.max_reconnect_backoff),
            failed_resumes: 0,
            last_close: None,
            last_error: None,
            connected_since: None,
            latency: None,
            reported_up: false,
        }
    }
}

pub struct GatewayActor {
    settings: GatewaySettings,
    gateway_info: GatewayInfoSource,
    /// Where a start without a session looks for a saved one; `None`: always identify.
    persisted: Option<PersistedSessionSource>,
    /// Of `settings.token`, computed once: part of every session's identity.
    token_fingerprint: String,
    events: mpsc::Sender<SequencedEvent>,
    metrics: GatewayMetrics,
    log: Logger,
    lifecycle: Lifecycle,
    run: RunState,
}

impl GatewayActor {
    /// `events` is bounded on purpose: when it is full the reader waits (backpressure), and
    /// whatever a lost connection could not deliver, backfill recovers.
    pub fn new(
        settings: GatewaySettings,
        gateway_info: GatewayInfoSource,
        events: mpsc::Sender<SequencedEvent>,
        metrics: GatewayMetrics,
        log: &Logger,
        lifecycle: Lifecycle,
    ) -> Self {
        let run = RunState::new(&settings, false);
        Self {
            token_fingerprint: token_fingerprint(&settings.token),
            settings,
            gateway_info,
            persisted: None,
            events,
            metrics,
            log: log.new(o!("logger" => "discord.gateway")),
            lifecycle,
            run,
        }
    }

    /// Resumes the session `source` answers when starting without one (see the module doc).
    pub fn with_persisted_sessions(mut self, source: PersistedSessionSource) -> Self {
        self.persisted = Some(source);
        self
    }

    fn is_current(&self, generation: u64) -> bool {
        self.run.generation == generation
    }

    /// The URL to identify on (and to resume on when the resume URL failed).
    fn gateway_url(&self) -> Option<String> {
        self.settings
            .gateway_url
            .clone()
            .or_else(|| self.run.gateway_url.clone())
    }

    /// The first attempt of a (re)start: with the saved session if there is a usable one.
    fn begin(&mut self, ctx: &mut Context<Self>) {
        let source = match &self.persisted {
            Some(source) if self.run.session.is_none() => Arc::clone(source),
            _ => return self.start_attempt(ctx),
        };
        self.run.generation += 1;
        let generation = self.run.generation;
        self.run.state = GatewayState::Connecting;
        let load = tokio::time::timeout(SAVED_SESSION_LOAD_TIMEOUT, source(self.settings.shard[0]));
        let step = load.into_actor(self).map(move |result, act, ctx| {
            let result = result
                .map_err(|_elapsed| SavedSessionError::Timeout(SAVED_SESSION_LOAD_TIMEOUT))
                .and_then(|loaded| loaded.map_err(SavedSessionError::Load));
            if act.is_current(generation) {
                act.run.pending = None;
                act.persisted_session_loaded(result);
                act.start_attempt(ctx);
            }
        });
        self.run.pending = Some(ctx.spawn(step));
    }

    /// Takes the saved session as the one to resume if it is usable; otherwise the attempt
    /// identifies.
    fn persisted_session_loaded(
        &mut self,
        result: Result<Option<PersistedSession>, SavedSessionError>,
    ) {
        let saved = match result {
            Ok(Some(saved)) => saved,
            Ok(None) => {
                debug!(self.log, "No saved gateway session");
                return;
            }
            Err(err) => {
                warn!(self.log, "Saved gateway session unavailable; identifying";
                    "error" => error_chain(&err));
                return;
            }
        };
        let now_ms = Utc::now().timestamp_millis();
        match saved.check(self.settings.shard, &self.token_fingerprint, now_ms) {
            Ok(age) => {
                info!(self.log, "Resuming the saved gateway session";
                    "seq" => saved.seq, "age_secs" => age.as_secs(),
                    "user_id" => saved.session.user.id.get());
                let resumable = Arc::new(saved.session);
                self.run.session = Some(Session {
                    resume_url: Some(resumable.resume_url.clone()),
                    resumable,
                    from_database: true,
                });
                self.run.seq = Some(saved.seq);
            }
            Err(unusable) => {
                info!(self.log, "Saved gateway session not resumable; identifying";
                    "reason" => unusable.label(), "detail" => %unusable, "seq" => saved.seq);
            }
        }
    }

    fn start_attempt(&mut self, ctx: &mut Context<Self>) {
        self.run.generation += 1;
        let generation = self.run.generation;
        self.run.state = GatewayState::Connecting;
        let resume_url = self
            .run
            .session
            .as_ref()
            .map(|session| session.resume_url.clone().or_else(|| self.gateway_url()));
        match resume_url {
            Some(Some(url)) => self.open_connection(ctx, generation, Plan::Resume, url),
            Some(None) => self.fetch_gateway_info(ctx, generation, Plan::Resume),
            None => self.fetch_gateway_info(ctx, generation, Plan::Identify),
        }
    }

    fn fetch_gateway_info(&mut self, ctx: &mut Context<Self>, generation: u64, plan: Plan) {
        let fetch = (self.gateway_info)();
        let step = fetch.into_actor(self).map(move |result, act, ctx| {
            if act.is_current(generation) {
                act.run.pending = None;
                act.gateway_info_arrived(ctx, generation, plan, result);
            }
        });
        self.run.pending = Some(ctx.spawn(step));
    }

    fn gateway_info_arrived(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        plan: Plan,
        result: Result<GatewayBot, RestError>,
    ) {
        let configured_url = self.settings.gateway_url.clone();
        let (url, limit) = match (result, configured_url) {
            (Ok(bot), configured_url) => {
                debug!(self.log, "Gateway info";
                    "url" => &bot.url, "recommended_shards" => bot.shards,
                    "session_starts_remaining" => bot.session_start_limit.remaining,
                    "session_starts_total" => bot.session_start_limit.total,
                    "max_concurrency" => bot.session_start_limit.max_concurrency);
                self.run.gateway_url = Some(bot.url.clone());
                (
                    configured_url.unwrap_or(bot.url),
                    Some(bot.session_start_limit),
                )
            }
            // Identifying blind could spend the daily session starts; only a configured URL
            // (a proxy, discord-sim) is used without them.
            (Err(err), Some(configured_url)) => {
                warn!(self.log, "Gateway info unavailable; using the configured URL";
                    "error" => error_chain(&err));
                (configured_url, None)
            }
            (Err(err), None) => {
                self.attempt_failed(ctx, plan, GatewayError::GatewayInfo(err));
                return;
            }
        };
        let wait = match plan {
            Plan::Identify => self.run.pacer.wait(limit.as_ref(), Instant::now()),
            Plan::Resume => IdentifyWait::Now,
        };
        match wait {
            IdentifyWait::Now => return self.open_connection(ctx, generation, plan, url),
            IdentifyWait::Spacing(wait) => {
                debug!(self.log, "Identify spaced"; "wait_ms" => wait.as_millis());
            }
            IdentifyWait::DailyLimit(wait) => {
                warn!(self.log, "Session start limit reached; waiting for its reset";
                    "wait_secs" => wait.as_secs());
            }
        }
        let timer = ctx.run_later(wait.duration(), move |act, ctx| {
            if act.is_current(generation) {
                act.run.pending = None;
                act.open_connection(ctx, generation, plan, url);
            }
        });
        self.run.pending = Some(timer);
    }

    fn open_connection(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        plan: Plan,
        url: String,
    ) {
        let full_url = with_query(&url, self.settings.compression);
        let using_resume_url = plan == Plan::Resume
            && self
                .run
                .session
                .as_ref()
                .is_some_and(|session| session.resume_url.as_deref() == Some(url.as_str()));
        debug!(self.log, "Connecting to the gateway";
            "url" => &full_url, "resume" => plan == Plan::Resume);
        let timeout = self.settings.connection_timeout;
        let opening = async move { connection::open(&full_url, timeout).await };
        let step = opening.into_actor(self).map(move |result, act, ctx| {
            if !act.is_current(generation) {
                return;
            }
            act.run.pending = None;
            match result {
                Ok(socket) => act.connected(ctx, generation, plan, socket),
                Err(err) => {
                    if using_resume_url && let Some(session) = act.run.session.as_mut() {
                        session.resume_url = None;
                    }
                    act.attempt_failed(ctx, plan, GatewayError::Connect(err));
                }
            }
        });
        self.run.pending = Some(ctx.spawn(step));
    }

    fn connected(&mut self, ctx: &mut Context<Self>, generation: u64, plan: Plan, socket: Socket) {
        let (sink, stream) = socket.split();
        let outbox =
            connection::spawn_writer(sink, self.settings.timing.close_timeout, self.log.clone());
        let activity = Rc::new(ReaderActivity::default());
        let resuming = match plan {
            Plan::Resume => self
                .run
                .session
                .as_ref()
                .map(|session| Arc::clone(&session.resumable)),
            Plan::Identify => None,
        };
        let setup = ReaderSetup {
            generation,
            compressed: self.settings.compression == Compression::ZlibStream,
            events: self.events.clone(),
            activity: Rc::clone(&activity),
            lost_session: plan == Plan::Identify && self.run.lost_session,
            resuming,
            shard: self.settings.shard,
            token_fingerprint: self.token_fingerprint.clone(),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
            token: self.settings.token.clone(),
        };
        let reader = ctx.add_stream(connection::reader(stream, setup));
        let hello_timer = ctx.run_later(self.settings.timing.hello_timeout, move |act, ctx| {
            act.hello_timed_out(ctx, generation);
        });
        self.run.connection = Some(Connection {
            plan,
            outbox,
            reader,
            activity,
            heartbeat: None,
            limiter: SendLimiter::new(),
            queued: VecDeque::new(),
            hello_timer: Some(hello_timer),
            beat_timer: None,
            flush_timer: None,
        });
    }

    /// Ends the current connection (if any) with a close frame of `code`, stops its reader
    /// and timers, and retires its generation.
    fn drop_connection(&mut self, ctx: &mut Context<Self>, code: u16) {
        self.run.generation += 1;
        self.metrics.connected.set(0.0);
        self.run.connected_since = None;
        if let Some(pending) = self.run.pending.take() {
            ctx.cancel_future(pending);
        }
        let Some(connection) = self.run.connection.take() else {
            return;
        };
        connection.activity.retire();
        ctx.cancel_future(connection.reader);
        let timers = [
            connection.hello_timer,
            connection.beat_timer,
            connection.flush_timer,
        ];
        for timer in timers.into_iter().flatten() {
            ctx.cancel_future(timer);
        }
        connection.outbox.close(code);
    }

    fn hello_timed_out(&mut self, ctx: &mut Context<Self>, generation: u64) {
        if !self.is_current(generation) {
            return;
        }
        let Some(connection) = self.run.connection.as_ref() else {
            return;
        };
        if connection.heartbeat.is_some() {
            return;
        }
        let plan = connection.plan;
        let timeout = self.settings.timing.hello_timeout;
        warn!(self.log, "No HELLO from the gateway; reconnecting";
            "timeout_secs" => timeout.as_secs_f64());
        self.run.last_error = Some(format!("no HELLO within {timeout:?}"));
        self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
        self.connection_lost(ctx, plan, Duration::ZERO);
    }

    fn on_hello(&mut self, ctx: &mut Context<Self>, generation: u64, interval: Duration) {
        let Some(connection) = self.run.connection.as_mut() else {
            return;
        };
        if connection.heartbeat.is_some() {
            debug!(self.log, "Second HELLO ignored");
            return;
        }
        if let Some(timer) = connection.hello_timer.take() {
            ctx.cancel_future(timer);
        }
        let heartbeat = Heartbeat::new(interval);
        let first_beat = heartbeat.first_delay();
        connection.heartbeat = Some(heartbeat);
        connection.limiter.set_heartbeat_interval(interval);
        connection.beat_timer = Some(ctx.run_later(first_beat, move |act, ctx| {
            act.heartbeat_due(ctx, generation);
        }));
        debug!(self.log, "Gateway HELLO";
            "heartbeat_interval_ms" => interval.as_millis(),
            "first_beat_ms" => first_beat.as_millis());
        match connection.plan {
            Plan::Identify => self.send_identify(ctx),
            Plan::Resume => self.send_resume(ctx),
        }
    }

    fn send_identify(&mut self, ctx: &mut Context<Self>) {
        let frame = OutboundFrame {
            op: opcode::IDENTIFY,
            d: Identify {
                token: self.settings.token.expose(),
                intents: self.settings.intents,
                properties: IdentifyProperties::ours(),
                shard: self.settings.shard,
                large_threshold: LARGE_THRESHOLD,
            },
        };
        let Some(text) = self.encode(&frame, "IDENTIFY") else {
            return;
        };
        self.run.pacer.identified(Instant::now());
        self.run.state = GatewayState::Identifying;
        self.metrics.identifies.inc();
        info!(self.log, "Identifying";
            "shard" => ?self.settings.shard, "intents" => self.settings.intents);
        self.send(ctx, SendClass::Command, text);
    }

    fn send_resume(&mut self, ctx: &mut Context<Self>) {
        let Some(session) = self.run.session.as_ref() else {
            return;
        };
        let seq = self.run.seq.unwrap_or_default();
        let frame = OutboundFrame {
            op: opcode::RESUME,
            d: Resume {
                token: self.settings.token.expose(),
                session_id: &session.resumable.session_id,
                seq,
            },
        };
        let Some(text) = self.encode(&frame, "RESUME") else {
            return;
        };
        self.run.state = GatewayState::Resuming;
        self.metrics.resumes.inc();
        info!(self.log, "Resuming session";
            "seq" => seq, "saved_session" => session.from_database);
        self.send(ctx, SendClass::Command, text);
    }

    fn send_heartbeat(&mut self, ctx: &mut Context<Self>) {
        let frame = OutboundFrame {
            op: opcode::HEARTBEAT,
            d: self.run.seq,
        };
        if let Some(text) = self.encode(&frame, "HEARTBEAT") {
            self.send(ctx, SendClass::Heartbeat, text);
        }
    }

    /// Serializes a payload we send; `None` (logged) if it cannot go out.
    fn encode<T: serde::Serialize>(&self, frame: &T, what: &str) -> Option<String> {
        match serde_json::to_string(frame) {
            Ok(text) if text.len() <= MAX_PAYLOAD_BYTES => Some(text),
            Ok(text) => {
                error!(self.log, "Gateway payload too large; not sent";
                    "payload" => what, "bytes" => text.len());
                None
            }
            Err(err) => {
                error!(self.log, "Gateway payload not serializable";
                    "payload" => what, "error" => %err);
                None
            }
        }
    }

    /// Queues a payload behind the send limiter; heartbeats go first.
    fn send(&mut self, ctx: &mut Context<Self>, class: SendClass, text: String) {
        let Some(connection) = self.run.connection.as_mut() else {
            return;
        };
        let outgoing = Outgoing { class, text };
        match class {
            SendClass::Heartbeat => connection.queued.push_front(outgoing),
            SendClass::Command => connection.queued.push_back(outgoing),
        }
        self.flush(ctx);
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        let generation = self.run.generation;
        let Some(connection) = self.run.connection.as_mut() else {
            return;
        };
        while let Some(next) = connection.queued.front() {
            match connection.limiter.try_acquire(next.class, Instant::now()) {
                Ok(()) => {
                    if let Some(outgoing) = connection.queued.pop_front()
                        && !connection.outbox.send(outgoing.text)
                    {
                        // The writer ended with the socket; the reader reports the close.
                        connection.queued.clear();
                    }
                }
                Err(wait) => {
                    if connection.flush_timer.is_none() {
                        warn!(self.log, "Gateway send limit reached; payloads delayed";
                            "queued" => connection.queued.len(), "wait_ms" => wait.as_millis());
                        connection.flush_timer = Some(ctx.run_later(wait, move |act, ctx| {
                            if act.is_current(generation) {
                                if let Some(connection) = act.run.connection.as_mut() {
                                    connection.flush_timer = None;
                                }
                                act.flush(ctx);
                            }
                        }));
                    }
                    return;
                }
            }
        }
    }

    fn heartbeat_due(&mut self, ctx: &mut Context<Self>, generation: u64) {
        if !self.is_current(generation) {
            return;
        }
        let Some(connection) = self.run.connection.as_mut() else {
            return;
        };
        let progress = connection.activity.progress();
        let plan = connection.plan;
        let Some(heartbeat) = connection.heartbeat.as_mut() else {
            return;
        };
        match heartbeat.on_due(progress) {
            Beat::Zombie => {
                let interval = heartbeat.interval();
                self.metrics.zombies.inc();
                warn!(self.log, "Gateway heartbeat not acknowledged; reconnecting";
                    "interval_ms" => interval.as_millis());
                self.run.last_error = Some("heartbeat not acknowledged (zombie connection)".into());
                self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
                self.connection_lost(ctx, plan, Duration::ZERO);
            }
            Beat::Send => {
                heartbeat.sent(Instant::now(), progress);
                let interval = heartbeat.interval();
                connection.beat_timer = Some(ctx.run_later(interval, move |act, ctx| {
                    act.heartbeat_due(ctx, generation);
                }));
                self.send_heartbeat(ctx);
            }
        }
    }

    fn on_ack(&mut self) {
        let latency = self
            .run
            .connection
            .as_mut()
            .and_then(|connection| connection.heartbeat.as_mut())
            .and_then(|heartbeat| heartbeat.acked(Instant::now()));
        if let Some(latency) = latency {
            self.metrics.heartbeat_latency.set(latency.as_secs_f64());
            self.run.latency = Some(latency);
        }
    }

    fn on_dispatched(&mut self, seq: Option<u64>, session: Option<SessionStart>) {
        if seq.is_some() {
            self.run.seq = seq;
        }
        match session {
            None => return,
            Some(SessionStart::Ready(resumable)) => {
                info!(self.log, "Gateway ready";
                    "user_id" => resumable.user.id.get(), "seq" => self.run.seq,
                    "replaced_lost_session" => self.run.lost_session);
                self.run.session = Some(Session {
                    resume_url: Some(resumable.resume_url.clone()),
                    resumable,
                    from_database: false,
                });
                self.run.lost_session = false;
            }
            Some(SessionStart::Resumed) => {
                let from_database = self
                    .run
                    .session
                    .as_mut()
                    .is_some_and(|session| std::mem::take(&mut session.from_database));
                let resumed_from = if from_database { "database" } else { "memory" };
                info!(self.log, "Gateway session resumed";
                    "seq" => self.run.seq, "resumed_from" => resumed_from);
                // The replay covered whatever a lost run of this actor missed.
                self.run.lost_session = false;
            }
        }
        self.run.state = GatewayState::Ready;
        self.run.connected_since = Some(Utc::now());
        self.run.backoff.reset();
        self.run.failed_resumes = 0;
        self.run.last_error = None;
        self.metrics.connected.set(1.0);
        self.lifecycle.up();
        self.run.reported_up = true;
    }

    fn on_closed(&mut self, ctx: &mut Context<Self>, code: Option<u16>, reason: String) {
        let plan = self
            .run
            .connection
            .as_ref()
            .map_or(Plan::Identify, |connection| connection.plan);
        self.metrics.count_close(code);
        let meaning = code.map_or("no close frame", close_code_reason);
        warn!(self.log, "Gateway connection closed";
            "code" => code, "meaning" => meaning, "reason" => &reason);
        self.run.last_close = Some((code, reason));
        self.run.last_error = Some(match code {
            Some(code) => format!("closed with {code}: {meaning}"),
            None => "connection lost".to_owned(),
        });
        // The socket is gone already; the close frame only goes out if it is not.
        self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
        match close_action(code) {
            CloseAction::Fatal => self.enter_fatal(code.unwrap_or_default()),
            CloseAction::Reidentify => {
                self.lose_session();
                self.connection_lost(ctx, plan, Duration::ZERO);
            }
            CloseAction::Resume => self.connection_lost(ctx, plan, Duration::ZERO),
        }
    }

    fn on_invalid_session(&mut self, ctx: &mut Context<Self>, resumable: bool) {
        self.metrics.invalid_sessions.inc();
        warn!(self.log, "Gateway session invalidated"; "resumable" => resumable);
        let plan = self
            .run
            .connection
            .as_ref()
            .map_or(Plan::Identify, |connection| connection.plan);
        self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
        if resumable {
            self.connection_lost(ctx, plan, Duration::ZERO);
        } else {
            self.lose_session();
            let (min, max) = self.settings.timing.invalid_session_delay;
            let delay = if max > min {
                rand::rng().random_range(min..=max)
            } else {
                min
            };
            // Not a failed resume: the server told us to start over.
            self.connection_lost(ctx, Plan::Identify, delay);
        }
    }

    /// Forgets the session: the next connection identifies, and its READY is followed by
    /// [`GatewayEvent::SessionLost`] so backfill covers the gap.
    fn lose_session(&mut self) {
        if let Some(session) = self.run.session.take() {
            info!(self.log, "Gateway session dropped; identifying anew";
                "seq" => self.run.seq, "saved_session" => session.from_database);
            self.run.lost_session = true;
        }
        self.run.seq = None;
        self.run.failed_resumes = 0;
    }

    /// A connection (or an attempt at one) ended without a fatal reason: count a failed
    /// resume if it was one, then reconnect after the backoff (at least `min_delay`).
    fn connection_lost(&mut self, ctx: &mut Context<Self>, plan: Plan, min_delay: Duration) {
        let resumed = self.run.state == GatewayState::Ready;
        if plan == Plan::Resume && !resumed && self.run.session.is_some() {
            self.run.failed_resumes += 1;
            if self.run.failed_resumes >= self.settings.timing.max_failed_resumes {
                warn!(self.log, "Resuming keeps failing; starting a new session";
                    "failed_resumes" => self.run.failed_resumes);
                self.lose_session();
            }
        }
        self.run.state = GatewayState::Disconnected;
        self.metrics.reconnects.inc();
        let delay = self.run.backoff.next_delay().max(min_delay);
        let attempts = self.run.backoff.attempts();
        if self.run.reported_up && attempts > self.settings.timing.degraded_after_failures {
            let reason = self
                .run
                .last_error
                .clone()
                .unwrap_or_else(|| "gateway disconnected".to_owned());
            self.lifecycle.degraded(format!(
                "gateway reconnecting (attempt {attempts}): {reason}"
            ));
        }
        info!(self.log, "Reconnecting to the gateway";
            "delay_ms" => delay.as_millis(), "attempt" => attempts,
            "resume" => self.run.session.is_some());
        let generation = self.run.generation;
        let timer = ctx.run_later(delay, move |act, ctx| {
            if act.is_current(generation) {
                act.run.pending = None;
                act.start_attempt(ctx);
            }
        });
        self.run.pending = Some(timer);
    }

    fn attempt_failed(&mut self, ctx: &mut Context<Self>, plan: Plan, err: GatewayError) {
        let text = error_chain(&err);
        warn!(self.log, "Gateway connection attempt failed"; "error" => &text);
        self.run.last_error = Some(text);
        self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
        self.connection_lost(ctx, plan, Duration::ZERO);
    }

    /// A fatal close: stop for good and say why (see the module doc).
    fn enter_fatal(&mut self, code: u16) {
        let err = GatewayError::FatalClose {
            code,
            reason: close_code_reason(code),
        };
        error!(self.log, "Gateway closed with a fatal code; not reconnecting";
            "code" => code, "meaning" => close_code_reason(code));
        self.run.state = GatewayState::Failed;
        self.run.last_error = Some(err.to_string());
        self.lifecycle.give_up(&err);
    }

    fn on_reader_item(&mut self, ctx: &mut Context<Self>, item: ReaderItem) {
        let generation = item.generation;
        if !self.is_current(generation) {
            return;
        }
        let Some(connection) = self.run.connection.as_mut() else {
            return;
        };
        if let Some(heartbeat) = connection.heartbeat.as_mut() {
            heartbeat.saw_inbound();
        }
        let plan = connection.plan;
        match item.inbound {
            Inbound::Hello { heartbeat_interval } => {
                self.on_hello(ctx, generation, heartbeat_interval);
            }
            Inbound::HeartbeatAck => self.on_ack(),
            Inbound::HeartbeatRequest => self.send_heartbeat(ctx),
            Inbound::Reconnect => {
                info!(self.log, "Gateway asked for a reconnect");
                self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
                self.connection_lost(ctx, plan, Duration::ZERO);
            }
            Inbound::InvalidSession { resumable } => self.on_invalid_session(ctx, resumable),
            Inbound::Dispatched { seq, session } => self.on_dispatched(seq, session),
            Inbound::Other => {}
            Inbound::Closed { code, reason } => self.on_closed(ctx, code, reason),
            Inbound::Inflate(err) => {
                let text = error_chain(&err);
                warn!(self.log, "Gateway compression stream broken; reconnecting"; "error" => &text);
                self.run.last_error = Some(text);
                self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
                self.connection_lost(ctx, plan, Duration::ZERO);
            }
            Inbound::EventQueueClosed => {
                let err = GatewayError::EventQueueClosed;
                error!(self.log, "Gateway event queue closed; restarting");
                self.lifecycle.fail(ctx, &err);
            }
        }
    }

    fn status(&self) -> GatewayStatus {
        let (last_close_code, last_close_reason) = match &self.run.last_close {
            Some((code, reason)) => (*code, Some(reason.clone())),
            None => (None, None),
        };
        GatewayStatus {
            state: self.run.state,
            shard: self.settings.shard,
            session: self.run.session.is_some(),
            sequence: self.run.seq,
            last_heartbeat_latency_ms: self
                .run
                .latency
                .map(|latency| u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
            reconnects: counter_value(&self.metrics.reconnects),
            resumes: counter_value(&self.metrics.resumes),
            identifies: counter_value(&self.metrics.identifies),
            last_close_code,
            last_close_reason,
            last_error: self.run.last_error.clone(),
            connected_since: self.run.connected_since,
        }
    }
}

fn counter_value(counter: &crate::metrics::Counter) -> u64 {
    // Whole counts only ever added one at a time: exact in an f64 up to 2^53.
    counter.get() as u64
}

/// `url` with the query string every connection uses, the first and the resumes alike
/// (losing it on resume is a known bug of other clients).
pub(super) fn with_query(url: &str, compression: Compression) -> String {
    let mut query = format!("v={API_VERSION}&encoding=json");
    if compression == Compression::ZlibStream {
        query.push_str("&compress=zlib-stream");
    }
    if url.contains('?') {
        format!("{url}&{query}")
    } else {
        format!("{}/?{query}", url.trim_end_matches('/'))
    }
}

impl Actor for GatewayActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        crate::tls::install_crypto_provider();
        if self.settings.token_type == TokenType::User && self.lifecycle.restarts() == 0 {
            warn!(self.log, "Using a user token: automating a user account breaks Discord's terms of service and can get it banned; use a bot token";
                "token_type" => TokenType::User.as_str());
        }
        info!(self.log, "Gateway starting";
            "shard" => ?self.settings.shard, "intents" => self.settings.intents,
            "compression" => self.settings.compression.as_str());
        self.begin(ctx);
    }

    /// Closes resumably even on shutdown: see the module doc.
    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if self.run.connection.is_some() {
            info!(self.log, "Closing the gateway connection";
                "code" => RESUMABLE_CLOSE_CODE,
                "shutdown" => self.lifecycle.shutdown_requested());
        }
        self.drop_connection(ctx, RESUMABLE_CLOSE_CODE);
        if self.run.state != GatewayState::Failed {
            self.run.state = GatewayState::Disconnected;
        }
        Running::Stop
    }
}

impl Supervised for GatewayActor {
    /// Starts over with no session in memory: the start resumes the saved one if it can (the
    /// replay covers what the failed run received but did not commit); otherwise the first
    /// READY is announced as replacing a lost session, and backfill re-reads the gap.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.run = RunState::new(&self.settings, true);
    }
}

impl StreamHandler<ReaderItem> for GatewayActor {
    fn handle(&mut self, item: ReaderItem, ctx: &mut Context<Self>) {
        self.on_reader_item(ctx, item);
    }

    /// A reader ends after the item that says why; that item was handled. (The default
    /// would stop the actor.)
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<GetGatewayStatus> for GatewayActor {
    type Result = MessageResult<GetGatewayStatus>;

    fn handle(&mut self, _msg: GetGatewayStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}
