//! The backup side of the service: the database lock held while it runs, and the supervised
//! [`BackupActor`].

use std::sync::Arc;

use actix::Recipient;
use slog::Logger;

use super::AppError;
use super::config::Config;
use crate::actors::backup::{
    BackupActor, BackupMetrics, BackupOutcome, BackupSettings, DatabaseLock,
};
use crate::actors::db::Database;
use crate::logging::error_chain;
use crate::metrics::Metrics;
use crate::supervisor::{ComponentHandle, ComponentSupervisor, Readiness, RestartPolicy};

/// The component's name in `/health/detailed` and the logs.
pub const BACKUP_COMPONENT: &str = "backup";

/// Connections in the backup actor's own pool: backups run one at a time and use one at a
/// time (the snapshot, then its `backups` row); a second covers a reopen racing a straggler.
const BACKUP_POOL_SIZE: u32 = 2;

/// Takes the database's lock for the life of the service: a second instance on the same
/// file fails here with the first one's pid, and `db restore`/`db vacuum` refuse while it is
/// held. Keep the returned guard until the service ends.
pub fn lock_database(config: &Config) -> Result<DatabaseLock, AppError> {
    DatabaseLock::acquire(&config.database.path, "service")
        .map_err(|err| AppError::Startup(error_chain(&err)))
}

/// The BackupActor, supervised, with a small pool of its own on the database file. Not
/// required for readiness: a failing backup is an alert, not a reason to stop serving.
pub fn start(
    config: &Config,
    log: &Logger,
    components: &mut ComponentSupervisor,
    outcomes: Option<Recipient<BackupOutcome>>,
    metrics: &Arc<Metrics>,
) -> Result<ComponentHandle<BackupActor>, AppError> {
    let database = crate::actors::db::DatabaseConfig {
        connection_pool_size: BACKUP_POOL_SIZE,
        ..config.database.clone()
    };
    let db = Database::open(&database).map_err(AppError::Database)?;
    let settings = BackupSettings::from_config(&config.database);
    let (log, metrics) = (log.clone(), BackupMetrics::register(metrics)?);
    Ok(components.supervise(
        BACKUP_COMPONENT,
        Readiness::Optional,
        RestartPolicy::from_config(&config.monitoring),
        move |lifecycle| {
            BackupActor::new(
                db.clone(),
                settings.clone(),
                outcomes.clone(),
                lifecycle,
                &log,
            )
            .with_metrics(metrics.clone())
        },
    )?)
}
