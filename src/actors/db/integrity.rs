//! The database's full integrity check on a schedule: `PRAGMA integrity_check`,
//! `foreign_key_check` and the full-text index check, at start and every
//! [`INTEGRITY_CHECK_INTERVAL`], each outcome pushed to whoever alerts on it (the ops rules)
//! as an [`IntegrityChecked`].

use std::time::Duration;

use actix::{Message, Recipient};
use slog::{Logger, warn};

use super::actor::DbActor;
use super::messages::CheckIntegrity;
use crate::logging::error_chain;
use crate::supervisor::ComponentHandle;

/// SQLite's check reads every page, so it runs rarely; the "writable" probe covers the fast
/// failures in between.
pub const INTEGRITY_CHECK_INTERVAL: Duration = Duration::from_secs(6 * 3_600);

/// The outcome of one full check: `None` when the database is sound, else every problem it
/// found, joined.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct IntegrityChecked {
    pub problem: Option<String>,
}

/// Checks through the DbActor at once and then every [`INTEGRITY_CHECK_INTERVAL`], for as
/// long as the actix System runs; a check missed while the component restarts waits for the
/// next tick.
pub async fn check_integrity_periodically(
    db: ComponentHandle<DbActor>,
    report: Recipient<IntegrityChecked>,
    log: Logger,
) {
    let mut interval = tokio::time::interval(INTEGRITY_CHECK_INTERVAL);
    loop {
        interval.tick().await;
        let problem = match db.send(CheckIntegrity).await {
            Ok(Ok(report)) if report.ok => None,
            Ok(Ok(report)) => Some(report.problems.join("; ")),
            Ok(Err(err)) => Some(error_chain(&err)),
            // The database component is restarting: the health rules already report that.
            Err(_) => continue,
        };
        if let Some(problem) = &problem {
            warn!(log, "Database integrity check found problems"; "problems" => problem);
        }
        if let Err(err) = report.send(IntegrityChecked { problem }).await {
            warn!(log, "Integrity outcome not delivered to the ops rules"; "error" => %err);
        }
    }
}
