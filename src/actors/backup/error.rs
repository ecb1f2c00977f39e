//! [`BackupError`]: why a backup, a listing, a restore, a vacuum or a repair did not happen.
//! Every variant names the file it is about; the HTTP layer maps [`BackupError::InProgress`]
//! to 409 and the rest to 500, the CLI prints the whole chain.

use std::path::PathBuf;

use thiserror::Error;

use crate::actors::db::{DbError, Disposition};

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("a backup is already running (started at {started_at})")]
    InProgress { started_at: String },

    #[error("cannot create backup directory {path:?}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("backup directory {path:?} exists but is not a directory")]
    NotADirectory { path: PathBuf },

    #[error("cannot list backup directory {path:?}")]
    ListDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write the database snapshot to {path:?}")]
    Snapshot {
        path: PathBuf,
        #[source]
        source: DbError,
    },

    #[error("cannot open {path:?} as an SQLite database")]
    Open {
        path: PathBuf,
        #[source]
        source: diesel::ConnectionError,
    },

    #[error("cannot read {path:?} as an SQLite database")]
    Inspect {
        path: PathBuf,
        #[source]
        source: diesel::result::Error,
    },

    #[error("{path:?} failed its integrity check: {problems}")]
    Corrupt { path: PathBuf, problems: String },

    #[error("{path:?} is not an SQLite database")]
    NotSqlite { path: PathBuf },

    #[error(
        "{path:?} is an SQLite database but not one of discord-monitor's (it has no migrations table)"
    )]
    NotOurDatabase { path: PathBuf },

    #[error(
        "{path:?} was written by a newer discord-monitor (schema {found}; this version knows up to {known}): upgrade before restoring it"
    )]
    NewerSchema {
        path: PathBuf,
        found: String,
        known: String,
    },

    #[error("no such file: {path:?}{}", looked_in.as_ref().map(|dir| format!(" (also looked in {dir:?})")).unwrap_or_default())]
    MissingFile {
        path: PathBuf,
        looked_in: Option<PathBuf>,
    },

    #[error("{path:?} is not a regular file")]
    NotAFile { path: PathBuf },

    #[error("{path:?} is the database itself; pick a backup file")]
    SameFile { path: PathBuf },

    #[error(
        "{path:?} has a write-ahead log beside it ({wal:?}) holding changes the file itself lacks; open it once with sqlite3 to fold them in, then restore"
    )]
    WalBeside { path: PathBuf, wal: PathBuf },

    #[error(
        "checksum mismatch for {path:?}: its metadata {sidecar:?} says sha256 {expected}, the file has {actual}"
    )]
    ChecksumMismatch {
        path: PathBuf,
        sidecar: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "cannot read the metadata sidecar {path:?} (move it away if it does not belong to this backup)"
    )]
    Sidecar {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path:?} changed while it was copied (sha256 {expected} before, {actual} after)")]
    ChangedWhileCopying {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("cannot read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot move {from:?} to {to:?}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot remove {path:?}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot lock {path:?}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "database {database:?} is in use by a running discord-monitor ({holder}); stop the service first"
    )]
    Locked { database: PathBuf, holder: String },

    #[error("no database at {path:?}")]
    NoDatabase { path: PathBuf },

    #[error(
        "database {database:?} is locked by another program: close whatever has it open (a sqlite3 shell, a backup tool, another container on the same volume) and try again"
    )]
    DatabaseBusy {
        database: PathBuf,
        /// The statement that found it locked; none when a checkpoint reported it busy.
        #[source]
        source: Option<DbError>,
    },

    #[error("cannot record the backup in the database")]
    Record(#[source] DbError),

    #[error("database operation failed")]
    Database(#[source] DbError),

    #[error("backup worker task failed")]
    Worker(#[source] tokio::task::JoinError),
}

impl BackupError {
    /// The database itself is unreachable (not the backup directory or one file): the actor
    /// restarts with a fresh pool after reporting it.
    pub fn requires_restart(&self) -> bool {
        match self {
            BackupError::Record(source) | BackupError::Database(source) => {
                source.disposition() == Disposition::Restart
            }
            BackupError::Worker(_) => true,
            _ => false,
        }
    }

    /// The caller asked at a bad moment (HTTP 409), nothing failed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, BackupError::InProgress { .. })
    }
}
