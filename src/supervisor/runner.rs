//! The task that runs one supervised actor: it polls the actor's context itself (as
//! `actix::Supervisor` does), so it sees every way the actor ends, waits out the backoff
//! between a stop and the restart, and rebuilds the actor from its factory after a panic.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix::dev::ContextFut;
use actix::dev::channel::{self, AddressReceiver};
use actix::{Actor, ActorContext, Addr, Arbiter, Context, Recipient, Supervised};
use actix_rt::ArbiterHandle;
use futures_util::FutureExt;
use tokio::sync::watch;

use super::handle::{ComponentHandle, Shared};
use super::lifecycle::{ComponentCore, Lifecycle};
use super::policy::RestartPolicy;
use super::status::{ComponentStatusChanged, Readiness};

/// Messages a mailbox takes before its actor's `started()` can set its own capacity (actix's
/// default; a rebuilt actor gets a fresh mailbox too).
const INITIAL_MAILBOX_CAPACITY: usize = 16;

/// Starts the actor `factory` builds on the current arbiter, under supervision, and reports its
/// status (with `readiness`) to `health`. Must be called inside a running actix System.
/// [`ComponentSupervisor`](super::ComponentSupervisor) does this and registers the
/// component's metrics too.
pub fn supervise<A, F>(
    name: impl Into<String>,
    readiness: Readiness,
    policy: RestartPolicy,
    health: Recipient<ComponentStatusChanged>,
    factory: F,
) -> ComponentHandle<A>
where
    A: Actor<Context = Context<A>> + Supervised,
    F: Fn(Lifecycle) -> A + Send + 'static,
{
    supervise_in(
        &Arbiter::current(),
        name,
        readiness,
        policy,
        health,
        factory,
    )
}

/// As [`supervise`], on `arbiter` (e.g. a dedicated thread for a busy component). The factory
/// runs on that arbiter, so the actor itself need not be `Send`.
pub fn supervise_in<A, F>(
    arbiter: &ArbiterHandle,
    name: impl Into<String>,
    readiness: Readiness,
    policy: RestartPolicy,
    health: Recipient<ComponentStatusChanged>,
    factory: F,
) -> ComponentHandle<A>
where
    A: Actor<Context = Context<A>> + Supervised,
    F: Fn(Lifecycle) -> A + Send + 'static,
{
    let core = Arc::new(ComponentCore::new(
        name.into(),
        readiness,
        policy,
        health,
        arbiter.clone(),
    ));
    start(arbiter, core, factory)
}

/// Announces the component and runs it on `arbiter`.
pub(super) fn start<A, F>(
    arbiter: &ArbiterHandle,
    core: Arc<ComponentCore>,
    factory: F,
) -> ComponentHandle<A>
where
    A: Actor<Context = Context<A>> + Supervised,
    F: Fn(Lifecycle) -> A + Send + 'static,
{
    core.announce();
    let (sender, receiver) = channel::channel(INITIAL_MAILBOX_CAPACITY);
    let shared = Arc::new(Shared::new(core, Addr::new(sender)));
    // Created here so the component ends as stopped even if the arbiter is gone and the
    // closure is dropped unrun.
    let guard = RunnerGuard(Arc::clone(&shared));
    arbiter.spawn_fn(move || {
        actix_rt::spawn(run(guard, factory, receiver));
    });
    ComponentHandle::new(shared)
}

/// Marks the component stopped and closes its mailbox when the task ends, however it ends
/// (including the arbiter being torn down), so `stop()` callers never wait forever.
struct RunnerGuard<A: Actor<Context = Context<A>>>(Arc<Shared<A>>);

impl<A: Actor<Context = Context<A>>> Drop for RunnerGuard<A> {
    fn drop(&mut self) {
        self.0.close();
        self.0.core.mark_stopped();
    }
}

/// How a running actor ended.
enum Exit {
    /// It called `ctx.stop()`, normally after `Lifecycle::error`.
    Stopped,
    /// Its factory, `started()`, a handler or `restarting()` panicked; the text says which.
    Panicked(String),
    /// It stopped because shutdown asked it to.
    Shutdown,
}

type ActorRun<A> = ContextFut<A, Context<A>>;

