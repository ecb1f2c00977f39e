//! Why a write of the storage path failed.

use crate::actors::db::DbError;
use crate::supervisor::ComponentError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The DbActor is restarting or its mailbox is full: retried until it answers.
    #[error("database component unavailable")]
    Unavailable(#[source] ComponentError),
    /// The database answered with an error.
    #[error("database write failed")]
    Database(#[source] DbError),
}

impl IngestError {
    /// Worth retrying the same write: the database or its actor is coming back, or another
    /// connection holds the write lock for a while.
    pub fn is_transient(&self) -> bool {
        match self {
            IngestError::Unavailable(_) => !self.is_terminal(),
            IngestError::Database(err) => {
                err.is_connection_failure() || err.requires_restart() || err.is_busy()
            }
        }
    }

    /// The database component has failed for good or was stopped: no retry can help.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            IngestError::Unavailable(ComponentError::Failed(_) | ComponentError::Stopped(_))
        )
    }

    /// Can never succeed, however often it is retried (the data itself is invalid).
    pub fn is_permanent(&self) -> bool {
        matches!(self, IngestError::Database(err) if err.is_invalid_input())
    }
}
