//! [`DbActor`]: serves [`Database`] to the actor system. Each handler runs its diesel work on
//! tokio's blocking pool and answers through a future, so the arbiter thread never waits on
//! SQLite and several requests can be in flight at once (the pool bounds them).
//!
//! Failure handling: an error whose [`DbError::disposition`] is [`Disposition::Restart`] (the
//! database itself is unreachable) is answered, then the actor stops so that its supervisor
//! restarts it; the restart opens a fresh pool. Invalid input, a busy database and single
//! failed statements are only answered. A start (migrations, and the reopen after a restart)
//! that fails stops the actor too; the supervisor's backoff and restart budget keep a broken
//! disk from turning into a restart storm. Under [`crate::supervisor`] the actor reports
//! itself up once migrated, and each error that stops it, through its [`Lifecycle`].

use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{Logger, debug, error, info, o, warn};

use super::database::Database;
use super::error::{DbError, Disposition};
use super::llm_usage::LlmUsageTotal;
use super::messages::{
    ApplyPartialUpdates, BookLlmUsage, CheckIntegrity, Checkpoint, CountMessagesPerChannel,
    DueAlerts, EnqueueAlerts, EnqueueCondition, GetCursors, GetOpenThreads, GetStats, LlmCostOnDay,
    LlmUsageSince, MarkBackfillComplete, MarkDeleted, NextAlertDue, PostponeAlert, ProbeWritable,
    PruneAlerts, QueryMessages, RecentAlerts, RecordAlertAttempt, SearchMessages, SetCursor,
    StoreMessages, UpsertChannels, UpsertGuilds,
};
use super::model::{
    ChannelMessageCount, ChannelRecord, CheckpointOutcome, DbStats, DeleteOutcome, IngestCursor,
    IntegrityReport, SearchResults, StoreOutcome, StoredMessage,
};
use super::outbox::{ConditionDecision, Enqueued, OutboxAlert};
use crate::logging::{error_chain, log_if_slow};
use crate::supervisor::Lifecycle;

pub struct DbActor {
    db: Database,
    /// `logger = database`: lifecycle and failures.
    log: Logger,
    slow_threshold: Duration,
    /// Set by `restarting()`: the next start replaces the pool, whose connections may be the
    /// reason for the restart.
    reopen_on_start: bool,
    /// Present when run by [`crate::supervisor`]: health reporting.
    lifecycle: Option<Lifecycle>,
    /// The last statistics and when they were counted (see [`GetStats::max_age`]).
    stats_cache: Option<(Instant, DbStats)>,
}

impl DbActor {
    pub fn new(db: Database, log: Logger, slow_threshold: Duration) -> Self {
        Self {
            db,
            log: log.new(o!("logger" => "database")),
            slow_threshold,
            reopen_on_start: false,
            lifecycle: None,
            stats_cache: None,
        }
    }

    /// Reports to the supervisor (and through it the HealthActor) when the database is
    /// ready and why the actor stops.
    pub fn with_lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Records the error with the supervisor, then stops so that it restarts us.
    fn stop_with(&self, err: &DbError, ctx: &mut Context<Self>) {
        match &self.lifecycle {
            Some(lifecycle) => lifecycle.fail(ctx, error_chain(&err)),
            None => ctx.stop(),
        }
    }

