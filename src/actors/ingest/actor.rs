//! [`IngestActor`]: drains the queue in batches and writes them through the DbActor.
//!
//! A batch is whatever is queued when the writer looks (up to `max_batch_events`), so under
//! load writes grow into large transactions and at rest each event is written at once. A
//! write the database cannot take right now (its actor restarting, the file locked) is
//! retried with backoff, holding the batch, and the queue fills meanwhile, which slows the
//! gateway reader: backpressure instead of loss.
//!
//! Right after a batch commits, the gateway session is saved with the committed position
//! (see `progress`); with nothing to write for [`PERSISTED_SESSION_REFRESH`], it is saved
//! again so that its age shows how long ago this process was alive.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use slog::{Logger, debug, error, info, o, warn};

use super::error::{IngestError, Recovery};
use super::metrics::IngestMetrics;
use super::plan::{WriteOp, plan};
use super::progress::{BatchTicket, SessionPosition, session_record};
use super::{IngestReceiver, IngestSender};
use crate::actors::db::{
    ApplyPartialUpdates, DbActor, MarkDeleted, SaveGatewaySession, StoreMessages, StoreOutcome,
    UpsertChannels, UpsertGuilds,
};
use crate::discord::ChannelDirectory;
use crate::discord::config::DiscordConfig;
use crate::discord::gateway::{GatewayEvent, PERSISTED_SESSION_REFRESH, SequencedEvent};
use crate::logging::{error_chain, log_if_slow};
use crate::supervisor::{ComponentHandle, ComponentRecipient, Lifecycle};

/// First wait before retrying a write the database could not take; doubles per attempt.
const RETRY_INITIAL: Duration = Duration::from_millis(100);
/// Ceiling of that wait: the database is checked again at least every five seconds.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Attempts at a write that failed for a reason that is neither transient nor the data's
/// fault (an unexpected SQL error) before it is dropped and left to backfill.
const MAX_ATTEMPTS_FOR_UNEXPECTED_ERRORS: u32 = 3;
/// Mailbox of the actor itself: it receives only `Flush` and status requests.
const MAILBOX_CAPACITY: usize = 16;
/// How often `Flush` looks whether the queue has drained.
const FLUSH_POLL: Duration = Duration::from_millis(10);

pub struct IngestSettings {
    /// Which guilds and channels are stored (`guild_ids`, `channel_ids`, ...).
    pub selection: DiscordConfig,
    /// Events per batch at most: bounds one transaction's size and latency.
    pub max_batch_events: usize,
    pub slow_threshold: Duration,
    /// Told when a new gateway session begins: what came before it is only in REST history.
    pub backfill: Option<ComponentRecipient<SessionGap>>,
}

/// Sent (with `try_send`) when a new gateway session began rather than a resumed one: what
/// happened while no session was open never reaches the gateway, so the receiver (backfill)
/// fetches it over REST.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct SessionGap;

/// Counters shared with `/status` and the metrics (readable while a write is in progress).
#[derive(Debug, Default)]
pub struct IngestStats {
    pub events: AtomicU64,
    pub batches: AtomicU64,
    pub messages_inserted: AtomicU64,
    pub messages_updated: AtomicU64,
    pub revisions: AtomicU64,
    pub deletions: AtomicU64,
    pub unmonitored: AtomicU64,
    pub invalid: AtomicU64,
    pub retries: AtomicU64,
    pub dropped_writes: AtomicU64,
    /// Events taken off the queue whose writes (and the session save after them) have not
    /// finished.
    pub in_flight: AtomicU64,
    pub last_batch_at_ms: AtomicU64,
    /// The gateway position last saved for a restart to resume from.
    pub saved_session: Mutex<Option<SavedSession>>,
}

/// What `/status` shows of the saved gateway session (never its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SavedSession {
    /// Every event up to this sequence number is committed.
    pub seq: u64,
    pub shard: [u32; 2],
    pub saved_at: DateTime<Utc>,
}

/// What `/status` shows of the storage path.
#[derive(Debug, Clone, Serialize)]
pub struct IngestStatus {
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub events: u64,
    pub batches: u64,
    pub messages_inserted: u64,
    pub messages_updated: u64,
    pub revisions: u64,
    pub deletions: u64,
    pub unmonitored: u64,
    pub invalid: u64,
    pub retries: u64,
    pub dropped_writes: u64,
    pub last_batch_at_ms: Option<u64>,
}

