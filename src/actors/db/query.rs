//! Read API of [`Database`]: message listings, full-text search, single messages and their
//! revisions.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::database::Database;
use super::error::{DbError, Disposition, InvalidInput};
use super::model::{
    ChannelMessageCount, ChannelRecord, MessageQuery, MessageRevision, SNIPPET_ELLIPSIS,
    SNIPPET_MATCH_END, SNIPPET_MATCH_START, SearchHit, SearchQuery, SearchResults, StoredMessage,
    from_db_id, from_db_id_opt, time_from_ms, to_db_id, to_db_id_opt,
};
use super::rows::{MessageRow, RevisionRow};
use super::schema::{channels, message_revisions, messages};
use super::search::SearchSyntax;
use crate::discord::model::message_url;

/// Most words of a message a search snippet shows (FTS5 allows up to 64): about a line.
const SNIPPET_TOKENS: u32 = 16;

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

    /// Full-text search over the current content of messages not deleted: the best `limit`
    /// hits by FTS5's bm25 rank, the newest first among equally good ones, each with a
    /// snippet of its best-matching stretch, and how many matched in all.
    ///
    /// One statement, so one snapshot. Every match is ranked (the index drives: it is the
    /// outer loop, whatever the filters) and counted, but only the hits returned join the
    /// channel and guild names and have a snippet made.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults, DbError> {
        #[derive(QueryableByName)]
        struct HitRow {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = BigInt)]
            total: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            guild_id: Option<i64>,
            #[diesel(sql_type = Nullable<Text>)]
            guild_name: Option<String>,
            #[diesel(sql_type = BigInt)]
            channel_id: i64,
            #[diesel(sql_type = Nullable<Text>)]
            channel_name: Option<String>,
            #[diesel(sql_type = BigInt)]
            author_id: i64,
            #[diesel(sql_type = Text)]
            author_name: String,
            #[diesel(sql_type = BigInt)]
            created_at_ms: i64,
            #[diesel(sql_type = Nullable<BigInt>)]
            edited_at_ms: Option<i64>,
            #[diesel(sql_type = Text)]
            snippet: String,
        }

        let mut filters = String::new();
        let mut values = Vec::new();
        for (filter, value) in [
            (
                " AND m.guild_id = ?",
                to_db_id_opt("guild_id", query.guild_id())?,
            ),
            (
                " AND m.channel_id = ?",
                to_db_id_opt("channel_id", query.channel_id())?,
            ),
            (
                " AND m.author_id = ?",
                to_db_id_opt("author_id", query.author_id())?,
            ),
            (" AND m.created_at_ms >= ?", query.since_ms()),
            (" AND m.created_at_ms < ?", query.until_ms()),
        ] {
            if let Some(value) = value {
                filters.push_str(filter);
                values.push(value);
            }
        }
        // `CROSS JOIN` keeps the index as the outer loop: SQLite would otherwise walk a
        // filtered channel's every message and look each one up in the index. The matches are
        // materialized because bm25() cannot be called where the window function reads them.
        let sql = format!(
            "WITH matched AS MATERIALIZED ( \
                 SELECT m.id AS id, bm25(messages_fts) AS score \
                 FROM messages_fts CROSS JOIN messages AS m ON m.id = messages_fts.rowid \
                 WHERE messages_fts MATCH ? AND NOT m.deleted{filters} \
             ), ranked AS ( \
                 SELECT id, score, COUNT(*) OVER () AS total FROM matched \
                 ORDER BY score, id DESC LIMIT ? \
             ) \
             SELECT r.id AS id, r.total AS total, m.guild_id AS guild_id, \
                    NULLIF(g.name, '') AS guild_name, m.channel_id AS channel_id, \
                    NULLIF(c.name, '') AS channel_name, m.author_id AS author_id, \
                    m.author_name AS author_name, m.created_at_ms AS created_at_ms, \
                    m.edited_at_ms AS edited_at_ms, \
                    snippet(messages_fts, 0, ?, ?, ?, {SNIPPET_TOKENS}) AS snippet \
             FROM ranked AS r \
             JOIN messages AS m ON m.id = r.id \
             JOIN messages_fts ON messages_fts.rowid = r.id \
             LEFT JOIN channels AS c ON c.id = m.channel_id \
             LEFT JOIN guilds AS g ON g.id = m.guild_id \
             WHERE messages_fts MATCH ? \
             ORDER BY r.score, r.id DESC"
        );
        let mut statement = diesel::sql_query(sql)
            .into_boxed::<Sqlite>()
            .bind::<Text, _>(query.match_expression().to_owned());
        for value in values {
            statement = statement.bind::<BigInt, _>(value);
        }
        let statement = statement
            .bind::<BigInt, _>(i64::from(query.limit()))
            .bind::<Text, _>(SNIPPET_MATCH_START)
            .bind::<Text, _>(SNIPPET_MATCH_END)
            .bind::<Text, _>(SNIPPET_ELLIPSIS)
            .bind::<Text, _>(query.match_expression().to_owned());

        let mut conn = self.connection()?;
        let rows: Vec<HitRow> = statement.load(&mut conn).map_err(refused_search)?;
        let total = rows
            .first()
            .map_or(0, |row| u64::try_from(row.total).unwrap_or_default());
        let hits: Vec<SearchHit> = rows
            .into_iter()
            .map(|row| {
                let guild_id = from_db_id_opt(row.guild_id);
                let channel_id = from_db_id(row.channel_id);
                let message_id = from_db_id(row.id);
                SearchHit {
                    message_id,
                    guild_id,
                    guild_name: row.guild_name,
                    channel_id,
                    channel_name: row.channel_name,
                    author_id: from_db_id(row.author_id),
                    author_name: row.author_name,
                    created_at: time_from_ms(row.created_at_ms),
                    edited_at: row.edited_at_ms.map(time_from_ms),
                    snippet: row.snippet,
                    jump_url: message_url(guild_id, channel_id, message_id),
                }
            })
            .collect();
        Ok(SearchResults {
            total,
            has_more: total > hits.len() as u64,
            hits,
        })
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

