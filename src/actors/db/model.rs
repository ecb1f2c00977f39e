//! Public data types of the storage API: what callers write, what they read back, and the
//! validated query parameters.
//!
//! Snowflakes are `u64` here and `i64` in SQLite; [`to_db_id`] refuses the (theoretical)
//! values above `i64::MAX` instead of letting them wrap into negative ids. Serialized
//! snowflakes are strings because JavaScript numbers lose precision above 2^53.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::InvalidInput;
use super::search::match_expression;

/// How a message reached us. Stored in `messages.source` for the first copy we saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageSource {
    /// A live gateway event (MESSAGE_CREATE / MESSAGE_UPDATE).
    Gateway,
    /// Fetched from the REST history while catching up on a channel.
    Backfill,
}

impl MessageSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Backfill => "backfill",
        }
    }
}

/// Messages stored for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelMessageCount {
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    pub name: String,
    pub messages: u64,
}

/// The fields a partial MESSAGE_UPDATE carries (only `id` and `channel_id` are certain).
/// Merged into the stored snapshot; a message we never stored is left to backfill.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartialMessageUpdate {
    pub id: u64,
    pub channel_id: u64,
    pub content: Option<String>,
    pub edited_at_ms: Option<i64>,
    pub attachments: Option<Vec<serde_json::Value>>,
    pub embeds: Option<Vec<serde_json::Value>>,
}

/// `messages.source` of a row created by a delete for a message we never stored: it keeps a
/// late-arriving copy (a backfill page fetched before the delete) from resurrecting it.
pub const TOMBSTONE_SOURCE: &str = "tombstone";

/// A full snapshot of a message as Discord describes it. Partial gateway updates must be
/// merged into a full snapshot by the caller: every field here overwrites the stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: u64,
    pub channel_id: u64,
    /// `None` for direct messages.
    pub guild_id: Option<u64>,
    pub author_id: u64,
    pub author_name: String,
    pub author_is_bot: bool,
    pub content: String,
    pub created_at_ms: i64,
    /// Discord's `edited_timestamp`: a newer value with different content is an edit.
    pub edited_at_ms: Option<i64>,
    /// Discord message type (0 default, 19 reply, ...).
    pub kind: i32,
    /// Discord attachment objects, stored verbatim as JSON.
    pub attachments: Vec<serde_json::Value>,
    /// Discord embed objects, stored verbatim as JSON.
    pub embeds: Vec<serde_json::Value>,
    pub reply_to_message_id: Option<u64>,
    pub reply_to_channel_id: Option<u64>,
    pub source: MessageSource,
}

/// A message as stored, ready to hand to an API client.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    #[serde(with = "snowflake")]
    pub id: u64,
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    #[serde(with = "optional_snowflake")]
    pub guild_id: Option<u64>,
    #[serde(with = "snowflake")]
    pub author_id: u64,
    pub author_name: String,
    pub author_is_bot: bool,
    pub content: String,
    /// Serialized with `created_at` (RFC 3339) beside it.
    #[serde(flatten, serialize_with = "times::created")]
    pub created_at_ms: i64,
    /// Serialized with `edited_at` (RFC 3339, null when never edited) beside it.
    #[serde(flatten, serialize_with = "times::edited")]
    pub edited_at_ms: Option<i64>,
    pub deleted: bool,
    pub deleted_at_ms: Option<i64>,
    pub kind: i32,
    pub attachments: serde_json::Value,
    pub embeds: serde_json::Value,
    #[serde(with = "optional_snowflake")]
    pub reply_to_message_id: Option<u64>,
    #[serde(with = "optional_snowflake")]
    pub reply_to_channel_id: Option<u64>,
    /// `gateway`, `backfill` or `tombstone` (see [`TOMBSTONE_SOURCE`]).
    pub source: String,
    pub stored_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One kept edit or delete of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRevision {
    pub id: i64,
    #[serde(with = "snowflake")]
    pub message_id: u64,
    pub kind: RevisionKind,
    /// `None` for the delete of a message we never stored.
    pub previous_content: Option<String>,
    pub previous_edited_at_ms: Option<i64>,
    pub new_edited_at_ms: Option<i64>,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RevisionKind {
    Edit,
    Delete,
}

impl RevisionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Delete => "delete",
        }
    }
}

