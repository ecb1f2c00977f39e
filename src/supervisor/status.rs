//! What a supervised component reports: where it is in its life ([`ComponentStatus`]) and the
//! snapshot its supervisor sends on every change ([`ComponentStatusChanged`]), to whoever
//! keeps the service's health (the HealthActor, which the supervisor does not know).

use std::fmt;

use actix::Message;
use serde::{Deserialize, Serialize};

/// Where a component is in its life. Serialized lowercase (`"up"`, `"failed"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentStatus {
    /// Built or restarted, not yet reporting that it works.
    Starting,
    Up,
    /// Working, with reduced capacity or quality (e.g. a fallback provider in use).
    Degraded,
    /// Stopped after an error; the supervisor restarts it after a backoff.
    Restarting,
    /// Restart budget spent: the supervisor no longer restarts it.
    Failed,
    /// Stopped on purpose (shutdown).
    Stopped,
}

impl ComponentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Restarting => "restarting",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }

    /// Whether a required component in this state lets the service count as ready.
    pub const fn is_serving(self) -> bool {
        matches!(self, Self::Up | Self::Degraded)
    }

    /// Whether the component will never run again in this process.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Stopped)
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the service's readiness depends on a component; said when it is supervised and
/// carried in each of its status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// The service is not ready while the component is not up (or degraded), and not live once
    /// it has failed for good.
    Required,
    /// Shown and alerted on, but the service serves without it (e.g. alert delivery: a
    /// receiver being down must not take the service out of its load balancer).
    Optional,
}

impl Readiness {
    pub const fn is_required(self) -> bool {
        matches!(self, Self::Required)
    }
}

/// A snapshot of one component's state, sent by its supervisor on every change. Snapshots are
/// complete (the restart count is a total, not a delta), so a lost or coalesced one is
/// repaired by the next, and each says whether readiness depends on the component, so the
/// first one is all the HealthActor needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct ComponentStatusChanged {
    pub name: String,
    pub readiness: Readiness,
    pub status: ComponentStatus,
    /// The error behind this change, if any; the HealthActor keeps the last one it saw.
    pub error: Option<String>,
    /// Restarts since the process started.
    pub restarts: u32,
    /// Failed because of its configuration (a rejected token, intents the application may
    /// not use): restarting the process cannot help, so it does not count against liveness.
    pub needs_reconfiguration: bool,
}
