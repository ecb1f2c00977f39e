//! [`OpsActor`]: evaluates the operational alert [`rules`](super::rules) every
//! `alerts.rules_interval_secs` and sends what they raise or resolve to the AlertActor.
//!
//! Figures it reads itself on each evaluation ([`OpsSources`]): process memory and CPU
//! (`sysinfo`, against the cgroup limits when present), failed components and the database
//! probe (the HealthActor),
//! the Discord error count and the pipeline's stall time (functions the wiring provides).
//! Facts others push to it, through `Recipient`s handed out at wiring time: the LLM spend
//! ([`LlmSpend`], so the LLM router can report its budget), backup outcomes
//! ([`BackupOutcome`]) and database checks ([`DatabaseCheckOutcome`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, debug, o, warn};

use super::config::Severity;
use super::messages::Alert;
use super::rules::{OpsRules, OpsSnapshot, OpsThresholds};
use crate::actors::health::{ComponentStatus, GetHealth, HealthActor, ProbeStatus};
use crate::actors::llm::LlmAlert;
use crate::logging::error_chain;
use crate::metrics::Metrics;
use crate::supervisor::{ComponentRecipient, Lifecycle};
use crate::system_stats::{MemoryLimitSource, SharedProcessSampler};

/// Counts of something that only grows (errors since start).
pub type CountFn = Arc<dyn Fn() -> u64 + Send + Sync>;
/// How long work has waited without progress right now.
pub type StallFn = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Where the actor reads its figures; every source is optional.
#[derive(Clone, Default)]
pub struct OpsSources {
    pub sampler: Option<Arc<SharedProcessSampler>>,
    /// Cores the process may use (see [`cpu_limit_cores`]).
    pub cpu_limit_cores: f64,
    pub health: Option<Addr<HealthActor>>,
    /// A HealthActor probe whose failure counts as a database problem (`database_writable`).
    pub database_probe: Option<String>,
    pub discord_errors: Option<CountFn>,
    pub pipeline_stall: Option<StallFn>,
}

/// Today's LLM spend; the LLM router sends it after each call (or periodically).
#[derive(Debug, Clone, Copy, PartialEq, Message)]
#[rtype(result = "()")]
pub struct LlmSpend {
    pub spent_usd: f64,
    pub limit_usd: f64,
}

/// The outcome of the latest database backup.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct BackupOutcome {
    pub error: Option<String>,
}

/// The outcome of the latest database integrity check.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct DatabaseCheckOutcome {
    pub problem: Option<String>,
}

/// Evaluate now instead of at the next interval; answers how many alerts were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "usize")]
pub struct EvaluateNow;

pub struct OpsActor {
    rules: OpsRules,
    thresholds: OpsThresholds,
    sources: OpsSources,
    /// Facts pushed by others since start; kept across evaluations.
    pushed: OpsSnapshot,
    alerts: ComponentRecipient<Alert>,
    interval: Duration,
    lifecycle: Lifecycle,
    log: Logger,
}

impl OpsActor {
    pub fn new(
        thresholds: OpsThresholds,
        interval: Duration,
        sources: OpsSources,
        alerts: ComponentRecipient<Alert>,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        OpsActor {
            rules: OpsRules::new(thresholds.clone()),
            thresholds,
            sources,
            pushed: OpsSnapshot::default(),
            alerts,
            interval,
            lifecycle,
            log: log.new(o!("logger" => "alerts")),
        }
    }

    /// The figures read synchronously (cheap: one `/proc` read at most once a second).
    fn read_snapshot(&self) -> OpsSnapshot {
        let mut snapshot = self.pushed.clone();
        if let Some(sampler) = &self.sources.sampler {
            match sampler.figures() {
                Ok(figures) => {
                    snapshot.memory_used_ratio = Some(figures.memory_used_ratio);
                    snapshot.memory_limit_source = Some(match figures.memory_limit_source {
                        MemoryLimitSource::Cgroup => "cgroup",
                        MemoryLimitSource::Config => "config",
                    });
                    let cores = self.sources.cpu_limit_cores.max(f64::MIN_POSITIVE);
                    snapshot.cpu_used_ratio = Some(f64::from(figures.cpu_percent) / 100.0 / cores);
                }
                Err(err) => debug!(self.log, "No process figures"; "error" => %err),
            }
        }
        snapshot.discord_errors_total = self.sources.discord_errors.as_ref().map(|count| count());
        snapshot.pipeline_stalled_for = self.sources.pipeline_stall.as_ref().map(|stall| stall());
        snapshot
    }

