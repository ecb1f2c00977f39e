//! What is in `backup_dir`: our backups with their metadata (newest first), retention, and
//! the sweep of what a crashed attempt left. Only names [`BackupName`] recognises are ever
//! read or removed; every other file in the directory is left alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::BackupError;
use super::name::{BackupKind, BackupName};
use super::snapshot::{BackupMetadata, BackupReason, read_sidecar};
use crate::logging::error_chain;

/// One backup file found in `backup_dir`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupEntry {
    pub file_name: String,
    pub path: String,
    /// From the name (the sidecar says the same for our own files).
    pub created_at: DateTime<Utc>,
    /// `scheduled`, `manual`, `pre_restore` or `pre_repair` (from the sidecar; from the name
    /// when the sidecar is missing: `pre_restore`, `pre_repair`, or `unknown` for a backup
    /// in rotation).
    pub kind: &'static str,
    /// Pre-restore and pre-repair copies are outside retention.
    pub in_rotation: bool,
    /// Of the file as it is now.
    pub size_bytes: u64,
    pub metadata: Option<BackupMetadata>,
    /// Why `metadata` is missing, when it is.
    pub metadata_error: Option<String>,
    #[serde(skip)]
    pub name: BackupName,
}

/// Every backup in `dir`, newest first. A directory that does not exist yet holds none.
pub fn list_backups(dir: &Path) -> Result<Vec<BackupEntry>, BackupError> {
    let mut entries = Vec::new();
    for (file_name, path) in read_dir_names(dir)? {
        let Some(name) = BackupName::parse_file_name(&file_name) else {
            continue;
        };
        let Ok(file) = std::fs::metadata(&path) else {
            // Removed between the listing and now (retention racing a `db backups`).
            continue;
        };
        if !file.is_file() {
            continue;
        }
        let sidecar = dir.join(name.sidecar_name());
        let (metadata, metadata_error) = match read_sidecar(&sidecar) {
            Ok(Some(metadata)) => (Some(metadata), None),
            Ok(None) => (None, Some("no metadata sidecar".to_owned())),
            Err(err) => (None, Some(error_chain(&err))),
        };
        let kind = match (&metadata, name.kind) {
            (Some(metadata), _) => metadata.reason.as_str(),
            (None, BackupKind::PreRestore) => BackupReason::PreRestore.as_str(),
            (None, BackupKind::PreRepair) => BackupReason::PreRepair.as_str(),
            (None, BackupKind::Rotation) => "unknown",
        };
        entries.push(BackupEntry {
            file_name,
            path: path.display().to_string(),
            created_at: name.created_at,
            kind,
            in_rotation: name.kind.in_rotation(),
            size_bytes: file.len(),
            metadata,
            metadata_error,
            name,
        });
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.name));
    Ok(entries)
}

/// What retention did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneOutcome {
    /// Backup files removed (their sidecars went with them).
    pub removed: Vec<PathBuf>,
    /// Backups in rotation left, the protected one included.
    pub kept: usize,
    /// The oldest backup in rotation left.
    pub oldest_kept: Option<DateTime<Utc>>,
    /// Files that could not be removed; retention tries again after the next backup.
    pub problems: Vec<String>,
}

/// Keeps the newest `keep` backups in rotation in `dir`, always counting `protect` (the one
/// just written) among them, and removes the rest with their sidecars. Pre-restore and
/// pre-repair copies and files that are not ours are never touched.
pub fn prune(dir: &Path, keep: usize, protect: &Path) -> Result<PruneOutcome, BackupError> {
    let keep = keep.max(1);
    let entries: Vec<BackupEntry> = list_backups(dir)?
        .into_iter()
        .filter(|entry| entry.in_rotation)
        .collect();
    let protected = |entry: &BackupEntry| Path::new(&entry.path) == protect;
    let protect_present = entries.iter().any(protected);
    let mut outcome = PruneOutcome::default();
    let mut room = keep - usize::from(protect_present);
    let mut kept: Vec<&BackupEntry> = Vec::new();
    for entry in &entries {
        if protected(entry) {
            kept.push(entry);
        } else if room > 0 {
            room -= 1;
            kept.push(entry);
        } else {
            let path = PathBuf::from(&entry.path);
            match remove_backup(dir, entry.name, &path) {
                Ok(()) => outcome.removed.push(path),
                Err(err) => {
                    outcome.problems.push(error_chain(&err));
                    kept.push(entry);
                }
            }
        }
    }
    outcome.kept = kept.len();
    outcome.oldest_kept = kept.iter().map(|entry| entry.created_at).min();
    Ok(outcome)
}

