//! Read API of [`Database`]: message listings, full-text search, single messages and their
//! revisions.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::database::Database;
use super::error::{DbError, InvalidInput};
use super::model::{
    ChannelMessageCount, ChannelRecord, MessageQuery, MessageRevision, StoredMessage, from_db_id,
    from_db_id_opt, to_db_id, validate_limit,
};
use super::rows::{MessageRow, RevisionRow};
use super::schema::{channels, message_revisions, messages};

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

    /// Stored messages per channel (deleted ones included), with the channel's name, busiest
    /// first: the demo's progress lines and `/status`. Uses the `(channel_id, id)` index.
    pub fn channel_message_counts(&self) -> Result<Vec<ChannelMessageCount>, DbError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            channel_id: i64,
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = BigInt)]
            messages: i64,
        }
        let mut conn = self.connection()?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT m.channel_id AS channel_id, COALESCE(c.name, '') AS name, \
                    COUNT(*) AS messages \
             FROM messages AS m LEFT JOIN channels AS c ON c.id = m.channel_id \
             GROUP BY m.channel_id ORDER BY messages DESC, m.channel_id",
        )
        .load(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|row| ChannelMessageCount {
                channel_id: u64::try_from(row.channel_id).unwrap_or_default(),
                name: row.name,
                messages: u64::try_from(row.messages).unwrap_or_default(),
            })
            .collect())
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

    /// Threads stored as not archived (as we last heard), by id. Backfill pages those Discord
    /// no longer lists as active once more: they were archived (or deleted) while we were not
    /// listening, perhaps after messages we never received.
    pub fn open_threads(&self) -> Result<Vec<ChannelRecord>, DbError> {
        type Row = (i64, Option<i64>, Option<i64>, i32, String, Option<String>);
        let mut conn = self.connection()?;
        let rows: Vec<Row> = channels::table
            .filter(channels::is_thread.eq(true))
            .filter(channels::archived.eq(false))
            .order(channels::id.asc())
            .select((
                channels::id,
                channels::guild_id,
                channels::parent_id,
                channels::kind,
                channels::name,
                channels::topic,
            ))
            .load(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, guild_id, parent_id, kind, name, topic)| ChannelRecord {
                    id: from_db_id(id),
                    guild_id: from_db_id_opt(guild_id),
                    parent_id: from_db_id_opt(parent_id),
                    kind,
                    name,
                    topic,
                    is_thread: true,
                    archived: false,
                },
            )
            .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::model::NewMessage;
    use crate::actors::db::test_support::{
        BASE_ID, CHANNEL_A, CHANNEL_B, GUILD_ID, message, migrated_db,
    };

    #[test]
    fn open_threads_are_the_threads_not_known_to_be_archived() {
        let (_dir, db) = migrated_db();
        let channel = |id: u64, is_thread: bool, archived: bool| ChannelRecord {
            id,
            guild_id: Some(GUILD_ID),
            parent_id: is_thread.then_some(CHANNEL_A),
            kind: if is_thread { 11 } else { 0 },
            name: format!("channel {id}"),
            topic: None,
            is_thread,
            archived,
        };
        let open = channel(BASE_ID + 3, true, false);
        db.upsert_channels(&[
            channel(CHANNEL_A, false, false),
            channel(BASE_ID + 1, true, true),
            open.clone(),
        ])
        .expect("upsert");
        assert_eq!(
            db.open_threads().expect("threads"),
            std::slice::from_ref(&open)
        );
        // Archived later (a THREAD_UPDATE, or backfill settling it): no longer open.
        db.upsert_channels(&[ChannelRecord {
            archived: true,
            ..open
        }])
        .expect("upsert");
        assert!(db.open_threads().expect("threads").is_empty());
    }

    #[test]
    fn message_counts_per_channel_busiest_first() {
        let (_dir, db) = migrated_db();
        let batch = [
            message(1, CHANNEL_A, "a"),
            message(2, CHANNEL_B, "b"),
            message(3, CHANNEL_B, "c"),
        ];
        db.store_messages(&batch).expect("store");
        let counts = db.channel_message_counts().expect("counts");
        let summary: Vec<(u64, u64)> = counts
            .iter()
            .map(|count| (count.channel_id, count.messages))
            .collect();
        assert_eq!(summary, [(CHANNEL_B, 2), (CHANNEL_A, 1)]);
    }

    fn ids(messages: &[StoredMessage]) -> Vec<u64> {
        messages
            .iter()
            .map(|message| message.id - BASE_ID)
            .collect()
    }

    fn page(
        db: &Database,
        channel_id: Option<u64>,
        after: Option<u64>,
        before: Option<u64>,
        limit: u32,
    ) -> Vec<u64> {
        let query = MessageQuery::new(channel_id, after, before, limit).expect("valid query");
        ids(&db.query_messages(&query).expect("query"))
    }

    #[test]
    fn listings_are_ascending_and_honour_channel_bounds_and_limit() {
        let (_dir, db) = migrated_db();
        // Stored out of order, two channels interleaved: even offsets in A, odd in B.
        let batch: Vec<NewMessage> = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
            .into_iter()
            .map(|n| message(n, if n % 2 == 0 { CHANNEL_A } else { CHANNEL_B }, "x"))
            .collect();
        db.store_messages(&batch).expect("store");

        assert_eq!(
            page(&db, None, None, None, 1_000),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(page(&db, Some(CHANNEL_A), None, None, 100), [0, 2, 4, 6, 8]);
        // Forward from a cursor: the oldest messages above it.
        assert_eq!(
            page(&db, Some(CHANNEL_A), Some(BASE_ID + 2), None, 2),
            [4, 6]
        );
        // Without `after`: the newest messages (below `before`), still ascending.
        assert_eq!(page(&db, Some(CHANNEL_B), None, None, 2), [7, 9]);
        assert_eq!(
            page(&db, Some(CHANNEL_B), None, Some(BASE_ID + 7), 2),
            [3, 5]
        );
        // Both bounds are exclusive.
        assert_eq!(
            page(&db, None, Some(BASE_ID + 3), Some(BASE_ID + 7), 100),
            [4, 5, 6]
        );
        assert_eq!(
            page(&db, None, Some(BASE_ID + 9), None, 10),
            Vec::<u64>::new()
        );
        assert_eq!(page(&db, Some(12_345), None, None, 10), Vec::<u64>::new());
    }

    #[test]
    fn query_parameters_are_validated_when_built() {
        assert_eq!(
            MessageQuery::new(None, None, None, 0),
            Err(InvalidInput::LimitOutOfRange {
                got: 0,
                min: 1,
                max: 1_000
            })
        );
        assert!(MessageQuery::new(None, None, None, 1_001).is_err());
        assert!(MessageQuery::new(None, None, None, 1).is_ok());
        assert!(MessageQuery::new(None, None, None, 1_000).is_ok());
        assert_eq!(
            MessageQuery::new(None, Some(5), Some(5), 10),
            Err(InvalidInput::EmptyRange {
                after: 5,
                before: 5
            })
        );
        assert!(matches!(
            MessageQuery::new(Some(u64::MAX), None, None, 10),
            Err(InvalidInput::SnowflakeOutOfRange { .. })
        ));
        let error = DbError::from(MessageQuery::new(None, None, None, 0).expect_err("limit 0"));
        assert_eq!(error.disposition(), crate::actors::db::Disposition::Reject);
    }

    #[test]
    fn search_finds_new_and_edited_content_but_not_replaced_words() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[
            message(1, CHANNEL_A, "The zebra escaped from the zoo"),
            message(2, CHANNEL_A, "Nothing to see here"),
            message(3, CHANNEL_B, "Zèbre is zebra in French"),
        ])
        .expect("store");
        assert_eq!(ids(&db.search("zebra", 10).expect("search")).len(), 2);
        assert_eq!(ids(&db.search("ZEBRA zoo", 10).expect("search")), [1]);
        // remove_diacritics: "zebre" finds "Zèbre".
        assert_eq!(ids(&db.search("zebre", 10).expect("search")), [3]);

        let edited = NewMessage {
            content: "The giraffe escaped from the zoo".to_owned(),
            edited_at_ms: Some(1_800_000_000_000),
            ..message(1, CHANNEL_A, "")
        };
        db.store_messages(&[edited]).expect("edit");
        assert_eq!(ids(&db.search("giraffe", 10).expect("search")), [1]);
        assert_eq!(ids(&db.search("zebra", 10).expect("search")), [3]);
        assert_eq!(ids(&db.search("gira*", 10).expect("prefix")), [1]);
        assert_eq!(db.search("zebra", 1).expect("limit").len(), 1);
    }

    #[test]
    fn search_treats_fts_syntax_in_input_as_plain_text() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[message(1, CHANNEL_A, "deploy NEAR release: done (finally)")])
            .expect("store");
        for text in [
            "\"unbalanced",
            "deploy AND",
            "NEAR(",
            "content: deploy",
            "-deploy",
            "release:",
            "(finally)",
            "deploy*",
            "deploy ** --",
        ] {
            let found = db
                .search(text, 10)
                .unwrap_or_else(|error| panic!("{text:?}: {error}"));
            assert!(found.len() <= 1, "{text:?}");
        }
        assert_eq!(db.search("(finally)", 10).expect("search").len(), 1);
        assert!(matches!(
            db.search("  !!! ", 10),
            Err(DbError::InvalidInput(InvalidInput::EmptySearch))
        ));
        assert!(matches!(
            db.search("deploy", 0),
            Err(DbError::InvalidInput(InvalidInput::LimitOutOfRange { .. }))
        ));
    }

    #[test]
    fn fts_query_quotes_every_word() {
        assert_eq!(
            fts_query("a \"b\" c*").expect("query"),
            r#""a" """b""" "c"*"#
        );
        assert_eq!(fts_query("OR AND").expect("query"), r#""OR" "AND""#);
        assert_eq!(fts_query(" -- ** "), Err(InvalidInput::EmptySearch));
    }

    #[test]
    fn stored_messages_serialize_snowflakes_as_strings_and_json_as_values() {
        let (_dir, db) = migrated_db();
        let reply = NewMessage {
            attachments: vec![serde_json::json!({"id": "1", "filename": "a.png"})],
            reply_to_message_id: Some(BASE_ID + 1),
            reply_to_channel_id: Some(CHANNEL_A),
            ..message(2, CHANNEL_A, "see above")
        };
        db.store_messages(&[reply]).expect("store");
        let stored = db.get_message(BASE_ID + 2).expect("get").expect("stored");
        let json = serde_json::to_value(&stored).expect("serialize");
        assert_eq!(json["id"], (BASE_ID + 2).to_string());
        assert_eq!(json["channel_id"], CHANNEL_A.to_string());
        assert_eq!(json["reply_to_message_id"], (BASE_ID + 1).to_string());
        assert_eq!(json["attachments"][0]["filename"], "a.png");
        assert_eq!(json["embeds"], serde_json::json!([]));
        assert_eq!(json["edited_at_ms"], serde_json::Value::Null);
        assert!(db.get_message(BASE_ID + 99).expect("get").is_none());
    }
}
