//! `db repair` ([`repair_database`]; blocking, the CLI runs it without an actor system). It
//! takes the [`DatabaseLock`] first, so it refuses while the service runs on the file, then:
//!
//! 1. checks the database ([`Database::integrity`]: structure, foreign keys, full-text index);
//! 2. when that found problems, saves a pre-repair copy into `backup_dir` before changing
//!    anything (outside retention; a raw copy of file and WAL when no snapshot can be taken);
//! 3. always folds the WAL into the file (a truncating checkpoint: what a crash left behind),
//!    rebuilds every index (`REINDEX`) and the full-text index (FTS5 `rebuild`), and
//!    refreshes the planner's statistics (`PRAGMA optimize`);
//! 4. checks again. Damage those cannot fix (pages lost from a table's tree, pages no table
//!    owns) gets the file rebuilt: `VACUUM INTO` a partial file beside the database, that
//!    file verified (integrity, our schema), then swapped in the way a restore is, and
//!    checked once more;
//! 5. when problems remain, the report names the newest backup in rotation to restore.
//!
//! SQLite answering "database is locked" (another program has the file open in a
//! transaction) is an error of its own, [`BackupError::DatabaseBusy`]: nothing to repair, a
//! program to close.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::catalog::{BackupEntry, list_backups};
use super::error::BackupError;
use super::lock::DatabaseLock;
use super::replace::{Progress, SafetyCopy, save_current, staging_path, swap_into_place};
use super::snapshot::{Check, inspect_database, require_our_schema, sync_file};
use crate::actors::db::{Database, DatabaseConfig, DbError};
use crate::logging::error_chain;

/// What SQLite says when another connection holds the lock it needs.
const LOCKED_MESSAGE: &str = "database is locked";

/// What `db repair` found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepairReport {
    pub database: PathBuf,
    /// No problems left.
    pub ok: bool,
    /// What the first check found, one line per problem.
    pub problems_before: Vec<String>,
    /// What the last check found; empty when `ok`.
    pub problems_after: Vec<String>,
    /// Every step in order, failed ones included.
    pub actions: Vec<String>,
    /// The pre-repair copy, when problems were found.
    pub safety_copy: Option<PathBuf>,
    /// The file was rebuilt with `VACUUM INTO` and swapped in.
    pub rebuilt: bool,
    /// When not `ok`: what to do about it (the backup to restore).
    pub next_step: Option<String>,
    pub duration_ms: u64,
}

