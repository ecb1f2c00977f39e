//! HealthActor: the health of every component and probe, and the liveness/readiness verdict
//! the admin API serves (`/health/live`, `/health/ready`, `/health/detailed`).
//!
//! Supervisors (`crate::supervisor`) report each component's status, and whether readiness
//! depends on it, through a `Recipient<ComponentStatusChanged>`; a component is known from its
//! first report on. The wiring code adds asynchronous checks such as "the database is
//! writable" (`RegisterProbe`). Readiness: every required component up or degraded, every required probe
//! passed recently, and no shutdown under way (`SetShuttingDown`).
//!
//! It also evaluates the operational alert rules (`rules.rs`: memory, CPU, Discord errors,
//! database, pipeline, LLM budget, failed components, backups) once `EnableOpsRules` hands it
//! the AlertActor (`ops.rs`).
//!
//! ```ignore
//! let health = HealthActor::new(Duration::from_secs(30), &log).start();
//! let mut components = ComponentSupervisor::new(health.clone().recipient(), metrics);
//! let db = components.supervise("db", Readiness::Required, policy, factory)?;
//! let probe = Probe::new(move || {
//!     let answer = db.ask(ProbeWritable);
//!     async move { answer.await.map(drop) }
//! });
//! health.send(RegisterProbe { name: "database_writable".into(), required: true, probe }).await?;
//! let report: HealthReport = health.send(GetHealth { refresh_probes: false }).await?;
//! ```

mod actor;
mod error;
mod messages;
pub mod ops;
pub mod rules;
#[cfg(test)]
mod tests;

pub use actor::{DEFAULT_PROBE_TIMEOUT, HealthActor};
pub use error::ProbeError;
pub use messages::{
    ComponentHealth, GetHealth, HealthReport, Probe, ProbeFailure, ProbeHealth, ProbeStatus,
    RegisterProbe, SetShuttingDown,
};
pub use ops::{EnableOpsRules, EvaluateNow, LlmSpend, OpsSources, cpu_limit_cores};
pub use rules::{OpsRules, OpsSnapshot, OpsThresholds};
