//! Importance triage in storage: the durable backlog of messages waiting to be scored
//! (`analysis_backlog`, filled by a trigger in the transaction that stores a message), the
//! verdicts (`findings`, one per message) with the batches that produced them (`analyses`),
//! and the reads of `/api/findings`. The [`DbActor`] messages for all of it live here too.
//!
//! Exactly once: [`Database::record_triage`] deletes each message's backlog row and writes its
//! verdict in one transaction, and keeps only the verdicts whose backlog row it deleted. A
//! crash before the commit leaves the rows (the message is scored again after the restart); a
//! second scoring of a message already recorded (a worker restarted while its write was on the
//! way) finds no row and writes nothing.

use actix::prelude::*;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use serde::Serialize;

use super::actor::DbActor;
use super::database::{Database, now_ms};
use super::error::{DbError, InvalidInput};
use super::model::{from_db_id, from_db_id_opt, to_db_id, to_db_id_opt, validate_limit};
use super::schema::{analyses, analysis_backlog};

/// Why a message is in the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogReason {
    /// Never scored.
    New,
    /// Scored by rules while no model could be called; a model may score it now.
    Rescore,
}

impl BacklogReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            BacklogReason::New => "new",
            BacklogReason::Rescore => "rescore",
        }
    }
}

/// A message waiting to be scored, with what scoring it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogItem {
    pub message_id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    /// Empty while the channel is only a placeholder.
    pub channel_name: String,
    pub author_id: u64,
    pub author_name: String,
    pub author_is_bot: bool,
    pub content: String,
    pub created_at_ms: i64,
    /// Discord message type: 0 default, 19 reply; the others are system messages.
    pub kind: i32,
    /// Deleted before it could be scored.
    pub deleted: bool,
    pub has_attachments: bool,
    pub reply_to_message_id: Option<u64>,
    pub reason: BacklogReason,
}

/// How many messages wait and since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BacklogFigures {
    pub size: u64,
    /// The smallest waiting id: the oldest message (snowflakes grow with time).
    pub oldest_message_id: Option<u64>,
}

/// One scored batch, as `analyses` keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTriageAnalysis {
    /// `llm`, `rules` or `prefilter`.
    pub method: &'static str,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub prompt_version: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub started_at_ms: i64,
    /// Why a batch meant for a model was scored by rules instead.
    pub error: Option<String>,
}

/// One message's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageVerdict {
    pub message_id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    /// 1 (trivia) ..= 10 (act now).
    pub importance: u8,
    /// `low`, `medium` or `high`.
    pub urgency: &'static str,
    /// `question`, `decision`, `event`, `purchase`, `announcement`, `incident`, `chatter`.
    pub category: &'static str,
    pub needs_attention: bool,
    /// One line.
    pub reason: String,
    /// `llm`, `rules` or `prefilter`.
    pub method: &'static str,
    /// Scored by rules because no model could be called.
    pub degraded: bool,
    /// `provider/model` of an LLM verdict.
    pub model: Option<String>,
    pub prompt_version: Option<String>,
    /// This message's share of its call's cost.
    pub cost_usd: f64,
    /// What else explains the verdict (matched rules, the batch's retry).
    pub details: serde_json::Value,
}

/// What [`RecordTriage`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TriageRecorded {
    /// `None` when every verdict was already recorded.
    pub analysis_id: Option<i64>,
    pub written: usize,
    /// Verdicts of messages no longer waiting (recorded by an earlier run, or the message
    /// is gone): not written.
    pub already_done: usize,
}

/// A finding as `/api/findings` shows it, with its message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingView {
    pub id: i64,
    #[serde(serialize_with = "snowflake_string")]
    pub message_id: u64,
    #[serde(serialize_with = "snowflake_string")]
    pub channel_id: u64,
    pub channel_name: String,
    #[serde(serialize_with = "optional_snowflake_string")]
    pub guild_id: Option<u64>,
    pub author_name: String,
    /// The message's first characters (see [`EXCERPT_CHARS`]).
    pub excerpt: String,
    /// Shown by the API as RFC 3339.
    #[serde(skip)]
    pub message_created_at_ms: i64,
    pub importance: u8,
    pub urgency: String,
    pub category: String,
    pub needs_attention: bool,
    pub reason: String,
    pub method: String,
    pub degraded: bool,
    pub model: Option<String>,
    pub prompt_version: Option<String>,
    pub cost_usd: f64,
    /// When the verdict was last written; shown by the API as RFC 3339.
    #[serde(skip)]
    pub scored_at_ms: i64,
}

