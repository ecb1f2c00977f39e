//! Why a step of the processing pipeline failed, and what it does about it.

use crate::actors::db::{DbError, Disposition};
use crate::supervisor::{AskError, ComponentError};

#[derive(Debug, thiserror::Error)]
pub enum ProcessingError {
    /// The DbActor is restarting, stopped, or its mailbox is full.
    #[error("database component unavailable")]
    Unavailable(#[source] ComponentError),
    #[error("database request failed")]
    Database(#[source] DbError),
}

impl From<AskError<DbError>> for ProcessingError {
    fn from(error: AskError<DbError>) -> Self {
        match error {
            AskError::Component(source) => ProcessingError::Unavailable(source),
            AskError::Reply(source) => ProcessingError::Database(source),
        }
    }
}

impl ProcessingError {
    /// Whether the same request can succeed later (the database coming back, a lock let go):
    /// the caller waits and tries again. Otherwise it gives up on this request; what was not
    /// recorded stays on the durable backlog and is read again by a later sweep.
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessingError::Unavailable(source) => source.is_retryable(),
            ProcessingError::Database(source) => matches!(
                source.disposition(),
                Disposition::Retry | Disposition::Restart
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::InvalidInput;

    #[test]
    fn a_database_coming_back_is_waited_for() {
        let restarting = ProcessingError::Unavailable(ComponentError::Unavailable("db".into()));
        assert!(restarting.is_transient());
        let failed = ProcessingError::Unavailable(ComponentError::Failed("db".into()));
        assert!(!failed.is_transient());
        let invalid = ProcessingError::Database(DbError::from(InvalidInput::EmptySearch));
        assert!(!invalid.is_transient());
    }
}
