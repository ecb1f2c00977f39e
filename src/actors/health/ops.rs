//! The operational alert rules, evaluated by the [`HealthActor`] every
//! `alerts.rules_interval_secs` once the wiring hands it the AlertActor ([`EnableOpsRules`]);
//! what they raise or resolve goes to the alert routes.
//!
//! The HealthActor already holds every component's status and every probe's result, so it
//! reads "a component failed after its restart budget" and "the database is not writable"
//! from itself. Other figures it reads on each evaluation ([`OpsSources`]): process memory and
//! CPU (`sysinfo`, against the cgroup limits when present), the Discord error count and the
//! pipeline's stall time (functions the wiring provides). Facts others push, through the
//! HealthActor's address handed out at wiring time: the LLM spend ([`LlmSpend`],
//! [`LlmAlert`]), backup outcomes ([`BackupOutcome`]), database checks
//! ([`IntegrityChecked`]) and triage workers restarted for a stall ([`ProcessingStalled`],
//! `pipeline_stalled` at once). Pushed facts are kept even before the rules are enabled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, debug, o, warn};

use super::actor::HealthActor;
use super::messages::ProbeStatus;
use super::rules::{OpsRules, OpsSnapshot, OpsThresholds, keys};
use crate::actors::alert::{Alert, Severity};
use crate::actors::backup::BackupOutcome;
use crate::actors::db::IntegrityChecked;
use crate::actors::llm::LlmAlert;
use crate::actors::processing::ProcessingStalled;
use crate::logging::error_chain;
use crate::supervisor::ComponentRecipient;
use crate::supervisor::ComponentStatus;
use crate::system_stats::{MemoryLimitSource, SharedProcessSampler};

/// Counts of something that only grows (errors since start), e.g. the rate limiter's failed
/// requests plus the gateway's reconnects, read from their metric handles.
pub type CountFn = Arc<dyn Fn() -> u64 + Send + Sync>;
/// How long work has waited without progress right now.
pub type StallFn = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Where the rules read figures the HealthActor does not hold; every source is optional.
#[derive(Clone, Default)]
pub struct OpsSources {
    pub sampler: Option<Arc<SharedProcessSampler>>,
    /// Cores the process may use (see [`cpu_limit_cores`]).
    pub cpu_limit_cores: f64,
    /// A probe whose failure counts as a database problem (`database_writable`).
    pub database_probe: Option<String>,
    pub discord_errors: Option<CountFn>,
    pub pipeline_stall: Option<StallFn>,
}

/// Turns the rules on: thresholds, how often, where figures come from, where alerts go.
/// Sent again, it replaces the previous setup (and forgets which rules were firing).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnableOpsRules {
    pub thresholds: OpsThresholds,
    pub interval: Duration,
    pub sources: OpsSources,
    pub alerts: ComponentRecipient<Alert>,
}

/// Today's LLM spend; the LLM router sends it after each call (or periodically).
#[derive(Debug, Clone, Copy, PartialEq, Message)]
#[rtype(result = "()")]
pub struct LlmSpend {
    pub spent_usd: f64,
    pub limit_usd: f64,
}

/// Evaluate now instead of at the next interval; answers how many alerts were raised or
/// resolved (0 while the rules are not enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "usize")]
pub struct EvaluateNow;

/// Evaluation intervals below this are raised to it (a zero interval would panic the timer);
/// small enough for tests.
const MIN_RULES_INTERVAL: Duration = Duration::from_millis(10);

/// The rules' state inside the HealthActor, once enabled.
pub(super) struct OpsRulesState {
    rules: OpsRules,
    sources: OpsSources,
    alerts: ComponentRecipient<Alert>,
    log: Logger,
    /// The timer of the current setup, cancelled when a new one replaces it.
    timer: SpawnHandle,
}

