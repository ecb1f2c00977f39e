//! The storage path: events from the gateway wait in a bounded queue (a full queue makes the
//! gateway reader wait: backpressure, never a drop) and the IngestActor writes them to the
//! DbActor in batched transactions, in arrival order.
//!
//! Nothing here advances ingest cursors: the gateway may have missed messages before the
//! ones it delivers, so only backfill, which pages history contiguously, moves a cursor.
//! Whatever the gateway could not deliver (a crash with events still queued, a lost
//! session), backfill recovers.

mod actor;
mod directory;
mod error;
mod plan;
#[cfg(test)]
mod tests;

pub use actor::{Flush, IngestActor, IngestSettings, IngestStats, IngestStatus};
pub use directory::{ChannelDirectory, ChannelInfo};
pub use error::IngestError;

use crate::actors::gateway::GatewayEvent;

/// The queue between the gateway and the IngestActor.
pub fn queue(capacity: usize) -> (IngestSender, IngestReceiver) {
    tokio::sync::mpsc::channel(capacity.max(1))
}

pub type IngestSender = tokio::sync::mpsc::Sender<GatewayEvent>;
pub type IngestReceiver = tokio::sync::mpsc::Receiver<GatewayEvent>;
