//! The state one supervised component shares between its supervisor task, its handles and the
//! actor itself, and `Lifecycle`, the actor's view of it.
//!
//! Every status change goes through [`ComponentCore`], which keeps the status, the restart
//! count and budget, and reports each change to the HealthActor as a complete snapshot.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix::dev::SendError;
use actix::{Actor, ActorContext, Context, Recipient};
use actix_rt::ArbiterHandle;
use tokio::sync::watch;
use tokio::time::Instant;

use super::policy::{RestartBudget, RestartPolicy};
use super::status::{ComponentStatus, ComponentStatusChanged, Readiness};

/// Error recorded for a component that called `ctx.stop()` without `Lifecycle::error` first.
const UNEXPLAINED_STOP: &str = "stopped itself without reporting an error";

/// What a supervised actor is given by its factory: how it tells the supervisor (and through
/// it the HealthActor) that it works, that it is degraded, or why it is about to stop.
/// Cheap to clone; every instance the factory builds for one component shares it.
#[derive(Clone)]
pub struct Lifecycle {
    core: Arc<ComponentCore>,
}

impl Lifecycle {
    pub(crate) fn new(core: Arc<ComponentCore>) -> Self {
        Self { core }
    }

    /// The component's name, as reported to the HealthActor.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The component works. Call it once it can do its job (in `started()` for an actor that
    /// needs nothing, after connecting for one that does); cheap to call again.
    pub fn up(&self) {
        self.core.transition_from(
            &[ComponentStatus::Starting, ComponentStatus::Degraded],
            ComponentStatus::Up,
            None,
        );
    }

    /// The component works with reduced capacity or quality; `up()` clears it.
    pub fn degraded(&self, reason: impl fmt::Display) {
        self.core.transition_from(
            &[ComponentStatus::Starting, ComponentStatus::Up],
            ComponentStatus::Degraded,
            Some(reason.to_string()),
        );
    }

    /// Records why the actor is about to stop; it is reported with the restart (or failure)
    /// that follows. [`fail`](Self::fail) does this and stops the actor.
    pub fn error(&self, error: impl fmt::Display) {
        self.core.lock_state().pending_error = Some(error.to_string());
    }

    /// Records `error` and stops the actor, so the supervisor restarts it after a backoff (or
    /// marks it failed once the restart budget is spent). The handler should still answer its
    /// message, with the error.
    pub fn fail<A>(&self, ctx: &mut Context<A>, error: impl fmt::Display)
    where
        A: Actor<Context = Context<A>>,
    {
        self.error(error);
        ctx.stop();
    }

    /// The component cannot work until its configuration changes (a rejected token, intents
    /// the application may not use): reports it `Failed` for good, without spending the
    /// restart budget on attempts that cannot succeed. The actor keeps running (e.g. to answer
    /// status queries) and must stop trying; only shutdown ends it.
    pub fn give_up(&self, error: impl fmt::Display) {
        let mut state = self.core.lock_state();
        state.needs_reconfiguration = true;
        self.core
            .transition(&state, ComponentStatus::Failed, Some(error.to_string()));
    }

    /// Restarts since the process started.
    pub fn restarts(&self) -> u32 {
        self.core.restarts()
    }

    /// Whether this stop is the final one (shutdown), e.g. to flush buffers in `stopping()`.
    pub fn shutdown_requested(&self) -> bool {
        self.core.stop_requested()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("name", &self.core.name)
            .field("status", &self.core.status())
            .finish()
    }
}

pub(crate) struct ComponentCore {
    name: String,
    readiness: Readiness,
    policy: RestartPolicy,
    /// A watch so `stop()` callers can wait for a terminal status.
    status: watch::Sender<ComponentStatus>,
    /// Set once, when shutdown asks the component to stop.
    stop: watch::Sender<bool>,
    state: Mutex<CoreState>,
    reporter: StatusReporter,
}

struct CoreState {
    restarts: u32,
    pending_error: Option<String>,
    budget: RestartBudget,
    /// Set by `Lifecycle::give_up`: failed for a reason only reconfiguration cures.
    needs_reconfiguration: bool,
}

