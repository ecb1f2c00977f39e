//! Database backups, and the maintenance that needs the database to itself.
//!
//! - `actor.rs`: [`BackupActor`], the schedule (`database.backup_interval_hours`), backups on
//!   demand, outcomes to the ops rules; `messages.rs` its messages and [`BackupStatus`].
//! - `run.rs`: one backup end to end ([`take_backup`]: `backups` row, snapshot, retention),
//!   the schedule's arithmetic; shared by the actor and `db backup`.
//! - `snapshot.rs`: the file work: `VACUUM INTO` a `.partial` file, verify, sha256, fsync,
//!   metadata sidecar, rename ([`BackupMetadata`]).
//! - `catalog.rs`: what `backup_dir` holds ([`list_backups`]), retention, crash leftovers.
//! - `name.rs`: which file names are ours ([`BackupName`]).
//! - `lock.rs`: [`DatabaseLock`], held by the service, tried by restore, vacuum and repair.
//! - `restore.rs`: `db restore` ([`RestorePlan`]) and `db vacuum` ([`vacuum_database`]).
//! - `repair.rs`: `db repair` ([`repair_database`]): check, WAL folded in, indexes and the
//!   full-text index rebuilt, the file rebuilt when damage remains, the backup to restore
//!   named when even that fails.
//! - `replace.rs`: what restore and repair share: the safety copy of the current database
//!   (`-pre-restore` / `-pre-repair`, outside retention) and the atomic swap of a new file.
//! - `events.rs`: log lines and metrics per event, `metrics.rs` the metrics
//!   ([`BackupMetrics`]); `error.rs`: [`BackupError`].
//!
//! A backup is `db-<UTC time>.sqlite` plus `db-<UTC time>.json` in `database.backup_dir`: a
//! compact, verified SQLite file that opens as a database on its own. Safety copies taken by
//! `db restore` and `db repair` carry a `-pre-restore` / `-pre-repair` suffix and are never
//! deleted automatically ([`BackupKind`]).

mod actor;
mod catalog;
mod error;
mod events;
mod lock;
mod messages;
mod metrics;
mod name;
mod repair;
mod replace;
mod restore;
mod run;
mod snapshot;
#[cfg(test)]
mod tests;

pub use actor::{BackupActor, BackupOutcome};
pub use catalog::{BackupEntry, list_backups};
pub use error::BackupError;
pub use lock::DatabaseLock;
pub use messages::{BackupNow, BackupStatus, GetBackupStatus, ListBackups};
pub use metrics::BackupMetrics;
pub use name::{BackupKind, BackupName};
pub use repair::{RepairReport, repair_database};
pub use restore::{RestorePlan, RestoreReport, RestoreSource, VacuumReport, vacuum_database};
pub use run::{BackupRecord, BackupSettings, take_backup};
pub use snapshot::{BackupMetadata, BackupReason};
