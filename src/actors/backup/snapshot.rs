//! The file work of one backup, all blocking: the snapshot written to a `.partial` file,
//! verified by opening it, hashed, flushed to disk, described by its sidecar, and only then
//! renamed to its final name. Also the checks `db restore` runs on a file it is given.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::connection::Connection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::row::NamedRow;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use super::error::BackupError;
use super::name::{BackupName, partial_name};
use crate::actors::db::schema::TABLE_NAMES;
use crate::actors::db::{Database, MIGRATIONS};

/// Bytes read at a time when hashing or copying: large enough that syscalls do not dominate,
/// small enough to stay out of the allocator's way.
const IO_CHUNK_BYTES: usize = 1 << 20;

/// What the first 16 bytes of every SQLite 3 database file are.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Identifies the sidecar layout, so a later version can read older ones.
pub const METADATA_FORMAT: &str = "discord-monitor-backup/1";

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupReason {
    /// The actor's timer (`database.backup_interval_hours`).
    Scheduled,
    /// `POST /api/backups` or `db backup`.
    Manual,
    /// `db restore`, before it replaced the database.
    PreRestore,
    /// `db repair`, before it changed the database.
    PreRepair,
}

impl BackupReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            BackupReason::Scheduled => "scheduled",
            BackupReason::Manual => "manual",
            BackupReason::PreRestore => "pre_restore",
            BackupReason::PreRepair => "pre_repair",
        }
    }
}

/// The sidecar JSON beside each backup: enough to know what a file holds without opening it,
/// and to check that it is still the file that was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupMetadata {
    /// `discord-monitor-backup/1` for this layout.
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub reason: BackupReason,
    /// The discord-monitor version that wrote it.
    pub app_version: String,
    /// The newest migration applied in the copy (`__diesel_schema_migrations.version`).
    pub schema_version: Option<String>,
    /// The database it was taken from, as configured.
    pub source_path: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// Snapshot, verification and hashing together.
    pub duration_ms: u64,
    /// Rows per table in the copy.
    pub row_counts: BTreeMap<String, u64>,
}

/// A backup that is complete under its final name.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub metadata: BackupMetadata,
}

/// How thoroughly [`inspect_database`] checks a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `PRAGMA quick_check`: every page and record, no index cross-check. For a copy just
    /// written from a healthy database.
    Quick,
    /// `PRAGMA integrity_check`: also that every index matches its table. For a file about to
    /// replace the database.
    Full,
}

/// What a verified SQLite file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub schema_version: Option<String>,
    pub row_counts: BTreeMap<String, u64>,
}

/// Writes a backup of `db` named `name` into `dir`: snapshot into `<name>.partial`, verify,
/// hash, flush, sidecar (written and renamed first), then the rename that makes it a backup.
/// Any failure removes what this attempt wrote.
pub fn write_snapshot(
    db: &Database,
    dir: &Path,
    name: BackupName,
    reason: BackupReason,
) -> Result<SnapshotFile, BackupError> {
    let started = Instant::now();
    ensure_directory(dir)?;
    let path = dir.join(name.file_name());
    let sidecar_path = dir.join(name.sidecar_name());
    let partial = dir.join(partial_name(&name.file_name()));
    let sidecar_partial = dir.join(partial_name(&name.sidecar_name()));

    let written = (|| {
        db.snapshot_into(&partial)
            .map_err(|source| BackupError::Snapshot {
                path: partial.clone(),
                source,
            })?;
        let inspection = inspect_database(&partial, Check::Quick)?;
        let (size_bytes, sha256) = hash_file(&partial)?;
        sync_file(&partial)?;
        let metadata = BackupMetadata {
            format: METADATA_FORMAT.to_owned(),
            created_at: name.created_at,
            reason,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version: inspection.schema_version,
            source_path: db.path().display().to_string(),
            size_bytes,
            sha256,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            row_counts: inspection.row_counts,
        };
        write_sidecar(&sidecar_partial, &metadata)?;
        // Sidecar first: a crash between the two renames leaves an orphan sidecar (ignored,
        // later swept), never a backup without its checksum.
        rename(&sidecar_partial, &sidecar_path)?;
        if let Err(err) = rename(&partial, &path) {
            let _ = std::fs::remove_file(&sidecar_path);
            return Err(err);
        }
        sync_directory(dir);
        Ok(metadata)
    })();

    match written {
        Ok(metadata) => Ok(SnapshotFile { path, metadata }),
        Err(err) => {
            // Best effort: a leftover `.partial` is ignored by every listing and swept later.
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(&sidecar_partial);
            Err(err)
        }
    }
}

