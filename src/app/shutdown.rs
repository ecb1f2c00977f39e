//! Signals and the order of a clean shutdown.

use actix::Addr;
use actix_web::dev::ServerHandle;
use slog::{Logger, info, warn};

use super::error::AppError;
use crate::actors::db::{Checkpoint, DbActor};
use crate::actors::health::{HealthActor, SetShuttingDown};
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

/// Readiness off (load balancers stop sending), intake stopped, queued writes flushed and the
/// WAL checkpointed, the admin API drained, then every component stopped.
pub async fn ordered(
    log: &Logger,
    health: &Addr<HealthActor>,
    db: &ComponentHandle<DbActor>,
    components: &ComponentSupervisor,
    server: ServerHandle,
) {
    if let Err(err) = health.send(SetShuttingDown).await {
        warn!(log, "Could not mark the service as shutting down"; "error" => %err);
    }
    match db.send(Checkpoint).await {
        Ok(Ok(outcome)) => info!(log, "Database flushed"; "checkpoint" => ?outcome),
        Ok(Err(err)) => warn!(log, "Database checkpoint failed"; "error" => %err),
        Err(err) => warn!(log, "Database unavailable at shutdown"; "error" => %err),
    }
    server.stop(true).await;
    components.stop_all().await;
}
