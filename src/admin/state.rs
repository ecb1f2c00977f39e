//! What the admin routes read: addresses of the actors they ask, the metrics registry (and
//! the server's own metrics), the access policy and the fixed facts about this process.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::Addr;
use chrono::{DateTime, Utc};
use slog::Logger;

use super::auth::AccessPolicy;
use super::metrics::HttpMetrics;
use crate::actors::alert::AlertActor;
use crate::actors::backfill::SharedBackfillStatus;
use crate::actors::backup::BackupActor;
use crate::actors::db::DbActor;
use crate::actors::gateway::GatewayActor;
use crate::actors::health::HealthActor;
use crate::actors::ingest::{IngestSender, IngestStats};
use crate::actors::llm::LlmRouterActor;
use crate::actors::processing::ProcessingShared;
use crate::actors::ratelimit::RateLimiterHandle;
use crate::discord::rest::DiscordRest;
use crate::metrics::Metrics;
use crate::supervisor::ComponentHandle;
use crate::system_stats::SharedProcessSampler;

/// Shared by every worker of the HTTP server (hence the `Mutex`es inside). Built by the
/// service with all fields public; `log` is the `http` logger.
pub struct AdminState {
    pub health: Addr<HealthActor>,
    pub db: ComponentHandle<DbActor>,
    /// `/api/alerts*`; `None` when the service runs without alerting (they answer 503).
    pub alerts: Option<ComponentHandle<AlertActor>>,
    /// Rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Where each request is counted ([`HttpMetrics::register`] in `metrics`).
    pub http_metrics: HttpMetrics,
    pub policy: AccessPolicy,
    pub service: ServiceFacts,
    /// The effective configuration with secrets masked, computed once at start.
    pub sanitized_config: serde_json::Value,
    /// Where `/status` reads the Discord side from; `None` when the service runs without it.
    pub discord: Option<DiscordStatusSources>,
    /// The configured limits `/status` shows beside the storage path's figures.
    pub processing_limits: serde_json::Value,
    /// The triage pipeline `/status` shows; `None` when the service runs without it.
    pub processing: Option<ProcessingSources>,
    /// The LLM router, asked for its chain, budget and circuit states.
    pub llm: Option<ComponentHandle<LlmRouterActor>>,
    /// `/api/backups` and `/status`'s backup section; `None`: they answer 503 / `disabled`.
    pub backup: Option<ComponentHandle<BackupActor>>,
    pub sampler: Option<Arc<SharedProcessSampler>>,
    pub log: Logger,
    /// Requests slower than this are logged under `performance`.
    pub slow_threshold: std::time::Duration,
    pub probe_refresh: ProbeRefresh,
}

/// The live parts of the Discord side that `/status` asks.
#[derive(Clone)]
pub struct DiscordStatusSources {
    pub gateway: ComponentHandle<GatewayActor>,
    /// Forbidden channels.
    pub rest: DiscordRest,
    /// Buckets and recent requests.
    pub limiter: RateLimiterHandle,
    pub backfill: SharedBackfillStatus,
    pub ingest_stats: Arc<IngestStats>,
    pub queue: IngestSender,
}

/// The triage pipeline's shared state, read by `/status`.
#[derive(Clone)]
pub struct ProcessingSources {
    pub shared: Arc<ProcessingShared>,
    /// Whether a model is configured for triage.
    pub model_configured: bool,
}

/// Facts about this process shown in `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceFacts {
    pub name: &'static str,
    pub version: &'static str,
    pub environment: &'static str,
    pub mode: &'static str,
    pub started_at: DateTime<Utc>,
    #[serde(skip)]
    pub started: Instant,
}

/// `/health/ready` runs the probes (so a database that stopped being writable is seen at once),
/// but at most once per `PROBE_REFRESH_MIN_INTERVAL` (1 s): the route is open to everyone and must
/// not turn into a write load on the database.
#[derive(Debug, Default)]
pub struct ProbeRefresh {
    last: Mutex<Option<Instant>>,
}

/// Seconds between on-demand probe runs triggered by `/health/ready`.
pub(super) const PROBE_REFRESH_MIN_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(1);

impl ProbeRefresh {
    pub(super) fn due(&self) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let now = Instant::now();
        match *last {
            Some(previous) if now.duration_since(previous) < PROBE_REFRESH_MIN_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}
