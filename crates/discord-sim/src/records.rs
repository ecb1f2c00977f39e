//! What the sim observed, for tests to assert on: counters, one record per gateway
//! connection, IDENTIFY and RESUME, and one per REST request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ratelimit::RateLimitViolation;

/// Which gateway listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayListener {
    /// The URL from `GET /gateway/bot`.
    Main,
    /// READY's `resume_gateway_url`.
    Resume,
}

/// Gateway counters since the sim started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayStats {
    pub connections_opened: u64,
    pub connections_on_resume_url: u64,
    pub identifies: u64,
    /// IDENTIFYs answered with a close code (4004, 4013, 4014, ...).
    pub identifies_rejected: u64,
    /// IDENTIFYs inside the 5 s spacing, answered with op 9 `d=false`.
    pub identifies_too_fast: u64,
    pub resumes: u64,
    /// RESUMEs answered with op 9 `d=false` (unknown, expired or too old session).
    pub resumes_rejected: u64,
    pub heartbeats_received: u64,
    pub heartbeat_acks_sent: u64,
    /// Every dispatch the world produced (messages, channels, unknown events...).
    pub events_generated: u64,
    /// Events in channels the bot cannot see: never dispatched.
    pub events_hidden: u64,
    /// Events produced while no session could receive them: lost to the gateway, only REST
    /// backfill can recover what they carried.
    pub events_without_session: u64,
    /// Dispatch frames queued to sessions (each counts once per session).
    pub dispatches_queued: u64,
    /// Dispatch frames actually written to a socket (replays included).
    pub dispatches_written: u64,
    pub dispatches_replayed: u64,
    /// Frames a zombie connection swallowed instead of sending.
    pub frames_swallowed_by_zombie: u64,
    pub reconnects_sent: u64,
    pub invalid_sessions_sent: u64,
    pub heartbeat_requests_sent: u64,
    pub malformed_frames_sent: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub sessions_invalidated: u64,
    /// Abrupt TCP drops the sim performed (no close frame).
    pub abrupt_drops: u64,
    /// Close codes the sim sent.
    pub close_codes_sent: BTreeMap<u16, u64>,
    /// Close codes clients sent.
    pub close_codes_received: BTreeMap<u16, u64>,
    /// Connections the client ended without a close frame.
    pub client_drops_without_close: u64,
}

/// One gateway connection, open or closed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    pub id: u64,
    pub listener: GatewayListener,
    /// Request path and query as the client sent them (`/?v=10&encoding=json&...`).
    pub path_and_query: String,
    pub compress: bool,
    pub opened_at: Instant,
    pub closed_at: Option<Instant>,
    pub hello_sent: bool,
    pub identified: bool,
    pub resumed: bool,
    pub session_id: Option<String>,
    pub heartbeats: u64,
    /// `d` of the last heartbeat: `None` for `null` (before READY).
    pub last_heartbeat_seq: Option<u64>,
    pub close_code_sent: Option<u16>,
    pub close_code_received: Option<u16>,
    pub dropped_by_sim: bool,
    pub client_dropped_without_close: bool,
    pub frames_received: u64,
    pub dispatches_written: u64,
    pub last_seq_written: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifyOutcome {
    Ready {
        session_id: String,
    },
    /// Too soon after the previous IDENTIFY: op 9 `d=false`.
    TooFast,
    Closed {
        code: u16,
    },
}

/// One IDENTIFY as received.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifyRecord {
    pub connection_id: u64,
    pub at: Instant,
    pub intents: Option<u64>,
    pub shard: Option<(u64, u64)>,
    pub large_threshold: Option<u64>,
    pub properties: Value,
    pub outcome: IdentifyOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeOutcome {
    Resumed {
        replayed: usize,
    },
    /// Answered with op 9 `d=false`.
    Invalid,
    Closed {
        code: u16,
    },
}

/// One RESUME as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeRecord {
    pub connection_id: u64,
    pub at: Instant,
    pub listener: GatewayListener,
    pub path_and_query: String,
    pub session_id: Option<String>,
    pub seq: Option<u64>,
    pub outcome: ResumeOutcome,
}

/// A session as the sim holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub seq: u64,
    pub connected: bool,
    pub intents: u64,
    pub shard: (u64, u64),
}

/// One REST request and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRecord {
    pub at: Instant,
    /// Time since the sim started, for readable failure messages.
    pub since_start: Duration,
    pub method: String,
    /// Path without the query, e.g. `/api/v10/channels/123/messages`.
    pub path: String,
    pub query: String,
    /// Route template (`GET /channels/{channel_id}/messages`), `None` for unknown routes.
    pub route: Option<&'static str>,
    /// Major parameter of the bucket (channel or guild id), empty when the route has none.
    pub major: String,
    pub status: u16,
    /// Set when the request arrived while its bucket or the global limit was exhausted.
    pub violation: Option<RateLimitViolation>,
    /// Answered by a scripted fault.
    pub scripted: bool,
    pub authorized: bool,
    pub user_agent: Option<String>,
}

/// Progress of the live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStatus {
    pub running: bool,
    /// Live MESSAGE_CREATEs generated so far.
    pub created: usize,
    pub target: usize,
    pub edits: usize,
    pub deletes: usize,
    pub unfurls: usize,
    pub structure_events: usize,
    pub unknown_events: usize,
}

impl StreamStatus {
    pub fn done(&self) -> bool {
        self.created >= self.target
    }
}
