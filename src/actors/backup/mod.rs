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
//! - `lock.rs`: [`DatabaseLock`], held by the service, tried by restore and vacuum.
//! - `restore.rs`: `db restore` ([`RestorePlan`]) and `db vacuum` ([`vacuum_database`]).
//! - `events.rs`: log lines and metrics per event; `error.rs`: [`BackupError`].
//!
//! A backup is `db-<UTC time>.sqlite` plus `db-<UTC time>.json` in `database.backup_dir`: a
//! compact, verified SQLite file that opens as a database on its own.

mod actor;
mod catalog;
mod error;
mod events;
mod lock;
mod messages;
mod name;
mod replace;
mod restore;
mod run;
mod snapshot;
#[cfg(test)]
mod tests;

pub use actor::BackupActor;
pub use catalog::{BackupEntry, list_backups};
pub use error::BackupError;
pub use lock::DatabaseLock;
pub use messages::{BackupNow, BackupStatus, GetBackupStatus, ListBackups};
pub use name::{BackupKind, BackupName};
pub use restore::{RestorePlan, RestoreReport, RestoreSource, VacuumReport, vacuum_database};
pub use run::{BackupRecord, BackupSettings, take_backup};
pub use snapshot::{BackupMetadata, BackupReason};