/// What one `store_messages` batch did. Every input message lands in exactly one of
/// `inserted`, `updated` or `unchanged`; `revisions` counts the edit revisions written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreOutcome {
    pub inserted: usize,
    pub updated: usize,
    /// Exact duplicates, and stale copies older than what is stored (never written back).
    pub unchanged: usize,
    pub revisions: usize,
}

/// What one `mark_deleted` batch did. Every input id lands in exactly one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteOutcome {
    /// Stored messages now marked deleted, each with a `delete` revision.
    pub deleted: usize,
    /// Already marked deleted: nothing written.
    pub already_deleted: usize,
    /// Unknown ids, recorded as deleted tombstone rows (see [`TOMBSTONE_SOURCE`]).
    pub tombstones: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildRecord {
    pub id: u64,
    pub name: String,
    pub icon: Option<String>,
    pub owner_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    pub id: u64,
    pub guild_id: Option<u64>,
    /// Parent channel of a thread or forum post, or category of a channel.
    pub parent_id: Option<u64>,
    /// Discord channel type.
    pub kind: i32,
    pub name: String,
    pub topic: Option<String>,
    pub is_thread: bool,
    pub archived: bool,
}

/// `channels.kind` of a placeholder row created because a message arrived before its channel.
pub const PLACEHOLDER_CHANNEL_KIND: i32 = -1;

/// How far ingestion got in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestCursor {
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    #[serde(with = "snowflake")]
    pub last_message_id: u64,
    pub backfill_complete: bool,
    pub updated_at_ms: i64,
}

/// Validated parameters of a message listing. Build it with [`MessageQuery::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageQuery {
    channel_id: Option<u64>,
    after: Option<u64>,
    before: Option<u64>,
    limit: u32,
}

impl MessageQuery {
    /// Smallest page: an empty page is never what a caller meant.
    pub const MIN_LIMIT: u32 = 1;
    /// Largest page: bounds the memory and time one request may take.
    pub const MAX_LIMIT: u32 = 1_000;
    /// Page size for callers that do not choose one.
    pub const DEFAULT_LIMIT: u32 = 100;

    /// `after` and `before` are exclusive message-id bounds.
    pub fn new(
        channel_id: Option<u64>,
        after: Option<u64>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Self, InvalidInput> {
        validate_limit(limit)?;
        for (field, value) in [
            ("channel_id", channel_id),
            ("after", after),
            ("before", before),
        ] {
            if let Some(value) = value {
                to_db_id(field, value)?;
            }
        }
        if let (Some(after), Some(before)) = (after, before)
            && after >= before
        {
            return Err(InvalidInput::EmptyRange { after, before });
        }
        Ok(Self {
            channel_id,
            after,
            before,
            limit,
        })
    }

    pub fn channel_id(&self) -> Option<u64> {
        self.channel_id
    }

    pub fn after(&self) -> Option<u64> {
        self.after
    }

    pub fn before(&self) -> Option<u64> {
        self.before
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// What to search for, as the caller gave it; [`SearchQuery::new`] checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchParams {
    /// What a person typed: words, `"phrases"`, `prefix*`, `OR`, `-word` (the language is
    /// described in the storage module's `search.rs`).
    pub text: String,
    pub guild_id: Option<u64>,
    pub channel_id: Option<u64>,
    pub author_id: Option<u64>,
    /// Only messages created at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Only messages created before this time (Unix milliseconds).
    pub until_ms: Option<i64>,
    /// Hits per answer; [`SearchQuery::DEFAULT_LIMIT`] when not given.
    pub limit: Option<u32>,
}

/// A validated full-text search: its text already translated into an FTS5 expression that
/// cannot fail to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    match_expression: String,
    guild_id: Option<u64>,
    channel_id: Option<u64>,
    author_id: Option<u64>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: u32,
}

impl SearchQuery {
    pub const MIN_LIMIT: u32 = 1;
    /// Each hit costs a snippet; a person reads a few dozen at most.
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 20;

