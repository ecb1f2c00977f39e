//! Errors of alert delivery. [`SendError`] is one failed delivery to one route (retried from
//! the outbox); [`AlertError`] is what the actor answers its callers. No message ever holds a
//! route's URL or credential: reqwest errors are stripped of their URL first.

use std::path::PathBuf;

use thiserror::Error;

use crate::actors::db::DbError;
use crate::supervisor::AskError;

#[derive(Debug, Error)]
pub enum SendError {
    #[error("cannot read tls_ca_file {path:?}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("smtp setup failed")]
    SmtpSetup(#[source] lettre::transport::smtp::Error),

    #[error("invalid email address `{address}`")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },

    #[error("cannot build email")]
    Message(#[source] lettre::error::Error),

    #[error("smtp delivery failed")]
    Smtp(#[source] lettre::transport::smtp::Error),

    #[error("http client setup failed")]
    HttpClient(#[source] reqwest::Error),

    #[error("http request failed")]
    Http(#[source] reqwest::Error),

    #[error("receiver answered http {status}{}", retry_hint(*.retry_after_secs))]
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },

    #[error("email transport is closed")]
    Closed,

    #[error("delivery timed out after {0:?}")]
    Timeout(std::time::Duration),
}

fn retry_hint(retry_after_secs: Option<u64>) -> String {
    retry_after_secs
        .map(|secs| format!(" (retry after {secs} s)"))
        .unwrap_or_default()
}

impl SendError {
    /// A reqwest error without the URL it carries (webhook URLs hold credentials).
    pub fn http(err: reqwest::Error) -> Self {
        SendError::Http(err.without_url())
    }
}

#[derive(Debug, Error)]
pub enum AlertError {
    #[error("alert outbox unavailable")]
    Outbox(#[source] DbError),

    #[error("database component unavailable")]
    Component(#[source] crate::supervisor::ComponentError),

    #[error("no route named `{0}`")]
    UnknownRoute(String),

    #[error("no alert route is configured")]
    NoRoutes,
}

impl From<AskError<DbError>> for AlertError {
    fn from(error: AskError<DbError>) -> Self {
        match error {
            AskError::Component(source) => AlertError::Component(source),
            AskError::Reply(source) => AlertError::Outbox(source),
        }
    }
}
