//! The database side of backups on [`Database`]: the `backups` table (one row per attempt,
//! `running` until it ends `ok` or `failed`), the online snapshot itself (`VACUUM INTO`,
//! which reads one consistent snapshot while the service keeps writing) and the offline
//! maintenance `db vacuum` runs. The file work around them (verification, checksums, names,
//! retention) is [`crate::actors::backup`]'s.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;

use super::database::Database;
use super::error::DbError;
use super::schema::backups;

/// Where a backup attempt stands, as the `status` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupRowStatus {
    Running,
    Ok,
    Failed,
}

impl BackupRowStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            BackupRowStatus::Running => "running",
            BackupRowStatus::Ok => "ok",
            BackupRowStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => BackupRowStatus::Running,
            "ok" => BackupRowStatus::Ok,
            // Anything else was written by hand or by a future version; it is no success.
            _ => BackupRowStatus::Failed,
        }
    }
}

/// One backup attempt as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupRow {
    pub id: i64,
    /// The backup file the attempt writes (or wrote), as configured (may be relative).
    pub path: String,
    pub created_at_ms: i64,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub status: BackupRowStatus,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupRowOutcome {
    Ok {
        size_bytes: i64,
        sha256: String,
        duration_ms: i64,
    },
    Failed {
        error: String,
        duration_ms: i64,
    },
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = backups, check_for_backend(diesel::sqlite::Sqlite))]
struct BackupSqlRow {
    id: i64,
    path: String,
    created_at_ms: i64,
    size_bytes: Option<i64>,
    sha256: Option<String>,
    status: String,
    error: Option<String>,
    duration_ms: Option<i64>,
}

impl From<BackupSqlRow> for BackupRow {
    fn from(row: BackupSqlRow) -> Self {
        BackupRow {
            id: row.id,
            path: row.path,
            created_at_ms: row.created_at_ms,
            size_bytes: row.size_bytes,
            sha256: row.sha256,
            status: BackupRowStatus::parse(&row.status),
            error: row.error,
            duration_ms: row.duration_ms,
        }
    }
}

impl Database {
    /// Records that an attempt writing `path` started; answers its row id.
    pub fn begin_backup(&self, path: &str, created_at_ms: i64) -> Result<i64, DbError> {
        let mut conn = self.connection()?;
        let id = diesel::insert_into(backups::table)
            .values((
                backups::path.eq(path),
                backups::created_at_ms.eq(created_at_ms),
                backups::status.eq(BackupRowStatus::Running.as_str()),
            ))
            .returning(backups::id)
            .get_result(&mut conn)?;
        Ok(id)
    }

    /// Records how attempt `id` ended.
    pub fn finish_backup(&self, id: i64, outcome: &BackupRowOutcome) -> Result<(), DbError> {
        let mut conn = self.connection()?;
        let target = backups::table.filter(backups::id.eq(id));
        match outcome {
            BackupRowOutcome::Ok {
                size_bytes,
                sha256,
                duration_ms,
            } => diesel::update(target)
                .set((
                    backups::status.eq(BackupRowStatus::Ok.as_str()),
                    backups::size_bytes.eq(size_bytes),
                    backups::sha256.eq(sha256),
                    backups::error.eq(None::<String>),
                    backups::duration_ms.eq(duration_ms),
                ))
                .execute(&mut conn)?,
            BackupRowOutcome::Failed { error, duration_ms } => diesel::update(target)
                .set((
                    backups::status.eq(BackupRowStatus::Failed.as_str()),
                    backups::error.eq(error),
                    backups::duration_ms.eq(duration_ms),
                ))
                .execute(&mut conn)?,
        };
        Ok(())
    }

    /// The newest attempt with `status`, if any.
    pub fn newest_backup_row(&self, status: BackupRowStatus) -> Result<Option<BackupRow>, DbError> {
        let mut conn = self.connection()?;
        let row = backups::table
            .filter(backups::status.eq(status.as_str()))
            .order((backups::created_at_ms.desc(), backups::id.desc()))
            .select(BackupSqlRow::as_select())
            .first::<BackupSqlRow>(&mut conn)
            .optional()?;
        Ok(row.map(BackupRow::from))
    }

