//! Messages the [`DbActor`](super::DbActor) handles: one per [`Database`](super::Database)
//! operation, each answered with `Result<T, DbError>`.

use std::time::Duration;

use actix::Message;

use super::error::DbError;
use super::model::{
    ChannelMessageCount, ChannelRecord, CheckpointOutcome, DbStats, DeleteOutcome, GuildRecord,
    IngestCursor, IntegrityReport, MessageQuery, NewMessage, PartialMessageUpdate, SearchQuery,
    SearchResults, StoreOutcome, StoredMessage,
};
use super::outbox::{
    AttemptOutcome, ConditionDecision, Enqueued, NewCondition, NewOutboxAlert, OutboxAlert,
};

/// Store a batch of message snapshots in one transaction.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<StoreOutcome, DbError>")]
pub struct StoreMessages {
    pub messages: Vec<NewMessage>,
}

/// Merge partial MESSAGE_UPDATEs into the stored messages; see
/// [`Database::apply_partial_updates`](super::Database::apply_partial_updates).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<StoreOutcome, DbError>")]
pub struct ApplyPartialUpdates {
    pub updates: Vec<PartialMessageUpdate>,
}

/// Stored messages per channel; see
/// [`Database::channel_message_counts`](super::Database::channel_message_counts).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<ChannelMessageCount>, DbError>")]
pub struct CountMessagesPerChannel;

/// Mark messages of one channel deleted (unknown ids become tombstones).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<DeleteOutcome, DbError>")]
pub struct MarkDeleted {
    pub channel_id: u64,
    pub message_ids: Vec<u64>,
}

/// Insert or refresh guilds; answers the number of rows written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<usize, DbError>")]
pub struct UpsertGuilds {
    pub guilds: Vec<GuildRecord>,
}

/// Insert or refresh channels; answers the number of rows written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<usize, DbError>")]
pub struct UpsertChannels {
    pub channels: Vec<ChannelRecord>,
}

/// Advance a channel's ingest cursor (never backwards); answers the cursor as stored.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<IngestCursor, DbError>")]
pub struct SetCursor {
    pub channel_id: u64,
    pub last_message_id: u64,
}

/// Record that a channel's history has been fetched to its beginning.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<IngestCursor, DbError>")]
pub struct MarkBackfillComplete {
    pub channel_id: u64,
}

#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<IngestCursor>, DbError>")]
pub struct GetCursors;

/// Threads stored as not archived; see
/// [`Database::open_threads`](super::Database::open_threads).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<ChannelRecord>, DbError>")]
pub struct GetOpenThreads;

/// List messages; the query was validated when it was built.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<StoredMessage>, DbError>")]
pub struct QueryMessages(pub MessageQuery);

/// Full-text search; see [`Database::search`](super::Database::search). The query was
/// validated when it was built.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<SearchResults, DbError>")]
pub struct SearchMessages(pub SearchQuery);

/// Rows per table and file sizes. Counting every row of a large table takes a while and a
/// pool connection, so callers that ask often (`/status`) accept figures up to `max_age` old.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<DbStats, DbError>")]
pub struct GetStats {
    pub max_age: Duration,
}

impl GetStats {
    pub const FRESH: GetStats = GetStats {
        max_age: Duration::ZERO,
    };
}

#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<IntegrityReport, DbError>")]
pub struct CheckIntegrity;

/// Prove the database accepts writes; answers the write's latency.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Duration, DbError>")]
pub struct ProbeWritable;

/// Fold the WAL back into the database file (at shutdown).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<CheckpointOutcome, DbError>")]
pub struct Checkpoint;

/// Book one LLM call in the ledger; answers the row id.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct BookLlmUsage {
    pub usage: super::NewLlmUsage,
}

/// US dollars booked on one UTC day (`YYYY-MM-DD`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<f64, DbError>")]
pub struct LlmCostOnDay {
    pub day: String,
}

/// Ledger totals per day, provider and model from `first_day` on.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<super::LlmUsageTotal>, DbError>")]
pub struct LlmUsageSince {
    pub first_day: String,
}

/// Store alerts in the outbox (duplicate keys ignored); see
/// [`Database::enqueue_alerts`](super::Database::enqueue_alerts).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Enqueued>, DbError>")]
pub struct EnqueueAlerts {
    pub alerts: Vec<NewOutboxAlert>,
}

/// Pending outbox rows due at `now_ms`, at most `limit`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<OutboxAlert>, DbError>")]
pub struct DueAlerts {
    pub now_ms: i64,
    pub limit: i64,
}

/// The earliest due time of any pending outbox row.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<i64>, DbError>")]
pub struct NextAlertDue;

/// Record one delivery try and move the row (delivered, retry later, failed).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct RecordAlertAttempt {
    pub outbox_id: i64,
    pub outcome: AttemptOutcome,
}

/// Move a pending row's next try without counting an attempt.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct PostponeAlert {
    pub outbox_id: i64,
    pub next_attempt_at_ms: i64,
}

/// The newest outbox rows, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<OutboxAlert>, DbError>")]
pub struct RecentAlerts {
    pub limit: i64,
}

/// Delete delivered and failed outbox rows created before `before_ms`; answers how many.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<usize, DbError>")]
pub struct PruneAlerts {
    pub before_ms: i64,
}

/// Store a condition's rows as its history calls for; see
/// [`Database::enqueue_condition`](super::Database::enqueue_condition).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(ConditionDecision, Vec<Enqueued>), DbError>")]
pub struct EnqueueCondition(pub NewCondition);