impl ComponentCore {
    pub(crate) fn new(
        name: String,
        readiness: Readiness,
        policy: RestartPolicy,
        health: Recipient<ComponentStatusChanged>,
        arbiter: ArbiterHandle,
    ) -> Self {
        Self {
            name,
            readiness,
            policy,
            status: watch::Sender::new(ComponentStatus::Starting),
            stop: watch::Sender::new(false),
            state: Mutex::new(CoreState {
                restarts: 0,
                pending_error: None,
                needs_reconfiguration: false,
                budget: RestartBudget::default(),
            }),
            reporter: StatusReporter::new(health, arbiter),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn status(&self) -> ComponentStatus {
        *self.status.borrow()
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.lock_state().restarts
    }

    /// A poisoned lock only means another thread panicked mid-update of plain counters; the
    /// values are still usable, and a supervisor must keep working after panics.
    fn lock_state(&self) -> MutexGuard<'_, CoreState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the HealthActor the component exists and is starting.
    pub(crate) fn announce(&self) {
        let state = self.lock_state();
        self.reporter.report(self.snapshot(&state, None));
    }

    pub(crate) fn mark_starting(&self) {
        self.transition_from(
            &[ComponentStatus::Restarting],
            ComponentStatus::Starting,
            None,
        );
    }

    /// The actor stopped or died with `error`: spends one restart from the budget and reports
    /// `Restarting`, returning the backoff to wait; or, with the budget spent, reports `Failed`
    /// and returns `None`.
    pub(crate) fn begin_restart(&self, error: String) -> Option<Duration> {
        let mut state = self.lock_state();
        state.pending_error = None;
        match state.budget.spend(&self.policy, Instant::now()) {
            Some(nth_in_window) => {
                state.restarts = state.restarts.saturating_add(1);
                self.transition(&state, ComponentStatus::Restarting, Some(error));
                Some(self.policy.jittered_backoff(nth_in_window))
            }
            None => {
                self.transition(&state, ComponentStatus::Failed, Some(error));
                None
            }
        }
    }

    /// The error the actor recorded before stopping, or a note that it gave none.
    pub(crate) fn take_stop_error(&self) -> String {
        self.lock_state()
            .pending_error
            .take()
            .unwrap_or_else(|| UNEXPLAINED_STOP.to_owned())
    }

    /// Marks the component stopped unless it already ended (a failed one stays failed).
    pub(crate) fn mark_stopped(&self) {
        let state = self.lock_state();
        self.transition(&state, ComponentStatus::Stopped, None);
    }

    pub(crate) fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    pub(crate) fn subscribe_stop(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Resolves once the component has failed or stopped for good.
    pub(crate) async fn ended(&self) {
        let mut status = self.status.subscribe();
        // The sender lives in `self`, so the wait cannot end with a closed channel.
        let _ended = status.wait_for(|status| status.is_terminal()).await;
    }

    pub(crate) fn transition_from(
        &self,
        allowed: &[ComponentStatus],
        status: ComponentStatus,
        error: Option<String>,
    ) {
        let state = self.lock_state();
        if allowed.contains(&self.status()) {
            self.transition(&state, status, error);
        }
    }

    /// Sets and reports `status`, unless the component has already ended. Called with the
    /// state locked so concurrent changes reach the HealthActor in the order they were made.
    fn transition(&self, state: &CoreState, status: ComponentStatus, error: Option<String>) {
        let changed = self.status.send_if_modified(|current| {
            if current.is_terminal() {
                return false;
            }
            *current = status;
            true
        });
        if changed {
            self.reporter.report(self.snapshot(state, error));
        }
    }

    fn snapshot(&self, state: &CoreState, error: Option<String>) -> ComponentStatusChanged {
        ComponentStatusChanged {
            name: self.name.clone(),
            readiness: self.readiness,
            status: self.status(),
            error,
            restarts: state.restarts,
            needs_reconfiguration: state.needs_reconfiguration,
        }
    }
}

/// Sends status snapshots to the HealthActor with `try_send`. When its mailbox is full the
/// newest snapshot is kept and delivered by a task that waits for room; snapshots are complete,
/// so only the newest matters, and nothing overtakes it meanwhile.
struct StatusReporter {
    health: Recipient<ComponentStatusChanged>,
    arbiter: ArbiterHandle,
    backlog: Arc<Mutex<Backlog>>,
}

#[derive(Default)]
struct Backlog {
    newest: Option<ComponentStatusChanged>,
    draining: bool,
}

impl StatusReporter {
    fn new(health: Recipient<ComponentStatusChanged>, arbiter: ArbiterHandle) -> Self {
        Self {
            health,
            arbiter,
            backlog: Arc::default(),
        }
    }

    fn report(&self, change: ComponentStatusChanged) {
        let mut backlog = lock_backlog(&self.backlog);
        if backlog.draining {
            backlog.newest = Some(change);
            return;
        }
        match self.health.try_send(change) {
            Ok(()) => {}
            // The HealthActor is gone (the system is shutting down): nobody is left to tell.
            Err(SendError::Closed(_)) => {}
            Err(SendError::Full(change)) => {
                backlog.newest = Some(change);
                backlog.draining = true;
                let health = self.health.clone();
                let drain_backlog = Arc::clone(&self.backlog);
                if !self.arbiter.spawn(drain(health, drain_backlog)) {
                    backlog.newest = None;
                    backlog.draining = false;
                }
            }
        }
    }
}

async fn drain(health: Recipient<ComponentStatusChanged>, backlog: Arc<Mutex<Backlog>>) {
    loop {
        let next = {
            let mut backlog = lock_backlog(&backlog);
            match backlog.newest.take() {
                Some(next) => next,
                None => {
                    backlog.draining = false;
                    return;
                }
            }
        };
        if health.send(next).await.is_err() {
            let mut backlog = lock_backlog(&backlog);
            backlog.newest = None;
            backlog.draining = false;
            return;
        }
    }
}

fn lock_backlog(backlog: &Mutex<Backlog>) -> MutexGuard<'_, Backlog> {
    backlog.lock().unwrap_or_else(PoisonError::into_inner)
}
