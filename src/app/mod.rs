//! The service: builds every component under the supervisor, serves the admin API, and shuts
//! down in order on SIGTERM/SIGINT. `run` and `demo` both end up in [`serve`].

mod backup;
pub mod config;
pub mod demo;
pub mod discord;
mod error;
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
use crate::actors::alert::{AlertActor, AlertSettings};
use crate::actors::db::{Database, DbActor, ProbeWritable, check_integrity_periodically};
use crate::actors::health::{
    EnableOpsRules, OpsSources, OpsThresholds, cpu_limit_cores, discord_errors_from,
};
use crate::actors::health::{HealthActor, Probe, RegisterComponent, RegisterProbe};
use crate::actors::ingest::{IngestSender, IngestStats};
use crate::actors::llm::{LlmAlert, LlmRouterActor, RouterSettings};
use crate::actors::ratelimit::RateLimiterHandle;
use crate::admin::auth::AccessPolicy;
use crate::admin::{AdminState, DiscordStatusSources, ProbeRefresh, ServiceFacts};
use crate::metrics::Metrics;
use crate::supervisor::{
    ComponentHandle, ComponentStatus, ComponentStatusChanged, ComponentSupervisor, RestartPolicy,
};
use crate::system_stats::{ProcessFigures, SharedProcessSampler};

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
    let mut components = ComponentSupervisor::new(health.clone().recipient());

    let _database_lock = backup::lock_database(&config)?;
    let db = start_database(&config, &log, &health, &mut components).await?;
    let alerts = start_alerts(&config, &log, &health, &mut components, &db, &metrics).await?;
    let discord = discord::start(&config, &log, &health, &mut components, &db, &metrics).await?;
    register_component_metrics(&metrics, &db);
    register_component_metrics(&metrics, &alerts);
    register_component_metrics(&metrics, &discord.gateway);
    register_component_metrics(&metrics, &discord.ingest);
    register_component_metrics(&metrics, &discord.backfill);
    register_component_metrics(&metrics, &discord.limiter);
    let sampler = SharedProcessSampler::new(config.processing.memory_limit_mb)
        .map(Arc::new)
        .inspect_err(|err| warn!(log, "No process figures"; "error" => %err))
        .ok();
    register_service_metrics(&metrics, &config, started, sampler.as_ref());
    enable_ops_rules(
        &config,
        &health,
        &alerts,
        OpsInputs {
            sampler: sampler.clone(),
            metrics: Arc::clone(&metrics),
            ingest_stats: Arc::clone(&discord.ingest_stats),
            queue: discord.queue.clone(),
        },
    )
    .await?;
    actix_rt::spawn(check_integrity_periodically(
        db.clone(),
        health.clone().recipient(),
        log.clone(),
    ));
    // The router's budget and dead-target events go to the ops rules, which alert.
    let llm_alerts = Some(health.clone().recipient());
    let llm = start_llm(
        &config,
        &log,
        &health,
        &mut components,
        &db,
        llm_alerts,
        &metrics,
    )
    .await?;
    register_component_metrics(&metrics, &llm);
    // Each backup's outcome feeds the ops rules' "backup failed" alert.
    let backup_outcomes = Some(health.clone().recipient());
    let backups = backup::start(
        &config,
        &log,
        &health,
        &mut components,
        backup_outcomes,
        &metrics,
    )
    .await?;
    register_component_metrics(&metrics, &backups);

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
        }),
        llm: Some(llm.clone()),
        backup: Some(backups.clone()),
        sampler,
        log: log.new(o!("logger" => "http")),
        slow_threshold: Duration::from_millis(config.monitoring.slow_operation_threshold_ms),
        probe_refresh: ProbeRefresh::default(),
    });

    health
        .send(RegisterComponent {
            name: ADMIN_API_COMPONENT.to_owned(),
            required: true,
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))?;
    let (server, server_handle) = crate::admin::start(
        state,
        (
            config.monitoring.health_check_host.clone(),
            config.monitoring.health_check_port,
        ),
        config.admin.max_body_bytes,
        Duration::from_secs(config.monitoring.shutdown_timeout_secs),
    )?;
    let _ = health.try_send(ComponentStatusChanged {
        name: ADMIN_API_COMPONENT.to_owned(),
        status: ComponentStatus::Up,
        error: None,
        restarts: 0,
        needs_reconfiguration: false,
    });
    info!(log, "Admin API listening";
        "address" => format!("{}:{}", config.monitoring.health_check_host,
                             config.monitoring.health_check_port));
    let mut server_task = actix_rt::spawn(server);
    if mode == Mode::Demo {
        actix_rt::spawn(demo::report_progress(db.clone(), discord.gateway.clone()));
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
    health
        .send(RegisterComponent {
            name: DATABASE_COMPONENT.to_owned(),
            required: true,
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))?;
    let slow = Duration::from_millis(config.monitoring.slow_operation_threshold_ms);
    let actor_log = log.clone();
    let handle = components.supervise(
        DATABASE_COMPONENT,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            DbActor::new(db.clone(), actor_log.clone(), slow).with_lifecycle(lifecycle)
        },
    );
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
async fn start_alerts(
    config: &Config,
    log: &Logger,
    health: &Addr<HealthActor>,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    metrics: &Arc<Metrics>,
) -> Result<ComponentHandle<AlertActor>, AppError> {
    health
        .send(RegisterComponent {
            name: ALERTS_COMPONENT.to_owned(),
            required: false,
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))?;
    let settings = Arc::new(AlertSettings::from_config(&config.alerts));
    info!(log, "Alert routes"; "routes" => settings.routes.iter()
        .map(|route| route.name.as_str()).collect::<Vec<_>>().join(","));
    let (db, log, metrics) = (db.clone(), log.clone(), Arc::clone(metrics));
    Ok(components.supervise(
        ALERTS_COMPONENT,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            AlertActor::new(Arc::clone(&settings), db.clone(), lifecycle, &log)
                .with_metrics(Arc::clone(&metrics))
        },
    ))
}