/// Characters of a message shown with its finding.
pub const EXCERPT_CHARS: usize = 300;

fn snowflake_string<S: serde::Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn optional_snowflake_string<S: serde::Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// A validated `/api/findings` query; newest message first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingQuery {
    min_importance: u8,
    category: Option<String>,
    since_ms: Option<i64>,
    channel_id: Option<u64>,
    before: Option<u64>,
    limit: u32,
}

/// Findings per answer when no limit is given (at most 1000, as every listing).
pub const DEFAULT_FINDING_LIMIT: u32 = 100;

impl FindingQuery {
    /// `min_importance` 1..=10; `since_ms`: messages created at or after; `before`: message
    /// ids below (paging back).
    pub fn new(
        min_importance: u8,
        category: Option<String>,
        since_ms: Option<i64>,
        channel_id: Option<u64>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Self, InvalidInput> {
        validate_limit(limit)?;
        if !(1..=10).contains(&min_importance) {
            return Err(InvalidInput::ImportanceOutOfRange {
                got: min_importance,
            });
        }
        Ok(Self {
            min_importance,
            category,
            since_ms,
            channel_id,
            before,
            limit,
        })
    }
}

/// A verdict's (message, channel, guild) ids as stored.
type MessageIds = (i64, i64, Option<i64>);

#[derive(QueryableByName)]
struct BacklogRow {
    #[diesel(sql_type = BigInt)]
    message_id: i64,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = BigInt)]
    channel_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    guild_id: Option<i64>,
    #[diesel(sql_type = Text)]
    channel_name: String,
    #[diesel(sql_type = BigInt)]
    author_id: i64,
    #[diesel(sql_type = Text)]
    author_name: String,
    #[diesel(sql_type = Bool)]
    author_is_bot: bool,
    #[diesel(sql_type = Text)]
    content: String,
    #[diesel(sql_type = BigInt)]
    created_at_ms: i64,
    #[diesel(sql_type = Integer)]
    kind: i32,
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Bool)]
    has_attachments: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    reply_to_message_id: Option<i64>,
}

#[derive(QueryableByName)]
struct FindingRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    message_id: i64,
    #[diesel(sql_type = BigInt)]
    channel_id: i64,
    #[diesel(sql_type = Text)]
    channel_name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    guild_id: Option<i64>,
    #[diesel(sql_type = Text)]
    author_name: String,
    #[diesel(sql_type = Text)]
    excerpt: String,
    #[diesel(sql_type = BigInt)]
    message_created_at_ms: i64,
    #[diesel(sql_type = Integer)]
    importance: i32,
    #[diesel(sql_type = Text)]
    urgency: String,
    #[diesel(sql_type = Text)]
    category: String,
    #[diesel(sql_type = Bool)]
    needs_attention: bool,
    #[diesel(sql_type = Text)]
    summary: String,
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Bool)]
    degraded: bool,
    #[diesel(sql_type = Nullable<Text>)]
    model: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    prompt_version: Option<String>,
    #[diesel(sql_type = Double)]
    cost_usd: f64,
    #[diesel(sql_type = BigInt)]
    scored_at_ms: i64,
}

#[derive(QueryableByName)]
struct FiguresRow {
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest: Option<i64>,
}

