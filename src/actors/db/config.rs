//! `database` section: where messages live and how they are backed up.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Allowed, EnvOverride, KeyDoc, Problems, Section, SectionDoc, ValueKind};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// SQLite file; env `DATABASE_PATH` (deployment guide's key name). Parent directories are
    /// created.
    pub path: PathBuf,
    /// Where backups go; env `DATABASE_BACKUP_DIR`.
    pub backup_dir: PathBuf,
    /// Hours between backups; env `DATABASE_BACKUP_INTERVAL_HOURS` (deployment guide's key name).
    pub backup_interval_hours: f64,
    /// Backups kept before the oldest is deleted (deployment guide's key name).
    pub max_backups: u32,
    /// r2d2 pool size (deployment guide's key name).
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

impl Section for DatabaseConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[],
    };

    fn check_not_empty(&self, problems: &mut Problems) {
        let paths = [
            ("database.path", &self.path),
            ("database.backup_dir", &self.backup_dir),
        ];
        for (key, path) in paths {
            if path.as_os_str().is_empty() {
                problems.report(key, "must not be empty", None);
            }
        }
    }
}

const KEYS: &[KeyDoc] = &[
    KeyDoc::new(
        "database",
        "Where messages are stored and how they are backed up.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "database.path",
        "SQLite database file; parent directories are created.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "database.backup_dir",
        "Directory for database backups.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "database.backup_interval_hours",
        "Hours between database backups.",
        Allowed::above_at_most(0.0, 8_760.0),
    ),
    KeyDoc::new(
        "database.max_backups",
        "Backups kept before the oldest is deleted.",
        Allowed::range(1.0, 10_000.0),
    ),
    KeyDoc::new(
        "database.connection_pool_size",
        "Database connections kept open.",
        Allowed::range(1.0, 64.0),
    ),
    KeyDoc::new(
        "database.busy_timeout_ms",
        "Milliseconds SQLite waits for a lock held by another connection before failing.",
        Allowed::range(1.0, 600_000.0),
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("DATABASE_PATH", "database.path", ValueKind::Path),
    EnvOverride::new(
        "DATABASE_BACKUP_DIR",
        "database.backup_dir",
        ValueKind::Path,
    ),
    EnvOverride::new(
        "DATABASE_BACKUP_INTERVAL_HOURS",
        "database.backup_interval_hours",
        ValueKind::Number,
    ),
    EnvOverride::new(
        "DATABASE_MAX_BACKUPS",
        "database.max_backups",
        ValueKind::Integer,
    ),
    EnvOverride::new(
        "DATABASE_POOL_SIZE",
        "database.connection_pool_size",
        ValueKind::Integer,
    ),
];

/// Hours; the deployment guide's default.
pub const fn default_backup_interval_hours() -> f64 {
    6.0
}

/// Two days of backups at the default interval (the deployment guide's default).
pub const fn default_max_backups() -> u32 {
    48
}

/// The deployment guide's default.
pub const fn default_connection_pool_size() -> u32 {
    10
}

/// Milliseconds: long enough to ride out a backup or a checkpoint, short enough that a stuck
/// writer shows up as an error instead of a silent stall.
pub const fn default_busy_timeout_ms() -> u64 {
    5_000
}