impl HealthActor {
    /// The figures of this moment: pushed facts, the actor's own component and probe state,
    /// and the sources (cheap: one `/proc` read at most once a second).
    fn ops_snapshot(&self, sources: &OpsSources) -> OpsSnapshot {
        let mut snapshot = self.ops_facts.clone();
        if let Some(sampler) = &sources.sampler {
            match sampler.figures() {
                Ok(figures) => {
                    snapshot.memory_used_ratio = Some(figures.memory_used_ratio);
                    snapshot.memory_limit_source = Some(match figures.memory_limit_source {
                        MemoryLimitSource::Cgroup => "cgroup",
                        MemoryLimitSource::Config => "config",
                    });
                    let cores = sources.cpu_limit_cores.max(f64::MIN_POSITIVE);
                    snapshot.cpu_used_ratio = Some(f64::from(figures.cpu_percent) / 100.0 / cores);
                }
                Err(err) => debug!(self.log, "No process figures"; "error" => %err),
            }
        }
        snapshot.discord_errors_total = sources.discord_errors.as_ref().map(|count| count());
        snapshot.pipeline_stalled_for = sources.pipeline_stall.as_ref().map(|stall| stall());
        snapshot.failed_components = Some(
            self.components()
                .iter()
                .filter(|(_, component)| component.status == ComponentStatus::Failed)
                .map(|(name, component)| {
                    (
                        name.clone(),
                        component.last_error.clone().unwrap_or_default(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        );
        let probe = sources
            .database_probe
            .as_ref()
            .and_then(|name| self.probe_health(name))
            .and_then(|probe| match probe.status {
                ProbeStatus::Passing => Some(None),
                ProbeStatus::Failing => Some(Some(probe.last_error.clone().unwrap_or_default())),
                ProbeStatus::Pending => None,
            });
        snapshot.database_problem = worst_database_problem(snapshot.database_problem.take(), probe);
        snapshot
    }

    /// Runs the rules once and queues what they raise; the number of alerts.
    fn evaluate_ops_rules(&mut self, ctx: &mut Context<Self>) -> usize {
        let Some(state) = &self.ops else {
            return 0;
        };
        let snapshot = self.ops_snapshot(&state.sources);
        let Some(state) = &mut self.ops else {
            return 0;
        };
        let alerts = state.rules.evaluate(&snapshot, Instant::now());
        let count = alerts.len();
        for alert in alerts {
            queue_alert(state, alert, ctx);
        }
        count
    }
}

/// Hands an alert to the AlertActor without blocking the HealthActor; the outbox makes it
/// durable once accepted.
fn queue_alert(state: &OpsRulesState, alert: Alert, ctx: &mut Context<HealthActor>) {
    let (recipient, log) = (state.alerts.clone(), state.log.clone());
    let key = alert.dedup_key.clone();
    ctx.spawn(fut::wrap_future::<_, HealthActor>(async move {
        match recipient.send(alert).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => warn!(log, "Ops alert not queued";
                    "dedup_key" => &key, "error" => error_chain(&err)),
            Err(err) => warn!(log, "Ops alert not queued";
                    "dedup_key" => &key, "error" => error_chain(&err)),
        }
    }));
}

impl Handler<EnableOpsRules> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: EnableOpsRules, ctx: &mut Context<Self>) {
        if let Some(previous) = self.ops.take() {
            ctx.cancel_future(previous.timer);
        }
        let interval = msg.interval.max(MIN_RULES_INTERVAL);
        let timer = ctx.run_interval(interval, |actor, ctx| {
            actor.evaluate_ops_rules(ctx);
        });
        self.ops = Some(OpsRulesState {
            rules: OpsRules::new(msg.thresholds),
            sources: msg.sources,
            alerts: msg.alerts,
            log: self.log.new(o!("logger" => "alerts")),
            timer,
        });
        debug!(self.log, "Ops alert rules enabled"; "interval_ms" => interval.as_millis());
    }
}

impl Handler<EvaluateNow> for HealthActor {
    type Result = usize;

