//! Backup file names: what marks a file in `backup_dir` as ours, and when it was taken.
//!
//! - `db-20261128T234400.123Z.sqlite`: a backup in rotation (scheduled or manual); retention
//!   keeps the newest `database.max_backups` of these.
//! - `db-20261128T234400.123Z-pre-restore.sqlite`: the database as it was before a restore;
//!   never deleted automatically.
//! - `db-20261128T234400.123Z-pre-repair.sqlite`: the database as it was before `db repair`
//!   changed it; never deleted automatically.
//! - `<stem>.json`: the metadata sidecar beside each.
//! - `<name>.partial`: a file being written. Only a rename gives a file its final name, so a
//!   crash never leaves a file that looks like a finished backup.
//!
//! Anything else in the directory is not ours and is never touched. The timestamp has
//! milliseconds and a fixed width, so names sort by time and two backups a second apart (a
//! manual one beside a scheduled one) do not collide.

use chrono::{DateTime, NaiveDateTime, Utc};

const PREFIX: &str = "db-";
const DATABASE_EXTENSION: &str = ".sqlite";
const SIDECAR_EXTENSION: &str = ".json";
pub(super) const PARTIAL_EXTENSION: &str = ".partial";
/// UTC, ISO 8601 basic format with milliseconds: `20261128T234400.123Z`.
const TIMESTAMP_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// Which kind of file a backup name marks; the suffix of the name says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackupKind {
    /// Scheduled or manual: subject to retention (`database.max_backups`).
    Rotation,
    /// The database as it was before `db restore` replaced it.
    PreRestore,
    /// The database as it was before `db repair` changed it.
    PreRepair,
}

impl BackupKind {
    /// Every kind that has a suffix, for parsing.
    const SUFFIXED: [BackupKind; 2] = [BackupKind::PreRestore, BackupKind::PreRepair];

    const fn suffix(self) -> &'static str {
        match self {
            BackupKind::Rotation => "",
            BackupKind::PreRestore => "-pre-restore",
            BackupKind::PreRepair => "-pre-repair",
        }
    }

    /// Whether retention may remove it. Safety copies are the only copy of a database as it
    /// was before a maintenance command changed it: only a person deletes them.
    pub const fn in_rotation(self) -> bool {
        matches!(self, BackupKind::Rotation)
    }
}

/// The name of one backup (its database file and its sidecar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackupName {
    /// Truncated to milliseconds, the precision of the name.
    pub created_at: DateTime<Utc>,
    pub kind: BackupKind,
}

impl BackupName {
    pub fn new(created_at: DateTime<Utc>, kind: BackupKind) -> Self {
        let millis = created_at.timestamp_millis();
        Self {
            created_at: DateTime::from_timestamp_millis(millis).unwrap_or(created_at),
            kind,
        }
    }

    fn stem(&self) -> String {
        format!(
            "{PREFIX}{}{}",
            self.created_at.format(TIMESTAMP_FORMAT),
            self.kind.suffix()
        )
    }

    pub fn file_name(&self) -> String {
        format!("{}{DATABASE_EXTENSION}", self.stem())
    }

    pub fn sidecar_name(&self) -> String {
        format!("{}{SIDECAR_EXTENSION}", self.stem())
    }

    /// The name the next millisecond would have: how a name already taken is avoided.
    pub fn next(&self) -> Self {
        Self {
            created_at: self.created_at + chrono::Duration::milliseconds(1),
            kind: self.kind,
        }
    }

    /// The backup a database file name belongs to, if it is one of ours.
    pub fn parse_file_name(file_name: &str) -> Option<Self> {
        Self::parse_stem(file_name.strip_suffix(DATABASE_EXTENSION)?)
    }

    /// The backup a sidecar file name belongs to, if it is one of ours.
    pub fn parse_sidecar_name(file_name: &str) -> Option<Self> {
        Self::parse_stem(file_name.strip_suffix(SIDECAR_EXTENSION)?)
    }

