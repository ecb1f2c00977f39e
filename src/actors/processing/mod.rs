//! The processing pipeline: every stored message is triaged exactly once.
//!
//! Stored messages are work. A trigger puts each new message on the durable backlog
//! (`analysis_backlog`, in the transaction that stores it; see `actors::db`), the
//! [`ProcessingActor`]'s feeder reads it in id order into a bounded in-memory queue
//! (`processing.max_queue_size` messages), and `processing.worker_count` supervised
//! [`TriageWorker`]s score batches and record the verdicts, each batch in the transaction
//! that takes its messages off the backlog. Nothing is dropped on overflow (the backlog waits
//! in the database) and a restart, `kill -9` included, resumes where it stopped: no message
//! is scored twice, none skipped. The ingest writer only stores; no model work is on its path.
//!
//! - [`triage`]: prefilters, the rule engine, the versioned prompt and the reading of answers.
//! - `shared`: what the feeder, the workers and `/status` share ([`ProcessingShared`]): room,
//!   held messages, the batch queue, the workers' progress, counters.
//! - `actor`: the manager (feeder and watchdogs: memory, stalled workers, throughput).
//! - `worker`: one worker (model calls, retries of unusable answers, rules, the write).
//! - [`config`]: the `processing` section; [`ProcessingMetrics`].

mod actor;
pub mod config;
mod error;
mod metrics;
mod shared;
#[cfg(test)]
mod tests;
pub mod triage;
mod worker;

pub use actor::{
    FULL_SWEEP_INTERVAL, POLL_INTERVAL, ProcessingActor, ProcessingSettings, ProcessingStalled,
    ProcessingStatus, TriageCounts, WATCH_INTERVAL, pressure_at,
};
pub use error::ProcessingError;
pub use metrics::ProcessingMetrics;
pub use shared::{
    Batch, BatchKind, MemoryPressure, ProcessingShared, WorkerPhase, WorkerSlot, WorkerStatus,
};
pub use worker::{RestartStalled, Scored, Scorer, TriageWorker, WorkerSettings};
