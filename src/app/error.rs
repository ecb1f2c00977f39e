//! Why the service could not start or stop cleanly.

use std::time::Duration;

use crate::actors::db::DbError;
use crate::admin::AdminError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot open the database")]
    Database(#[source] DbError),
    #[error("cannot start the admin API")]
    Admin(#[from] AdminError),
    #[error("startup failed: {0}")]
    Startup(String),
    #[error("cannot listen for shutdown signals")]
    Signals(#[source] std::io::Error),
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(Duration),
}