    /// Whether `file_name` is a partial file (database or sidecar) of one of our backups.
    pub fn is_partial_name(file_name: &str) -> bool {
        file_name
            .strip_suffix(PARTIAL_EXTENSION)
            .is_some_and(|name| {
                Self::parse_file_name(name).is_some() || Self::parse_sidecar_name(name).is_some()
            })
    }

    fn parse_stem(stem: &str) -> Option<Self> {
        let rest = stem.strip_prefix(PREFIX)?;
        let (timestamp, kind) = BackupKind::SUFFIXED
            .iter()
            .find_map(|kind| Some((rest.strip_suffix(kind.suffix())?, *kind)))
            .unwrap_or((rest, BackupKind::Rotation));
        let created_at = NaiveDateTime::parse_from_str(timestamp, TIMESTAMP_FORMAT)
            .ok()?
            .and_utc();
        let name = Self { created_at, kind };
        // Only the exact spelling we write: `db-2026...Z (1).sqlite` or a hand-made variant
        // is somebody else's file.
        (name.stem() == stem).then_some(name)
    }
}

/// `name` with `.partial` appended: where a file is written before it gets `name`.
pub fn partial_name(name: &str) -> String {
    format!("{name}{PARTIAL_EXTENSION}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let name = BackupName::new(at("2026-11-28T23:44:00.123456Z"), BackupKind::Rotation);
        assert_eq!(name.file_name(), "db-20261128T234400.123Z.sqlite");
        assert_eq!(name.sidecar_name(), "db-20261128T234400.123Z.json");
        assert_eq!(BackupName::parse_file_name(&name.file_name()), Some(name));
        assert_eq!(
            BackupName::parse_sidecar_name(&name.sidecar_name()),
            Some(name)
        );

        let pre = BackupName::new(at("2026-11-28T23:44:00Z"), BackupKind::PreRestore);
        assert_eq!(
            pre.file_name(),
            "db-20261128T234400.000Z-pre-restore.sqlite"
        );
        assert_eq!(BackupName::parse_file_name(&pre.file_name()), Some(pre));

        let repair = BackupName::new(at("2026-11-28T23:44:00Z"), BackupKind::PreRepair);
        assert_eq!(
            repair.file_name(),
            "db-20261128T234400.000Z-pre-repair.sqlite"
        );
        assert_eq!(
            repair.sidecar_name(),
            "db-20261128T234400.000Z-pre-repair.json"
        );
        assert_eq!(
            BackupName::parse_file_name(&repair.file_name()),
            Some(repair)
        );
        assert!(BackupName::is_partial_name(&partial_name(
            &repair.file_name()
        )));
        assert!(!repair.kind.in_rotation() && !pre.kind.in_rotation());
        assert!(name.kind.in_rotation());

        let later = name.next();
        assert_eq!(later.file_name(), "db-20261128T234400.124Z.sqlite");
        assert!(name.file_name() < later.file_name());
    }

    #[test]
    fn files_that_are_not_ours_are_not_recognised() {
        for foreign in [
            "db.sqlite",
            "db-20261128T234400Z.sqlite",
            "db-20261128T234400.123Z (1).sqlite",
            "db-20261128T234400.123Z.sqlite.bak",
            "db-20261128T234400.123Z-pre-restore-pre-repair.sqlite",
            "db-20261128T234400.123Z-pre-fix.sqlite",
            "db-20261399T234400.123Z.sqlite",
            "DB-20261128T234400.123Z.sqlite",
            "notes.json",
            "backup_file.sqlite",
        ] {
            assert_eq!(BackupName::parse_file_name(foreign), None, "{foreign}");
            assert!(!BackupName::is_partial_name(foreign), "{foreign}");
        }
        assert!(BackupName::is_partial_name(
            "db-20261128T234400.123Z.sqlite.partial"
        ));
        assert!(BackupName::is_partial_name(
            "db-20261128T234400.123Z.json.partial"
        ));
        assert!(!BackupName::is_partial_name("mine.sqlite.partial"));
    }
}
