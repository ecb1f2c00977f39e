//! Read API of [`Database`]: message listings, full-text search, single messages and their
//! revisions.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::database::Database;
use super::error::{DbError, InvalidInput};
use super::model::{MessageQuery, MessageRevision, StoredMessage, to_db_id, validate_limit};
use super::rows::{MessageRow, RevisionRow};
use super::schema::{message_revisions, messages};

impl Database {
    /// Messages in ascending id order. With `after`, the page is the `limit` messages just
    /// above it (paging forward); otherwise it is the newest `limit` messages below `before`
    /// (or overall), which is also how Discord's own history endpoint pages.
    pub fn query_messages(&self, query: &MessageQuery) -> Result<Vec<StoredMessage>, DbError> {
        let mut select = messages::table
            .select(MessageRow::as_select())
            .limit(i64::from(query.limit()))
            .into_boxed();
        if let Some(channel_id) = query.channel_id() {
            select = select.filter(messages::channel_id.eq(to_db_id("channel_id", channel_id)?));
        }
        if let Some(before) = query.before() {
            select = select.filter(messages::id.lt(to_db_id("before", before)?));
        }
        let newest_first = match query.after() {
            Some(after) => {
                select = select
                    .filter(messages::id.gt(to_db_id("after", after)?))
                    .order(messages::id.asc());
                false
            }
            None => {
                select = select.order(messages::id.desc());
                true
            }
        };

        let mut conn = self.connection()?;
        let mut rows = select.load(&mut conn)?;
        if newest_first {
            rows.reverse();
        }
        rows.into_iter().map(MessageRow::into_stored).collect()
    }

    /// Full-text search over message content, best match first. `text` is taken as plain
    /// words (all must match); a word ending in `*` matches as a prefix. FTS5 operators in
    /// the input have no effect.
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<StoredMessage>, DbError> {
        validate_limit(limit)?;
        let fts_query = fts_query(text)?;
        let mut conn = self.connection()?;
        let rows: Vec<MessageRow> = diesel::sql_query(
            "SELECT m.* FROM messages_fts \
             JOIN messages AS m ON m.id = messages_fts.rowid \
             WHERE messages_fts MATCH ? \
             ORDER BY bm25(messages_fts), m.id DESC \
             LIMIT ?",
        )
        .bind::<Text, _>(fts_query)
        .bind::<BigInt, _>(i64::from(limit))
        .load(&mut conn)?;
        rows.into_iter().map(MessageRow::into_stored).collect()
    }

    pub fn get_message(&self, message_id: u64) -> Result<Option<StoredMessage>, DbError> {
        let id = to_db_id("message id", message_id)?;
        let mut conn = self.connection()?;
        messages::table
            .find(id)
            .select(MessageRow::as_select())
            .first(&mut conn)
            .optional()?
            .map(MessageRow::into_stored)
            .transpose()
    }

    /// Every kept edit and delete of a message, oldest first.
    pub fn message_revisions(&self, message_id: u64) -> Result<Vec<MessageRevision>, DbError> {
        let id = to_db_id("message id", message_id)?;
        let mut conn = self.connection()?;
        let rows = message_revisions::table
            .filter(message_revisions::message_id.eq(id))
            .order(message_revisions::id.asc())
            .select(RevisionRow::as_select())
            .load(&mut conn)?;
        Ok(rows.into_iter().map(RevisionRow::into_revision).collect())
    }
}

/// Turns user text into an FTS5 query that cannot fail to parse: each word becomes a quoted
/// string (quotes doubled inside), so `AND`, `NEAR`, `-`, `:`, parentheses and column
/// filters are just text. Words without a letter or digit would be empty phrases and are
/// dropped.
fn fts_query(text: &str) -> Result<String, InvalidInput> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (word, false),
            };
            if !word.chars().any(char::is_alphanumeric) {
                return None;
            }
            let quoted = format!("\"{}\"", word.replace('"', "\"\""));
            Some(if prefix { quoted + "*" } else { quoted })
        })
        .collect();
    if terms.is_empty() {
        return Err(InvalidInput::EmptySearch);
    }
    Ok(terms.join(" "))
}
