//! Why a backfill step failed.

use crate::actors::db::DbError;
use crate::discord::rest::RestError;
use crate::supervisor::ComponentError;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("Discord REST request failed")]
    Rest(#[from] RestError),
    #[error("database component unavailable")]
    DatabaseUnavailable(#[source] ComponentError),
    #[error("database write failed")]
    Database(#[source] DbError),
}

impl BackfillError {
    /// The token is dead: no further request can succeed until the configuration changes.
    pub fn is_fatal(&self) -> bool {
        matches!(self, BackfillError::Rest(err) if err.is_fatal())
    }
}
