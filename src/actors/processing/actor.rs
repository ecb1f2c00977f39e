//! [`ProcessingActor`]: the processing manager. It runs the feeder, which moves messages from
//! the durable backlog into batches for the workers, and the watchdogs (memory, stalled
//! workers, throughput).
//!
//! The feeder reads the backlog in pages, in id order, taking only as many messages as the
//! room left in memory allows (`processing.max_queue_size`: a full pipeline makes it wait,
//! and whatever waits stays in the database). It reads on from the last id it saw, so new
//! messages are picked up within [`POLL_INTERVAL`]; every full-sweep interval
//! ([`FULL_SWEEP_INTERVAL`] in service) it starts
//! again from the lowest id, which finds history stored by backfill behind it and messages
//! handed back by a restarted worker. Messages the prefilters keep from the model (and every
//! message when no model is configured) go out at once in rule batches; the others wait for a
//! model batch of `processing.batch_size`, sent when full or when its first message has
//! waited `processing.batch_max_wait_secs`.
//!
//! Watchdogs, every watch interval ([`WATCH_INTERVAL`] in service): memory against its limit (the cgroup's, else
//! `processing.memory_limit_mb`) sheds optional work at 85% (no rescoring, at most a quarter
//! of the room used) and pauses the feeder at 100%; a worker with no progress for
//! `processing.stall_timeout_secs` is restarted through its supervisor and reported
//! ([`ProcessingStalled`], the ops rules' `pipeline_stalled`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::prelude::*;
use serde::Serialize;
use slog::{Logger, debug, info, o, warn};
use tokio::time::{Duration, Instant};

use super::error::ProcessingError;
use super::shared::{Batch, BatchKind, MemoryPressure, ProcessingShared, WorkerStatus};
use super::triage::Triage;
use super::worker::{RestartStalled, TriageWorker};
use crate::actors::db::{
    BacklogReason, DbActor, EnqueueRescore, GetBacklogFigures, LoadBacklog, snowflake_created_at_ms,
};
use crate::logging::error_chain;
use crate::supervisor::{ComponentHandle, Lifecycle};
use crate::system_stats::SharedProcessSampler;

/// Backlog rows per page read: one quick indexed query, small against the queue.
const PAGE_MAX: usize = 500;
/// Verdicts per rule batch: one transaction of a few hundred small rows.
const RULES_BATCH_MAX: usize = 500;
/// How soon a new message is seen once the feeder has caught up.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often the feeder reads the backlog from its lowest id again.
pub const FULL_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// How often the watchdogs look.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);
/// How often the backlog is counted for `/status` and the metrics.
const FIGURES_INTERVAL: Duration = Duration::from_secs(5);
/// Wait after a failed backlog read before the next.
const READ_RETRY: Duration = Duration::from_secs(2);
/// At most one rescoring pass a minute, of at most this many messages: rescoring is a trickle
/// behind new work, never a flood.
const RESCORE_INTERVAL: Duration = Duration::from_secs(60);
const RESCORE_PAGE: u32 = 1_000;
/// Fractions of the memory limit at which work is shed and the feeder pauses.
const SHED_RATIO: f64 = 0.85;
const PAUSE_RATIO: f64 = 1.0;
/// While shedding, the share of the room the feeder may fill.
const SHED_ROOM_DIVISOR: usize = 4;

/// The manager's settings.
#[derive(Debug, Clone)]
pub struct ProcessingSettings {
    pub batch_size: usize,
    pub batch_max_wait: Duration,
    pub stall_timeout: Duration,
    pub rescore_after_degraded: bool,
    /// Whether a model is configured for triage (else rules score everything).
    pub model_configured: bool,
    /// How often the watchdogs look ([`WATCH_INTERVAL`]) and the feeder starts again from the
    /// lowest id ([`FULL_SWEEP_INTERVAL`]); tests shorten them.
    pub watch_interval: Duration,
    pub full_sweep_interval: Duration,
}

/// A worker was restarted for making no progress; for the ops rules.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ProcessingStalled {
    pub worker: String,
    pub stalled_for: Duration,
}

