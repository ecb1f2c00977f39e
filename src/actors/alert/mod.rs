//! Alert delivery: the [`AlertActor`] takes [`Alert`]s (operational conditions and assistant
//! notifications), stores one outbox row per matching route, and delivers them with retries.
//!
//! - `config.rs`: the `alerts` section and its typed [`config::Route`]s.
//! - `messages.rs`: [`Alert`], [`TestRoutes`], [`ListAlerts`].
//! - `render.rs`: how an alert looks per route (mail, Slack Block Kit, webhook JSON schema,
//!   Discord messages), within each receiver's limits.
//! - `email.rs`, `http.rs`, `sender.rs`: the senders.
//! - `rate_limit.rs`: the per-route rate limit (the per-route circuit breaker is the shared
//!   [`CircuitBreaker`](crate::circuit_breaker::CircuitBreaker)).
//! - `clock.rs`: [`WallClock`], the source of the outbox's wall-clock times.
//! - `actor.rs`: the actor: outbox first, then a delivery loop with backoff and jitter.
//!
//! The operational alert rules that raise most ops alerts live with the HealthActor
//! ([`crate::actors::health::ops`]).

mod actor;
mod clock;
pub mod config;
mod email;
mod error;
mod http;
mod messages;
mod metrics;
mod rate_limit;
pub mod render;
mod sender;
#[cfg(test)]
mod smtp_tests;
#[cfg(test)]
mod tests;

pub use actor::{AlertActor, AlertSettings, ROUTE_FAILING_EVENT, test_routes};
pub use clock::WallClock;
pub use config::{Route, Severity};
pub use error::{AlertError, SendError};
pub use http::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature};
pub use messages::{
    Alert, AlertAccepted, AlertLink, ListAlerts, Phase, RouteTestResult, TestRoutes,
};
pub use metrics::AlertMetrics;