impl Database {
    /// Up to `limit` waiting messages with ids above `after`, in id order.
    pub fn load_backlog(&self, after: u64, limit: u32) -> Result<Vec<BacklogItem>, DbError> {
        let after = to_db_id("after", after)?;
        let mut conn = self.connection()?;
        let rows = diesel::sql_query(
            "SELECT b.message_id, b.reason, m.channel_id, m.guild_id, \
                    COALESCE(c.name, '') AS channel_name, m.author_id, m.author_name, \
                    m.author_is_bot, m.content, m.created_at_ms, m.kind, m.deleted, \
                    (m.attachments_json != '[]') AS has_attachments, m.reply_to_message_id \
             FROM analysis_backlog b \
             JOIN messages m ON m.id = b.message_id \
             LEFT JOIN channels c ON c.id = m.channel_id \
             WHERE b.message_id > ? ORDER BY b.message_id LIMIT ?",
        )
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(i64::from(limit))
        .load::<BacklogRow>(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|row| BacklogItem {
                message_id: from_db_id(row.message_id),
                channel_id: from_db_id(row.channel_id),
                guild_id: from_db_id_opt(row.guild_id),
                channel_name: row.channel_name,
                author_id: from_db_id(row.author_id),
                author_name: row.author_name,
                author_is_bot: row.author_is_bot,
                content: row.content,
                created_at_ms: row.created_at_ms,
                kind: row.kind,
                deleted: row.deleted,
                has_attachments: row.has_attachments,
                reply_to_message_id: from_db_id_opt(row.reply_to_message_id),
                reason: if row.reason == BacklogReason::Rescore.as_str() {
                    BacklogReason::Rescore
                } else {
                    BacklogReason::New
                },
            })
            .collect())
    }

    /// How many messages wait, and the oldest of them.
    pub fn backlog_figures(&self) -> Result<BacklogFigures, DbError> {
        let mut conn = self.connection()?;
        let row = diesel::sql_query(
            "SELECT COUNT(*) AS size, MIN(message_id) AS oldest FROM analysis_backlog",
        )
        .get_result::<FiguresRow>(&mut conn)?;
        Ok(BacklogFigures {
            size: u64::try_from(row.size).unwrap_or(0),
            oldest_message_id: from_db_id_opt(row.oldest),
        })
    }

    /// Writes the verdicts of the messages still waiting and takes them off the backlog, in
    /// one transaction (see the module doc); the batch's `analyses` row only when at least
    /// one verdict is written.
    pub fn record_triage(
        &self,
        analysis: &NewTriageAnalysis,
        verdicts: &[TriageVerdict],
    ) -> Result<TriageRecorded, DbError> {
        let ids = verdicts
            .iter()
            .map(|verdict| {
                Ok((
                    to_db_id("message_id", verdict.message_id)?,
                    to_db_id("channel_id", verdict.channel_id)?,
                    to_db_id_opt("guild_id", verdict.guild_id)?,
                ))
            })
            .collect::<Result<Vec<_>, InvalidInput>>()?;
        let as_i64 = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let now = now_ms();
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let mut kept = Vec::with_capacity(verdicts.len());
            for (verdict, ids) in verdicts.iter().zip(&ids) {
                let taken = diesel::delete(analysis_backlog::table.find(ids.0)).execute(conn)?;
                if taken > 0 {
                    kept.push((verdict, ids));
                }
            }
            let already_done = verdicts.len() - kept.len();
            if kept.is_empty() {
                return Ok(TriageRecorded {
                    analysis_id: None,
                    written: 0,
                    already_done,
                });
            }
            let same = |pick: fn(&MessageIds) -> Option<i64>| {
                let first = pick(kept[0].1);
                kept.iter()
                    .all(|(_, ids)| pick(ids) == first)
                    .then_some(first)
            };
            let analysis_id: i64 = diesel::insert_into(analyses::table)
                .values((
                    analyses::kind.eq("triage"),
                    analyses::guild_id.eq(same(|ids| ids.2).flatten()),
                    analyses::channel_id.eq(same(|ids| Some(ids.1)).flatten()),
                    analyses::first_message_id.eq(kept.iter().map(|(_, ids)| ids.0).min()),
                    analyses::last_message_id.eq(kept.iter().map(|(_, ids)| ids.0).max()),
                    analyses::message_count.eq(i32::try_from(kept.len()).unwrap_or(i32::MAX)),
                    analyses::provider.eq(&analysis.provider),
                    analyses::model.eq(&analysis.model),
                    analyses::status.eq("ok"),
                    analyses::error.eq(&analysis.error),
                    analyses::started_at_ms.eq(analysis.started_at_ms),
                    analyses::finished_at_ms.eq(Some(now)),
                    analyses::method.eq(analysis.method),
                    analyses::prompt_version.eq(&analysis.prompt_version),
                    analyses::input_tokens.eq(as_i64(analysis.input_tokens)),
                    analyses::output_tokens.eq(as_i64(analysis.output_tokens)),
                    analyses::cost_usd.eq(analysis.cost_usd),
                ))
                .returning(analyses::id)
                .get_result(conn)?;
            for (verdict, ids) in &kept {
                // A rescored message has its verdict already: replaced in place, so each
                // message keeps exactly one (and its digest link).
                diesel::sql_query(
                    "INSERT INTO findings (analysis_id, message_id, channel_id, guild_id, \
                         importance, category, summary, details_json, created_at_ms, urgency, \
                         needs_attention, method, degraded, model, prompt_version, cost_usd, \
                         updated_at_ms) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (message_id) WHERE watch_name IS NULL DO UPDATE SET \
                         analysis_id = excluded.analysis_id, importance = excluded.importance, \
                         category = excluded.category, summary = excluded.summary, \
                         details_json = excluded.details_json, urgency = excluded.urgency, \
                         needs_attention = excluded.needs_attention, method = excluded.method, \
                         degraded = excluded.degraded, model = excluded.model, \
                         prompt_version = excluded.prompt_version, \
                         cost_usd = findings.cost_usd + excluded.cost_usd, \
                         updated_at_ms = excluded.updated_at_ms",
                )
                .bind::<BigInt, _>(analysis_id)
                .bind::<BigInt, _>(ids.0)
                .bind::<Nullable<BigInt>, _>(Some(ids.1))
                .bind::<Nullable<BigInt>, _>(ids.2)
                .bind::<Integer, _>(i32::from(verdict.importance))
                .bind::<Text, _>(verdict.category)
                .bind::<Text, _>(&verdict.reason)
                .bind::<Text, _>(verdict.details.to_string())
                .bind::<BigInt, _>(now)
                .bind::<Text, _>(verdict.urgency)
                .bind::<Bool, _>(verdict.needs_attention)
                .bind::<Text, _>(verdict.method)
                .bind::<Bool, _>(verdict.degraded)
                .bind::<Nullable<Text>, _>(verdict.model.as_deref())
                .bind::<Nullable<Text>, _>(verdict.prompt_version.as_deref())
                .bind::<Double, _>(verdict.cost_usd)
                .bind::<BigInt, _>(now)
                .execute(conn)?;
            }
            Ok(TriageRecorded {
                analysis_id: Some(analysis_id),
                written: kept.len(),
                already_done,
            })
        })
    }

    /// Puts up to `limit` verdicts scored by rules for want of a model back on the backlog,
    /// newest message first (what happened lately matters most); answers how many.
    pub fn enqueue_rescore(&self, limit: u32) -> Result<usize, DbError> {
        let mut conn = self.connection()?;
        let queued = diesel::sql_query(
            "INSERT OR IGNORE INTO analysis_backlog (message_id, reason, enqueued_at_ms) \
             SELECT f.message_id, 'rescore', ? FROM findings f \
             WHERE f.degraded AND f.watch_name IS NULL AND f.message_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM analysis_backlog b WHERE b.message_id = f.message_id) \
             ORDER BY f.message_id DESC LIMIT ?",
        )
        .bind::<BigInt, _>(now_ms())
        .bind::<BigInt, _>(i64::from(limit))
        .execute(&mut conn)?;
        Ok(queued)
    }

    /// Findings matching `query`, newest message first.
    pub fn query_findings(&self, query: &FindingQuery) -> Result<Vec<FindingView>, DbError> {
        let mut sql = String::from(
            "SELECT f.id, f.message_id, m.channel_id, COALESCE(c.name, '') AS channel_name, \
                    m.guild_id, m.author_name, substr(m.content, 1, ?) AS excerpt, \
                    m.created_at_ms AS message_created_at_ms, f.importance, f.urgency, \
                    f.category, f.needs_attention, f.summary, f.method, f.degraded, f.model, \
                    f.prompt_version, f.cost_usd, \
                    MAX(f.updated_at_ms, f.created_at_ms) AS scored_at_ms \
             FROM findings f \
             JOIN messages m ON m.id = f.message_id \
             LEFT JOIN channels c ON c.id = m.channel_id \
             WHERE f.watch_name IS NULL AND f.importance >= ?",
        );
        if query.category.is_some() {
            sql.push_str(" AND f.category = ?");
        }
        if query.since_ms.is_some() {
            sql.push_str(" AND m.created_at_ms >= ?");
        }
        if query.channel_id.is_some() {
            sql.push_str(" AND m.channel_id = ?");
        }
        if query.before.is_some() {
            sql.push_str(" AND f.message_id < ?");
        }
        sql.push_str(" ORDER BY f.message_id DESC LIMIT ?");
        let mut statement = diesel::sql_query(sql)
            .into_boxed::<diesel::sqlite::Sqlite>()
            .bind::<BigInt, _>(EXCERPT_CHARS as i64)
            .bind::<Integer, _>(i32::from(query.min_importance));
        if let Some(category) = &query.category {
            statement = statement.bind::<Text, _>(category.clone());
        }
        if let Some(since_ms) = query.since_ms {
            statement = statement.bind::<BigInt, _>(since_ms);
        }
        if let Some(channel_id) = query.channel_id {
            statement = statement.bind::<BigInt, _>(to_db_id("channel_id", channel_id)?);
        }
        if let Some(before) = query.before {
            statement = statement.bind::<BigInt, _>(to_db_id("before", before)?);
        }
        statement = statement.bind::<BigInt, _>(i64::from(query.limit));
        let mut conn = self.connection()?;
        let rows = statement.load::<FindingRow>(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|row| FindingView {
                id: row.id,
                message_id: from_db_id(row.message_id),
                channel_id: from_db_id(row.channel_id),
                channel_name: row.channel_name,
                guild_id: from_db_id_opt(row.guild_id),
                author_name: row.author_name,
                excerpt: row.excerpt,
                message_created_at_ms: row.message_created_at_ms,
                importance: u8::try_from(row.importance.clamp(1, 10)).unwrap_or(1),
                urgency: row.urgency,
                category: row.category,
                needs_attention: row.needs_attention,
                reason: row.summary,
                method: row.method,
                degraded: row.degraded,
                model: row.model,
                prompt_version: row.prompt_version,
                cost_usd: row.cost_usd,
                scored_at_ms: row.scored_at_ms,
            })
            .collect())
    }
}

