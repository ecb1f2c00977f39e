//! Signals and the order of a clean shutdown.

use std::time::Duration;

use actix::Addr;
use actix_web::dev::ServerHandle;
use slog::{Logger, info, warn};

use super::discord::DiscordPipeline;
use super::error::AppError;
use crate::actors::db::{Checkpoint, DbActor};
use crate::actors::health::{HealthActor, SetShuttingDown};
use crate::actors::ingest::Flush;
use crate::supervisor::{ComponentHandle, ComponentSupervisor};

/// Waits for SIGTERM (Kubernetes, Docker, systemd) or SIGINT (Ctrl-C); returns its name.
pub async fn wait_for_signal() -> Result<&'static str, AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(AppError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(AppError::Signals)?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}

/// Longest the storage path may take to write what is queued at shutdown; the overall
/// deadline (`monitoring.shutdown_timeout_secs`) still bounds everything.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Readiness off (load balancers stop sending), intake stopped (the gateway closes its
/// session resumably), queued events written, the WAL checkpointed, the admin API drained,
/// then every component stopped.
pub async fn ordered(
    log: &Logger,
    health: &Addr<HealthActor>,
    discord: &DiscordPipeline,
    db: &ComponentHandle<DbActor>,
    components: &ComponentSupervisor,
    server: ServerHandle,
) {
    if let Err(err) = health.send(SetShuttingDown).await {
        warn!(log, "Could not mark the service as shutting down"; "error" => %err);
    }
    discord.gateway.stop().await;
    match discord
        .ingest
        .send(Flush {
            timeout: FLUSH_TIMEOUT,
        })
        .await
    {
        Ok(status) if status.queue_depth == 0 => {
            // What the next process resumes from (the gateway closed resumably).
            let saved_seq = discord.ingest_stats.saved_session().map(|saved| saved.seq);
            info!(log, "Ingest queue flushed"; "events" => status.events, "saved_seq" => saved_seq);
        }
        Ok(status) => warn!(log, "Ingest queue not empty at shutdown; backfill recovers the rest";
            "queued" => status.queue_depth),
        Err(err) => warn!(log, "Ingest unavailable at shutdown"; "error" => %err),
    }
    match db.send(Checkpoint).await {
        Ok(Ok(outcome)) => info!(log, "Database flushed"; "checkpoint" => ?outcome),
        Ok(Err(err)) => warn!(log, "Database checkpoint failed"; "error" => %err),
        Err(err) => warn!(log, "Database unavailable at shutdown"; "error" => %err),
    }
    server.stop(true).await;
    components.stop_all().await;
}