    /// The newest `limit` attempts, newest first.
    pub fn backup_rows(&self, limit: i64) -> Result<Vec<BackupRow>, DbError> {
        let mut conn = self.connection()?;
        let rows = backups::table
            .order((backups::created_at_ms.desc(), backups::id.desc()))
            .limit(limit)
            .select(BackupSqlRow::as_select())
            .load::<BackupSqlRow>(&mut conn)?;
        Ok(rows.into_iter().map(BackupRow::from).collect())
    }

    /// Attempts still marked `running` that started before `before_ms`.
    pub fn running_backup_rows(&self, before_ms: i64) -> Result<Vec<BackupRow>, DbError> {
        let mut conn = self.connection()?;
        let rows = backups::table
            .filter(backups::status.eq(BackupRowStatus::Running.as_str()))
            .filter(backups::created_at_ms.lt(before_ms))
            .order(backups::id)
            .select(BackupSqlRow::as_select())
            .load::<BackupSqlRow>(&mut conn)?;
        Ok(rows.into_iter().map(BackupRow::from).collect())
    }

    /// Forgets the rows of backup files that retention deleted, and failed attempts older
    /// than `failed_before_ms` (the oldest backup still kept): the table stays as long as
    /// the retention window. Answers how many rows went.
    pub fn forget_backup_rows(
        &self,
        deleted_paths: &[String],
        failed_before_ms: i64,
    ) -> Result<usize, DbError> {
        let mut conn = self.connection()?;
        conn.transaction(|conn| {
            let deleted = diesel::delete(
                backups::table
                    .filter(backups::path.eq_any(deleted_paths))
                    .filter(backups::status.ne(BackupRowStatus::Running.as_str())),
            )
            .execute(conn)?;
            let failed = diesel::delete(
                backups::table
                    .filter(backups::status.eq(BackupRowStatus::Failed.as_str()))
                    .filter(backups::created_at_ms.lt(failed_before_ms)),
            )
            .execute(conn)?;
            Ok::<_, diesel::result::Error>(deleted + failed)
        })
        .map_err(DbError::from)
    }

    /// Writes a consistent copy of the whole database to `target` (which must not exist, or
    /// be empty) with `VACUUM INTO`: one read transaction, so writers carry on meanwhile and
    /// the copy includes what the WAL holds. The copy is compact and not in WAL mode.
    pub fn snapshot_into(&self, target: &Path) -> Result<(), DbError> {
        let target = target.to_str().ok_or_else(|| DbError::InvalidPath {
            path: target.to_path_buf(),
            reason: "it is not valid UTF-8",
        })?;
        let mut conn = self.connection()?;
        // A bound parameter: the filename never becomes SQL text.
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(target)
            .execute(&mut conn)?;
        Ok(())
    }

