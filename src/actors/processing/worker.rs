//! [`TriageWorker`]: one supervised worker. It takes a batch off the queue, scores it (the
//! model through the LLM router for a model batch, the rule engine otherwise) and records
//! the verdicts through the DbActor, in one transaction that also takes the messages off the
//! durable backlog.
//!
//! A model batch is one structured call. Its items are matched back by number and checked;
//! the messages whose item was missing or unusable go to the model once more, in a call of
//! their own, and what is still unusable is scored by rules. When no target may be called
//! (budget spent, every circuit open, the router down) the whole batch is scored by rules,
//! marked `degraded` so that a model may score it again later.
//!
//! The worker reports each finished step to its [`WorkerSlot`]; the processing actor's
//! watchdog restarts a worker whose slot shows no progress for `stall_timeout_secs`
//! ([`RestartStalled`]). The batch it held is dropped with it, which hands its messages back
//! to the feeder.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;
use slog::{Logger, debug, error, info, o, warn};

use super::error::ProcessingError;
use super::metrics::ProcessingMetrics;
use super::shared::{Batch, BatchKind, ProcessingShared, WorkerPhase, WorkerSlot};
use super::triage::{Method, PROMPT_VERSION, Score, Triage, prompt, reply};
use crate::actors::db::{
    BacklogItem, BacklogReason, DbActor, NewTriageAnalysis, RecordTriage, TriageRecorded,
    TriageVerdict,
};
use crate::actors::llm::{Complete, LlmAnswer, LlmError};
use crate::logging::error_chain;
use crate::supervisor::{AskError, ComponentHandle, ComponentRecipient, Lifecycle};

/// First wait before writing again when the database could not take a batch; doubles.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Tries at a write that failed for a reason that does not pass by itself; after them the
/// batch is dropped and its messages, still on the backlog, are read again later.
const MAX_ATTEMPTS_FOR_LASTING_ERRORS: u32 = 3;
/// The worker receives only restarts and status requests.
const MAILBOX_CAPACITY: usize = 16;

/// What every worker shares.
pub struct WorkerSettings {
    pub triage: Arc<Triage>,
    /// The LLM router; `None` when no model is configured for triage (rules score all).
    pub model: Option<ComponentRecipient<Complete>>,
}

/// Sent by the watchdog: the worker made no progress for too long.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct RestartStalled {
    pub stalled_for: Duration,
}

pub struct TriageWorker {
    slot: Arc<WorkerSlot>,
    shared: Arc<ProcessingShared>,
    settings: Arc<WorkerSettings>,
    db: ComponentHandle<DbActor>,
    metrics: ProcessingMetrics,
    lifecycle: Lifecycle,
    log: Logger,
}

impl TriageWorker {
    /// `index`: which of the shared state's worker slots is this worker's.
    pub fn new(
        index: usize,
        shared: Arc<ProcessingShared>,
        settings: Arc<WorkerSettings>,
        db: ComponentHandle<DbActor>,
        metrics: ProcessingMetrics,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        let slot = Arc::clone(&shared.workers[index.min(shared.workers.len().saturating_sub(1))]);
        let log = log.new(o!("logger" => "processing", "worker" => slot.name.clone()));
        Self {
            slot,
            shared,
            settings,
            db,
            metrics,
            lifecycle,
            log,
        }
    }
}

impl Actor for TriageWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.lifecycle.up();
        let work = Work {
            slot: Arc::clone(&self.slot),
            shared: Arc::clone(&self.shared),
            settings: Arc::clone(&self.settings),
            db: self.db.clone(),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
        };
        ctx.spawn(work.run().into_actor(self).map(|(), actor, ctx| {
            info!(actor.log, "Triage queue closed; worker finished");
            ctx.stop();
        }));
    }
}

impl Supervised for TriageWorker {
    /// The batch of the failed run was dropped with its future; only the slot says otherwise.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.slot.step(WorkerPhase::Idle, 0);
        warn!(self.log, "Triage worker restarting");
    }
}

impl Handler<RestartStalled> for TriageWorker {
    type Result = ();

    fn handle(&mut self, msg: RestartStalled, ctx: &mut Context<Self>) {
        error!(self.log, "Triage worker stalled; restarting it";
            "stalled_secs" => msg.stalled_for.as_secs(), "error_type" => "PipelineStalled");
        self.lifecycle.fail(
            ctx,
            format!("no progress for {} s", msg.stalled_for.as_secs()),
        );
    }
}