    fn evaluate(&mut self) -> ResponseActFuture<Self, usize> {
        let snapshot = self.read_snapshot();
        let health = self.sources.health.clone();
        let database_probe = self.sources.database_probe.clone();
        let read_health = async move {
            let health = health?;
            let report = health
                .send(GetHealth {
                    refresh_probes: false,
                })
                .await
                .ok()?;
            let probe = database_probe
                .and_then(|name| report.probes.get(&name).cloned())
                .and_then(|probe| match probe.status {
                    ProbeStatus::Passing => Some(None),
                    ProbeStatus::Failing => Some(Some(probe.last_error.unwrap_or_default())),
                    ProbeStatus::Pending => None,
                });
            let failed = report
                .components
                .into_iter()
                .filter(|(_, component)| component.status == ComponentStatus::Failed)
                .map(|(name, component)| (name, component.last_error.unwrap_or_default()))
                .collect::<BTreeMap<_, _>>();
            Some((failed, probe))
        };
        Box::pin(
            read_health
                .into_actor(self)
                .then(move |health, actor, _ctx| {
                    let mut snapshot = snapshot;
                    if let Some((failed, probe)) = health {
                        snapshot.failed_components = Some(failed);
                        snapshot.database_problem =
                            worst_database_problem(snapshot.database_problem.take(), probe);
                    }
                    let alerts = actor.rules.evaluate(&snapshot, Instant::now());
                    let count = alerts.len();
                    let recipient = actor.alerts.clone();
                    let log = actor.log.clone();
                    actor.lifecycle.up();
                    async move {
                        for alert in alerts {
                            let key = alert.dedup_key.clone();
                            match recipient.send(alert).await {
                                Ok(Ok(_)) => {}
                                Ok(Err(err)) => warn!(log, "Ops alert not queued";
                            "dedup_key" => &key, "error" => error_chain(&err)),
                                Err(err) => warn!(log, "Ops alert not queued";
                            "dedup_key" => &key, "error" => error_chain(&err)),
                            }
                        }
                        count
                    }
                    .into_actor(actor)
                }),
        )
    }
}

impl Actor for OpsActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.lifecycle.up();
        ctx.run_interval(self.interval, |actor, ctx| {
            let evaluation = actor.evaluate();
            ctx.spawn(evaluation.map(|_, _, _| ()));
        });
    }
}

impl Supervised for OpsActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.rules = OpsRules::new(self.thresholds.clone());
        self.pushed = OpsSnapshot::default();
    }
}

impl Handler<LlmSpend> for OpsActor {
    type Result = ();

    fn handle(&mut self, msg: LlmSpend, _ctx: &mut Self::Context) {
        // No budget (0) means unlimited: nothing to warn about.
        self.pushed.llm_budget_used_ratio =
            (msg.limit_usd > 0.0).then(|| msg.spent_usd.max(0.0) / msg.limit_usd);
    }
}

/// The LLM router's events: its budget share feeds the 80%/100% rule (which fires and
/// resolves like every rule); a target whose key, credits or quota failed is an alert of its
/// own, one per target within the cooldown.
impl Handler<LlmAlert> for OpsActor {
    type Result = ();

    fn handle(&mut self, msg: LlmAlert, ctx: &mut Self::Context) {
        match msg {
            LlmAlert::Budget {
                spent_usd,
                limit_usd,
                ..
            } => {
                self.pushed.llm_budget_used_ratio =
                    (limit_usd > 0.0).then(|| spent_usd.max(0.0) / limit_usd);
            }
            LlmAlert::TargetDown { target, message } => {
                let alert = Alert::new(
                    "llm_target_down",
                    Severity::Error,
                    format!("LLM target {target} is down"),
                    format!(
                        "Calls to {target} fail with: {message}. Its circuit is open; \
                         requests fall back to the next target of their route."
                    ),
                )
                .with_key(format!("llm_target_down:{target}"))
                .with_field("target", target.to_string());
                let recipient = self.alerts.clone();
                let log = self.log.clone();
                ctx.spawn(
                    async move {
                        if let Err(err) = recipient.send(alert).await {
                            warn!(log, "LLM alert not queued"; "error" => error_chain(&err));
                        }
                    }
                    .into_actor(self),
                );
            }
        }
    }
}

