//! `processing` section: the in-memory pipeline between intake and storage/analysis.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Items held between intake and storage before intake is slowed down (backpressure, never
    /// dropping); env `MAX_QUEUE_SIZE` (seed key).
    pub max_queue_size: usize,
    /// Concurrent processing workers; env `WORKER_COUNT` (seed key).
    pub worker_count: usize,
    /// Memory the service may use, in MiB; alerts and health compare against it when no
    /// container limit is visible; env `MEMORY_LIMIT_MB` (seed key).
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

/// Items; the seed's value.
pub const fn default_max_queue_size() -> usize {
    10_000
}

/// The seed's value.
pub const fn default_worker_count() -> usize {
    4
}

/// MiB; the seed's value.
pub const fn default_memory_limit_mb() -> f64 {
    1024.0
}
