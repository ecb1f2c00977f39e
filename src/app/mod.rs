//! The service: builds every component under the supervisor, serves the admin API, and shuts
//! down in order on SIGTERM/SIGINT. `run` and `demo` both end up in [`serve`].

mod backup;
pub mod config;
pub mod demo;
pub mod discord;
mod error;
pub mod processing;
mod shutdown;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Recipient};
use actix_web::web;
use chrono::Utc;
use serde_json::json;
use slog::{Logger, error, info, o, warn};

pub use error::AppError;

use self::config::Config;
use self::discord::DiscordPipeline;
use crate::actors::alert::{AlertActor, AlertMetrics, AlertSettings};
use crate::actors::db::{Database, DbActor, ProbeWritable, check_integrity_periodically};
use crate::actors::health::{EnableOpsRules, OpsSources, OpsThresholds, cpu_limit_cores};
use crate::actors::health::{HealthActor, Probe, RegisterProbe};
use crate::actors::llm::{LlmAlert, LlmMetrics, LlmRouterActor, RouterSettings};
use crate::actors::ratelimit::RateLimiterHandle;
use crate::admin::auth::AccessPolicy;
use crate::admin::{
    AdminState, DiscordStatusSources, HttpMetrics, ProbeRefresh, ProcessingSources, ServiceFacts,
};
use crate::metrics::{Metrics, register_service_metrics};
use crate::supervisor::{
    ComponentHandle, ComponentStatus, ComponentStatusChanged, ComponentSupervisor, Readiness,
    RestartPolicy,
};
use crate::system_stats::SharedProcessSampler;

/// Component names as they appear in `/health/detailed` and the logs.
pub const DATABASE_COMPONENT: &str = "database";
pub const ADMIN_API_COMPONENT: &str = "admin_api";
pub const LLM_COMPONENT: &str = "llm_router";
pub const ALERTS_COMPONENT: &str = "alerts";
/// The probe behind "the DB is writable" in `/health/ready`.
pub const DATABASE_WRITABLE_PROBE: &str = "database_writable";

/// Which command started the service; shown in `/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Demo,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Demo => "demo",
        }
    }
}

