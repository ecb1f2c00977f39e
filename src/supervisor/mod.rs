//! Supervision: every component is an actor that is restarted with exponential backoff (with
//! jitter) when it fails, until a restart budget per window is spent; then it is marked failed
//! (health turns not-ready and not-live) instead of looping. Each change is reported to the
//! HealthActor through a `Recipient<ComponentStatusChanged>` (`try_send`, never `do_send`),
//! with whether readiness depends on the component ([`Readiness`]).
//! [`ComponentSupervisor`] also registers each component's `discord_monitor_component_up` and
//! `discord_monitor_component_restarts_total` series.
//!
//! # The two ways an actor ends, and how each is handled
//! - **`ctx.stop()`** (the normal way to fail: a handler records the error with
//!   [`Lifecycle::fail`]). After the backoff the *same instance* is restarted, as
//!   `actix::Supervisor` does: actix calls `Supervised::restarting()` (which must reset the
//!   actor's state), then `started()`. The mailbox is kept, so messages queued meanwhile,
//!   including those sent during the backoff, are handled after the restart.
//! - **A panic** in the factory, `started()`, `restarting()` or a handler. actix does not
//!   catch panics, so the instance is gone: the supervisor drops it (its mailbox closes and
//!   senders get [`ComponentError::Unavailable`]), waits out the backoff, and builds a fresh
//!   actor from the factory on a new mailbox. [`ComponentHandle`] follows it there.
//!
//! Both count against the same [`RestartPolicy`] budget.
//!
//! # Why not `actix::Supervisor` plus a mailbox watcher
//! The first design started the actor with `actix::Supervisor::start` and polled its address
//! to notice a panic. Three problems with that: `actix::Supervisor` restarts synchronously, so
//! the backoff had to be cooperated by every actor (a `ctx.wait` in `started()`, which actix
//! runs *after* any `ctx.wait` the actor adds there itself); it restarts whenever any
//! address is alive, so a component that spent its budget kept being restarted by whoever
//! held a `Recipient` to it; and it restarts on shutdown too. Instead the supervisor task
//! here polls the actor's context itself: the same ~20 lines as `actix::Supervisor`
//! (`Context::into_future`, `ContextFut::restart`, public in `actix::dev`), with a timer
//! between stop and restart and `catch_unwind` around the poll. It sees every exit as it
//! happens (no polling), waits without the actor's help, and can end the actor for good:
//! on a spent budget or a shutdown it drops the context, which closes the mailbox for every
//! holder of an address.
//!
//! # Writing a supervised component
//! ```ignore
//! struct Gateway { lifecycle: Lifecycle, db: ComponentHandle<DbActor>, session: Option<Session> }
//!
//! impl Actor for Gateway {
//!     type Context = Context<Self>;
//!     fn started(&mut self, ctx: &mut Context<Self>) {
//!         ctx.set_mailbox_capacity(GATEWAY_MAILBOX_CAPACITY);
//!         // ...connect; once connected: self.lifecycle.up();
//!     }
//! }
//!
//! impl actix::Supervised for Gateway {
//!     // Runs after the backoff, before `started()`: forget everything of the failed run.
//!     fn restarting(&mut self, _ctx: &mut Context<Self>) { self.session = None; }
//! }
//!
//! impl Handler<Heartbeat> for Gateway {
//!     type Result = Result<(), GatewayError>;
//!     fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) -> Self::Result {
//!         // Never panic: turn a failure into a supervised restart and still answer.
//!         self.send_heartbeat(msg).inspect_err(|err| self.lifecycle.fail(ctx, err))
//!     }
//! }
//!
//! let mut components = ComponentSupervisor::new(health.clone().recipient(), metrics.clone());
//! let gateway = components.supervise(
//!     "gateway",
//!     Readiness::Required,
//!     RestartPolicy::default(),
//!     move |lifecycle| Gateway { lifecycle, db: db.clone(), session: None },
//! )?;                                      // Err: its metrics could not be registered
//! gateway.send(Heartbeat).await?;          // Result<Result<(), GatewayError>, ComponentError>
//! gateway.ask(Heartbeat).await?;           // Result<(), AskError<GatewayError>>
//! // at shutdown, within the deadline:
//! tokio::time::timeout(deadline, components.stop_all()).await;
//! ```
//!
//! The factory is called again only after a panic; everything it captures is cloned into each
//! new instance.

mod components;
mod error;
mod handle;
mod lifecycle;
mod policy;
mod runner;
mod status;
#[cfg(test)]
mod tests;

pub use components::ComponentSupervisor;
pub use error::{AskError, ComponentError};
pub use handle::{ComponentHandle, ComponentRecipient};
pub use lifecycle::Lifecycle;
pub use policy::RestartPolicy;
pub use runner::{supervise, supervise_in};
pub use status::{ComponentStatus, ComponentStatusChanged, Readiness};
