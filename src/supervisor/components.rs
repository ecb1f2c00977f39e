//! `ComponentSupervisor`: starts the service's components under supervision and stops them
//! all, in reverse start order, at shutdown.

use std::future::Future;
use std::sync::Arc;

use actix::{Actor, Context, Recipient, Supervised};
use actix_rt::ArbiterHandle;

use super::handle::{ComponentHandle, stop_component};
use super::lifecycle::{ComponentCore, Lifecycle};
use super::policy::RestartPolicy;
use super::runner::{supervise, supervise_in};
use super::status::ComponentStatusChanged;

/// Every supervised component of the service, in start order.
pub struct ComponentSupervisor {
    health: Recipient<ComponentStatusChanged>,
    started: Vec<Arc<ComponentCore>>,
}

impl ComponentSupervisor {
    /// Components report their status to `health` (the HealthActor).
    pub fn new(health: Recipient<ComponentStatusChanged>) -> Self {
        Self {
            health,
            started: Vec::new(),
        }
    }

    /// [`supervise`] on the current arbiter, remembered for [`stop_all`](Self::stop_all).
    pub fn supervise<A, F>(
        &mut self,
        name: impl Into<String>,
        policy: RestartPolicy,
        factory: F,
    ) -> ComponentHandle<A>
    where
        A: Actor<Context = Context<A>> + Supervised,
        F: Fn(Lifecycle) -> A + Send + 'static,
    {
        let handle = supervise(name, policy, self.health.clone(), factory);
        self.started.push(handle.core());
        handle
    }

    /// [`supervise_in`] on `arbiter`, remembered for [`stop_all`](Self::stop_all).
    pub fn supervise_in<A, F>(
        &mut self,
        arbiter: &ArbiterHandle,
        name: impl Into<String>,
        policy: RestartPolicy,
        factory: F,
    ) -> ComponentHandle<A>
    where
        A: Actor<Context = Context<A>> + Supervised,
        F: Fn(Lifecycle) -> A + Send + 'static,
    {
        let handle = supervise_in(arbiter, name, policy, self.health.clone(), factory);
        self.started.push(handle.core());
        handle
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
