//! The HealthActor: keeps every component's status and every probe's last result, decides
//! liveness and readiness from them, and logs each change under the `health` logger.
//!
//! It is the sink of the supervisors' reports, so it is not supervised itself (a restart would
//! have to forget every status it holds); none of its handlers can fail. It also evaluates the
//! operational alert rules ([`super::ops`]), since it holds most of what they look at.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use slog::{Logger, debug, error, info, o, warn};

use super::error::ProbeError;
use super::messages::{
    ComponentHealth, GetHealth, HealthReport, Probe, ProbeHealth, ProbeStatus, RegisterProbe,
    SetShuttingDown,
};
use super::ops::OpsRulesState;
use super::rules::OpsSnapshot;
use crate::supervisor::{ComponentStatus, ComponentStatusChanged};

/// Messages; status changes are rare and admin requests come a few per second, so this leaves
/// room for every component restarting at once plus probe registrations.
const MAILBOX_CAPACITY: usize = 256;

/// Default bound on one probe run. Kubernetes' probe timeout defaults to 1 s, but a refreshed
/// report is for humans and the scheduled runs are in the background, so a slow but working
/// database (5 s busy timeout) should not count as down.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probe intervals below this are raised to it (a zero interval would panic the timer); small
/// enough for tests.
const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// A passing result older than this many probe intervals (plus the timeout) no longer counts:
/// the scheduled runs have stopped finishing, which is itself a problem.
const PROBE_RESULT_MAX_AGE_INTERVALS: u32 = 3;

pub struct HealthActor {
    pub(super) log: Logger,
    probe_interval: Duration,
    probe_timeout: Duration,
    started_at: Instant,
    components: BTreeMap<String, ComponentHealth>,
    probes: BTreeMap<String, ProbeEntry>,
    shutting_down: bool,
    /// Readiness at the last change, so flips are logged once.
    was_ready: bool,
    /// The operational alert rules ([`super::ops`]), once enabled.
    pub(super) ops: Option<OpsRulesState>,
    /// Facts pushed for the rules (LLM spend, backups, database checks); kept from the start.
    pub(super) ops_facts: OpsSnapshot,
}

struct ProbeEntry {
    probe: Probe,
    /// Runs started and not finished; scheduled runs skip a probe still running so a hung
    /// dependency does not pile up checks.
    in_flight: u32,
    /// Start of the run whose result is recorded; an older run finishing late is ignored.
    recorded_run: Option<Instant>,
    finished_at: Option<Instant>,
    health: ProbeHealth,
}

/// One finished probe run.
struct ProbeRun {
    name: String,
    started: Instant,
    latency: Duration,
    outcome: Result<(), ProbeError>,
}

impl HealthActor {
    /// `probe_interval` is how often the probes run (`monitoring.health_check_interval_seconds`).
    pub fn new(probe_interval: Duration, log: &Logger) -> Self {
        Self {
            log: log.new(o!("logger" => "health")),
            probe_interval: probe_interval.max(MIN_PROBE_INTERVAL),
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            started_at: Instant::now(),
            components: BTreeMap::new(),
            probes: BTreeMap::new(),
            shutting_down: false,
            was_ready: false,
            ops: None,
            ops_facts: OpsSnapshot::default(),
        }
    }

    /// Bounds each probe run (default [`DEFAULT_PROBE_TIMEOUT`]).
    pub fn with_probe_timeout(mut self, probe_timeout: Duration) -> Self {
        self.probe_timeout = probe_timeout;
        self
    }

    pub(super) fn components(&self) -> &BTreeMap<String, ComponentHealth> {
        &self.components
    }

    pub(super) fn probe_health(&self, name: &str) -> Option<&ProbeHealth> {
        self.probes.get(name).map(|entry| &entry.health)
    }

    fn probe_result_max_age(&self) -> Duration {
        self.probe_interval * PROBE_RESULT_MAX_AGE_INTERVALS + self.probe_timeout
    }

