//! [`DbActor`]: serves [`Database`] to the actor system. Each handler runs its diesel work on
//! tokio's blocking pool and answers through a future, so the arbiter thread never waits on
//! SQLite and several requests can be in flight at once (the pool bounds them).
//!
//! Failure handling: an error that means the database itself is unreachable
//! ([`DbError::requires_restart`]) is answered, then the actor stops so that its supervisor
//! restarts it; the restart opens a fresh pool. Invalid input and single failed statements
//! are only answered. A start (migrations, and the reopen after a restart) that fails stops
//! the actor again after a delay that doubles with each consecutive failure, so a broken
//! disk does not turn into a restart storm.

use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, debug, error, info, o, warn};

use super::database::Database;
use super::error::DbError;
use super::messages::{
    CheckIntegrity, Checkpoint, GetCursors, GetStats, MarkBackfillComplete, MarkDeleted,
    ProbeWritable, QueryMessages, SearchMessages, SetCursor, StoreMessages, UpsertChannels,
    UpsertGuilds,
};
use super::model::{
    CheckpointOutcome, DbStats, DeleteOutcome, IngestCursor, IntegrityReport, StoreOutcome,
    StoredMessage,
};

/// Delay before retrying after the first failed start; doubles per consecutive failure.
const START_RETRY_BASE: Duration = Duration::from_millis(500);
/// Ceiling of that delay: a broken database is retried at least twice a minute.
const START_RETRY_MAX: Duration = Duration::from_secs(30);

pub struct DbActor {
    db: Database,
    /// `logger = database`: lifecycle and failures.
    log: Logger,
    /// `logger = performance`: operations slower than `slow_threshold`.
    perf_log: Logger,
    slow_threshold: Duration,
    /// Set by `restarting()`: the next start replaces the pool, whose connections may be the
    /// reason for the restart.
    reopen_on_start: bool,
    /// Consecutive starts that failed; sets the delay before the next attempt.
    failed_starts: u32,
}

impl DbActor {
    pub fn new(db: Database, log: Logger, slow_threshold: Duration) -> Self {
        Self {
            db,
            perf_log: log.new(o!("logger" => "performance")),
            log: log.new(o!("logger" => "database")),
            slow_threshold,
            reopen_on_start: false,
            failed_starts: 0,
        }
    }

    /// Runs `work` on the blocking pool and answers with its result; logs slow operations
    /// and failures, and stops the actor on failures that need a restart.
    fn run<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> ResponseActFuture<Self, Result<T, DbError>>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.db.clone();
        let started = Instant::now();
        let blocking = async move {
            tokio::task::spawn_blocking(move || work(&db))
                .await
                .map_err(DbError::Worker)?
        };
        Box::pin(blocking.into_actor(self).map(move |result, actor, ctx| {
            let elapsed = started.elapsed();
            if elapsed > actor.slow_threshold {
                warn!(actor.perf_log, "Slow database operation";
                    "operation" => operation,
                    "duration_ms" => duration_ms(elapsed),
                    "threshold_ms" => duration_ms(actor.slow_threshold));
            }
            if let Err(err) = &result {
                actor.report_failure(operation, err, ctx);
            }
            result
        }))
    }

    fn report_failure(&self, operation: &'static str, err: &DbError, ctx: &mut Context<Self>) {
        let cause = error_chain(err);
        if err.is_invalid_input() {
            debug!(self.log, "Rejected database request";
                "operation" => operation, "error" => cause);
        } else if err.requires_restart() {
            error!(self.log, "Database unavailable, restarting database actor";
                "operation" => operation,
                "error" => cause,
                "error_type" => error_type(err));
            ctx.stop();
        } else {
            warn!(self.log, "Database operation failed";
                "operation" => operation,
                "error" => cause,
                "error_type" => error_type(err));
        }
    }
}

impl Actor for DbActor {
    type Context = Context<Self>;

    /// Applies pending migrations (after reopening the pool when restarting) before the
    /// first message is handled: `ctx.wait` holds the mailbox, not the arbiter thread.
    fn started(&mut self, ctx: &mut Self::Context) {
        let db = self.db.clone();
        let reopen = std::mem::take(&mut self.reopen_on_start);
        let delay = start_retry_delay(self.failed_starts);
        let start = async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            tokio::task::spawn_blocking(move || {
                let db = if reopen { db.reopen()? } else { db };
                let applied = db.run_pending_migrations()?;
                Ok((db, applied))
            })
            .await
            .map_err(DbError::Worker)?
        };
        ctx.wait(start.into_actor(self).map(
            |result: Result<(Database, Vec<String>), DbError>, actor, ctx| match result {
                Ok((db, applied)) => {
                    actor.db = db;
                    actor.failed_starts = 0;
                    if applied.is_empty() {
                        debug!(actor.log, "Database schema up to date");
                    } else {
                        info!(actor.log, "Applied database migrations";
                            "count" => applied.len(), "migrations" => applied.join(","));
                    }
                    info!(actor.log, "Database ready"; "path" => %actor.db.path().display());
                }
                Err(err) => {
                    actor.failed_starts = actor.failed_starts.saturating_add(1);
                    error!(actor.log, "Database start failed";
                        "error" => error_chain(&err),
                        "error_type" => error_type(&err),
                        "failed_starts" => actor.failed_starts,
                        "retry_in_ms" => duration_ms(start_retry_delay(actor.failed_starts)));
                    ctx.stop();
                }
            },
        ));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        debug!(self.log, "Database actor stopped");
    }
}