pub struct ProcessingActor {
    shared: Arc<ProcessingShared>,
    triage: Arc<Triage>,
    db: ComponentHandle<DbActor>,
    settings: ProcessingSettings,
    workers: Vec<ComponentHandle<TriageWorker>>,
    sampler: Option<Arc<SharedProcessSampler>>,
    stalls: Option<Recipient<ProcessingStalled>>,
    lifecycle: Lifecycle,
    log: Logger,
}

impl ProcessingActor {
    #[allow(clippy::too_many_arguments)] // every one is a dependency handed in by the wiring
    pub fn new(
        shared: Arc<ProcessingShared>,
        triage: Arc<Triage>,
        db: ComponentHandle<DbActor>,
        settings: ProcessingSettings,
        workers: Vec<ComponentHandle<TriageWorker>>,
        sampler: Option<Arc<SharedProcessSampler>>,
        stalls: Option<Recipient<ProcessingStalled>>,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        Self {
            shared,
            triage,
            db,
            settings,
            workers,
            sampler,
            stalls,
            lifecycle,
            log: log.new(o!("logger" => "processing")),
        }
    }

    fn watch(&mut self) {
        let now = Instant::now();
        self.shared.sample_throughput(now);
        self.watch_memory();
        for (slot, worker) in self.shared.workers.iter().zip(&self.workers) {
            let Some(stalled_for) = slot.stalled_for(now) else {
                continue;
            };
            if stalled_for < self.settings.stall_timeout {
                continue;
            }
            // Counted once: the slot reads as idle until the restarted worker takes a batch.
            slot.step(super::shared::WorkerPhase::Idle, 0);
            self.shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = worker.try_send(RestartStalled { stalled_for }) {
                warn!(self.log, "Stalled worker could not be told to restart";
                    "worker" => &slot.name, "error" => %err);
            }
            if let Some(stalls) = &self.stalls
                && let Err(err) = stalls.try_send(ProcessingStalled {
                    worker: slot.name.clone(),
                    stalled_for,
                })
            {
                warn!(self.log, "Stall not reported to the ops rules"; "error" => %err);
            }
        }
    }

    fn watch_memory(&self) {
        let Some(sampler) = &self.sampler else {
            return;
        };
        let ratio = match sampler.figures() {
            Ok(figures) => figures.memory_used_ratio,
            Err(err) => {
                debug!(self.log, "No memory figures"; "error" => %err);
                return;
            }
        };
        let pressure = pressure_at(ratio);
        let before = self.shared.pressure();
        if pressure != before {
            self.shared.set_pressure(pressure);
            let used_percent = format!("{:.1}", ratio * 100.0);
            match pressure {
                MemoryPressure::Normal => {
                    info!(self.log, "Memory back under its limit; all work resumed";
                    "used_percent" => used_percent)
                }
                MemoryPressure::High => {
                    warn!(self.log, "Memory high; shedding optional triage work";
                    "used_percent" => used_percent)
                }
                MemoryPressure::Critical => {
                    warn!(self.log, "Memory at its limit; triage backlog paused";
                    "used_percent" => used_percent)
                }
            }
        }
    }
}

/// The pressure at `ratio` of the memory limit.
pub fn pressure_at(ratio: f64) -> MemoryPressure {
    if ratio >= PAUSE_RATIO {
        MemoryPressure::Critical
    } else if ratio >= SHED_RATIO {
        MemoryPressure::High
    } else {
        MemoryPressure::Normal
    }
}

impl Actor for ProcessingActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.lifecycle.up();
        let feeder = Feeder {
            shared: Arc::clone(&self.shared),
            triage: Arc::clone(&self.triage),
            db: self.db.clone(),
            settings: self.settings.clone(),
            log: self.log.clone(),
        };
        ctx.spawn(feeder.run().into_actor(self).map(|(), actor, ctx| {
            info!(actor.log, "Triage queue closed; feeder finished");
            ctx.stop();
        }));
        ctx.run_interval(self.settings.watch_interval, |actor, _ctx| actor.watch());
    }
}

impl Supervised for ProcessingActor {
    /// The feeder's pending batches were dropped with it, which handed their messages back.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        warn!(self.log, "Processing manager restarting");
    }
}

