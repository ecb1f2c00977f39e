//! Errors of the storage layer. [`DbError::disposition`] tells every caller what to do about
//! one: retry it, restart the DbActor with a fresh pool, reject the request as invalid
//! ([`InvalidInput`], HTTP 400) or give it up.

use std::path::PathBuf;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

use super::search::{SearchSyntax, rfc3339_ms};

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

/// What the caller of the storage layer does about a [`DbError`]: the one place that reads a
/// failure's class, so no caller looks at SQLite's messages or combines variants itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Another connection held a lock this needed for longer than `busy_timeout` (a backup,
    /// a checkpoint, another process writing). Nothing is broken and the actor keeps serving:
    /// the same request can succeed once the lock is let go, so a caller that must not lose a
    /// write retries it later.
    Retry,
    /// The database itself is unreachable or in an unknown state (pool exhausted or broken,
    /// file gone or not a database, disk failing or full, a worker task that panicked). The
    /// DbActor answers, then stops so that its supervisor restarts it with a fresh pool; the
    /// same request can succeed once it is back, so a caller that must not lose a write
    /// retries it.
    Restart,
    /// The request is invalid and was refused before touching the database (HTTP 400 at the
    /// edge): give it up at once, no retry can make it succeed.
    Reject,
    /// This one statement failed for a reason not known to pass (a constraint, stored data
    /// that does not parse, an SQLite error nothing here recognises): give up on this request;
    /// the actor keeps serving. A caller that must not lose a write may try it a few more
    /// times before giving up.
    Drop,
}

impl DbError {
    /// What to do about this error; see [`Disposition`].
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::Connect { .. } | Self::Configure(_) | Self::Pool(_) | Self::Worker(_) => {
                Disposition::Restart
            }
            Self::Query(source) => match classify(source) {
                Failure::ConnectionLevel => Disposition::Restart,
                Failure::Busy => Disposition::Retry,
                Failure::Statement => Disposition::Drop,
            },
            Self::InvalidInput(_) => Disposition::Reject,
            Self::InvalidPath { .. }
            | Self::CreateDir { .. }
            | Self::Migration(_)
            | Self::CorruptJson { .. }
            | Self::FileSize { .. } => Disposition::Drop,
        }
    }

    /// Whether another connection's lock stopped this, wherever it showed: a statement, the
    /// setup of a connection while opening, or a pool that could not open a connection.
    /// Maintenance that holds the database to itself (`db repair`) then tells the user to
    /// close the other program. The running service decides by [`Self::disposition`]
    /// instead, which restarts a pool that cannot connect whatever the cause.
    pub fn is_locked(&self) -> bool {
        match self {
            Self::Query(source) | Self::Configure(source) => is_lock_error(source),
            // r2d2 keeps only the text of the last connection error.
            Self::Pool(source) => is_busy_message(&source.to_string()),
            _ => false,
        }
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

/// What kind of SQLite failure a diesel error is.
enum Failure {
    /// The file or the connection is unusable, not just this statement.
    ConnectionLevel,
    /// Another connection held a lock for longer than `busy_timeout`.
    Busy,
    /// This statement failed; the connection is fine.
    Statement,
}

/// Diesel reads SQLite's extended result code (`sqlite3_extended_errcode`) but keeps it only
/// for constraint violations (`DatabaseErrorKind::UniqueViolation` and friends); every other
/// code, `SQLITE_BUSY`, `SQLITE_IOERR_*`, `SQLITE_CORRUPT`, `SQLITE_FULL` included, becomes
/// `DatabaseErrorKind::Unknown` with only `sqlite3_errmsg`'s text, and diesel 2.3 offers no way
/// to reach the raw handle afterwards to ask for the code. So past the constraint kinds the
/// messages are all that tells these classes apart. They are SQLite's fixed texts for each
/// primary code (`sqlite3ErrStr`), stable across releases.
fn classify(error: &DieselError) -> Failure {
    const CONNECTION_LEVEL_MESSAGES: &[&str] = &[
        "disk I/O error",
        "unable to open database file",
        "attempt to write a readonly database",
        "database disk image is malformed",
        "file is not a database",
        "database or disk is full",
    ];
    match error {
        // Only diesel's PostgreSQL backend reports this kind today; kept for when SQLite's does.
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | DieselError::BrokenTransactionManager => Failure::ConnectionLevel,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            if CONNECTION_LEVEL_MESSAGES
                .iter()
                .any(|known| message.contains(known))
            {
                Failure::ConnectionLevel
            } else if is_busy_message(message) {
                Failure::Busy
            } else {
                Failure::Statement
            }
        }
        _ => Failure::Statement,
    }
}

/// Whether another connection's lock stopped this statement (see [`DbError::is_locked`]).
pub(super) fn is_lock_error(error: &DieselError) -> bool {
    matches!(classify(error), Failure::Busy)
}

/// `SQLITE_BUSY` ("database is locked": another connection) and `SQLITE_LOCKED` ("database
/// table is locked": a conflict inside the same connection or shared cache).
fn is_busy_message(message: &str) -> bool {
    const BUSY_MESSAGES: &[&str] = &["database is locked", "database table is locked"];
    BUSY_MESSAGES.iter().any(|busy| message.contains(busy))
}

