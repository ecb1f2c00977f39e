//! Messages the HealthActor handles, and the report it answers `GetHealth` with.
//!
//! The report is what the admin API serves: `/health/detailed` nests it under `health`, and
//! `/health/ready` answers from `ready`. Timestamps are RFC 3339 in UTC with milliseconds, like
//! the `ts` of every log line, so an operator can match the two.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use actix::Message;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize, Serializer};

use crate::supervisor::ComponentStatus;

/// An asynchronous check the HealthActor runs every probe interval and on demand, e.g. "the
/// database is writable" (the wiring code sends a message to the DbActor). The HealthActor
/// measures its latency and bounds it with the probe timeout.
pub struct Probe {
    check: Box<dyn Fn() -> LocalBoxFuture<'static, Result<(), ProbeFailure>> + Send>,
}

/// What a probe's check reports when it fails: any error (a component's, a message text).
pub type ProbeFailure = Box<dyn std::error::Error + Send + Sync>;

impl Probe {
    /// `check` is called once per run; the future it returns runs on the HealthActor's arbiter,
    /// so it need not be `Send`.
    pub fn new<F, Fut, E>(check: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Into<ProbeFailure>,
    {
        Self {
            check: Box::new(move || {
                let run = check();
                Box::pin(async move { run.await.map_err(Into::into) })
            }),
        }
    }

    pub(super) fn run(&self) -> LocalBoxFuture<'static, Result<(), ProbeFailure>> {
        (self.check)()
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe").finish_non_exhaustive()
    }
}

/// Adds (or replaces) a probe; it runs at once, so readiness need not wait a whole interval.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RegisterProbe {
    pub name: String,
    pub required: bool,
    pub probe: Probe,
}

/// Asks for the health report. With `refresh_probes` every probe runs first (bounded by the
/// probe timeout); without it the answer is immediate, from the last results.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "HealthReport")]
pub struct GetHealth {
    pub refresh_probes: bool,
}

/// Turns readiness off for the rest of the process's life, so load balancers stop sending
/// work while the components drain.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SetShuttingDown;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// False once a required component has failed for good: the in-process supervisor gave
    /// up, so an orchestrator's liveness probe may restart the whole process.
    pub live: bool,
    /// Every required component up (or degraded), every required probe passing recently, and
    /// not shutting down.
    pub ready: bool,
    /// Why `ready` is false, one sentence each; empty when ready.
    pub not_ready_reasons: Vec<String>,
    pub shutting_down: bool,
    pub uptime_secs: u64,
    pub components: BTreeMap<String, ComponentHealth>,
    pub probes: BTreeMap<String, ProbeHealth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    pub status: ComponentStatus,
    pub required: bool,
    /// Kept after recovery, so a flapping component shows what went wrong last.
    pub last_error: Option<String>,
    #[serde(serialize_with = "rfc3339_option")]
    pub last_error_at: Option<DateTime<Utc>>,
    pub restarts: u32,
    /// See [`ComponentStatusChanged::needs_reconfiguration`](crate::supervisor::ComponentStatusChanged::needs_reconfiguration).
    pub needs_reconfiguration: bool,
    /// When `status` last changed.
    #[serde(serialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    /// Registered, no run finished yet.
    Pending,
    Passing,
    Failing,
}

impl fmt::Display for ProbeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Passing => "passing",
            Self::Failing => "failing",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeHealth {
    pub status: ProbeStatus,
    pub required: bool,
    /// How long the last finished run took, in milliseconds.
    pub latency_ms: Option<u64>,
    #[serde(serialize_with = "rfc3339_option")]
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "rfc3339_option")]
    pub last_error_at: Option<DateTime<Utc>>,
    /// When `status` last changed.
    #[serde(serialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
}

fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn rfc3339_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}
