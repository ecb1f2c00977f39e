//! `processing` section: the in-memory pipeline between intake and storage/analysis.

use serde::{Deserialize, Serialize};

use super::catalogue::{Section, SectionDoc};
use super::env::{EnvOverride, ValueKind};
use super::keys::{Allowed, KeyDoc};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Items held between intake and storage before intake is slowed down (backpressure, never
    /// dropping); env `MAX_QUEUE_SIZE` (deployment guide's key name).
    pub max_queue_size: usize,
    /// Concurrent processing workers; env `WORKER_COUNT` (deployment guide's key name).
    pub worker_count: usize,
    /// Memory the service may use, in MiB; alerts and health compare against it when no
    /// container limit is visible; env `MEMORY_LIMIT_MB` (deployment guide's key name).
    pub memory_limit_mb: f64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            max_queue_size: default_max_queue_size(),
            worker_count: default_worker_count(),
            memory_limit_mb: default_memory_limit_mb(),
        }
    }
}

impl Section for ProcessingConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: &[
            KeyDoc::new(
                "processing",
                "The pipeline between intake and storage.",
                Allowed::Any,
            ),
            KeyDoc::new(
                "processing.max_queue_size",
                "Items queued between intake and storage before intake slows down.",
                Allowed::range(1.0, 10_000_000.0),
            ),
            KeyDoc::new(
                "processing.worker_count",
                "Concurrent processing workers.",
                Allowed::range(1.0, 256.0),
            ),
            KeyDoc::new(
                "processing.memory_limit_mb",
                "MiB of memory the service may use; health and alerts compare against it.",
                Allowed::at_least(64.0),
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
