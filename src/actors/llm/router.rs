//! The routing logic behind the LlmRouterActor: for each request, the kind's fallback chain
//! is tried in order; each target passes its circuit breaker and the daily budget, gets
//! retries with backoff for transient failures, one repair attempt for an invalid or truncated
//! answer, and books every call in the ledger. Structured answers are asked for in each
//! target's mode ([`StructuredMode`]): configured, or learnt under `auto` when a server
//! refuses a mode (the target steps down one mode, the call is sent again at once, and the
//! mode is saved for the next start). State shared by concurrent requests (breakers, budget,
//! learnt modes) sits behind one mutex that is never held across an await.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::Recipient;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use slog::{Logger, debug, info, warn};
use tokio::time::Instant;

use crate::circuit_breaker::{BreakerSettings, CircuitBreaker, CircuitState};

use super::budget::{Budget, BudgetLevel, utc_day};
use super::client::ProviderClient;
use super::config::{LlmConfig, ModelPrice, ProviderConfig, StructuredOutput};
use super::error::{Attempt, LlmError};
use super::failure::{CallFailure, FailureClass, ProviderReply, Usage};
use super::metrics::LlmMetrics;
use super::request::{LlmRequest, PreparedCall, RequestKind, Target};
use super::schema::StructuredMode;
use super::tokens::{self, TokenizerFamily};
use super::{messages::LlmAlert, schema};
use crate::actors::db::{
    BookLlmUsage, LearntStructuredOutput, NewLlmUsage, SaveLearntStructuredOutput,
};
use crate::logging::error_chain;
use crate::supervisor::ComponentRecipient;

/// Retry and deadline settings. Defaults: three tries per target with backoff
/// `min(0.5 s * 2^n, 8 s)`, and a delay the server asks for waited out only up to 60 s: past
/// that, another target answers sooner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterSettings {
    /// Calls per target for transient failures (the first try included).
    pub attempts_per_target: u32,
    /// Backoff `min(base * 2^n, cap)` plus up to 50% jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Longest server-requested delay we wait out; longer ones fall back instead.
    pub max_server_delay: Duration,
    /// Overall time for one request, all targets and retries together.
    pub deadline: Duration,
    pub breaker: BreakerSettings,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            attempts_per_target: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(8),
            max_server_delay: Duration::from_secs(60),
            // Seconds: three slow targets with a retry each still fit.
            deadline: Duration::from_secs(180),
            breaker: BreakerSettings::default(),
        }
    }
}

/// A successful request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmAnswer {
    pub target: Target,
    pub text: String,
    /// The parsed answer when the request carried a schema.
    pub json: Option<Value>,
    pub usage: Usage,
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// Every target tried, this one last.
    pub attempts: Vec<Attempt>,
    /// Whether old content was dropped to fit the context window.
    pub prompt_truncated: bool,
    /// The mode the answer was asked in; `None` without a schema.
    pub structured_output: Option<StructuredMode>,
}

/// One target's state for `/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub circuit: CircuitState,
    pub open_for_secs: Option<u64>,
    pub free: bool,
    pub structured_output: StructuredOutputStatus,
}

/// The mode a target's structured requests are sent in, and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StructuredOutputStatus {
    pub mode: StructuredMode,
    pub source: ModeSource,
    /// For a learnt mode: what the server refused, in its words.
    pub reason: Option<String>,
    /// For a learnt mode: when, RFC 3339.
    pub learnt_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeSource {
    /// `structured_output` names the mode.
    Configured,
    /// `auto`, and the server refused a richer mode.
    Learnt,
    /// `auto`, nothing refused yet: `json_schema`.
    Default,
}

/// The router's state for `/status` and `llm check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterStatus {
    pub day: String,
    pub spent_usd: f64,
    pub limit_usd: f64,
    /// Request kind -> the targets tried, in order.
    pub routes: BTreeMap<String, Vec<String>>,
    pub targets: Vec<TargetStatus>,
}

struct TargetEntry {
    client: ProviderClient,
    price: ModelPrice,
    family: TokenizerFamily,
    max_output_tokens: u32,
    structured_output: StructuredOutput,
    /// The provider's endpoint: a mode learnt for another endpoint does not apply.
    base_url: String,
}

/// A mode a server made us learn.
#[derive(Debug, Clone, PartialEq)]
struct Learnt {
    mode: StructuredMode,
    reason: String,
    at_ms: i64,
}

/// What concurrent requests share; [`LlmMetrics`] reads it at scrape time.
pub(super) struct Shared {
    pub(super) breakers: BTreeMap<Target, CircuitBreaker>,
    pub(super) budget: Budget,
    /// Modes learnt for `auto` targets; absent means `json_schema`.
    learnt: BTreeMap<Target, Learnt>,
}

/// Cheap to clone; clones share breakers and budget.
#[derive(Clone)]
pub struct Router {
    settings: RouterSettings,
    targets: Arc<BTreeMap<Target, TargetEntry>>,
    routes: Arc<BTreeMap<String, Vec<Target>>>,
    shared: Arc<Mutex<Shared>>,
    ledger: ComponentRecipient<BookLlmUsage>,
    /// Where learnt modes are saved; without it they last as long as this router.
    modes_store: Option<ComponentRecipient<SaveLearntStructuredOutput>>,
    alerts: Option<Recipient<LlmAlert>>,
    metrics: Option<LlmMetrics>,
    log: Logger,
}

/// Percent of the context budget kept when a model still finds the prompt too long: a
/// quarter off covers the estimator's documented error with room to spare.
const CONTEXT_SHRINK_PERCENT: u64 = 75;

impl Router {
    /// Counts calls, failures, tokens and cost per target in `metrics`, which show this
    /// router's spend and circuits from now on.
    pub fn with_metrics(mut self, metrics: LlmMetrics) -> Self {
        metrics.attach(&self.shared);
        self.metrics = Some(metrics);
        self
    }

