//! Backfill: the source of completeness. For every monitored channel and thread it pages
//! `GET /channels/{id}/messages?after=<cursor>` until caught up, stores each page, and only
//! then moves the channel's cursor. Runs at start, after the gateway lost a session (events
//! of the gap are gone from the gateway), and every `discord.backfill_interval_secs`.
//!
//! A channel without a cursor is new: its newest `discord.backfill_max_messages_per_channel`
//! messages are fetched (paging backwards), and the cursor starts at the newest of them.

mod actor;
mod error;
mod status;

pub use actor::{BackfillActor, BackfillSettings, RunBackfill};
pub use error::BackfillError;
pub use status::{BackfillStatus, ChannelProgress, PassSummary, SharedBackfillStatus};
