//! `database` section: where messages live and how they are backed up.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// SQLite file; env `DATABASE_PATH` (seed key). Parent directories are created.
    pub path: PathBuf,
    /// Where backups go; env `DATABASE_BACKUP_DIR`.
    pub backup_dir: PathBuf,
    /// Hours between backups; env `DATABASE_BACKUP_INTERVAL_HOURS` (seed key).
    pub backup_interval_hours: f64,
    /// Backups kept before the oldest is deleted (seed key).
    pub max_backups: u32,
    /// r2d2 pool size (seed key).
    pub connection_pool_size: u32,
    /// How long SQLite waits on a lock held by another connection before failing.
    pub busy_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/db.sqlite"),
            backup_dir: PathBuf::from("data/backups"),
            backup_interval_hours: default_backup_interval_hours(),
            max_backups: default_max_backups(),
            connection_pool_size: default_connection_pool_size(),
            busy_timeout_ms: default_busy_timeout_ms(),
        }
    }
}

/// Hours; the seed's value.
pub const fn default_backup_interval_hours() -> f64 {
    6.0
}

/// Two days of backups at the default interval (the seed's value).
pub const fn default_max_backups() -> u32 {
    48
}

/// The seed's value.
pub const fn default_connection_pool_size() -> u32 {
    10
}

/// Milliseconds: long enough to ride out a backup or a checkpoint, short enough that a stuck
/// writer shows up as an error instead of a silent stall.
pub const fn default_busy_timeout_ms() -> u64 {
    5_000
}
