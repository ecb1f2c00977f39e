//! [`BackupActor`]: takes a database backup every `database.backup_interval_hours`, and on
//! demand ([`BackupNow`]); one at a time, on tokio's blocking pool.
//!
//! At start it sweeps what crashed attempts left and reads the last success (the `backups`
//! table and the directory): the first backup is due one interval after it, but not sooner
//! than a minute from now, so restarts neither skip backups nor cause a burst of them. After
//! a success the next is due one interval later; after a failure sooner (at most 30 min).
//!
//! Every outcome is logged, counted, recorded in the table, and sent to the ops rules as a
//! [`BackupOutcome`] (`error: None` on success, which resolves a "backup failed" alert). A
//! failed backup only degrades the component; a database that cannot be reached at all
//! stops the actor so its supervisor restarts it with a fresh pool.

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use slog::{Logger, error, o, warn};

use super::catalog::list_backups;
use super::error::BackupError;
use super::events::{BackupFailed, BackupSucceeded, BackupsFound};
use super::messages::{BackupNow, BackupStatus, GetBackupStatus, ListBackups};
use super::metrics::BackupMetrics;
use super::run::{
    BackupRecord, BackupSettings, StartupView, first_due, next_due_after, startup_view, take_backup,
};
use super::snapshot::BackupReason;
use crate::actors::db::Database;
use crate::logging::error_chain;
use crate::supervisor::Lifecycle;

/// The outcome of each backup, for whoever alerts on failed ones (the HealthActor's ops
/// rules): `error: None` on success.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct BackupOutcome {
    pub error: Option<String>,
}

pub struct BackupActor {
    /// A pool of its own on the service's database file.
    db: Database,
    settings: BackupSettings,
    /// The ops rules, which raise and resolve the "backup failed" alert.
    outcomes: Option<Recipient<BackupOutcome>>,
    metrics: BackupMetrics,
    lifecycle: Lifecycle,
    /// `logger = database.backup`.
    log: Logger,
    /// Set by `restarting()`: the pool may be why we restarted.
    reopen_on_start: bool,
    state: ScheduleState,
}

/// Everything `restarting()` forgets.
#[derive(Default)]
struct ScheduleState {
    /// The table has been read; the schedule is running.
    ready: bool,
    running_since: Option<DateTime<Utc>>,
    next_due: Option<DateTime<Utc>>,
    timer: Option<SpawnHandle>,
    last_success: Option<DateTime<Utc>>,
    last_success_path: Option<String>,
    last_outcome_ok: Option<bool>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    kept: usize,
    newest_size_bytes: Option<u64>,
    successes: u64,
    failures: u64,
}

impl BackupActor {
    pub fn new(
        db: Database,
        settings: BackupSettings,
        outcomes: Option<Recipient<BackupOutcome>>,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        Self {
            db,
            settings,
            outcomes,
            metrics: BackupMetrics::default(),
            lifecycle,
            log: log.new(o!("logger" => "database.backup")),
            reopen_on_start: false,
            state: ScheduleState::default(),
        }
    }