/// Runs the service until SIGTERM/SIGINT, then shuts down within
/// `monitoring.shutdown_timeout_secs`. Must run inside an actix `System`.
pub async fn serve(config: Config, mode: Mode, log: Logger) -> Result<(), AppError> {
    let started = Instant::now();
    let log = log.new(o!("logger" => "discord_monitor"));
    info!(log, "Starting discord-monitor";
        "version" => env!("CARGO_PKG_VERSION"), "mode" => mode.as_str(),
        "environment" => config.environment.as_str());
    let metrics = Arc::new(Metrics::new());
    let health = HealthActor::new(
        Duration::from_secs(config.monitoring.health_check_interval_seconds),
        &log,
    )
    .start();
    let mut components = ComponentSupervisor::new(health.clone().recipient(), Arc::clone(&metrics));

    let _database_lock = backup::lock_database(&config)?;
    let db = start_database(&config, &log, &health, &mut components).await?;
    let alerts = start_alerts(&config, &log, &mut components, &db, &metrics)?;
    let discord = discord::start(&config, &log, &mut components, &db, &metrics)?;
    let sampler = SharedProcessSampler::new(config.processing.memory_limit_mb)
        .map(Arc::new)
        .inspect_err(|err| warn!(log, "No process figures"; "error" => %err))
        .ok();
    register_service_metrics(
        &metrics,
        config.environment.as_str(),
        started,
        sampler.as_ref(),
    )?;
    enable_ops_rules(&config, &health, &alerts, &discord, sampler.clone()).await?;
    actix_rt::spawn(check_integrity_periodically(
        db.clone(),
        health.clone().recipient(),
        log.clone(),
    ));
    // The router's budget and dead-target events go to the ops rules, which alert.
    let llm_alerts = Some(health.clone().recipient());
    let llm = start_llm(&config, &log, &mut components, &db, llm_alerts, &metrics)?;
    // A worker restarted for making no progress raises the ops rules' `pipeline_stalled`.
    let processing = processing::start(
        &config,
        &log,
        &mut components,
        &db,
        &llm,
        sampler.clone(),
        Some(health.clone().recipient()),
        &metrics,
    )?;
    // Each backup's outcome feeds the ops rules' "backup failed" alert.
    let backup_outcomes = Some(health.clone().recipient());
    let backups = backup::start(&config, &log, &mut components, backup_outcomes, &metrics)?;

    let policy = AccessPolicy::new(
        config.admin.token.clone(),
        config
            .admin
            .allowed_networks()
            .map_err(|err| AppError::Config(err.to_string()))?,
    );
    let state = web::Data::new(AdminState {
        health: health.clone(),
        db: db.clone(),
        alerts: Some(alerts.clone()),
        http_metrics: HttpMetrics::register(&metrics)?,
        metrics: Arc::clone(&metrics),
        policy,
        service: ServiceFacts {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            environment: config.environment.as_str(),
            mode: mode.as_str(),
            started_at: Utc::now(),
            started,
        },
        sanitized_config: config.sanitized_json(),
        discord: Some(DiscordStatusSources {
            gateway: discord.gateway.clone(),
            rest: discord.rest.clone(),
            limiter: RateLimiterHandle::from(discord.limiter.clone()),
            backfill: Arc::clone(&discord.backfill_status),
            ingest_stats: Arc::clone(&discord.ingest_stats),
            queue: discord.queue.clone(),
        }),
        processing_limits: json!({
            "max_queue_size": config.processing.max_queue_size,
            "worker_count": config.processing.worker_count,
            "memory_limit_mb": config.processing.memory_limit_mb,
            "batch_size": config.processing.batch_size,
            "batch_max_wait_secs": config.processing.batch_max_wait_secs,
            "stall_timeout_secs": config.processing.stall_timeout_secs,
        }),
        processing: Some(ProcessingSources {
            shared: Arc::clone(&processing.shared),
            model_configured: processing.model_configured,
        }),
        llm: Some(llm.clone()),
        backup: Some(backups.clone()),
        sampler,
        log: log.new(o!("logger" => "http")),
        slow_threshold: Duration::from_millis(config.monitoring.slow_operation_threshold_ms),
        probe_refresh: ProbeRefresh::default(),
    });

    report_admin_api(&health, ComponentStatus::Starting).await?;
    let (server, server_handle) = crate::admin::start(
        state,
        (
            config.monitoring.health_check_host.clone(),
            config.monitoring.health_check_port,
        ),
        config.admin.max_body_bytes,
        Duration::from_secs(config.monitoring.shutdown_timeout_secs),
    )?;
    report_admin_api(&health, ComponentStatus::Up).await?;
    info!(log, "Admin API listening";
        "address" => format!("{}:{}", config.monitoring.health_check_host,
                             config.monitoring.health_check_port));
    let mut server_task = actix_rt::spawn(server);
    if mode == Mode::Demo {
        actix_rt::spawn(demo::report_progress(
            db.clone(),
            discord.gateway.clone(),
            Arc::clone(&processing.shared),
        ));
    }

    let signal = tokio::select! {
        signal = shutdown::wait_for_signal() => signal?,
        result = &mut server_task => {
            let reason = match result {
                Ok(Ok(())) => "admin API stopped".to_owned(),
                Ok(Err(err)) => format!("admin API failed: {err}"),
                Err(err) => format!("admin API task ended: {err}"),
            };
            error!(log, "Admin API ended unexpectedly; shutting down"; "error" => &reason);
            return Err(AppError::Startup(reason));
        }
    };
    info!(log, "Shutting down"; "signal" => signal,
        "deadline_secs" => config.monitoring.shutdown_timeout_secs);
    let deadline = Duration::from_secs(config.monitoring.shutdown_timeout_secs);
    let outcome = tokio::time::timeout(
        deadline,
        shutdown::ordered(&log, &health, &discord, &db, &components, server_handle),
    )
    .await;
    match outcome {
        Ok(()) => {
            info!(log, "Stopped cleanly"; "uptime_secs" => started.elapsed().as_secs());
            Ok(())
        }
        Err(_) => {
            warn!(log, "Shutdown deadline passed; exiting anyway";
                "deadline_secs" => deadline.as_secs());
            Err(AppError::ShutdownTimeout(deadline))
        }
    }
}