/// A request the storage layer refuses before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidInput {
    #[error("limit must be between {min} and {max}, got {got}")]
    LimitOutOfRange { got: u32, min: u32, max: u32 },

    #[error("after ({after}) must be less than before ({before})")]
    EmptyRange { after: u64, before: u64 },

    #[error("search text has no words (hint: {})", Self::EMPTY_SEARCH_HINT)]
    EmptySearch,

    /// The problem is not a `source`: this message already says it, with its hint.
    #[error("invalid search query: {} (hint: {})", .0, .0.hint())]
    Search(SearchSyntax),

    #[error(
        "{field} must be an RFC 3339 time (2026-01-31T18:00:00Z), a date (2026-01-31, midnight \
         UTC) or Unix milliseconds, got {value:?}"
    )]
    InvalidTime { field: &'static str, value: String },

    #[error(
        "since ({}) must be before until ({})",
        rfc3339_ms(*.since_ms),
        rfc3339_ms(*.until_ms)
    )]
    EmptyTimeRange { since_ms: i64, until_ms: i64 },
    #[error("importance must be between 1 and 10, got {got}")]
    ImportanceOutOfRange { got: u8 },

    #[error("{field} {value} does not fit a signed 64-bit snowflake")]
    SnowflakeOutOfRange { field: &'static str, value: u64 },
}

impl From<SearchSyntax> for InvalidInput {
    fn from(syntax: SearchSyntax) -> Self {
        Self::Search(syntax)
    }
}

impl InvalidInput {
    const EMPTY_SEARCH_HINT: &'static str =
        "search for words or numbers; punctuation and emoji are not indexed";

    /// What to change for the request to be accepted, for the problems of a search query
    /// (the admin API answers it beside the error).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::EmptySearch => Some(Self::EMPTY_SEARCH_HINT),
            Self::Search(syntax) => Some(syntax.hint()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use super::*;

    /// A connection with none of the service's settings: `busy_timeout` 0, so a lock held
    /// elsewhere fails at once.
    fn raw(path: &Path) -> SqliteConnection {
        SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open")
    }

    /// How diesel reports every SQLite failure past the constraint kinds.
    fn sqlite_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn another_connections_lock_is_retried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db.sqlite");
        let mut holder = raw(&path);
        holder
            .batch_execute("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE")
            .expect("take the write lock");

        let busy = DbError::from(
            raw(&path)
                .batch_execute("BEGIN IMMEDIATE")
                .expect_err("locked"),
        );
        assert_eq!(busy.disposition(), Disposition::Retry, "{busy:?}");
        assert!(busy.is_locked());

        let table_locked = DbError::Query(sqlite_error("database table is locked"));
        assert_eq!(table_locked.disposition(), Disposition::Retry);
        // Opening is done again by the actor's restart, whatever stopped it.
        let opening = DbError::Configure(sqlite_error("database is locked"));
        assert_eq!(opening.disposition(), Disposition::Restart);
        assert!(opening.is_locked());
    }

    #[test]
    fn an_unusable_file_or_connection_restarts_the_actor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("garbage.sqlite");
        std::fs::write(&path, vec![0x5a_u8; 8_192]).expect("write garbage");
        let not_a_database = DbError::from(
            raw(&path)
                .batch_execute("SELECT count(*) FROM sqlite_schema")
                .expect_err("not a database"),
        );
        assert_eq!(
            not_a_database.disposition(),
            Disposition::Restart,
            "{not_a_database:?}"
        );
        assert!(!not_a_database.is_locked());

        for message in [
            "disk I/O error",
            "unable to open database file",
            "attempt to write a readonly database",
            "database disk image is malformed",
            "database or disk is full",
        ] {
            let error = DbError::Query(sqlite_error(message));
            assert_eq!(error.disposition(), Disposition::Restart, "{message}");
        }
        let broken = DbError::Query(DieselError::BrokenTransactionManager);
        assert_eq!(broken.disposition(), Disposition::Restart);
        let connect = DbError::Connect {
            path: path.clone(),
            source: diesel::ConnectionError::BadConnection("unable to open".to_owned()),
        };
        assert_eq!(connect.disposition(), Disposition::Restart);
    }

    #[tokio::test]
    async fn a_panicked_worker_restarts_the_actor() {
        // `resume_unwind` panics without the panic hook's report on stderr.
        let panicked = tokio::task::spawn_blocking(|| {
            std::panic::resume_unwind(Box::new("worker died"));
        })
        .await
        .expect_err("panicked");
        assert!(panicked.is_panic());
        assert_eq!(
            DbError::Worker(panicked).disposition(),
            Disposition::Restart
        );
    }

    #[test]
    fn invalid_input_is_rejected() {
        let error = DbError::from(InvalidInput::EmptySearch);
        assert_eq!(error.disposition(), Disposition::Reject);
        assert!(!error.is_locked());
    }

    #[test]
    fn a_failed_statement_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = raw(&dir.path().join("db.sqlite"));
        let missing_table = DbError::from(
            conn.batch_execute("SELECT * FROM missing")
                .expect_err("no such table"),
        );
        assert_eq!(
            missing_table.disposition(),
            Disposition::Drop,
            "{missing_table:?}"
        );

        conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
            .expect("table");
        let duplicate = DbError::from(
            conn.batch_execute("INSERT INTO t VALUES (1)")
                .expect_err("unique"),
        );
        assert!(
            matches!(
                duplicate,
                DbError::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation,
                    _
                ))
            ),
            "{duplicate:?}"
        );
        assert_eq!(duplicate.disposition(), Disposition::Drop);
        assert!(!duplicate.is_locked());

        let corrupt = DbError::CorruptJson {
            column: "fields_json",
            source: serde_json::from_str::<serde_json::Value>("{").expect_err("not json"),
        };
        assert_eq!(corrupt.disposition(), Disposition::Drop);
    }
}