    fn record_call(
        &self,
        target: &Target,
        usage: Option<Usage>,
        cost_usd: f64,
        latency: Duration,
        failure: Option<&CallFailure>,
    ) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let class = failure.map(|failure| failure.class);
        if let Err(err) = metrics.record_call(target, usage, cost_usd, latency, class) {
            warn!(self.log, "LLM call not counted";
                "target" => target.to_string(), "error" => error_chain(&err));
        }
    }

    /// `spent_today_usd`: the ledger's total for today (see `LlmCostOnDay`).
    pub fn new(
        config: &LlmConfig,
        settings: RouterSettings,
        spent_today_usd: f64,
        ledger: ComponentRecipient<BookLlmUsage>,
        alerts: Option<Recipient<LlmAlert>>,
        log: &Logger,
    ) -> Result<Self, LlmError> {
        Self::with_clients(
            config,
            settings,
            spent_today_usd,
            ledger,
            alerts,
            log,
            ProviderClient::new,
        )
    }

    /// As [`Router::new`], with each provider's client made by `client_for`.
    fn with_clients(
        config: &LlmConfig,
        settings: RouterSettings,
        spent_today_usd: f64,
        ledger: ComponentRecipient<BookLlmUsage>,
        alerts: Option<Recipient<LlmAlert>>,
        log: &Logger,
        client_for: impl Fn(&ProviderConfig) -> Result<ProviderClient, LlmError>,
    ) -> Result<Self, LlmError> {
        let mut targets = BTreeMap::new();
        for provider in config.effective_providers() {
            let client = client_for(&provider)?;
            for model in &provider.models {
                // Validation rejects models without a price; skipping here keeps a config
                // built in code from panicking.
                let Some(price) = model.price(provider.kind) else {
                    continue;
                };
                targets.insert(
                    Target::new(&provider.name, &model.name),
                    TargetEntry {
                        client: client.clone(),
                        price,
                        family: provider.kind.into(),
                        max_output_tokens: provider.max_output_tokens,
                        structured_output: model.structured_output,
                        base_url: provider.effective_base_url().to_owned(),
                    },
                );
            }
        }
        let effective = config.effective_routes();
        let mut routes = BTreeMap::new();
        for (name, chain) in effective.named() {
            let chain: Vec<Target> = chain
                .iter()
                .filter_map(|text| Target::parse(text))
                .filter(|target| targets.contains_key(target))
                .collect();
            routes.insert(name.to_owned(), chain);
        }
        let breakers = targets
            .keys()
            .map(|target| (target.clone(), CircuitBreaker::new(&settings.breaker)))
            .collect();
        Ok(Self {
            settings,
            targets: Arc::new(targets),
            routes: Arc::new(routes),
            shared: Arc::new(Mutex::new(Shared {
                breakers,
                budget: Budget::new(config.daily_cost_limit, utc_day(), spent_today_usd),
                learnt: BTreeMap::new(),
            })),
            ledger,
            modes_store: None,
            alerts,
            metrics: None,
            log: log.new(slog::o!("logger" => "llm_router")),
        })
    }

    /// Starts from the modes learnt before (`LoadLearntStructuredOutputs`) and saves each new
    /// one through `store`. Rows for targets no longer configured, configured with a fixed
    /// mode, or learnt from another endpoint are left out.
    pub fn with_structured_output(
        mut self,
        learnt: Vec<LearntStructuredOutput>,
        store: ComponentRecipient<SaveLearntStructuredOutput>,
    ) -> Self {
        {
            let mut shared = self.shared();
            for row in learnt {
                let target = Target::new(&row.provider, &row.model);
                let Some(entry) = self.targets.get(&target) else {
                    continue;
                };
                let Some(mode) = StructuredMode::parse(&row.mode) else {
                    warn!(self.log, "Learnt structured output unreadable; ignored";
                        "target" => %target, "mode" => &row.mode);
                    continue;
                };
                if entry.structured_output != StructuredOutput::Auto
                    || entry.base_url != row.base_url
                {
                    continue;
                }
                info!(self.log, "Structured output for {}: {} (learnt {})", target, mode,
                    rfc3339(row.learnt_at_ms);
                    "target" => %target, "mode" => mode.as_str(), "reason" => &row.reason);
                shared.learnt.insert(
                    target,
                    Learnt {
                        mode,
                        reason: row.reason,
                        at_ms: row.learnt_at_ms,
                    },
                );
            }
        }
        self.modes_store = Some(store);
        self
    }

    /// The mode `target`'s next structured call is sent in.
    pub fn structured_output(&self, target: &Target) -> Option<StructuredOutputStatus> {
        let entry = self.targets.get(target)?;
        Some(structured_status(entry, self.shared().learnt.get(target)))
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves plain numbers behind; keep using them.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The chain for `kind`: its own route, else `default`.
    pub fn chain(&self, kind: RequestKind) -> Vec<Target> {
        self.routes
            .get(kind.as_str())
            .filter(|chain| !chain.is_empty())
            .or_else(|| self.routes.get("default"))
            .cloned()
            .unwrap_or_default()
    }

    pub fn status(&self) -> RouterStatus {
        let shared = self.shared();
        RouterStatus {
            day: shared.budget.day().to_owned(),
            spent_usd: shared.budget.spent_usd(),
            limit_usd: shared.budget.limit_usd(),
            // Each kind's effective chain: a kind without a route of its own shows `default`'s.
            routes: self
                .routes
                .iter()
                .map(|(name, chain)| {
                    let chain = match self.routes.get("default") {
                        Some(default) if chain.is_empty() => default,
                        _ => chain,
                    };
                    (name.clone(), chain.iter().map(Target::to_string).collect())
                })
                .collect(),
            // Breakers and targets share their keys (both built from the configured targets).
            targets: shared
                .breakers
                .iter()
                .filter_map(|(target, breaker)| {
                    let entry = self.targets.get(target)?;
                    Some(TargetStatus {
                        target: target.to_string(),
                        circuit: breaker.state(),
                        open_for_secs: breaker.open_for().map(|left| left.as_secs()),
                        free: entry.price.is_free(),
                        structured_output: structured_status(entry, shared.learnt.get(target)),
                    })
                })
                .collect(),
        }
    }

    /// Runs `request` through its chain, or through `only` alone.
    pub async fn complete(
        &self,
        request: LlmRequest,
        only: Option<Target>,
    ) -> Result<LlmAnswer, LlmError> {
        let chain = match only {
            Some(target) if self.targets.contains_key(&target) => vec![target],
            Some(target) => return Err(LlmError::UnknownTarget(target.to_string())),
            None => self.chain(request.kind),
        };
        if chain.is_empty() {
            return Err(LlmError::NoTargets);
        }
        let deadline = Instant::now() + self.settings.deadline;
        let mut attempts = Vec::new();
        let mut refused_by_budget = false;
        for target in chain {
            match self
                .try_target(&request, &target, deadline, &mut attempts)
                .await
            {
                TargetResult::Answered(answer) => {
                    let mut answer = *answer;
                    answer.attempts = attempts;
                    return Ok(answer);
                }
                TargetResult::RequestBad(message) => {
                    return Err(LlmError::RequestRejected {
                        target,
                        message,
                        attempts,
                    });
                }
                TargetResult::BudgetRefused => refused_by_budget = true,
                TargetResult::FallBack => {}
            }
        }
        let tried_any = attempts.iter().any(|attempt| attempt.outcome == "failed");
        if refused_by_budget && !tried_any {
            let shared = self.shared();
            return Err(LlmError::BudgetExhausted {
                spent_usd: shared.budget.spent_usd(),
                limit_usd: shared.budget.limit_usd(),
                attempts,
            });
        }
        Err(LlmError::AllTargetsFailed { attempts })
    }

    async fn try_target(
        &self,
        request: &LlmRequest,
        target: &Target,
        deadline: Instant,
        attempts: &mut Vec<Attempt>,
    ) -> TargetResult {
        let Some(entry) = self.targets.get(target) else {
            return TargetResult::FallBack;
        };
        let skipped = |outcome: &'static str, detail: String| Attempt {
            target: target.clone(),
            outcome,
            class: None,
            detail,
        };
        let max_output = request
            .max_output_tokens
            .unwrap_or(request.kind.default_max_output_tokens())
            .min(entry.max_output_tokens);
        let mut context_budget = entry
            .price
            .context_tokens
            .saturating_sub(u64::from(max_output));
        let mode = structured_status(entry, self.shared().learnt.get(target)).mode;
        let (mut call, mut prompt_truncated) =
            prepare(request, entry.family, mode, context_budget, max_output);
        let mut transient_failures = 0u32;
        let mut repaired = false;
        let mut shrunk = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                attempts.push(skipped(
                    "skipped_deadline",
                    "request deadline passed".into(),
                ));
                return TargetResult::FallBack;
            }
            let estimate_in = tokens::estimate(&call.system, entry.family)
                + tokens::estimate(&call.prompt, entry.family);
            let estimate_usd = entry
                .price
                .cost_usd(estimate_in, u64::from(call.max_output_tokens));
            {
                let mut shared = self.shared();
                let Some(breaker) = shared.breakers.get_mut(target) else {
                    return TargetResult::FallBack;
                };
                if let Err(left) = breaker.try_acquire() {
                    attempts.push(skipped(
                        "skipped_circuit_open",
                        format!("circuit open for {}s more", left.as_secs()),
                    ));
                    return TargetResult::FallBack;
                }
                if !shared
                    .budget
                    .try_reserve(&utc_day(), estimate_usd, entry.price.is_free())
                {
                    if let Some(breaker) = shared.breakers.get_mut(target) {
                        breaker.release();
                    }
                    attempts.push(skipped(
                        "skipped_budget",
                        format!("estimated ${estimate_usd:.4} would cross the daily limit"),
                    ));
                    return TargetResult::BudgetRefused;
                }
            }

            let started = Instant::now();
            let result =
                match tokio::time::timeout_at(deadline, entry.client.call(&target.model, &call))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(CallFailure::new(
                        FailureClass::Transient,
                        None,
                        "request deadline passed during the call",
                    )),
                };
            let latency = started.elapsed();
            let result = result.and_then(|reply| check_reply(reply, &call));
            let usage = match &result {
                Ok((reply, _)) => Some(reply.usage),
                Err(failure) => failure.usage,
            };
            let cost_usd = usage
                .map(|usage| {
                    usage.reported_cost_usd.unwrap_or_else(|| {
                        entry
                            .price
                            .cost_usd(usage.input_tokens, usage.output_tokens)
                    })
                })
                .unwrap_or(0.0);
            self.book(
                target,
                request.kind,
                usage,
                cost_usd,
                estimate_usd,
                latency,
                result.as_ref().err(),
            )
            .await;

            let failure = match result {
                Ok((reply, json)) => {
                    if let Some(breaker) = self.shared().breakers.get_mut(target) {
                        breaker.record_success();
                    }
                    attempts.push(Attempt {
                        target: target.clone(),
                        outcome: "ok",
                        class: None,
                        detail: String::new(),
                    });
                    return TargetResult::Answered(Box::new(LlmAnswer {
                        target: target.clone(),
                        text: reply.text,
                        json,
                        usage: reply.usage,
                        cost_usd,
                        latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                        attempts: Vec::new(),
                        prompt_truncated,
                        structured_output: call.schema.as_ref().map(|_| call.mode),
                    }));
                }
                Err(failure) => failure,
            };
            if let Some(breaker) = self.shared().breakers.get_mut(target) {
                match failure.class.breaker_failure(failure.retry_after) {
                    Some(counted) => breaker.record_failure(counted),
                    None => breaker.record_success(),
                };
            }
            let detail = match (failure.class, entry.structured_output) {
                (FailureClass::UnsupportedFormat, StructuredOutput::Fixed(mode)) => format!(
                    "{} (structured_output is {mode} for this model; `auto` would step down)",
                    failure.message
                ),
                _ => failure.message.clone(),
            };
            attempts.push(Attempt {
                target: target.clone(),
                outcome: "failed",
                class: Some(failure.class),
                detail,
            });
            // A refusal the target adapts to is no fault: the step-down says it at INFO.
            let adapts = failure.class == FailureClass::UnsupportedFormat
                && entry.structured_output == StructuredOutput::Auto
                && call.schema.is_some()
                && call.mode.step_down().is_some();
            if adapts {
                debug!(self.log, "LLM call refused the structured output mode";
                    "target" => %target, "mode" => call.mode.as_str(),
                    "status" => failure.status, "error" => &failure.message);
            } else {
                warn!(self.log, "LLM call failed";
                    "target" => %target, "class" => failure.class.as_str(),
                    "status" => failure.status, "error" => &failure.message);
            }

            match failure.class {
                FailureClass::Transient => {
                    transient_failures += 1;
                    if transient_failures >= self.settings.attempts_per_target {
                        return TargetResult::FallBack;
                    }
                    let delay = match failure.retry_after {
                        Some(server) if server > self.settings.max_server_delay => {
                            return TargetResult::FallBack;
                        }
                        Some(server) => server,
                        None => self.backoff(transient_failures - 1),
                    };
                    if Instant::now() + delay >= deadline {
                        return TargetResult::FallBack;
                    }
                    debug!(self.log, "Retrying LLM call"; "target" => %target,
                        "delay_ms" => delay.as_millis() as u64);
                    tokio::time::sleep(delay).await;
                }
                FailureClass::TargetDown => {
                    self.alert(LlmAlert::TargetDown {
                        target: target.clone(),
                        message: failure.message,
                    });
                    return TargetResult::FallBack;
                }
                FailureClass::RequestBad => return TargetResult::RequestBad(failure.message),
                FailureClass::UnsupportedParameter => return TargetResult::FallBack,
                // The refusal is an answer: send the same request again at once, one mode
                // down. Modes only go down, so this happens at most twice per target.
                FailureClass::UnsupportedFormat => {
                    let Some(next) = self.step_down(target, entry, &call, &failure).await else {
                        return TargetResult::FallBack;
                    };
                    let (next_call, truncated) = prepare(
                        request,
                        entry.family,
                        next,
                        context_budget,
                        call.max_output_tokens,
                    );
                    call = next_call;
                    prompt_truncated = truncated || shrunk;
                }
                // Our estimate undercounted this model's tokenizer: shrink the prompt once
                // (oldest content goes first), then leave it to a larger-context target.
                FailureClass::TooLong if !shrunk => {
                    shrunk = true;
                    // Relative to what was sent: the budget may be far above it when the
                    // configured context size is wrong.
                    context_budget = context_budget
                        .min(estimate_in)
                        .saturating_mul(CONTEXT_SHRINK_PERCENT)
                        / 100;
                    let (prompt, _) = tokens::fit_newest(
                        &call.system,
                        &request.parts,
                        context_budget,
                        entry.family,
                    );
                    call.prompt = prompt;
                    prompt_truncated = true;
                    debug!(self.log, "Prompt too long for the model; retrying shorter";
                        "target" => %target, "context_budget_tokens" => context_budget);
                }
                FailureClass::TooLong | FailureClass::Blocked => return TargetResult::FallBack,
                FailureClass::Truncated | FailureClass::InvalidReply => {
                    if repaired {
                        return TargetResult::FallBack;
                    }
                    repaired = true;
                    if failure.class == FailureClass::Truncated {
                        call.max_output_tokens = call
                            .max_output_tokens
                            .saturating_mul(2)
                            .min(entry.max_output_tokens.max(call.max_output_tokens));
                    }
                    call.prompt.push_str(&format!(
                        "\n\nYour previous answer was rejected ({}). Answer again with only \
                         the complete JSON document the schema describes, nothing else.",
                        failure.message
                    ));
                }
            }
        }
    }

    /// The mode to resend in after a server refused `call`'s, for an `auto` target with a
    /// schema to send; records it as learnt (logged once, saved) unless a concurrent request
    /// already went as low. `None`: fall back instead.
    async fn step_down(
        &self,
        target: &Target,
        entry: &TargetEntry,
        call: &PreparedCall,
        failure: &CallFailure,
    ) -> Option<StructuredMode> {
        if entry.structured_output != StructuredOutput::Auto || call.schema.is_none() {
            return None;
        }
        let refused = call.mode;
        let why = format!("the server refused {refused}");
        let learnt = {
            let mut shared = self.shared();
            let current = shared
                .learnt
                .get(target)
                .map_or(StructuredMode::JsonSchema, |learnt| learnt.mode);
            let next = refused.step_down()?.min(current);
            if next == current {
                return Some(next);
            }
            let learnt = Learnt {
                mode: next,
                // One line: the reason is shown in `/status` and `llm check`'s text.
                reason: format!(
                    "{why}: {}",
                    failure
                        .message
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                at_ms: chrono::Utc::now().timestamp_millis(),
            };
            shared.learnt.insert(target.clone(), learnt.clone());
            learnt
        };
        info!(self.log, "Structured output for {}: {} ({})", target, learnt.mode, why;
            "target" => %target, "mode" => learnt.mode.as_str(), "refused" => refused.as_str(),
            "status" => failure.status, "error" => &failure.message);
        if let Some(store) = &self.modes_store {
            let row = LearntStructuredOutput {
                provider: target.provider.clone(),
                model: target.model.clone(),
                mode: learnt.mode.as_str().to_owned(),
                base_url: entry.base_url.clone(),
                reason: learnt.reason.clone(),
                learnt_at_ms: learnt.at_ms,
            };
            // Kept in memory either way; a lost row costs one refused call after a restart.
            if let Err(err) = store.ask(SaveLearntStructuredOutput { row }).await {
                warn!(self.log, "Learnt structured output not saved";
                    "target" => %target, "error" => %err);
            }
        }
        Some(learnt.mode)
    }

    /// `min(base * 2^n, cap)` plus up to half of it again as jitter.
    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .settings
            .backoff_base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.settings.backoff_cap);
        let jitter = rand::rng().random_range(0.0..0.5);
        exponential.mul_f64(1.0 + jitter)
    }

    #[allow(clippy::too_many_arguments)]
    async fn book(
        &self,
        target: &Target,
        kind: RequestKind,
        usage: Option<Usage>,
        cost_usd: f64,
        reserved_usd: f64,
        latency: Duration,
        failure: Option<&CallFailure>,
    ) {
        self.record_call(target, usage, cost_usd, latency, failure);
        let day = utc_day();
        let level = self.shared().budget.book(&day, reserved_usd, cost_usd);
        if let Some(level) = level {
            let (spent_usd, limit_usd) = {
                let shared = self.shared();
                (shared.budget.spent_usd(), shared.budget.limit_usd())
            };
            info!(self.log, "LLM budget threshold reached";
                "level" => ?level, "spent_usd" => spent_usd, "limit_usd" => limit_usd);
            self.alert(LlmAlert::Budget {
                level,
                day: day.clone(),
                spent_usd,
                limit_usd,
            });
        }
        let usage = usage.unwrap_or_default();
        let as_i64 = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let row = NewLlmUsage {
            at_ms: chrono::Utc::now().timestamp_millis(),
            day,
            provider: target.provider.clone(),
            model: target.model.clone(),
            kind: kind.as_str().to_owned(),
            input_tokens: as_i64(usage.input_tokens),
            output_tokens: as_i64(usage.output_tokens),
            thinking_tokens: as_i64(usage.thinking_tokens),
            cost_usd,
            latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
            outcome: if failure.is_some() { "error" } else { "ok" }.to_owned(),
            error_class: failure.map(|failure| failure.class.as_str().to_owned()),
        };
        // The in-memory total already counts the call; a lost row only under-reports `llm usage`.
        if let Err(err) = self.ledger.ask(BookLlmUsage { usage: row }).await {
            warn!(self.log, "LLM usage not booked"; "error" => %err);
        }
    }

    fn alert(&self, alert: LlmAlert) {
        if let Some(recipient) = &self.alerts
            && let Err(err) = recipient.try_send(alert)
        {
            warn!(self.log, "LLM alert dropped"; "error" => %err);
        }
    }
}

