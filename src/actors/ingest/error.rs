//! Why a write of the storage path failed, and what the path does about it ([`Recovery`]).

use crate::actors::db::{DbError, Disposition};
use crate::supervisor::{AskError, ComponentError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The DbActor is restarting or its mailbox is full: retried until it answers.
    #[error("database component unavailable")]
    Unavailable(#[source] ComponentError),
    /// The database answered with an error.
    #[error("database write failed")]
    Database(#[source] DbError),
}

impl From<AskError<DbError>> for IngestError {
    fn from(error: AskError<DbError>) -> Self {
        match error {
            AskError::Component(source) => IngestError::Unavailable(source),
            AskError::Reply(source) => IngestError::Database(source),
        }
    }
}

/// What the storage path does about a write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The database or its actor is coming back, or another connection holds the write lock:
    /// the same write is retried until it succeeds.
    Retry,
    /// Failed for a reason neither known to pass nor the data's fault (an unexpected SQL
    /// error): retried a few times, then dropped and left to backfill.
    RetryFewTimes,
    /// Can never succeed, however often it is retried (the data itself is invalid): dropped
    /// and left to backfill.
    Drop,
    /// The database component has failed for good or was stopped: nothing to retry against.
    Stop,
}

impl IngestError {
    /// What to do about this failed write; see [`Recovery`].
    pub fn recovery(&self) -> Recovery {
        match self {
            IngestError::Unavailable(source) if source.is_retryable() => Recovery::Retry,
            IngestError::Unavailable(_) => Recovery::Stop,
            IngestError::Database(source) => match source.disposition() {
                Disposition::Retry | Disposition::Restart => Recovery::Retry,
                Disposition::Drop => Recovery::RetryFewTimes,
                Disposition::Reject => Recovery::Drop,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::InvalidInput;

    #[test]
    fn the_database_coming_back_is_waited_for_and_invalid_data_dropped() {
        let restarting = IngestError::Unavailable(ComponentError::Unavailable("db".to_owned()));
        assert_eq!(restarting.recovery(), Recovery::Retry);
        let failed = IngestError::Unavailable(ComponentError::Failed("db".to_owned()));
        assert_eq!(failed.recovery(), Recovery::Stop);
        let stopped = IngestError::Unavailable(ComponentError::Stopped("db".to_owned()));
        assert_eq!(stopped.recovery(), Recovery::Stop);
        let invalid = IngestError::Database(DbError::from(InvalidInput::EmptySearch));
        assert_eq!(invalid.recovery(), Recovery::Drop);
        let statement = IngestError::Database(DbError::Query(diesel::result::Error::NotFound));
        assert_eq!(statement.recovery(), Recovery::RetryFewTimes);
    }
}
