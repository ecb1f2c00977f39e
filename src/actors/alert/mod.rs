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
//! - `rules.rs`: the operational alert rules (memory, CPU, Discord errors, database,
//!   pipeline, LLM budget, failed components, backups); `ops.rs` the actor evaluating them.
//! - `actor.rs`: the actor: outbox first, then a delivery loop with backoff and jitter.

mod actor;
pub mod config;
mod email;
mod error;
mod http;
mod messages;
mod metrics;
pub mod ops;
mod rate_limit;
pub mod render;
pub mod rules;
mod sender;
#[cfg(test)]
mod smtp_tests;
#[cfg(test)]
mod tests;

pub use actor::{AlertActor, AlertSettings, ROUTE_FAILING_EVENT, test_routes};
pub use config::{Route, Severity};
pub use error::{AlertError, SendError};
pub use http::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature};
pub use messages::{
    Alert, AlertAccepted, AlertLink, ListAlerts, Phase, RouteTestResult, TestRoutes,
};
pub use ops::{BackupOutcome, DatabaseCheckOutcome, EvaluateNow, LlmSpend, OpsActor, OpsSources};
