//! Errors of the LLM router: what a caller gets when no target produced an answer.

use super::failure::FailureClass;
use super::request::Target;

/// One target tried for a request and how it ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attempt {
    pub target: Target,
    /// `ok`, `failed`, `skipped_circuit_open`, `skipped_budget`, `skipped_deadline`.
    pub outcome: &'static str,
    pub class: Option<FailureClass>,
    /// The provider's error text or why the target was skipped.
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),

    #[error("api key of provider `{provider}` is not a valid header value")]
    InvalidKey { provider: String },

    /// Every target allowed by the circuit breakers would cross the daily cost limit.
    #[error("daily llm budget exhausted: ${spent_usd:.4} of ${limit_usd:.2} spent today")]
    BudgetExhausted {
        spent_usd: f64,
        limit_usd: f64,
        attempts: Vec<Attempt>,
    },

    /// The request itself was refused (bad request): no fallback was tried.
    #[error("request refused by {target}: {message}")]
    RequestRejected {
        target: Target,
        message: String,
        attempts: Vec<Attempt>,
    },

    /// Every target failed, was skipped or the deadline passed.
    #[error("no llm target answered ({} tried)", attempts.len())]
    AllTargetsFailed { attempts: Vec<Attempt> },

    /// The router is (re)starting and has not read today's spend yet.
    #[error("llm router not ready")]
    NotReady,

    #[error("no route has targets for this request")]
    NoTargets,

    #[error("unknown target `{0}`")]
    UnknownTarget(String),

    #[error("llm ledger unavailable")]
    Ledger(#[source] crate::actors::db::DbError),
}

impl LlmError {
    /// The targets tried, for `llm check` and logs.
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            LlmError::BudgetExhausted { attempts, .. }
            | LlmError::RequestRejected { attempts, .. }
            | LlmError::AllTargetsFailed { attempts } => attempts,
            _ => &[],
        }
    }
}