/// What the ops rules read from the rest of the service.
struct OpsInputs {
    sampler: Option<Arc<SharedProcessSampler>>,
    metrics: Arc<Metrics>,
    ingest_stats: Arc<IngestStats>,
    queue: IngestSender,
}

/// The ops alert rules run in the HealthActor, which holds most of what they read; this hands
/// it the other figures and the AlertActor.
async fn enable_ops_rules(
    config: &Config,
    health: &Addr<HealthActor>,
    alerts: &ComponentHandle<AlertActor>,
    inputs: OpsInputs,
) -> Result<(), AppError> {
    let metrics = inputs.metrics;
    let (stats, queue) = (inputs.ingest_stats, inputs.queue);
    let waiting_since = std::sync::Mutex::new(None::<u64>);
    let sources = OpsSources {
        sampler: inputs.sampler,
        cpu_limit_cores: cpu_limit_cores(),
        database_probe: Some(DATABASE_WRITABLE_PROBE.to_owned()),
        discord_errors: Some(Arc::new(move || discord_errors_from(&metrics))),
        // Stalled for as long as events have been waiting with no batch finished since:
        // measured from the later of "the queue stopped being empty" and the last batch, so
        // an event arriving after a quiet hour is not a stall.
        pipeline_stall: Some(Arc::new(move || {
            let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
            let Ok(mut waiting_since) = waiting_since.lock() else {
                return Duration::ZERO;
            };
            if queue.max_capacity() == queue.capacity() {
                *waiting_since = None;
                return Duration::ZERO;
            }
            let since = *waiting_since.get_or_insert(now_ms);
            let last_batch_ms = stats
                .last_batch_at_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            Duration::from_millis(now_ms.saturating_sub(since.max(last_batch_ms)))
        })),
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

/// Process-level figures every scrape should see.
/// `discord_monitor_component_up{component}` (1 up or degraded, else 0) and its restarts.
fn register_component_metrics<A: Actor<Context = actix::Context<A>>>(
    metrics: &Metrics,
    handle: &ComponentHandle<A>,
) {
    let name = handle.name().to_owned();
    let up = handle.clone();
    let _ = metrics.gauge_fn(
        "discord_monitor_component_up",
        "1 while the component is up (or degraded), 0 while starting, restarting or failed",
        &[("component", &name)],
        move || f64::from(u8::from(up.status().is_serving())),
    );
    let restarts = handle.clone();
    let _ = metrics.counter_fn(
        "discord_monitor_component_restarts_total",
        "Restarts of the component by its supervisor",
        &[("component", &name)],
        move || f64::from(restarts.restarts()),
    );
}

/// Name, help text and reading of one gauge computed from the process figures.
type ProcessGauge = (&'static str, &'static str, fn(&ProcessFigures) -> f64);

fn register_service_metrics(
    metrics: &Metrics,
    config: &Config,
    started: Instant,
    sampler: Option<&Arc<SharedProcessSampler>>,
) {
    let _ = metrics.gauge_fn(
        "discord_monitor_uptime_seconds",
        "Seconds since the service started",
        &[],
        move || started.elapsed().as_secs_f64(),
    );
    let _ = metrics
        .gauge(
            "discord_monitor_build_info",
            "Always 1; the labels describe this build",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("environment", config.environment.as_str()),
            ],
        )
        .map(|gauge| gauge.set(1.0));
    let Some(sampler) = sampler else {
        return;
    };
    let gauges: [ProcessGauge; 4] = [
        (
            "discord_monitor_process_resident_memory_bytes",
            "Resident memory of this process",
            |f| f.resident_memory_bytes as f64,
        ),
        (
            "discord_monitor_memory_limit_bytes",
            "Memory limit in force: the container's cgroup limit, else processing.memory_limit_mb",
            |f| f.memory_limit_bytes as f64,
        ),
        (
            "discord_monitor_memory_used_ratio",
            "Resident memory divided by the memory limit in force",
            |f| f.memory_used_ratio,
        ),
        (
            "discord_monitor_process_cpu_usage_ratio",
            "CPU used by this process between readings, in cores (1.0 = one full core)",
            |f| f64::from(f.cpu_percent) / 100.0,
        ),
    ];
    for (name, help, read) in gauges {
        let sampler = Arc::clone(sampler);
        let _ = metrics.gauge_fn(name, help, &[], move || {
            sampler.figures().map_or(0.0, |figures| read(&figures))
        });
    }
}

/// The LLM router: every model call goes through it. Optional for readiness: without a
/// usable model the assistant features degrade, but messages are still kept.
async fn start_llm(
    config: &Config,
    log: &Logger,
    health: &Addr<HealthActor>,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    alerts: Option<Recipient<LlmAlert>>,
    metrics: &Arc<Metrics>,
) -> Result<ComponentHandle<LlmRouterActor>, AppError> {
    health
        .send(RegisterComponent {
            name: LLM_COMPONENT.to_owned(),
            required: false,
        })
        .await
        .map_err(|err| AppError::Startup(format!("health actor: {err}")))?;
    // The ledger follows the database component through its rebuilds.
    let (ledger, ledger_totals) = (db.recipient(), db.recipient());
    let (llm_config, log, metrics) = (config.llm.clone(), log.clone(), Arc::clone(metrics));
    Ok(components.supervise(
        LLM_COMPONENT,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            LlmRouterActor::new(
                llm_config.clone(),
                RouterSettings::default(),
                ledger.clone(),
                ledger_totals.clone(),
                alerts.clone(),
                lifecycle,
                &log,
            )
            .with_metrics(Arc::clone(&metrics))
        },
    ))
}
