//! One backup from start to finish, as the actor and `db backup` both run it (blocking):
//! the `backups` row (`running`, then `ok` or `failed`), the snapshot, retention. Also the
//! schedule's arithmetic and what the actor reads at start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::catalog::{list_backups, prune, sweep_leftovers};
use super::error::BackupError;
use super::name::{BackupKind, BackupName};
use super::snapshot::{BackupReason, read_sidecar, write_snapshot};
use crate::actors::db::{BackupRow, BackupRowOutcome, BackupRowStatus, Database, DatabaseConfig};
use crate::logging::error_chain;

/// Shortest interval honoured: config validation accepts any positive number of hours, and a
/// mistyped tiny value must not turn into a loop of back-to-back backups.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// After a start with no backup, or with the last one overdue, the first backup waits this
/// long (or one interval, if shorter): the start-up backfill gets the disk first, and a
/// crash-looping service does not write a backup per restart.
pub const STARTUP_DELAY: Duration = Duration::from_secs(60);

/// After a failed backup the next try comes this soon (or after one interval, if shorter):
/// a full disk or a fixed permission should not leave the database without a backup for a
/// whole interval.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30 * 60);

/// A `.partial` file or `running` row untouched this long belongs to an attempt that died: a
/// running attempt writes its file continuously, and verifying and hashing even a large file
/// takes minutes, not an hour.
pub const STALE_AFTER: Duration = Duration::from_secs(3_600);

/// What the backups need from the `database` section.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSettings {
    pub dir: PathBuf,
    pub interval: Duration,
    /// Backups in rotation kept; at least 1.
    pub max_backups: usize,
}

impl BackupSettings {
    pub fn from_config(config: &DatabaseConfig) -> Self {
        let hours = config.backup_interval_hours;
        let interval = Duration::try_from_secs_f64(hours * 3_600.0)
            .unwrap_or(Duration::from_secs(6 * 3_600))
            .max(MIN_INTERVAL);
        Self {
            dir: config.backup_dir.clone(),
            interval,
            max_backups: usize::try_from(config.max_backups)
                .unwrap_or(usize::MAX)
                .max(1),
        }
    }
}

/// A finished, verified backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupRecord {
    /// Its `backups` row.
    pub id: i64,
    pub path: String,
    pub file_name: String,
    pub created_at: DateTime<Utc>,
    pub reason: BackupReason,
    pub size_bytes: u64,
    pub sha256: String,
    pub duration_ms: u64,
    pub schema_version: Option<String>,
    /// Backups in rotation after retention, this one included.
    pub kept: usize,
    /// Backup files retention removed.
    pub pruned: Vec<String>,
    /// Things that went wrong around a good backup (retention could not remove a file, the
    /// row could not be marked `ok`); the backup itself is complete.
    pub warnings: Vec<String>,
}