    /// Starts a run of the named probes; the returned future records the results.
    fn run_probes(&mut self, names: Vec<String>) -> impl ActorFuture<Self, Output = ()> + use<> {
        let timeout = self.probe_timeout;
        let runs: Vec<_> = names
            .into_iter()
            .filter_map(|name| {
                let entry = self.probes.get_mut(&name)?;
                entry.in_flight += 1;
                let check = entry.probe.run();
                Some(async move {
                    let started = Instant::now();
                    let outcome = match actix_rt::time::timeout(timeout, check).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => Err(ProbeError::Failed(error)),
                        Err(_elapsed) => Err(ProbeError::TimedOut(timeout)),
                    };
                    ProbeRun {
                        name,
                        started,
                        latency: started.elapsed(),
                        outcome,
                    }
                })
            })
            .collect();
        fut::wrap_future::<_, Self>(join_all(runs)).map(|runs, act, _ctx| {
            for run in runs {
                act.record_probe(run);
            }
            act.log_readiness_change();
        })
    }

    fn record_probe(&mut self, run: ProbeRun) {
        let Some(entry) = self.probes.get_mut(&run.name) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if entry
            .recorded_run
            .is_some_and(|recorded| recorded > run.started)
        {
            return;
        }
        entry.recorded_run = Some(run.started);
        entry.finished_at = Some(Instant::now());
        let now = Utc::now();
        let health = &mut entry.health;
        health.last_checked_at = Some(now);
        health.latency_ms = Some(u64::try_from(run.latency.as_millis()).unwrap_or(u64::MAX));
        let status = match &run.outcome {
            Ok(()) => ProbeStatus::Passing,
            Err(error) => {
                health.last_error = Some(error.to_string());
                health.last_error_at = Some(now);
                ProbeStatus::Failing
            }
        };
        if status == health.status {
            return;
        }
        let previous = health.status;
        health.status = status;
        health.since = now;
        match &run.outcome {
            Ok(()) => info!(self.log, "Health probe passing";
                "probe" => &run.name, "previous" => %previous,
                "latency_ms" => health.latency_ms),
            Err(error) => warn!(self.log, "Health probe failing";
                "probe" => &run.name, "required" => health.required, "error" => %error),
        }
    }

    fn apply_status(&mut self, change: ComponentStatusChanged) {
        let now = Utc::now();
        let required = change.readiness.is_required();
        let entry = self
            .components
            .entry(change.name.clone())
            .or_insert_with(|| new_component(required, now));
        entry.required = required;
        let status_changed = entry.status != change.status;
        let restarts_changed = entry.restarts != change.restarts;
        if let Some(error) = &change.error {
            entry.last_error = Some(error.clone());
            entry.last_error_at = Some(now);
        }
        entry.restarts = change.restarts;
        entry.needs_reconfiguration = change.needs_reconfiguration;
        if status_changed {
            entry.since = now;
            entry.status = change.status;
        }
        if !status_changed && !restarts_changed {
            return;
        }
        let log = &self.log;
        let name = &change.name;
        let error = change.error.as_deref();
        match change.status {
            ComponentStatus::Failed => error!(log, "Component failed";
                "component" => name, "required" => required, "restarts" => change.restarts,
                "error" => error),
            ComponentStatus::Restarting => warn!(log, "Component restarting";
                "component" => name, "restarts" => change.restarts, "error" => error),
            ComponentStatus::Degraded => warn!(log, "Component degraded";
                "component" => name, "error" => error),
            ComponentStatus::Up => info!(log, "Component up";
                "component" => name, "restarts" => change.restarts),
            ComponentStatus::Stopped => info!(log, "Component stopped"; "component" => name),
            ComponentStatus::Starting => debug!(log, "Component starting";
                "component" => name, "restarts" => change.restarts),
        }
    }

    fn probe_counts_as_passing(&self, entry: &ProbeEntry) -> bool {
        entry.health.status == ProbeStatus::Passing
            && entry
                .finished_at
                .is_some_and(|at| at.elapsed() <= self.probe_result_max_age())
    }

    fn not_ready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.shutting_down {
            reasons.push("shutting down".to_owned());
        }
        for (name, component) in &self.components {
            if component.required && !component.status.is_serving() {
                reasons.push(format!("component {name} is {}", component.status));
            }
        }
        for (name, entry) in &self.probes {
            if !entry.health.required || self.probe_counts_as_passing(entry) {
                continue;
            }
            reasons.push(match (entry.health.status, &entry.health.last_error) {
                (ProbeStatus::Pending, _) => format!("probe {name} has not finished yet"),
                (ProbeStatus::Failing, Some(error)) => format!("probe {name}: {error}"),
                (ProbeStatus::Failing, None) => format!("probe {name} is failing"),
                (ProbeStatus::Passing, _) => format!("probe {name} has not run recently"),
            });
        }
        reasons
    }

    /// False once a required component failed for good for a reason a process restart may
    /// cure; a component that needs reconfiguration (a rejected token) stays out of it, or an
    /// orchestrator would restart the pod in a loop, each time trying the same bad token.
    fn live(&self) -> bool {
        !self.components.values().any(|component| {
            component.required
                && component.status == ComponentStatus::Failed
                && !component.needs_reconfiguration
        })
    }

    fn report(&self) -> HealthReport {
        let not_ready_reasons = self.not_ready_reasons();
        HealthReport {
            live: self.live(),
            ready: not_ready_reasons.is_empty(),
            not_ready_reasons,
            shutting_down: self.shutting_down,
            uptime_secs: self.started_at.elapsed().as_secs(),
            components: self.components.clone(),
            probes: self
                .probes
                .iter()
                .map(|(name, entry)| (name.clone(), entry.health.clone()))
                .collect(),
        }
    }

    fn log_readiness_change(&mut self) {
        let reasons = self.not_ready_reasons();
        let ready = reasons.is_empty();
        if ready == self.was_ready {
            return;
        }
        self.was_ready = ready;
        if ready {
            info!(self.log, "Service ready");
        } else if self.shutting_down {
            info!(self.log, "Service not ready"; "reasons" => ?reasons);
        } else {
            warn!(self.log, "Service not ready"; "reasons" => ?reasons);
        }
    }
}