/// What `/status` shows of the processing pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessingStatus {
    /// `running`, or `paused` while memory is at its limit.
    pub state: &'static str,
    /// `llm` when a model is configured for triage, else `rules`.
    pub scoring: &'static str,
    pub memory_pressure: MemoryPressure,
    pub queue_depth: usize,
    pub queue_capacity: usize,
    /// Stored messages not triaged yet, as last counted.
    pub backlog_size: Option<u64>,
    pub oldest_unanalysed_age_secs: Option<u64>,
    /// Messages scored per second over the last minute.
    pub throughput_per_sec: f64,
    pub triage: TriageCounts,
    pub stalls: u64,
    pub workers: Vec<WorkerStatus>,
    pub last_error: Option<String>,
}

/// Verdicts since the process started.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TriageCounts {
    pub scored: u64,
    pub llm: u64,
    pub rules: u64,
    pub prefilter: u64,
    pub degraded: u64,
    pub needs_attention: u64,
    pub model_calls: u64,
    pub model_retries: u64,
    pub cost_usd: f64,
    pub batches: u64,
    pub already_done: u64,
    pub write_failures: u64,
}

impl ProcessingShared {
    pub fn counts(&self) -> TriageCounts {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        TriageCounts {
            scored: counters.scored(),
            llm: read(&counters.llm),
            rules: read(&counters.rules),
            prefilter: read(&counters.prefilter),
            degraded: read(&counters.degraded),
            needs_attention: read(&counters.needs_attention),
            model_calls: read(&counters.model_calls),
            model_retries: read(&counters.model_retries),
            cost_usd: read(&counters.cost_micro_usd) as f64 / 1_000_000.0,
            batches: read(&counters.batches),
            already_done: read(&counters.already_done),
            write_failures: read(&counters.write_failures),
        }
    }

    /// `model_configured`: whether a model is configured for triage.
    pub fn status(&self, model_configured: bool) -> ProcessingStatus {
        let now = Instant::now();
        let backlog = self.backlog();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let pressure = self.pressure();
        ProcessingStatus {
            state: if pressure == MemoryPressure::Critical {
                "paused"
            } else {
                "running"
            },
            scoring: if model_configured { "llm" } else { "rules" },
            memory_pressure: pressure,
            queue_depth: self.depth(),
            queue_capacity: self.capacity(),
            backlog_size: backlog.map(|figures| figures.size),
            oldest_unanalysed_age_secs: backlog.and_then(|figures| figures.oldest_message_id).map(
                |id| {
                    u64::try_from((now_ms - snowflake_created_at_ms(id)).max(0) / 1000).unwrap_or(0)
                },
            ),
            throughput_per_sec: self.throughput_per_sec(),
            triage: self.counts(),
            stalls: self.counters.stalls.load(Ordering::Relaxed),
            workers: self.workers.iter().map(|slot| slot.status(now)).collect(),
            last_error: self.last_error(),
        }
    }
}

/// The loop that moves the backlog into batches; see the module doc.
struct Feeder {
    shared: Arc<ProcessingShared>,
    triage: Arc<Triage>,
    db: ComponentHandle<DbActor>,
    settings: ProcessingSettings,
    log: Logger,
}

/// The feeder's batches being filled.
struct Pending {
    model: Option<Batch>,
    rules: Option<Batch>,
}

