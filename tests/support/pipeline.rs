//! The real `discord-monitor run` pointed at an in-process discord-sim, and the comparison of
//! what the service stored (read straight from its SQLite file, WAL lets us read while it
//! writes) with the sim's ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use discord_monitor::actors::db::schema::{channels, guilds, message_revisions};
use discord_monitor::actors::db::{
    Database, DatabaseConfig, MessageQuery, StoredMessage, TOMBSTONE_SOURCE,
};
use discord_monitor::discord::config::Compression;
use discord_sim::{Sim, SimConfig, SimHandle, SimMessage, snowflake_unix_ms};
use serde_json::{Value, json};

use super::{ADMIN_TOKEN, Service, get_json};

/// Far above what an idle machine needs (a few seconds at most), so that a busy 2-core
/// machine running other test binaries does not fail a test by being slow.
pub const GENEROUS_WAIT: Duration = Duration::from_secs(90);

/// How often the stored state is compared again while waiting for it to catch up.
const POLL: Duration = Duration::from_millis(250);

/// Differences quoted in a failure message: enough to see the pattern.
const PROBLEMS_SHOWN: usize = 25;

/// Database file, relative to the service's directory.
pub const DATABASE_PATH: &str = "data/db.sqlite";

/// A sim and the service ingesting it.
pub struct Pipeline {
    pub sim: SimHandle,
    pub service: Service,
    env: Vec<(String, String)>,
    db: Option<Database>,
}

/// A world for tests: the sim's defaults with identify spacing off (the service keeps its
/// own 5 s pacing) and a short heartbeat.
pub fn sim_config() -> SimConfig {
    SimConfig {
        seed: 42,
        identify_spacing_ms: 0,
        heartbeat_interval_ms: 1_000,
        ..SimConfig::default()
    }
}

impl Pipeline {
    /// Starts the sim, then `discord-monitor run` against it with this gateway transport
    /// compression (`discord.compression`).
    pub fn start(sim_config: SimConfig, compression: Compression) -> Pipeline {
        Self::start_with(sim_config, compression, |_| {})
    }

    /// [`Pipeline::start`], scripting the sim (faults for the first connection or the first
    /// requests) before the service starts.
    pub fn start_with(
        sim_config: SimConfig,
        compression: Compression,
        prepare: impl FnOnce(&SimHandle),
    ) -> Pipeline {
        Self::start_configured(sim_config, compression, json!({}), prepare)
    }

    /// [`Pipeline::start_with`], with `extra` merged into the service's configuration (each
    /// section's keys over the defaults of these tests).
    pub fn start_configured(
        sim_config: SimConfig,
        compression: Compression,
        extra: Value,
        prepare: impl FnOnce(&SimHandle),
    ) -> Pipeline {
        let sim = Sim::start(sim_config).expect("start discord-sim");
        prepare(&sim);
        let mut config = service_config(compression);
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            for (section, keys) in extra {
                match (config.get_mut(section), keys) {
                    (Some(Value::Object(existing)), Value::Object(keys)) => {
                        existing.extend(keys.clone());
                    }
                    _ => {
                        config.insert(section.clone(), keys.clone());
                    }
                }
            }
        }
        let env = vec![
            ("DISCORD_TOKEN".to_owned(), sim.token()),
            ("DISCORD_API_BASE_URL".to_owned(), sim.rest_base_url()),
            ("ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        ];
        let env_refs: Vec<(&str, &str)> = env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let service = Service::start(&["run"], &config, &env_refs);
        Pipeline {
            sim,
            service,
            env,
            db: None,
        }
    }

    /// `kill -9` the service, then start it again on the same directory.
    pub fn kill_and_restart(&mut self, between: impl FnOnce(&SimHandle)) {
        self.service.kill_hard();
        between(&self.sim);
        self.start_again();
    }

    /// SIGTERM the service (a clean shutdown), then start it again on the same directory.
    pub fn stop_and_restart(&mut self, between: impl FnOnce(&SimHandle)) {
        let status = self.service.terminate();
        assert!(
            status.success(),
            "exit status {status}; stderr:\n{}",
            self.service.stderr()
        );
        between(&self.sim);
        self.start_again();
    }

    /// Starts the stopped (or killed) service again on the same directory.
    pub fn start_again(&mut self) {
        let env_refs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.service.restart(&["run"], &env_refs);
    }

    /// Takes SQLite's write lock on the service's database from outside, as a backup or
    /// another process would, and keeps it until the connection is dropped: the service's
    /// writes wait (and are retried), so what it receives piles up in its ingest queue.
    pub fn hold_write_lock(&mut self) -> SqliteConnection {
        let mut conn = raw_connection(self.db());
        conn.batch_execute("BEGIN IMMEDIATE")
            .expect("take the database's write lock");
        conn
    }

    /// Runs `sql` on the service's database file (works while the service is down).
    pub fn execute_sql(&self, sql: &str) {
        let path = self.service.dir.path().join(DATABASE_PATH);
        let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8 path"))
            .expect("open the database file");
        conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql}"))
            .expect("run the statement");
    }

