//! Errors of the storage layer. [`DbError::is_connection_failure`] tells the actor when to
//! stop so its supervisor rebuilds it; [`InvalidInput`] is the caller's fault (HTTP 400) and
//! never stops anything.

use std::path::PathBuf;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

/// Boxed error type that diesel_migrations reports.
pub type MigrationSource = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("database path {path:?} is not usable: {reason}")]
    InvalidPath { path: PathBuf, reason: &'static str },

    #[error("cannot create database directory {path:?}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open database {path:?}")]
    Connect {
        path: PathBuf,
        #[source]
        source: diesel::ConnectionError,
    },

    #[error("cannot configure database connection")]
    Configure(#[source] DieselError),

    #[error("database connection pool unavailable")]
    Pool(#[source] diesel::r2d2::PoolError),

    #[error("database query failed")]
    Query(#[source] DieselError),

    #[error("database migration failed")]
    Migration(#[source] MigrationSource),

    #[error("stored {column} is not valid json")]
    CorruptJson {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot read size of {path:?}")]
    FileSize {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("database worker task failed")]
    Worker(#[source] tokio::task::JoinError),

    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
}

impl DbError {
    /// The database itself is unreachable (pool exhausted or broken, file gone, disk failing),
    /// as opposed to one statement failing. The actor answers, then stops so that its
    /// supervisor restarts it with a fresh pool.
    pub fn is_connection_failure(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Configure(_) | Self::Pool(_) => true,
            Self::Query(source) => is_connection_level(source),
            _ => false,
        }
    }

    /// Whether the actor must restart after answering with this error. A panicked worker
    /// task counts too: the state it left behind is unknown.
    pub fn requires_restart(&self) -> bool {
        self.is_connection_failure() || matches!(self, Self::Worker(_))
    }

    /// Another connection held the lock SQLite needed for longer than `busy_timeout` (a
    /// backup, a checkpoint, another process writing): the same statement can succeed once
    /// it lets go, so callers that must not lose a write retry it.
    pub fn is_busy(&self) -> bool {
        const BUSY_MESSAGES: &[&str] = &["database is locked", "database table is locked"];
        match self {
            Self::Query(DieselError::DatabaseError(_, info)) => BUSY_MESSAGES
                .iter()
                .any(|busy| info.message().contains(busy)),
            _ => false,
        }
    }

    /// The caller sent something invalid (HTTP 400 at the edge).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::InvalidInput(_))
    }
}

impl From<DieselError> for DbError {
    fn from(source: DieselError) -> Self {
        Self::Query(source)
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(source: diesel::r2d2::PoolError) -> Self {
        Self::Pool(source)
    }
}

/// SQLite reports file- and connection-level trouble through generic error codes that diesel
/// maps to `Unknown`; their stable messages are all that tells them apart from a bad
/// statement.
fn is_connection_level(error: &DieselError) -> bool {
    const CONNECTION_LEVEL_MESSAGES: &[&str] = &[
        "disk I/O error",
        "unable to open database file",
        "attempt to write a readonly database",
        "database disk image is malformed",
        "file is not a database",
        "database or disk is full",
    ];
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => CONNECTION_LEVEL_MESSAGES
            .iter()
            .any(|known| info.message().contains(known)),
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

/// A request the storage layer refuses before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidInput {
    #[error("limit must be between {min} and {max}, got {got}")]
    LimitOutOfRange { got: u32, min: u32, max: u32 },

    #[error("after ({after}) must be less than before ({before})")]
    EmptyRange { after: u64, before: u64 },

    #[error("search text has no words")]
    EmptySearch,

    #[error("{field} {value} does not fit a signed 64-bit snowflake")]
    SnowflakeOutOfRange { field: &'static str, value: u64 },
}
