//! The LLM router's metrics (`discord_monitor_llm_*`), registered once when the service is
//! built and recorded through handles: calls and failures by class, latency, tokens and cost
//! per target, today's spend against the limit, and each target's circuit. The targets come
//! from the configuration, so every series exists from the start; today's spend and the
//! circuits are read at each scrape from the router of the current run (0 and closed before
//! it is built).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::config::LlmConfig;
use super::failure::{FailureClass, Usage};
use super::request::Target;
use super::router::{Shared, configured_targets};
use crate::circuit_breaker::CircuitState;
use crate::metrics::{CounterFamily, FamilySpec, HistogramFamily, Metrics, MetricsError};

const REQUESTS: FamilySpec<2> = FamilySpec {
    name: "discord_monitor_llm_requests_total",
    help: "LLM calls per target and outcome",
    label_names: ["target", "outcome"],
};
const FAILURES: FamilySpec<2> = FamilySpec {
    name: "discord_monitor_llm_failures_total",
    help: "Failed LLM calls per target and failure class",
    label_names: ["target", "class"],
};
const DURATION: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_llm_request_duration_seconds",
    help: "LLM call latency per target",
    label_names: ["target"],
};
const TOKENS: FamilySpec<2> = FamilySpec {
    name: "discord_monitor_llm_tokens_total",
    help: "Tokens per LLM target, input and output (thinking included)",
    label_names: ["target", "direction"],
};
const COST: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_llm_cost_usd_total",
    help: "US dollars booked per LLM target",
    label_names: ["target"],
};

/// Seconds; model calls take from a fraction of a second to a couple of minutes.
const LLM_LATENCY_BUCKETS_SECONDS: &[f64] = &[0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// The breakers and budget of the router of the current run, once built.
type RouterState = Arc<Mutex<Option<Arc<Mutex<Shared>>>>>;

/// Cheap to clone; clones (and every rebuilt router) share the series.
#[derive(Clone)]
pub struct LlmMetrics {
    requests: CounterFamily<2>,
    failures: CounterFamily<2>,
    duration: HistogramFamily<1>,
    tokens: CounterFamily<2>,
    cost: CounterFamily<1>,
    router: RouterState,
}

impl LlmMetrics {
    /// Registers every `discord_monitor_llm_*` family in `metrics`, with a series for each
    /// target `config` names.
    pub fn register(metrics: &Arc<Metrics>, config: &LlmConfig) -> Result<Self, MetricsError> {
        let targets: Vec<String> = configured_targets(config)
            .iter()
            .map(Target::to_string)
            .collect();
        let each = |suffixes: &'static [&'static str]| {
            targets.iter().flat_map(move |target| {
                suffixes
                    .iter()
                    .map(move |suffix| [target.as_str(), *suffix])
            })
        };
        let failure_classes = FailureClass::ALL.map(FailureClass::as_str);
        let router: RouterState = Arc::default();
        let spent = Arc::clone(&router);
        metrics.gauge_fn(
            "discord_monitor_llm_spent_today_usd",
            "US dollars booked on LLM calls today (UTC)",
            &[],
            move || read(&spent, |shared| shared.budget.spent_usd()).unwrap_or(0.0),
        )?;
        metrics
            .gauge(
                "discord_monitor_llm_daily_limit_usd",
                "llm.daily_cost_limit",
                &[],
            )?
            .set(config.daily_cost_limit);
        for target in configured_targets(config) {
            let circuit = Arc::clone(&router);
            let label = target.to_string();
            metrics.gauge_fn(
                "discord_monitor_llm_circuit_state",
                "Circuit of each LLM target: 0 closed, 1 half-open, 2 open",
                &[("target", &label)],
                move || {
                    read(&circuit, |shared| {
                        shared.breakers.get(&target).map(|breaker| breaker.state())
                    })
                    .flatten()
                    .map_or(0.0, |state| match state {
                        CircuitState::Closed => 0.0,
                        CircuitState::HalfOpen => 1.0,
                        CircuitState::Open => 2.0,
                    })
                },
            )?;
        }
        Ok(Self {
            requests: CounterFamily::register(metrics, REQUESTS, each(&["ok", "error"]))?,
            failures: CounterFamily::register(
                metrics,
                FAILURES,
                targets
                    .iter()
                    .flat_map(|target| failure_classes.map(|class| [target.as_str(), class])),
            )?,
            duration: HistogramFamily::register(
                metrics,
                DURATION,
                LLM_LATENCY_BUCKETS_SECONDS,
                targets.iter().map(|target| [target.as_str()]),
            )?,
            tokens: CounterFamily::register(metrics, TOKENS, each(&["in", "out"]))?,
            cost: CounterFamily::register(
                metrics,
                COST,
                targets.iter().map(|target| [target.as_str()]),
            )?,
            router,
        })
    }

    /// The scrape-time gauges read `shared` from now on (a new router after a restart).
    pub(super) fn attach(&self, shared: &Arc<Mutex<Shared>>) {
        *self.router.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(shared));
    }

    /// One call to `target`. Fails only when a target missing from the configuration the
    /// metrics were registered with cannot be registered.
    pub(super) fn record_call(
        &self,
        target: &Target,
        usage: Option<Usage>,
        cost_usd: f64,
        latency: Duration,
        failure: Option<FailureClass>,
    ) -> Result<(), MetricsError> {
        let target = target.to_string();
        let target = target.as_str();
        let outcome = if failure.is_some() { "error" } else { "ok" };
        self.requests.get([target, outcome])?.inc();
        if let Some(class) = failure {
            self.failures.get([target, class.as_str()])?.inc();
        }
        self.duration.get([target])?.observe_duration(latency);
        let usage = usage.unwrap_or_default();
        for (direction, tokens) in [("in", usage.input_tokens), ("out", usage.output_tokens)] {
            self.tokens.get([target, direction])?.inc_by(tokens);
        }
        self.cost.get([target])?.add(cost_usd);
        Ok(())
    }
}

/// `value` of the current router's state, if one is attached.
fn read<T>(router: &RouterState, value: impl FnOnce(&Shared) -> T) -> Option<T> {
    let current = router
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()?;
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    let shared = current.lock().unwrap_or_else(PoisonError::into_inner);
    Some(value(&shared))
}