async fn run<A, F>(guard: RunnerGuard<A>, factory: F, first_receiver: AddressReceiver<A>)
where
    A: Actor<Context = Context<A>> + Supervised,
    F: Fn(Lifecycle) -> A + 'static,
{
    let shared = Arc::clone(&guard.0);
    let core = &shared.core;
    let mut stop = core.subscribe_stop();
    let mut receiver = Some(first_receiver);
    let mut actor: Option<ActorRun<A>> = None;
    let mut restart_failure: Option<String> = None;
    loop {
        let exit = if let Some(failure) = restart_failure.take() {
            Exit::Panicked(failure)
        } else if let Some(running) = actor.as_mut() {
            run_until_exit(running, &mut stop).await
        } else if core.stop_requested() {
            Exit::Shutdown
        } else {
            let receiver = receiver.take().unwrap_or_else(|| {
                let (sender, receiver) = channel::channel(INITIAL_MAILBOX_CAPACITY);
                shared.replace_addr(Addr::new(sender));
                receiver
            });
            match build(&factory, core, receiver) {
                Ok(built) => {
                    core.mark_starting();
                    actor = Some(built);
                    continue;
                }
                Err(panic) => Exit::Panicked(format!("panicked while being built: {panic}")),
            }
        };
        let error = match exit {
            Exit::Shutdown => break,
            _ if core.stop_requested() => break,
            Exit::Stopped => core.take_stop_error(),
            Exit::Panicked(error) => {
                // The panicked instance is not reused; dropping it closes its mailbox, so
                // senders learn at once that the component is restarting.
                drop_actor(actor.take());
                error
            }
        };
        let Some(backoff) = core.begin_restart(error) else {
            // Restart budget spent: `core` reported Failed; the guard closes the mailbox.
            break;
        };
        if !sleep_unless_stopped(backoff, &mut stop).await {
            break;
        }
        if let Some(stopped) = actor.as_mut() {
            core.mark_starting();
            // `restart()` calls the actor's `Supervised::restarting()`, which may panic too.
            match catch_unwind(AssertUnwindSafe(|| stopped.restart())) {
                Ok(true) => {}
                // Only when no address is left, which the handle prevents; rebuild instead.
                Ok(false) => drop_actor(actor.take()),
                Err(panic) => {
                    drop_actor(actor.take());
                    restart_failure = Some(format!(
                        "panicked while restarting: {}",
                        panic_message(panic.as_ref())
                    ));
                }
            }
        }
    }
    drop_actor(actor.take());
    drop(guard);
}

/// Builds a fresh actor on `receiver`'s mailbox.
fn build<A, F>(
    factory: &F,
    core: &Arc<ComponentCore>,
    receiver: AddressReceiver<A>,
) -> Result<ActorRun<A>, String>
where
    A: Actor<Context = Context<A>>,
    F: Fn(Lifecycle) -> A,
{
    let lifecycle = Lifecycle::new(Arc::clone(core));
    let actor = catch_unwind(AssertUnwindSafe(|| factory(lifecycle)))
        .map_err(|panic| panic_message(panic.as_ref()))?;
    Ok(Context::with_receiver(receiver).into_future(actor))
}

/// Drives the actor until it stops or panics, passing a shutdown request on as `ctx.stop()`.
/// A panicked actor is dropped by the caller; its mailbox closes with it.
async fn run_until_exit<A>(actor: &mut ActorRun<A>, stop: &mut watch::Receiver<bool>) -> Exit
where
    A: Actor<Context = Context<A>>,
{
    let mut stop_forwarded = false;
    loop {
        if !stop_forwarded && *stop.borrow_and_update() {
            actor.ctx().stop();
            stop_forwarded = true;
        }
        tokio::select! {
            outcome = AssertUnwindSafe(&mut *actor).catch_unwind() => {
                return match outcome {
                    Ok(()) if stop_forwarded => Exit::Shutdown,
                    Ok(()) => Exit::Stopped,
                    Err(panic) => Exit::Panicked(format!("panicked: {}", panic_message(panic.as_ref()))),
                };
            }
            changed = stop.changed(), if !stop_forwarded => {
                // The sender lives as long as the component: an error cannot happen, but must
                // not spin the loop either.
                if changed.is_err() {
                    stop_forwarded = true;
                }
            }
        }
    }
}

/// Waits out a backoff; false when shutdown asked the component to stop meanwhile.
async fn sleep_unless_stopped(backoff: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow_and_update() {
        return false;
    }
    tokio::select! {
        () = actix_rt::time::sleep(backoff) => true,
        _requested = stop.wait_for(|requested| *requested) => false,
    }
}

/// A dead actor's context is dropped here: actix then runs its `stopping()`/`stopped()`, which
/// may panic again on the broken state; that second panic has nothing left to report.
fn drop_actor<A: Actor<Context = Context<A>>>(actor: Option<ActorRun<A>>) {
    if let Some(actor) = actor {
        let _second_panic = catch_unwind(AssertUnwindSafe(move || drop(actor)));
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}
