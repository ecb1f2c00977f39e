//! Messages of the LlmRouterActor, and the alert event it emits.

use actix::Message;

use super::budget::BudgetLevel;
use super::error::LlmError;
use super::request::{LlmRequest, Target};
use super::router::{LlmAnswer, RouterStatus};

/// Run a request through its chain (or through `target` alone, for `llm check --target`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<LlmAnswer, LlmError>")]
pub struct Complete {
    pub request: LlmRequest,
    pub target: Option<Target>,
}

/// Routes, circuit states and today's spend; `None` while the router is starting.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<RouterStatus>")]
pub struct GetRouterStatus;

/// Something an operator should hear about; delivered to whoever subscribed a
/// `Recipient<LlmAlert>` (alert delivery is the alert actor's job).
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub enum LlmAlert {
    /// 80% or 100% of the daily limit spent.
    Budget {
        level: BudgetLevel,
        day: String,
        spent_usd: f64,
        limit_usd: f64,
    },
    /// A target's key, credits or quota failed; its circuit is open for a long cooldown.
    TargetDown { target: Target, message: String },
}
