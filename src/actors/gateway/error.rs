//! Why a gateway connection attempt or the GatewayActor failed. Fatal closes are their own
//! variant: they end the component for good instead of a reconnect.

use std::time::Duration;

use tokio_tungstenite::tungstenite;

use crate::discord::rest::RestError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("discord.token is not set")]
    MissingToken,
    /// Discord refused the connection for a reason only a configuration change can fix.
    #[error("gateway closed the connection with fatal code {code}: {reason}")]
    FatalClose { code: u16, reason: &'static str },
    /// Whoever consumes [`GatewayEvent`](crate::discord::gateway::GatewayEvent)s dropped the
    /// receiver.
    #[error("the gateway event queue is closed")]
    EventQueueClosed,
    #[error("could not get the gateway URL")]
    GatewayInfo(#[source] RestError),
    #[error("could not connect to the gateway")]
    Connect(#[source] ConnectError),
}

/// What a [`PersistedSessionSource`](super::PersistedSessionSource) fails with: the storage
/// side's own error (the DbActor away, a failed read), boxed so that the gateway needs to
/// know nothing of storage.
pub type SessionLoadError = Box<dyn std::error::Error + Send + Sync>;

/// Why the session saved by a previous process could not be read; the gateway identifies
/// instead.
#[derive(Debug, thiserror::Error)]
pub enum SavedSessionError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Load(SessionLoadError),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection timed out after {0:?}")]
    Timeout(Duration),
    #[error("websocket connection failed")]
    WebSocket(#[source] tungstenite::Error),
}

/// Why a zlib-stream message could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum InflateError {
    #[error("invalid zlib stream")]
    Corrupt(#[source] flate2::DecompressError),
    #[error("zlib stream made no progress on {0} buffered bytes")]
    Stalled(usize),
}