/// The loop of one worker, owning clones of what it needs so it runs as one future.
struct Work {
    slot: Arc<WorkerSlot>,
    shared: Arc<ProcessingShared>,
    settings: Arc<WorkerSettings>,
    db: ComponentHandle<DbActor>,
    metrics: ProcessingMetrics,
    log: Logger,
}

/// A batch's verdicts and the `analyses` row they are recorded under.
pub struct Scored {
    pub analysis: NewTriageAnalysis,
    pub verdicts: Vec<TriageVerdict>,
}

impl Work {
    async fn run(self) {
        let receiver = self.shared.receiver();
        loop {
            self.slot.step(WorkerPhase::Idle, 0);
            let next = receiver.lock().await.recv().await;
            let Some(mut batch) = next else {
                return;
            };
            let started = tokio::time::Instant::now();
            self.slot.step(WorkerPhase::Scoring, batch.len());
            let scorer = Scorer {
                settings: &self.settings,
                shared: &self.shared,
                slot: &self.slot,
                log: &self.log,
            };
            let scored = scorer.score(&batch).await;
            self.slot.step(WorkerPhase::Writing, batch.len());
            match self.record(&scored).await {
                Ok(recorded) => {
                    batch.mark_recorded();
                    self.count(&scored, &recorded);
                    self.shared.set_error(None);
                }
                Err(err) => {
                    self.shared
                        .counters
                        .write_failures
                        .fetch_add(1, Ordering::Relaxed);
                    self.shared.set_error(Some(error_chain(&err)));
                    error!(self.log, "Triage verdicts not recorded; the messages stay on the backlog";
                        "messages" => batch.len(), "error" => %error_chain(&err),
                        "error_type" => "TriageWriteFailed");
                }
            }
            self.slot.batches.fetch_add(1, Ordering::Relaxed);
            self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
            self.metrics.observe_batch(started.elapsed());
            // Dropping the batch gives its room back.
            drop(batch);
        }
    }

    fn count(&self, scored: &Scored, recorded: &TriageRecorded) {
        let counters = &self.shared.counters;
        counters
            .already_done
            .fetch_add(recorded.already_done as u64, Ordering::Relaxed);
        if recorded.written == 0 {
            return;
        }
        // Whole millionths of a dollar; a negative or absurd cost cannot come from the router.
        let micro_usd = (scored.analysis.cost_usd.max(0.0) * 1_000_000.0).round() as u64;
        counters
            .cost_micro_usd
            .fetch_add(micro_usd, Ordering::Relaxed);
        for verdict in &scored.verdicts {
            let method = match verdict.method {
                "llm" => Method::Llm,
                "prefilter" => Method::Prefilter,
                _ => Method::Rules,
            };
            counters.count(method, verdict.degraded, verdict.needs_attention);
        }
    }

    /// Records the verdicts, waiting out a database that is coming back; gives up after a few
    /// tries for anything else (the messages stay on the backlog).
    async fn record(&self, scored: &Scored) -> Result<TriageRecorded, ProcessingError> {
        let mut wait = RETRY_INITIAL;
        let mut lasting_failures = 0;
        loop {
            let request = RecordTriage {
                analysis: scored.analysis.clone(),
                verdicts: scored.verdicts.clone(),
            };
            let error = match self.db.ask(request).await {
                Ok(recorded) => return Ok(recorded),
                Err(err) => ProcessingError::from(err),
            };
            self.slot.step(WorkerPhase::Writing, scored.verdicts.len());
            if !error.is_transient() {
                lasting_failures += 1;
                if lasting_failures >= MAX_ATTEMPTS_FOR_LASTING_ERRORS {
                    return Err(error);
                }
            }
            debug!(self.log, "Triage write will be retried";
                "retry_in_ms" => wait.as_millis() as u64, "error" => %error_chain(&error));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }
}

/// Why a model did not score a batch.
struct NoModel {
    why: String,
    /// A model may be callable later (budget, circuits, the router coming back): the rule
    /// scores are marked for rescoring.
    degraded: bool,
}

/// Scores one batch.
pub struct Scorer<'a> {
    pub settings: &'a WorkerSettings,
    pub shared: &'a ProcessingShared,
    pub slot: &'a WorkerSlot,
    pub log: &'a Logger,
}

/// What one model call cost, in sum.
#[derive(Default)]
struct Spent {
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    target: Option<String>,
}