/// Checks and repairs the database at `config.path`, with the database lock held. `Err` only
/// when it cannot go ahead at all (the service runs, no database, the file is locked by
/// another program, the safety copy cannot be written, a file cannot be replaced); problems
/// it could not fix are an `Ok` report with `ok: false`.
pub fn repair_database(
    config: &DatabaseConfig,
    progress: Progress<'_>,
) -> Result<RepairReport, BackupError> {
    let started = Instant::now();
    let database = config.path.clone();
    if !database.is_file() {
        return Err(BackupError::NoDatabase { path: database });
    }
    let _lock = DatabaseLock::acquire(&database, "db repair")?;
    let mut repair = Repair {
        config,
        progress,
        actions: Vec::new(),
        safety_copy: None,
    };

    repair.announce_check("Checking");
    let (db, problems_before) = match Database::open(config) {
        Ok(db) => {
            // Another program's lock is the one thing to find out before the check: the
            // check's findings would be about it. Any other failure is the check's to report.
            if let Err(err) = db.try_write_lock() {
                repair.not_locked(err)?;
            }
            let problems = repair.check(&db)?;
            (Some(db), problems)
        }
        Err(err) if is_locked(&err) => return Err(repair.locked(Some(err))),
        Err(err) => (
            None,
            vec![format!("cannot open the database: {}", error_chain(&err))],
        ),
    };
    if !problems_before.is_empty() {
        repair.save_copy()?;
    }

    let mut problems_after = problems_before.clone();
    let mut rebuilt = false;
    if let Some(db) = db {
        repair.maintain(&db)?;
        repair.announce_check("Checking again");
        problems_after = repair.check(&db)?;
        if !problems_after.is_empty() {
            (repair.progress)(&format!(
                "{} problem(s) left; rebuilding the database file",
                problems_after.len()
            ));
            // Replacing the file needs a copy of what it was, even if the first check
            // passed.
            if repair.safety_copy.is_none() {
                repair.save_copy()?;
            }
            match repair.rebuild_file(db) {
                Ok(fresh) => {
                    rebuilt = true;
                    repair.announce_check("Checking the rebuilt database");
                    problems_after = repair.check(&fresh)?;
                }
                Err(err @ BackupError::DatabaseBusy { .. }) => return Err(err),
                Err(err) => repair.actions.push(format!(
                    "rebuilding the database file failed: {}",
                    error_chain(&err)
                )),
            }
        }
    } else {
        repair
            .actions
            .push("nothing repaired: SQLite cannot open the file".to_owned());
    }

    let ok = problems_after.is_empty();
    let next_step = (!ok).then(|| next_step(&config.backup_dir));
    Ok(RepairReport {
        database,
        ok,
        problems_before,
        problems_after,
        actions: repair.actions,
        safety_copy: repair.safety_copy,
        rebuilt,
        next_step,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// One repair under way: what it has done so far.
struct Repair<'c, 'p> {
    config: &'c DatabaseConfig,
    progress: Progress<'p>,
    actions: Vec<String>,
    safety_copy: Option<PathBuf>,
}

impl Repair<'_, '_> {
    fn announce_check(&mut self, what: &str) {
        let line = format!(
            "{what} {} (integrity, foreign keys, full-text index)",
            self.config.path.display()
        );
        (self.progress)(&line);
    }

    /// The check's findings. A check that cannot run at all (the file is too damaged for
    /// it) is a finding too.
    fn check(&mut self, db: &Database) -> Result<Vec<String>, BackupError> {
        let problems = match db.integrity() {
            Ok(report) => report.problems,
            Err(err) if is_locked(&err) => return Err(self.locked(Some(err))),
            Err(err) => vec![format!("the check could not run: {}", error_chain(&err))],
        };
        // The full-text check is a write statement: another program's lock shows up as
        // its finding.
        if problems.iter().any(|problem| problem.contains(LOCKED_MESSAGE)) {
            return Err(self.locked(None));
        }
        Ok(problems)
    }

    fn save_copy(&mut self) -> Result<(), BackupError> {
        if let Some(path) = save_current(self.config, SafetyCopy::PreRepair, self.progress)? {
            self.actions.push(format!(
                "saved a copy of the database as it was to {}",
                path.display()
            ));
            self.safety_copy = Some(path);
        }
        Ok(())
    }

    /// What every repair does: checkpoint, `REINDEX`, full-text rebuild, `PRAGMA optimize`.
    /// A step that fails for another reason than a lock is recorded and the next one runs:
    /// the second check tells what is still wrong.
    fn maintain(&mut self, db: &Database) -> Result<(), BackupError> {
        (self.progress)("Folding the write-ahead log into the database file (checkpoint)");
        match db.checkpoint() {
            Ok(outcome) if outcome.busy => return Err(self.locked(None)),
            Ok(outcome) if outcome.wal_frames > 0 => self.actions.push(format!(
                "folded the write-ahead log into the database file ({} pages)",
                outcome.checkpointed_frames
            )),
            Ok(_) => self
                .actions
                .push("checked the write-ahead log: nothing to fold in".to_owned()),
            Err(err) => {
                let err = self.not_locked(err)?;
                self.actions
                    .push(format!("checkpoint failed: {}", error_chain(&err)));
            }
        }
        let steps: [(&str, &str, fn(&Database) -> Result<(), DbError>); 3] = [
            (
                "Rebuilding indexes (REINDEX)",
                "rebuilt every index (REINDEX)",
                Database::reindex,
            ),
            (
                "Rebuilding the full-text index (messages_fts)",
                "rebuilt the full-text index (messages_fts)",
                Database::rebuild_search_index,
            ),
            (
                "Refreshing the query planner's statistics (PRAGMA optimize)",
                "refreshed the query planner's statistics (PRAGMA optimize)",
                Database::optimize,
            ),
        ];
        for (doing, done, step) in steps {
            (self.progress)(doing);
            match step(db) {
                Ok(()) => self.actions.push(done.to_owned()),
                Err(err) => {
                    let err = self.not_locked(err)?;
                    self.actions
                        .push(format!("{done} failed: {}", error_chain(&err)));
                }
            }
        }
        Ok(())
    }

    /// `VACUUM INTO` a partial file beside the database, verified, then swapped in. Takes
    /// the open database because every connection to the old file must be closed before
    /// the swap. Answers the rebuilt database, its full-text index rebuilt too (the copy
    /// carries the index over as it was).
    fn rebuild_file(&mut self, db: Database) -> Result<Database, BackupError> {
        let database = self.config.path.clone();
        let staged = staging_path(&database, "repair")?;
        (self.progress)(&format!(
            "Rebuilding the database file into {} (VACUUM INTO)",
            staged.display()
        ));
        let verified = (|| {
            db.snapshot_into(&staged).map_err(|source| {
                if is_locked(&source) {
                    self.locked(Some(source))
                } else {
                    BackupError::Snapshot {
                        path: staged.clone(),
                        source,
                    }
                }
            })?;
            drop(db);
            sync_file(&staged)?;
            (self.progress)(&format!(
                "Verifying {} (integrity check)",
                staged.display()
            ));
            let inspection = inspect_database(&staged, Check::Full)?;
            require_our_schema(&staged, &inspection)
        })();
        if let Err(err) = verified {
            // Best effort: a leftover is replaced by the next attempt.
            let _ = std::fs::remove_file(&staged);
            return Err(err);
        }
        (self.progress)(&format!("Swapping the rebuilt file in as {}", database.display()));
        swap_into_place(&database, &staged)?;
        self.actions.push(format!(
            "rebuilt the database file (VACUUM INTO) and swapped it in as {}",
            database.display()
        ));
        let fresh = Database::open(self.config).map_err(BackupError::Database)?;
        (self.progress)("Rebuilding the full-text index (messages_fts)");
        match fresh.rebuild_search_index() {
            Ok(()) => self
                .actions
                .push("rebuilt the full-text index of the rebuilt file".to_owned()),
            Err(err) => {
                let err = self.not_locked(err)?;
                self.actions.push(format!(
                    "rebuilding the full-text index of the rebuilt file failed: {}",
                    error_chain(&err)
                ));
            }
        }
        Ok(fresh)
    }

    /// A lock ends the repair ([`BackupError::DatabaseBusy`]); any other failure is handed
    /// back for the caller to record and carry on.
    fn not_locked(&self, err: DbError) -> Result<DbError, BackupError> {
        if is_locked(&err) {
            Err(self.locked(Some(err)))
        } else {
            Ok(err)
        }
    }

    fn locked(&self, source: Option<DbError>) -> BackupError {
        BackupError::DatabaseBusy {
            database: self.config.path.clone(),
            source,
        }
    }
}

/// Another connection held a lock for longer than `busy_timeout`. Looks through the whole
/// chain: opening reports it as a configuration failure, a statement as a query failure.
fn is_locked(err: &DbError) -> bool {
    err.is_busy() || error_chain(err).contains(LOCKED_MESSAGE)
}

/// The next step after a repair that left problems: the newest backup to restore.
fn next_step(backup_dir: &Path) -> String {
    match list_backups(backup_dir) {
        Ok(entries) => match newest_restorable(&entries) {
            Some(entry) => format!(
                "restore the newest backup ({}): discord-monitor db restore {}",
                entry.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                entry.file_name
            ),
            None => format!(
                "no backups found in {}; the safety copy keeps the data as it was, and \
                 sqlite3's `.recover` can salvage rows from it",
                backup_dir.display()
            ),
        },
        Err(err) => format!(
            "cannot list the backups in {} ({}); restore one with discord-monitor db restore \
             <file>",
            backup_dir.display(),
            error_chain(&err)
        ),
    }
}

/// The newest backup in rotation that still looks whole: its sidecar was written after the
/// backup was verified, and the file has the size it recorded. Safety copies are not
/// candidates: they hold databases that were being replaced or were broken. `db restore`
/// verifies the one chosen again.
fn newest_restorable(entries: &[BackupEntry]) -> Option<&BackupEntry> {
    entries.iter().find(|entry| {
        entry.in_rotation
            && entry
                .metadata
                .as_ref()
                .is_some_and(|metadata| metadata.size_bytes == entry.size_bytes)
    })
}