impl Supervised for DbActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        warn!(self.log, "Database actor restarting"; "failed_starts" => self.failed_starts);
        self.reopen_on_start = true;
    }
}

impl Handler<StoreMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<StoreOutcome, DbError>>;

    fn handle(&mut self, msg: StoreMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("store_messages", move |db| db.store_messages(&msg.messages))
    }
}

impl Handler<MarkDeleted> for DbActor {
    type Result = ResponseActFuture<Self, Result<DeleteOutcome, DbError>>;

    fn handle(&mut self, msg: MarkDeleted, _ctx: &mut Self::Context) -> Self::Result {
        self.run("mark_deleted", move |db| {
            db.mark_deleted(msg.channel_id, &msg.message_ids)
        })
    }
}

impl Handler<UpsertGuilds> for DbActor {
    type Result = ResponseActFuture<Self, Result<usize, DbError>>;

    fn handle(&mut self, msg: UpsertGuilds, _ctx: &mut Self::Context) -> Self::Result {
        self.run("upsert_guilds", move |db| db.upsert_guilds(&msg.guilds))
    }
}

impl Handler<UpsertChannels> for DbActor {
    type Result = ResponseActFuture<Self, Result<usize, DbError>>;

    fn handle(&mut self, msg: UpsertChannels, _ctx: &mut Self::Context) -> Self::Result {
        self.run("upsert_channels", move |db| {
            db.upsert_channels(&msg.channels)
        })
    }
}

impl Handler<SetCursor> for DbActor {
    type Result = ResponseActFuture<Self, Result<IngestCursor, DbError>>;

    fn handle(&mut self, msg: SetCursor, _ctx: &mut Self::Context) -> Self::Result {
        self.run("set_cursor", move |db| {
            db.set_cursor(msg.channel_id, msg.last_message_id)
        })
    }
}

impl Handler<MarkBackfillComplete> for DbActor {
    type Result = ResponseActFuture<Self, Result<IngestCursor, DbError>>;

    fn handle(&mut self, msg: MarkBackfillComplete, _ctx: &mut Self::Context) -> Self::Result {
        self.run("mark_backfill_complete", move |db| {
            db.mark_backfill_complete(msg.channel_id)
        })
    }
}

impl Handler<GetCursors> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<IngestCursor>, DbError>>;

    fn handle(&mut self, _msg: GetCursors, _ctx: &mut Self::Context) -> Self::Result {
        self.run("get_cursors", Database::get_cursors)
    }
}

impl Handler<QueryMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<StoredMessage>, DbError>>;

    fn handle(&mut self, msg: QueryMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("query_messages", move |db| db.query_messages(&msg.0))
    }
}

impl Handler<SearchMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<StoredMessage>, DbError>>;

    fn handle(&mut self, msg: SearchMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("search_messages", move |db| db.search(&msg.text, msg.limit))
    }
}

impl Handler<GetStats> for DbActor {
    type Result = ResponseActFuture<Self, Result<DbStats, DbError>>;

    fn handle(&mut self, _msg: GetStats, _ctx: &mut Self::Context) -> Self::Result {
        self.run("stats", Database::stats)
    }
}

impl Handler<CheckIntegrity> for DbActor {
    type Result = ResponseActFuture<Self, Result<IntegrityReport, DbError>>;

    fn handle(&mut self, _msg: CheckIntegrity, _ctx: &mut Self::Context) -> Self::Result {
        self.run("integrity", Database::integrity)
    }
}

impl Handler<ProbeWritable> for DbActor {
    type Result = ResponseActFuture<Self, Result<Duration, DbError>>;

    fn handle(&mut self, _msg: ProbeWritable, _ctx: &mut Self::Context) -> Self::Result {
        self.run("probe_writable", Database::probe_writable)
    }
}

impl Handler<Checkpoint> for DbActor {
    type Result = ResponseActFuture<Self, Result<CheckpointOutcome, DbError>>;

    fn handle(&mut self, _msg: Checkpoint, _ctx: &mut Self::Context) -> Self::Result {
        self.run("checkpoint", Database::checkpoint)
    }
}

fn start_retry_delay(failed_starts: u32) -> Duration {
    if failed_starts == 0 {
        return Duration::ZERO;
    }
    let doublings = (failed_starts - 1).min(16);
    START_RETRY_BASE
        .saturating_mul(1 << doublings)
        .min(START_RETRY_MAX)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The error and its sources, `: `-separated, for the `error` field of a log line.
fn error_chain(err: &DbError) -> String {
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// A small fixed vocabulary for the `error_type` log field.
fn error_type(err: &DbError) -> &'static str {
    match err {
        DbError::InvalidPath { .. } | DbError::CreateDir { .. } => "database_path",
        DbError::Connect { .. } | DbError::Configure(_) | DbError::Pool(_) => {
            "database_unavailable"
        }
        DbError::Query(_) if err.is_connection_failure() => "database_unavailable",
        DbError::Query(_) => "database_query",
        DbError::Migration(_) => "database_migration",
        DbError::CorruptJson { .. } | DbError::FileSize { .. } => "database_data",
        DbError::Worker(_) => "database_worker",
        DbError::InvalidInput(_) => "invalid_input",
    }
}
