//! Helpers shared by the storage tests: a migrated database in a temporary directory, and
//! message builders with realistic snowflakes.

use std::path::Path;

use tempfile::TempDir;

use super::config::DatabaseConfig;
use super::database::Database;
use super::model::{MessageSource, NewMessage};

/// A plausible 2024 snowflake; tests add small offsets to it.
pub const BASE_ID: u64 = 1_250_000_000_000_000_000;
pub const GUILD_ID: u64 = BASE_ID - 1_000_000;
pub const CHANNEL_A: u64 = BASE_ID - 2_000_000;
pub const CHANNEL_B: u64 = BASE_ID - 3_000_000;

pub fn config_at(path: &Path) -> DatabaseConfig {
    DatabaseConfig {
        path: path.to_path_buf(),
        backup_dir: path.with_file_name("backups"),
        connection_pool_size: 4,
        ..DatabaseConfig::default()
    }
}

/// A migrated database in its own temporary directory (removed when the `TempDir` drops).
pub fn migrated_db() -> (TempDir, Database) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(&config_at(&dir.path().join("db.sqlite"))).expect("open database");
    db.run_pending_migrations().expect("migrate");
    (dir, db)
}

/// Message `BASE_ID + offset` in `channel_id` of `GUILD_ID`.
pub fn message(offset: u64, channel_id: u64, content: &str) -> NewMessage {
    NewMessage {
        id: BASE_ID + offset,
        channel_id,
        guild_id: Some(GUILD_ID),
        author_id: BASE_ID - 42,
        author_name: "alice".to_owned(),
        author_is_bot: false,
        content: content.to_owned(),
        created_at_ms: 1_700_000_000_000 + i64::try_from(offset).expect("small offset"),
        edited_at_ms: None,
        kind: 0,
        attachments: Vec::new(),
        embeds: Vec::new(),
        reply_to_message_id: None,
        reply_to_channel_id: None,
        source: MessageSource::Gateway,
    }
}

/// A slog drain that keeps every record as one `LEVEL message key=value ...` line, so tests
/// can assert on what was logged.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl CapturedLogs {
    pub fn logger(&self) -> slog::Logger {
        slog::Logger::root(self.clone(), slog::o!())
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lock").clone()
    }
}

impl slog::Drain for CapturedLogs {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<Self::Ok, Self::Err> {
        use slog::KV;

        let mut line = format!("{} {}", record.level().as_str(), record.msg());
        let mut serializer = LineSerializer(&mut line);
        // Writing into a String cannot fail.
        let _ = record.kv().serialize(record, &mut serializer);
        let _ = values.serialize(record, &mut serializer);
        self.0.lock().expect("log lock").push(line);
        Ok(())
    }
}

struct LineSerializer<'a>(&'a mut String);

impl slog::Serializer for LineSerializer<'_> {
    fn emit_arguments(&mut self, key: slog::Key, value: &std::fmt::Arguments<'_>) -> slog::Result {
        use std::fmt::Write;

        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}
