//! Wires the Discord side: the REST rate limiter and client, backfill, the storage path
//! (bounded queue + IngestActor) and the gateway, each a supervised component with its
//! metrics. Started after the database, so stopped before it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use slog::Logger;

use super::config::Config;
use super::error::AppError;
use crate::actors::backfill::{
    BackfillActor, BackfillMetrics, BackfillSettings, BackfillStatus, SharedBackfillStatus,
};
use crate::actors::db::{DbActor, LoadGatewaySession};
use crate::actors::gateway::{
    GatewayActor, GatewayInfoSource, GatewayMetrics, GatewaySettings, PersistedSessionSource,
    SessionLoadError,
};
use crate::actors::ingest::{
    self, IngestActor, IngestMetrics, IngestSender, IngestSettings, IngestStats, PipelineStall,
};
use crate::actors::ratelimit::{
    RateLimiterActor, RateLimiterHandle, RateLimiterMetrics, RateLimiterSettings, TokenState,
};
use crate::discord::ChannelDirectory;
use crate::discord::check::{CheckError, CheckReport, run_check};
use crate::discord::config::{DiscordConfig, TokenType};

use crate::discord::rest::DiscordRest;
use crate::metrics::Metrics;
use crate::supervisor::{ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy};

/// Component names in `/health/detailed` and the logs.
pub const REST_COMPONENT: &str = "discord_rest";
pub const GATEWAY_COMPONENT: &str = "discord_gateway";
pub const INGEST_COMPONENT: &str = "ingest";
pub const BACKFILL_COMPONENT: &str = "backfill";

/// Gateway events per storage batch at most: a few hundred rows make one quick transaction
/// (SQLite commits ~100k small rows/s), so a burst is absorbed without long write locks.
const MAX_BATCH_EVENTS: usize = 500;

/// What the rest of the service (shutdown, `/status`) needs of the Discord side.
#[derive(Clone)]
pub struct DiscordPipeline {
    pub limiter: ComponentHandle<RateLimiterActor>,
    pub gateway: ComponentHandle<GatewayActor>,
    pub ingest: ComponentHandle<IngestActor>,
    pub backfill: ComponentHandle<BackfillActor>,
    pub rest: DiscordRest,
    pub ingest_stats: Arc<IngestStats>,
    pub queue: IngestSender,
    pub backfill_status: SharedBackfillStatus,
    /// How long queued events have waited without progress, for the ops rules.
    pub stall: Arc<PipelineStall>,
    rest_metrics: RateLimiterMetrics,
    gateway_metrics: GatewayMetrics,
}

impl DiscordPipeline {
    /// Discord API errors so far, for the ops rules: REST answers with status 4xx/5xx or none
    /// at all (429s included), plus gateway reconnects.
    pub fn errors_total(&self) -> u64 {
        self.rest_metrics.errors_total() + self.gateway_metrics.reconnects_total()
    }
}

