//! The maintenance that needs the database to itself, for `db restore` and `db vacuum`
//! (blocking; the CLI runs them without an actor system). Both take the [`DatabaseLock`]
//! first, so they refuse while the service runs on the same file.
//!
//! A restore is two steps so that the CLI can ask for confirmation in between:
//! [`RestorePlan::prepare`] finds and verifies the file (SQLite header, full integrity check,
//! ours, not from a newer version, sha256 against its sidecar when there is one), and
//! [`RestorePlan::apply`] saves the current database as a pre-restore backup, copies the file
//! beside the database (flushed, its checksum checked again), removes the old `-wal`/`-shm`,
//! and renames the copy over the database: at every moment the database path holds either
//! the old database or the complete new one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::BackupError;
use super::lock::DatabaseLock;
use super::replace::{
    Progress, SafetyCopy, save_current, staging_path, swap_into_place, wal_beside,
};
use super::snapshot::{
    BackupMetadata, Check, copy_and_hash, hash_file, inspect_database, read_sidecar,
    require_our_schema,
};
use crate::actors::db::{Database, DatabaseConfig};

/// The file a restore would install, verified.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreSource {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub sha256: String,
    /// Its sidecar, when it has one; its checksum matched.
    pub metadata: Option<BackupMetadata>,
    pub schema_version: Option<String>,
    pub row_counts: std::collections::BTreeMap<String, u64>,
}

/// A verified restore waiting to be applied; holds the database lock.
#[derive(Debug)]
pub struct RestorePlan {
    config: DatabaseConfig,
    source: RestoreSource,
    _lock: DatabaseLock,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub database: PathBuf,
    pub restored_from: PathBuf,
    pub sha256: String,
    /// Where the replaced database went (`None` when there was none).
    pub pre_restore_backup: Option<PathBuf>,
    /// Migrations the restored file lacks; the service applies them at its next start.
    pub pending_migrations: Vec<String>,
    pub duration_ms: u64,
}

impl RestorePlan {
    /// Locks the database and verifies `file` (looked up in `backup_dir` too when the path
    /// given does not exist, so a name from `db backups` is enough).
    pub fn prepare(
        config: &DatabaseConfig,
        file: &Path,
        progress: Progress<'_>,
    ) -> Result<Self, BackupError> {
        let path = resolve(file, &config.backup_dir)?;
        if same_file(&path, &config.path) {
            return Err(BackupError::SameFile { path });
        }
        let lock = DatabaseLock::acquire(&config.path, "db restore")?;
        let wal = wal_beside(&path);
        if wal.metadata().is_ok_and(|wal| wal.len() > 0) {
            return Err(BackupError::WalBeside { path, wal });
        }

        progress(&format!("Verifying {} (integrity check)", path.display()));
        let inspection = inspect_database(&path, Check::Full)?;
        require_our_schema(&path, &inspection)?;
        progress("Computing its sha256");
        let (size_bytes, sha256) = hash_file(&path)?;
        let sidecar = path.with_extension("json");
        let metadata = read_sidecar(&sidecar)?;
        if let Some(metadata) = &metadata {
            if metadata.sha256 != sha256 {
                return Err(BackupError::ChecksumMismatch {
                    path,
                    sidecar,
                    expected: metadata.sha256.clone(),
                    actual: sha256,
                });
            }
            progress(&format!("Checksum matches {}", sidecar.display()));
        }
        Ok(Self {
            config: config.clone(),
            source: RestoreSource {
                path,
                size_bytes,
                sha256,
                metadata,
                schema_version: inspection.schema_version,
                row_counts: inspection.row_counts,
            },
            _lock: lock,
        })
    }

    pub fn source(&self) -> &RestoreSource {
        &self.source
    }

    pub fn database(&self) -> &Path {
        &self.config.path
    }

    /// Saves the current database, then replaces it with the verified file.
    pub fn apply(self, progress: Progress<'_>) -> Result<RestoreReport, BackupError> {
        let started = Instant::now();
        let database = self.config.path.clone();
        let pre_restore_backup = save_current(&self.config, SafetyCopy::PreRestore, progress)?;

        let staged = staging_path(&database, "restore")?;
        progress(&format!(
            "Copying {} ({} bytes) beside the database",
            self.source.path.display(),
            self.source.size_bytes
        ));
        let (_, copied) = copy_and_hash(&self.source.path, &staged)?;
        if copied != self.source.sha256 {
            let _ = std::fs::remove_file(&staged);
            return Err(BackupError::ChangedWhileCopying {
                path: self.source.path.clone(),
                expected: self.source.sha256.clone(),
                actual: copied,
            });
        }
        // The old log goes with the swap; its content is in the pre-restore backup (and was
        // checkpointed into the old file).
        swap_into_place(&database, &staged)?;
        progress(&format!("Restored {}", database.display()));

        let restored = Database::open(&self.config).map_err(BackupError::Database)?;
        let pending_migrations = restored
            .pending_migrations()
            .map_err(BackupError::Database)?;
        drop(restored);
        Ok(RestoreReport {
            database,
            restored_from: self.source.path.clone(),
            sha256: self.source.sha256.clone(),
            pre_restore_backup,
            pending_migrations,
            duration_ms: duration_ms(started.elapsed()),
        })
    }
}

