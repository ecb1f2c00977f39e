//! Changing the database file in place, shared by `db restore` and `db repair` (blocking,
//! with the [`DatabaseLock`](super::DatabaseLock) held by the caller): the safety copy of the
//! current database taken first ([`save_current`]), and the swap that gives a prepared file
//! the database's name ([`swap_into_place`]). Through the swap the database path holds either
//! the old database or the complete new one, never a mix.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::error::BackupError;
use super::name::{BackupKind, BackupName, partial_name};
use super::run::free_name;
use super::snapshot::{
    BackupReason, copy_and_hash, ensure_directory, rename, sync_directory, write_snapshot,
};
use crate::actors::db::{Database, DatabaseConfig};
use crate::logging::error_chain;

/// Progress lines for a terminal (`Restoring ...`, `Verifying ...`).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Files SQLite keeps beside a database: the write-ahead log, its index, a rollback journal.
const SIDE_FILE_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Which command saves the current database before changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyCopy {
    PreRestore,
    PreRepair,
}

impl SafetyCopy {
    const fn kind(self) -> BackupKind {
        match self {
            SafetyCopy::PreRestore => BackupKind::PreRestore,
            SafetyCopy::PreRepair => BackupKind::PreRepair,
        }
    }

    const fn reason(self) -> BackupReason {
        match self {
            SafetyCopy::PreRestore => BackupReason::PreRestore,
            SafetyCopy::PreRepair => BackupReason::PreRepair,
        }
    }
}

/// The current database as a safety copy in `backup_dir` (outside retention): a verified
/// snapshot when it opens, else (it may be the broken database being replaced or repaired)
/// a plain copy of its file and WAL. `None` when there is no database yet.
pub fn save_current(
    config: &DatabaseConfig,
    copy: SafetyCopy,
    progress: Progress<'_>,
) -> Result<Option<PathBuf>, BackupError> {
    let database = &config.path;
    if !database.is_file() {
        progress(&format!(
            "No database at {} yet: nothing to save first",
            database.display()
        ));
        return Ok(None);
    }
    let name = free_name(&config.backup_dir, BackupName::new(Utc::now(), copy.kind()));
    progress(&format!(
        "Saving a copy of the current database to {}",
        config.backup_dir.join(name.file_name()).display()
    ));
    let snapshot = Database::open(config)
        .map_err(BackupError::Database)
        .and_then(|db| {
            let file = write_snapshot(&db, &config.backup_dir, name, copy.reason())?;
            // Folds the WAL into the old file, so removing it later loses nothing even if
            // the rename then fails.
            let _ = db.checkpoint();
            Ok(file.path)
        });
    match snapshot {
        Ok(path) => Ok(Some(path)),
        Err(err) => {
            progress(&format!(
                "Snapshot of the current database failed ({}); copying its files as they are",
                error_chain(&err)
            ));
            ensure_directory(&config.backup_dir)?;
            let target = config.backup_dir.join(name.file_name());
            copy_and_hash(database, &target)?;
            let wal = wal_beside(database);
            // An empty log holds nothing; a copy of it would only puzzle whoever looks.
            if wal
                .metadata()
                .is_ok_and(|wal| wal.is_file() && wal.len() > 0)
            {
                copy_and_hash(&wal, &wal_beside(&target))?;
            }
            sync_directory(&config.backup_dir);
            Ok(Some(target))
        }
    }
}

/// Where a file that is to replace `database` is prepared: `<database>.<purpose>.partial`
/// beside it (the same filesystem, so the final rename is atomic). The directory exists and
/// no earlier attempt's leftover is in the way: with the database lock held, it is no one's.
pub fn staging_path(database: &Path, purpose: &str) -> Result<PathBuf, BackupError> {
    let directory = directory_of(database);
    ensure_directory(&directory)?;
    let file_name = database
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db.sqlite".to_owned());
    let staged = directory.join(partial_name(&format!("{file_name}.{purpose}")));
    match std::fs::remove_file(&staged) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BackupError::Remove {
                path: staged,
                source,
            });
        }
    }
    Ok(staged)
}

/// Gives `staged` (complete and flushed) the name `database`: removes the old database's
/// `-wal`/`-shm`/`-journal` (SQLite would replay an old log into the new file), renames, and
/// makes the rename durable. No connection to the old database may be open. On failure
/// `staged` is removed and the database path still holds the old file.
pub fn swap_into_place(database: &Path, staged: &Path) -> Result<(), BackupError> {
    for suffix in SIDE_FILE_SUFFIXES {
        let mut side = database.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                let _ = std::fs::remove_file(staged);
                return Err(BackupError::Remove { path: side, source });
            }
        }
    }
    if let Err(err) = rename(staged, database) {
        let _ = std::fs::remove_file(staged);
        return Err(err);
    }
    sync_directory(&directory_of(database));
    Ok(())
}

/// `<path>-wal`: where SQLite keeps the changes not yet copied into the file.
pub fn wal_beside(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn directory_of(database: &Path) -> PathBuf {
    database
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}