impl Scorer<'_> {
    pub async fn score(&self, batch: &Batch) -> Scored {
        let started_at_ms = chrono::Utc::now().timestamp_millis();
        match (batch.kind, &self.settings.model) {
            (BatchKind::Model, Some(model)) => self.with_model(batch, model, started_at_ms).await,
            _ => self.with_rules(batch, started_at_ms),
        }
    }

    /// Prefilter verdicts for what the prefilters catch, rules for the rest.
    fn with_rules(&self, batch: &Batch, started_at_ms: i64) -> Scored {
        let triage = &self.settings.triage;
        let mut all_prefilter = true;
        let verdicts = batch
            .items
            .iter()
            .map(|item| match triage.skip(item) {
                Some(skip) => {
                    let score = triage.score_by_rules(item, skip.describe());
                    verdict(item, score, Method::Prefilter, false, None, 0.0, json!({}))
                }
                None => {
                    all_prefilter = false;
                    let score = triage.score_by_rules(item, "no model configured");
                    verdict(item, score, Method::Rules, false, None, 0.0, json!({}))
                }
            })
            .collect();
        let method = if all_prefilter {
            Method::Prefilter
        } else {
            Method::Rules
        };
        Scored {
            analysis: NewTriageAnalysis {
                method: method.as_str(),
                provider: None,
                model: None,
                prompt_version: None,
                input_tokens: 0,
                output_tokens: 0,
                cost_usd: 0.0,
                started_at_ms,
                error: None,
            },
            verdicts,
        }
    }

    async fn with_model(
        &self,
        batch: &Batch,
        model: &ComponentRecipient<Complete>,
        started_at_ms: i64,
    ) -> Scored {
        let triage = &self.settings.triage;
        let items: Vec<&BacklogItem> = batch.items.iter().collect();
        let mut spent = Spent::default();
        let mut scores: Vec<Option<(Score, f64, bool)>> = vec![None; items.len()];
        let mut failure: Option<NoModel> = None;

        match self.call(model, &items).await {
            Ok(answer) => {
                let share = answer.cost_usd / items.len().max(1) as f64;
                let read = reply::read(answer.json.as_ref().unwrap_or(&json!(null)), items.len());
                spent.add(&answer);
                for (position, score) in read.scores.into_iter().enumerate() {
                    scores[position] = score.map(|score| (score, share, false));
                }
                let missing = scores
                    .iter()
                    .enumerate()
                    .filter(|(_, score)| score.is_none())
                    .map(|(position, _)| position)
                    .collect::<Vec<_>>();
                if !missing.is_empty() {
                    warn!(self.log, "Model answer unusable for some messages; asking again for them";
                        "messages" => missing.len(), "batch" => items.len(),
                        "problems" => read.problems.join("; "));
                    self.shared
                        .counters
                        .model_retries
                        .fetch_add(1, Ordering::Relaxed);
                    let again: Vec<&BacklogItem> =
                        missing.iter().map(|position| items[*position]).collect();
                    match self.call(model, &again).await {
                        Ok(answer) => {
                            let share = answer.cost_usd / again.len().max(1) as f64;
                            let read = reply::read(
                                answer.json.as_ref().unwrap_or(&json!(null)),
                                again.len(),
                            );
                            spent.add(&answer);
                            for (index, score) in read.scores.into_iter().enumerate() {
                                let position = missing[index];
                                let first_share = share_of(&scores, position);
                                scores[position] =
                                    score.map(|score| (score, first_share + share, true));
                            }
                        }
                        Err(no_model) => failure = Some(no_model),
                    }
                }
            }
            Err(no_model) => failure = Some(no_model),
        }

        let any_llm = scores.iter().any(Option::is_some);
        let verdicts = items
            .iter()
            .zip(scores)
            .map(|(item, score)| match score {
                Some((score, cost, retried)) => verdict(
                    item,
                    score,
                    Method::Llm,
                    false,
                    spent.target.clone(),
                    cost,
                    if retried {
                        json!({"retried": true})
                    } else {
                        json!({})
                    },
                ),
                None => {
                    let (why, degraded) = match &failure {
                        Some(no_model) => (no_model.why.as_str(), no_model.degraded),
                        None => ("model answer unusable twice", false),
                    };
                    let score = triage.score_by_rules(item, why);
                    verdict(item, score, Method::Rules, degraded, None, 0.0, json!({}))
                }
            })
            .collect();
        let (provider, model_name) = match &spent.target {
            Some(target) => match target.split_once('/') {
                Some((provider, model)) => (Some(provider.to_owned()), Some(model.to_owned())),
                None => (None, Some(target.clone())),
            },
            None => (None, None),
        };
        Scored {
            analysis: NewTriageAnalysis {
                method: if any_llm { Method::Llm } else { Method::Rules }.as_str(),
                provider,
                model: model_name,
                prompt_version: any_llm.then(|| PROMPT_VERSION.to_owned()),
                input_tokens: spent.input_tokens,
                output_tokens: spent.output_tokens,
                cost_usd: spent.cost_usd,
                started_at_ms,
                error: failure.map(|no_model| no_model.why),
            },
            verdicts,
        }
    }

    /// One structured call for `items`.
    async fn call(
        &self,
        model: &ComponentRecipient<Complete>,
        items: &[&BacklogItem],
    ) -> Result<LlmAnswer, NoModel> {
        let request = prompt::request(items, self.settings.triage.prompt_user());
        self.slot.step(WorkerPhase::AwaitingModel, items.len());
        let result = model
            .ask(Complete {
                request,
                target: None,
            })
            .await;
        self.slot.step(WorkerPhase::Scoring, items.len());
        match result {
            Ok(answer) => {
                self.shared
                    .counters
                    .model_calls
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.note_model_answered();
                Ok(answer)
            }
            Err(AskError::Reply(err)) => {
                let degraded = model_may_return(&err);
                debug!(self.log, "No model scored the batch; rules score it";
                    "messages" => items.len(), "error" => %err, "degraded" => degraded);
                Err(NoModel {
                    why: no_model_reason(&err),
                    degraded,
                })
            }
            Err(AskError::Component(err)) => {
                warn!(self.log, "LLM router unavailable; rules score the batch";
                    "messages" => items.len(), "error" => %err);
                Err(NoModel {
                    why: "llm router unavailable".to_owned(),
                    degraded: true,
                })
            }
        }
    }
}

