//! What happens to backups, one type per event: each `emit` writes the log line and moves
//! the metrics together, so the two never disagree. Without a registry (tests, the CLI)
//! only the log line is written.
//!
//! Metrics (all `discord_monitor_backup_*`):
//! - `last_success_timestamp_seconds` (gauge): Unix time of the newest successful backup,
//!   from the table and the directory at start; alert on `time() - it > 2 * interval`.
//! - `last_duration_seconds` (gauge): how long the latest attempt took.
//! - `failures_total` (counter): failed attempts since the process started.
//! - `files` (gauge): backups in rotation in `backup_dir`.
//! - `newest_size_bytes` (gauge): size of the newest backup.

use std::sync::Arc;
use std::time::Duration;

use slog::{Logger, error, info, warn};

use super::error::BackupError;
use super::run::{BackupRecord, StartupView};
use super::snapshot::BackupReason;
use crate::logging::error_chain;
use crate::metrics::Metrics;

const LAST_SUCCESS: &str = "discord_monitor_backup_last_success_timestamp_seconds";
const LAST_DURATION: &str = "discord_monitor_backup_last_duration_seconds";
const FAILURES: &str = "discord_monitor_backup_failures_total";
const FILES: &str = "discord_monitor_backup_files";
const NEWEST_SIZE: &str = "discord_monitor_backup_newest_size_bytes";

#[derive(Clone, Default)]
pub struct BackupMetrics(Option<Arc<Metrics>>);

impl BackupMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        let this = BackupMetrics(Some(metrics));
        // Present from the first scrape, so a rate over it has a starting point.
        this.with(|metrics| {
            let _ = metrics.counter(FAILURES, "Failed database backup attempts", &[]);
        });
        this
    }

    fn with(&self, record: impl FnOnce(&Metrics)) {
        if let Some(metrics) = &self.0 {
            record(metrics);
        }
    }

    fn set(&self, name: &str, help: &str, value: f64) {
        self.with(|metrics| {
            if let Ok(gauge) = metrics.gauge(name, help, &[]) {
                gauge.set(value);
            }
        });
    }

    fn last_success(&self, seconds: f64) {
        self.set(
            LAST_SUCCESS,
            "Unix time of the newest successful database backup",
            seconds,
        );
    }

    fn last_duration(&self, duration: Duration) {
        self.set(
            LAST_DURATION,
            "Duration of the latest database backup attempt",
            duration.as_secs_f64(),
        );
    }

    pub fn files(&self, kept: usize, newest_size_bytes: Option<u64>) {
        self.set(
            FILES,
            "Database backups in rotation in database.backup_dir",
            kept as f64,
        );
        if let Some(size) = newest_size_bytes {
            self.set(
                NEWEST_SIZE,
                "Size of the newest database backup",
                size as f64,
            );
        }
    }
}

/// The actor read the table and the directory at start.
pub struct BackupsFound<'a> {
    pub view: &'a StartupView,
    pub next_due_at: chrono::DateTime<chrono::Utc>,
}

impl BackupsFound<'_> {
    pub fn emit(&self, log: &Logger, metrics: &BackupMetrics) {
        let view = self.view;
        if let Some(last) = view.last_success {
            metrics.last_success(last.timestamp_millis() as f64 / 1_000.0);
        }
        metrics.files(view.kept, view.newest_size_bytes);
        if !view.swept_files.is_empty() || !view.closed_rows.is_empty() {
            warn!(log, "Cleaned up after interrupted backups";
                "files_removed" => view.swept_files.len(),
                "rows_closed" => view.closed_rows.len());
        }
        if let Some(problem) = &view.listing_error {
            warn!(log, "Backup directory not readable"; "error" => problem);
        }
        info!(log, "Backups scheduled";
            "kept" => view.kept,
            "last_success" => view.last_success.map(|at| at.to_rfc3339()),
            "next_due_at" => self.next_due_at.to_rfc3339());
    }
}

pub struct BackupSucceeded<'a> {
    pub record: &'a BackupRecord,
}

impl BackupSucceeded<'_> {
    pub fn emit(&self, log: &Logger, metrics: &BackupMetrics) {
        let record = self.record;
        metrics.last_success(record.created_at.timestamp_millis() as f64 / 1_000.0);
        metrics.last_duration(Duration::from_millis(record.duration_ms));
        metrics.files(record.kept, Some(record.size_bytes));
        info!(log, "Database backup written";
            "path" => &record.path,
            "reason" => record.reason.as_str(),
            "size_bytes" => record.size_bytes,
            "sha256" => &record.sha256,
            "duration_ms" => record.duration_ms,
            "kept" => record.kept,
            "pruned" => record.pruned.len());
        for warning in &record.warnings {
            warn!(log, "Database backup written with a problem";
                "path" => &record.path, "error" => warning);
        }
    }
}

pub struct BackupFailed<'a> {
    pub error: &'a BackupError,
    pub reason: BackupReason,
    pub duration: Duration,
}

impl BackupFailed<'_> {
    pub fn emit(&self, log: &Logger, metrics: &BackupMetrics) {
        metrics.last_duration(self.duration);
        metrics.with(|metrics| {
            if let Ok(counter) = metrics.counter(FAILURES, "Failed database backup attempts", &[]) {
                counter.inc();
            }
        });
        error!(log, "Database backup failed";
            "reason" => self.reason.as_str(),
            "duration_ms" => u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            "error" => error_chain(self.error),
            "error_type" => error_type(self.error));
    }
}

/// A small fixed set, for `grep` and dashboards.
pub fn error_type(error: &BackupError) -> &'static str {
    match error {
        BackupError::InProgress { .. } => "BackupInProgress",
        BackupError::CreateDir { .. }
        | BackupError::NotADirectory { .. }
        | BackupError::ListDir { .. } => "BackupDirError",
        BackupError::Snapshot { .. } => "BackupSnapshotError",
        BackupError::Open { .. }
        | BackupError::Inspect { .. }
        | BackupError::Corrupt { .. }
        | BackupError::NotSqlite { .. } => "BackupVerificationError",
        BackupError::Record(_) | BackupError::Database(_) => "DatabaseError",
        BackupError::Worker(_) => "BackupWorkerError",
        _ => "BackupFileError",
    }
}