    /// Records each backup's figures in `metrics`.
    pub fn with_metrics(mut self, metrics: BackupMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn schedule(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        if let Some(timer) = self.state.timer.take() {
            ctx.cancel_future(timer);
        }
        let delay = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        self.state.next_due = Some(at);
        self.state.timer = Some(ctx.run_later(delay, |actor, ctx| {
            actor.state.timer = None;
            // A manual backup running now reschedules when it ends.
            if actor.state.running_since.is_none() {
                let backup = actor.backup(BackupReason::Scheduled);
                ctx.spawn(backup.map(|_, _, _| ()));
            }
        }));
    }

    /// Runs one backup on the blocking pool; the answer comes after its outcome is
    /// recorded, reported and the next one scheduled.
    fn backup(
        &mut self,
        reason: BackupReason,
    ) -> ResponseActFuture<Self, Result<BackupRecord, BackupError>> {
        if let Some(since) = self.state.running_since {
            return Box::pin(fut::ready(Err(BackupError::InProgress {
                started_at: since.to_rfc3339(),
            })));
        }
        self.state.running_since = Some(Utc::now());
        let (db, settings) = (self.db.clone(), self.settings.clone());
        let started = Instant::now();
        let work = async move {
            tokio::task::spawn_blocking(move || take_backup(&db, &settings, reason))
                .await
                .map_err(BackupError::Worker)?
        };
        Box::pin(work.into_actor(self).map(move |result, actor, ctx| {
            actor.finish(&result, reason, started.elapsed(), ctx);
            result
        }))
    }

    fn finish(
        &mut self,
        result: &Result<BackupRecord, BackupError>,
        reason: BackupReason,
        elapsed: Duration,
        ctx: &mut Context<Self>,
    ) {
        let now = Utc::now();
        self.state.running_since = None;
        match result {
            Ok(record) => {
                BackupSucceeded { record }.emit(&self.log, &self.metrics);
                let state = &mut self.state;
                state.last_success = Some(record.created_at);
                state.last_success_path = Some(record.path.clone());
                state.last_outcome_ok = Some(true);
                state.kept = record.kept;
                state.newest_size_bytes = Some(record.size_bytes);
                state.successes += 1;
                self.lifecycle.up();
                self.report(None, ctx);
            }
            Err(err) => {
                BackupFailed {
                    error: err,
                    reason,
                    duration: elapsed,
                }
                .emit(&self.log, &self.metrics);
                let cause = error_chain(err);
                let state = &mut self.state;
                state.last_outcome_ok = Some(false);
                state.last_error = Some(cause.clone());
                state.last_error_at = Some(now);
                state.failures += 1;
                self.lifecycle
                    .degraded(format!("latest backup failed: {cause}"));
                self.report(Some(cause.clone()), ctx);
                if err.requires_restart() {
                    self.lifecycle.fail(ctx, cause);
                    return;
                }
            }
        }
        let next = next_due_after(result.is_ok(), now, self.settings.interval);
        self.schedule(next, ctx);
    }

    /// Tells the ops rules; `send`, not `do_send`: a closed mailbox is logged.
    fn report(&self, error: Option<String>, ctx: &mut Context<Self>) {
        let Some(outcomes) = self.outcomes.clone() else {
            return;
        };
        let log = self.log.clone();
        ctx.spawn(
            async move {
                if let Err(err) = outcomes.send(BackupOutcome { error }).await {
                    warn!(log, "Backup outcome not delivered to the ops rules";
                        "error" => %err);
                }
            }
            .into_actor(self),
        );
    }

    fn started_with(&mut self, view: StartupView, ctx: &mut Context<Self>) {
        let due = first_due(view.last_success, Utc::now(), self.settings.interval);
        BackupsFound {
            view: &view,
            next_due_at: due,
        }
        .emit(&self.log, &self.metrics);
        let last_failure = view
            .last_failure
            .as_ref()
            .and_then(|row| DateTime::from_timestamp_millis(row.created_at_ms).map(|at| (at, row)));
        let state = &mut self.state;
        state.ready = true;
        state.last_success = view.last_success;
        state.kept = view.kept;
        state.newest_size_bytes = view.newest_size_bytes;
        if let Some((at, row)) = last_failure {
            state.last_error = row.error.clone();
            state.last_error_at = Some(at);
        }
        // The latest attempt decides what the ops rules hear now: a failure before the
        // restart is still a problem, a success clears an alert left open.
        let failed_last = last_failure.is_some_and(|(failed_at, _)| {
            view.last_success.is_none_or(|success| failed_at > success)
        });
        if failed_last {
            let cause = self.state.last_error.clone().unwrap_or_default();
            self.state.last_outcome_ok = Some(false);
            self.lifecycle
                .degraded(format!("latest backup failed: {cause}"));
            self.report(Some(cause), ctx);
        } else {
            if view.last_success.is_some() {
                self.state.last_outcome_ok = Some(true);
                self.report(None, ctx);
            }
            self.lifecycle.up();
        }
        self.schedule(due, ctx);
    }
}

impl Actor for BackupActor {
    type Context = Context<Self>;