    pub fn new(params: SearchParams) -> Result<Self, InvalidInput> {
        let limit = params.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(Self::MIN_LIMIT..=Self::MAX_LIMIT).contains(&limit) {
            return Err(InvalidInput::LimitOutOfRange {
                got: limit,
                min: Self::MIN_LIMIT,
                max: Self::MAX_LIMIT,
            });
        }
        for (field, value) in [
            ("guild_id", params.guild_id),
            ("channel_id", params.channel_id),
            ("author_id", params.author_id),
        ] {
            if let Some(value) = value {
                to_db_id(field, value)?;
            }
        }
        if let (Some(since_ms), Some(until_ms)) = (params.since_ms, params.until_ms)
            && since_ms >= until_ms
        {
            return Err(InvalidInput::EmptyTimeRange { since_ms, until_ms });
        }
        let match_expression = match_expression(&params.text)?;
        Ok(Self {
            text: params.text.trim().to_owned(),
            match_expression,
            guild_id: params.guild_id,
            channel_id: params.channel_id,
            author_id: params.author_id,
            since_ms: params.since_ms,
            until_ms: params.until_ms,
            limit,
        })
    }

    /// A search for `text` everywhere, with the default limit.
    pub fn for_text(text: &str) -> Result<Self, InvalidInput> {
        Self::new(SearchParams {
            text: text.to_owned(),
            ..SearchParams::default()
        })
    }

    /// What was typed, trimmed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The FTS5 `MATCH` expression `text` stands for.
    pub fn match_expression(&self) -> &str {
        &self.match_expression
    }

    pub fn guild_id(&self) -> Option<u64> {
        self.guild_id
    }

    pub fn channel_id(&self) -> Option<u64> {
        self.channel_id
    }

    pub fn author_id(&self) -> Option<u64> {
        self.author_id
    }

    pub fn since_ms(&self) -> Option<i64> {
        self.since_ms
    }

    pub fn until_ms(&self) -> Option<i64> {
        self.until_ms
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// Marks the start of a matched word in [`SearchHit::snippet`]: `⟦` (U+27E6), a character
/// chat messages practically never hold (unlike `[`, which Markdown links use), plain in JSON
/// and printable in a terminal.
pub const SNIPPET_MATCH_START: &str = "\u{27e6}";
/// Marks the end of a matched word in [`SearchHit::snippet`]: `⟧` (U+27E7).
pub const SNIPPET_MATCH_END: &str = "\u{27e7}";
/// Stands for the text a snippet leaves out before or after it: `…` (U+2026).
pub const SNIPPET_ELLIPSIS: &str = "\u{2026}";

/// One message that matched a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    #[serde(with = "snowflake")]
    pub message_id: u64,
    /// `None` for direct messages.
    #[serde(with = "optional_snowflake")]
    pub guild_id: Option<u64>,
    /// `None` while only the guild's id is known.
    pub guild_name: Option<String>,
    #[serde(with = "snowflake")]
    pub channel_id: u64,
    /// `None` while only the channel's id is known.
    pub channel_name: Option<String>,
    #[serde(with = "snowflake")]
    pub author_id: u64,
    pub author_name: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// The best-matching stretch of the message's current content, matched words between
    /// [`SNIPPET_MATCH_START`] and [`SNIPPET_MATCH_END`], cut text shown as
    /// [`SNIPPET_ELLIPSIS`].
    pub snippet: String,
    /// Opens the message in Discord.
    pub jump_url: String,
}

/// The best hits of a search, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Every message that matched, beyond the hits returned too.
    pub total: u64,
    /// More messages matched than `hits` holds.
    pub has_more: bool,
    pub hits: Vec<SearchHit>,
}

/// Checks a page size against [`MessageQuery::MIN_LIMIT`]..=[`MessageQuery::MAX_LIMIT`].
pub fn validate_limit(limit: u32) -> Result<(), InvalidInput> {
    if (MessageQuery::MIN_LIMIT..=MessageQuery::MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(InvalidInput::LimitOutOfRange {
            got: limit,
            min: MessageQuery::MIN_LIMIT,
            max: MessageQuery::MAX_LIMIT,
        })
    }
}

/// Size and shape of the database, for `db stats` and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbStats {
    pub path: String,
    /// Rows per table.
    pub tables: BTreeMap<String, u64>,
    pub file_size_bytes: u64,
    /// Size of the `-wal` file; 0 when absent (after a truncating checkpoint).
    pub wal_size_bytes: u64,
    pub page_size_bytes: u64,
    pub page_count: u64,
    pub freelist_count: u64,
    pub journal_mode: String,
}

