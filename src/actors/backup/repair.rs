//! `db repair` ([`repair_database`]; blocking, the CLI runs it without an actor system). It
//! takes the [`DatabaseLock`] first, so it refuses while the service runs on the file, then:
//!
//! 1. checks the database ([`Database::integrity`]: structure, foreign keys, full-text index);
//! 2. when that found problems, saves a pre-repair copy into `backup_dir` before changing
//!    anything (outside retention; a raw copy of file and WAL when no snapshot can be taken);
//! 3. always folds the WAL into the file (a truncating checkpoint: what a crash left behind),
//!    rebuilds every index (`REINDEX`) and the full-text index (FTS5 `rebuild`), and
//!    refreshes the planner's statistics (`PRAGMA optimize`);
//! 4. checks again. Damage those cannot fix (pages no table owns, a broken free list) gets
//!    the file rebuilt: `VACUUM INTO` a partial file beside the database, that file verified
//!    (integrity, our schema), then swapped in the way a restore is, and checked once more;
//! 5. when problems remain (a table's own pages damaged: the rows on them are gone for
//!    SQLite, and `VACUUM INTO` stops at them), the report names the newest backup in
//!    rotation to restore.
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
use super::replace::{
    Progress, SafetyCopy, save_current, staging_path, swap_into_place, wal_beside,
};
use super::snapshot::{Check, inspect_database, require_our_schema, sync_file};
use crate::actors::db::{Database, DatabaseConfig, DbError};
use crate::logging::error_chain;

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
    // Measured before opening: SQLite folds a leftover log in as soon as the last connection
    // of the first open closes, so the checkpoint below may find nothing left to do.
    let leftover_wal_bytes = wal_beside(&database).metadata().map_or(0, |wal| wal.len());
    let mut repair = Repair {
        config,
        progress,
        actions: Vec::new(),
        safety_copy: None,
        leftover_wal_bytes,
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
        Err(err) if err.is_locked() => return Err(repair.locked(Some(err))),
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
                Ok(()) => {
                    rebuilt = true;
                    problems_after = repair.check_rebuilt()?;
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
    /// Size of the `-wal` file found beside the database before it was opened.
    leftover_wal_bytes: u64,
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
    fn check(&self, db: &Database) -> Result<Vec<String>, BackupError> {
        match db.integrity() {
            // The full-text check is a write statement: another program's lock shows up as
            // its finding.
            Ok(report) if report.locked => Err(self.locked(None)),
            Ok(report) => Ok(report.problems),
            Err(err) if err.is_locked() => Err(self.locked(Some(err))),
            Err(err) => Ok(vec![format!(
                "the check could not run: {}",
                error_chain(&err)
            )]),
        }
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
            Ok(_) if self.leftover_wal_bytes > 0 => self.actions.push(format!(
                "folded the write-ahead log found beside the database ({} bytes) into the file",
                self.leftover_wal_bytes
            )),
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
        /// What the terminal shows while it runs, what the report says after it worked or
        /// failed, and the step.
        type Step = (
            &'static str,
            &'static str,
            &'static str,
            fn(&Database) -> Result<(), DbError>,
        );
        let steps: [Step; 3] = [
            (
                "Rebuilding indexes (REINDEX)",
                "rebuilt every index (REINDEX)",
                "REINDEX failed",
                Database::reindex,
            ),
            (
                "Rebuilding the full-text index (messages_fts)",
                "rebuilt the full-text index (messages_fts)",
                "rebuilding the full-text index failed",
                Database::rebuild_search_index,
            ),
            (
                "Refreshing the query planner's statistics (PRAGMA optimize)",
                "refreshed the query planner's statistics (PRAGMA optimize)",
                "PRAGMA optimize failed",
                Database::optimize,
            ),
        ];
        for (doing, done, failed, step) in steps {
            (self.progress)(doing);
            match step(db) {
                Ok(()) => self.actions.push(done.to_owned()),
                Err(err) => {
                    let err = self.not_locked(err)?;
                    self.actions
                        .push(format!("{failed}: {}", error_chain(&err)));
                }
            }
        }
        // The steps above write through the log too. Folding it in again leaves the file
        // complete on its own when repair ends, rather than whenever the pool's last
        // connection happens to close (the pool may still be opening one in the background).
        match db.checkpoint() {
            Ok(outcome) if outcome.busy => return Err(self.locked(None)),
            Ok(_) => {}
            Err(err) => {
                let err = self.not_locked(err)?;
                self.actions
                    .push(format!("final checkpoint failed: {}", error_chain(&err)));
            }
        }
        Ok(())
    }

    /// `VACUUM INTO` a partial file beside the database, verified, then swapped in. Takes
    /// the open database because every connection to the old file must be closed before
    /// the swap.
    fn rebuild_file(&mut self, db: Database) -> Result<(), BackupError> {
        let database = self.config.path.clone();
        let staged = staging_path(&database, "repair")?;
        (self.progress)(&format!(
            "Rebuilding the database file into {} (VACUUM INTO)",
            staged.display()
        ));
        let verified = (|| {
            db.snapshot_into(&staged).map_err(|source| {
                if source.is_locked() {
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
            (self.progress)(&format!("Verifying {} (integrity check)", staged.display()));
            let inspection = inspect_database(&staged, Check::Full)?;
            require_our_schema(&staged, &inspection)
        })();
        if let Err(err) = verified {
            // Best effort: a leftover is replaced by the next attempt.
            let _ = std::fs::remove_file(&staged);
            return Err(err);
        }
        (self.progress)(&format!(
            "Swapping the rebuilt file in as {}",
            database.display()
        ));
        swap_into_place(&database, &staged)?;
        self.actions.push(format!(
            "rebuilt the database file (VACUUM INTO) and swapped it in as {}",
            database.display()
        ));
        Ok(())
    }

    /// The rebuilt file, its full-text index rebuilt first (`VACUUM INTO` carries the index
    /// over as it was), then checked.
    fn check_rebuilt(&mut self) -> Result<Vec<String>, BackupError> {
        let fresh = match Database::open(self.config) {
            Ok(fresh) => fresh,
            Err(err) => {
                let err = self.not_locked(err)?;
                return Ok(vec![format!(
                    "cannot open the rebuilt database: {}",
                    error_chain(&err)
                )]);
            }
        };
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
        self.announce_check("Checking the rebuilt database");
        self.check(&fresh)
    }

    /// A lock ends the repair ([`BackupError::DatabaseBusy`]); any other failure is handed
    /// back for the caller to record and carry on.
    fn not_locked(&self, err: DbError) -> Result<DbError, BackupError> {
        if err.is_locked() {
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

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};

    use super::*;
    use crate::actors::backup::RestorePlan;
    use crate::actors::backup::run::{BackupSettings, take_backup};
    use crate::actors::backup::snapshot::BackupReason;
    use crate::actors::db::test_support::{self, BASE_ID, CHANNEL_A};
    use crate::actors::db::{MessageQuery, NewMessage, SearchQuery};

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

    /// A migrated database at `config.path` holding `count` messages, closed again.
    fn database_with(config: &DatabaseConfig, count: u64) {
        let db = Database::open(config).unwrap();
        db.run_pending_migrations().unwrap();
        let batch: Vec<_> = (1..=count)
            .map(|id| message(id, &format!("message number {id}")))
            .collect();
        db.store_messages(&batch).unwrap();
    }

    fn contents(config: &DatabaseConfig) -> Vec<String> {
        let db = Database::open(config).unwrap();
        let query = MessageQuery::new(Some(CHANNEL_A), None, None, 1_000).unwrap();
        db.query_messages(&query)
            .unwrap()
            .into_iter()
            .map(|message| message.content)
            .collect()
    }

    /// A plain connection, for doing to the file what our code never would.
    /// A plain connection, beside whatever the pools of earlier steps still hold: a pool
    /// can still be opening a connection in the background when it is dropped, so this one
    /// waits for locks as the service's connections do instead of failing at once.
    fn raw(path: &Path) -> SqliteConnection {
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
        conn
    }

    fn schema_sql(conn: &mut SqliteConnection, name: &str) -> String {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            sql: String,
        }
        diesel::sql_query("SELECT sql FROM sqlite_schema WHERE name = ?")
            .bind::<Text, _>(name)
            .get_result::<Row>(conn)
            .unwrap()
            .sql
    }

    fn quiet() -> impl FnMut(&str) {
        |_: &str| {}
    }

    fn repair(config: &DatabaseConfig) -> RepairReport {
        let mut quiet = quiet();
        repair_database(config, &mut quiet).unwrap()
    }

    #[test]
    fn a_healthy_database_gets_its_indexes_rebuilt_and_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        database_with(&config, 20);

        let mut lines = Vec::new();
        let mut record = |line: &str| lines.push(line.to_owned());
        let report = repair_database(&config, &mut record).unwrap();
        assert!(report.ok, "{report:?}");
        assert!(report.problems_before.is_empty() && report.problems_after.is_empty());
        assert_eq!(report.safety_copy, None);
        assert!(!report.rebuilt);
        assert_eq!(report.next_step, None);
        for done in [
            "rebuilt every index (REINDEX)",
            "rebuilt the full-text index (messages_fts)",
            "refreshed the query planner's statistics (PRAGMA optimize)",
        ] {
            assert!(
                report.actions.iter().any(|action| action == done),
                "{report:?}"
            );
        }
        assert!(lines[0].starts_with("Checking "), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("Rebuilding indexes"))
        );
        assert!(
            !config.backup_dir.exists(),
            "nothing saved when nothing was wrong"
        );
        assert_eq!(contents(&config).len(), 20);
    }

    #[test]
    fn a_full_text_index_out_of_step_is_rebuilt_after_a_safety_copy() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        database_with(&config, 5);
        // Content changed behind the index's back, the schema left as it was.
        {
            let mut conn = raw(&config.path);
            let trigger = schema_sql(&mut conn, "messages_fts_after_update");
            let second = BASE_ID + 2;
            conn.batch_execute(&format!(
                "DROP TRIGGER messages_fts_after_update;
                 UPDATE messages SET content = 'rewritten secretly' WHERE id = {second};
                 {trigger};"
            ))
            .unwrap();
        }

        let report = repair(&config);
        assert!(report.ok, "{report:?}");
        assert!(
            report
                .problems_before
                .iter()
                .any(|problem| problem.contains("messages_fts")),
            "{report:?}"
        );
        assert!(report.problems_after.is_empty());
        assert!(!report.rebuilt);
        let db = Database::open(&config).unwrap();
        assert!(db.integrity().unwrap().ok);
        let search = |text: &str| {
            db.search(&SearchQuery::for_text(text).unwrap())
                .unwrap()
                .hits
        };
        let found = search("secretly");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].message_id, BASE_ID + 2);
        assert!(
            search("number 2")
                .iter()
                .all(|hit| hit.message_id != BASE_ID + 2)
        );

        // The copy is listed as what it is, and outlives retention.
        let copy = report.safety_copy.clone().unwrap();
        assert!(copy.is_file());
        let settings = BackupSettings {
            max_backups: 1,
            ..BackupSettings::from_config(&config)
        };
        for _ in 0..3 {
            take_backup(&db, &settings, BackupReason::Manual).unwrap();
        }
        let listed = list_backups(&config.backup_dir).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let saved = listed
            .iter()
            .find(|entry| Path::new(&entry.path) == copy)
            .unwrap();
        assert_eq!(saved.kind, "pre_repair");
        assert!(!saved.in_rotation);
        assert!(saved.file_name.ends_with("-pre-repair.sqlite"));
        assert_eq!(saved.metadata.as_ref().unwrap().row_counts["messages"], 5);
    }

    #[test]
    fn refused_while_the_service_holds_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let mut quiet = quiet();
        let error = repair_database(&config, &mut quiet).unwrap_err();
        assert!(matches!(error, BackupError::NoDatabase { .. }), "{error}");
        assert!(error.to_string().contains("data/db.sqlite"), "{error}");

        database_with(&config, 1);
        let service = DatabaseLock::acquire(&config.path, "service").unwrap();
        let error = repair_database(&config, &mut quiet).unwrap_err();
        assert!(matches!(error, BackupError::Locked { .. }), "{error}");
        assert!(
            error.to_string().contains("stop the service first"),
            "{error}"
        );
        drop(service);
        assert!(repair(&config).ok);
    }

    #[test]
    fn another_program_holding_the_file_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            // Milliseconds: the lock below is never let go while the repair runs.
            busy_timeout_ms: 200,
            ..config(dir.path())
        };
        database_with(&config, 3);
        let mut shell = raw(&config.path);
        shell.batch_execute("BEGIN IMMEDIATE").unwrap();

        let mut quiet = quiet();
        let error = repair_database(&config, &mut quiet).unwrap_err();
        assert!(matches!(error, BackupError::DatabaseBusy { .. }), "{error}");
        let text = error_chain(&error);
        assert!(text.contains("locked by another program"), "{text}");
        assert!(text.contains("sqlite3 shell"), "{text}");
        assert!(!config.backup_dir.exists(), "nothing was done");

        shell.batch_execute("ROLLBACK").unwrap();
        drop(shell);
        assert!(repair(&config).ok);
    }

    #[test]
    fn a_write_ahead_log_left_by_a_crash_is_folded_in() {
        let dir = tempfile::tempdir().unwrap();
        let running = config(&dir.path().join("running"));
        let crashed = config(&dir.path().join("crashed"));
        database_with(&running, 3);
        // The files as a `kill -9` leaves them: the newest messages only in the WAL.
        let db = Database::open(&running).unwrap();
        db.store_messages(&[message(4, "only in the log"), message(5, "me too")])
            .unwrap();
        std::fs::create_dir_all(crashed.path.parent().unwrap()).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = |config: &DatabaseConfig| {
                let mut path = config.path.as_os_str().to_owned();
                path.push(suffix);
                PathBuf::from(path)
            };
            std::fs::copy(file(&running), file(&crashed)).unwrap();
        }
        drop(db);
        let wal = wal_beside(&crashed.path);
        assert!(wal.metadata().unwrap().len() > 0);
        let file_alone = inspect_database(&crashed.path, Check::Quick).unwrap();
        assert_eq!(file_alone.row_counts["messages"], 3);

        let report = repair(&crashed);
        assert!(report.ok, "{report:?}");
        assert!(
            report
                .actions
                .iter()
                .any(|action| action.starts_with("folded the write-ahead log")),
            "{report:?}"
        );
        assert!(wal.metadata().map_or(true, |wal| wal.len() == 0));
        let file_alone = inspect_database(&crashed.path, Check::Quick).unwrap();
        assert_eq!(file_alone.row_counts["messages"], 5);
        assert_eq!(contents(&crashed).len(), 5);
    }

    #[test]
    fn an_index_that_disagrees_with_its_table_is_fixed_by_reindex() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        database_with(&config, 5);
        // Rows written while the index was declared on another column, the declaration
        // then put back: the index holds entries its table does not.
        let original = schema_sql(&mut raw(&config.path), "messages_author_id");
        let redeclare = |sql: &str| {
            raw(&config.path)
                .batch_execute(&format!(
                    "PRAGMA writable_schema = ON;
                     UPDATE sqlite_schema SET sql = '{sql}' WHERE name = 'messages_author_id';"
                ))
                .unwrap();
        };
        redeclare(&original.replace("(author_id)", "(channel_id)"));
        {
            let db = Database::open(&config).unwrap();
            db.store_messages(&[message(6, "six"), message(7, "seven")])
                .unwrap();
        }
        redeclare(&original);
        let before = Database::open(&config).unwrap().integrity().unwrap();
        assert!(!before.ok, "the damage is real");

        let report = repair(&config);
        assert!(report.ok, "{report:?}");
        assert!(
            report
                .problems_before
                .iter()
                .any(|problem| problem.contains("messages_author_id")),
            "{report:?}"
        );
        assert!(!report.rebuilt, "REINDEX was enough");
        assert!(report.safety_copy.is_some());
        assert_eq!(contents(&config).len(), 7);
    }

    #[test]
    fn pages_no_table_owns_get_the_file_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        database_with(&config, 5);
        // A table forgotten by the schema: its pages belong to nothing, which REINDEX does
        // not touch and only a rewrite of the file removes.
        raw(&config.path)
            .batch_execute(
                "CREATE TABLE scratch (blob BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
                 INSERT INTO scratch SELECT randomblob(2000) FROM n;
                 PRAGMA writable_schema = ON;
                 DELETE FROM sqlite_schema WHERE name = 'scratch';",
            )
            .unwrap();

        let mut lines = Vec::new();
        let mut record = |line: &str| lines.push(line.to_owned());
        let report = repair_database(&config, &mut record).unwrap();
        assert!(report.ok, "{report:?}");
        assert!(
            report
                .problems_before
                .iter()
                .any(|problem| problem.contains("never used")),
            "{report:?}"
        );
        assert!(report.rebuilt, "{report:?}");
        assert!(report.safety_copy.is_some());
        assert!(
            lines.iter().any(|line| line.contains("VACUUM INTO")),
            "{lines:?}"
        );
        assert_eq!(contents(&config).len(), 5);
        assert!(Database::open(&config).unwrap().integrity().unwrap().ok);
        let leftovers: Vec<_> = std::fs::read_dir(config.path.parent().unwrap())
            .unwrap()
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_file_sqlite_cannot_open_is_saved_as_it_is_and_left_for_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        std::fs::create_dir_all(config.path.parent().unwrap()).unwrap();
        std::fs::write(&config.path, vec![0x5a_u8; 8_192]).unwrap();

        let report = repair(&config);
        assert!(!report.ok);
        assert!(
            report.problems_before[0].starts_with("cannot open the database"),
            "{report:?}"
        );
        assert_eq!(report.problems_after, report.problems_before);
        assert!(!report.rebuilt);
        let copy = report.safety_copy.clone().unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), vec![0x5a_u8; 8_192]);
        assert!(report.next_step.unwrap().contains("no backups found"));
        assert_eq!(
            std::fs::read(&config.path).unwrap(),
            vec![0x5a_u8; 8_192],
            "left as it was"
        );
    }

    #[test]
    fn damage_beyond_repair_names_the_backup_to_restore() {
        #[derive(QueryableByName)]
        struct Root {
            #[diesel(sql_type = BigInt)]
            rootpage: i64,
            #[diesel(sql_type = BigInt)]
            page_size: i64,
        }

        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        database_with(&config, 5);
        let backup = {
            let db = Database::open(&config).unwrap();
            take_backup(
                &db,
                &BackupSettings::from_config(&config),
                BackupReason::Manual,
            )
            .unwrap()
        };
        // Put aside for the first attempt, which then has no backup to offer.
        let aside = dir.path().join("aside");
        std::fs::create_dir_all(&aside).unwrap();
        let backup_files = [
            backup.file_name.clone(),
            backup.file_name.replace(".sqlite", ".json"),
        ];
        for file in &backup_files {
            std::fs::rename(config.backup_dir.join(file), aside.join(file)).unwrap();
        }

        // The messages table's root page overwritten: its rows are gone for SQLite.
        let root = diesel::sql_query(
            "SELECT rootpage, (SELECT page_size FROM pragma_page_size()) AS page_size \
             FROM sqlite_schema WHERE name = 'messages'",
        )
        .get_result::<Root>(&mut raw(&config.path))
        .unwrap();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&config.path)
                .unwrap();
            let offset = u64::try_from((root.rootpage - 1) * root.page_size).unwrap();
            file.seek(SeekFrom::Start(offset)).unwrap();
            file.write_all(&vec![0xa5; usize::try_from(root.page_size).unwrap()])
                .unwrap();
        }

        let report = repair(&config);
        assert!(!report.ok, "{report:?}");
        assert!(!report.problems_before.is_empty());
        assert!(!report.problems_after.is_empty(), "{report:?}");
        assert!(!report.rebuilt, "{report:?}");
        assert!(
            report
                .actions
                .iter()
                .any(|action| action.starts_with("rebuilding the database file failed")),
            "{report:?}"
        );
        let copy = report.safety_copy.clone().unwrap();
        assert!(copy.is_file());
        let next = report.next_step.clone().unwrap();
        assert!(next.contains("no backups found in"), "{next}");
        assert!(next.contains("data/backups"), "{next}");

        for file in &backup_files {
            std::fs::rename(aside.join(file), config.backup_dir.join(file)).unwrap();
        }
        let report = repair(&config);
        assert!(!report.ok);
        let next = report.next_step.clone().unwrap();
        assert!(
            next.contains(&format!("discord-monitor db restore {}", backup.file_name)),
            "{next}"
        );

        // The advice works.
        let mut quiet = quiet();
        RestorePlan::prepare(&config, Path::new(&backup.file_name), &mut quiet)
            .unwrap()
            .apply(&mut quiet)
            .unwrap();
        assert!(repair(&config).ok);
        assert_eq!(contents(&config).len(), 5);
    }
}