    /// Reads the table and the directory before the first message: `ctx.wait` holds the
    /// mailbox, not the arbiter thread.
    fn started(&mut self, ctx: &mut Self::Context) {
        let (db, settings) = (self.db.clone(), self.settings.clone());
        let reopen = std::mem::take(&mut self.reopen_on_start);
        let start = async move {
            tokio::task::spawn_blocking(move || {
                let db = if reopen {
                    db.reopen().map_err(BackupError::Database)?
                } else {
                    db
                };
                let view = startup_view(&db, &settings)?;
                Ok((db, view))
            })
            .await
            .map_err(BackupError::Worker)?
        };
        ctx.wait(start.into_actor(self).map(
            |result: Result<(Database, StartupView), BackupError>, actor, ctx| match result {
                Ok((db, view)) => {
                    actor.db = db;
                    actor.started_with(view, ctx);
                }
                Err(err) => {
                    error!(actor.log, "Backup schedule could not start";
                        "error" => error_chain(&err),
                        "error_type" => super::events::error_type(&err));
                    actor.lifecycle.fail(ctx, error_chain(&err));
                }
            },
        ));
    }
}

impl Supervised for BackupActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        warn!(self.log, "Backup actor restarting");
        // Timers of the previous run die with it; a running attempt's answer is dropped.
        self.state = ScheduleState::default();
        self.reopen_on_start = true;
    }
}

impl Handler<BackupNow> for BackupActor {
    type Result = ResponseActFuture<Self, Result<BackupRecord, BackupError>>;

    fn handle(&mut self, _msg: BackupNow, _ctx: &mut Self::Context) -> Self::Result {
        self.backup(BackupReason::Manual)
    }
}

impl Handler<ListBackups> for BackupActor {
    type Result = ResponseActFuture<Self, Result<Vec<super::catalog::BackupEntry>, BackupError>>;

    fn handle(&mut self, _msg: ListBackups, _ctx: &mut Self::Context) -> Self::Result {
        let dir = self.settings.dir.clone();
        let work = async move {
            tokio::task::spawn_blocking(move || list_backups(&dir))
                .await
                .map_err(BackupError::Worker)?
        };
        Box::pin(work.into_actor(self).map(|result, actor, _ctx| {
            if let Ok(entries) = &result {
                let in_rotation: Vec<_> =
                    entries.iter().filter(|entry| entry.in_rotation).collect();
                actor.state.kept = in_rotation.len();
                actor.state.newest_size_bytes = in_rotation.first().map(|entry| entry.size_bytes);
                if let Err(err) = actor
                    .metrics
                    .files(actor.state.kept, actor.state.newest_size_bytes)
                {
                    warn!(actor.log, "Backup figures not recorded"; "error" => %err);
                }
            }
            result
        }))
    }
}

impl Handler<GetBackupStatus> for BackupActor {
    type Result = MessageResult<GetBackupStatus>;

    fn handle(&mut self, _msg: GetBackupStatus, _ctx: &mut Self::Context) -> Self::Result {
        let state = &self.state;
        MessageResult(BackupStatus {
            state: match (state.ready, state.running_since) {
                (false, _) => "starting",
                (true, Some(_)) => "running",
                (true, None) => "idle",
            },
            backup_dir: self.settings.dir.display().to_string(),
            interval_secs: self.settings.interval.as_secs_f64(),
            max_backups: self.settings.max_backups,
            running_since: state.running_since,
            next_due_at: state.next_due,
            last_success_at: state.last_success,
            last_success_path: state.last_success_path.clone(),
            last_outcome: state
                .last_outcome_ok
                .map(|ok| if ok { "ok" } else { "failed" }),
            last_error: state.last_error.clone(),
            last_error_at: state.last_error_at,
            kept: state.kept,
            newest_size_bytes: state.newest_size_bytes,
            successes: state.successes,
            failures: state.failures,
        })
    }
}