impl IngestStats {
    pub fn saved_session(&self) -> Option<SavedSession> {
        self.saved_session.lock().ok().and_then(|saved| *saved)
    }

    pub fn status(&self, queue: &IngestSender) -> IngestStatus {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        IngestStatus {
            queue_depth: queue.max_capacity() - queue.capacity(),
            queue_capacity: queue.max_capacity(),
            events: read(&self.events),
            batches: read(&self.batches),
            messages_inserted: read(&self.messages_inserted),
            messages_updated: read(&self.messages_updated),
            revisions: read(&self.revisions),
            deletions: read(&self.deletions),
            unmonitored: read(&self.unmonitored),
            invalid: read(&self.invalid),
            retries: read(&self.retries),
            dropped_writes: read(&self.dropped_writes),
            last_batch_at_ms: Some(read(&self.last_batch_at_ms)).filter(|at| *at > 0),
        }
    }
}

pub struct IngestActor {
    /// Shared across restarts: the queue outlives any one instance of the actor.
    receiver: Arc<tokio::sync::Mutex<IngestReceiver>>,
    /// Kept only to measure the queue's depth.
    queue: IngestSender,
    db: ComponentHandle<DbActor>,
    directory: ChannelDirectory,
    settings: Arc<IngestSettings>,
    stats: Arc<IngestStats>,
    metrics: IngestMetrics,
    lifecycle: Lifecycle,
    log: Logger,
}

impl IngestActor {
    #[allow(clippy::too_many_arguments)] // every one is a dependency handed in by the wiring
    pub fn new(
        receiver: Arc<tokio::sync::Mutex<IngestReceiver>>,
        queue: IngestSender,
        db: ComponentHandle<DbActor>,
        directory: ChannelDirectory,
        settings: Arc<IngestSettings>,
        stats: Arc<IngestStats>,
        metrics: IngestMetrics,
        lifecycle: Lifecycle,
        log: &Logger,
    ) -> Self {
        Self {
            receiver,
            queue,
            db,
            directory,
            settings,
            stats,
            metrics,
            lifecycle,
            log: log.new(o!("logger" => "processing")),
        }
    }

    fn writer(&self) -> Writer {
        Writer {
            receiver: Arc::clone(&self.receiver),
            db: self.db.clone(),
            directory: self.directory.clone(),
            settings: Arc::clone(&self.settings),
            stats: Arc::clone(&self.stats),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
        }
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.lifecycle.up();
        let writer = self.writer();
        ctx.spawn(
            writer
                .run()
                .into_actor(self)
                .map(|outcome, actor, ctx| match outcome {
                    Ok(()) => {
                        info!(actor.log, "Ingest queue closed; writer finished");
                        ctx.stop();
                    }
                    Err(err) => {
                        error!(actor.log, "Ingest writer failed";
                        "error" => %err, "error_type" => "IngestError");
                        actor.lifecycle.fail(ctx, &err);
                    }
                }),
        );
    }
}

impl Supervised for IngestActor {
    /// The writer task died with the old run; everything else is shared state that must
    /// survive (the queue, the counters, the directory).
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        warn!(self.log, "Ingest writer restarting");
    }
}

/// Waits until every queued event has been written (or `timeout` passes): the shutdown's
/// "flush queues" step, sent after the gateway has stopped.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "IngestStatus")]
pub struct Flush {
    pub timeout: Duration,
}

impl Handler<Flush> for IngestActor {
    type Result = ResponseFuture<IngestStatus>;

    fn handle(&mut self, msg: Flush, _ctx: &mut Context<Self>) -> Self::Result {
        let queue = self.queue.clone();
        let stats = Arc::clone(&self.stats);
        Box::pin(async move {
            let deadline = Instant::now() + msg.timeout;
            loop {
                let idle = queue.max_capacity() == queue.capacity()
                    && stats.in_flight.load(Ordering::Acquire) == 0;
                if idle || Instant::now() >= deadline {
                    return stats.status(&queue);
                }
                tokio::time::sleep(FLUSH_POLL).await;
            }
        })
    }
}