/// What `db vacuum` did.
#[derive(Debug, Clone, Serialize)]
pub struct VacuumReport {
    pub database: PathBuf,
    /// Database file plus WAL, before and after.
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub duration_ms: u64,
}

/// `VACUUM`, `PRAGMA optimize` and a truncating checkpoint, with the database locked.
pub fn vacuum_database(
    config: &DatabaseConfig,
    progress: Progress<'_>,
) -> Result<VacuumReport, BackupError> {
    let started = Instant::now();
    if !config.path.is_file() {
        return Err(BackupError::NoDatabase {
            path: config.path.clone(),
        });
    }
    let _lock = DatabaseLock::acquire(&config.path, "db vacuum")?;
    let db = Database::open(config).map_err(BackupError::Database)?;
    let size = |db: &Database| {
        db.stats()
            .map(|stats| stats.file_size_bytes + stats.wal_size_bytes)
            .map_err(BackupError::Database)
    };
    let before_bytes = size(&db)?;
    progress(&format!(
        "Vacuuming {} ({before_bytes} bytes); this rewrites the whole file",
        config.path.display()
    ));
    db.vacuum_and_optimize().map_err(BackupError::Database)?;
    let after_bytes = size(&db)?;
    Ok(VacuumReport {
        database: config.path.clone(),
        before_bytes,
        after_bytes,
        duration_ms: duration_ms(started.elapsed()),
    })
}

