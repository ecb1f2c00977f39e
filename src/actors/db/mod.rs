//! Storage: the SQLite database (diesel over an r2d2 pool, WAL, embedded migrations) and the
//! [`DbActor`] that serves it to the rest of the system without blocking an arbiter.
//!
//! - `database.rs`: [`Database`], opening, migrations and maintenance (stats, integrity,
//!   writable probe, checkpoint, index rebuilds); blocking, also used directly by the `db`
//!   CLI commands.
//! - `store.rs` / `query.rs`: the write and read API on [`Database`], full-text search
//!   included.
//! - `search.rs`: the search language people type, translated into an FTS5 expression that
//!   cannot fail to parse, and the time bounds of a search.
//! - `model.rs`: the public types those take and return; `rows.rs`/`schema.rs` the diesel side.
//! - `outbox.rs`: the durable alert outbox and its delivery attempts.
//! - `backups.rs`: the `backups` table, the online snapshot (`VACUUM INTO`) and `VACUUM`.
//! - `integrity.rs`: the full integrity check on a schedule, outcomes to the ops rules.
//! - `llm_usage.rs`: the LLM ledger; `llm_modes.rs`: the structured-output modes the LLM
//!   router learnt, with their messages.
//! - `analysis.rs`: importance triage's durable backlog, its verdicts (`findings`, one per
//!   message, recorded exactly once) and the findings listing, with their messages.
//! - `restart_state.rs`: what a restart continues from (the gateway session to resume,
//!   backfill's archived-thread marks), with its messages.
//! - `actor.rs` / `messages.rs`: [`DbActor`] and the messages it handles.
//! - `error.rs`: [`DbError`], what a caller does about one ([`Disposition`]), and
//!   [`InvalidInput`].

mod actor;
mod analysis;
mod backups;
pub mod config;
mod database;
mod error;
mod integrity;
mod llm_modes;
mod llm_usage;
mod messages;
mod model;
mod outbox;
mod query;
mod restart_state;
mod rows;
pub mod schema;
mod search;
mod store;
#[cfg(test)]
pub(crate) mod test_support;

pub use actor::DbActor;
pub use analysis::{
    BacklogFigures, BacklogItem, BacklogReason, DEFAULT_FINDING_LIMIT, EXCERPT_CHARS,
    EnqueueRescore, FindingQuery, FindingView, GetBacklogFigures, LoadBacklog, NewTriageAnalysis,
    QueryFindings, RecordTriage, TriageRecorded, TriageVerdict,
};
pub use backups::{BackupRow, BackupRowOutcome, BackupRowStatus};
pub use config::DatabaseConfig;
pub use database::{Database, MIGRATIONS};
pub use error::{DbError, Disposition, InvalidInput};
pub use integrity::{INTEGRITY_CHECK_INTERVAL, IntegrityChecked, check_integrity_periodically};
pub use llm_modes::{
    LearntStructuredOutput, LoadLearntStructuredOutputs, SaveLearntStructuredOutput,
};
pub use llm_usage::{LlmUsageTotal, NewLlmUsage};
pub use messages::{
    ApplyPartialUpdates, BookLlmUsage, CheckIntegrity, Checkpoint, CountMessagesPerChannel,
    DueAlerts, EnqueueAlerts, EnqueueCondition, GetCursors, GetOpenThreads, GetStats, LlmCostOnDay,
    LlmUsageSince, MarkBackfillComplete, MarkDeleted, NextAlertDue, PostponeAlert, ProbeWritable,
    PruneAlerts, QueryMessages, RecentAlerts, RecordAlertAttempt, SearchMessages, SetCursor,
    StoreMessages, UpsertChannels, UpsertGuilds,
};
pub use model::{
    ChannelMessageCount, ChannelRecord, CheckpointOutcome, DISCORD_EPOCH_MS, DbStats,
    DeleteOutcome, GuildRecord, IngestCursor, IntegrityReport, MessageQuery, MessageRevision,
    MessageSource, NewMessage, PLACEHOLDER_CHANNEL_KIND, PartialMessageUpdate, RevisionKind,
    SNIPPET_ELLIPSIS, SNIPPET_MATCH_END, SNIPPET_MATCH_START, SearchHit, SearchParams, SearchQuery,
    SearchResults, StoreOutcome, StoredMessage, TOMBSTONE_SOURCE, snowflake_created_at_ms,
};
pub use outbox::{
    AlertAttempt, AttemptOutcome, ConditionDecision, Enqueued, NewCondition, NewOutboxAlert,
    OutboxAlert, OutboxState,
};
pub use restart_state::{
    ArchivedThreadMark, GatewaySessionRecord, LoadArchivedThreadMarks, LoadGatewaySession,
    SaveArchivedThreadMark, SaveGatewaySession,
};
pub use search::{MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchSyntax, parse_time};