/// The search statement is fixed and tested, so a statement-level failure of it (one that
/// neither a busy lock nor a broken connection explains) comes from the `MATCH` expression,
/// which FTS5 refused ("unterminated string", "fts5: syntax error near ..."): the caller's
/// query, answered with a hint, not a database failure.
fn refused_search(error: diesel::result::Error) -> DbError {
    let error = DbError::from(error);
    match &error {
        DbError::Query(diesel::result::Error::DatabaseError(_, info))
            if error.disposition() == Disposition::Drop =>
        {
            InvalidInput::from(SearchSyntax::Refused {
                reason: info.message().to_owned(),
            })
            .into()
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::model::{GuildRecord, NewMessage, SearchParams};
    use crate::actors::db::test_support::{
        BASE_ID, CHANNEL_A, CHANNEL_B, GUILD_ID, message, migrated_db,
    };

    #[test]
    fn a_match_expression_the_index_refuses_is_the_callers_error_with_a_hint() {
        let (_dir, db) = migrated_db();
        let mut conn = db.connection().unwrap();
        let refused =
            diesel::sql_query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH '\"open'")
                .execute(&mut conn)
                .unwrap_err();
        let error = refused_search(refused);
        assert!(
            matches!(
                error,
                DbError::InvalidInput(InvalidInput::Search(SearchSyntax::Refused { .. }))
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("hint:"), "{error}");
        // A failure of the database itself stays a database error.
        let broken = diesel::result::Error::BrokenTransactionManager;
        assert!(matches!(refused_search(broken), DbError::Query(_)));
    }

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

    fn search(db: &Database, params: SearchParams) -> SearchResults {
        let query =
            SearchQuery::new(params.clone()).unwrap_or_else(|error| panic!("{params:?}: {error}"));
        db.search(&query)
            .unwrap_or_else(|error| panic!("{params:?}: {error}"))
    }

    fn search_text(db: &Database, text: &str) -> SearchResults {
        search(
            db,
            SearchParams {
                text: text.to_owned(),
                ..SearchParams::default()
            },
        )
    }

    /// Offsets from `BASE_ID` of the hits, best first.
    fn hit_ids(results: &SearchResults) -> Vec<u64> {
        results
            .hits
            .iter()
            .map(|hit| hit.message_id - BASE_ID)
            .collect()
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
        assert_eq!(search_text(&db, "zebra").total, 2);
        assert_eq!(hit_ids(&search_text(&db, "ZEBRA zoo")), [1]);
        // remove_diacritics: "zebre" finds "Zèbre".
        assert_eq!(hit_ids(&search_text(&db, "zebre")), [3]);

        let edited = NewMessage {
            content: "The giraffe escaped from the zoo".to_owned(),
            edited_at_ms: Some(1_800_000_000_000),
            ..message(1, CHANNEL_A, "")
        };
        db.store_messages(&[edited]).expect("edit");
        let giraffe = search_text(&db, "giraffe");
        assert_eq!(hit_ids(&giraffe), [1]);
        assert_eq!(
            giraffe.hits[0].edited_at.map(|at| at.timestamp_millis()),
            Some(1_800_000_000_000)
        );
        assert_eq!(hit_ids(&search_text(&db, "zebra")), [3]);
        assert_eq!(hit_ids(&search_text(&db, "gira*")), [1]);
    }

    #[test]
    fn deleted_messages_and_tombstones_are_never_found() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[
            message(1, CHANNEL_A, "rollout plan"),
            message(2, CHANNEL_A, "rollout done"),
        ])
        .expect("store");
        db.mark_deleted(CHANNEL_A, &[BASE_ID + 1, BASE_ID + 9])
            .expect("delete");
        // A late copy of the deleted one (a backfill page) stays deleted.
        db.store_messages(&[message(9, CHANNEL_A, "rollout secret")])
            .expect("late copy");
        let found = search_text(&db, "rollout");
        assert_eq!(hit_ids(&found), [2]);
        assert_eq!(found.total, 1);
        assert!(!found.has_more);
        assert!(search_text(&db, "plan OR secret").hits.is_empty());
    }

    #[test]
    fn ranking_is_bm25_then_newest_first() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[
            message(1, CHANNEL_A, "outage"),
            message(
                2,
                CHANNEL_A,
                "a long message that mentions an outage once among many words",
            ),
            message(3, CHANNEL_A, "outage outage outage, the outage again"),
            message(4, CHANNEL_A, "outage"),
            message(5, CHANNEL_A, "nothing relevant"),
        ])
        .expect("store");
        // Equal scores (1 and 4 have the same content): the newer first.
        let ranked = hit_ids(&search_text(&db, "outage"));
        assert_eq!(ranked.len(), 4);
        assert_eq!(ranked[3], 2, "the diluted mention ranks last: {ranked:?}");
        let one = ranked.iter().position(|&id| id == 1).expect("1 found");
        let four = ranked.iter().position(|&id| id == 4).expect("4 found");
        assert_eq!(four + 1, one, "{ranked:?}");
        // A rarer word weighs more than a common one.
        db.store_messages(&[message(6, CHANNEL_A, "outage kubernetes")])
            .expect("store");
        assert_eq!(
            hit_ids(&search_text(&db, "outage OR kubernetes"))[0],
            6,
            "matching both, and the rare word"
        );
    }

    #[test]
    fn filters_narrow_and_limits_count_what_is_left_out() {
        let (_dir, db) = migrated_db();
        let other_guild = GUILD_ID + 1;
        let bob = BASE_ID - 43;
        db.store_messages(&[
            message(1, CHANNEL_A, "release notes"),
            message(2, CHANNEL_B, "release notes"),
            NewMessage {
                author_id: bob,
                author_name: "bob".to_owned(),
                ..message(3, CHANNEL_A, "release notes")
            },
            NewMessage {
                guild_id: Some(other_guild),
                ..message(4, BASE_ID - 4_000_000, "release notes")
            },
            NewMessage {
                guild_id: None,
                ..message(5, BASE_ID - 5_000_000, "release notes in a DM")
            },
        ])
        .expect("store");
        let with = |change: fn(&mut SearchParams)| {
            let mut params = SearchParams {
                text: "release".to_owned(),
                ..SearchParams::default()
            };
            change(&mut params);
            let mut found = hit_ids(&search(&db, params));
            found.sort_unstable();
            found
        };
        assert_eq!(with(|_| {}), [1, 2, 3, 4, 5]);
        assert_eq!(with(|p| p.guild_id = Some(GUILD_ID)), [1, 2, 3]);
        assert_eq!(with(|p| p.channel_id = Some(CHANNEL_A)), [1, 3]);
        assert_eq!(with(|p| p.author_id = Some(BASE_ID - 43)), [3]);
        assert_eq!(
            with(|p| {
                p.channel_id = Some(CHANNEL_A);
                p.author_id = Some(BASE_ID - 42);
            }),
            [1]
        );
        // `since` is inclusive, `until` exclusive (creation times are 1_700_000_000_000 + n).
        assert_eq!(with(|p| p.since_ms = Some(1_700_000_000_002)), [2, 3, 4, 5]);
        assert_eq!(with(|p| p.until_ms = Some(1_700_000_000_002)), [1]);
        assert_eq!(
            with(|p| {
                p.since_ms = Some(1_700_000_000_002);
                p.until_ms = Some(1_700_000_000_004);
            }),
            [2, 3]
        );
        assert_eq!(with(|p| p.guild_id = Some(12_345)), Vec::<u64>::new());

        let page = search(
            &db,
            SearchParams {
                text: "release".to_owned(),
                limit: Some(2),
                ..SearchParams::default()
            },
        );
        assert_eq!((page.hits.len(), page.total, page.has_more), (2, 5, true));
        let none = search_text(&db, "absent");
        assert_eq!((none.hits.len(), none.total, none.has_more), (0, 0, false));
    }

    #[test]
    fn hits_carry_names_times_snippets_and_jump_links() {
        let (_dir, db) = migrated_db();
        let dm_channel = BASE_ID - 5_000_000;
        let long = format!(
            "{} the deploy failed on node seven {}",
            "lorem ipsum dolor sit amet ".repeat(4),
            "and then more words follow ".repeat(4)
        );
        db.store_messages(&[
            message(1, CHANNEL_A, &long),
            NewMessage {
                guild_id: None,
                ..message(2, dm_channel, "did the deploy fail?")
            },
        ])
        .expect("store");
        // Names are known once the guild and channel are; until then only their ids.
        let unnamed = search_text(&db, "deploy");
        let guild_hit = &unnamed
            .hits
            .iter()
            .find(|hit| hit.message_id == BASE_ID + 1);
        let guild_hit = guild_hit.expect("guild message found");
        assert_eq!(guild_hit.guild_name, None);
        assert_eq!(guild_hit.channel_name, None);
        db.upsert_guilds(&[GuildRecord {
            id: GUILD_ID,
            name: "Ops".to_owned(),
            icon: None,
            owner_id: None,
        }])
        .expect("guild");
        db.upsert_channels(&[ChannelRecord {
            id: CHANNEL_A,
            guild_id: Some(GUILD_ID),
            parent_id: None,
            kind: 0,
            name: "incidents".to_owned(),
            topic: None,
            is_thread: false,
            archived: false,
        }])
        .expect("channel");

        let found = search_text(&db, "deploy fail*");
        assert_eq!(found.total, 2);
        let hit = found
            .hits
            .iter()
            .find(|hit| hit.message_id == BASE_ID + 1)
            .expect("guild message found");
        assert_eq!(hit.guild_id, Some(GUILD_ID));
        assert_eq!(hit.guild_name.as_deref(), Some("Ops"));
        assert_eq!(hit.channel_id, CHANNEL_A);
        assert_eq!(hit.channel_name.as_deref(), Some("incidents"));
        assert_eq!(hit.author_name, "alice");
        assert_eq!(hit.created_at.timestamp_millis(), 1_700_000_000_001);
        assert_eq!(hit.edited_at, None);
        assert_eq!(
            hit.jump_url,
            format!(
                "https://discord.com/channels/{GUILD_ID}/{CHANNEL_A}/{}",
                BASE_ID + 1
            )
        );
        let marked = |word: &str| format!("{SNIPPET_MATCH_START}{word}{SNIPPET_MATCH_END}");
        assert!(
            hit.snippet.contains(&format!(
                "the {} {} on node",
                marked("deploy"),
                marked("failed")
            )),
            "{}",
            hit.snippet
        );
        assert!(hit.snippet.starts_with(SNIPPET_ELLIPSIS), "{}", hit.snippet);
        assert!(hit.snippet.ends_with(SNIPPET_ELLIPSIS), "{}", hit.snippet);
        assert!(hit.snippet.len() < long.len(), "{}", hit.snippet);

        let dm = found
            .hits
            .iter()
            .find(|hit| hit.message_id == BASE_ID + 2)
            .expect("direct message found");
        assert_eq!(dm.guild_id, None);
        assert_eq!(
            dm.jump_url,
            format!(
                "https://discord.com/channels/@me/{dm_channel}/{}",
                BASE_ID + 2
            )
        );
        assert_eq!(
            dm.snippet,
            format!("did the {} {}?", marked("deploy"), marked("fail"))
        );

        let json = serde_json::to_value(hit).expect("serialize");
        assert_eq!(json["message_id"], (BASE_ID + 1).to_string());
        assert_eq!(json["guild_id"], GUILD_ID.to_string());
        assert_eq!(json["created_at"], "2023-11-14T22:13:20.001Z");
        assert_eq!(json["edited_at"], serde_json::Value::Null);
    }

    #[test]
    fn hostile_queries_are_refused_or_answered_never_failed() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[
            message(
                1,
                CHANNEL_A,
                "deploy NEAR release: done (finally) 🎉 content: ok",
            ),
            message(2, CHANNEL_A, "日本語のテキスト and Ünïcödé"),
        ])
        .expect("store");
        let answered = [
            "NEAR(",
            "NEAR(deploy release, 2)",
            "content: deploy",
            "content:deploy",
            "release:",
            "(finally)",
            "deploy*",
            "deploy ** --",
            "^deploy +release",
            "deploy AND",
            "{deploy release}",
            "🎉 deploy",
            "unicode",
            "日本語のテキスト",
            "deploy \u{0} release",
            "a'b \\ ;-- DROP TABLE messages",
        ];
        for text in answered {
            let query =
                SearchQuery::for_text(text).unwrap_or_else(|error| panic!("{text:?}: {error}"));
            db.search(&query)
                .unwrap_or_else(|error| panic!("{text:?}: {error}"));
        }
        assert_eq!(hit_ids(&search_text(&db, "(finally)")), [1]);
        assert_eq!(hit_ids(&search_text(&db, "content: done")), [1]);
        assert_eq!(hit_ids(&search_text(&db, "unicode")), [2]);

        let refused = [
            "\"unbalanced",
            "-",
            "*",
            "🎉",
            "-deploy",
            "deploy OR",
            "NOT",
            "\"\"",
        ];
        for text in refused {
            let error = SearchQuery::for_text(text).expect_err(text);
            assert!(error.hint().is_some(), "{text:?}: {error}");
            assert_eq!(
                DbError::from(error).disposition(),
                crate::actors::db::Disposition::Reject
            );
        }
        let long = "deploy ".repeat(100);
        assert!(matches!(
            SearchQuery::for_text(&long),
            Err(InvalidInput::Search(_))
        ));
    }

    #[test]
    fn search_parameters_are_validated_when_built() {
        let params = |change: fn(&mut SearchParams)| {
            let mut params = SearchParams {
                text: "x".to_owned(),
                ..SearchParams::default()
            };
            change(&mut params);
            SearchQuery::new(params)
        };
        assert_eq!(
            params(|_| {}).expect("defaults").limit(),
            SearchQuery::DEFAULT_LIMIT
        );
        assert_eq!(
            params(|p| p.limit = Some(0)),
            Err(InvalidInput::LimitOutOfRange {
                got: 0,
                min: 1,
                max: 100
            })
        );
        assert!(params(|p| p.limit = Some(101)).is_err());
        assert!(params(|p| p.limit = Some(100)).is_ok());
        assert!(matches!(
            params(|p| p.channel_id = Some(u64::MAX)),
            Err(InvalidInput::SnowflakeOutOfRange {
                field: "channel_id",
                ..
            })
        ));
        assert_eq!(
            params(|p| {
                p.since_ms = Some(5);
                p.until_ms = Some(5);
            }),
            Err(InvalidInput::EmptyTimeRange {
                since_ms: 5,
                until_ms: 5
            })
        );
        let query = params(|p| p.text = "  deploy -staging  ".to_owned()).expect("valid");
        assert_eq!(query.text(), "deploy -staging");
        assert_eq!(query.match_expression(), r#""deploy" NOT "staging""#);
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
        // Each `_ms` time has its RFC 3339 form right after it.
        assert_eq!(json["created_at_ms"], 1_700_000_000_002_i64);
        assert_eq!(json["created_at"], "2023-11-14T22:13:20.002Z");
        assert_eq!(json["edited_at"], serde_json::Value::Null);
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let at = keys
            .iter()
            .position(|key| *key == "created_at_ms")
            .expect("key");
        assert_eq!(
            keys[at..at + 4],
            ["created_at_ms", "created_at", "edited_at_ms", "edited_at"]
        );
        let edited = NewMessage {
            edited_at_ms: Some(1_800_000_000_000),
            ..message(3, CHANNEL_A, "changed")
        };
        db.store_messages(&[edited]).expect("store");
        let stored = db.get_message(BASE_ID + 3).expect("get").expect("stored");
        let json = serde_json::to_value(&stored).expect("serialize");
        assert_eq!(json["edited_at"], "2027-01-15T08:00:00Z");
        assert!(db.get_message(BASE_ID + 99).expect("get").is_none());
    }
}
