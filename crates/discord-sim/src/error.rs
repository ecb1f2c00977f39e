//! Errors of the simulator: starting it, and asking it for something that does not exist.

use std::net::SocketAddr;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("invalid sim config: {0}")]
    InvalidConfig(String),

    #[error("cannot bind the sim's {listener} listener on {addr}")]
    Bind {
        listener: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot start the sim thread")]
    Thread(#[source] std::io::Error),

    #[error("sim runtime failed to start: {0}")]
    Startup(String),

    #[error("sim has no channel {0}")]
    UnknownChannel(u64),

    #[error("sim has no guild {0}")]
    UnknownGuild(u64),

    #[error("sim has no message {message_id} in channel {channel_id}")]
    UnknownMessage { channel_id: u64, message_id: u64 },

    #[error("channel {0} is not a thread")]
    NotAThread(u64),

    #[error("channel {0} cannot hold messages")]
    NotATextChannel(u64),

    #[error("timed out after {0:?} waiting for the sim")]
    Timeout(std::time::Duration),
}