/// Result of `PRAGMA integrity_check`, `PRAGMA foreign_key_check` and the FTS5
/// `integrity-check` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    pub ok: bool,
    /// One line per problem, prefixed by the check that found it.
    pub problems: Vec<String>,
    /// A check could not run because another connection held a lock it needed (the
    /// full-text check writes); its problem line says so too.
    pub locked: bool,
}

/// Result of `PRAGMA wal_checkpoint(TRUNCATE)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckpointOutcome {
    /// Another connection kept the checkpoint from completing.
    pub busy: bool,
    /// Frames in the WAL before the checkpoint (-1 when not in WAL mode).
    pub wal_frames: i64,
    /// Frames copied back into the database file.
    pub checkpointed_frames: i64,
}

/// Discord's epoch (2015-01-01T00:00:00Z) in unix milliseconds: snowflakes count from it.
pub const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// When the object a snowflake names was created, in unix milliseconds. The top 42 bits of a
/// snowflake are milliseconds since [`DISCORD_EPOCH_MS`].
pub fn snowflake_created_at_ms(snowflake: u64) -> i64 {
    // 42 bits always fit an i64.
    (snowflake >> 22) as i64 + DISCORD_EPOCH_MS
}

/// Converts a snowflake for storage, refusing values SQLite's signed integers cannot hold.
pub fn to_db_id(field: &'static str, value: u64) -> Result<i64, InvalidInput> {
    i64::try_from(value).map_err(|_| InvalidInput::SnowflakeOutOfRange { field, value })
}

pub(super) fn to_db_id_opt(
    field: &'static str,
    value: Option<u64>,
) -> Result<Option<i64>, InvalidInput> {
    value.map(|value| to_db_id(field, value)).transpose()
}

/// Inverse of [`to_db_id`]: stored ids were validated on the way in, so they are never
/// negative and the cast is exact.
pub(super) fn from_db_id(value: i64) -> u64 {
    value as u64
}

pub(super) fn from_db_id_opt(value: Option<i64>) -> Option<u64> {
    value.map(from_db_id)
}

/// Unix milliseconds as a time: out of range only for corrupt rows, shown as the epoch then
/// rather than failing a whole answer.
pub(super) fn time_from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A message's `_ms` times with their RFC 3339 form beside them (the style of every newer
/// answer), written as two entries of the flattened message.
mod times {
    use serde::Serializer;
    use serde::ser::SerializeMap;

    use super::time_from_ms;

    pub fn created<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("created_at_ms", ms)?;
        map.serialize_entry("created_at", &time_from_ms(*ms))?;
        map.end()
    }

    pub fn edited<S: Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("edited_at_ms", ms)?;
        map.serialize_entry("edited_at", &ms.map(time_from_ms))?;
        map.end()
    }
}

mod snowflake {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}

mod optional_snowflake {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }
}
