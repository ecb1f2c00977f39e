//! Errors raised while setting up logging. Writing a line never fails loudly: write failures are
//! counted (see [`super::LogStats`]) so a full disk cannot take the service down.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot create log directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open log file {path}")]
    OpenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The `log` facade accepts one logger per process; the first bridge stays in place.
    #[error("a `log` facade bridge is already installed in this process")]
    BridgeAlreadyInstalled,
}
