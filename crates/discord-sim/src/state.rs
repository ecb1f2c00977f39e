//! The sim's shared state behind one mutex: the world (ground truth), gateway sessions and
//! connections, REST limits and log, and the live stream's progress. Gateway protocol
//! decisions (IDENTIFY, RESUME, dispatch, replay, faults) are made here under the lock and
//! turned into [`Outbound`] commands on each connection's queue, so every frame a connection
//! writes is in the order the state decided it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::config::{MessageContentApproval, SimConfig, StreamStart, TokenKind};
use super::faults::{ConnectFault, MalformedFrame};
use super::ratelimit::{RateLimiter, RestFault};
use super::records::{
    ConnectionRecord, GatewayListener, GatewayStats, IdentifyOutcome, IdentifyRecord, RestRecord,
    ResumeOutcome, ResumeRecord, SessionInfo, StreamStatus,
};
use super::world::{
    Event, INTENT_GUILD_MEMBERS, INTENT_GUILD_PRESENCES, INTENT_MESSAGE_CONTENT, INTENTS_KNOWN,
    World,
};

/// Application flag GATEWAY_MESSAGE_CONTENT (verified bots).
pub const APP_FLAG_GATEWAY_MESSAGE_CONTENT: u64 = 1 << 18;
/// Application flag GATEWAY_MESSAGE_CONTENT_LIMITED (bots in fewer than 100 guilds).
pub const APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;

/// Close codes after which the session cannot be resumed (Discord's docs: 4007 and 4009 need
/// a new session; the others are fatal).
const SESSION_ENDING_CLOSE_CODES: &[u16] = &[4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014];

/// Discord's `_trace` shape: a JSON string inside a JSON array.
pub(crate) const TRACE: &str = r#"["[\"gateway-prd-sim-1\",{\"micros\":1042,\"calls\":[\"id_created\",{\"micros\":800,\"calls\":[]}]}]"]"#;

/// What a connection task must do next, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A JSON frame (compressed by the task when the connection asked for zlib-stream).
    Frame {
        text: Arc<str>,
        kind: FrameKind,
        seq: Option<u64>,
    },
    /// Bytes written as one binary frame, bypassing compression.
    RawBinary(Vec<u8>),
    Close {
        code: u16,
        reason: String,
    },
    /// Drop the TCP connection now, without a close frame.
    Drop,
    /// Drop the TCP connection after writing this many more dispatches.
    DropAfter(u64),
    /// Stop writing anything (ACKs included) from now on.
    Zombie,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Dispatch,
    Replay,
    HeartbeatAck,
    Control,
    Malformed,
}

/// A dispatch kept for replay.
#[derive(Debug, Clone)]
struct Buffered {
    seq: u64,
    text: Arc<str>,
    /// Messages whose edit or deletion this dispatch carries.
    changed: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct Session {
    id: String,
    seq: u64,
    /// Highest seq written to a socket for this session.
    delivered_seq: u64,
    buffer: VecDeque<Buffered>,
    intents: u64,
    shard: (u64, u64),
    user_mode: bool,
    connection: Option<u64>,
    disconnected_at: Option<Instant>,
}

impl Session {
    fn accepts(&self, event: &Event) -> bool {
        if !self.user_mode
            && let Some(intent) = event.intent
            && self.intents & intent == 0
        {
            return false;
        }
        match event.guild_id {
            Some(guild) => (guild >> 22) % self.shard.1 == self.shard.0,
            None => true,
        }
    }

    fn wants_content(&self) -> bool {
        self.user_mode || self.intents & INTENT_MESSAGE_CONTENT != 0
    }
}

#[derive(Debug)]
struct LiveConnection {
    tx: mpsc::UnboundedSender<Outbound>,
    session: Option<String>,
}

/// How a connection ended, reported by its task.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ConnectionEnd {
    pub close_code_sent: Option<u16>,
    pub close_code_received: Option<u16>,
    pub dropped_by_sim: bool,
    pub client_dropped_without_close: bool,
}

