//! Messages the GatewayActor answers.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The gateway's state for `/status` (`discord_client_health`).
#[derive(Debug, Clone, Copy)]
pub struct GetGatewayStatus;

impl actix::Message for GetGatewayStatus {
    type Result = GatewayStatus;
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayState {
    /// Fetching the gateway URL, waiting for the identify limit, or opening the socket and
    /// waiting for HELLO.
    Connecting,
    /// IDENTIFY sent, waiting for READY.
    Identifying,
    /// RESUME sent, waiting for the replay and RESUMED.
    Resuming,
    /// Receiving events.
    Ready,
    /// Connection lost; waiting out the backoff before the next attempt.
    Disconnected,
    /// Closed with a fatal code: nothing more is attempted until the configuration changes.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayStatus {
    pub state: GatewayState,
    /// `[shard_id, shard_count]`.
    pub shard: [u32; 2],
    /// Whether a session exists that a reconnect can resume.
    pub session: bool,
    /// The last sequence number received (null before the first READY).
    pub sequence: Option<u64>,
    /// Round trip of the last acknowledged heartbeat (kept across reconnects).
    pub last_heartbeat_latency_ms: Option<u64>,
    /// Since the process started (these survive actor restarts).
    pub reconnects: u64,
    pub resumes: u64,
    pub identifies: u64,
    pub last_close_code: Option<u16>,
    pub last_close_reason: Option<String>,
    /// Why the last attempt or connection failed, if it did.
    pub last_error: Option<String>,
    /// When the current session became ready (or resumed) on this connection.
    pub connected_since: Option<DateTime<Utc>>,
}
