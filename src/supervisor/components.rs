//! `ComponentSupervisor`: starts the service's components under supervision, each with its
//! health reports and its up/restart metrics, and stops them all, in reverse start order, at
//! shutdown.

use std::future::Future;
use std::sync::Arc;

use actix::{Actor, Arbiter, Context, Recipient, Supervised};
use actix_rt::ArbiterHandle;

use super::handle::{ComponentHandle, stop_component};
use super::lifecycle::{ComponentCore, Lifecycle};
use super::policy::RestartPolicy;
use super::runner::start;
use super::status::{ComponentStatusChanged, Readiness};
use crate::metrics::{Metrics, MetricsError};

const COMPONENT_UP: &str = "discord_monitor_component_up";
const COMPONENT_UP_HELP: &str =
    "1 while the component is up (or degraded), 0 while starting, restarting or failed";
const COMPONENT_RESTARTS: &str = "discord_monitor_component_restarts_total";
const COMPONENT_RESTARTS_HELP: &str = "Restarts of the component by its supervisor";

/// Every supervised component of the service, in start order.
pub struct ComponentSupervisor {
    health: Recipient<ComponentStatusChanged>,
    metrics: Arc<Metrics>,
    started: Vec<Arc<ComponentCore>>,
}

impl ComponentSupervisor {
    /// Components report their status to `health` (the HealthActor) and are counted in
    /// `metrics`.
    pub fn new(health: Recipient<ComponentStatusChanged>, metrics: Arc<Metrics>) -> Self {
        Self {
            health,
            metrics,
            started: Vec::new(),
        }
    }

    /// Runs the actor `factory` builds on the current arbiter under supervision (see
    /// [`supervise`](super::supervise)), remembered for [`stop_all`](Self::stop_all). Its
    /// status reports say whether readiness depends on it (`readiness`), and
    /// `discord_monitor_component_up` / `discord_monitor_component_restarts_total` get a series
    /// for it. Nothing is started when that registration fails.
    pub fn supervise<A, F>(
        &mut self,
        name: impl Into<String>,
        readiness: Readiness,
        policy: RestartPolicy,
        factory: F,
    ) -> Result<ComponentHandle<A>, MetricsError>
    where
        A: Actor<Context = Context<A>> + Supervised,
        F: Fn(Lifecycle) -> A + Send + 'static,
    {
        self.supervise_in(&Arbiter::current(), name, readiness, policy, factory)
    }

    /// As [`supervise`](Self::supervise), on `arbiter`.
    pub fn supervise_in<A, F>(
        &mut self,
        arbiter: &ArbiterHandle,
        name: impl Into<String>,
        readiness: Readiness,
        policy: RestartPolicy,
        factory: F,
    ) -> Result<ComponentHandle<A>, MetricsError>
    where
        A: Actor<Context = Context<A>> + Supervised,
        F: Fn(Lifecycle) -> A + Send + 'static,
    {
        let core = Arc::new(ComponentCore::new(
            name.into(),
            readiness,
            policy,
            self.health.clone(),
            arbiter.clone(),
        ));
        register_component_metrics(&self.metrics, &core)?;
        let handle = start(arbiter, Arc::clone(&core), factory);
        self.started.push(core);
        Ok(handle)
    }

    /// Stops every component, one at a time, last started first: with the storage started
    /// before the components that feed it, intake stops before the queues flush and the
    /// database closes last. Bound it with the shutdown deadline; a component that does not
    /// stop holds up the ones started before it.
    pub fn stop_all(&self) -> impl Future<Output = ()> + use<> {
        let components: Vec<_> = self.started.iter().rev().cloned().collect();
        async move {
            for core in components {
                stop_component(core).await;
            }
        }
    }
}

/// `discord_monitor_component_up{component}` (1 up or degraded, else 0) and its restarts,
/// read from the component's state at each scrape.
fn register_component_metrics(
    metrics: &Metrics,
    core: &Arc<ComponentCore>,
) -> Result<(), MetricsError> {
    let labels = [("component", core.name())];
    let up = Arc::clone(core);
    metrics.gauge_fn(COMPONENT_UP, COMPONENT_UP_HELP, &labels, move || {
        f64::from(u8::from(up.status().is_serving()))
    })?;
    let restarts = Arc::clone(core);
    metrics.counter_fn(
        COMPONENT_RESTARTS,
        COMPONENT_RESTARTS_HELP,
        &labels,
        move || f64::from(restarts.restarts()),
    )
}
