//! Backfill: the source of completeness. For every monitored channel and thread it pages
//! `GET /channels/{id}/messages?after=<cursor>` until caught up, stores each page, and only
//! then moves the channel's cursor. Runs at start, after every new gateway session (events
//! from before it never come through the gateway: a lost session's gap, or whatever was
//! posted while the process was down or starting), and every `discord.backfill_interval_secs`.
//! Up to `discord.backfill_concurrent_channels` channels are paged at once (each channel's
//! history is its own Discord bucket); pages within a channel go in order, and a dead token
//! or a database failure ends the whole pass once.
//!
//! A channel without a cursor is new: its newest `discord.backfill_max_messages_per_channel`
//! messages are fetched (paging backwards), and the cursor starts at the newest of them.
//!
//! A thread stored as open that Discord no longer lists as active was archived (or deleted)
//! while we were not listening, perhaps after messages we never received: it is paged once
//! more, then recorded as archived so later passes leave it.
//!
//! A thread created *and* archived while we were not listening is in neither list: every
//! pass also reads `GET /channels/{id}/threads/archived/public` (and `/private`, skipped for
//! good after a 403: it needs MANAGE_THREADS) of each monitored text, announcement, forum
//! and media channel, newest archive first, down to the newest archive timestamp the last
//! complete listing of that channel saw (its mark, saved in the database so that a restart
//! continues from it; without one, at most `FIRST_LISTING_MAX_PAGES` pages). Those threads are recorded as archived channels and
//! paged like any other (one request when already at their cursor, none when the cursor is
//! newer than the archiving).
//!
//! [`BackfillMetrics`] counts passes and fetched messages and shows, from the shared
//! [`BackfillStatus`], how old the last finished pass is.

mod actor;
mod error;
mod metrics;
mod status;
#[cfg(test)]
mod tests;

pub use actor::{BackfillActor, BackfillSettings, RunBackfill};
pub use error::BackfillError;
pub use metrics::BackfillMetrics;
pub use status::{BackfillStatus, ChannelProgress, PassSummary, SharedBackfillStatus};