impl Feeder {
    /// Runs until the queue to the workers is closed.
    async fn run(self) {
        let mut after = 0u64;
        let sweep_every = self.settings.full_sweep_interval;
        let mut next_full_sweep = Instant::now() + sweep_every;
        let mut next_figures = Instant::now();
        let mut last_rescore: Option<Instant> = None;
        let mut pending = Pending {
            model: None,
            rules: None,
        };
        loop {
            let now = Instant::now();
            if now >= next_figures {
                next_figures = now + FIGURES_INTERVAL;
                self.count_backlog().await;
            }
            if !self.flush(&mut pending, now).await {
                return;
            }
            let pressure = self.shared.pressure();
            if pressure == MemoryPressure::Critical {
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            if pressure == MemoryPressure::Normal {
                last_rescore = self.maybe_rescore(last_rescore).await;
            }
            let room = match pressure {
                MemoryPressure::Normal => self.shared.available(),
                _ => {
                    (self.shared.capacity() / SHED_ROOM_DIVISOR).saturating_sub(self.shared.depth())
                }
            };
            let page = room.min(PAGE_MAX);
            if page == 0 {
                let deadline = self.deadline(&pending);
                tokio::select! {
                    () = self.shared.wait_for_room() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
                continue;
            }
            if now >= next_full_sweep {
                after = 0;
                next_full_sweep = now + sweep_every;
            }
            let generation = self.shared.begin_read();
            let limit = u32::try_from(page).unwrap_or(u32::MAX);
            let items = match self.db.ask(LoadBacklog { after, limit }).await {
                Ok(items) => items,
                Err(err) => {
                    let err = ProcessingError::from(err);
                    warn!(self.log, "Triage backlog not readable; trying again";
                        "error" => %error_chain(&err));
                    self.shared.set_error(Some(error_chain(&err)));
                    tokio::time::sleep(READ_RETRY).await;
                    continue;
                }
            };
            let caught_up = items.len() < page;
            if let Some(last) = items.last() {
                after = last.message_id;
            }
            for item in self.shared.fresh(generation, items) {
                let to_model = self.settings.model_configured
                    && (item.reason == BacklogReason::Rescore || self.triage.skip(&item).is_none());
                let (slot, kind) = if to_model {
                    (&mut pending.model, BatchKind::Model)
                } else {
                    (&mut pending.rules, BatchKind::Rules)
                };
                slot.get_or_insert_with(|| Batch::new(kind, &self.shared))
                    .items
                    .push(item);
            }
            if !self.flush(&mut pending, Instant::now()).await {
                return;
            }
            if caught_up {
                let wake = self.deadline(&pending).min(Instant::now() + POLL_INTERVAL);
                tokio::time::sleep_until(wake).await;
            }
        }
    }

    /// When the pending model batch must go out (or the next poll).
    fn deadline(&self, pending: &Pending) -> Instant {
        pending
            .model
            .as_ref()
            .map(|batch| batch.taken_at + self.settings.batch_max_wait)
            .unwrap_or_else(|| Instant::now() + POLL_INTERVAL)
    }

    /// Sends every full batch, the rule batch, and a model batch whose wait is over; false
    /// once the workers' queue is closed.
    async fn flush(&self, pending: &mut Pending, now: Instant) -> bool {
        let batch_size = self.settings.batch_size.max(1);
        let mut ready = Vec::new();
        if let Some(model) = &mut pending.model {
            while model.len() >= batch_size {
                ready.push(model.split_off_front(batch_size));
            }
            let due = !model.is_empty() && now >= model.taken_at + self.settings.batch_max_wait;
            if model.is_empty() || due {
                ready.extend(pending.model.take().filter(|batch| !batch.is_empty()));
            }
        }
        if let Some(mut rules) = pending.rules.take() {
            while rules.len() > RULES_BATCH_MAX {
                ready.push(rules.split_off_front(RULES_BATCH_MAX));
            }
            if !rules.is_empty() {
                ready.push(rules);
            }
        }
        for batch in ready {
            if self.shared.sender().send(batch).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn count_backlog(&self) {
        match self.db.ask(GetBacklogFigures).await {
            Ok(figures) => self.shared.set_backlog(figures),
            Err(err) => debug!(self.log, "Triage backlog not counted"; "error" => %err),
        }
    }

    /// After a model answered again, puts rule verdicts scored meanwhile back on the backlog
    /// (at most one pass per [`RESCORE_INTERVAL`]).
    async fn maybe_rescore(&self, last: Option<Instant>) -> Option<Instant> {
        if !(self.settings.rescore_after_degraded && self.settings.model_configured) {
            return last;
        }
        let now = Instant::now();
        if last.is_some_and(|at| now < at + RESCORE_INTERVAL) || !self.shared.take_model_answered()
        {
            return last;
        }
        match self
            .db
            .ask(EnqueueRescore {
                limit: RESCORE_PAGE,
            })
            .await
        {
            Ok(0) => {}
            Ok(queued) => {
                info!(self.log, "Model answers again; rule-scored messages queued for rescoring";
                "messages" => queued)
            }
            Err(err) => warn!(self.log, "Rescoring not queued"; "error" => %err),
        }
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_pressure_levels() {
        assert_eq!(pressure_at(0.5), MemoryPressure::Normal);
        assert_eq!(pressure_at(0.85), MemoryPressure::High);
        assert_eq!(pressure_at(0.99), MemoryPressure::High);
        assert_eq!(pressure_at(1.0), MemoryPressure::Critical);
    }
}