/// The call for `request` in `mode`: the schema described in the system prompt when the
/// mode does not hand it to the server, the content fitted to `context_budget` (tokens).
/// Answers whether content was dropped.
fn prepare(
    request: &LlmRequest,
    family: TokenizerFamily,
    mode: StructuredMode,
    context_budget: u64,
    max_output_tokens: u32,
) -> (PreparedCall, bool) {
    let system = match &request.schema {
        Some(reply_schema) if mode.schema_in_prompt() => {
            schema::with_instructions(&request.system, reply_schema)
        }
        _ => request.system.clone(),
    };
    let (prompt, truncated) = tokens::fit_newest(&system, &request.parts, context_budget, family);
    let call = PreparedCall {
        system,
        prompt,
        schema: request.schema.clone(),
        mode,
        max_output_tokens,
        temperature: request.temperature,
    };
    (call, truncated)
}

fn structured_status(entry: &TargetEntry, learnt: Option<&Learnt>) -> StructuredOutputStatus {
    match (entry.structured_output, learnt) {
        (StructuredOutput::Fixed(mode), _) => StructuredOutputStatus {
            mode,
            source: ModeSource::Configured,
            reason: None,
            learnt_at: None,
        },
        (StructuredOutput::Auto, Some(learnt)) => StructuredOutputStatus {
            mode: learnt.mode,
            source: ModeSource::Learnt,
            reason: Some(learnt.reason.clone()),
            learnt_at: Some(rfc3339(learnt.at_ms)),
        },
        (StructuredOutput::Auto, None) => StructuredOutputStatus {
            mode: StructuredMode::JsonSchema,
            source: ModeSource::Default,
            reason: None,
            learnt_at: None,
        },
    }
}

