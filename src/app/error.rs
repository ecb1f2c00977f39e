//! Why the service could not start or stop cleanly.

use std::time::Duration;

use crate::actors::db::DbError;
use crate::admin::AdminError;
use crate::metrics::MetricsError;

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
    /// A component's metrics clash with another registration: a defect, not a setting.
    #[error("cannot register the metrics")]
    Metrics(#[from] MetricsError),
    #[error("cannot listen for shutdown signals")]
    Signals(#[source] std::io::Error),
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(Duration),
}

impl AppError {
    /// The `error_type` of the log line that reports this error.
    pub const fn error_type(&self) -> &'static str {
        match self {
            AppError::Config(_) => "ConfigError",
            AppError::Database(_) => "DatabaseError",
            AppError::Admin(_) => "AdminApiError",
            AppError::Startup(_) => "StartupError",
            AppError::Metrics(_) => "MetricsError",
            AppError::Signals(_) => "SignalError",
            AppError::ShutdownTimeout(_) => "ShutdownTimeout",
        }
    }
}