impl Spent {
    fn add(&mut self, answer: &LlmAnswer) {
        self.input_tokens += answer.usage.input_tokens;
        self.output_tokens += answer.usage.output_tokens;
        self.cost_usd += answer.cost_usd;
        self.target = Some(answer.target.to_string());
    }
}

fn share_of(scores: &[Option<(Score, f64, bool)>], position: usize) -> f64 {
    scores[position]
        .as_ref()
        .map_or(0.0, |(_, share, _)| *share)
}

/// Whether a model may answer later: no for a request no target accepts or no target at all,
/// yes for budgets, circuits, failures and a router that is restarting.
fn model_may_return(error: &LlmError) -> bool {
    !matches!(
        error,
        LlmError::NoTargets | LlmError::UnknownTarget(_) | LlmError::RequestRejected { .. }
    )
}

/// A finding's reason prefix for a batch no model scored.
fn no_model_reason(error: &LlmError) -> String {
    match error {
        LlmError::BudgetExhausted { .. } => "llm budget spent".to_owned(),
        LlmError::AllTargetsFailed { attempts }
            if attempts
                .iter()
                .all(|attempt| attempt.outcome.starts_with("skipped")) =>
        {
            "no llm target allowed".to_owned()
        }
        LlmError::AllTargetsFailed { .. } => "llm targets failed".to_owned(),
        LlmError::NoTargets => "no model configured".to_owned(),
        LlmError::RequestRejected { .. } => "llm request refused".to_owned(),
        LlmError::NotReady => "llm router not ready".to_owned(),
        _ => "llm unavailable".to_owned(),
    }
}

#[allow(clippy::too_many_arguments)] // one verdict's fields, named at every call
fn verdict(
    item: &BacklogItem,
    score: Score,
    method: Method,
    degraded: bool,
    model: Option<String>,
    cost_usd: f64,
    mut details: serde_json::Value,
) -> TriageVerdict {
    if item.reason == BacklogReason::Rescore {
        details["rescored"] = json!(true);
    }
    TriageVerdict {
        message_id: item.message_id,
        channel_id: item.channel_id,
        guild_id: item.guild_id,
        importance: score.importance,
        urgency: score.urgency.as_str(),
        category: score.category.as_str(),
        needs_attention: score.needs_attention,
        reason: score.reason,
        method: method.as_str(),
        degraded,
        prompt_version: (method == Method::Llm).then(|| PROMPT_VERSION.to_owned()),
        model,
        cost_usd,
        details,
    }
}