fn rfc3339(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

enum TargetResult {
    Answered(Box<LlmAnswer>),
    RequestBad(String),
    BudgetRefused,
    FallBack,
}

/// Parses and checks a structured answer.
fn check_reply(
    reply: ProviderReply,
    call: &PreparedCall,
) -> Result<(ProviderReply, Option<Value>), CallFailure> {
    let Some(reply_schema) = &call.schema else {
        return Ok((reply, None));
    };
    let invalid = |message: String, usage: Usage| {
        CallFailure::new(FailureClass::InvalidReply, Some(200), message).with_usage(usage)
    };
    match schema::parse_answer(&reply.text) {
        Err(err) => Err(invalid(format!("answer is not JSON: {err}"), reply.usage)),
        Ok(json) => match schema::violation(&reply_schema.schema, &json) {
            Some(problem) => Err(invalid(
                format!("answer breaks the schema at {problem}"),
                reply.usage,
            )),
            None => Ok((reply, Some(json))),
        },
    }
}

impl BudgetLevel {
    pub const fn as_str(self) -> &'static str {
        match self {
            BudgetLevel::Warning => "warning",
            BudgetLevel::Exhausted => "exhausted",
        }
    }
}

/// The targets a router built from `config` has: every model of every provider that has a
/// price (validation rejects models without one; a config built in code may still lack it).
pub(super) fn configured_targets(config: &LlmConfig) -> Vec<Target> {
    config
        .effective_providers()
        .iter()
        .flat_map(|provider| {
            provider
                .models
                .iter()
                .filter(|model| model.price(provider.kind).is_some())
                .map(|model| Target::new(&provider.name, &model.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The router against in-memory servers (the real wire formats and classification, no
    //! socket) on tokio's paused clock: a retry's backoff shows as elapsed time, a step-down
    //! sent "at once" as none.

    use std::sync::{Arc, Mutex, PoisonError};

    use actix::prelude::*;
    use futures_util::future::BoxFuture;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    use super::*;
    use crate::actors::db::DbError;
    use crate::actors::llm::client::{RawAnswer, Transport};
    use crate::actors::llm::config::{
        ModelConfig, ProviderConfig, ProviderKind, RoutesConfig, default_max_output_tokens,
    };

    const BASE_URL: &str = "http://models.test/v1";

    /// How a fake server answers one request body.
    type Behaviour = fn(&Value) -> (u16, Value);

    fn reply(content: &str) -> (u16, Value) {
        (
            200,
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        )
    }

    fn format_type(body: &Value) -> Option<&str> {
        body.pointer("/response_format/type")
            .and_then(Value::as_str)
    }

    /// llama-cpp-python 0.3.36: `json_schema` is a request validation error it reports as
    /// HTTP 500; `json_object` is constrained to the `schema` beside it.
    fn llama_cpp_python(body: &Value) -> (u16, Value) {
        match format_type(body) {
            Some("json_schema") => (
                500,
                json!({"error": {"message": "1 validation error:\n  {'type': 'literal_error', \
                    'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be \
                    'text' or 'json_object'\", 'input': 'json_schema'}",
                    "type": "internal_server_error", "param": null, "code": null}}),
            ),
            Some("json_object") if body.pointer("/response_format/schema").is_some() => {
                reply(r#"{"status": "ok"}"#)
            }
            _ => reply("ok"),
        }
    }

    /// A server that takes no `response_format` at all, and whose model follows instructions.
    fn no_response_format(body: &Value) -> (u16, Value) {
        if body.get("response_format").is_some() {
            return (
                400,
                json!({"error": {"message": "Unrecognized request argument supplied: \
                    response_format", "type": "invalid_request_error"}}),
            );
        }
        let system = body.pointer("/messages/0/content").and_then(Value::as_str);
        if system.is_some_and(|system| system.contains("JSON Schema")) {
            reply(r#"Here you go: {"status": "ok"}"#)
        } else {
            reply("ok")
        }
    }

    fn accepts_everything(_: &Value) -> (u16, Value) {
        reply(r#"{"status": "ok"}"#)
    }

    fn overloaded(_: &Value) -> (u16, Value) {
        (503, json!({"error": {"message": "overloaded"}}))
    }

    /// One in-memory server: answers by model name, keeps every body.
    #[derive(Clone)]
    struct FakeServer {
        behaviours: Arc<BTreeMap<String, Behaviour>>,
        bodies: Arc<Mutex<Vec<Value>>>,
    }

    impl FakeServer {
        fn new(behaviours: &[(&str, Behaviour)]) -> Self {
            Self {
                behaviours: Arc::new(
                    behaviours
                        .iter()
                        .map(|(model, behaviour)| ((*model).to_owned(), *behaviour))
                        .collect(),
                ),
                bodies: Arc::default(),
            }
        }

        fn bodies(&self, model: &str) -> Vec<Value> {
            self.bodies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|body| body["model"] == model)
                .cloned()
                .collect()
        }
    }

    impl Transport for FakeServer {
        fn post(
            &self,
            _url: String,
            _headers: HeaderMap,
            body: Value,
        ) -> BoxFuture<'static, Result<RawAnswer, CallFailure>> {
            let model = body["model"].as_str().unwrap_or_default().to_owned();
            let (status, answer) = self.behaviours.get(&model).map_or(
                (404, json!({"error": {"message": "no such model"}})),
                |behave| behave(&body),
            );
            self.bodies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(body);
            Box::pin(async move {
                Ok(RawAnswer {
                    status,
                    headers: HeaderMap::new(),
                    body: answer.to_string().into_bytes(),
                })
            })
        }
    }

    /// The ledger and the learnt modes, kept in memory.
    #[derive(Default, Clone)]
    struct Books {
        calls: Arc<Mutex<Vec<NewLlmUsage>>>,
        saved: Arc<Mutex<Vec<LearntStructuredOutput>>>,
    }

    impl Books {
        fn saved(&self) -> Vec<LearntStructuredOutput> {
            self.saved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl Actor for Books {
        type Context = Context<Self>;
    }

    impl Handler<BookLlmUsage> for Books {
        type Result = Result<i64, DbError>;

        fn handle(&mut self, msg: BookLlmUsage, _: &mut Self::Context) -> Self::Result {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            calls.push(msg.usage);
            Ok(i64::try_from(calls.len()).unwrap_or(i64::MAX))
        }
    }

    impl Handler<SaveLearntStructuredOutput> for Books {
        type Result = Result<(), DbError>;

        fn handle(
            &mut self,
            msg: SaveLearntStructuredOutput,
            _: &mut Self::Context,
        ) -> Self::Result {
            self.saved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(msg.row);
            Ok(())
        }
    }

    fn model(name: &str, structured_output: StructuredOutput) -> ModelConfig {
        ModelConfig {
            name: name.to_owned(),
            input_usd_per_mtok: None,
            output_usd_per_mtok: None,
            context_tokens: None,
            structured_output,
        }
    }

    /// One local provider with the given models, tried in that order.
    fn config(models: Vec<ModelConfig>) -> LlmConfig {
        let default = models
            .iter()
            .map(|model| format!("local/{}", model.name))
            .collect();
        LlmConfig {
            providers: vec![ProviderConfig {
                name: "local".to_owned(),
                kind: ProviderKind::OpenaiCompatible,
                base_url: Some(BASE_URL.to_owned()),
                api_key: None,
                timeout_secs: 10,
                max_output_tokens: default_max_output_tokens(),
                models,
            }],
            routes: RoutesConfig {
                default,
                ..RoutesConfig::default()
            },
            ..LlmConfig::default()
        }
    }

    fn router(
        config: &LlmConfig,
        server: &FakeServer,
        books: &Books,
        learnt: Vec<LearntStructuredOutput>,
    ) -> Router {
        let addr = books.clone().start();
        let log = Logger::root(slog::Discard, slog::o!());
        let settings = RouterSettings {
            breaker: BreakerSettings {
                consecutive_failures: 3,
                ..BreakerSettings::default()
            },
            ..RouterSettings::default()
        };
        let server = server.clone();
        Router::with_clients(
            config,
            settings,
            0.0,
            ComponentRecipient::unsupervised("database", addr.clone().recipient()),
            None,
            &log,
            move |provider| ProviderClient::with_transport(provider, Arc::new(server.clone())),
        )
        .unwrap()
        .with_structured_output(
            learnt,
            ComponentRecipient::unsupervised("database", addr.recipient()),
        )
    }

    fn request() -> LlmRequest {
        LlmRequest::new(RequestKind::Triage, "Check.", vec!["hello".to_owned()]).with_schema(
            "check",
            json!({"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string"}}}),
        )
    }

    fn classes(answer: &LlmAnswer) -> Vec<Option<FailureClass>> {
        answer
            .attempts
            .iter()
            .map(|attempt| attempt.class)
            .collect()
    }

    #[actix_rt::test]
    async fn auto_steps_down_at_once_and_remembers_the_mode() {
        tokio::time::pause();
        let server = FakeServer::new(&[("llama", llama_cpp_python)]);
        let books = Books::default();
        let config = config(vec![model("llama", StructuredOutput::Auto)]);
        let router = router(&config, &server, &books, Vec::new());
        let llama = Target::new("local", "llama");

        let started = Instant::now();
        let answer = router.complete(request(), None).await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "no backoff before the resend"
        );
        assert_eq!(answer.json, Some(json!({"status": "ok"})));
        assert_eq!(answer.structured_output, Some(StructuredMode::JsonObject));
        assert_eq!(
            classes(&answer),
            [Some(FailureClass::UnsupportedFormat), None]
        );
        let bodies = server.bodies("llama");
        assert_eq!(bodies.len(), 2, "one refusal, no transient retries");
        assert_eq!(format_type(&bodies[0]), Some("json_schema"));
        assert_eq!(format_type(&bodies[1]), Some("json_object"));
        assert_eq!(
            bodies[1]["response_format"]["schema"]["required"],
            json!(["status"])
        );
        let system = bodies[1]["messages"][0]["content"].as_str().unwrap();
        assert!(
            system.starts_with("Check.\n\nAnswer with one JSON document"),
            "{system}"
        );

        let saved = books.saved();
        assert_eq!(saved.len(), 1);
        assert_eq!(
            (saved[0].mode.as_str(), saved[0].base_url.as_str()),
            ("json_object", BASE_URL)
        );
        assert!(
            saved[0]
                .reason
                .starts_with("the server refused json_schema: 1 validation error")
        );
        let status = router.structured_output(&llama).unwrap();
        assert_eq!(
            (status.mode, status.source),
            (StructuredMode::JsonObject, ModeSource::Learnt)
        );
        // As `/status` shows it.
        let shown = serde_json::to_value(router.status()).unwrap();
        let shown = &shown["targets"][0]["structured_output"];
        assert_eq!(
            (&shown["mode"], &shown["source"]),
            (&json!("json_object"), &json!("learnt"))
        );
        assert!(
            shown["learnt_at"].as_str().unwrap().ends_with('Z'),
            "{shown}"
        );

        // The next request starts in the learnt mode.
        router.complete(request(), None).await.unwrap();
        assert_eq!(server.bodies("llama").len(), 3);
        assert_eq!(books.saved().len(), 1, "learnt once");

        // As does a router built after a restart from what was saved.
        let restarted = router_after_restart(&config, &server, &books);
        let answer = restarted.complete(request(), None).await.unwrap();
        assert_eq!(classes(&answer), [None]);
        assert_eq!(format_type(&server.bodies("llama")[3]), Some("json_object"));
    }

    fn router_after_restart(config: &LlmConfig, server: &FakeServer, books: &Books) -> Router {
        router(config, server, books, books.saved())
    }

    #[actix_rt::test]
    async fn a_server_without_response_format_ends_in_prompt_mode() {
        tokio::time::pause();
        let server = FakeServer::new(&[("plain", no_response_format)]);
        let books = Books::default();
        let router = router(
            &config(vec![model("plain", StructuredOutput::Auto)]),
            &server,
            &books,
            Vec::new(),
        );
        let answer = router.complete(request(), None).await.unwrap();
        assert_eq!(answer.json, Some(json!({"status": "ok"})));
        assert_eq!(answer.structured_output, Some(StructuredMode::Prompt));
        let bodies = server.bodies("plain");
        let sent: Vec<Option<&str>> = bodies.iter().map(format_type).collect();
        assert_eq!(sent, [Some("json_schema"), Some("json_object"), None]);
        let modes: Vec<String> = books.saved().into_iter().map(|row| row.mode).collect();
        assert_eq!(modes, ["json_object", "prompt"]);
    }

    #[actix_rt::test]
    async fn a_configured_mode_is_kept_and_a_refusal_falls_back_without_opening_the_circuit() {
        tokio::time::pause();
        let server = FakeServer::new(&[("llama", llama_cpp_python), ("spare", accepts_everything)]);
        let books = Books::default();
        let router = router(
            &config(vec![
                model("llama", StructuredOutput::Fixed(StructuredMode::JsonSchema)),
                model("spare", StructuredOutput::Auto),
            ]),
            &server,
            &books,
            Vec::new(),
        );
        // More refusals than the breaker's limit of consecutive failures.
        for _ in 0..4 {
            let answer = router.complete(request(), None).await.unwrap();
            assert_eq!(answer.target, Target::new("local", "spare"));
            assert_eq!(
                classes(&answer),
                [Some(FailureClass::UnsupportedFormat), None]
            );
            assert!(
                answer.attempts[0]
                    .detail
                    .contains("structured_output is json_schema")
            );
        }
        assert_eq!(
            server.bodies("llama").len(),
            4,
            "never retried, never skipped"
        );
        assert!(
            server
                .bodies("llama")
                .iter()
                .all(|body| format_type(body) == Some("json_schema"))
        );
        assert!(books.saved().is_empty());
        let llama = &router.status().targets[0];
        assert_eq!(llama.circuit, CircuitState::Closed);
        assert_eq!(llama.structured_output.source, ModeSource::Configured);
    }

    #[actix_rt::test]
    async fn a_configured_prompt_mode_never_sends_response_format() {
        tokio::time::pause();
        let server = FakeServer::new(&[("plain", no_response_format)]);
        let books = Books::default();
        let router = router(
            &config(vec![model(
                "plain",
                StructuredOutput::Fixed(StructuredMode::Prompt),
            )]),
            &server,
            &books,
            Vec::new(),
        );
        let answer = router.complete(request(), None).await.unwrap();
        assert_eq!(classes(&answer), [None]);
        assert_eq!(answer.structured_output, Some(StructuredMode::Prompt));
        let body = &server.bodies("plain")[0];
        assert!(body.get("response_format").is_none(), "{body}");
    }

    #[actix_rt::test]
    async fn outages_are_still_retried_with_backoff() {
        tokio::time::pause();
        let server = FakeServer::new(&[("busy", overloaded), ("spare", accepts_everything)]);
        let books = Books::default();
        let router = router(
            &config(vec![
                model("busy", StructuredOutput::Auto),
                model("spare", StructuredOutput::Auto),
            ]),
            &server,
            &books,
            Vec::new(),
        );
        let started = Instant::now();
        let answer = router.complete(request(), None).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "two backoffs waited"
        );
        assert_eq!(
            classes(&answer),
            [
                Some(FailureClass::Transient),
                Some(FailureClass::Transient),
                Some(FailureClass::Transient),
                None
            ]
        );
        assert!(books.saved().is_empty(), "an outage teaches nothing");
        assert_eq!(
            router.status().targets[0].structured_output.source,
            ModeSource::Default
        );
    }

    #[actix_rt::test]
    async fn learnt_modes_of_another_endpoint_or_a_configured_model_are_ignored() {
        tokio::time::pause();
        let server = FakeServer::new(&[]);
        let books = Books::default();
        let row = |model: &str, base_url: &str| LearntStructuredOutput {
            provider: "local".into(),
            model: model.into(),
            mode: "prompt".into(),
            base_url: base_url.into(),
            reason: "the server refused json_object: no".into(),
            learnt_at_ms: 0,
        };
        let router = router(
            &config(vec![
                model("moved", StructuredOutput::Auto),
                model("fixed", StructuredOutput::Fixed(StructuredMode::JsonObject)),
                model("kept", StructuredOutput::Auto),
            ]),
            &server,
            &books,
            vec![
                row("moved", "http://elsewhere.test/v1"),
                row("fixed", BASE_URL),
                row("kept", BASE_URL),
                row("gone", BASE_URL),
            ],
        );
        let status = |model: &str| {
            router
                .structured_output(&Target::new("local", model))
                .unwrap()
        };
        assert_eq!(status("moved").mode, StructuredMode::JsonSchema);
        assert_eq!(status("fixed").mode, StructuredMode::JsonObject);
        assert_eq!(status("fixed").source, ModeSource::Configured);
        let kept = status("kept");
        assert_eq!(
            (kept.mode, kept.source),
            (StructuredMode::Prompt, ModeSource::Learnt)
        );
        assert_eq!(kept.learnt_at.as_deref(), Some("1970-01-01T00:00:00Z"));
        assert!(
            router
                .structured_output(&Target::new("local", "gone"))
                .is_none()
        );
    }

    #[actix_rt::test]
    async fn concurrent_refusals_learn_once() {
        tokio::time::pause();
        let server = FakeServer::new(&[("llama", llama_cpp_python)]);
        let books = Books::default();
        let router = router(
            &config(vec![model("llama", StructuredOutput::Auto)]),
            &server,
            &books,
            Vec::new(),
        );
        let (first, second) = tokio::join!(
            router.complete(request(), None),
            router.complete(request(), None)
        );
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(books.saved().len(), 1);
        assert_eq!(server.bodies("llama").len(), 4);
    }
}