/// Creates `dir` if needed; a file in its place is an error of its own (the usual typo).
pub fn ensure_directory(dir: &Path) -> Result<(), BackupError> {
    if dir.exists() && !dir.is_dir() {
        return Err(BackupError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| BackupError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Checks that `path` is an SQLite database that passes `check`, and reads its schema
/// version and row counts. Opens it read-only and immutable: nothing is created beside it,
/// and a `-wal` file next to it is not read (it would not be part of a copy of the file).
pub fn inspect_database(path: &Path, check: Check) -> Result<Inspection, BackupError> {
    #[derive(QueryableByName)]
    struct NameRow {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct CountRow {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    #[derive(QueryableByName)]
    struct VersionRow {
        #[diesel(sql_type = Nullable<Text>)]
        version: Option<String>,
    }

    require_sqlite_header(path)?;
    let mut conn =
        diesel::SqliteConnection::establish(&read_only_uri(path)?).map_err(|source| {
            BackupError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let inspect_error = |source| BackupError::Inspect {
        path: path.to_path_buf(),
        source,
    };
    let pragma = match check {
        Check::Quick => "quick_check",
        Check::Full => "integrity_check",
    };
    // A file too broken for the check to run at all is as corrupt as one it reports on.
    let problems: Vec<String> = diesel::sql_query(format!("PRAGMA {pragma}"))
        .load::<CheckLine>(&mut conn)
        .map_err(|source| BackupError::Corrupt {
            path: path.to_path_buf(),
            problems: source.to_string(),
        })?
        .into_iter()
        .map(|line| line.0)
        .filter(|line| line != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(BackupError::Corrupt {
            path: path.to_path_buf(),
            problems: problems.join("; "),
        });
    }

    let tables: Vec<String> =
        diesel::sql_query("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .load::<NameRow>(&mut conn)
            .map_err(inspect_error)?
            .into_iter()
            .map(|row| row.name)
            .collect();
    let schema_version = if tables.iter().any(|name| name == MIGRATIONS_TABLE) {
        diesel::sql_query(format!(
            "SELECT MAX(version) AS version FROM {MIGRATIONS_TABLE}"
        ))
        .get_result::<VersionRow>(&mut conn)
        .map_err(inspect_error)?
        .version
    } else {
        None
    };
    let mut row_counts = BTreeMap::new();
    for table in TABLE_NAMES
        .iter()
        .filter(|table| tables.iter().any(|name| name == *table))
    {
        // Names come from our own constant list, never from the file.
        let count = diesel::sql_query(format!("SELECT COUNT(*) AS count FROM {table}"))
            .get_result::<CountRow>(&mut conn)
            .map_err(inspect_error)?
            .count;
        row_counts.insert((*table).to_owned(), u64::try_from(count).unwrap_or(0));
    }
    Ok(Inspection {
        schema_version,
        row_counts,
    })
}

/// Checks that an inspected file is one of ours (it has our migrations table) and not from a
/// newer discord-monitor: what a file must be before it may become the database.
pub fn require_our_schema(path: &Path, inspection: &Inspection) -> Result<(), BackupError> {
    let Some(schema_version) = &inspection.schema_version else {
        return Err(BackupError::NotOurDatabase {
            path: path.to_path_buf(),
        });
    };
    if let Some(known) = newest_known_schema_version()
        && compare_versions(schema_version, &known).is_gt()
    {
        return Err(BackupError::NewerSchema {
            path: path.to_path_buf(),
            found: schema_version.clone(),
            known,
        });
    }
    Ok(())
}

/// The table diesel_migrations keeps its applied versions in.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// One line of `PRAGMA quick_check` / `integrity_check`, whose column is named after the
/// pragma: read by position.
struct CheckLine(String);

impl QueryableByName<Sqlite> for CheckLine {
    fn build<'a>(row: &impl NamedRow<'a, Sqlite>) -> diesel::deserialize::Result<Self> {
        NamedRow::get::<Text, String>(row, "quick_check")
            .or_else(|_| NamedRow::get::<Text, String>(row, "integrity_check"))
            .map(CheckLine)
    }
}

/// The newest migration this binary knows, as `__diesel_schema_migrations` spells versions.
pub fn newest_known_schema_version() -> Option<String> {
    MigrationSource::<Sqlite>::migrations(&MIGRATIONS)
        .ok()?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .max_by(|a, b| compare_versions(a, b))
}

/// Diesel versions are digit strings of equal width; compare numerically when both parse.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

fn require_sqlite_header(path: &Path) -> Result<(), BackupError> {
    let mut header = [0_u8; 16];
    let mut file = File::open(path).map_err(|source| BackupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match file.read_exact(&mut header) {
        Ok(()) if &header == SQLITE_MAGIC => Ok(()),
        Ok(()) => Err(BackupError::NotSqlite {
            path: path.to_path_buf(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(BackupError::NotSqlite {
                path: path.to_path_buf(),
            })
        }
        Err(source) => Err(BackupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An SQLite URI opening `path` read-only and immutable. Path characters that mean something
/// in a URI (`?`, `#`, `%`, spaces, ...) are percent-encoded.
fn read_only_uri(path: &Path) -> Result<String, BackupError> {
    let text = path.to_str().ok_or_else(|| BackupError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not valid UTF-8"),
    })?;
    let mut uri = String::from("file:");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

/// Size and lowercase hex SHA-256 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let read_error = |source| BackupError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0_u8; IO_CHUNK_BYTES];
    let mut size = 0_u64;
    loop {
        let read = file.read(&mut buffer).map_err(read_error)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, hex(context.finish().as_ref())))
}

/// Copies `from` to a new file `to` (which must not exist), hashing what it reads, and
/// flushes the copy to disk. Answers size and SHA-256 of the bytes copied.
pub fn copy_and_hash(from: &Path, to: &Path) -> Result<(u64, String), BackupError> {
    let read_error = |source| BackupError::Read {
        path: from.to_path_buf(),
        source,
    };
    let write_error = |source| BackupError::Write {
        path: to.to_path_buf(),
        source,
    };
    let mut source = File::open(from).map_err(read_error)?;
    let mut target = File::create_new(to).map_err(write_error)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0_u8; IO_CHUNK_BYTES];
    let mut size = 0_u64;
    loop {
        let read = source.read(&mut buffer).map_err(read_error)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
        target.write_all(&buffer[..read]).map_err(write_error)?;
        size += read as u64;
    }
    target.sync_all().map_err(write_error)?;
    Ok((size, hex(context.finish().as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads a sidecar; `Ok(None)` when there is none.
pub fn read_sidecar(path: &Path) -> Result<Option<BackupMetadata>, BackupError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(BackupError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| BackupError::Sidecar {
            path: path.to_path_buf(),
            source,
        })
}

fn write_sidecar(path: &Path, metadata: &BackupMetadata) -> Result<(), BackupError> {
    let write_error = |source| BackupError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(metadata).map_err(|source| BackupError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(source),
    })?;
    text.push(b'\n');
    let mut file = File::create_new(path).map_err(write_error)?;
    file.write_all(&text).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

pub fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| BackupError::Write {
            path: path.to_path_buf(),
            source,
        })
}

pub fn rename(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::rename(from, to).map_err(|source| BackupError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// Makes renames in `dir` durable. Best effort: some filesystems refuse to sync a
/// directory, and the files themselves are already on disk.
pub fn sync_directory(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::backup::name::BackupKind;
    use crate::actors::db::DatabaseConfig;

    fn database(dir: &Path) -> Database {
        let db = Database::open(&DatabaseConfig {
            path: dir.join("db.sqlite"),
            connection_pool_size: 2,
            ..DatabaseConfig::default()
        })
        .unwrap();
        db.run_pending_migrations().unwrap();
        db
    }

    #[test]
    fn a_snapshot_is_verified_hashed_described_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        let backups = dir.path().join("backups");
        let name = BackupName::new(Utc::now(), BackupKind::Rotation);

        let file = write_snapshot(&db, &backups, name, BackupReason::Manual).unwrap();
        assert_eq!(file.path, backups.join(name.file_name()));
        let (size, sha256) = hash_file(&file.path).unwrap();
        assert_eq!(file.metadata.size_bytes, size);
        assert_eq!(file.metadata.sha256, sha256);
        assert_eq!(sha256.len(), 64);
        assert_eq!(
            read_sidecar(&backups.join(name.sidecar_name())).unwrap(),
            Some(file.metadata.clone())
        );
        assert_eq!(file.metadata.schema_version, newest_known_schema_version());
        assert_eq!(file.metadata.row_counts["health_probe"], 1);
        // Nothing but the two final files.
        let mut names: Vec<_> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [name.sidecar_name(), name.file_name()]);
    }

    #[test]
    fn a_failed_snapshot_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let name = BackupName::new(Utc::now(), BackupKind::Rotation);
        // VACUUM INTO refuses a target that already has content.
        std::fs::write(backups.join(partial_name(&name.file_name())), b"in the way").unwrap();

        let error = write_snapshot(&db, &backups, name, BackupReason::Manual).unwrap_err();
        assert!(matches!(error, BackupError::Snapshot { .. }), "{error:?}");
        assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 0);
    }

    #[test]
    fn inspection_tells_garbage_corruption_and_foreign_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.sqlite");
        std::fs::write(&garbage, vec![0x42; 10_000]).unwrap();
        assert!(matches!(
            inspect_database(&garbage, Check::Full),
            Err(BackupError::NotSqlite { .. })
        ));
        let empty = dir.path().join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            inspect_database(&empty, Check::Full),
            Err(BackupError::NotSqlite { .. })
        ));

        let db = database(dir.path());
        let copy = dir.path().join("copy.sqlite");
        db.snapshot_into(&copy).unwrap();
        let inspection = inspect_database(&copy, Check::Full).unwrap();
        assert!(inspection.schema_version.is_some());

        // Damage a page in the middle of the file, keeping the header.
        let mut bytes = std::fs::read(&copy).unwrap();
        let page = 4_096;
        assert!(bytes.len() > 3 * page);
        for byte in &mut bytes[page + 100..2 * page] {
            *byte = 0xff;
        }
        let broken = dir.path().join("broken.sqlite");
        std::fs::write(&broken, &bytes).unwrap();
        let error = inspect_database(&broken, Check::Full).unwrap_err();
        assert!(matches!(error, BackupError::Corrupt { .. }), "{error:?}");
    }

    #[test]
    fn uris_escape_what_sqlite_would_read_as_syntax() {
        let uri = read_only_uri(Path::new("/tmp/a b/c?d#e%f.sqlite")).unwrap();
        assert_eq!(
            uri,
            "file:/tmp/a%20b/c%3Fd%23e%25f.sqlite?mode=ro&immutable=1"
        );
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("we?ird #name%.sqlite");
        database(dir.path()).snapshot_into(&odd).unwrap();
        inspect_database(&odd, Check::Quick).unwrap();
    }

    #[test]
    fn copies_hash_what_they_copy() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::write(&from, vec![7_u8; 3 * IO_CHUNK_BYTES + 5]).unwrap();
        let to = dir.path().join("to");
        let copied = copy_and_hash(&from, &to).unwrap();
        assert_eq!(copied, hash_file(&from).unwrap());
        assert_eq!(copied.0, 3 * IO_CHUNK_BYTES as u64 + 5);
        // Never over an existing file.
        assert!(copy_and_hash(&from, &to).is_err());
        // The well-known digest of nothing.
        std::fs::write(&from, b"").unwrap();
        assert_eq!(
            hash_file(&from).unwrap().1,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
