//! Row structs mapping `schema.rs` tables to Rust, private to the storage layer. Public
//! callers see the `u64`-based types of `model.rs` instead.

use diesel::prelude::*;

use super::error::DbError;
use super::model::{
    ChannelRecord, GuildRecord, IngestCursor, MessageRevision, NewMessage, RevisionKind,
    StoredMessage, from_db_id, from_db_id_opt, to_db_id, to_db_id_opt,
};
use super::schema::{channels, guilds, ingest_cursors, message_revisions, messages};

#[derive(
    Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Insertable, AsChangeset,
)]
#[diesel(table_name = messages, check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub(super) struct MessageRow {
    pub id: i64,
    pub channel_id: i64,
    pub guild_id: Option<i64>,
    pub author_id: i64,
    pub author_name: String,
    pub author_is_bot: bool,
    pub content: String,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted: bool,
    pub deleted_at_ms: Option<i64>,
    pub kind: i32,
    pub attachments_json: String,
    pub embeds_json: String,
    pub reply_to_message_id: Option<i64>,
    pub reply_to_channel_id: Option<i64>,
    pub source: String,
    pub stored_at_ms: i64,
    pub updated_at_ms: i64,
}

impl MessageRow {
    /// A fresh row for `message`, first seen at `now_ms`.
    pub fn from_new(message: &NewMessage, now_ms: i64) -> Result<Self, DbError> {
        Ok(Self {
            id: to_db_id("id", message.id)?,
            channel_id: to_db_id("channel_id", message.channel_id)?,
            guild_id: to_db_id_opt("guild_id", message.guild_id)?,
            author_id: to_db_id("author_id", message.author_id)?,
            author_name: message.author_name.clone(),
            author_is_bot: message.author_is_bot,
            content: message.content.clone(),
            created_at_ms: message.created_at_ms,
            edited_at_ms: message.edited_at_ms,
            deleted: false,
            deleted_at_ms: None,
            kind: message.kind,
            attachments_json: encode_json_array(&message.attachments),
            embeds_json: encode_json_array(&message.embeds),
            reply_to_message_id: to_db_id_opt("reply_to_message_id", message.reply_to_message_id)?,
            reply_to_channel_id: to_db_id_opt("reply_to_channel_id", message.reply_to_channel_id)?,
            source: message.source.as_str().to_owned(),
            stored_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    /// Whether the fields Discord can change differ from `other`. Bookkeeping columns
    /// (source, deletion, our own timestamps) are not Discord's and do not count.
    pub fn discord_fields_differ(&self, other: &Self) -> bool {
        self.channel_id != other.channel_id
            || self.guild_id != other.guild_id
            || self.author_id != other.author_id
            || self.author_name != other.author_name
            || self.author_is_bot != other.author_is_bot
            || self.content != other.content
            || self.created_at_ms != other.created_at_ms
            || self.edited_at_ms != other.edited_at_ms
            || self.kind != other.kind
            || self.attachments_json != other.attachments_json
            || self.embeds_json != other.embeds_json
            || self.reply_to_message_id != other.reply_to_message_id
            || self.reply_to_channel_id != other.reply_to_channel_id
    }

    pub fn into_stored(self) -> Result<StoredMessage, DbError> {
        Ok(StoredMessage {
            id: from_db_id(self.id),
            channel_id: from_db_id(self.channel_id),
            guild_id: from_db_id_opt(self.guild_id),
            author_id: from_db_id(self.author_id),
            author_name: self.author_name,
            author_is_bot: self.author_is_bot,
            content: self.content,
            created_at_ms: self.created_at_ms,
            edited_at_ms: self.edited_at_ms,
            deleted: self.deleted,
            deleted_at_ms: self.deleted_at_ms,
            kind: self.kind,
            attachments: decode_json("attachments_json", &self.attachments_json)?,
            embeds: decode_json("embeds_json", &self.embeds_json)?,
            reply_to_message_id: from_db_id_opt(self.reply_to_message_id),
            reply_to_channel_id: from_db_id_opt(self.reply_to_channel_id),
            source: self.source,
            stored_at_ms: self.stored_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

/// Infallible: a `serde_json::Value` always has a textual form.
fn encode_json_array(values: &[serde_json::Value]) -> String {
    let mut encoded = String::from("[");
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            encoded.push(',');
        }
        encoded.push_str(&value.to_string());
    }
    encoded.push(']');
    encoded
}

fn decode_json(column: &'static str, text: &str) -> Result<serde_json::Value, DbError> {
    serde_json::from_str(text).map_err(|source| DbError::CorruptJson { column, source })
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = message_revisions, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct NewRevisionRow<'a> {
    pub message_id: i64,
    pub kind: &'a str,
    pub previous_content: Option<&'a str>,
    pub previous_edited_at_ms: Option<i64>,
    pub new_edited_at_ms: Option<i64>,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = message_revisions, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct RevisionRow {
    pub id: i64,
    pub message_id: i64,
    pub kind: String,
    pub previous_content: Option<String>,
    pub previous_edited_at_ms: Option<i64>,
    pub new_edited_at_ms: Option<i64>,
    pub recorded_at_ms: i64,
}

impl RevisionRow {
    pub fn into_revision(self) -> MessageRevision {
        MessageRevision {
            id: self.id,
            message_id: from_db_id(self.message_id),
            // The column has a CHECK constraint allowing only these two values.
            kind: if self.kind == RevisionKind::Delete.as_str() {
                RevisionKind::Delete
            } else {
                RevisionKind::Edit
            },
            previous_content: self.previous_content,
            previous_edited_at_ms: self.previous_edited_at_ms,
            new_edited_at_ms: self.new_edited_at_ms,
            recorded_at_ms: self.recorded_at_ms,
        }
    }
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = guilds, check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub(super) struct GuildRow<'a> {
    pub id: i64,
    pub name: &'a str,
    pub icon: Option<&'a str>,
    pub owner_id: Option<i64>,
    pub updated_at_ms: i64,
}

impl<'a> GuildRow<'a> {
    pub fn from_record(record: &'a GuildRecord, now_ms: i64) -> Result<Self, DbError> {
        Ok(Self {
            id: to_db_id("guild id", record.id)?,
            name: &record.name,
            icon: record.icon.as_deref(),
            owner_id: to_db_id_opt("owner_id", record.owner_id)?,
            updated_at_ms: now_ms,
        })
    }
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = channels, check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub(super) struct ChannelRow<'a> {
    pub id: i64,
    pub guild_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub kind: i32,
    pub name: &'a str,
    pub topic: Option<&'a str>,
    pub is_thread: bool,
    pub archived: bool,
    pub updated_at_ms: i64,
}

impl<'a> ChannelRow<'a> {
    pub fn from_record(record: &'a ChannelRecord, now_ms: i64) -> Result<Self, DbError> {
        Ok(Self {
            id: to_db_id("channel id", record.id)?,
            guild_id: to_db_id_opt("guild_id", record.guild_id)?,
            parent_id: to_db_id_opt("parent_id", record.parent_id)?,
            kind: record.kind,
            name: &record.name,
            topic: record.topic.as_deref(),
            is_thread: record.is_thread,
            archived: record.archived,
            updated_at_ms: now_ms,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ingest_cursors, check_for_backend(diesel::sqlite::Sqlite))]
pub(super) struct CursorRow {
    pub channel_id: i64,
    pub last_message_id: i64,
    pub backfill_complete: bool,
    pub updated_at_ms: i64,
}

impl CursorRow {
    pub fn into_cursor(self) -> IngestCursor {
        IngestCursor {
            channel_id: from_db_id(self.channel_id),
            last_message_id: from_db_id(self.last_message_id),
            backfill_complete: self.backfill_complete,
            updated_at_ms: self.updated_at_ms,
        }
    }
}