/// What the writer found in the queue.
enum Taken {
    Batch(Vec<SequencedEvent>, BatchTicket),
    /// Nothing for a refresh interval; the committed position to save again, if any.
    Nothing(Option<SessionPosition>),
}

/// The loop that does the work; owns clones of the actor's dependencies so it can run as
/// one future without borrowing the actor.
struct Writer {
    receiver: Arc<tokio::sync::Mutex<IngestReceiver>>,
    db: ComponentHandle<DbActor>,
    directory: ChannelDirectory,
    settings: Arc<IngestSettings>,
    stats: Arc<IngestStats>,
    metrics: IngestMetrics,
    log: Logger,
}

impl Writer {
    /// Runs until the queue is closed (Ok) or a write fails for good (Err).
    async fn run(self) -> Result<(), IngestError> {
        loop {
            let taken = {
                let mut receiver = self.receiver.lock().await;
                let first = tokio::time::timeout(PERSISTED_SESSION_REFRESH, receiver.events.recv());
                match first.await {
                    Ok(Some(first)) => {
                        let mut batch = vec![first];
                        while batch.len() < self.settings.max_batch_events {
                            match receiver.events.try_recv() {
                                Ok(event) => batch.push(event),
                                Err(_) => break,
                            }
                        }
                        self.stats
                            .in_flight
                            .store(batch.len() as u64, Ordering::Release);
                        let ticket = receiver.progress.taken(&batch);
                        Taken::Batch(batch, ticket)
                    }
                    Ok(None) => return Ok(()),
                    Err(_idle) => Taken::Nothing(receiver.progress.position().cloned()),
                }
            };
            match taken {
                Taken::Nothing(position) => {
                    if let Some(position) = position {
                        self.save_session(&position).await;
                    }
                }
                Taken::Batch(batch, ticket) => {
                    let events = batch.into_iter().map(|item| item.event).collect();
                    let result = self.write_batch(events).await;
                    if result.is_ok() {
                        let moved = self
                            .receiver
                            .lock()
                            .await
                            .progress
                            .committed(ticket)
                            .cloned();
                        if let Some(position) = moved {
                            self.save_session(&position).await;
                        }
                    }
                    self.stats.in_flight.store(0, Ordering::Release);
                    result?;
                }
            }
        }
    }

    /// Saves the gateway session as resumable from `position` (committed). A failure is
    /// only logged: the next commit or idle interval saves again, and until then a restart
    /// resumes from an earlier position, which replays more but loses nothing.
    async fn save_session(&self, position: &SessionPosition) {
        let saved_at = Utc::now();
        let record = session_record(position, saved_at.timestamp_millis());
        match self
            .db
            .ask(SaveGatewaySession(record))
            .await
            .map_err(IngestError::from)
        {
            Ok(()) => {
                if let Ok(mut saved) = self.stats.saved_session.lock() {
                    *saved = Some(SavedSession {
                        seq: position.seq,
                        shard: position.session.shard,
                        saved_at,
                    });
                }
            }
            Err(err) => {
                warn!(self.log, "Could not save the gateway session; saved again after the next batch";
                "seq" => position.seq, "error" => %error_chain(&err))
            }
        }
    }

