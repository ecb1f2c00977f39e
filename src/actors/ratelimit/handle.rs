//! [`RateLimiterHandle`]: how the REST client reaches the RateLimiterActor, whether it runs
//! under the supervisor (the service) or on a bare address (`discord check`, tests).

use std::fmt;

use actix::Addr;

use super::actor::RateLimiterActor;
use super::error::RateLimitError;
use super::headers::ResponseOutcome;
use super::messages::{AcquirePermit, GetRateLimitStatus, Permit, RateLimitStatus, ReportResponse};
use super::route::Route;
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

impl RateLimiterHandle {
    /// Waits for leave to send one request on `route`.
    pub async fn acquire(&self, route: Route) -> Result<Permit, RateLimitError> {
        let msg = AcquirePermit { route };
        match &self.target {
            Target::Supervised(handle) => {
                handle.send(msg).await.map_err(RateLimitError::Component)?
            }
            Target::Direct(addr) => addr.send(msg).await.map_err(RateLimitError::Mailbox)?,
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
            Target::Supervised(handle) => handle.send(msg).await.map_err(RateLimitError::Component),
            Target::Direct(addr) => addr.send(msg).await.map_err(RateLimitError::Mailbox),
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
            Target::Supervised(handle) => handle
                .send(GetRateLimitStatus)
                .await
                .map_err(RateLimitError::Component),
            Target::Direct(addr) => addr
                .send(GetRateLimitStatus)
                .await
                .map_err(RateLimitError::Mailbox),
        }
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
