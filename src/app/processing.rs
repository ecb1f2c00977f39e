//! Wires the processing pipeline: the shared state, `processing.worker_count` supervised
//! triage workers, and the manager (feeder and watchdogs) that watches them. Started after
//! the database and the LLM router, so stopped before them.

use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use slog::{Logger, info};

use super::config::Config;
use super::error::AppError;
use crate::actors::db::DbActor;
use crate::actors::llm::{LlmRouterActor, RequestKind};
use crate::actors::processing::triage::Triage;
use crate::actors::processing::{
    FULL_SWEEP_INTERVAL, ProcessingActor, ProcessingMetrics, ProcessingSettings, ProcessingShared,
    ProcessingStalled, TriageWorker, WATCH_INTERVAL, WorkerSettings,
};
use crate::metrics::Metrics;
use crate::supervisor::{ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy};
use crate::system_stats::SharedProcessSampler;

/// Component names in `/health/detailed` and the logs; workers are `triage_worker_<n>`.
pub const PROCESSING_COMPONENT: &str = "processing";
pub const WORKER_COMPONENT_PREFIX: &str = "triage_worker_";

/// What the rest of the service (`/status`, the demo) needs of the pipeline.
#[derive(Clone)]
pub struct ProcessingPipeline {
    pub manager: ComponentHandle<ProcessingActor>,
    pub workers: Vec<ComponentHandle<TriageWorker>>,
    pub shared: Arc<ProcessingShared>,
    /// Whether a model is configured for triage (else the rule engine scores everything).
    pub model_configured: bool,
}

/// Optional for readiness, like the router: while triage is down messages are still kept,
/// and they wait on the durable backlog.
#[allow(clippy::too_many_arguments)] // every one is a dependency the pipeline is handed
pub fn start(
    config: &Config,
    log: &Logger,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    llm: &ComponentHandle<LlmRouterActor>,
    sampler: Option<Arc<SharedProcessSampler>>,
    stalls: Option<Recipient<ProcessingStalled>>,
    metrics: &Arc<Metrics>,
) -> Result<ProcessingPipeline, AppError> {
    let processing = &config.processing;
    let policy = RestartPolicy::from_config(&config.monitoring);
    let triage = Arc::new(
        Triage::new(config.triage.clone())
            .map_err(|err| AppError::Config(crate::logging::error_chain(&err)))?,
    );
    let model_configured = config.llm.has_callable_target(RequestKind::Triage.as_str());
    let worker_count = processing.worker_count.max(1);
    let names: Vec<String> = (0..worker_count)
        .map(|index| format!("{WORKER_COMPONENT_PREFIX}{index}"))
        .collect();
    let shared = ProcessingShared::new(processing.max_queue_size, worker_count * 2, &names);
    let processing_metrics = ProcessingMetrics::register(metrics, &shared)?;
    let worker_settings = Arc::new(WorkerSettings {
        triage: Arc::clone(&triage),
        model: model_configured.then(|| llm.recipient()),
    });
    info!(log, "Triage pipeline";
        "scoring" => if model_configured { "llm" } else { "rules" },
        "workers" => worker_count, "batch_size" => processing.batch_size);

    let mut workers = Vec::with_capacity(worker_count);
    for (index, name) in names.iter().enumerate() {
        let (shared, settings, db) = (
            Arc::clone(&shared),
            Arc::clone(&worker_settings),
            db.clone(),
        );
        let (metrics, log) = (processing_metrics.clone(), log.clone());
        workers.push(components.supervise(
            name.clone(),
            Readiness::Optional,
            policy,
            move |lifecycle| {
                TriageWorker::new(
                    index,
                    Arc::clone(&shared),
                    Arc::clone(&settings),
                    db.clone(),
                    metrics.clone(),
                    lifecycle,
                    &log,
                )
            },
        )?);
    }

    let settings = ProcessingSettings {
        batch_size: processing.batch_size,
        batch_max_wait: Duration::from_secs(processing.batch_max_wait_secs),
        stall_timeout: Duration::from_secs(processing.stall_timeout_secs),
        rescore_after_degraded: processing.rescore_after_degraded,
        model_configured,
        watch_interval: WATCH_INTERVAL,
        full_sweep_interval: FULL_SWEEP_INTERVAL,
    };
    let manager = {
        let (shared, db, workers) = (Arc::clone(&shared), db.clone(), workers.clone());
        let log = log.clone();
        components.supervise(
            PROCESSING_COMPONENT,
            Readiness::Optional,
            policy,
            move |lifecycle| {
                ProcessingActor::new(
                    Arc::clone(&shared),
                    Arc::clone(&triage),
                    db.clone(),
                    settings.clone(),
                    workers.clone(),
                    sampler.clone(),
                    stalls.clone(),
                    lifecycle,
                    &log,
                )
            },
        )?
    };
    Ok(ProcessingPipeline {
        manager,
        workers,
        shared,
        model_configured,
    })
}