/// Takes one backup of `db` into `settings.dir`, records it, and applies retention.
pub fn take_backup(
    db: &Database,
    settings: &BackupSettings,
    reason: BackupReason,
) -> Result<BackupRecord, BackupError> {
    let started = Instant::now();
    let name = free_name(
        &settings.dir,
        BackupName::new(Utc::now(), BackupKind::Rotation),
    );
    let path = settings.dir.join(name.file_name());
    let path_text = path.display().to_string();
    let id = db
        .begin_backup(&path_text, name.created_at.timestamp_millis())
        .map_err(BackupError::Record)?;
    let elapsed_ms = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);

    let file = match write_snapshot(db, &settings.dir, name, reason) {
        Ok(file) => file,
        Err(err) => {
            // The original error is the news; a failure to record it too is secondary.
            let _ = db.finish_backup(
                id,
                &BackupRowOutcome::Failed {
                    error: error_chain(&err),
                    duration_ms: elapsed_ms(),
                },
            );
            return Err(err);
        }
    };
    let mut warnings = Vec::new();
    let outcome = BackupRowOutcome::Ok {
        size_bytes: i64::try_from(file.metadata.size_bytes).unwrap_or(i64::MAX),
        sha256: file.metadata.sha256.clone(),
        duration_ms: elapsed_ms(),
    };
    if let Err(err) = db.finish_backup(id, &outcome) {
        warnings.push(format!(
            "backup row {id} not marked ok: {}",
            error_chain(&err)
        ));
    }
    let (kept, pruned) = match prune(&settings.dir, settings.max_backups, &file.path) {
        Ok(outcome) => {
            warnings.extend(outcome.problems);
            let removed: Vec<String> = outcome
                .removed
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            let oldest_ms = outcome
                .oldest_kept
                .map_or(name.created_at.timestamp_millis(), |at| {
                    at.timestamp_millis()
                });
            if let Err(err) = db.forget_backup_rows(&removed, oldest_ms) {
                warnings.push(format!(
                    "rows of pruned backups not removed: {}",
                    error_chain(&err)
                ));
            }
            (outcome.kept, removed)
        }
        Err(err) => {
            warnings.push(format!("retention skipped: {}", error_chain(&err)));
            (0, Vec::new())
        }
    };
    Ok(BackupRecord {
        id,
        path: path_text,
        file_name: name.file_name(),
        created_at: name.created_at,
        reason,
        size_bytes: file.metadata.size_bytes,
        sha256: file.metadata.sha256,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        schema_version: file.metadata.schema_version,
        kept,
        pruned,
        warnings,
    })
}

/// `name`, or the next free millisecond after it: never a name already on disk (a backup or
/// a partial one), so no rename can replace an existing backup.
pub fn free_name(dir: &Path, mut name: BackupName) -> BackupName {
    let taken = |name: &BackupName| {
        [name.file_name(), name.sidecar_name()].iter().any(|file| {
            dir.join(file).exists() || dir.join(super::name::partial_name(file)).exists()
        })
    };
    while taken(&name) {
        name = name.next();
    }
    name
}

/// When the first backup after a start is due: one interval after the last success, but not
/// sooner than [`STARTUP_DELAY`] (or one interval) from now, and not later than one interval
/// from now (a last success in the future means the clock moved back).
pub fn first_due(
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> DateTime<Utc> {
    let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::hours(6));
    let grace = chrono::Duration::from_std(STARTUP_DELAY)
        .unwrap_or(chrono::Duration::minutes(1))
        .min(interval);
    let earliest = now + grace;
    match last_success {
        None => earliest,
        Some(last) => (last + interval).clamp(earliest, now + interval),
    }
}

/// When the backup after one that just ended is due.
pub fn next_due_after(succeeded: bool, now: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let wait = if succeeded {
        interval
    } else {
        interval.min(RETRY_AFTER_FAILURE)
    };
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(6))
}

/// What the actor knows at start: from the `backups` table and the directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartupView {
    /// The later of the newest `ok` row and the newest backup file in rotation (a restored
    /// database has an older table than the directory).
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<BackupRow>,
    pub kept: usize,
    pub newest_size_bytes: Option<u64>,
    /// Leftover files removed and interrupted rows closed.
    pub swept_files: Vec<PathBuf>,
    pub closed_rows: Vec<i64>,
    /// The directory could not be read (reported, not fatal: the next backup will say more).
    pub listing_error: Option<String>,
}

/// Sweeps leftovers of crashed attempts (files and `running` rows), then reads the last
/// success, the last failure and what the directory holds.
pub fn startup_view(db: &Database, settings: &BackupSettings) -> Result<StartupView, BackupError> {
    let now = Utc::now();
    let swept_files = sweep_leftovers(&settings.dir, STALE_AFTER, SystemTime::now());
    let closed_rows = close_interrupted_rows(db, now)?;
    let last_ok = db
        .newest_backup_row(BackupRowStatus::Ok)
        .map_err(BackupError::Database)?;
    let last_failure = db
        .newest_backup_row(BackupRowStatus::Failed)
        .map_err(BackupError::Database)?;
    let (entries, listing_error) = match list_backups(&settings.dir) {
        Ok(entries) => (entries, None),
        Err(err) => (Vec::new(), Some(error_chain(&err))),
    };
    let in_rotation: Vec<_> = entries.iter().filter(|entry| entry.in_rotation).collect();
    let newest_file = in_rotation.first().map(|entry| entry.created_at);
    let newest_row = last_ok
        .as_ref()
        .and_then(|row| DateTime::from_timestamp_millis(row.created_at_ms));
    Ok(StartupView {
        last_success: newest_file.max(newest_row),
        last_failure,
        kept: in_rotation.len(),
        newest_size_bytes: in_rotation.first().map(|entry| entry.size_bytes),
        swept_files,
        closed_rows,
        listing_error,
    })
}

