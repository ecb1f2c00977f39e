//! The backups' metrics (all `discord_monitor_backup_*`), registered once when the service is
//! built; the events in `events.rs` record them. Without a registry (tests, the CLI) nothing
//! is recorded.
//!
//! - `last_success_timestamp_seconds` (gauge): Unix time of the newest successful backup,
//!   from the table and the directory at start; alert on `time() - it > 2 * interval`.
//! - `last_duration_seconds` (gauge): how long the latest attempt took.
//! - `failures_total` (counter): failed attempts since the process started.
//! - `files` (gauge): backups in rotation in `backup_dir`.
//! - `newest_size_bytes` (gauge): size of the newest backup.
//!
//! `last_success_timestamp_seconds` and `newest_size_bytes` appear with the first backup
//! found or written: a 0 would read as a backup from 1970 (setting off the staleness alert
//! above) or an empty backup. The others exist from the start.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{Counter, FamilySpec, Gauge, GaugeFamily, Metrics, MetricsError};

const LAST_SUCCESS: FamilySpec<0> = FamilySpec {
    name: "discord_monitor_backup_last_success_timestamp_seconds",
    help: "Unix time of the newest successful database backup",
    label_names: [],
};
const NEWEST_SIZE: FamilySpec<0> = FamilySpec {
    name: "discord_monitor_backup_newest_size_bytes",
    help: "Size of the newest database backup",
    label_names: [],
};

#[derive(Clone, Default)]
pub struct BackupMetrics(Option<Handles>);

#[derive(Clone)]
struct Handles {
    /// Registered on first use (see the module doc).
    last_success: GaugeFamily<0>,
    newest_size: GaugeFamily<0>,
    last_duration: Gauge,
    failures: Counter,
    files: Gauge,
}

impl BackupMetrics {
    /// Registers the backup families in `metrics`.
    pub fn register(metrics: &Arc<Metrics>) -> Result<Self, MetricsError> {
        Ok(BackupMetrics(Some(Handles {
            last_success: GaugeFamily::register(metrics, LAST_SUCCESS, [])?,
            newest_size: GaugeFamily::register(metrics, NEWEST_SIZE, [])?,
            last_duration: metrics.gauge(
                "discord_monitor_backup_last_duration_seconds",
                "Duration of the latest database backup attempt",
                &[],
            )?,
            failures: metrics.counter(
                "discord_monitor_backup_failures_total",
                "Failed database backup attempts",
                &[],
            )?,
            files: metrics.gauge(
                "discord_monitor_backup_files",
                "Database backups in rotation in database.backup_dir",
                &[],
            )?,
        })))
    }

    /// The first call registers the series; failing that, the figure is not shown and the
    /// error is returned for the log.
    pub(super) fn last_success(&self, seconds: f64) -> Result<(), MetricsError> {
        if let Some(handles) = &self.0 {
            handles.last_success.get([])?.set(seconds);
        }
        Ok(())
    }

    pub(super) fn last_duration(&self, duration: Duration) {
        if let Some(handles) = &self.0 {
            handles.last_duration.set(duration.as_secs_f64());
        }
    }

    pub(super) fn failed(&self) {
        if let Some(handles) = &self.0 {
            handles.failures.inc();
        }
    }

    /// As [`last_success`](Self::last_success) for the newest backup's size.
    pub(super) fn files(
        &self,
        kept: usize,
        newest_size_bytes: Option<u64>,
    ) -> Result<(), MetricsError> {
        let Some(handles) = &self.0 else {
            return Ok(());
        };
        handles.files.set(kept as f64);
        if let Some(size) = newest_size_bytes {
            handles.newest_size.get([])?.set(size as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exist_from_the_start_and_timestamps_from_the_first_backup() {
        let registry = Arc::new(Metrics::new());
        let metrics = BackupMetrics::register(&registry).unwrap();
        let text = registry.render_prometheus();
        for series in [
            "discord_monitor_backup_failures_total 0",
            "discord_monitor_backup_files 0",
            "discord_monitor_backup_last_duration_seconds 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
        assert!(!text.contains("discord_monitor_backup_last_success_timestamp_seconds"));
        assert!(!text.contains("discord_monitor_backup_newest_size_bytes"));

        metrics.last_success(1_700_000_000.0).unwrap();
        metrics.files(1, Some(4_096)).unwrap();
        let text = registry.render_prometheus();
        assert!(text.contains("discord_monitor_backup_last_success_timestamp_seconds 1700000000"));
        assert!(text.contains("discord_monitor_backup_newest_size_bytes 4096"));
    }
}