/// Opens the database (failing fast with a clear message when it cannot be opened at all:
/// a wrong path is not something a restart fixes), then runs it as a supervised component
/// with a "writable" readiness probe.
async fn start_database(
    config: &Config,
    log: &Logger,
    health: &Addr<HealthActor>,
    components: &mut ComponentSupervisor,
) -> Result<ComponentHandle<DbActor>, AppError> {
    let db = Database::open(&config.database).map_err(AppError::Database)?;
    let slow = Duration::from_millis(config.monitoring.slow_operation_threshold_ms);
    let actor_log = log.clone();
    let handle = components.supervise(
        DATABASE_COMPONENT,
        Readiness::Required,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            DbActor::new(db.clone(), actor_log.clone(), slow).with_lifecycle(lifecycle)
        },
    )?;
    let probe_handle = handle.clone();
    health
        .send(RegisterProbe {
            name: DATABASE_WRITABLE_PROBE.to_owned(),
            required: true,
            probe: Probe::new(move || {
                let answer = probe_handle.ask(ProbeWritable);
                async move { answer.await.map(drop) }
            }),
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))?;
    Ok(handle)
}

/// The AlertActor, supervised. Not required for readiness: a receiver being down must not
/// take the service out of its load balancer, and undelivered alerts wait in the outbox.
fn start_alerts(
    config: &Config,
    log: &Logger,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    metrics: &Arc<Metrics>,
) -> Result<ComponentHandle<AlertActor>, AppError> {
    let settings = Arc::new(AlertSettings::from_config(&config.alerts));
    info!(log, "Alert routes"; "routes" => settings.routes.iter()
        .map(|route| route.name.as_str()).collect::<Vec<_>>().join(","));
    let metrics = AlertMetrics::register(
        metrics,
        settings.routes.iter().map(|route| route.name.as_str()),
    )?;
    let (db, log) = (db.clone(), log.clone());
    Ok(components.supervise(
        ALERTS_COMPONENT,
        Readiness::Optional,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            AlertActor::new(Arc::clone(&settings), db.clone(), lifecycle, &log)
                .with_metrics(metrics.clone())
        },
    )?)
}

/// The ops alert rules run in the HealthActor, which holds most of what they read; this hands
/// it the other figures (process figures, the Discord error count, the pipeline's stall) and
/// the AlertActor.
async fn enable_ops_rules(
    config: &Config,
    health: &Addr<HealthActor>,
    alerts: &ComponentHandle<AlertActor>,
    discord: &DiscordPipeline,
    sampler: Option<Arc<SharedProcessSampler>>,
) -> Result<(), AppError> {
    let (errors, stall) = (discord.clone(), Arc::clone(&discord.stall));
    let sources = OpsSources {
        sampler,
        cpu_limit_cores: cpu_limit_cores(),
        database_probe: Some(DATABASE_WRITABLE_PROBE.to_owned()),
        discord_errors: Some(Arc::new(move || errors.errors_total())),
        pipeline_stall: Some(Arc::new(move || stall.stalled_for())),
    };
    health
        .send(EnableOpsRules {
            thresholds: OpsThresholds::from_config(&config.alerts),
            interval: Duration::from_secs(config.alerts.rules_interval_secs.max(1)),
            sources,
            alerts: alerts.recipient(),
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))
}

/// The admin API is not supervised (the server is the service's own task), so its status is
/// reported here: starting before it binds, up once it listens.
async fn report_admin_api(
    health: &Addr<HealthActor>,
    status: ComponentStatus,
) -> Result<(), AppError> {
    health
        .send(ComponentStatusChanged {
            name: ADMIN_API_COMPONENT.to_owned(),
            readiness: Readiness::Required,
            status,
            error: None,
            restarts: 0,
            needs_reconfiguration: false,
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))
}

/// The LLM router: every model call goes through it. Optional for readiness: without a
/// usable model the assistant features degrade, but messages are still kept.
fn start_llm(
    config: &Config,
    log: &Logger,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    alerts: Option<Recipient<LlmAlert>>,
    metrics: &Arc<Metrics>,
) -> Result<ComponentHandle<LlmRouterActor>, AppError> {
    // The ledger follows the database component through its rebuilds.
    let (ledger, ledger_totals) = (db.recipient(), db.recipient());
    let (load_modes, save_mode) = (db.recipient(), db.recipient());
    let metrics = LlmMetrics::register(metrics, &config.llm)?;
    let (llm_config, log) = (config.llm.clone(), log.clone());
    Ok(components.supervise(
        LLM_COMPONENT,
        Readiness::Optional,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            LlmRouterActor::new(
                llm_config.clone(),
                RouterSettings::default(),
                ledger.clone(),
                ledger_totals.clone(),
                load_modes.clone(),
                save_mode.clone(),
                alerts.clone(),
                lifecycle,
                &log,
            )
            .with_metrics(metrics.clone())
        },
    )?)
}
