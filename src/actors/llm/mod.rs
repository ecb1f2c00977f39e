//! The LLM router: the one door to every model. [`LlmRouterActor`] (supervised) answers
//! [`Complete`] with an [`LlmAnswer`] or a typed [`LlmError`] (`BudgetExhausted` lets callers
//! degrade to rules) and emits [`LlmAlert`]s to an optional `Recipient`.
//!
//! - [`config`]: the `llm` section (providers, models with prices, routes per request kind,
//!   the deployment guide's flat keys).
//! - [`request`]: what callers send ([`LlmRequest`], [`RequestKind`], [`Target`]).
//! - [`client`]: one HTTP client per provider (over a [`client::Transport`]); [`gemini`] and
//!   [`openai`] hold the two wire formats, and [`failure`] the failure classes every answer
//!   is sorted into (a refused request field is a capability, not an outage).
//! - [`schema`]: the structured-output modes ([`StructuredMode`]: `json_schema`,
//!   `json_object`, `prompt`), the schema in each dialect and as instructions, and the check
//!   of replies against it.
//! - [`tokens`]: token estimates and truncation to the context window.
//! - [`router`]: fallback chains, retries, deadlines, repair of invalid answers, the
//!   structured-output mode of each target (configured, or learnt and kept in the database)
//!   and the ledger; a [`CircuitBreaker`](crate::circuit_breaker::CircuitBreaker) per target
//!   and [`budget`] the daily cost limit.
//! - [`LlmMetrics`]: calls, failures, latency, tokens and cost per target, today's spend and
//!   each circuit, registered once for the configured targets.

mod actor;
pub mod budget;
pub mod check;
pub mod client;
pub mod config;
pub mod error;
pub mod failure;
pub mod gemini;
pub mod messages;
mod metrics;
pub mod openai;
pub mod request;
pub mod router;
pub mod schema;
pub mod tokens;

pub use actor::LlmRouterActor;
pub use client::ProviderClient;
pub use error::{Attempt, LlmError};
pub use failure::{CallFailure, FailureClass, ProviderReply, Usage};
pub use messages::{Complete, GetRouterStatus, LlmAlert};
pub use metrics::LlmMetrics;
pub use request::{LlmRequest, PreparedCall, ReplySchema, RequestKind, Target};
pub use router::{
    LlmAnswer, ModeSource, Router, RouterSettings, RouterStatus, StructuredOutputStatus,
};
pub use schema::StructuredMode;
