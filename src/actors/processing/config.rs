//! `processing` section: the in-memory pipelines between intake and storage, and between
//! storage and triage (queue, workers, batches, watchdogs).

use serde::{Deserialize, Serialize};

use crate::config::{Allowed, EnvOverride, KeyDoc, Problems, Section, SectionDoc, ValueKind};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Items held in memory between intake and storage, and messages held between the triage
    /// backlog and its workers, before the producer waits (backpressure, never dropping); env
    /// `MAX_QUEUE_SIZE` (deployment guide's key name).
    pub max_queue_size: usize,
    /// Concurrent triage workers; env `WORKER_COUNT` (deployment guide's key name).
    pub worker_count: usize,
    /// Memory the service may use, in MiB; alerts, health and the memory watchdog compare
    /// against it when no container limit is visible; env `MEMORY_LIMIT_MB` (deployment
    /// guide's key name).
    pub memory_limit_mb: f64,
    /// Messages per triage call to a model.
    pub batch_size: usize,
    /// Seconds a message waits for its batch to fill before a smaller batch is sent.
    pub batch_max_wait_secs: u64,
    /// Seconds a triage worker may go without progress before it is restarted.
    pub stall_timeout_secs: u64,
    /// Whether messages scored by rules while no model could be called (budget spent, every
    /// circuit open) are scored again by a model once one answers.
    pub rescore_after_degraded: bool,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            max_queue_size: default_max_queue_size(),
            worker_count: default_worker_count(),
            memory_limit_mb: default_memory_limit_mb(),
            batch_size: default_batch_size(),
            batch_max_wait_secs: default_batch_max_wait_secs(),
            stall_timeout_secs: default_stall_timeout_secs(),
            rescore_after_degraded: default_rescore_after_degraded(),
        }
    }
}

impl Section for ProcessingConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: &[
            KeyDoc::new(
                "processing",
                "The pipelines between intake, storage and triage.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "processing.max_queue_size",
                "Items queued between intake and storage (and messages held for triage) \
                 before the producer waits.",
                Allowed::range(1.0, 10_000_000.0),
            ),
            KeyDoc::new(
                "processing.worker_count",
                "Concurrent triage workers.",
                Allowed::range(1.0, 256.0),
            ),
            KeyDoc::new(
                "processing.memory_limit_mb",
                "MiB of memory the service may use (a container limit wins); health, alerts \
                 and the memory watchdog compare against it.",
                Allowed::at_least(64.0),
            ),
            KeyDoc::new(
                "processing.batch_size",
                "Messages per triage call to a model.",
                Allowed::range(1.0, 200.0),
            ),
            KeyDoc::new(
                "processing.batch_max_wait_secs",
                "Seconds a message waits for its triage batch to fill before a smaller one is \
                 sent.",
                Allowed::range(0.0, 3_600.0),
            ),
            KeyDoc::new(
                "processing.stall_timeout_secs",
                "Seconds a triage worker may go without progress before it is restarted (and \
                 `pipeline_stalled` raised); above the LLM router's 180 s request deadline.",
                Allowed::range(30.0, 86_400.0),
            ),
            KeyDoc::new(
                "processing.rescore_after_degraded",
                "Score again with a model the messages scored by rules while no model could \
                 be called, once one answers.",
                Allowed::Any,
            ),
        ],
        env_overrides: &[
            EnvOverride::new(
                "MAX_QUEUE_SIZE",
                "processing.max_queue_size",
                ValueKind::Integer,
            ),
            EnvOverride::new(
                "WORKER_COUNT",
                "processing.worker_count",
                ValueKind::Integer,
            ),
            EnvOverride::new(
                "MEMORY_LIMIT_MB",
                "processing.memory_limit_mb",
                ValueKind::Number,
            ),
        ],
        lists: &[],
    };

    /// A batch must fit in the queue, or the feeder would wait for room that never comes.
    fn validate(&self, problems: &mut Problems) {
        if self.batch_size > self.max_queue_size {
            problems.report(
                "processing.batch_size",
                format!(
                    "{} is larger than processing.max_queue_size ({})",
                    self.batch_size, self.max_queue_size
                ),
                Some("a triage batch must fit in the queue".to_owned()),
            );
        }
    }
}

/// Items; the deployment guide's default.
pub const fn default_max_queue_size() -> usize {
    10_000
}

/// The deployment guide's default.
pub const fn default_worker_count() -> usize {
    4
}

/// MiB; the deployment guide's default.
pub const fn default_memory_limit_mb() -> f64 {
    1024.0
}

/// Messages: with a fixed instruction block of a few hundred tokens, 40 message lines keep a
/// call near 60 prompt tokens per message, and 25 calls per 1,000 messages.
pub const fn default_batch_size() -> usize {
    40
}

/// Seconds: a quiet channel's message is scored within half a minute, while a busy one fills
/// its batch long before.
pub const fn default_batch_max_wait_secs() -> u64 {
    30
}

/// Seconds: above the router's 180 s deadline for one request plus the write that follows, so
/// a slow model is never mistaken for a wedged worker.
pub const fn default_stall_timeout_secs() -> u64 {
    300
}

pub const fn default_rescore_after_degraded() -> bool {
    true
}