    fn handle(&mut self, _msg: EvaluateNow, ctx: &mut Context<Self>) -> usize {
        self.evaluate_ops_rules(ctx)
    }
}

impl Handler<LlmSpend> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: LlmSpend, _ctx: &mut Context<Self>) {
        self.ops_facts.llm_budget_used_ratio = budget_ratio(msg.spent_usd, msg.limit_usd);
    }
}

/// The LLM router's events: its budget share feeds the 80%/100% rule (which fires and
/// resolves like every rule); a target whose key, credits or quota failed is an alert of its
/// own at once, one per target within the cooldown.
impl Handler<LlmAlert> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: LlmAlert, ctx: &mut Context<Self>) {
        match msg {
            LlmAlert::Budget {
                spent_usd,
                limit_usd,
                ..
            } => self.ops_facts.llm_budget_used_ratio = budget_ratio(spent_usd, limit_usd),
            LlmAlert::TargetDown { target, message } => {
                let Some(state) = &self.ops else {
                    warn!(self.log, "LLM target down; no alert routes to tell";
                        "target" => target.to_string(), "error" => &message);
                    return;
                };
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
                queue_alert(state, alert, ctx);
            }
        }
    }
}

/// A triage worker made no progress for `processing.stall_timeout_secs` and was restarted:
/// `pipeline_stalled` at once, one per worker within the cooldown.
impl Handler<ProcessingStalled> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: ProcessingStalled, ctx: &mut Context<Self>) {
        let Some(state) = &self.ops else {
            warn!(self.log, "Triage worker stalled; no alert routes to tell";
                "worker" => &msg.worker, "stalled_secs" => msg.stalled_for.as_secs());
            return;
        };
        let alert = Alert::new(
            keys::PIPELINE_STALLED,
            Severity::Error,
            "Processing pipeline stalled",
            format!(
                "Triage worker {} made no progress for {} s and was restarted; the messages \
                 it held wait on the backlog and are scored again.",
                msg.worker,
                msg.stalled_for.as_secs()
            ),
        )
        .with_key(format!("{}:{}", keys::PIPELINE_STALLED, msg.worker))
        .with_field("worker", msg.worker.clone())
        .with_field("stalled_secs", msg.stalled_for.as_secs().to_string());
        queue_alert(state, alert, ctx);
    }
}

impl Handler<BackupOutcome> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: BackupOutcome, _ctx: &mut Context<Self>) {
        self.ops_facts.backup_problem = Some(msg.error);
    }
}

impl Handler<IntegrityChecked> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: IntegrityChecked, _ctx: &mut Context<Self>) {
        self.ops_facts.database_problem = Some(msg.problem);
    }
}

/// No budget (0) means unlimited: nothing to warn about.
fn budget_ratio(spent_usd: f64, limit_usd: f64) -> Option<f64> {
    (limit_usd > 0.0).then(|| spent_usd.max(0.0) / limit_usd)
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

/// Cores this process may use: the container's CPU quota when one is set (cgroup v2
/// `cpu.max`, else cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), else the cores the OS
/// gives us. The quota is read exactly: `available_parallelism` rounds half a core up to one.
pub fn cpu_limit_cores() -> f64 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let v2 = read("/sys/fs/cgroup/cpu.max").and_then(|text| parse_cpu_max(&text));
    let v1 = || {
        ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
            .iter()
            .find_map(|dir| {
                parse_cfs_quota(
                    &read(&format!("{dir}/cpu.cfs_quota_us"))?,
                    &read(&format!("{dir}/cpu.cfs_period_us"))?,
                )
            })
    };
    v2.or_else(v1).unwrap_or_else(|| {
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

/// cgroup v1: quota `50000` over period `100000` is half a core; a quota of `-1` is none.
fn parse_cfs_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
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
    fn cpu_quota_from_cgroup_v2_and_v1() {
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cfs_quota("50000\n", "100000\n"), Some(0.5));
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
        assert!(cpu_limit_cores() > 0.0);
    }
}
