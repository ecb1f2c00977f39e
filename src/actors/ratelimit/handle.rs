//! [`RateLimiterHandle`]: how the REST client reaches the RateLimiterActor, whether it runs
//! under the supervisor (the service) or on a bare address (`discord check`, tests). It is
//! the client's [`RequestGate`].

use std::fmt;

use actix::Addr;
use futures_util::future::BoxFuture;

use super::actor::RateLimiterActor;
use super::messages::{AcquirePermit, GetRateLimitStatus, RateLimitStatus, ReportResponse};
use crate::discord::rest::{Permit, RateLimitError, RequestGate, ResponseOutcome, Route};
use crate::supervisor::ComponentHandle;

#[derive(Clone)]
enum Target {
    Supervised(ComponentHandle<RateLimiterActor>),
    Direct(Addr<RateLimiterActor>),
}

/// Cheap to clone; every clone reaches the same actor.
#[derive(Clone)]
pub struct RateLimiterHandle {
    target: Target,
}

/// The actor being away (restarting, failed, stopped) as the gate's error.
fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> RateLimitError {
    RateLimitError::Unavailable(Box::new(err))
}

impl RateLimiterHandle {
    /// Waits for leave to send one request on `route`.
    pub async fn acquire(&self, route: Route) -> Result<Permit, RateLimitError> {
        let msg = AcquirePermit { route };
        match &self.target {
            Target::Supervised(handle) => handle.send(msg).await.map_err(unavailable)?,
            Target::Direct(addr) => addr.send(msg).await.map_err(unavailable)?,
        }
    }

    /// Reports how the request went and waits until the actor has learned from it, so the
    /// caller's next request already sees the new state.
    pub async fn report(
        &self,
        permit: Permit,
        outcome: ResponseOutcome,
    ) -> Result<(), RateLimitError> {
        let msg = ReportResponse { permit, outcome };
        match &self.target {
            Target::Supervised(handle) => handle.send(msg).await.map_err(unavailable),
            Target::Direct(addr) => addr.send(msg).await.map_err(unavailable),
        }
    }

    /// Gives an unused permit back without waiting (from `Drop`). If the mailbox is full the
    /// slot frees itself when the permit's lease runs out.
    pub fn release_unused(&self, permit: Permit) {
        let msg = ReportResponse {
            permit,
            outcome: ResponseOutcome::Unused,
        };
        // Either failure leaves the slot to the lease; there is nothing better to do in Drop.
        let _ = match &self.target {
            Target::Supervised(handle) => handle.try_send(msg).map_err(|_| ()),
            Target::Direct(addr) => addr.try_send(msg).map_err(|_| ()),
        };
    }

    /// Buckets, queue, invalid-request count and the last requests, for `/status`.
    pub async fn status(&self) -> Result<RateLimitStatus, RateLimitError> {
        match &self.target {
            Target::Supervised(handle) => {
                handle.send(GetRateLimitStatus).await.map_err(unavailable)
            }
            Target::Direct(addr) => addr.send(GetRateLimitStatus).await.map_err(unavailable),
        }
    }
}

impl RequestGate for RateLimiterHandle {
    fn acquire(&self, route: Route) -> BoxFuture<'static, Result<Permit, RateLimitError>> {
        let handle = self.clone();
        Box::pin(async move { RateLimiterHandle::acquire(&handle, route).await })
    }

    fn report(
        &self,
        permit: Permit,
        outcome: ResponseOutcome,
    ) -> BoxFuture<'static, Result<(), RateLimitError>> {
        let handle = self.clone();
        Box::pin(async move { RateLimiterHandle::report(&handle, permit, outcome).await })
    }

    fn release_unused(&self, permit: Permit) {
        RateLimiterHandle::release_unused(self, permit);
    }
}

impl From<ComponentHandle<RateLimiterActor>> for RateLimiterHandle {
    fn from(handle: ComponentHandle<RateLimiterActor>) -> Self {
        Self {
            target: Target::Supervised(handle),
        }
    }
}

impl From<Addr<RateLimiterActor>> for RateLimiterHandle {
    fn from(addr: Addr<RateLimiterActor>) -> Self {
        Self {
            target: Target::Direct(addr),
        }
    }
}

impl fmt::Debug for RateLimiterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.target {
            Target::Supervised(_) => "supervised",
            Target::Direct(_) => "direct",
        };
        f.debug_struct("RateLimiterHandle")
            .field("target", &kind)
            .finish()
    }
}