impl Handler<BackupOutcome> for OpsActor {
    type Result = ();

    fn handle(&mut self, msg: BackupOutcome, _ctx: &mut Self::Context) {
        self.pushed.backup_problem = Some(msg.error);
    }
}

impl Handler<DatabaseCheckOutcome> for OpsActor {
    type Result = ();

    fn handle(&mut self, msg: DatabaseCheckOutcome, _ctx: &mut Self::Context) {
        self.pushed.database_problem = Some(msg.problem);
    }
}

impl Handler<EvaluateNow> for OpsActor {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, _msg: EvaluateNow, _ctx: &mut Self::Context) -> Self::Result {
        self.evaluate()
    }
}

/// A reported problem wins over a passing check; a passing check over no news.
fn worst_database_problem(
    pushed: Option<Option<String>>,
    probe: Option<Option<String>>,
) -> Option<Option<String>> {
    match (pushed, probe) {
        (Some(Some(problem)), _) | (_, Some(Some(problem))) => Some(Some(problem)),
        (Some(None), _) | (_, Some(None)) => Some(None),
        (None, None) => None,
    }
}

/// Cores this process may use: the cgroup v2 CPU quota (`cpu.max`) when one is set, else the
/// cores the OS gives us.
pub fn cpu_limit_cores() -> f64 {
    let quota = std::fs::read_to_string("/sys/fs/cgroup/cpu.max")
        .ok()
        .and_then(|text| parse_cpu_max(&text));
    quota.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|cores| cores.get() as f64)
            .unwrap_or(1.0)
    })
}

/// `"200000 100000"` is 2 cores; `"max 100000"` is no quota.
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// Discord API errors so far, from the metrics registry: REST answers with status 4xx/5xx or
/// none at all (429s included), plus gateway reconnects.
pub fn discord_errors_from(metrics: &Metrics) -> u64 {
    let rendered = metrics.render_json();
    let values = |name: &str| {
        rendered["metrics"][name]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let rest: f64 = values("discord_monitor_rest_requests_total")
        .iter()
        .filter(|series| {
            let status = series["labels"]["status"].as_str().unwrap_or_default();
            status == "error" || status.parse::<u16>().is_ok_and(|code| code >= 400)
        })
        .filter_map(|series| series["value"].as_f64())
        .sum();
    let reconnects: f64 = values("discord_monitor_gateway_reconnects_total")
        .iter()
        .filter_map(|series| series["value"].as_f64())
        .sum();
    (rest + reconnects) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_database_problem_wins() {
        let problem = || Some(Some("disk I/O error".to_owned()));
        assert_eq!(worst_database_problem(problem(), Some(None)), problem());
        assert_eq!(worst_database_problem(Some(None), problem()), problem());
        assert_eq!(worst_database_problem(None, Some(None)), Some(None));
        assert_eq!(worst_database_problem(None, None), None);
    }

    #[test]
    fn cpu_quota_from_cgroup_v2() {
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert!(cpu_limit_cores() > 0.0);
    }

    #[test]
    fn discord_errors_count_failed_rest_calls_and_reconnects() {
        let metrics = Metrics::new();
        let rest = |status: &str| {
            metrics
                .counter(
                    "discord_monitor_rest_requests_total",
                    "Discord REST requests by route template and status (error: no answer)",
                    &[("route", "/channels/{id}/messages"), ("status", status)],
                )
                .unwrap()
        };
        rest("200").inc_by(50);
        rest("429").inc_by(3);
        rest("502").inc_by(2);
        rest("error").inc();
        metrics
            .counter(
                "discord_monitor_gateway_reconnects_total",
                "Gateway connections lost and attempted again.",
                &[],
            )
            .unwrap()
            .inc_by(4);
        assert_eq!(discord_errors_from(&metrics), 10);
    }
}
