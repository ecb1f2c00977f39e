//! Backfill progress as `/status` shows it, shared with the admin API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The whole picture: the pass under way (if any), the last finished one, and each channel.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillStatus {
    pub running: Option<PassSummary>,
    pub last_pass: Option<PassSummary>,
    pub passes: u64,
    /// Keyed by channel id (as a string: snowflakes exceed JSON's safe integers).
    pub channels: BTreeMap<String, ChannelProgress>,
    /// Why backfill is not running at all, e.g. a rejected token.
    pub halted: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassSummary {
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Channels paged at once at most (`discord.backfill_concurrent_channels`).
    pub concurrent_channels: usize,
    pub channels_total: usize,
    pub channels_done: usize,
    /// Channels being paged now; in a finished pass, those it cut short (it ended early).
    pub channels_in_flight: Vec<String>,
    pub messages_fetched: u64,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelProgress {
    pub guild_id: Option<String>,
    pub name: String,
    /// Newest message id stored contiguously; backfill continues after it.
    pub cursor: Option<String>,
    pub last_fetched: u64,
    pub last_run_at: Option<DateTime<Utc>>,
    pub forbidden: bool,
    pub last_error: Option<String>,
}

/// Written by the BackfillActor, read by `/status`.
pub type SharedBackfillStatus = Arc<Mutex<BackfillStatus>>;