/// Up to `limit` waiting messages above `after`, in id order.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<BacklogItem>, DbError>")]
pub struct LoadBacklog {
    pub after: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<BacklogFigures, DbError>")]
pub struct GetBacklogFigures;

/// Write a batch's verdicts; see [`Database::record_triage`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<TriageRecorded, DbError>")]
pub struct RecordTriage {
    pub analysis: NewTriageAnalysis,
    pub verdicts: Vec<TriageVerdict>,
}

/// Queue rule-scored verdicts for a model; see [`Database::enqueue_rescore`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<usize, DbError>")]
pub struct EnqueueRescore {
    pub limit: u32,
}

#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<FindingView>, DbError>")]
pub struct QueryFindings(pub FindingQuery);

impl Handler<LoadBacklog> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<BacklogItem>, DbError>>;

    fn handle(&mut self, msg: LoadBacklog, _ctx: &mut Self::Context) -> Self::Result {
        self.run("load_backlog", move |db| {
            db.load_backlog(msg.after, msg.limit)
        })
    }
}

impl Handler<GetBacklogFigures> for DbActor {
    type Result = ResponseActFuture<Self, Result<BacklogFigures, DbError>>;

    fn handle(&mut self, _msg: GetBacklogFigures, _ctx: &mut Self::Context) -> Self::Result {
        self.run("backlog_figures", Database::backlog_figures)
    }
}