    /// The JSON log lines of the service (every run) whose message is `message`.
    pub fn log_lines(&self, message: &str) -> Vec<Value> {
        self.service
            .stdout()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["message"] == message)
            .collect()
    }

    /// The service's database, opened on first use (after the service created it).
    pub fn db(&mut self) -> &Database {
        let path = self.service.dir.path().join(DATABASE_PATH);
        self.db.get_or_insert_with(|| {
            assert!(path.exists(), "the service has not created {path:?} yet");
            Database::open(&DatabaseConfig {
                path,
                connection_pool_size: 2,
                ..DatabaseConfig::default()
            })
            .expect("open the service's database")
        })
    }

    pub async fn status(&self) -> Value {
        let (code, body) = get_json(&self.service.url("/status"), Some(ADMIN_TOKEN)).await;
        assert_eq!(code, 200, "/status: {body}");
        body
    }

    /// Waits until `done` holds for `/status`, failing with the last answer.
    pub async fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; /status:\n{status:#}\nstderr:\n{}",
                self.service.stderr()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until at least `passes` backfill passes have finished and none is running.
    pub async fn wait_backfill_passes(&self, passes: u64) -> Value {
        self.wait_status(&format!("{passes} finished backfill pass(es)"), |status| {
            let backfill = &status["discord_client_health"]["backfill"];
            backfill["passes"].as_u64().unwrap_or(0) >= passes && backfill["running"].is_null()
        })
        .await
    }

    /// Waits until `condition` holds for the sim, failing with `what`.
    pub async fn wait_sim(&self, what: &str, condition: impl FnMut(&SimHandle) -> bool) {
        if self
            .sim
            .wait_until_async(GENEROUS_WAIT, condition)
            .await
            .is_err()
        {
            panic!(
                "timed out waiting for {what}\nstream: {:?}\ngateway: {:#?}\nstderr:\n{}",
                self.sim.stream_status(),
                self.sim.gateway_stats(),
                self.service.stderr()
            );
        }
    }

    /// Waits until the stream has produced everything and the store matches the sim's ground
    /// truth (see [`compare`]); fails with the differences that remained.
    pub async fn wait_consistent(&mut self, check: Check) -> Stored {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            let stream_done = self.sim.stream_status().done();
            let truth = self.sim.messages();
            let stored = Stored::load(self.db());
            let problems = compare(&truth, &stored, check);
            if stream_done && problems.is_empty() {
                return stored;
            }
            if Instant::now() >= deadline {
                let shown: Vec<&String> = problems.iter().take(PROBLEMS_SHOWN).collect();
                let status = self.status().await;
                panic!(
                    "the store does not match discord-sim after {GENEROUS_WAIT:?} \
                     (stream done: {stream_done}; {} problem(s), first {}):\n{shown:#?}\n\
                     {}\ngateway: {:#?}\n/status: {status:#}\nstderr:\n{}",
                    problems.len(),
                    shown.len(),
                    self.timeline(&truth, &stored),
                    self.sim.gateway_stats(),
                    self.service.stderr()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the guild and channel rows match the sim ([`structure_problems`]): the
    /// last structural events may still be on their way when the messages already match.
    pub async fn wait_structure_consistent(&mut self) {
        let deadline = Instant::now() + GENEROUS_WAIT;
        loop {
            self.db();
            let db = self.db.as_ref().expect("opened above");
            let problems = structure_problems(&self.sim, db);
            if problems.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "guilds and channels do not match discord-sim: {problems:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// For a failure message: when the sim started, each gateway connection and backfill
    /// pass, and the channels of missing messages, on one clock (ms since the sim started).
    fn timeline(&self, truth: &[SimMessage], stored: &Stored) -> String {
        let started_unix_ms = chrono::Utc::now().timestamp_millis() as u64
            - self.sim.started_at().elapsed().as_millis() as u64;
        let since = |unix_ms: u64| unix_ms as i64 - started_unix_ms as i64;
        let mut lines = Vec::new();
        for connection in self.sim.connections() {
            lines.push(format!(
                "connection {} {:?} opened at {} ms, closed at {:?} ms, identified {}, resumed {}",
                connection.id,
                connection.listener,
                connection
                    .opened_at
                    .duration_since(self.sim.started_at())
                    .as_millis(),
                connection
                    .closed_at
                    .map(|at| at.duration_since(self.sim.started_at()).as_millis()),
                connection.identified,
                connection.resumed
            ));
        }
        let missing: BTreeSet<u64> = truth
            .iter()
            .filter(|m| m.visible && !(m.deleted && m.gateway_missed_change))
            .filter(|m| !stored.messages.contains_key(&m.id))
            .map(|m| m.channel_id)
            .collect();
        for channel in self.sim.channels() {
            if missing.contains(&channel.id) {
                let first = truth
                    .iter()
                    .find(|m| m.channel_id == channel.id && !stored.messages.contains_key(&m.id));
                lines.push(format!(
                    "channel with missing messages: {channel:?}, created at {} ms, first missing message at {:?} ms",
                    since(snowflake_unix_ms(channel.id)),
                    first.map(|m| since(snowflake_unix_ms(m.id)))
                ));
            }
        }
        for line in self.service.stdout().lines() {
            if line.contains("Backfill pass")
                || line.contains("Gateway ready")
                || line.contains("Gateway session resumed")
                || line.contains("Saved gateway session")
                || line.contains("Thread no longer active")
            {
                lines.push(line.chars().take(400).collect());
            }
        }
        lines.join("\n")
    }

    /// Stops the service (SIGTERM, clean exit, no secret in any output), then the sim.
    pub fn finish(self) -> String {
        drop(self.db);
        let output = self.service.finish();
        self.sim.shutdown();
        output
    }
}

/// `config.json` of the service; the sim's REST base and token come by environment, as a
/// deployment passes them.
fn service_config(compression: Compression) -> Value {
    json!({
        "environment": "development",
        "discord": {
            "compression": compression.as_str(),
            // discord-sim's default is Discord's 50 per second: the ceiling allows it, so
            // our own limiter, not the cautious default of 50 a minute, sets the pace.
            "rate_limit_requests_per_minute": 3000,
            // A day: only the passes a test is about run (at start, after a new session).
            "backfill_interval_secs": 86_400,
            "connection_timeout": 10.0
        },
        "database": {
            "path": DATABASE_PATH,
            "backup_dir": "data/backups"
        },
        "monitoring": {
            "log_dir": "logs",
            "health_check_interval_seconds": 1,
            "component_restart_backoff_initial_ms": 200
        }
    })
}

/// How strictly revisions are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every message first stored from the gateway has exactly one `edit` revision per edit
    /// the sim made, holding the content it replaced (the stream went through the gateway
    /// only, nothing was missed).
    ExactRevisions,
    /// Revisions hold previous contents in order, but some edits may have been seen only as
    /// their result (a backfill page fetched after two edits, a gap).
    RevisionsInOrder,
}

/// What the service stored.
pub struct Stored {
    pub messages: BTreeMap<u64, StoredMessage>,
    /// Per message, its revisions in order: (kind, previous content).
    pub revisions: BTreeMap<u64, Vec<(String, Option<String>)>>,
}

impl Stored {
    pub fn load(db: &Database) -> Stored {
        let mut messages = BTreeMap::new();
        let mut after = 0;
        loop {
            let query = MessageQuery::new(None, Some(after), None, MessageQuery::MAX_LIMIT)
                .expect("valid query");
            let page = db.query_messages(&query).expect("query stored messages");
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            messages.extend(page.into_iter().map(|message| (message.id, message)));
        }
        let mut revisions: BTreeMap<u64, Vec<(String, Option<String>)>> = BTreeMap::new();
        let rows: Vec<(i64, String, Option<String>)> = message_revisions::table
            .order(message_revisions::id.asc())
            .select((
                message_revisions::message_id,
                message_revisions::kind,
                message_revisions::previous_content,
            ))
            .load(&mut raw_connection(db))
            .expect("load revisions");
        for (message_id, kind, previous) in rows {
            let id = u64::try_from(message_id).expect("positive id");
            revisions.entry(id).or_default().push((kind, previous));
        }
        Stored {
            messages,
            revisions,
        }
    }

    pub fn get(&self, id: u64) -> &StoredMessage {
        self.messages
            .get(&id)
            .unwrap_or_else(|| panic!("message {id} is not stored"))
    }

    fn edits(&self, id: u64) -> Vec<&str> {
        self.revisions
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|(kind, _)| kind == "edit")
            .map(|(_, previous)| previous.as_deref().unwrap_or_default())
            .collect()
    }

    fn deletes(&self, id: u64) -> Vec<Option<&str>> {
        self.revisions
            .get(&id)
            .into_iter()
            .flatten()
            .filter(|(kind, _)| kind == "delete")
            .map(|(_, previous)| previous.as_deref())
            .collect()
    }
}

/// A plain connection to the same file, for the tables the storage API does not list.
fn raw_connection(db: &Database) -> SqliteConnection {
    let path = db.path().to_str().expect("utf-8 path");
    let mut conn = SqliteConnection::establish(path).expect("open the database file");
    diesel::sql_query("PRAGMA busy_timeout = 5000")
        .execute(&mut conn)
        .expect("set busy timeout");
    conn
}

/// Everything wrong with the store compared with the sim's ground truth:
/// - every visible message is stored, exactly once (the id is the key), with its channel,
///   the guild filled in (REST messages carry none), author, type, reply and creation time;
///   a message whose deletion the gateway lost before anyone could store it is the only one
///   allowed to be missing;
/// - where the gateway lost no change of it: its final content, edited state, deletion,
///   embeds and attachments, its edits as `edit` revisions and its deletion as one `delete`
///   revision holding the last content;
/// - no stored message the sim does not know.
pub fn compare(truth: &[SimMessage], stored: &Stored, check: Check) -> Vec<String> {
    let mut problems = Vec::new();
    let known: BTreeSet<u64> = truth.iter().map(|message| message.id).collect();
    for id in stored.messages.keys() {
        if !known.contains(id) {
            problems.push(format!("stored message {id} does not exist in the sim"));
        }
    }
    for message in truth.iter().filter(|message| message.visible) {
        let Some(row) = stored.messages.get(&message.id) else {
            if !(message.deleted && message.gateway_missed_change) {
                problems.push(format!(
                    "message {} ({:?}, channel {}, deleted {}) is not stored",
                    message.id, message.origin, message.channel_id, message.deleted
                ));
            }
            continue;
        };
        let mut differ = |what: &str, stored: String, expected: String| {
            if stored != expected {
                problems.push(format!(
                    "message {} ({:?}, source {}): {what} is {stored}, expected {expected}",
                    message.id, message.origin, row.source
                ));
            }
        };
        differ(
            "channel",
            row.channel_id.to_string(),
            message.channel_id.to_string(),
        );
        differ(
            "guild",
            format!("{:?}", row.guild_id),
            format!("{:?}", Some(message.guild_id)),
        );
        if row.source == TOMBSTONE_SOURCE {
            // Only a delete was seen: nothing else to compare, and only right if the sim
            // deleted it.
            differ(
                "deleted",
                row.deleted.to_string(),
                message.deleted.to_string(),
            );
            continue;
        }
        differ(
            "author",
            row.author_id.to_string(),
            message.author_id.to_string(),
        );
        differ("type", row.kind.to_string(), message.kind.to_string());
        differ(
            "reply",
            format!("{:?}", row.reply_to_message_id),
            format!("{:?}", message.reply_to),
        );
        differ(
            "created_at_ms",
            row.created_at_ms.to_string(),
            snowflake_unix_ms(message.id).to_string(),
        );
        if message.gateway_missed_change {
            continue;
        }
        differ(
            "content",
            format!("{:?}", row.content),
            format!("{:?}", message.content),
        );
        differ(
            "deleted",
            row.deleted.to_string(),
            message.deleted.to_string(),
        );
        differ(
            "edited",
            row.edited_at_ms.is_some().to_string(),
            message.edited_timestamp.is_some().to_string(),
        );
        differ(
            "embeds",
            json_len(&row.embeds).to_string(),
            message.embeds.to_string(),
        );
        differ(
            "attachments",
            json_len(&row.attachments).to_string(),
            message.attachments.to_string(),
        );
        let edits = stored.edits(message.id);
        let expected: Vec<&str> = message
            .previous_contents
            .iter()
            .map(String::as_str)
            .collect();
        let exact = check == Check::ExactRevisions && row.source == "gateway";
        let revisions_ok = if exact {
            edits == expected
        } else {
            is_subsequence(&edits, &expected)
        };
        if !revisions_ok {
            problems.push(format!(
                "message {} ({:?}, source {}): edit revisions {edits:?}, the sim's earlier \
                 contents {expected:?}",
                message.id, message.origin, row.source
            ));
        }
        let deletes = stored.deletes(message.id);
        let expected_deletes = if message.deleted {
            vec![Some(message.content.as_str())]
        } else {
            Vec::new()
        };
        if deletes != expected_deletes {
            problems.push(format!(
                "message {}: delete revisions {deletes:?}, expected {expected_deletes:?}",
                message.id
            ));
        }
    }
    problems
}

fn json_len(value: &Value) -> usize {
    value.as_array().map_or(0, Vec::len)
}

/// Whether `part` appears in `whole` in order (not necessarily contiguously).
fn is_subsequence(part: &[&str], whole: &[&str]) -> bool {
    let mut rest = whole.iter();
    part.iter()
        .all(|item| rest.any(|candidate| candidate == item))
}

/// Guild and channel rows compared with the sim: every guild with its name, every channel
/// and thread with its name, parent, thread flag and archived state.
pub fn structure_problems(sim: &SimHandle, db: &Database) -> Vec<String> {
    let mut conn = raw_connection(db);
    let stored_guilds: BTreeMap<i64, String> = guilds::table
        .select((guilds::id, guilds::name))
        .load::<(i64, String)>(&mut conn)
        .expect("load guilds")
        .into_iter()
        .collect();
    type ChannelRow = (i64, Option<i64>, Option<i64>, String, bool, bool);
    let stored_channels: BTreeMap<i64, ChannelRow> = channels::table
        .select((
            channels::id,
            channels::guild_id,
            channels::parent_id,
            channels::name,
            channels::is_thread,
            channels::archived,
        ))
        .load::<ChannelRow>(&mut conn)
        .expect("load channels")
        .into_iter()
        .map(|row| (row.0, row))
        .collect();
    let mut problems = Vec::new();
    for guild in sim.guilds() {
        let id = i64::try_from(guild.id).expect("id fits");
        match stored_guilds.get(&id) {
            Some(name) if *name == guild.name => {}
            other => problems.push(format!(
                "guild {}: stored name {other:?}, expected {:?}",
                guild.id, guild.name
            )),
        }
    }
    for channel in sim.channels().iter().filter(|c| !c.deleted && !c.forbidden) {
        let id = i64::try_from(channel.id).expect("id fits");
        let expected = (
            id,
            Some(i64::try_from(channel.guild_id).expect("id fits")),
            channel
                .parent_id
                .map(|parent| i64::try_from(parent).expect("id fits")),
            channel.name.clone(),
            channel.is_thread(),
            channel.archived,
        );
        match stored_channels.get(&id) {
            Some(row) if *row == expected => {}
            other => problems.push(format!(
                "channel {}: stored {other:?}, expected {expected:?}",
                channel.id
            )),
        }
    }
    problems
}

/// The sim's visible messages in thread channels.
pub fn thread_messages(sim: &SimHandle) -> Vec<SimMessage> {
    let threads: BTreeSet<u64> = sim
        .channels()
        .iter()
        .filter(|channel| channel.is_thread())
        .map(|channel| channel.id)
        .collect();
    sim.messages()
        .into_iter()
        .filter(|message| message.visible && threads.contains(&message.channel_id))
        .collect()
}

/// `/health/detailed`'s entry for one component.
pub async fn component(service: &Service, name: &str) -> Value {
    let (_, body) = get_json(&service.url("/health/detailed"), None).await;
    body["health"]["components"][name].clone()
}

/// Status code of a GET without credentials.
pub async fn status_code(service: &Service, path: &str) -> u16 {
    get_json(&service.url(path), None).await.0
}
