//! Messages the [`BackupActor`](super::BackupActor) handles, and the status it reports.

use actix::Message;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalog::BackupEntry;
use super::error::BackupError;
use super::run::BackupRecord;

/// Take a backup now (unless one is running: [`BackupError::InProgress`]); answers the
/// finished backup. A success also moves the next scheduled one to an interval from now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<BackupRecord, BackupError>")]
pub struct BackupNow;

/// The backups in `backup_dir`, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<BackupEntry>, BackupError>")]
pub struct ListBackups;

/// What `/status` and `GET /api/backups` show.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "BackupStatus")]
pub struct GetBackupStatus;

/// The schedule and the latest outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupStatus {
    /// `starting` (reading the table), `idle` or `running`.
    pub state: &'static str,
    pub backup_dir: String,
    pub interval_secs: f64,
    pub max_backups: usize,
    pub running_since: Option<DateTime<Utc>>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_success_path: Option<String>,
    /// `ok` or `failed`: how the latest attempt ended.
    pub last_outcome: Option<&'static str>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Backups in rotation in `backup_dir`.
    pub kept: usize,
    pub newest_size_bytes: Option<u64>,
    /// Since this actor started.
    pub successes: u64,
    pub failures: u64,
}
