//! The routing logic behind the LlmRouterActor: for each request, the kind's fallback chain
//! is tried in order; each target passes its circuit breaker and the daily budget, gets
//! retries with backoff for transient failures, one repair attempt for an invalid or truncated
//! answer, and books every call in the ledger. State shared by concurrent requests (breakers,
//! budget) sits behind one mutex that is never held across an await.

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
use super::config::{LlmConfig, ModelPrice};
use super::error::{Attempt, LlmError};
use super::failure::{CallFailure, FailureClass, ProviderReply, Usage};
use super::metrics::LlmMetrics;
use super::request::{LlmRequest, PreparedCall, RequestKind, Target};
use super::tokens::{self, TokenizerFamily};
use super::{messages::LlmAlert, schema};
use crate::actors::db::{BookLlmUsage, NewLlmUsage};
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
}

/// One target's state for `/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetStatus {
    pub target: String,
    pub circuit: CircuitState,
    pub open_for_secs: Option<u64>,
    pub free: bool,
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
}

/// What concurrent requests share; [`LlmMetrics`] reads it at scrape time.
pub(super) struct Shared {
    pub(super) breakers: BTreeMap<Target, CircuitBreaker>,
    pub(super) budget: Budget,
}

/// Cheap to clone; clones share breakers and budget.
#[derive(Clone)]
pub struct Router {
    settings: RouterSettings,
    targets: Arc<BTreeMap<Target, TargetEntry>>,
    routes: Arc<BTreeMap<String, Vec<Target>>>,
    shared: Arc<Mutex<Shared>>,
    ledger: ComponentRecipient<BookLlmUsage>,
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
        let mut targets = BTreeMap::new();
        for provider in config.effective_providers() {
            let client = ProviderClient::new(&provider)?;
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
            })),
            ledger,
            alerts,
            metrics: None,
            log: log.new(slog::o!("logger" => "llm_router")),
        })
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
            targets: shared
                .breakers
                .iter()
                .map(|(target, breaker)| TargetStatus {
                    target: target.to_string(),
                    circuit: breaker.state(),
                    open_for_secs: breaker.open_for().map(|left| left.as_secs()),
                    free: self
                        .targets
                        .get(target)
                        .is_some_and(|entry| entry.price.is_free()),
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
        let (prompt, mut prompt_truncated) = tokens::fit_newest(
            &request.system,
            &request.parts,
            context_budget,
            entry.family,
        );
        let mut call = PreparedCall {
            system: request.system.clone(),
            prompt,
            schema: request.schema.clone(),
            max_output_tokens: max_output,
            temperature: request.temperature,
        };
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
            attempts.push(Attempt {
                target: target.clone(),
                outcome: "failed",
                class: Some(failure.class),
                detail: failure.message.clone(),
            });
            warn!(self.log, "LLM call failed";
                "target" => %target, "class" => failure.class.as_str(),
                "status" => failure.status, "error" => &failure.message);

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
                        &request.system,
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