pub(crate) struct GatewayState {
    pub stats: GatewayStats,
    sessions: HashMap<String, Session>,
    connections: BTreeMap<u64, LiveConnection>,
    pub records: BTreeMap<u64, ConnectionRecord>,
    pub identifies: Vec<IdentifyRecord>,
    pub resumes: Vec<ResumeRecord>,
    connect_faults: VecDeque<ConnectFault>,
    /// Last successful IDENTIFY per concurrency bucket.
    last_identify: HashMap<u64, Instant>,
    starts_remaining: u32,
    starts_reset_at: Instant,
    next_connection_id: u64,
    session_rng: StdRng,
}

pub(crate) struct RestState {
    pub limiter: RateLimiter,
    pub faults: VecDeque<FaultRule>,
    pub log: VecDeque<RestRecord>,
    /// Requests answered since start (the log may have dropped old ones).
    pub requests: u64,
}

/// A scripted REST fault waiting for matching requests.
#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    pub fault: RestFault,
    pub remaining: u32,
    pub path_contains: Option<String>,
}

pub(crate) struct StreamState {
    pub status: StreamStatus,
    /// A READY has been queued once: `StreamStart::OnFirstReady` has fired.
    pub first_ready_seen: bool,
    pub rng: StdRng,
}

pub(crate) struct SimState {
    pub world: World,
    pub gateway: GatewayState,
    pub rest: RestState,
    pub stream: StreamState,
    /// The token the sim currently accepts (tests can revoke it).
    pub token: String,
}

/// Addresses the sim serves, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    pub rest_base: String,
    pub gateway: String,
    pub resume_gateway: String,
}

/// Everything the sim's tasks and the handle share.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub started: Instant,
    pub urls: Urls,
    state: Mutex<SimState>,
    /// Wakes the stream task when it is started, paused or extended.
    pub stream_wake: Notify,
}

impl Shared {
    pub(crate) fn new(config: SimConfig, urls: Urls, now_ms: u64) -> Self {
        let started = Instant::now();
        let world = World::new(&config, now_ms);
        let limits = config.session_start_limit;
        let state = SimState {
            world,
            gateway: GatewayState {
                stats: GatewayStats::default(),
                sessions: HashMap::new(),
                connections: BTreeMap::new(),
                records: BTreeMap::new(),
                identifies: Vec::new(),
                resumes: Vec::new(),
                connect_faults: VecDeque::new(),
                last_identify: HashMap::new(),
                starts_remaining: limits.remaining,
                starts_reset_at: started + Duration::from_millis(limits.reset_after_ms),
                next_connection_id: 1,
                session_rng: StdRng::seed_from_u64(config.seed ^ 0x5e55_1011),
            },
            rest: RestState {
                limiter: RateLimiter::new(&config),
                faults: VecDeque::new(),
                log: VecDeque::new(),
                requests: 0,
            },
            stream: StreamState {
                status: StreamStatus {
                    running: config.stream_start == StreamStart::Immediately,
                    created: 0,
                    target: config.live_messages,
                    edits: 0,
                    deletes: 0,
                    unfurls: 0,
                    structure_events: 0,
                    unknown_events: 0,
                },
                first_ready_seen: false,
                rng: StdRng::seed_from_u64(config.seed ^ 0x57_2ea3),
            },
            token: config.token.clone(),
        };
        Self {
            config,
            started,
            urls,
            state: Mutex::new(state),
            stream_wake: Notify::new(),
        }
    }