/// Rows left `running` by a process that stopped mid-backup: `ok` when the finished file is
/// there (the crash came between the rename and the row update), else `failed`.
fn close_interrupted_rows(db: &Database, now: DateTime<Utc>) -> Result<Vec<i64>, BackupError> {
    let stale_ms = i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX);
    let rows = db
        .running_backup_rows(now.timestamp_millis().saturating_sub(stale_ms))
        .map_err(BackupError::Database)?;
    let mut closed = Vec::new();
    for row in rows {
        let path = Path::new(&row.path);
        let finished = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(BackupName::parse_file_name)
            .filter(|_| path.is_file())
            .and_then(|name| {
                let sidecar = path.with_file_name(name.sidecar_name());
                read_sidecar(&sidecar).ok().flatten()
            });
        let outcome = match finished {
            Some(metadata) => BackupRowOutcome::Ok {
                size_bytes: i64::try_from(metadata.size_bytes).unwrap_or(i64::MAX),
                sha256: metadata.sha256,
                duration_ms: i64::try_from(metadata.duration_ms).unwrap_or(i64::MAX),
            },
            None => BackupRowOutcome::Failed {
                error: "interrupted: the process stopped before the backup finished".to_owned(),
                duration_ms: 0,
            },
        };
        db.finish_backup(row.id, &outcome)
            .map_err(BackupError::Database)?;
        closed.push(row.id);
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::backup::snapshot::{Check, hash_file, inspect_database};
    use crate::actors::db::schema::TABLE_NAMES;
    use crate::actors::db::test_support::{self, CHANNEL_A};
    use crate::actors::db::{MessageQuery, NewMessage};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    const HOUR: Duration = Duration::from_secs(3_600);

    struct Fixture {
        dir: tempfile::TempDir,
        db: Database,
        settings: BackupSettings,
    }

    fn fixture(max_backups: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            path: dir.path().join("data/db.sqlite"),
            backup_dir: dir.path().join("data/backups"),
            connection_pool_size: 2,
            max_backups: u32::try_from(max_backups).unwrap(),
            ..DatabaseConfig::default()
        };
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        let settings = BackupSettings::from_config(&config);
        Fixture { dir, db, settings }
    }

    fn message(offset: u64, content: &str) -> NewMessage {
        test_support::message(offset, CHANNEL_A, content)
    }

    #[test]
    fn settings_turn_hours_into_an_interval_with_a_floor() {
        let config = |hours: f64, max: u32| DatabaseConfig {
            backup_interval_hours: hours,
            max_backups: max,
            ..DatabaseConfig::default()
        };
        assert_eq!(
            BackupSettings::from_config(&config(6.0, 48)).interval,
            6 * HOUR
        );
        assert_eq!(
            BackupSettings::from_config(&config(0.5, 48)).interval,
            HOUR / 2
        );
        assert_eq!(
            BackupSettings::from_config(&config(0.0005, 48)).interval,
            Duration::from_millis(1_800)
        );
        assert_eq!(
            BackupSettings::from_config(&config(1e-9, 48)).interval,
            MIN_INTERVAL
        );
        assert_eq!(BackupSettings::from_config(&config(6.0, 0)).max_backups, 1);
    }

    #[test]
    fn the_first_backup_follows_the_last_success() {
        let now = at("2026-11-28T12:00:00Z");
        // Never backed up: soon, not at once.
        assert_eq!(first_due(None, now, 6 * HOUR), at("2026-11-28T12:01:00Z"));
        // Last one two hours ago: four hours from now, not six (no skipped backup).
        assert_eq!(
            first_due(Some(at("2026-11-28T10:00:00Z")), now, 6 * HOUR),
            at("2026-11-28T16:00:00Z")
        );
        // Overdue (the service was down): soon, once (no storm of missed backups).
        assert_eq!(
            first_due(Some(at("2026-11-27T00:00:00Z")), now, 6 * HOUR),
            at("2026-11-28T12:01:00Z")
        );
        // Due within the start-up delay: the delay wins.
        assert_eq!(
            first_due(Some(at("2026-11-28T06:00:30Z")), now, 6 * HOUR),
            at("2026-11-28T12:01:00Z")
        );
        // A last success in the future (clock moved back): at most one interval away.
        assert_eq!(
            first_due(Some(at("2026-12-01T00:00:00Z")), now, 6 * HOUR),
            at("2026-11-28T18:00:00Z")
        );
        // An interval shorter than the start-up delay shortens it.
        assert_eq!(
            first_due(None, now, Duration::from_secs(2)),
            at("2026-11-28T12:00:02Z")
        );
    }

    #[test]
    fn after_a_failure_the_retry_comes_sooner() {
        let now = at("2026-11-28T12:00:00Z");
        assert_eq!(
            next_due_after(true, now, 6 * HOUR),
            at("2026-11-28T18:00:00Z")
        );
        assert_eq!(
            next_due_after(false, now, 6 * HOUR),
            at("2026-11-28T12:30:00Z")
        );
        assert_eq!(
            next_due_after(false, now, Duration::from_secs(10)),
            at("2026-11-28T12:00:10Z")
        );
    }

    #[test]
    fn a_backup_holds_the_source_rows_and_is_recorded() {
        let fixture = fixture(48);
        let messages: Vec<_> = (1..=50)
            .map(|n| message(n, &format!("message {n}")))
            .collect();
        fixture.db.store_messages(&messages).unwrap();

        let record = take_backup(&fixture.db, &fixture.settings, BackupReason::Manual).unwrap();
        assert!(record.warnings.is_empty(), "{:?}", record.warnings);
        assert_eq!(record.kept, 1);
        assert_eq!(
            hash_file(Path::new(&record.path)).unwrap(),
            (record.size_bytes, record.sha256.clone())
        );

        // The copy, opened as a database of its own, holds the same messages.
        let copy = Database::open(&DatabaseConfig {
            path: PathBuf::from(&record.path),
            ..DatabaseConfig::default()
        })
        .unwrap();
        let query = MessageQuery::new(Some(CHANNEL_A), None, None, 1_000).unwrap();
        let original = fixture.db.query_messages(&query).unwrap();
        let copied = copy.query_messages(&query).unwrap();
        assert_eq!(copied.len(), 50);
        assert_eq!(copied, original);
        drop(copy);

        let row = fixture
            .db
            .newest_backup_row(BackupRowStatus::Ok)
            .unwrap()
            .unwrap();
        assert_eq!(row.id, record.id);
        assert_eq!(row.path, record.path);
        assert_eq!(row.sha256.as_deref(), Some(record.sha256.as_str()));
        assert_eq!(
            row.size_bytes,
            Some(i64::try_from(record.size_bytes).unwrap())
        );
        let sidecar = read_sidecar(&Path::new(&record.path).with_extension("json"))
            .unwrap()
            .unwrap();
        assert_eq!(sidecar.row_counts["messages"], 50);
        assert_eq!(sidecar.row_counts.len(), TABLE_NAMES.len());
        assert_eq!(sidecar.reason, BackupReason::Manual);
        assert_eq!(sidecar.source_path, fixture.db.path().display().to_string());
        inspect_database(Path::new(&record.path), Check::Full).unwrap();
    }

    #[test]
    fn retention_after_each_backup_keeps_max_backups_and_their_rows() {
        let fixture = fixture(2);
        let foreign = fixture.settings.dir.join("operator-copy.sqlite");
        let mut records = Vec::new();
        for _ in 0..4 {
            records.push(
                take_backup(&fixture.db, &fixture.settings, BackupReason::Scheduled).unwrap(),
            );
            std::fs::write(&foreign, b"not ours").unwrap();
        }
        assert_eq!(records[3].kept, 2);
        assert_eq!(records[3].pruned, [records[1].path.clone()]);
        let listed = list_backups(&fixture.settings.dir).unwrap();
        let paths: Vec<_> = listed.iter().map(|entry| entry.path.clone()).collect();
        assert_eq!(paths, [records[3].path.clone(), records[2].path.clone()]);
        assert!(foreign.exists());
        let rows: Vec<i64> = fixture
            .db
            .backup_rows(10)
            .unwrap()
            .iter()
            .map(|row| row.id)
            .collect();
        assert_eq!(rows, [records[3].id, records[2].id]);
    }

    #[test]
    fn a_backup_dir_that_is_a_file_fails_and_is_recorded() {
        let fixture = fixture(48);
        let blocker = fixture.dir.path().join("blocker");
        std::fs::write(&blocker, b"a file").unwrap();
        let settings = BackupSettings {
            dir: blocker.join("backups"),
            ..fixture.settings.clone()
        };
        let error = take_backup(&fixture.db, &settings, BackupReason::Scheduled).unwrap_err();
        assert!(matches!(error, BackupError::CreateDir { .. }), "{error:?}");

        let settings = BackupSettings {
            dir: blocker.clone(),
            ..fixture.settings.clone()
        };
        let error = take_backup(&fixture.db, &settings, BackupReason::Scheduled).unwrap_err();
        assert!(
            matches!(error, BackupError::NotADirectory { .. }),
            "{error:?}"
        );

        let row = fixture
            .db
            .newest_backup_row(BackupRowStatus::Failed)
            .unwrap()
            .unwrap();
        assert!(row.error.unwrap().contains("not a directory"));
        assert!(fixture.db.running_backup_rows(i64::MAX).unwrap().is_empty());
        assert_eq!(std::fs::read(&blocker).unwrap(), b"a file");
    }

    #[test]
    fn startup_reads_the_last_success_and_closes_interrupted_attempts() {
        let fixture = fixture(48);
        let empty = startup_view(&fixture.db, &fixture.settings).unwrap();
        assert_eq!(empty.last_success, None);
        assert_eq!(empty.kept, 0);

        let record = take_backup(&fixture.db, &fixture.settings, BackupReason::Scheduled).unwrap();
        // Two attempts a crash interrupted long ago: one before its file was complete, one
        // after the rename but before the row update.
        let long_ago = Utc::now().timestamp_millis() - 2 * 3_600_000;
        let lost = fixture
            .db
            .begin_backup("data/backups/lost.sqlite", long_ago)
            .unwrap();
        let renamed = fixture.db.begin_backup(&record.path, long_ago).unwrap();
        let current = fixture
            .db
            .begin_backup("data/backups/now.sqlite", Utc::now().timestamp_millis())
            .unwrap();

        let view = startup_view(&fixture.db, &fixture.settings).unwrap();
        assert_eq!(view.last_success, Some(record.created_at));
        assert_eq!(view.kept, 1);
        assert_eq!(view.newest_size_bytes, Some(record.size_bytes));
        assert_eq!(view.closed_rows, [lost, renamed]);
        let rows = fixture.db.backup_rows(10).unwrap();
        let status = |id: i64| rows.iter().find(|row| row.id == id).unwrap().status;
        assert_eq!(status(lost), BackupRowStatus::Failed);
        assert_eq!(status(renamed), BackupRowStatus::Ok);
        // A recent one may belong to a `db backup` running right now.
        assert_eq!(status(current), BackupRowStatus::Running);
    }
}