/// The database file first: once it is gone the backup is gone, and a sidecar left by a
/// failure in between is an orphan the sweep removes.
fn remove_backup(dir: &Path, name: BackupName, path: &Path) -> Result<(), BackupError> {
    remove_if_present(path)?;
    remove_if_present(&dir.join(name.sidecar_name()))
}

fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BackupError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes what crashed attempts left in `dir`: `.partial` files and sidecars without their
/// database file, once untouched for `stale_after` (a running attempt keeps writing its
/// files, and another process, `db backup` or the service, may be running one right now).
/// Answers what it removed.
pub fn sweep_leftovers(dir: &Path, stale_after: Duration, now: SystemTime) -> Vec<PathBuf> {
    let Ok(names) = read_dir_names(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for (file_name, path) in &names {
        let leftover = BackupName::is_partial_name(file_name)
            || BackupName::parse_sidecar_name(file_name)
                .is_some_and(|name| !dir.join(name.file_name()).exists());
        if !leftover {
            continue;
        }
        let stale = std::fs::metadata(path)
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| {
                now.duration_since(modified)
                    .is_ok_and(|age| age >= stale_after)
            });
        if stale && std::fs::remove_file(path).is_ok() {
            removed.push(path.clone());
        }
    }
    removed
}

fn read_dir_names(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let list_error = |source| BackupError::ListDir {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(list_error(source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        // Names that are not UTF-8 are not ours.
        if let Ok(file_name) = entry.file_name().into_string() {
            names.push((file_name, entry.path()));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::backup::name::partial_name;

    fn name_at(second: i64, pre_restore: bool) -> BackupName {
        let kind = if pre_restore {
            BackupKind::PreRestore
        } else {
            BackupKind::Rotation
        };
        kind_at(second, kind)
    }

    fn kind_at(second: i64, kind: BackupKind) -> BackupName {
        BackupName::new(
            DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap(),
            kind,
        )
    }

    /// A backup file and its sidecar as the real writer names them (content does not matter
    /// to the catalog).
    fn fake_backup(dir: &Path, name: BackupName) -> PathBuf {
        let path = dir.join(name.file_name());
        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        std::fs::write(dir.join(name.sidecar_name()), b"{}").unwrap();
        path
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = read_dir_names(dir)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn listing_is_newest_first_and_ignores_foreign_and_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let older = fake_backup(dir.path(), name_at(0, false));
        let newer = fake_backup(dir.path(), name_at(60, false));
        let pre = fake_backup(dir.path(), name_at(30, true));
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        std::fs::write(
            dir.path()
                .join(partial_name(&name_at(90, false).file_name())),
            b"half",
        )
        .unwrap();

        let listed = list_backups(dir.path()).unwrap();
        let paths: Vec<_> = listed
            .iter()
            .map(|entry| PathBuf::from(&entry.path))
            .collect();
        assert_eq!(paths, [newer, pre, older]);
        assert_eq!(listed[1].kind, "pre_restore");
        assert!(!listed[1].in_rotation);
        // `{}` is not our metadata: reported, not fatal.
        assert!(listed[0].metadata.is_none());
        assert!(listed[0].metadata_error.is_some());
        assert!(
            list_backups(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn retention_keeps_exactly_max_and_leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let made: Vec<PathBuf> = (0..6)
            .map(|n| fake_backup(dir.path(), name_at(n * 60, false)))
            .collect();
        let pre = fake_backup(dir.path(), name_at(1, true));
        for foreign in ["notes.txt", "db.sqlite", "db-manual-copy.sqlite", "x.json"] {
            std::fs::write(dir.path().join(foreign), b"keep me").unwrap();
        }

        let outcome = prune(dir.path(), 3, &made[5]).unwrap();
        // Newest first, like the listing.
        let expected: Vec<PathBuf> = made[..3].iter().rev().cloned().collect();
        assert_eq!(outcome.removed, expected);
        assert_eq!(outcome.kept, 3);
        assert_eq!(outcome.oldest_kept, Some(name_at(180, false).created_at));
        assert!(outcome.problems.is_empty());
        let left = files(dir.path());
        for path in &made[3..] {
            let name =
                BackupName::parse_file_name(path.file_name().unwrap().to_str().unwrap()).unwrap();
            assert!(left.contains(&name.file_name()));
            assert!(left.contains(&name.sidecar_name()));
        }
        for path in &made[..3] {
            assert!(!path.exists());
        }
        assert!(pre.exists());
        for foreign in ["notes.txt", "db.sqlite", "db-manual-copy.sqlite", "x.json"] {
            assert!(left.contains(&foreign.to_owned()), "{foreign} removed");
        }
        assert_eq!(left.len(), 3 * 2 + 2 + 4);
    }

    #[test]
    fn safety_copies_are_listed_by_kind_and_never_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let rotation: Vec<PathBuf> = (1..=3)
            .map(|n| fake_backup(dir.path(), name_at(n * 60, false)))
            .collect();
        // Older than every backup in rotation: retention would take them first if it could.
        let pre_restore = fake_backup(dir.path(), kind_at(0, BackupKind::PreRestore));
        let pre_repair = fake_backup(dir.path(), kind_at(1, BackupKind::PreRepair));

        let listed = list_backups(dir.path()).unwrap();
        let kinds: Vec<(&str, bool)> = listed
            .iter()
            .map(|entry| (entry.kind, entry.in_rotation))
            .collect();
        // No readable sidecar: the kind comes from the name.
        assert_eq!(
            kinds,
            [
                ("unknown", true),
                ("unknown", true),
                ("unknown", true),
                ("pre_repair", false),
                ("pre_restore", false),
            ]
        );

        let outcome = prune(dir.path(), 1, &rotation[2]).unwrap();
        assert_eq!(outcome.removed.len(), 2);
        assert!(pre_restore.exists() && pre_repair.exists());
        assert!(
            dir.path()
                .join(kind_at(1, BackupKind::PreRepair).sidecar_name())
                .exists()
        );
    }

    #[test]
    fn the_backup_just_made_survives_even_when_older_than_the_rest() {
        // A clock set back: the new backup's name sorts before the existing ones.
        let dir = tempfile::tempdir().unwrap();
        let existing: Vec<PathBuf> = (1..=3)
            .map(|n| fake_backup(dir.path(), name_at(n * 60, false)))
            .collect();
        let just_made = fake_backup(dir.path(), name_at(0, false));

        let outcome = prune(dir.path(), 2, &just_made).unwrap();
        assert!(just_made.exists());
        assert!(existing[2].exists());
        assert!(!existing[0].exists() && !existing[1].exists());
        assert_eq!(outcome.kept, 2);
    }

    #[test]
    fn crash_leftovers_are_swept_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        let complete = fake_backup(dir.path(), name_at(0, false));
        let partial = dir
            .path()
            .join(partial_name(&name_at(60, false).file_name()));
        let partial_sidecar = dir
            .path()
            .join(partial_name(&name_at(60, false).sidecar_name()));
        let orphan_sidecar = dir.path().join(name_at(120, false).sidecar_name());
        let foreign_partial = dir.path().join("mine.sqlite.partial");
        for path in [
            &partial,
            &partial_sidecar,
            &orphan_sidecar,
            &foreign_partial,
        ] {
            std::fs::write(path, b"left over").unwrap();
        }
        let stale_after = Duration::from_secs(3_600);

        // Fresh: somebody may still be writing them.
        assert!(sweep_leftovers(dir.path(), stale_after, SystemTime::now()).is_empty());
        assert!(
            list_backups(dir.path()).unwrap().len() == 1,
            "partials are never listed"
        );

        let later = SystemTime::now() + stale_after + Duration::from_secs(1);
        let mut removed = sweep_leftovers(dir.path(), stale_after, later);
        removed.sort();
        let mut expected = vec![partial, partial_sidecar, orphan_sidecar];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(complete.exists());
        assert!(dir.path().join(name_at(0, false).sidecar_name()).exists());
        assert!(foreign_partial.exists());
    }
}