fn new_component(required: bool, now: DateTime<Utc>) -> ComponentHealth {
    ComponentHealth {
        status: ComponentStatus::Starting,
        required,
        last_error: None,
        last_error_at: None,
        restarts: 0,
        needs_reconfiguration: false,
        since: now,
    }
}

impl Actor for HealthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(self.probe_interval, |act, ctx| {
            let idle = act
                .probes
                .iter()
                .filter(|(_, entry)| entry.in_flight == 0)
                .map(|(name, _)| name.clone())
                .collect();
            ctx.spawn(act.run_probes(idle));
            // Stale results turn readiness off without any new message arriving.
            act.log_readiness_change();
        });
        debug!(self.log, "Health actor started";
            "probe_interval_ms" => self.probe_interval.as_millis(),
            "probe_timeout_ms" => self.probe_timeout.as_millis());
    }
}

impl Handler<ComponentStatusChanged> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: ComponentStatusChanged, _ctx: &mut Context<Self>) {
        self.apply_status(msg);
        self.log_readiness_change();
    }
}

impl Handler<RegisterProbe> for HealthActor {
    type Result = ();

    fn handle(&mut self, msg: RegisterProbe, ctx: &mut Context<Self>) {
        let entry = ProbeEntry {
            probe: msg.probe,
            in_flight: 0,
            recorded_run: None,
            finished_at: None,
            health: ProbeHealth {
                status: ProbeStatus::Pending,
                required: msg.required,
                latency_ms: None,
                last_checked_at: None,
                last_error: None,
                last_error_at: None,
                since: Utc::now(),
            },
        };
        debug!(self.log, "Health probe registered"; "probe" => &msg.name, "required" => msg.required);
        self.probes.insert(msg.name.clone(), entry);
        ctx.spawn(self.run_probes(vec![msg.name]));
        self.log_readiness_change();
    }
}

impl Handler<GetHealth> for HealthActor {
    type Result = ResponseActFuture<Self, HealthReport>;

    fn handle(&mut self, msg: GetHealth, _ctx: &mut Context<Self>) -> Self::Result {
        if !msg.refresh_probes {
            return Box::pin(fut::ready(self.report()));
        }
        let names = self.probes.keys().cloned().collect();
        Box::pin(self.run_probes(names).map(|(), act, _ctx| act.report()))
    }
}

impl Handler<SetShuttingDown> for HealthActor {
    type Result = ();

    fn handle(&mut self, _msg: SetShuttingDown, _ctx: &mut Context<Self>) {
        if !self.shutting_down {
            self.shutting_down = true;
            info!(self.log, "Shutting down, readiness off");
        }
        self.log_readiness_change();
    }
}
