//! Why a backfill step failed.

use crate::actors::db::DbError;
use crate::discord::rest::RestError;
use crate::supervisor::{AskError, ComponentError};

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("Discord REST request failed")]
    Rest(#[from] RestError),
    #[error("database component unavailable")]
    DatabaseUnavailable(#[source] ComponentError),
    #[error("database write failed")]
    Database(#[source] DbError),
}

impl From<AskError<DbError>> for BackfillError {
    fn from(error: AskError<DbError>) -> Self {
        match error {
            AskError::Component(source) => BackfillError::DatabaseUnavailable(source),
            AskError::Reply(source) => BackfillError::Database(source),
        }
    }
}

impl BackfillError {
    /// The token is dead: no further request can succeed until the configuration changes.
    pub fn is_fatal(&self) -> bool {
        matches!(self, BackfillError::Rest(err) if err.is_fatal())
    }
}
