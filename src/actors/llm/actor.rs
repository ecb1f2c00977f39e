//! The LlmRouterActor: the supervised door to every model. At start (and after each restart)
//! it reads today's booked cost from the ledger, so the budget survives restarts, and the
//! structured-output modes learnt before, then builds the [`Router`]. Requests run
//! concurrently as futures; the router's shared state (breakers, budget, learnt modes) lives
//! behind its own lock, so the actor never blocks its arbiter.

use actix::prelude::*;
use slog::{Logger, error, info};

use super::budget::utc_day;
use super::config::LlmConfig;
use super::error::LlmError;
use super::messages::{Complete, GetRouterStatus, LlmAlert};
use super::metrics::LlmMetrics;
use super::router::{LlmAnswer, Router, RouterSettings};
use crate::actors::db::{
    BookLlmUsage, LlmCostOnDay, LoadLearntStructuredOutputs, SaveLearntStructuredOutput,
};
use crate::supervisor::ComponentRecipient;
use crate::supervisor::Lifecycle;

/// Requests queued before senders see a full mailbox: a triage pass sends a handful at a
/// time, far below this.
const MAILBOX_CAPACITY: usize = 256;

pub struct LlmRouterActor {
    config: LlmConfig,
    settings: RouterSettings,
    ledger: ComponentRecipient<BookLlmUsage>,
    ledger_totals: ComponentRecipient<LlmCostOnDay>,
    load_modes: ComponentRecipient<LoadLearntStructuredOutputs>,
    save_mode: ComponentRecipient<SaveLearntStructuredOutput>,
    alerts: Option<Recipient<LlmAlert>>,
    /// Where each router of this actor counts its calls.
    metrics: Option<LlmMetrics>,
    lifecycle: Lifecycle,
    log: Logger,
    /// Built in `started()` once today's spend is known; `None` before and after a failure.
    router: Option<Router>,
}

impl LlmRouterActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: LlmConfig,
        settings: RouterSettings,
        ledger: ComponentRecipient<BookLlmUsage>,
        ledger_totals: ComponentRecipient<LlmCostOnDay>,
        load_modes: ComponentRecipient<LoadLearntStructuredOutputs>,
        save_mode: ComponentRecipient<SaveLearntStructuredOutput>,
        alerts: Option<Recipient<LlmAlert>>,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        Self {
            config,
            settings,
            ledger,
            ledger_totals,
            load_modes,
            save_mode,
            alerts,
            metrics: None,
            lifecycle,
            log: log.new(slog::o!("logger" => "llm_router")),
            router: None,
        }
    }

    /// Counts the router's calls in `metrics`, which show its spend and circuits.
    pub fn with_metrics(mut self, metrics: LlmMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl Actor for LlmRouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        let (totals, modes) = (self.ledger_totals.clone(), self.load_modes.clone());
        let load = async move {
            let spent = totals.send(LlmCostOnDay { day: utc_day() }).await;
            let learnt = modes.send(LoadLearntStructuredOutputs).await;
            (spent, learnt)
        };
        // `wait` holds the mailbox until the budget and the learnt modes are known: no
        // request runs without them.
        ctx.wait(load.into_actor(self).map(|(spent, learnt), actor, ctx| {
            let (spent, learnt) = match (spent, learnt) {
                (Ok(Ok(spent)), Ok(Ok(learnt))) => (spent, learnt),
                (Ok(Err(err)), _) | (_, Ok(Err(err))) => {
                    error!(actor.log, "LLM ledger unreadable"; "error" => %err);
                    actor.lifecycle.fail(ctx, LlmError::Ledger(err));
                    return;
                }
                (Err(err), _) | (_, Err(err)) => {
                    error!(actor.log, "LLM ledger unreachable"; "error" => %err);
                    actor
                        .lifecycle
                        .fail(ctx, format!("ledger unreachable: {err}"));
                    return;
                }
            };
            match Router::new(
                &actor.config,
                actor.settings,
                spent,
                actor.ledger.clone(),
                actor.alerts.clone(),
                &actor.log,
            ) {
                Ok(router) => {
                    let router = router.with_structured_output(learnt, actor.save_mode.clone());
                    let router = match &actor.metrics {
                        Some(metrics) => router.with_metrics(metrics.clone()),
                        None => router,
                    };
                    let status = router.status();
                    info!(actor.log, "LLM router ready";
                        "targets" => status.targets.len(),
                        "spent_today_usd" => spent,
                        "daily_cost_limit" => status.limit_usd);
                    actor.router = Some(router);
                    actor.lifecycle.up();
                }
                Err(err) => {
                    error!(actor.log, "LLM router not built"; "error" => %err);
                    actor.lifecycle.fail(ctx, err);
                }
            }
        }));
    }
}

impl Supervised for LlmRouterActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.router = None;
    }
}

impl Handler<Complete> for LlmRouterActor {
    type Result = ResponseFuture<Result<LlmAnswer, LlmError>>;

    fn handle(&mut self, msg: Complete, _ctx: &mut Self::Context) -> Self::Result {
        let router = self.router.clone();
        Box::pin(async move {
            match router {
                Some(router) => router.complete(msg.request, msg.target).await,
                None => Err(LlmError::NotReady),
            }
        })
    }
}

impl Handler<GetRouterStatus> for LlmRouterActor {
    type Result = MessageResult<GetRouterStatus>;

    fn handle(&mut self, _: GetRouterStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.router.as_ref().map(Router::status))
    }
}
