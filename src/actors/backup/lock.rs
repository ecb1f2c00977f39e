//! [`DatabaseLock`]: exclusive use of one database file between processes. The service holds
//! it for as long as it runs, which keeps a second instance from writing the same file and
//! lets `db restore`, `db vacuum` and `db repair` (which need the file to themselves) refuse
//! while the service runs. An OS advisory lock (`flock`) on `<database>.lock`: the kernel
//! releases it when the holder exits, even on `kill -9`, so there is never a stale lock to
//! clean up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::BackupError;

/// Held until dropped.
#[derive(Debug)]
pub struct DatabaseLock {
    /// The lock lives as long as this handle is open.
    _file: File,
    path: PathBuf,
}

impl DatabaseLock {
    /// `<database>.lock` beside the database file.
    pub fn lock_path(database: &Path) -> PathBuf {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        PathBuf::from(path)
    }

    /// Takes the lock on `database` without waiting, or answers [`BackupError::Locked`]
    /// naming the holder. `holder` (e.g. `service`, `db restore`) is written into the lock
    /// file with the process id, for that message.
    pub fn acquire(database: &Path, holder: &str) -> Result<Self, BackupError> {
        let path = Self::lock_path(database);
        let lock_error = |source| BackupError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(lock_error)?;
        }
        // Not truncated on open: the current holder's note must stay readable.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut note = String::new();
                let _ = file.read_to_string(&mut note);
                let note = note.trim();
                return Err(BackupError::Locked {
                    database: database.to_path_buf(),
                    holder: if note.is_empty() {
                        format!("it holds {}", path.display())
                    } else {
                        note.to_owned()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        let note = format!(
            "{holder}, pid {}, since {}\n",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(lock_error)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("data/db.sqlite");
        let held = DatabaseLock::acquire(&database, "service").unwrap();
        assert_eq!(held.path(), dir.path().join("data/db.sqlite.lock"));

        // flock conflicts between open file descriptions, in one process too.
        let error = DatabaseLock::acquire(&database, "db restore").unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, BackupError::Locked { .. }), "{error:?}");
        assert!(text.contains("service, pid"), "{text}");
        assert!(text.contains("stop the service first"), "{text}");

        drop(held);
        let again = DatabaseLock::acquire(&database, "db restore").unwrap();
        let note = std::fs::read_to_string(again.path()).unwrap();
        assert!(note.starts_with("db restore, pid"), "{note}");
    }
}