    /// Runs `work` on the blocking pool and answers with its result; logs slow operations
    /// and failures, and stops the actor on failures that need a restart.
    pub(super) fn run<T, F>(
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
            log_if_slow(
                &actor.log,
                &format!("db.{operation}"),
                started.elapsed(),
                actor.slow_threshold,
            );
            if let Err(err) = &result {
                actor.report_failure(operation, err, ctx);
            }
            result
        }))
    }

    fn report_failure(&self, operation: &'static str, err: &DbError, ctx: &mut Context<Self>) {
        let cause = error_chain(&err);
        match err.disposition() {
            Disposition::Reject => debug!(self.log, "Rejected database request";
                "operation" => operation, "error" => cause),
            Disposition::Restart => {
                error!(self.log, "Database unavailable, restarting database actor";
                    "operation" => operation,
                    "error" => cause,
                    "error_type" => error_type(err));
                self.stop_with(err, ctx);
            }
            Disposition::Retry | Disposition::Drop => {
                warn!(self.log, "Database operation failed";
                    "operation" => operation,
                    "error" => cause,
                    "error_type" => error_type(err));
            }
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
        let start = async move {
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
                    if applied.is_empty() {
                        debug!(actor.log, "Database schema up to date");
                    } else {
                        info!(actor.log, "Applied database migrations";
                            "count" => applied.len(), "migrations" => applied.join(","));
                    }
                    info!(actor.log, "Database ready"; "path" => %actor.db.path().display());
                    if let Some(lifecycle) = &actor.lifecycle {
                        lifecycle.up();
                    }
                }
                Err(err) => {
                    error!(actor.log, "Database start failed";
                        "error" => error_chain(&err),
                        "error_type" => error_type(&err));
                    actor.stop_with(&err, ctx);
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
        warn!(self.log, "Database actor restarting");
        self.reopen_on_start = true;
        self.stats_cache = None;
    }
}

impl Handler<StoreMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<StoreOutcome, DbError>>;

    fn handle(&mut self, msg: StoreMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("store_messages", move |db| db.store_messages(&msg.messages))
    }
}

impl Handler<ApplyPartialUpdates> for DbActor {
    type Result = ResponseActFuture<Self, Result<StoreOutcome, DbError>>;

    fn handle(&mut self, msg: ApplyPartialUpdates, _ctx: &mut Self::Context) -> Self::Result {
        self.run("apply_partial_updates", move |db| {
            db.apply_partial_updates(&msg.updates)
        })
    }
}

impl Handler<CountMessagesPerChannel> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<ChannelMessageCount>, DbError>>;

    fn handle(&mut self, _: CountMessagesPerChannel, _ctx: &mut Self::Context) -> Self::Result {
        self.run("channel_message_counts", Database::channel_message_counts)
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

impl Handler<GetOpenThreads> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<ChannelRecord>, DbError>>;

    fn handle(&mut self, _msg: GetOpenThreads, _ctx: &mut Self::Context) -> Self::Result {
        self.run("open_threads", Database::open_threads)
    }
}

impl Handler<QueryMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<StoredMessage>, DbError>>;

    fn handle(&mut self, msg: QueryMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("query_messages", move |db| db.query_messages(&msg.0))
    }
}

impl Handler<SearchMessages> for DbActor {
    type Result = ResponseActFuture<Self, Result<SearchResults, DbError>>;

    fn handle(&mut self, msg: SearchMessages, _ctx: &mut Self::Context) -> Self::Result {
        self.run("search_messages", move |db| db.search(&msg.0))
    }
}

impl Handler<GetStats> for DbActor {
    type Result = ResponseActFuture<Self, Result<DbStats, DbError>>;

    fn handle(&mut self, msg: GetStats, _ctx: &mut Self::Context) -> Self::Result {
        if let Some((counted_at, stats)) = &self.stats_cache
            && counted_at.elapsed() <= msg.max_age
        {
            return Box::pin(fut::ready(Ok(stats.clone())));
        }
        let counted_at = Instant::now();
        Box::pin(
            self.run("stats", Database::stats)
                .map(move |result, actor, _ctx| {
                    if let Ok(stats) = &result {
                        actor.stats_cache = Some((counted_at, stats.clone()));
                    }
                    result
                }),
        )
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

impl Handler<EnqueueAlerts> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<Enqueued>, DbError>>;

    fn handle(&mut self, msg: EnqueueAlerts, _ctx: &mut Self::Context) -> Self::Result {
        self.run("enqueue_alerts", move |db| db.enqueue_alerts(&msg.alerts))
    }
}

impl Handler<DueAlerts> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<OutboxAlert>, DbError>>;