    /// The state; a panic in another holder must not wedge the sim, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `{"t":..,"s":..,"op":..,"d":..}` in Discord's field order.
pub(crate) fn frame(op: u8, t: Option<&str>, s: Option<u64>, d: &str) -> String {
    let t = t.map_or_else(|| "null".to_owned(), |t| Value::from(t).to_string());
    let s = s.map_or_else(|| "null".to_owned(), |s| s.to_string());
    format!(r#"{{"t":{t},"s":{s},"op":{op},"d":{d}}}"#)
}

pub(crate) fn application_flags(config: &SimConfig) -> u64 {
    match config.message_content {
        MessageContentApproval::Enabled => APP_FLAG_GATEWAY_MESSAGE_CONTENT,
        MessageContentApproval::Limited => APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED,
        MessageContentApproval::Disabled => 0,
    }
}

impl SimState {
    // ---- connections ----

    pub(crate) fn register_connection(
        &mut self,
        listener: GatewayListener,
        path_and_query: String,
        compress: bool,
        tx: mpsc::UnboundedSender<Outbound>,
        now: Instant,
    ) -> u64 {
        let gateway = &mut self.gateway;
        let id = gateway.next_connection_id;
        gateway.next_connection_id += 1;
        gateway.stats.connections_opened += 1;
        if listener == GatewayListener::Resume {
            gateway.stats.connections_on_resume_url += 1;
        }
        gateway
            .connections
            .insert(id, LiveConnection { tx, session: None });
        gateway.records.insert(
            id,
            ConnectionRecord {
                id,
                listener,
                path_and_query,
                compress,
                opened_at: now,
                closed_at: None,
                hello_sent: false,
                identified: false,
                resumed: false,
                session_id: None,
                heartbeats: 0,
                last_heartbeat_seq: None,
                close_code_sent: None,
                close_code_received: None,
                dropped_by_sim: false,
                client_dropped_without_close: false,
                frames_received: 0,
                dispatches_written: 0,
                last_seq_written: None,
            },
        );
        id
    }

    pub(crate) fn take_connect_fault(&mut self) -> Option<ConnectFault> {
        self.gateway.connect_faults.pop_front()
    }

    pub(crate) fn queue_connect_fault(&mut self, fault: ConnectFault) {
        self.gateway.connect_faults.push_back(fault);
    }

    pub(crate) fn record_mut(&mut self, connection: u64) -> Option<&mut ConnectionRecord> {
        self.gateway.records.get_mut(&connection)
    }

    pub(crate) fn connection_ended(&mut self, connection: u64, end: ConnectionEnd, now: Instant) {
        let gateway = &mut self.gateway;
        let live = gateway.connections.remove(&connection);
        if let Some(record) = gateway.records.get_mut(&connection) {
            record.closed_at = Some(now);
            record.close_code_sent = record.close_code_sent.or(end.close_code_sent);
            record.close_code_received = end.close_code_received;
            record.dropped_by_sim |= end.dropped_by_sim;
            record.client_dropped_without_close = end.client_dropped_without_close;
        }
        if let Some(code) = end.close_code_received {
            *gateway.stats.close_codes_received.entry(code).or_default() += 1;
        }
        if end.client_dropped_without_close {
            gateway.stats.client_drops_without_close += 1;
        }
        let Some(session_id) = live.and_then(|c| c.session) else {
            return;
        };
        let ends_session = end
            .close_code_sent
            .is_some_and(|code| SESSION_ENDING_CLOSE_CODES.contains(&code))
            // Discord invalidates the session when the client closes normally (1000/1001).
            || end
                .close_code_received
                .is_some_and(|code| code == 1000 || code == 1001);
        if ends_session {
            if self.end_session(&session_id) {
                self.gateway.stats.sessions_invalidated += 1;
            }
        } else if let Some(session) = self.gateway.sessions.get_mut(&session_id)
            && session.connection == Some(connection)
        {
            session.connection = None;
            session.disconnected_at = Some(now);
        }
    }

    /// The sim is closing `connection` with `code`: codes that end a session end it now, so
    /// a RESUME racing the close handshake is already refused.
    pub(crate) fn closing(&mut self, connection: u64, code: u16) {
        self.session_ends_with(connection, SESSION_ENDING_CLOSE_CODES.contains(&code));
    }

    /// The client sent a close frame: 1000/1001 end its session (Discord's rule).
    pub(crate) fn client_closing(&mut self, connection: u64, code: u16) {
        self.session_ends_with(connection, code == 1000 || code == 1001);
    }

    fn session_ends_with(&mut self, connection: u64, ends: bool) {
        if !ends {
            return;
        }
        let session = self
            .gateway
            .connections
            .get_mut(&connection)
            .and_then(|c| c.session.take());
        if let Some(session) = session
            && self.end_session(&session)
        {
            self.gateway.stats.sessions_invalidated += 1;
        }
    }

    pub(crate) fn is_authenticated(&self, connection: u64) -> bool {
        self.gateway
            .connections
            .get(&connection)
            .is_some_and(|c| c.session.is_some())
    }

    fn send(&self, connection: u64, outbound: Outbound) {
        if let Some(live) = self.gateway.connections.get(&connection) {
            // A closed receiver means the task is ending; the frame has nowhere to go.
            let _ = live.tx.send(outbound);
        }
    }

    fn send_control(&self, connection: u64, text: String) {
        self.send(
            connection,
            Outbound::Frame {
                text: text.into(),
                kind: FrameKind::Control,
                seq: None,
            },
        );
    }

    pub(crate) fn note_written(&mut self, connection: u64, kind: FrameKind, seq: Option<u64>) {
        if let Some(seq) = seq
            && let Some(session_id) = self
                .gateway
                .connections
                .get(&connection)
                .and_then(|c| c.session.as_deref())
            && let Some(session) = self.gateway.sessions.get_mut(session_id)
        {
            session.delivered_seq = session.delivered_seq.max(seq);
        }
        let stats = &mut self.gateway.stats;
        match kind {
            FrameKind::Dispatch | FrameKind::Replay => {
                stats.dispatches_written += 1;
                if kind == FrameKind::Replay {
                    stats.dispatches_replayed += 1;
                }
                if let Some(record) = self.gateway.records.get_mut(&connection) {
                    record.dispatches_written += 1;
                    if seq.is_some() {
                        record.last_seq_written = seq;
                    }
                }
            }
            FrameKind::HeartbeatAck => stats.heartbeat_acks_sent += 1,
            FrameKind::Control | FrameKind::Malformed => {}
        }
    }

    // ---- inbound ops ----

    pub(crate) fn heartbeat(&mut self, connection: u64, seq: Option<u64>) {
        self.gateway.stats.heartbeats_received += 1;
        if let Some(record) = self.gateway.records.get_mut(&connection) {
            record.heartbeats += 1;
            record.last_heartbeat_seq = seq;
        }
        self.send(
            connection,
            Outbound::Frame {
                text: frame(11, None, None, "null").into(),
                kind: FrameKind::HeartbeatAck,
                seq: None,
            },
        );
    }

    fn token_matches(&self, token: Option<&str>) -> bool {
        let Some(token) = token else {
            return false;
        };
        match self.world.token_kind() {
            // Libraries differ on whether IDENTIFY carries the `Bot ` prefix; Discord takes both.
            TokenKind::Bot => token.strip_prefix("Bot ").unwrap_or(token) == self.token,
            TokenKind::User => token == self.token,
        }
    }

    /// IDENTIFY; returns the close code when the connection must be closed.
    pub(crate) fn identify(
        &mut self,
        connection: u64,
        d: &Value,
        config: &SimConfig,
        urls: &Urls,
        now: Instant,
    ) -> Option<u16> {
        let intents = d.get("intents").and_then(Value::as_u64);
        let shard = d.get("shard").and_then(Value::as_array).and_then(|a| {
            match (
                a.first().and_then(Value::as_u64),
                a.get(1).and_then(Value::as_u64),
            ) {
                (Some(id), Some(count)) if a.len() == 2 => Some((id, count)),
                _ => None,
            }
        });
        let record = |outcome: IdentifyOutcome| IdentifyRecord {
            connection_id: connection,
            at: now,
            intents,
            shard,
            large_threshold: d.get("large_threshold").and_then(Value::as_u64),
            properties: d.get("properties").cloned().unwrap_or(Value::Null),
            outcome,
        };
        let user_mode = self.world.token_kind() == TokenKind::User;
        let verdict = if !d.is_object() {
            Some(4002)
        } else if !self.token_matches(d.get("token").and_then(Value::as_str)) {
            Some(4004)
        } else if d.get("shard").is_some_and(|s| !s.is_null())
            && shard.is_none_or(|(id, count)| count == 0 || id >= count)
        {
            Some(4010)
        } else if !user_mode && intents.is_none_or(|i| i & !INTENTS_KNOWN != 0) {
            Some(4013)
        } else if !user_mode
            && intents.is_some_and(|i| {
                let privileged_denied = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES;
                i & privileged_denied != 0
                    || (i & INTENT_MESSAGE_CONTENT != 0
                        && config.message_content == MessageContentApproval::Disabled)
            })
        {
            Some(4014)
        } else {
            None
        };
        if let Some(code) = verdict {
            self.gateway.stats.identifies_rejected += 1;
            self.gateway
                .identifies
                .push(record(IdentifyOutcome::Closed { code }));
            return Some(code);
        }

        let shard = shard.unwrap_or((0, 1));
        let concurrency = u64::from(config.session_start_limit.max_concurrency);
        let bucket = shard.0 % concurrency;
        let spacing = Duration::from_millis(config.identify_spacing_ms);
        if let Some(last) = self.gateway.last_identify.get(&bucket)
            && now.duration_since(*last) < spacing
        {
            self.gateway.stats.identifies_too_fast += 1;
            self.gateway
                .identifies
                .push(record(IdentifyOutcome::TooFast));
            self.gateway.stats.invalid_sessions_sent += 1;
            self.send_control(connection, frame(9, None, None, "false"));
            return None;
        }
        if now >= self.gateway.starts_reset_at {
            self.gateway.starts_remaining = config.session_start_limit.total;
            self.gateway.starts_reset_at =
                now + Duration::from_millis(config.session_start_limit.reset_after_ms);
        }
        if self.gateway.starts_remaining == 0 {
            // Discord resets the token of a bot that exceeds its daily identifies.
            self.gateway.stats.identifies_rejected += 1;
            self.gateway
                .identifies
                .push(record(IdentifyOutcome::Closed { code: 4004 }));
            return Some(4004);
        }
        self.gateway.starts_remaining -= 1;
        self.gateway.last_identify.insert(bucket, now);

        let session_id = format!("{:032x}", self.gateway.session_rng.random::<u128>());
        let session = Session {
            id: session_id.clone(),
            seq: 0,
            delivered_seq: 0,
            buffer: VecDeque::new(),
            intents: intents.unwrap_or(u64::MAX),
            shard,
            user_mode,
            connection: Some(connection),
            disconnected_at: None,
        };
        self.gateway.sessions.insert(session_id.clone(), session);
        self.gateway.stats.sessions_created += 1;
        self.gateway.stats.identifies += 1;
        if let Some(live) = self.gateway.connections.get_mut(&connection) {
            live.session = Some(session_id.clone());
        }
        if let Some(record) = self.gateway.records.get_mut(&connection) {
            record.identified = true;
            record.session_id = Some(session_id.clone());
        }
        self.gateway.identifies.push(record(IdentifyOutcome::Ready {
            session_id: session_id.clone(),
        }));

        let guilds: Vec<u64> = self
            .world
            .guild_ids()
            .into_iter()
            .filter(|g| (g >> 22) % shard.1 == shard.0)
            .collect();
        let mut ready = json!({
            "v": 10,
            "user_settings": {},
            "user": self.world.bot_user_json(),
            "session_type": "normal",
            "session_id": session_id,
            "resume_gateway_url": urls.resume_gateway,
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam", "frankfurt", "london"],
            "game_relationships": [],
            "auth": {},
            "_trace": serde_json::from_str::<Value>(TRACE).unwrap_or(Value::Null),
        });
        if user_mode {
            // User accounts get whole guilds in READY and no GUILD_CREATE afterwards.
            ready["guilds"] = guilds
                .iter()
                .filter_map(|g| self.world.guild_create_json(*g))
                .collect();
        } else {
            ready["guilds"] = guilds
                .iter()
                .map(|g| json!({"id": g.to_string(), "unavailable": true}))
                .collect();
            ready["application"] = json!({
                "id": self.world.application_id().to_string(),
                "flags": application_flags(config),
            });
            ready["shard"] = json!([shard.0, shard.1]);
        }
        let mut payloads = vec![("READY", ready.to_string())];
        if !user_mode {
            for guild in &guilds {
                if let Some(create) = self.world.guild_create_json(*guild) {
                    payloads.push(("GUILD_CREATE", create.to_string()));
                }
            }
        }
        for (t, d) in payloads {
            self.session_dispatch(&session_id, t, &d, &[], config);
        }
        if config.stream_start == StreamStart::OnFirstReady && !self.stream.first_ready_seen {
            self.stream.status.running = true;
        }
        self.stream.first_ready_seen = true;
        None
    }

    /// Queues one dispatch for one session: next seq, replay buffer, its connection's queue.
    fn session_dispatch(
        &mut self,
        session_id: &str,
        t: &str,
        d: &str,
        changed: &[(u64, u64)],
        config: &SimConfig,
    ) {
        let Some(session) = self.gateway.sessions.get_mut(session_id) else {
            return;
        };
        session.seq += 1;
        let seq = session.seq;
        let text: Arc<str> = frame(0, Some(t), Some(seq), d).into();
        session.buffer.push_back(Buffered {
            seq,
            text: text.clone(),
            changed: changed.to_vec(),
        });
        let mut lost = Vec::new();
        while session.buffer.len() > config.replay_buffer_events {
            if let Some(old) = session.buffer.pop_front()
                && old.seq > session.delivered_seq
            {
                lost.extend(old.changed);
            }
        }
        let connection = session.connection;
        self.world.mark_missed(&lost);
        self.gateway.stats.dispatches_queued += 1;
        if let Some(connection) = connection {
            self.send(
                connection,
                Outbound::Frame {
                    text,
                    kind: FrameKind::Dispatch,
                    seq: Some(seq),
                },
            );
        }
    }

    /// RESUME; returns the close code when the connection must be closed.
    pub(crate) fn resume(
        &mut self,
        connection: u64,
        d: &Value,
        config: &SimConfig,
        now: Instant,
    ) -> Option<u16> {
        self.expire_sessions(now, config);
        let session_id = d
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let seq = d.get("seq").and_then(Value::as_u64);
        let (listener, path_and_query) = self
            .gateway
            .records
            .get(&connection)
            .map(|r| (r.listener, r.path_and_query.clone()))
            .unwrap_or((GatewayListener::Main, String::new()));
        let mut record = ResumeRecord {
            connection_id: connection,
            at: now,
            listener,
            path_and_query,
            session_id: session_id.clone(),
            seq,
            outcome: ResumeOutcome::Invalid,
        };
        if !d.is_object() {
            record.outcome = ResumeOutcome::Closed { code: 4002 };
            self.gateway.resumes.push(record);
            return Some(4002);
        }
        if !self.token_matches(d.get("token").and_then(Value::as_str)) {
            record.outcome = ResumeOutcome::Closed { code: 4004 };
            self.gateway.resumes.push(record);
            return Some(4004);
        }
        let requested = seq.unwrap_or(0);
        let valid = session_id
            .as_deref()
            .and_then(|id| self.gateway.sessions.get(id))
            .is_some_and(|session| {
                let oldest = session.buffer.front().map_or(session.seq + 1, |b| b.seq);
                requested <= session.seq && requested + 1 >= oldest
            });
        let Some(session_id) = session_id.filter(|_| valid) else {
            // A session that cannot be resumed from that seq is finished.
            if let Some(id) = d.get("session_id").and_then(Value::as_str)
                && self.end_session(id)
            {
                self.gateway.stats.sessions_invalidated += 1;
            }
            self.gateway.stats.resumes_rejected += 1;
            self.gateway.stats.invalid_sessions_sent += 1;
            self.gateway.resumes.push(record);
            self.send_control(connection, frame(9, None, None, "false"));
            return None;
        };

        // A session lives on one connection: an older one (a zombie, say) is cut off.
        let previous = self
            .gateway
            .sessions
            .get(&session_id)
            .and_then(|s| s.connection)
            .filter(|&c| c != connection);
        if let Some(previous) = previous {
            self.send(previous, Outbound::Drop);
            if let Some(live) = self.gateway.connections.get_mut(&previous) {
                live.session = None;
            }
        }
        let replay: Vec<(u64, Arc<str>)> = self
            .gateway
            .sessions
            .get(&session_id)
            .map(|s| {
                s.buffer
                    .iter()
                    .filter(|b| b.seq > requested)
                    .map(|b| (b.seq, b.text.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (seq, text) in &replay {
            self.send(
                connection,
                Outbound::Frame {
                    text: text.clone(),
                    kind: FrameKind::Replay,
                    seq: Some(*seq),
                },
            );
        }
        if let Some(session) = self.gateway.sessions.get_mut(&session_id) {
            session.connection = Some(connection);
            session.disconnected_at = None;
        }
        if let Some(live) = self.gateway.connections.get_mut(&connection) {
            live.session = Some(session_id.clone());
        }
        if let Some(record) = self.gateway.records.get_mut(&connection) {
            record.resumed = true;
            record.session_id = Some(session_id.clone());
        }
        self.gateway.stats.resumes += 1;
        record.outcome = ResumeOutcome::Resumed {
            replayed: replay.len(),
        };
        self.gateway.resumes.push(record);
        let resumed = format!(r#"{{"_trace":{TRACE}}}"#);
        self.session_dispatch(&session_id, "RESUMED", &resumed, &[], config);
        None
    }

    // ---- dispatch ----

    /// Removes a session; whatever edits and deletions it never delivered are lost for good.
    fn end_session(&mut self, session_id: &str) -> bool {
        let Some(session) = self.gateway.sessions.remove(session_id) else {
            return false;
        };
        let lost: Vec<(u64, u64)> = session
            .buffer
            .iter()
            .filter(|b| b.seq > session.delivered_seq)
            .flat_map(|b| b.changed.iter().copied())
            .collect();
        self.world.mark_missed(&lost);
        true
    }

    fn expire_sessions(&mut self, now: Instant, config: &SimConfig) {
        let ttl = Duration::from_millis(config.session_ttl_ms);
        let expired: Vec<String> = self
            .gateway
            .sessions
            .values()
            .filter(|s| {
                s.connection.is_none()
                    && s.disconnected_at
                        .is_some_and(|at| now.duration_since(at) >= ttl)
            })
            .map(|s| s.id.clone())
            .collect();
        for session_id in expired {
            if self.end_session(&session_id) {
                self.gateway.stats.sessions_expired += 1;
            }
        }
    }

    /// Sends world events to every session allowed to see them.
    pub(crate) fn dispatch(&mut self, events: Vec<Event>, config: &SimConfig, now: Instant) {
        self.expire_sessions(now, config);
        for event in events {
            self.gateway.stats.events_generated += 1;
            if event.hidden {
                self.gateway.stats.events_hidden += 1;
                continue;
            }
            let full = event.d.to_string();
            let mut stripped: Option<String> = None;
            let targets: Vec<(String, bool)> = self
                .gateway
                .sessions
                .values()
                .filter(|s| s.accepts(&event))
                .map(|s| (s.id.clone(), s.wants_content()))
                .collect();
            if targets.is_empty() {
                self.gateway.stats.events_without_session += 1;
                self.world.mark_missed(&event.changed_messages);
                continue;
            }
            for (session_id, wants_content) in targets {
                let d = match (&event.d_without_content, wants_content) {
                    (Some(without), false) => {
                        stripped.get_or_insert_with(|| without.to_string()).clone()
                    }
                    _ => full.clone(),
                };
                self.session_dispatch(&session_id, &event.t, &d, &event.changed_messages, config);
            }
        }
    }

    // ---- faults ----

    fn open_connections(&self) -> Vec<u64> {
        self.gateway.connections.keys().copied().collect()
    }

    pub(crate) fn send_reconnect(&mut self) {
        for connection in self.open_connections() {
            self.gateway.stats.reconnects_sent += 1;
            self.send_control(connection, frame(7, None, None, "null"));
        }
    }

    pub(crate) fn request_heartbeat(&mut self) {
        for connection in self.open_connections() {
            self.gateway.stats.heartbeat_requests_sent += 1;
            self.send_control(connection, frame(1, None, None, "null"));
        }
    }

    /// Op 9 on every authenticated connection. `resumable=false` ends the sessions: events
    /// from now on are not kept for them.
    pub(crate) fn invalidate_sessions(&mut self, resumable: bool, now: Instant) {
        let connections: Vec<(u64, String)> = self
            .gateway
            .connections
            .iter()
            .filter_map(|(id, c)| c.session.clone().map(|s| (*id, s)))
            .collect();
        for (connection, session_id) in connections {
            self.gateway.stats.invalid_sessions_sent += 1;
            self.send_control(
                connection,
                frame(9, None, None, if resumable { "true" } else { "false" }),
            );
            if let Some(live) = self.gateway.connections.get_mut(&connection) {
                live.session = None;
            }
            if resumable {
                if let Some(session) = self.gateway.sessions.get_mut(&session_id) {
                    session.connection = None;
                    session.disconnected_at = Some(now);
                }
            } else if self.end_session(&session_id) {
                self.gateway.stats.sessions_invalidated += 1;
            }
        }
    }

    pub(crate) fn broadcast(&mut self, make: impl Fn() -> Outbound) {
        for connection in self.open_connections() {
            self.send(connection, make());
        }
    }

    pub(crate) fn send_malformed(&mut self, kind: MalformedFrame) {
        for connection in self.open_connections() {
            self.gateway.stats.malformed_frames_sent += 1;
            let outbound = match kind.text() {
                Some(text) => Outbound::Frame {
                    text: text.into(),
                    kind: FrameKind::Malformed,
                    seq: None,
                },
                None => Outbound::RawBinary(MalformedFrame::corrupt_zlib_bytes()),
            };
            self.send(connection, outbound);
        }
    }

    /// Ends every session that has no connection, as if its TTL had passed.
    pub(crate) fn expire_disconnected_sessions(&mut self) {
        let expired: Vec<String> = self
            .gateway
            .sessions
            .values()
            .filter(|s| s.connection.is_none())
            .map(|s| s.id.clone())
            .collect();
        for session_id in expired {
            if self.end_session(&session_id) {
                self.gateway.stats.sessions_expired += 1;
            }
        }
    }

    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        let mut sessions: Vec<SessionInfo> = self
            .gateway
            .sessions
            .values()
            .map(|s| SessionInfo {
                id: s.id.clone(),
                seq: s.seq,
                connected: s.connection.is_some(),
                intents: s.intents,
                shard: s.shard,
            })
            .collect();
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        sessions
    }

    pub(crate) fn open_connection_count(&self) -> usize {
        self.gateway.connections.len()
    }

    /// `session_start_limit` as `GET /gateway/bot` reports it now.
    pub(crate) fn session_start_limit(&mut self, config: &SimConfig, now: Instant) -> Value {
        let limits = config.session_start_limit;
        if now >= self.gateway.starts_reset_at {
            self.gateway.starts_remaining = limits.total;
            self.gateway.starts_reset_at = now + Duration::from_millis(limits.reset_after_ms);
        }
        json!({
            "total": limits.total,
            "remaining": self.gateway.starts_remaining,
            "reset_after": self.gateway.starts_reset_at.saturating_duration_since(now).as_millis() as u64,
            "max_concurrency": limits.max_concurrency,
        })
    }
}
