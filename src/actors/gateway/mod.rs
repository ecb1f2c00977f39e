//! The Discord gateway component: [`GatewayActor`] keeps one shard connected to Discord's
//! gateway (WebSocket, optional zlib-stream) and hands every dispatch the storage side needs
//! to a bounded queue as a [`GatewayEvent`](crate::discord::gateway::GatewayEvent) (in a
//! [`SequencedEvent`](crate::discord::gateway::SequencedEvent): with the session it
//! arrived on and its sequence number). Its settings come from the `discord` section
//! ([`crate::discord::config::DiscordConfig`]).
//!
//! It follows Discord's gateway rules (gathered in `docs/discord-gateway.md`):
//! `GET /gateway/bot` and `session_start_limit`, HELLO and heartbeats with a jittered first
//! beat, zombie detection, IDENTIFY / READY / RESUME on `resume_gateway_url`, op 7 and op 9,
//! close codes (fatal ones stop it for good), the send limiter, reconnect backoff, zlib-stream.
//!
//! ```ignore
//! let settings = GatewaySettings::from_config(&config.discord)?;
//! let metrics = GatewayMetrics::register(&registry)?;
//! let rest = rest_client.clone();
//! let gateway_info: GatewayInfoSource = Arc::new(move || {
//!     let rest = rest.clone();
//!     Box::pin(async move { rest.get_gateway_bot().await })
//! });
//! let (events, receiver) = tokio::sync::mpsc::channel(GATEWAY_QUEUE_CAPACITY);
//! let gateway = components.supervise("discord_gateway", Readiness::Required, policy, move |lifecycle| {
//!     GatewayActor::new(settings.clone(), gateway_info.clone(), events.clone(),
//!                       metrics.clone(), &log, lifecycle)
//!         .with_persisted_sessions(saved_sessions.clone()) // resumed after a restart
//! })?;
//! let status: GatewayStatus = gateway.send(GetGatewayStatus).await?;
//! ```
//!
//! Module map: `actor` (connection life, heartbeats, session), `connection` (socket, reader
//! stream, writer task), `dispatch` (dispatch bodies into events), `inflate` (zlib-stream),
//! `heartbeat`, `limiter` (send limit, identify pacing), `backoff`, `metrics`, `session`
//! (sessions saved by the storage side and resumed by the next process).

mod actor;
mod backoff;
pub mod config;
mod connection;
mod dispatch;
mod error;
mod heartbeat;
mod inflate;
mod limiter;
mod messages;
mod metrics;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

pub use actor::{GatewayActor, GatewayInfoSource, PersistedSessionSource};
pub use config::{GatewaySettings, GatewayTiming};
pub use error::{ConnectError, GatewayError, InflateError, SavedSessionError, SessionLoadError};
pub use messages::{GatewayState, GatewayStatus, GetGatewayStatus};
pub use metrics::GatewayMetrics;