    fn handle(&mut self, msg: DueAlerts, _ctx: &mut Self::Context) -> Self::Result {
        self.run("due_alerts", move |db| db.due_alerts(msg.now_ms, msg.limit))
    }
}

impl Handler<NextAlertDue> for DbActor {
    type Result = ResponseActFuture<Self, Result<Option<i64>, DbError>>;

    fn handle(&mut self, _msg: NextAlertDue, _ctx: &mut Self::Context) -> Self::Result {
        self.run("next_alert_due", Database::next_alert_due_ms)
    }
}

impl Handler<RecordAlertAttempt> for DbActor {
    type Result = ResponseActFuture<Self, Result<(), DbError>>;

    fn handle(&mut self, msg: RecordAlertAttempt, _ctx: &mut Self::Context) -> Self::Result {
        self.run("record_alert_attempt", move |db| {
            db.record_alert_attempt(msg.outbox_id, &msg.outcome)
        })
    }
}

impl Handler<PostponeAlert> for DbActor {
    type Result = ResponseActFuture<Self, Result<(), DbError>>;

    fn handle(&mut self, msg: PostponeAlert, _ctx: &mut Self::Context) -> Self::Result {
        self.run("postpone_alert", move |db| {
            db.postpone_alert(msg.outbox_id, msg.next_attempt_at_ms)
        })
    }
}

impl Handler<RecentAlerts> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<OutboxAlert>, DbError>>;

    fn handle(&mut self, msg: RecentAlerts, _ctx: &mut Self::Context) -> Self::Result {
        self.run("recent_alerts", move |db| db.recent_alerts(msg.limit))
    }
}

impl Handler<EnqueueCondition> for DbActor {
    type Result = ResponseActFuture<Self, Result<(ConditionDecision, Vec<Enqueued>), DbError>>;

    fn handle(&mut self, msg: EnqueueCondition, _ctx: &mut Self::Context) -> Self::Result {
        self.run("enqueue_condition", move |db| db.enqueue_condition(&msg.0))
    }
}

impl Handler<PruneAlerts> for DbActor {
    type Result = ResponseActFuture<Self, Result<usize, DbError>>;

    fn handle(&mut self, msg: PruneAlerts, _ctx: &mut Self::Context) -> Self::Result {
        self.run("prune_alerts", move |db| db.prune_alerts(msg.before_ms))
    }
}

/// A small fixed vocabulary for the `error_type` log field.
fn error_type(err: &DbError) -> &'static str {
    match err {
        DbError::InvalidPath { .. } | DbError::CreateDir { .. } => "database_path",
        DbError::Connect { .. } | DbError::Configure(_) | DbError::Pool(_) => {
            "database_unavailable"
        }
        DbError::Query(_) if err.disposition() == Disposition::Restart => "database_unavailable",
        DbError::Query(_) => "database_query",
        DbError::Migration(_) => "database_migration",
        DbError::CorruptJson { .. } | DbError::FileSize { .. } => "database_data",
        DbError::Worker(_) => "database_worker",
        DbError::InvalidInput(_) => "invalid_input",
    }
}

impl Handler<BookLlmUsage> for DbActor {
    type Result = ResponseActFuture<Self, Result<i64, DbError>>;

    fn handle(&mut self, msg: BookLlmUsage, _ctx: &mut Self::Context) -> Self::Result {
        self.run("insert_llm_usage", move |db| {
            db.insert_llm_usage(&msg.usage)
        })
    }
}

impl Handler<LlmCostOnDay> for DbActor {
    type Result = ResponseActFuture<Self, Result<f64, DbError>>;

    fn handle(&mut self, msg: LlmCostOnDay, _ctx: &mut Self::Context) -> Self::Result {
        self.run("llm_cost_on_day", move |db| db.llm_cost_on_day(&msg.day))
    }
}