fn duration_ms(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn resolve(file: &Path, backup_dir: &Path) -> Result<PathBuf, BackupError> {
    let candidates = [file.to_path_buf(), backup_dir.join(file)];
    let looked_in = (!file.is_absolute()).then(|| backup_dir.to_path_buf());
    let found = candidates
        .iter()
        .take(if looked_in.is_some() { 2 } else { 1 })
        .find(|candidate| candidate.exists())
        .cloned()
        .ok_or_else(|| BackupError::MissingFile {
            path: file.to_path_buf(),
            looked_in,
        })?;
    if !found.is_file() {
        return Err(BackupError::NotAFile { path: found });
    }
    Ok(found)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::backup::run::{BackupSettings, take_backup};
    use crate::actors::backup::snapshot::BackupReason;
    use crate::actors::db::test_support::{self, CHANNEL_A};
    use crate::actors::db::{MessageQuery, NewMessage};

    fn config(dir: &Path) -> DatabaseConfig {
        DatabaseConfig {
            path: dir.join("data/db.sqlite"),
            backup_dir: dir.join("data/backups"),
            connection_pool_size: 2,
            ..DatabaseConfig::default()
        }
    }

    fn message(offset: u64, content: &str) -> NewMessage {
        test_support::message(offset, CHANNEL_A, content)
    }

    fn contents(db: &Database) -> Vec<String> {
        let query = MessageQuery::new(Some(CHANNEL_A), None, None, 1_000).unwrap();
        db.query_messages(&query)
            .unwrap()
            .into_iter()
            .map(|message| message.content)
            .collect()
    }

    fn quiet() -> impl FnMut(&str) {
        |_: &str| {}
    }

    #[test]
    fn restore_brings_the_backup_back_and_keeps_the_replaced_database() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        db.store_messages(&[message(1, "before")]).unwrap();
        let record = take_backup(
            &db,
            &BackupSettings::from_config(&config),
            BackupReason::Manual,
        )
        .unwrap();
        db.store_messages(&[message(2, "after the backup")])
            .unwrap();
        drop(db);

        let mut quiet = quiet();
        let plan = RestorePlan::prepare(&config, Path::new(&record.file_name), &mut quiet).unwrap();
        assert_eq!(plan.source().sha256, record.sha256);
        assert!(plan.source().metadata.is_some());
        let report = plan.apply(&mut quiet).unwrap();
        assert!(report.pending_migrations.is_empty());

        let restored = Database::open(&config).unwrap();
        assert_eq!(contents(&restored), ["before"]);
        drop(restored);
        let saved = report.pre_restore_backup.unwrap();
        assert!(
            saved
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("-pre-restore.sqlite")
        );
        let saved_db = Database::open(&DatabaseConfig {
            path: saved,
            ..config.clone()
        })
        .unwrap();
        assert_eq!(contents(&saved_db), ["before", "after the backup"]);
    }

    #[test]
    fn restore_refuses_bad_files_with_clear_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        let record = take_backup(
            &db,
            &BackupSettings::from_config(&config),
            BackupReason::Manual,
        )
        .unwrap();
        drop(db);
        let mut quiet = quiet();
        let refuse = |file: &Path| {
            let mut quiet = |_: &str| {};
            RestorePlan::prepare(&config, file, &mut quiet).unwrap_err()
        };

        let missing = refuse(Path::new("nope.sqlite"));
        assert!(
            matches!(missing, BackupError::MissingFile { .. }),
            "{missing}"
        );
        assert!(missing.to_string().contains("also looked in"), "{missing}");

        let text = dir.path().join("notes.sqlite");
        std::fs::write(&text, "just some text, long enough to have a header").unwrap();
        assert!(matches!(refuse(&text), BackupError::NotSqlite { .. }));

        assert!(matches!(refuse(&config.path), BackupError::SameFile { .. }));
        assert!(matches!(refuse(dir.path()), BackupError::NotAFile { .. }));

        // A file whose bytes changed after its sidecar was written.
        let tampered = dir.path().join("tampered.sqlite");
        std::fs::copy(&record.path, &tampered).unwrap();
        std::fs::copy(
            Path::new(&record.path).with_extension("json"),
            tampered.with_extension("json"),
        )
        .unwrap();
        {
            let other = Database::open(&DatabaseConfig {
                path: tampered.clone(),
                ..config.clone()
            })
            .unwrap();
            other.store_messages(&[message(9, "sneaked in")]).unwrap();
            other.checkpoint().unwrap();
        }
        let error = refuse(&tampered);
        assert!(
            matches!(error, BackupError::ChecksumMismatch { .. }),
            "{error}"
        );

        // An SQLite file that is somebody else's.
        let foreign = dir.path().join("foreign.sqlite");
        {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            let mut conn = diesel::SqliteConnection::establish(foreign.to_str().unwrap()).unwrap();
            conn.batch_execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
                .unwrap();
        }
        assert!(matches!(
            refuse(&foreign),
            BackupError::NotOurDatabase { .. }
        ));

        // Nothing was replaced by any of it, and the lock is free again.
        let plan = RestorePlan::prepare(&config, Path::new(&record.path), &mut quiet).unwrap();
        drop(plan);
        DatabaseLock::acquire(&config.path, "test").unwrap();
    }

    #[test]
    fn restore_and_vacuum_refuse_while_the_database_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        let record = take_backup(
            &db,
            &BackupSettings::from_config(&config),
            BackupReason::Manual,
        )
        .unwrap();
        let _service = DatabaseLock::acquire(&config.path, "service").unwrap();
        let mut quiet = quiet();
        let error = RestorePlan::prepare(&config, Path::new(&record.path), &mut quiet).unwrap_err();
        assert!(matches!(error, BackupError::Locked { .. }), "{error}");
        let error = vacuum_database(&config, &mut quiet).unwrap_err();
        assert!(matches!(error, BackupError::Locked { .. }), "{error}");
        // The database itself was not touched.
        assert!(db.stats().is_ok());
    }

    #[test]
    fn a_broken_current_database_is_copied_as_it_is_before_the_restore() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        db.store_messages(&[message(1, "good")]).unwrap();
        let record = take_backup(
            &db,
            &BackupSettings::from_config(&config),
            BackupReason::Manual,
        )
        .unwrap();
        drop(db);
        std::fs::write(&config.path, vec![0x5a_u8; 8_192]).unwrap();

        let mut quiet = quiet();
        let plan = RestorePlan::prepare(&config, Path::new(&record.path), &mut quiet).unwrap();
        let report = plan.apply(&mut quiet).unwrap();
        let saved = report.pre_restore_backup.unwrap();
        assert_eq!(std::fs::read(&saved).unwrap(), vec![0x5a_u8; 8_192]);
        assert_eq!(contents(&Database::open(&config).unwrap()), ["good"]);
    }

    #[test]
    fn vacuum_reports_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let mut quiet = quiet();
        assert!(matches!(
            vacuum_database(&config, &mut quiet),
            Err(BackupError::NoDatabase { .. })
        ));
        let db = Database::open(&config).unwrap();
        db.run_pending_migrations().unwrap();
        let big = "y".repeat(3_000);
        let batch: Vec<_> = (1..=100).map(|n| message(n, &big)).collect();
        db.store_messages(&batch).unwrap();
        drop(db);

        let report = vacuum_database(&config, &mut quiet).unwrap();
        assert!(report.before_bytes > 0);
        assert!(report.after_bytes > 0);
        assert!(report.after_bytes <= report.before_bytes);
        assert_eq!(contents(&Database::open(&config).unwrap()).len(), 100);
    }
}
