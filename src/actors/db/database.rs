//! [`Database`]: the SQLite file behind an r2d2 pool, its embedded migrations and its
//! maintenance operations (stats, integrity, probe, checkpoint, and the index rebuilds of `db
//! repair`). The message read/write API lives in `store.rs` and `query.rs`.
//!
//! Every method blocks: the actor calls them on tokio's blocking pool, and the CLI (`db
//! migrate|stats|integrity`) calls them directly without an actor system.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::config::DatabaseConfig;
use super::error::{DbError, is_lock_error};
use super::model::{CheckpointOutcome, DbStats, IntegrityReport};
use super::schema::{TABLE_NAMES, health_probe};

/// Every migration under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a caller waits for a free pooled connection before the pool is declared
/// unavailable. Seconds, not the r2d2 default of 30: a stuck pool should surface as an
/// error (and an actor restart) quickly rather than stall every caller.
const POOL_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub(super) type PooledSqlite = PooledConnection<ConnectionManager<SqliteConnection>>;

/// The storage handle. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Database {
    pool: SqlitePool,
    config: Arc<DatabaseConfig>,
    /// Kept so that [`Database::reopen`] builds the same pool.
    checkout_timeout: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.config.path)
            .field("pool_size", &self.pool.max_size())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (creating if needed) the database file and its pool. Does not migrate: the
    /// actor's start and `db migrate` do, through [`Database::run_pending_migrations`].
    pub fn open(config: &DatabaseConfig) -> Result<Self, DbError> {
        Self::open_with(config, POOL_CHECKOUT_TIMEOUT)
    }

    /// [`Database::open`] with a chosen pool checkout timeout (tests use a short one to
    /// provoke an unavailable pool).
    fn open_with(config: &DatabaseConfig, checkout_timeout: Duration) -> Result<Self, DbError> {
        let path = config.path.as_path();
        let url = database_url(path)?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let settings = ConnectionSettings {
            busy_timeout_ms: config.busy_timeout_ms,
        };

        // One connection up front: r2d2 would retry a failing open until its timeout and then
        // report a generic error, while this surfaces the real cause at once. It also makes
        // the switch to WAL (which needs a moment of exclusive access) before the pool's
        // connections race for it.
        let mut first = SqliteConnection::establish(url).map_err(|source| DbError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        settings.apply(&mut first).map_err(DbError::Configure)?;
        let journal_mode = pragma_text(&mut first, "journal_mode").map_err(DbError::Configure)?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::InvalidPath {
                path: path.to_path_buf(),
                reason: "its filesystem does not support write-ahead logging",
            });
        }
        drop(first);

        let pool = Pool::builder()
            // r2d2 panics on 0; config validation reports 0, this only keeps us alive.
            .max_size(config.connection_pool_size.max(1))
            // Connections are cheap to open; keep one warm and grow on demand.
            .min_idle(Some(1))
            .connection_timeout(checkout_timeout)
            .connection_customizer(Box::new(settings))
            .build(ConnectionManager::new(url))
            .map_err(DbError::Pool)?;
        Ok(Self {
            pool,
            config: Arc::new(config.clone()),
            checkout_timeout,
        })
    }

    /// Opens the same file again with a fresh pool (what an actor restart does).
    pub fn reopen(&self) -> Result<Self, DbError> {
        Self::open_with(&self.config, self.checkout_timeout)
    }

    #[cfg(test)]
    pub(super) fn open_for_tests(
        config: &DatabaseConfig,
        checkout_timeout: Duration,
    ) -> Result<Self, DbError> {
        Self::open_with(config, checkout_timeout)
    }

    pub fn path(&self) -> &Path {
        &self.config.path
    }

    pub(super) fn connection(&self) -> Result<PooledSqlite, DbError> {
        self.pool.get().map_err(DbError::Pool)
    }

    /// Applies every migration not yet applied; returns their names (empty when up to date).
    /// Runs under one write lock, so a `db migrate` racing the service cannot apply the same
    /// migration twice.
    pub fn run_pending_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let pending = conn
                .pending_migrations(MIGRATIONS)
                .map_err(DbError::Migration)?;
            let names = pending
                .iter()
                .map(|migration| migration.name().to_string())
                .collect();
            conn.run_migrations(&pending).map_err(DbError::Migration)?;
            Ok(names)
        })
    }

    /// Names of the migrations not applied yet.
    pub fn pending_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.connection()?;
        let pending = conn
            .pending_migrations(MIGRATIONS)
            .map_err(DbError::Migration)?;
        Ok(pending
            .iter()
            .map(|migration| migration.name().to_string())
            .collect())
    }

    /// Copies the WAL back into the database file and truncates it (used at shutdown and
    /// before backups).
    pub fn checkpoint(&self) -> Result<CheckpointOutcome, DbError> {
        #[derive(QueryableByName)]
        struct CheckpointRow {
            #[diesel(sql_type = BigInt)]
            busy: i64,
            #[diesel(sql_type = BigInt)]
            log: i64,
            #[diesel(sql_type = BigInt)]
            checkpointed: i64,
        }

        let mut conn = self.connection()?;
        let row: CheckpointRow =
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(&mut conn)?;
        Ok(CheckpointOutcome {
            busy: row.busy != 0,
            wal_frames: row.log,
            checkpointed_frames: row.checkpointed,
        })
    }

    /// Rows per table, file and WAL sizes, page figures.
    pub fn stats(&self) -> Result<DbStats, DbError> {
        let mut conn = self.connection()?;
        // One read transaction: the counts come from a single snapshot.
        let (tables, page_size, page_count, freelist_count, journal_mode) =
            conn.transaction(|conn| {
                let mut tables = std::collections::BTreeMap::new();
                for table in TABLE_NAMES {
                    // Table names come from our own constant list, never from input.
                    let count =
                        query_value(conn, &format!("SELECT COUNT(*) AS value FROM {table}"))?;
                    tables.insert((*table).to_owned(), non_negative(count));
                }
                Ok::<_, diesel::result::Error>((
                    tables,
                    pragma_number(conn, "page_size")?,
                    pragma_number(conn, "page_count")?,
                    pragma_number(conn, "freelist_count")?,
                    pragma_text(conn, "journal_mode")?,
                ))
            })?;
        Ok(DbStats {
            path: self.config.path.display().to_string(),
            tables,
            file_size_bytes: file_size(&self.config.path)?,
            wal_size_bytes: file_size(&wal_path(&self.config.path))?,
            page_size_bytes: non_negative(page_size),
            page_count: non_negative(page_count),
            freelist_count: non_negative(freelist_count),
            journal_mode,
        })
    }

    /// Runs SQLite's structural check, the foreign key check and the FTS5 index check. Slow
    /// on big databases: meant for `db integrity` and occasional maintenance.
    pub fn integrity(&self) -> Result<IntegrityReport, DbError> {
        #[derive(QueryableByName)]
        struct IntegrityRow {
            #[diesel(sql_type = Text)]
            integrity_check: String,
        }

        #[derive(QueryableByName)]
        struct ForeignKeyRow {
            #[diesel(sql_type = Text)]
            table: String,
            #[diesel(sql_type = Nullable<BigInt>)]
            rowid: Option<i64>,
            #[diesel(sql_type = Text)]
            parent: String,
        }

        let mut conn = self.connection()?;
        let mut problems = Vec::new();
        let mut locked = false;

        // A file too damaged for a check to run is a finding of that check, not a failure
        // to check: the other checks still run and say what they can.
        match diesel::sql_query("PRAGMA integrity_check").load::<IntegrityRow>(&mut conn) {
            Ok(structural) => problems.extend(
                structural
                    .iter()
                    // Recent SQLite puts several findings in one row, one per line, under
                    // a `*** in database main ***` heading.
                    .flat_map(|row| row.integrity_check.lines())
                    .filter(|line| *line != "ok" && !line.starts_with("*** in database"))
                    .map(|line| format!("integrity_check: {line}")),
            ),
            Err(error) => {
                locked |= is_lock_error(&error);
                problems.push(format!("integrity_check: {error}"));
            }
        }

        match diesel::sql_query("PRAGMA foreign_key_check").load::<ForeignKeyRow>(&mut conn) {
            Ok(foreign) => problems.extend(foreign.into_iter().map(|row| {
                format!(
                    "foreign_key_check: {} row {} points at a missing {} row",
                    row.table,
                    row.rowid
                        .map_or_else(|| "?".to_owned(), |rowid| rowid.to_string()),
                    row.parent
                )
            })),
            Err(error) => {
                locked |= is_lock_error(&error);
                problems.push(format!("foreign_key_check: {error}"));
            }
        }

        // With rank = 1 FTS5 also compares the index against the external content table.
        // It reports a mismatch as an SQL error, which is a finding here, not a failure.
        if let Err(error) = conn.batch_execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        ) {
            locked |= is_lock_error(&error);
            problems.push(format!("messages_fts integrity-check: {error}"));
        }

        Ok(IntegrityReport {
            ok: problems.is_empty(),
            problems,
            locked,
        })
    }

    /// Takes the write lock and lets it go at once (an empty `BEGIN IMMEDIATE` transaction).
    /// Answers "database is locked" (after `busy_timeout`) while another connection or
    /// program holds it: how maintenance finds out before it starts.
    pub fn try_write_lock(&self) -> Result<(), DbError> {
        let mut conn = self.connection()?;
        conn.immediate_transaction(|_| Ok::<_, DbError>(()))
    }

    /// Rebuilds every index from its table (`REINDEX`): an index that disagrees with its
    /// table (what `PRAGMA integrity_check` reports as a missing or extra entry) is rewritten.
    pub fn reindex(&self) -> Result<(), DbError> {
        self.connection()?.batch_execute("REINDEX")?;
        Ok(())
    }

    /// Rebuilds the full-text index from the `messages` table (FTS5 `rebuild`): whatever the
    /// index held, it then matches the stored content.
    pub fn rebuild_search_index(&self) -> Result<(), DbError> {
        self.connection()?
            .batch_execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")?;
        Ok(())
    }

    /// Refreshes the query planner's statistics where SQLite thinks they are stale.
    pub fn optimize(&self) -> Result<(), DbError> {
        self.connection()?.batch_execute("PRAGMA optimize")?;
        Ok(())
    }

    /// Rewrites the `health_probe` row in a write transaction: proves the file accepts
    /// writes right now. Returns how long that took.
    pub fn probe_writable(&self) -> Result<Duration, DbError> {
        let started = Instant::now();
        let mut conn = self.connection()?;
        let now = now_ms();
        conn.immediate_transaction(|conn| {
            let updated = diesel::update(health_probe::table.find(1))
                .set((
                    health_probe::probed_at_ms.eq(now),
                    health_probe::probe_count.eq(health_probe::probe_count + 1),
                ))
                .execute(conn)?;
            if updated == 0 {
                // The migration seeds the row; recreate it if someone removed it.
                diesel::insert_into(health_probe::table)
                    .values((
                        health_probe::id.eq(1),
                        health_probe::probed_at_ms.eq(now),
                        health_probe::probe_count.eq(1),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, DbError>(())
        })?;
        Ok(started.elapsed())
    }
}

/// Per-connection settings, applied to every connection the pool opens.
#[derive(Debug, Clone, Copy)]
struct ConnectionSettings {
    busy_timeout_ms: u64,
}

impl ConnectionSettings {
    fn apply(&self, conn: &mut SqliteConnection) -> QueryResult<()> {
        // busy_timeout first, so the switch to WAL already waits on a busy file.
        let busy_timeout_ms = self.busy_timeout_ms.min(i32::MAX as u64);
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {busy_timeout_ms};
             PRAGMA journal_mode = WAL;
             PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;"
        ))
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A pool needs every connection to see the same database, so only plain file paths are
/// accepted: `:memory:` (and URI forms of it) would give each connection its own.
fn database_url(path: &Path) -> Result<&str, DbError> {
    let invalid = |reason| DbError::InvalidPath {
        path: path.to_path_buf(),
        reason,
    };
    let url = path
        .to_str()
        .ok_or_else(|| invalid("it is not valid UTF-8"))?;
    if url.trim().is_empty() {
        return Err(invalid("it is empty"));
    }
    if url == ":memory:" || url.starts_with("file:") {
        return Err(invalid(
            "in-memory and URI databases cannot be shared by a connection pool; use a file path",
        ));
    }
    if path.is_dir() {
        return Err(invalid("it is a directory"));
    }
    Ok(url)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Size in bytes; 0 for a file that does not exist (no WAL after a truncating checkpoint).
fn file_size(path: &Path) -> Result<u64, DbError> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(DbError::FileSize {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[derive(QueryableByName)]
struct NumberRow {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

fn query_value(conn: &mut SqliteConnection, sql: &str) -> QueryResult<i64> {
    Ok(diesel::sql_query(sql).get_result::<NumberRow>(conn)?.value)
}

/// Reads a numeric pragma through its table-valued form. `pragma` is always one of our
/// literals.
pub(super) fn pragma_number(conn: &mut SqliteConnection, pragma: &str) -> QueryResult<i64> {
    query_value(
        conn,
        &format!("SELECT {pragma} AS value FROM pragma_{pragma}()"),
    )
}

/// Reads a textual pragma through its table-valued form. `pragma` is always one of our
/// literals.
pub(super) fn pragma_text(conn: &mut SqliteConnection, pragma: &str) -> QueryResult<String> {
    Ok(
        diesel::sql_query(format!("SELECT {pragma} AS value FROM pragma_{pragma}()"))
            .get_result::<TextRow>(conn)?
            .value,
    )
}

/// Counts and sizes SQLite reports are never negative.
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Unix time in milliseconds, the unit of every `_ms` column.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::model::{MessageQuery, SearchQuery};
    use crate::actors::db::test_support::{CHANNEL_A, config_at, message, migrated_db};

    const INITIAL_MIGRATION: &str = "2026-11-28-000000_initial";
    const GATEWAY_SESSIONS_MIGRATION: &str = "2026-11-29-100000_gateway_sessions";
    const TRIAGE_MIGRATION: &str = "2026-12-01-100000_triage";
    const LLM_STRUCTURED_OUTPUT_MIGRATION: &str = "2026-12-06-000000_llm_structured_output";

    #[test]
    fn open_creates_parent_directories_and_configures_every_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/deeper/db.sqlite");
        let config = DatabaseConfig {
            busy_timeout_ms: 4_321,
            ..config_at(&path)
        };
        let db = Database::open(&config).expect("open");
        assert!(path.is_file());

        // Hold several connections at once so the pool has to open new ones.
        let mut held: Vec<PooledSqlite> = (0..3).map(|_| db.connection().expect("conn")).collect();
        for conn in &mut held {
            assert_eq!(pragma_text(conn, "journal_mode").expect("mode"), "wal");
            assert_eq!(pragma_number(conn, "foreign_keys").expect("fk"), 1);
            // 1 = NORMAL
            assert_eq!(pragma_number(conn, "synchronous").expect("sync"), 1);
            assert_eq!(
                query_value(conn, "SELECT timeout AS value FROM pragma_busy_timeout()")
                    .expect("busy timeout"),
                4_321
            );
        }
    }

    #[test]
    fn open_refuses_paths_a_pool_cannot_share() {
        let dir = tempfile::tempdir().expect("temp dir");
        for path in [":memory:", "file::memory:?cache=shared", ""] {
            let error = Database::open(&config_at(Path::new(path))).expect_err(path);
            assert!(
                matches!(error, DbError::InvalidPath { .. }),
                "{path}: {error}"
            );
        }
        let error = Database::open(&config_at(dir.path())).expect_err("directory");
        assert!(matches!(error, DbError::InvalidPath { .. }), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_connection_failure() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("garbage.sqlite");
        std::fs::write(&path, vec![0x5a_u8; 8_192]).expect("write garbage");
        let error = Database::open(&config_at(&path)).expect_err("garbage file");
        assert_eq!(
            error.disposition(),
            crate::actors::db::Disposition::Restart,
            "{error:?}"
        );
    }

    #[test]
    fn migrations_apply_to_an_empty_database_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::open(&config_at(&dir.path().join("db.sqlite"))).expect("open");
        let every = [
            INITIAL_MIGRATION,
            GATEWAY_SESSIONS_MIGRATION,
            TRIAGE_MIGRATION,
            LLM_STRUCTURED_OUTPUT_MIGRATION,
        ];
        assert_eq!(db.pending_migrations().expect("pending"), every);

        assert_eq!(db.run_pending_migrations().expect("migrate"), every);
        assert!(db.pending_migrations().expect("pending").is_empty());
        assert!(
            db.run_pending_migrations()
                .expect("migrate again")
                .is_empty()
        );

        let stats = db.stats().expect("stats");
        assert_eq!(stats.tables.len(), TABLE_NAMES.len());
        assert_eq!(stats.tables["health_probe"], 1);
        assert_eq!(stats.tables["messages"], 0);
    }

    #[test]
    fn migrations_on_an_existing_database_keep_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config_at(&dir.path().join("db.sqlite"));
        {
            let db = Database::open(&config).expect("open");
            db.run_pending_migrations().expect("migrate");
            db.store_messages(&[message(1, CHANNEL_A, "kept across restarts")])
                .expect("store");
        }

        let db = Database::open(&config).expect("reopen");
        assert!(db.pending_migrations().expect("pending").is_empty());
        assert!(db.run_pending_migrations().expect("migrate").is_empty());
        let query = MessageQuery::new(Some(CHANNEL_A), None, None, 10).expect("query");
        let stored = db.query_messages(&query).expect("query");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].content, "kept across restarts");
        let restarts = SearchQuery::for_text("restarts").expect("query");
        assert_eq!(db.search(&restarts).expect("search").total, 1);
    }

    #[test]
    fn foreign_keys_are_enforced() {
        let (_dir, db) = migrated_db();
        let mut conn = db.connection().expect("conn");
        let error = conn
            .batch_execute(
                "INSERT INTO message_revisions (message_id, kind, recorded_at_ms) \
                 VALUES (12345, 'edit', 0)",
            )
            .expect_err("revision of a missing message");
        assert!(error.to_string().contains("FOREIGN KEY"), "{error}");
    }

    #[test]
    fn stats_count_rows_and_measure_files() {
        let (_dir, db) = migrated_db();
        let batch: Vec<_> = (0..25).map(|n| message(n, CHANNEL_A, "hello")).collect();
        db.store_messages(&batch).expect("store");
        db.mark_deleted(CHANNEL_A, &[crate::actors::db::test_support::BASE_ID])
            .expect("delete");
        db.set_cursor(CHANNEL_A, 7).expect("cursor");

        let stats = db.stats().expect("stats");
        assert_eq!(stats.tables["messages"], 25);
        assert_eq!(stats.tables["message_revisions"], 1);
        assert_eq!(stats.tables["channels"], 1);
        assert_eq!(stats.tables["guilds"], 1);
        assert_eq!(stats.tables["ingest_cursors"], 1);
        assert_eq!(stats.journal_mode, "wal");
        assert!(stats.file_size_bytes > 0);
        assert!(stats.wal_size_bytes > 0, "writes land in the WAL first");
        assert!(stats.page_size_bytes >= 512);
        assert!(stats.page_count > 0);
        let json = serde_json::to_value(&stats).expect("serialize");
        assert_eq!(json["tables"]["messages"], 25);
    }

    #[test]
    fn integrity_is_ok_on_a_used_database_and_notices_a_broken_index() {
        let (_dir, db) = migrated_db();
        let batch: Vec<_> = (0..10)
            .map(|n| message(n, CHANNEL_A, "indexed words"))
            .collect();
        db.store_messages(&batch).expect("store");
        db.mark_deleted(CHANNEL_A, &[crate::actors::db::test_support::BASE_ID + 3])
            .expect("delete");

        let report = db.integrity().expect("integrity");
        assert!(report.ok, "{:?}", report.problems);
        assert!(report.problems.is_empty());

        // Change content behind the index's back: the FTS check must see the mismatch.
        let mut conn = db.connection().expect("conn");
        conn.batch_execute("DROP TRIGGER messages_fts_after_update")
            .expect("drop trigger");
        conn.batch_execute("UPDATE messages SET content = 'changed behind the index'")
            .expect("update");
        drop(conn);
        let report = db.integrity().expect("integrity");
        assert!(!report.ok);
        assert!(
            report
                .problems
                .iter()
                .any(|problem| problem.contains("messages_fts")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn probe_rewrites_the_probe_row() {
        let (_dir, db) = migrated_db();
        db.probe_writable().expect("probe");
        db.probe_writable().expect("probe");
        let mut conn = db.connection().expect("conn");
        let count =
            query_value(&mut conn, "SELECT probe_count AS value FROM health_probe").expect("count");
        assert_eq!(count, 2);

        // Recreated when missing.
        conn.batch_execute("DELETE FROM health_probe")
            .expect("delete");
        drop(conn);
        db.probe_writable().expect("probe recreates the row");
        assert_eq!(db.stats().expect("stats").tables["health_probe"], 1);
    }

    #[test]
    fn checkpoint_empties_the_wal() {
        let (_dir, db) = migrated_db();
        let batch: Vec<_> = (0..50)
            .map(|n| message(n, CHANNEL_A, "wal content"))
            .collect();
        db.store_messages(&batch).expect("store");
        assert!(db.stats().expect("stats").wal_size_bytes > 0);

        let outcome = db.checkpoint().expect("checkpoint");
        assert!(!outcome.busy);
        assert_eq!(outcome.wal_frames, outcome.checkpointed_frames);
        assert_eq!(db.stats().expect("stats").wal_size_bytes, 0);
    }
}