impl Handler<LlmUsageSince> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<LlmUsageTotal>, DbError>>;

    fn handle(&mut self, msg: LlmUsageSince, _ctx: &mut Self::Context) -> Self::Result {
        self.run("llm_usage_since", move |db| {
            db.llm_usage_since(&msg.first_day)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::config::DatabaseConfig;
    use crate::actors::db::model::{ChannelRecord, GuildRecord, MessageQuery, SearchQuery};
    use crate::actors::db::test_support::{
        BASE_ID, CHANNEL_A, CapturedLogs, GUILD_ID, config_at, message,
    };

    /// Generous: the machine running the tests may be busy.
    const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
    const NOT_SLOW: Duration = Duration::from_secs(3_600);

    async fn ask<M>(addr: &Addr<DbActor>, msg: M) -> M::Result
    where
        M: Message + Send + 'static,
        M::Result: Send,
        DbActor: Handler<M>,
    {
        tokio::time::timeout(REPLY_TIMEOUT, addr.send(msg))
            .await
            .expect("reply within the timeout")
            .expect("actor alive")
    }

    #[actix_rt::test]
    async fn the_actor_migrates_first_then_answers_every_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Not migrated: the actor's start must do it before the first message.
        let db = Database::open(&config_at(&dir.path().join("db.sqlite"))).expect("open");
        let logs = CapturedLogs::default();
        let addr = DbActor::new(db.clone(), logs.logger(), NOT_SLOW).start();

        let stored = ask(
            &addr,
            StoreMessages {
                messages: vec![
                    message(1, CHANNEL_A, "alpha"),
                    message(2, CHANNEL_A, "beta"),
                ],
            },
        )
        .await
        .expect("store");
        assert_eq!(stored.inserted, 2);
        assert!(db.pending_migrations().expect("pending").is_empty());
        assert!(
            logs.lines()
                .iter()
                .any(|line| line.contains("Applied database migrations")
                    && line.contains("logger=database"))
        );

        let guilds = UpsertGuilds {
            guilds: vec![GuildRecord {
                id: GUILD_ID,
                name: "guild".to_owned(),
                icon: None,
                owner_id: None,
            }],
        };
        assert_eq!(ask(&addr, guilds).await.expect("guilds"), 1);
        let channels = UpsertChannels {
            channels: vec![ChannelRecord {
                id: CHANNEL_A,
                guild_id: Some(GUILD_ID),
                parent_id: None,
                kind: 0,
                name: "general".to_owned(),
                topic: None,
                is_thread: false,
                archived: false,
            }],
        };
        assert_eq!(ask(&addr, channels).await.expect("channels"), 1);

        let query = MessageQuery::new(Some(CHANNEL_A), None, None, 10).expect("query");
        let listed = ask(&addr, QueryMessages(query)).await.expect("query");
        assert_eq!(
            listed.iter().map(|m| m.id).collect::<Vec<_>>(),
            [BASE_ID + 1, BASE_ID + 2]
        );

        let beta = SearchQuery::for_text("beta").expect("query");
        let found = ask(&addr, SearchMessages(beta)).await.expect("search");
        assert_eq!(found.hits.len(), 1);

        let deleted = ask(
            &addr,
            MarkDeleted {
                channel_id: CHANNEL_A,
                message_ids: vec![BASE_ID + 1],
            },
        )
        .await
        .expect("delete");
        assert_eq!(deleted.deleted, 1);

        let cursor = SetCursor {
            channel_id: CHANNEL_A,
            last_message_id: BASE_ID + 2,
        };
        assert_eq!(
            ask(&addr, cursor).await.expect("cursor").last_message_id,
            BASE_ID + 2
        );
        let done = MarkBackfillComplete {
            channel_id: CHANNEL_A,
        };
        assert!(ask(&addr, done).await.expect("backfill").backfill_complete);
        assert_eq!(ask(&addr, GetCursors).await.expect("cursors").len(), 1);

        let stats = ask(&addr, GetStats::FRESH).await.expect("stats");
        assert_eq!(stats.tables["messages"], 2);
        let third = StoreMessages {
            messages: vec![message(3, CHANNEL_A, "gamma")],
        };
        assert_eq!(ask(&addr, third).await.expect("store").inserted, 1);
        let an_hour = GetStats {
            max_age: Duration::from_secs(3_600),
        };
        let cached = ask(&addr, an_hour).await.expect("stats");
        assert_eq!(cached.tables["messages"], 2, "recent figures are reused");
        let fresh = ask(&addr, GetStats::FRESH).await.expect("stats");
        assert_eq!(fresh.tables["messages"], 3);
        assert!(ask(&addr, CheckIntegrity).await.expect("integrity").ok);
        ask(&addr, ProbeWritable).await.expect("probe");
        assert!(!ask(&addr, Checkpoint).await.expect("checkpoint").busy);
    }

    #[actix_rt::test]
    async fn invalid_input_is_answered_and_the_actor_keeps_serving() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::open(&config_at(&dir.path().join("db.sqlite"))).expect("open");
        let addr = Supervisor::start(move |_| {
            DbActor::new(db, CapturedLogs::default().logger(), NOT_SLOW)
        });

        let error = ask(
            &addr,
            MarkDeleted {
                channel_id: u64::MAX,
                message_ids: vec![BASE_ID],
            },
        )
        .await
        .expect_err("an id SQLite cannot hold");
        assert_eq!(error.disposition(), Disposition::Reject);
        assert!(addr.connected());
        ask(&addr, ProbeWritable).await.expect("still serving");
    }

    #[actix_rt::test]
    async fn an_unavailable_pool_restarts_the_actor_with_a_fresh_pool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = DatabaseConfig {
            connection_pool_size: 1,
            ..config_at(&dir.path().join("db.sqlite"))
        };
        let db = Database::open_for_tests(&config, Duration::from_millis(200)).expect("open");
        let logs = CapturedLogs::default();
        let actor_db = db.clone();
        let logger = logs.logger();
        let addr = Supervisor::start(move |_| DbActor::new(actor_db, logger, NOT_SLOW));
        ask(&addr, ProbeWritable).await.expect("ready");

        // Take the pool's only connection: the actor's next checkout times out.
        let held = db.connection().expect("the only connection");
        let error = ask(&addr, GetStats::FRESH)
            .await
            .expect_err("pool exhausted");
        assert_eq!(error.disposition(), Disposition::Restart, "{error:?}");

        // The supervisor restarts the actor, which opens its own pool and serves again.
        ask(&addr, ProbeWritable)
            .await
            .expect("served by the fresh pool");
        drop(held);
        let lines = logs.lines();
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("ERROR Database unavailable")
                    && line.contains("operation=stats")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line.contains("Database actor restarting")),
            "{lines:#?}"
        );
    }

    #[actix_rt::test]
    async fn slow_operations_are_logged_under_performance_without_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::open(&config_at(&dir.path().join("db.sqlite"))).expect("open");
        let logs = CapturedLogs::default();
        // Every operation is "slow" against a zero threshold.
        let addr = DbActor::new(db, logs.logger(), Duration::ZERO).start();
        let secret_body = "private words nobody may log";
        ask(
            &addr,
            StoreMessages {
                messages: vec![message(1, CHANNEL_A, secret_body)],
            },
        )
        .await
        .expect("store");
        let private = SearchQuery::for_text("private").expect("query");
        ask(&addr, SearchMessages(private)).await.expect("search");

        let lines = logs.lines();
        let slow: Vec<&String> = lines
            .iter()
            .filter(|line| line.contains("logger=performance"))
            .collect();
        assert!(
            slow.iter().any(|line| line
                .starts_with("WARNING Slow operation: db.store_messages took")
                && line.contains("operation=db.store_messages")
                && line.contains("duration_ms=")),
            "{lines:#?}"
        );
        assert!(
            slow.iter()
                .any(|line| line.contains("operation=db.search_messages"))
        );
        assert!(
            lines.iter().all(|line| !line.contains("private")),
            "{lines:#?}"
        );
    }
}