impl Handler<RecordTriage> for DbActor {
    type Result = ResponseActFuture<Self, Result<TriageRecorded, DbError>>;

    fn handle(&mut self, msg: RecordTriage, _ctx: &mut Self::Context) -> Self::Result {
        self.run("record_triage", move |db| {
            db.record_triage(&msg.analysis, &msg.verdicts)
        })
    }
}

impl Handler<EnqueueRescore> for DbActor {
    type Result = ResponseActFuture<Self, Result<usize, DbError>>;

    fn handle(&mut self, msg: EnqueueRescore, _ctx: &mut Self::Context) -> Self::Result {
        self.run("enqueue_rescore", move |db| db.enqueue_rescore(msg.limit))
    }
}

impl Handler<QueryFindings> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<FindingView>, DbError>>;

    fn handle(&mut self, msg: QueryFindings, _ctx: &mut Self::Context) -> Self::Result {
        self.run("query_findings", move |db| db.query_findings(&msg.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::test_support::{BASE_ID, CHANNEL_A, CHANNEL_B, message, migrated_db};
    use crate::actors::db::{NewMessage, TOMBSTONE_SOURCE};

    fn verdict(message: &NewMessage, importance: u8, method: &'static str) -> TriageVerdict {
        TriageVerdict {
            message_id: message.id,
            channel_id: message.channel_id,
            guild_id: message.guild_id,
            importance,
            urgency: "low",
            category: "chatter",
            needs_attention: importance >= 7,
            reason: format!("scored {importance}"),
            method,
            degraded: method == "rules",
            model: None,
            prompt_version: None,
            cost_usd: 0.001,
            details: serde_json::json!({}),
        }
    }

    fn analysis(method: &'static str) -> NewTriageAnalysis {
        NewTriageAnalysis {
            method,
            provider: None,
            model: None,
            prompt_version: Some("triage/v1".to_owned()),
            input_tokens: 100,
            output_tokens: 20,
            cost_usd: 0.002,
            started_at_ms: 1,
            error: None,
        }
    }

    #[test]
    fn stored_messages_wait_in_id_order_and_are_recorded_once() {
        let (_dir, db) = migrated_db();
        let stored: Vec<NewMessage> = [3, 1, 2]
            .into_iter()
            .map(|n| message(n, CHANNEL_A, &format!("message {n}")))
            .chain([message(4, CHANNEL_B, "other channel")])
            .collect();
        db.store_messages(&stored).unwrap();
        // Storing the same messages again (a replayed event) queues nothing new.
        db.store_messages(&stored).unwrap();
        let waiting = db.load_backlog(0, 10).unwrap();
        assert_eq!(
            waiting
                .iter()
                .map(|item| item.message_id)
                .collect::<Vec<_>>(),
            [BASE_ID + 1, BASE_ID + 2, BASE_ID + 3, BASE_ID + 4]
        );
        assert_eq!(waiting[0].content, "message 1");
        assert_eq!(waiting[0].reason, BacklogReason::New);
        assert_eq!(
            db.load_backlog(BASE_ID + 2, 1).unwrap()[0].message_id,
            BASE_ID + 3
        );
        let figures = db.backlog_figures().unwrap();
        assert_eq!(
            (figures.size, figures.oldest_message_id),
            (4, Some(BASE_ID + 1))
        );

        let first = db
            .record_triage(
                &analysis("llm"),
                &[verdict(&stored[1], 8, "llm"), verdict(&stored[2], 2, "llm")],
            )
            .unwrap();
        assert_eq!((first.written, first.already_done), (2, 0));
        assert!(first.analysis_id.is_some());
        // The same verdicts again (a restarted worker's late write): nothing written.
        let again = db
            .record_triage(&analysis("llm"), &[verdict(&stored[1], 3, "llm")])
            .unwrap();
        assert_eq!(
            again,
            TriageRecorded {
                analysis_id: None,
                written: 0,
                already_done: 1
            }
        );
        assert_eq!(
            db.load_backlog(0, 10)
                .unwrap()
                .iter()
                .map(|item| item.message_id)
                .collect::<Vec<_>>(),
            [BASE_ID + 3, BASE_ID + 4]
        );

        let query = |min: u8| FindingQuery::new(min, None, None, None, None, 10).unwrap();
        let all = db.query_findings(&query(1)).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message_id, BASE_ID + 2, "newest first");
        assert_eq!(all[1].importance, 8);
        assert_eq!(all[1].reason, "scored 8");
        assert_eq!(all[1].excerpt, "message 1");
        assert_eq!(db.query_findings(&query(5)).unwrap().len(), 1);
        let in_b = FindingQuery::new(1, None, None, Some(CHANNEL_B), None, 10).unwrap();
        assert!(db.query_findings(&in_b).unwrap().is_empty());
    }

    #[test]
    fn tombstones_are_not_queued_and_deleted_messages_leave_the_backlog() {
        let (_dir, db) = migrated_db();
        db.mark_deleted(CHANNEL_A, &[BASE_ID + 9]).unwrap();
        let tombstone = db.get_message(BASE_ID + 9).unwrap().unwrap();
        assert_eq!(tombstone.source, TOMBSTONE_SOURCE);
        assert!(db.load_backlog(0, 10).unwrap().is_empty());

        db.store_messages(&[message(1, CHANNEL_A, "soon gone")])
            .unwrap();
        db.mark_deleted(CHANNEL_A, &[BASE_ID + 1]).unwrap();
        let waiting = db.load_backlog(0, 10).unwrap();
        assert!(waiting[0].deleted, "scoring sees that it is gone");
    }

    #[test]
    fn rule_scored_verdicts_go_back_for_a_model_and_are_replaced_in_place() {
        let (_dir, db) = migrated_db();
        let stored = [message(1, CHANNEL_A, "a"), message(2, CHANNEL_A, "b")];
        db.store_messages(&stored).unwrap();
        db.record_triage(
            &analysis("rules"),
            &[
                verdict(&stored[0], 4, "rules"),
                verdict(&stored[1], 1, "prefilter"),
            ],
        )
        .unwrap();
        assert_eq!(db.enqueue_rescore(100).unwrap(), 1, "only the degraded one");
        assert_eq!(db.enqueue_rescore(100).unwrap(), 0, "already waiting");
        let waiting = db.load_backlog(0, 10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].reason, BacklogReason::Rescore);

        let recorded = db
            .record_triage(&analysis("llm"), &[verdict(&stored[0], 9, "llm")])
            .unwrap();
        assert_eq!(recorded.written, 1);
        let findings = db
            .query_findings(&FindingQuery::new(1, None, None, None, None, 10).unwrap())
            .unwrap();
        assert_eq!(findings.len(), 2, "one verdict per message");
        let rescored = findings
            .iter()
            .find(|f| f.message_id == BASE_ID + 1)
            .unwrap();
        assert_eq!((rescored.importance, rescored.method.as_str()), (9, "llm"));
        assert!(!rescored.degraded);
        assert!(
            (rescored.cost_usd - 0.002).abs() < 1e-9,
            "both calls' shares"
        );
        assert_eq!(db.enqueue_rescore(100).unwrap(), 0);
    }

    #[test]
    fn finding_queries_filter_by_category_and_time() {
        let (_dir, db) = migrated_db();
        let stored = [message(1, CHANNEL_A, "a"), message(2, CHANNEL_A, "b")];
        db.store_messages(&stored).unwrap();
        let mut incident = verdict(&stored[1], 9, "llm");
        incident.category = "incident";
        db.record_triage(&analysis("llm"), &[verdict(&stored[0], 2, "llm"), incident])
            .unwrap();
        let by_category =
            FindingQuery::new(1, Some("incident".to_owned()), None, None, None, 10).unwrap();
        let found = db.query_findings(&by_category).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].category, "incident");
        let created = db.get_message(BASE_ID + 2).unwrap().unwrap().created_at_ms;
        let since = FindingQuery::new(1, None, Some(created), None, None, 10).unwrap();
        assert_eq!(db.query_findings(&since).unwrap().len(), 1);
        let paged = FindingQuery::new(1, None, None, None, Some(BASE_ID + 2), 10).unwrap();
        assert_eq!(
            db.query_findings(&paged).unwrap()[0].message_id,
            BASE_ID + 1
        );
        assert!(FindingQuery::new(0, None, None, None, None, 10).is_err());
        assert!(FindingQuery::new(1, None, None, None, None, 0).is_err());
    }
}
