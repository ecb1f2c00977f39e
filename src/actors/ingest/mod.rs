//! The storage path: events from the gateway wait in a bounded queue (a full queue makes the
//! gateway reader wait: backpressure, never a drop) and the IngestActor writes them to the
//! DbActor in batched transactions, in arrival order.
//!
//! Nothing here advances ingest cursors: the gateway may have missed messages before the
//! ones it delivers, so only backfill, which pages history contiguously, moves a cursor.
//!
//! After each batch the IngestActor saves the gateway session with the sequence number of
//! the last event committed in gateway order (`progress`), and rewrites it while idle, so
//! that a restart (after `kill -9` too) RESUMEs the session and Discord replays whatever
//! was still queued. When that is not possible (the session expired, a new session),
//! backfill recovers the messages; edits and deletes of such a gap are lost.
//!
//! It also owns what is measured of it: [`IngestMetrics`] (the queue's depth and capacity,
//! batches, events, stored messages) and [`PipelineStall`] (how long work has waited without
//! progress, for the ops rules).

mod actor;
mod convert;
mod error;
mod metrics;
mod plan;
mod progress;
mod stall;
#[cfg(test)]
mod tests;

pub use actor::{
    Flush, IngestActor, IngestSettings, IngestStats, IngestStatus, SavedSession, SessionGap,
};
pub use convert::{ConvertError, channel_record, guild_record, new_message, parse_timestamp_ms};
pub use error::{IngestError, Recovery};
pub use metrics::IngestMetrics;
pub use progress::persisted_session;
pub use stall::PipelineStall;

use crate::discord::gateway::SequencedEvent;
use progress::CommitTracker;

/// The queue between the gateway and the IngestActor.
pub fn queue(capacity: usize) -> (IngestSender, IngestReceiver) {
    let (sender, events) = tokio::sync::mpsc::channel(capacity.max(1));
    (
        sender,
        IngestReceiver {
            events,
            progress: CommitTracker::default(),
        },
    )
}

pub type IngestSender = tokio::sync::mpsc::Sender<SequencedEvent>;

/// The receiving end of the queue, with the record of what was taken off it and what of
/// that is committed: both outlive any one IngestActor.
#[derive(Debug)]
pub struct IngestReceiver {
    events: tokio::sync::mpsc::Receiver<SequencedEvent>,
    progress: CommitTracker,
}