/// Every Discord component is required: without them nothing is monitored.
pub fn start(
    config: &Config,
    log: &Logger,
    components: &mut ComponentSupervisor,
    db: &ComponentHandle<DbActor>,
    metrics: &Arc<Metrics>,
) -> Result<DiscordPipeline, AppError> {
    let discord = &config.discord;
    let policy = RestartPolicy::from_config(&config.monitoring);

    let limiter_settings = RateLimiterSettings::from_config(discord);
    let token_state = TokenState::new();
    let rest_metrics = RateLimiterMetrics::register(metrics)?;
    let (limiter_metrics, limiter_log) = (rest_metrics.clone(), log.clone());
    let limiter = components.supervise(
        REST_COMPONENT,
        Readiness::Required,
        policy,
        move |lifecycle| {
            RateLimiterActor::new(limiter_settings.clone(), token_state.clone(), &limiter_log)
                .with_metrics(limiter_metrics.clone())
                .with_lifecycle(lifecycle)
        },
    )?;
    let rest = DiscordRest::new(
        discord,
        Arc::new(RateLimiterHandle::from(limiter.clone())),
        log,
    )
    .map_err(|err| AppError::Config(crate::logging::error_chain(&err)))?;

    let directory = ChannelDirectory::default();
    let backfill_status: SharedBackfillStatus = Arc::new(Mutex::new(BackfillStatus::default()));
    let backfill_settings = Arc::new(BackfillSettings {
        selection: discord.clone(),
        first_run_max_messages: discord.backfill_max_messages_per_channel,
        interval: Duration::from_secs(discord.backfill_interval_secs),
        concurrent_channels: usize::try_from(discord.backfill_concurrent_channels).unwrap_or(1),
    });
    let backfill = {
        let (rest, db, directory) = (rest.clone(), db.clone(), directory.clone());
        let metrics = BackfillMetrics::register(metrics, &backfill_status)?;
        let (status, log) = (Arc::clone(&backfill_status), log.clone());
        components.supervise(
            BACKFILL_COMPONENT,
            Readiness::Required,
            policy,
            move |lifecycle| {
                BackfillActor::new(
                    rest.clone(),
                    db.clone(),
                    directory.clone(),
                    Arc::clone(&backfill_settings),
                    Arc::clone(&status),
                    metrics.clone(),
                    lifecycle,
                    &log,
                )
            },
        )?
    };

    let (queue, receiver) = ingest::queue(config.processing.max_queue_size);
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let ingest_stats = Arc::new(IngestStats::default());
    let stall = Arc::new(PipelineStall::new(queue.clone(), Arc::clone(&ingest_stats)));
    let ingest_settings = Arc::new(IngestSettings {
        selection: discord.clone(),
        max_batch_events: MAX_BATCH_EVENTS,
        slow_threshold: Duration::from_millis(config.monitoring.slow_operation_threshold_ms),
        backfill: Some(backfill.recipient()),
    });
    let ingest = {
        let (queue, db, directory) = (queue.clone(), db.clone(), directory.clone());
        let metrics = IngestMetrics::register(metrics, &queue)?;
        let (stats, log) = (Arc::clone(&ingest_stats), log.clone());
        components.supervise(
            INGEST_COMPONENT,
            Readiness::Required,
            policy,
            move |lifecycle| {
                IngestActor::new(
                    Arc::clone(&receiver),
                    queue.clone(),
                    db.clone(),
                    directory.clone(),
                    Arc::clone(&ingest_settings),
                    Arc::clone(&stats),
                    metrics.clone(),
                    lifecycle,
                    &log,
                )
            },
        )?
    };

    let gateway_settings =
        GatewaySettings::from_config(discord).map_err(|err| AppError::Config(err.to_string()))?;
    let gateway_metrics = GatewayMetrics::register(metrics)?;
    let gateway_info = gateway_info_source(rest.clone());
    let saved_sessions = saved_session_source(db.clone(), discord.token_type == TokenType::Bot);
    let gateway = {
        let (events, metrics, log) = (queue.clone(), gateway_metrics.clone(), log.clone());
        components.supervise(
            GATEWAY_COMPONENT,
            Readiness::Required,
            policy,
            move |lifecycle| {
                GatewayActor::new(
                    gateway_settings.clone(),
                    Arc::clone(&gateway_info),
                    events.clone(),
                    metrics.clone(),
                    &log,
                    lifecycle,
                )
                .with_persisted_sessions(Arc::clone(&saved_sessions))
            },
        )?
    };
    Ok(DiscordPipeline {
        limiter,
        gateway,
        ingest,
        backfill,
        rest,
        ingest_stats,
        queue,
        backfill_status,
        stall,
        rest_metrics,
        gateway_metrics,
    })
}

/// `GET /gateway/bot` (or its stand-in for a user token) through the REST client.
fn gateway_info_source(rest: DiscordRest) -> GatewayInfoSource {
    Arc::new(move || {
        let rest = rest.clone();
        Box::pin(async move { rest.gateway_info().await })
    })
}

/// The session the IngestActor saved (see `actors::ingest`), read through the DbActor; `bot`:
/// whether the configured token is a bot's.
fn saved_session_source(db: ComponentHandle<DbActor>, bot: bool) -> PersistedSessionSource {
    Arc::new(move |shard_id| {
        let load = db.ask(LoadGatewaySession { shard_id });
        Box::pin(async move {
            let record = load
                .await
                .map_err(|err| Box::new(err) as SessionLoadError)?;
            Ok(record.map(|record| ingest::persisted_session(&record, bot)))
        })
    })
}

/// `discord check`: the report for `config`, through a RateLimiterActor of its own (so the
/// check honours `discord.rate_limit_requests_per_minute`). Must run inside an actix System.
pub async fn check(config: &DiscordConfig, log: &Logger) -> Result<CheckReport, CheckError> {
    let limiter = RateLimiterActor::new(
        RateLimiterSettings::from_config(config),
        TokenState::new(),
        log,
    )
    .start();
    run_check(config, Arc::new(RateLimiterHandle::from(limiter)), log).await
}