    async fn write_batch(&self, batch: Vec<GatewayEvent>) -> Result<(), IngestError> {
        let started = Instant::now();
        let events = batch.len();
        self.count_events(&batch);
        let plan = plan(batch, &self.settings.selection, &self.directory);
        if plan.new_session {
            self.request_backfill();
        }
        self.stats
            .unmonitored
            .fetch_add(plan.unmonitored as u64, Ordering::Relaxed);
        if !plan.invalid.is_empty() {
            self.stats
                .invalid
                .fetch_add(plan.invalid.len() as u64, Ordering::Relaxed);
            warn!(self.log, "Skipped events that could not be converted";
                "count" => plan.invalid.len(), "first" => &plan.invalid[0]);
        }
        for op in plan.ops {
            self.write_with_retry(op).await?;
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        self.stats.last_batch_at_ms.store(now_ms, Ordering::Relaxed);
        let elapsed = started.elapsed();
        self.metrics.observe_batch(elapsed);
        log_if_slow(
            &self.log,
            &format!("ingest.batch of {events} events"),
            elapsed,
            self.settings.slow_threshold,
        );
        Ok(())
    }

    fn request_backfill(&self) {
        let Some(backfill) = &self.settings.backfill else {
            return;
        };
        match backfill.try_send(SessionGap) {
            Ok(()) => info!(
                self.log,
                "New gateway session; backfill requested for the gap"
            ),
            // A full mailbox already holds a request that covers this gap.
            Err(err) => warn!(self.log, "Could not request backfill after a new session";
                "error" => %err),
        }
    }

    fn count_events(&self, batch: &[GatewayEvent]) {
        self.stats
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        for event in batch {
            *kinds.entry(event.kind()).or_default() += 1;
        }
        for (kind, count) in kinds {
            if let Err(err) = self.metrics.count_events(kind, count) {
                warn!(self.log, "Events not counted"; "kind" => kind, "error" => %err);
            }
        }
    }

    /// Writes `op`, retrying while the database is coming back; drops it (logged, counted,
    /// left to backfill) only when it can never succeed.
    async fn write_with_retry(&self, op: WriteOp) -> Result<(), IngestError> {
        let mut attempt: u32 = 0;
        let mut wait = RETRY_INITIAL;
        loop {
            attempt += 1;
            let error = match self.write(&op).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let drop = match error.recovery() {
                Recovery::Retry => false,
                Recovery::RetryFewTimes => attempt >= MAX_ATTEMPTS_FOR_UNEXPECTED_ERRORS,
                Recovery::Drop => true,
                // The database component is gone for good: nothing to retry against, and the
                // write must not count as done (its batch would count as committed).
                Recovery::Stop => return Err(error),
            };
            if drop {
                self.stats.dropped_writes.fetch_add(1, Ordering::Relaxed);
                error!(self.log, "Dropped a write the database refused; backfill will recover it";
                    "operation" => op.name(), "attempts" => attempt,
                    "error" => %error_chain(&error), "error_type" => "IngestWriteDropped");
                return Ok(());
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            debug!(self.log, "Database write will be retried";
                "operation" => op.name(), "attempt" => attempt,
                "retry_in_ms" => wait.as_millis() as u64, "error" => %error_chain(&error));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    async fn write(&self, op: &WriteOp) -> Result<(), IngestError> {
        match op {
            WriteOp::Guilds(guilds) => {
                self.db
                    .ask(UpsertGuilds {
                        guilds: guilds.clone(),
                    })
                    .await?;
                Ok(())
            }
            WriteOp::Channels(channels) => {
                self.db
                    .ask(UpsertChannels {
                        channels: channels.clone(),
                    })
                    .await?;
                Ok(())
            }
            WriteOp::Messages(messages) => {
                let outcome = self
                    .db
                    .ask(StoreMessages {
                        messages: messages.clone(),
                    })
                    .await?;
                self.count_stored(&outcome);
                Ok(())
            }
            WriteOp::PartialUpdates(updates) => {
                let outcome = self
                    .db
                    .ask(ApplyPartialUpdates {
                        updates: updates.clone(),
                    })
                    .await?;
                self.count_stored(&outcome);
                Ok(())
            }
            WriteOp::Deletes { channel_id, ids } => {
                let outcome = self
                    .db
                    .ask(MarkDeleted {
                        channel_id: *channel_id,
                        message_ids: ids.clone(),
                    })
                    .await?;
                self.stats.deletions.fetch_add(
                    (outcome.deleted + outcome.tombstones) as u64,
                    Ordering::Relaxed,
                );
                Ok(())
            }
        }
    }

    fn count_stored(&self, outcome: &StoreOutcome) {
        self.stats
            .messages_inserted
            .fetch_add(outcome.inserted as u64, Ordering::Relaxed);
        self.stats
            .messages_updated
            .fetch_add(outcome.updated as u64, Ordering::Relaxed);
        self.stats
            .revisions
            .fetch_add(outcome.revisions as u64, Ordering::Relaxed);
        if let Err(err) = self.metrics.count_stored(outcome) {
            warn!(self.log, "Stored messages not counted"; "error" => %err);
        }
    }
}
