//! What happens to backups, one type per event: each `emit` writes the log line and moves
//! the metrics ([`BackupMetrics`]) together, so the two never disagree.

use std::time::Duration;

use slog::{Logger, error, info, warn};

use super::error::BackupError;
use super::metrics::BackupMetrics;
use super::run::{BackupRecord, StartupView};
use super::snapshot::BackupReason;
use crate::logging::error_chain;
use crate::metrics::MetricsError;

/// A figure the metrics could not show; the event itself is still logged.
fn log_unrecorded(log: &Logger, recorded: Result<(), MetricsError>) {
    if let Err(err) = recorded {
        warn!(log, "Backup figure not recorded"; "error" => error_chain(&err));
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
            log_unrecorded(
                log,
                metrics.last_success(last.timestamp_millis() as f64 / 1_000.0),
            );
        }
        log_unrecorded(log, metrics.files(view.kept, view.newest_size_bytes));
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
        log_unrecorded(
            log,
            metrics.last_success(record.created_at.timestamp_millis() as f64 / 1_000.0),
        );
        metrics.last_duration(Duration::from_millis(record.duration_ms));
        log_unrecorded(log, metrics.files(record.kept, Some(record.size_bytes)));
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
        metrics.failed();
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