    /// Rebuilds the file without free pages (`VACUUM`), refreshes the planner's statistics
    /// (`PRAGMA optimize`) and folds the WAL back in. Holds the write lock for as long as the
    /// rebuild takes and needs free disk space up to the database's size: `db vacuum` runs
    /// it only while the service is stopped.
    pub fn vacuum_and_optimize(&self) -> Result<(), DbError> {
        let mut conn = self.connection()?;
        conn.batch_execute("VACUUM")?;
        conn.batch_execute("PRAGMA optimize")?;
        drop(conn);
        self.checkpoint()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::test_support::migrated_db;

    #[test]
    fn attempts_are_recorded_finished_and_found_by_status() {
        let (_dir, db) = migrated_db();
        assert_eq!(db.newest_backup_row(BackupRowStatus::Ok).unwrap(), None);

        let first = db.begin_backup("backups/a.sqlite", 1_000).unwrap();
        let second = db.begin_backup("backups/b.sqlite", 2_000).unwrap();
        let third = db.begin_backup("backups/c.sqlite", 3_000).unwrap();
        db.finish_backup(
            first,
            &BackupRowOutcome::Ok {
                size_bytes: 10,
                sha256: "aa".to_owned(),
                duration_ms: 5,
            },
        )
        .unwrap();
        db.finish_backup(
            second,
            &BackupRowOutcome::Failed {
                error: "disk full".to_owned(),
                duration_ms: 7,
            },
        )
        .unwrap();

        let ok = db.newest_backup_row(BackupRowStatus::Ok).unwrap().unwrap();
        assert_eq!(
            (ok.id, ok.size_bytes, ok.sha256.as_deref()),
            (first, Some(10), Some("aa"))
        );
        let failed = db
            .newest_backup_row(BackupRowStatus::Failed)
            .unwrap()
            .unwrap();
        assert_eq!(
            (failed.id, failed.error.as_deref()),
            (second, Some("disk full"))
        );
        let running = db.running_backup_rows(i64::MAX).unwrap();
        assert_eq!(
            running.iter().map(|row| row.id).collect::<Vec<_>>(),
            [third]
        );
        assert!(db.running_backup_rows(3_000).unwrap().is_empty());

        let all = db.backup_rows(10).unwrap();
        assert_eq!(
            all.iter().map(|row| row.id).collect::<Vec<_>>(),
            [third, second, first]
        );
    }

    #[test]
    fn forgetting_keeps_running_rows_and_recent_failures() {
        let (_dir, db) = migrated_db();
        let done = |path: &str, at: i64| {
            let id = db.begin_backup(path, at).unwrap();
            db.finish_backup(
                id,
                &BackupRowOutcome::Ok {
                    size_bytes: 1,
                    sha256: String::new(),
                    duration_ms: 1,
                },
            )
            .unwrap();
            id
        };
        let failed = |at: i64| {
            let id = db.begin_backup("x", at).unwrap();
            db.finish_backup(
                id,
                &BackupRowOutcome::Failed {
                    error: "e".to_owned(),
                    duration_ms: 1,
                },
            )
            .unwrap();
            id
        };
        done("old.sqlite", 100);
        failed(150);
        let kept = done("new.sqlite", 200);
        let recent_failure = failed(250);
        let running = db.begin_backup("old.sqlite", 300).unwrap();

        let removed = db
            .forget_backup_rows(&["old.sqlite".to_owned()], 200)
            .unwrap();
        assert_eq!(removed, 2);
        let left: Vec<i64> = db.backup_rows(10).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, [running, recent_failure, kept]);
    }

    #[test]
    fn a_snapshot_holds_every_committed_row() {
        let (dir, db) = migrated_db();
        let batch: Vec<_> = (0..20)
            .map(|n| {
                crate::actors::db::test_support::message(
                    n,
                    crate::actors::db::test_support::CHANNEL_A,
                    "copied",
                )
            })
            .collect();
        db.store_messages(&batch).unwrap();
        let target = dir.path().join("copy.sqlite");
        db.snapshot_into(&target).unwrap();

        let copy = Database::open(&crate::actors::db::test_support::config_at(&target)).unwrap();
        assert_eq!(copy.stats().unwrap().tables["messages"], 20);
        // The target must be new: a second snapshot onto it is refused by SQLite.
        assert!(db.snapshot_into(&target).is_err());
    }

    #[test]
    fn vacuum_shrinks_a_database_with_free_pages() {
        let (_dir, db) = migrated_db();
        let big = "x".repeat(4_000);
        let batch: Vec<_> = (0..200)
            .map(|n| {
                crate::actors::db::test_support::message(
                    n,
                    crate::actors::db::test_support::CHANNEL_A,
                    &big,
                )
            })
            .collect();
        db.store_messages(&batch).unwrap();
        db.checkpoint().unwrap();
        let mut conn = db.connection().unwrap();
        conn.batch_execute("DELETE FROM message_revisions; DELETE FROM messages")
            .unwrap();
        drop(conn);
        db.checkpoint().unwrap();
        let before = db.stats().unwrap();
        assert!(before.freelist_count > 0);

        db.vacuum_and_optimize().unwrap();
        let after = db.stats().unwrap();
        assert_eq!(after.freelist_count, 0);
        assert!(after.file_size_bytes < before.file_size_bytes);
        assert_eq!(after.wal_size_bytes, 0);
    }
}
