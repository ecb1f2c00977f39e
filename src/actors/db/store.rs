//! Write API of [`Database`]: messages, deletions, guilds, channels and ingest cursors.
//! Each call is one batch in one `BEGIN IMMEDIATE` transaction: taking the write lock up
//! front means a batch never fails half-way on a lock upgrade, and a batch is all or nothing.
//!
//! Rules for messages:
//! - A duplicate id is an idempotent upsert, never an error.
//! - A copy whose `edited_at_ms` is older than the stored one is stale and ignored.
//! - Different content (with a newer or equal `edited_at_ms`) writes an `edit` revision
//!   holding the previous content; other changes (an embed unfurl) update in place.
//! - A delete keeps the row (flagged, with `deleted_at_ms`) and writes a `delete` revision.
//!   A delete for an id we never stored leaves a tombstone row so that a copy arriving later
//!   (a backfill page fetched before the delete) is stored as deleted, not resurrected.
//! - A message whose guild or channel is not known yet gets placeholder rows for them in the
//!   same transaction (`updated_at_ms = 0`, channel kind [`PLACEHOLDER_CHANNEL_KIND`]), which
//!   `upsert_guilds`/`upsert_channels` overwrite later.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::prelude::*;

use super::database::{Database, now_ms};
use super::error::DbError;
use super::model::{
    ChannelRecord, DeleteOutcome, GuildRecord, IngestCursor, MessageSource, NewMessage,
    PLACEHOLDER_CHANNEL_KIND, PartialMessageUpdate, RevisionKind, StoreOutcome, StoredMessage,
    TOMBSTONE_SOURCE, snowflake_created_at_ms, to_db_id,
};
use super::rows::{ChannelRow, CursorRow, GuildRow, MessageRow, NewRevisionRow};
use super::schema::{channels, guilds, ingest_cursors, message_revisions, messages};

/// Ids per `IN (...)` lookup: far below SQLite's 32 766 bound-parameter limit, and large
/// enough that a 5 000-message batch needs only ten lookups.
const LOOKUP_CHUNK: usize = 500;

impl Database {
    /// Stores a batch of message snapshots (see the module rules).
    pub fn store_messages(&self, batch: &[NewMessage]) -> Result<StoreOutcome, DbError> {
        if batch.is_empty() {
            return Ok(StoreOutcome::default());
        }
        let now = now_ms();
        let incoming = batch
            .iter()
            .map(|message| MessageRow::from_new(message, now))
            .collect::<Result<Vec<_>, _>>()?;

        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            ensure_parents(
                conn,
                incoming.iter().map(|row| (row.channel_id, row.guild_id)),
            )?;
            let ids: Vec<i64> = incoming.iter().map(|row| row.id).collect();
            let mut known = load_messages(conn, &ids)?;
            let mut outcome = StoreOutcome::default();
            for row in incoming {
                let Some(stored) = known.get(&row.id) else {
                    diesel::insert_into(messages::table)
                        .values(&row)
                        .execute(conn)?;
                    outcome.inserted += 1;
                    known.insert(row.id, row);
                    continue;
                };
                match plan_update(stored, row, now) {
                    None => outcome.unchanged += 1,
                    Some(Rewrite { row, revision }) => {
                        if revision {
                            diesel::insert_into(message_revisions::table)
                                .values(NewRevisionRow {
                                    message_id: stored.id,
                                    kind: RevisionKind::Edit.as_str(),
                                    previous_content: Some(&stored.content),
                                    previous_edited_at_ms: stored.edited_at_ms,
                                    new_edited_at_ms: row.edited_at_ms,
                                    recorded_at_ms: now,
                                })
                                .execute(conn)?;
                            outcome.revisions += 1;
                        }
                        diesel::update(messages::table.find(row.id))
                            .set(&row)
                            .execute(conn)?;
                        outcome.updated += 1;
                        known.insert(row.id, row);
                    }
                }
            }
            Ok(outcome)
        })
    }

    /// Marks messages of `channel_id` deleted now (see the module rules for unknown ids).
    /// Merges partial updates into the stored snapshots and stores them under the usual rules
    /// (a content change with an edit timestamp is an edit). Updates of messages we never
    /// stored (or only as tombstones) are skipped and counted as `unchanged`: backfill brings
    /// the whole message.
    pub fn apply_partial_updates(
        &self,
        updates: &[PartialMessageUpdate],
    ) -> Result<StoreOutcome, DbError> {
        let mut merged = Vec::with_capacity(updates.len());
        let mut skipped = 0;
        for update in updates {
            match self.get_message(update.id)? {
                Some(stored) if stored.source != TOMBSTONE_SOURCE => {
                    merged.push(merge_partial(stored, update));
                }
                _ => skipped += 1,
            }
        }
        let mut outcome = self.store_messages(&merged)?;
        outcome.unchanged += skipped;
        Ok(outcome)
    }

    pub fn mark_deleted(
        &self,
        channel_id: u64,
        message_ids: &[u64],
    ) -> Result<DeleteOutcome, DbError> {
        if message_ids.is_empty() {
            return Ok(DeleteOutcome::default());
        }
        let channel_id = to_db_id("channel_id", channel_id)?;
        let ids = message_ids
            .iter()
            .map(|id| to_db_id("message id", *id))
            .collect::<Result<Vec<_>, _>>()?;
        let now = now_ms();

        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let mut known = load_messages(conn, &ids)?;
            let mut outcome = DeleteOutcome::default();
            let mut channel_guild: Option<Option<i64>> = None;
            for id in ids {
                let previous_content = match known.get_mut(&id) {
                    Some(stored) if stored.deleted => {
                        outcome.already_deleted += 1;
                        continue;
                    }
                    Some(stored) => {
                        stored.deleted = true;
                        stored.deleted_at_ms = Some(now);
                        stored.updated_at_ms = now;
                        diesel::update(messages::table.find(id))
                            .set((
                                messages::deleted.eq(true),
                                messages::deleted_at_ms.eq(now),
                                messages::updated_at_ms.eq(now),
                            ))
                            .execute(conn)?;
                        outcome.deleted += 1;
                        Some((stored.content.clone(), stored.edited_at_ms))
                    }
                    None => {
                        let guild_id = match channel_guild {
                            Some(guild_id) => guild_id,
                            None => {
                                let guild_id = channel_guild_id(conn, channel_id)?;
                                ensure_parents(conn, [(channel_id, guild_id)])?;
                                channel_guild = Some(guild_id);
                                guild_id
                            }
                        };
                        let tombstone = tombstone_row(id, channel_id, guild_id, now);
                        diesel::insert_into(messages::table)
                            .values(&tombstone)
                            .execute(conn)?;
                        known.insert(id, tombstone);
                        outcome.tombstones += 1;
                        None
                    }
                };
                let (content, edited_at_ms) = previous_content.unzip();
                diesel::insert_into(message_revisions::table)
                    .values(NewRevisionRow {
                        message_id: id,
                        kind: RevisionKind::Delete.as_str(),
                        previous_content: content.as_deref(),
                        previous_edited_at_ms: edited_at_ms.flatten(),
                        new_edited_at_ms: None,
                        recorded_at_ms: now,
                    })
                    .execute(conn)?;
            }
            Ok(outcome)
        })
    }

    /// Inserts or refreshes guilds; returns how many rows were written.
    pub fn upsert_guilds(&self, records: &[GuildRecord]) -> Result<usize, DbError> {
        let now = now_ms();
        let rows = records
            .iter()
            .map(|record| GuildRow::from_record(record, now))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let mut written = 0;
            for row in &rows {
                written += diesel::insert_into(guilds::table)
                    .values(row)
                    .on_conflict(guilds::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
            Ok(written)
        })
    }

    /// Inserts or refreshes channels (names and archive state kept current); unknown guilds
    /// get placeholder rows. Returns how many channel rows were written.
    pub fn upsert_channels(&self, records: &[ChannelRecord]) -> Result<usize, DbError> {
        let now = now_ms();
        let rows = records
            .iter()
            .map(|record| ChannelRow::from_record(record, now))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            ensure_guilds(conn, rows.iter().filter_map(|row| row.guild_id))?;
            let mut written = 0;
            for row in &rows {
                written += diesel::insert_into(channels::table)
                    .values(row)
                    .on_conflict(channels::id)
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
            Ok(written)
        })
    }

    /// Advances the channel's ingest cursor to `last_message_id`; a lower id than the stored
    /// one leaves it where it is (events can arrive out of order). Returns the cursor as
    /// stored afterwards.
    pub fn set_cursor(
        &self,
        channel_id: u64,
        last_message_id: u64,
    ) -> Result<IngestCursor, DbError> {
        let channel_id = to_db_id("channel_id", channel_id)?;
        let last_message_id = to_db_id("last_message_id", last_message_id)?;
        let now = now_ms();
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let cursor = match load_cursor(conn, channel_id)? {
                Some(current) if current.last_message_id >= last_message_id => current,
                current => {
                    let cursor = CursorRow {
                        channel_id,
                        last_message_id,
                        backfill_complete: current.is_some_and(|current| current.backfill_complete),
                        updated_at_ms: now,
                    };
                    save_cursor(conn, &cursor)?;
                    cursor
                }
            };
            Ok(cursor.into_cursor())
        })
    }

    /// Records that the channel's history has been fetched back to its beginning.
    pub fn mark_backfill_complete(&self, channel_id: u64) -> Result<IngestCursor, DbError> {
        let channel_id = to_db_id("channel_id", channel_id)?;
        let now = now_ms();
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let cursor = match load_cursor(conn, channel_id)? {
                Some(current) if current.backfill_complete => current,
                current => {
                    let cursor = CursorRow {
                        channel_id,
                        // 0: nothing ingested yet, any real id is newer.
                        last_message_id: current.map_or(0, |current| current.last_message_id),
                        backfill_complete: true,
                        updated_at_ms: now,
                    };
                    save_cursor(conn, &cursor)?;
                    cursor
                }
            };
            Ok(cursor.into_cursor())
        })
    }

    /// Every ingest cursor, by channel id.
    pub fn get_cursors(&self) -> Result<Vec<IngestCursor>, DbError> {
        let mut conn = self.connection()?;
        let rows = ingest_cursors::table
            .order(ingest_cursors::channel_id.asc())
            .select(CursorRow::as_select())
            .load(&mut conn)?;
        Ok(rows.into_iter().map(CursorRow::into_cursor).collect())
    }
}

/// How an incoming snapshot changes a stored row.
struct Rewrite {
    row: MessageRow,
    /// The content changed: keep the previous one as an `edit` revision.
    revision: bool,
}

/// Decides what an incoming snapshot does to the stored row (module rules); `None` when it is
/// identical or stale.
fn merge_partial(stored: StoredMessage, update: &PartialMessageUpdate) -> NewMessage {
    let json_list = |value: serde_json::Value| match value {
        serde_json::Value::Array(items) => items,
        _ => Vec::new(),
    };
    NewMessage {
        id: stored.id,
        channel_id: stored.channel_id,
        guild_id: stored.guild_id,
        author_id: stored.author_id,
        author_name: stored.author_name,
        author_is_bot: stored.author_is_bot,
        content: update.content.clone().unwrap_or(stored.content),
        created_at_ms: stored.created_at_ms,
        edited_at_ms: update.edited_at_ms.or(stored.edited_at_ms),
        kind: stored.kind,
        attachments: update
            .attachments
            .clone()
            .unwrap_or_else(|| json_list(stored.attachments)),
        embeds: update
            .embeds
            .clone()
            .unwrap_or_else(|| json_list(stored.embeds)),
        reply_to_message_id: stored.reply_to_message_id,
        reply_to_channel_id: stored.reply_to_channel_id,
        source: if stored.source == MessageSource::Backfill.as_str() {
            MessageSource::Backfill
        } else {
            MessageSource::Gateway
        },
    }
}

fn plan_update(stored: &MessageRow, incoming: MessageRow, now: i64) -> Option<Rewrite> {
    let keep_bookkeeping = |incoming: MessageRow, source: String| MessageRow {
        deleted: stored.deleted,
        deleted_at_ms: stored.deleted_at_ms,
        source,
        stored_at_ms: stored.stored_at_ms,
        updated_at_ms: now,
        ..incoming
    };

    if stored.source == TOMBSTONE_SOURCE {
        // The real message finally arrived: fill the tombstone in, still deleted.
        let source = incoming.source.clone();
        return Some(Rewrite {
            row: keep_bookkeeping(incoming, source),
            revision: false,
        });
    }
    // `None < Some(_)`: an unedited copy is older than any edited one.
    if incoming.edited_at_ms < stored.edited_at_ms || !incoming.discord_fields_differ(stored) {
        return None;
    }
    let revision = incoming.content != stored.content;
    Some(Rewrite {
        row: keep_bookkeeping(incoming, stored.source.clone()),
        revision,
    })
}

fn load_messages(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> QueryResult<HashMap<i64, MessageRow>> {
    let unique: Vec<i64> = ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut known = HashMap::with_capacity(unique.len());
    for chunk in unique.chunks(LOOKUP_CHUNK) {
        let rows = messages::table
            .filter(messages::id.eq_any(chunk))
            .select(MessageRow::as_select())
            .load(conn)?;
        known.extend(rows.into_iter().map(|row| (row.id, row)));
    }
    Ok(known)
}

/// Creates placeholder guild and channel rows for ids not stored yet, and attaches a known
/// guild to a placeholder channel created without one (by a delete).
fn ensure_parents(
    conn: &mut SqliteConnection,
    channel_guilds: impl IntoIterator<Item = (i64, Option<i64>)>,
) -> QueryResult<()> {
    // First guild seen per channel; BTreeMap keeps the write order deterministic.
    let mut channel_guild: BTreeMap<i64, Option<i64>> = BTreeMap::new();
    for (channel_id, guild_id) in channel_guilds {
        let entry = channel_guild.entry(channel_id).or_insert(guild_id);
        if entry.is_none() {
            *entry = guild_id;
        }
    }
    ensure_guilds(conn, channel_guild.values().flatten().copied())?;
    for (channel_id, guild_id) in channel_guild {
        diesel::insert_or_ignore_into(channels::table)
            .values((
                channels::id.eq(channel_id),
                channels::guild_id.eq(guild_id),
                channels::kind.eq(PLACEHOLDER_CHANNEL_KIND),
                channels::name.eq(""),
                channels::updated_at_ms.eq(0),
            ))
            .execute(conn)?;
        if let Some(guild_id) = guild_id {
            diesel::update(
                channels::table
                    .find(channel_id)
                    .filter(channels::guild_id.is_null()),
            )
            .set(channels::guild_id.eq(guild_id))
            .execute(conn)?;
        }
    }
    Ok(())
}

fn ensure_guilds(
    conn: &mut SqliteConnection,
    guild_ids: impl IntoIterator<Item = i64>,
) -> QueryResult<()> {
    for guild_id in guild_ids.into_iter().collect::<BTreeSet<_>>() {
        diesel::insert_or_ignore_into(guilds::table)
            .values((
                guilds::id.eq(guild_id),
                guilds::name.eq(""),
                guilds::updated_at_ms.eq(0),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn channel_guild_id(conn: &mut SqliteConnection, channel_id: i64) -> QueryResult<Option<i64>> {
    Ok(channels::table
        .find(channel_id)
        .select(channels::guild_id)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}

/// What we know of a deleted message we never stored: its id, channel and (from the
/// snowflake) creation time.
fn tombstone_row(id: i64, channel_id: i64, guild_id: Option<i64>, now: i64) -> MessageRow {
    MessageRow {
        id,
        channel_id,
        guild_id,
        author_id: 0,
        author_name: String::new(),
        author_is_bot: false,
        content: String::new(),
        created_at_ms: snowflake_created_at_ms(super::model::from_db_id(id)),
        edited_at_ms: None,
        deleted: true,
        deleted_at_ms: Some(now),
        kind: 0,
        attachments_json: "[]".to_owned(),
        embeds_json: "[]".to_owned(),
        reply_to_message_id: None,
        reply_to_channel_id: None,
        source: TOMBSTONE_SOURCE.to_owned(),
        stored_at_ms: now,
        updated_at_ms: now,
    }
}

fn load_cursor(conn: &mut SqliteConnection, channel_id: i64) -> QueryResult<Option<CursorRow>> {
    ingest_cursors::table
        .find(channel_id)
        .select(CursorRow::as_select())
        .first(conn)
        .optional()
}

fn save_cursor(conn: &mut SqliteConnection, cursor: &CursorRow) -> QueryResult<()> {
    diesel::insert_into(ingest_cursors::table)
        .values(cursor)
        .on_conflict(ingest_cursors::channel_id)
        .do_update()
        .set(cursor)
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::Disposition;
    use crate::actors::db::model::{MessageQuery, MessageSource, SearchQuery};
    use crate::actors::db::test_support::{
        BASE_ID, CHANNEL_A, CHANNEL_B, GUILD_ID, message, migrated_db,
    };

    fn all_messages(db: &Database) -> Vec<crate::actors::db::StoredMessage> {
        let query = MessageQuery::new(None, Some(0), None, MessageQuery::MAX_LIMIT).expect("query");
        db.query_messages(&query).expect("query")
    }

    #[test]
    fn first_copy_is_inserted_with_placeholder_guild_and_channel() {
        let (_dir, db) = migrated_db();
        let outcome = db
            .store_messages(&[message(1, CHANNEL_A, "hi"), message(2, CHANNEL_B, "there")])
            .expect("store");
        assert_eq!(
            outcome,
            StoreOutcome {
                inserted: 2,
                ..StoreOutcome::default()
            }
        );

        let mut conn = db.connection().expect("conn");
        let placeholder: (i32, String, Option<i64>, i64) = channels::table
            .find(to_db_id("id", CHANNEL_A).expect("id"))
            .select((
                channels::kind,
                channels::name,
                channels::guild_id,
                channels::updated_at_ms,
            ))
            .first(&mut conn)
            .expect("placeholder channel");
        assert_eq!(
            placeholder,
            (
                PLACEHOLDER_CHANNEL_KIND,
                String::new(),
                Some(to_db_id("id", GUILD_ID).expect("id")),
                0
            )
        );
        let guild_count: i64 = guilds::table.count().get_result(&mut conn).expect("count");
        assert_eq!(guild_count, 1);
    }

    #[test]
    fn duplicate_ids_are_idempotent_upserts() {
        let (_dir, db) = migrated_db();
        let copy = message(1, CHANNEL_A, "same");
        let first = db
            .store_messages(&[copy.clone(), copy.clone()])
            .expect("store");
        assert_eq!((first.inserted, first.unchanged), (1, 1));

        let again = db.store_messages(&[copy]).expect("store again");
        assert_eq!(
            again,
            StoreOutcome {
                unchanged: 1,
                ..StoreOutcome::default()
            }
        );
        assert_eq!(all_messages(&db).len(), 1);
        assert!(
            db.message_revisions(BASE_ID + 1)
                .expect("revisions")
                .is_empty()
        );
    }

    #[test]
    fn an_edit_keeps_the_previous_content_as_a_revision() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[message(1, CHANNEL_A, "first words")])
            .expect("store");
        let edited = NewMessage {
            content: "second words".to_owned(),
            edited_at_ms: Some(1_800_000_000_000),
            ..message(1, CHANNEL_A, "")
        };
        let outcome = db.store_messages(&[edited]).expect("edit");
        assert_eq!(
            outcome,
            StoreOutcome {
                updated: 1,
                revisions: 1,
                ..StoreOutcome::default()
            }
        );

        let stored = db.get_message(BASE_ID + 1).expect("get").expect("stored");
        assert_eq!(stored.content, "second words");
        assert_eq!(stored.edited_at_ms, Some(1_800_000_000_000));
        assert_eq!(stored.source, "gateway");
        let revisions = db.message_revisions(BASE_ID + 1).expect("revisions");
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].kind, RevisionKind::Edit);
        assert_eq!(
            revisions[0].previous_content.as_deref(),
            Some("first words")
        );
        assert_eq!(revisions[0].previous_edited_at_ms, None);
        assert_eq!(revisions[0].new_edited_at_ms, Some(1_800_000_000_000));
    }

    #[test]
    fn a_stale_copy_does_not_overwrite_a_newer_edit() {
        let (_dir, db) = migrated_db();
        let original = message(1, CHANNEL_A, "original");
        let edited = NewMessage {
            content: "edited".to_owned(),
            edited_at_ms: Some(1_800_000_000_000),
            ..original.clone()
        };
        db.store_messages(&[original.clone(), edited])
            .expect("store");

        let late_backfill = NewMessage {
            source: MessageSource::Backfill,
            ..original
        };
        let outcome = db.store_messages(&[late_backfill]).expect("stale");
        assert_eq!(outcome.unchanged, 1);
        let stored = db.get_message(BASE_ID + 1).expect("get").expect("stored");
        assert_eq!(stored.content, "edited");
        assert_eq!(
            db.message_revisions(BASE_ID + 1).expect("revisions").len(),
            1
        );
    }

    #[test]
    fn an_embed_unfurl_updates_without_a_revision() {
        let (_dir, db) = migrated_db();
        let posted = message(1, CHANNEL_A, "look https://example.com");
        db.store_messages(std::slice::from_ref(&posted))
            .expect("store");
        let unfurled = NewMessage {
            embeds: vec![serde_json::json!({"type": "link", "url": "https://example.com"})],
            ..posted
        };
        let outcome = db.store_messages(&[unfurled]).expect("unfurl");
        assert_eq!(
            outcome,
            StoreOutcome {
                updated: 1,
                ..StoreOutcome::default()
            }
        );
        let stored = db.get_message(BASE_ID + 1).expect("get").expect("stored");
        assert_eq!(stored.embeds[0]["type"], "link");
        assert!(
            db.message_revisions(BASE_ID + 1)
                .expect("revisions")
                .is_empty()
        );
    }

    #[test]
    fn a_delete_flags_the_message_and_keeps_its_last_content() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[message(1, CHANNEL_A, "regrettable")])
            .expect("store");
        let outcome = db.mark_deleted(CHANNEL_A, &[BASE_ID + 1]).expect("delete");
        assert_eq!(
            outcome,
            DeleteOutcome {
                deleted: 1,
                ..DeleteOutcome::default()
            }
        );
        let stored = db.get_message(BASE_ID + 1).expect("get").expect("stored");
        assert!(stored.deleted);
        assert!(stored.deleted_at_ms.is_some());
        assert_eq!(stored.content, "regrettable");
        let revisions = db.message_revisions(BASE_ID + 1).expect("revisions");
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].kind, RevisionKind::Delete);
        assert_eq!(
            revisions[0].previous_content.as_deref(),
            Some("regrettable")
        );

        let again = db
            .mark_deleted(CHANNEL_A, &[BASE_ID + 1])
            .expect("delete again");
        assert_eq!(
            again,
            DeleteOutcome {
                already_deleted: 1,
                ..DeleteOutcome::default()
            }
        );
        assert_eq!(
            db.message_revisions(BASE_ID + 1).expect("revisions").len(),
            1
        );

        // A later copy (e.g. a gateway replay) cannot resurrect it.
        let replay = NewMessage {
            embeds: vec![serde_json::json!({"type": "rich"})],
            ..message(1, CHANNEL_A, "regrettable")
        };
        db.store_messages(&[replay]).expect("replay");
        assert!(
            db.get_message(BASE_ID + 1)
                .expect("get")
                .expect("stored")
                .deleted
        );
    }

    #[test]
    fn a_delete_of_an_unknown_message_leaves_a_tombstone_a_late_copy_fills() {
        let (_dir, db) = migrated_db();
        db.upsert_channels(&[channel(CHANNEL_B, "general")])
            .expect("channel");
        let outcome = db
            .mark_deleted(CHANNEL_B, &[BASE_ID + 9, BASE_ID + 9])
            .expect("delete");
        assert_eq!(
            outcome,
            DeleteOutcome {
                tombstones: 1,
                already_deleted: 1,
                ..DeleteOutcome::default()
            }
        );
        let tombstone = db
            .get_message(BASE_ID + 9)
            .expect("get")
            .expect("tombstone");
        assert!(tombstone.deleted);
        assert_eq!(tombstone.source, TOMBSTONE_SOURCE);
        assert_eq!(tombstone.guild_id, Some(GUILD_ID), "taken from the channel");
        assert_eq!(
            tombstone.created_at_ms,
            snowflake_created_at_ms(BASE_ID + 9),
            "derived from the snowflake"
        );
        let revisions = db.message_revisions(BASE_ID + 9).expect("revisions");
        assert_eq!(revisions.len(), 1);
        assert_eq!(revisions[0].previous_content, None);

        // A backfill page fetched before the delete arrives afterwards.
        let late = NewMessage {
            source: MessageSource::Backfill,
            ..message(9, CHANNEL_B, "said then deleted")
        };
        let outcome = db.store_messages(&[late]).expect("late copy");
        assert_eq!(outcome.updated, 1);
        let filled = db.get_message(BASE_ID + 9).expect("get").expect("filled");
        assert!(filled.deleted);
        assert_eq!(filled.content, "said then deleted");
        assert_eq!(filled.source, "backfill");
        assert_eq!(filled.deleted_at_ms, tombstone.deleted_at_ms);
    }

    #[test]
    fn a_delete_for_an_unknown_channel_creates_its_placeholder() {
        let (_dir, db) = migrated_db();
        let outcome = db.mark_deleted(CHANNEL_A, &[BASE_ID + 1]).expect("delete");
        assert_eq!(outcome.tombstones, 1);
        // A message that names the guild later attaches it to the placeholder channel.
        db.store_messages(&[message(2, CHANNEL_A, "hello")])
            .expect("store");
        let mut conn = db.connection().expect("conn");
        let guild_id: Option<i64> = channels::table
            .find(to_db_id("id", CHANNEL_A).expect("id"))
            .select(channels::guild_id)
            .first(&mut conn)
            .expect("channel");
        assert_eq!(guild_id, Some(to_db_id("id", GUILD_ID).expect("id")));
    }

    fn channel(id: u64, name: &str) -> ChannelRecord {
        ChannelRecord {
            id,
            guild_id: Some(GUILD_ID),
            parent_id: None,
            kind: 0,
            name: name.to_owned(),
            topic: None,
            is_thread: false,
            archived: false,
        }
    }

    #[test]
    fn guild_and_channel_upserts_replace_placeholders_and_keep_names_current() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[message(1, CHANNEL_A, "before the channel")])
            .expect("store");

        let written = db
            .upsert_guilds(&[GuildRecord {
                id: GUILD_ID,
                name: "Rustaceans".to_owned(),
                icon: Some("abc".to_owned()),
                owner_id: Some(BASE_ID - 7),
            }])
            .expect("guilds");
        assert_eq!(written, 1);
        let thread = ChannelRecord {
            id: CHANNEL_B,
            parent_id: Some(CHANNEL_A),
            kind: 11,
            is_thread: true,
            ..channel(CHANNEL_B, "a thread")
        };
        db.upsert_channels(&[channel(CHANNEL_A, "general"), thread])
            .expect("channels");
        db.upsert_channels(&[ChannelRecord {
            topic: Some("talk".to_owned()),
            ..channel(CHANNEL_A, "renamed")
        }])
        .expect("rename");

        let mut conn = db.connection().expect("conn");
        type ChannelFigures = (i64, String, i32, Option<i64>, Option<String>);
        let rows: Vec<ChannelFigures> = channels::table
            .order(channels::id.asc())
            .select((
                channels::id,
                channels::name,
                channels::kind,
                channels::parent_id,
                channels::topic,
            ))
            .load(&mut conn)
            .expect("channels");
        let a = to_db_id("id", CHANNEL_A).expect("id");
        let b = to_db_id("id", CHANNEL_B).expect("id");
        assert_eq!(
            rows,
            [
                (b, "a thread".to_owned(), 11, Some(a), None),
                (a, "renamed".to_owned(), 0, None, Some("talk".to_owned())),
            ]
        );
        let guild: (String, i64) = guilds::table
            .select((guilds::name, guilds::updated_at_ms))
            .first(&mut conn)
            .expect("guild");
        assert_eq!(guild.0, "Rustaceans");
        assert!(guild.1 > 0);
    }

    #[test]
    fn a_channel_of_an_unknown_guild_gets_a_placeholder_guild() {
        let (_dir, db) = migrated_db();
        db.upsert_channels(&[channel(CHANNEL_A, "general")])
            .expect("channel");
        assert_eq!(db.stats().expect("stats").tables["guilds"], 1);
    }

    #[test]
    fn the_cursor_never_moves_backwards() {
        let (_dir, db) = migrated_db();
        assert_eq!(
            db.set_cursor(CHANNEL_A, 100).expect("set").last_message_id,
            100
        );
        assert_eq!(
            db.set_cursor(CHANNEL_A, 50).expect("set").last_message_id,
            100
        );
        assert_eq!(
            db.set_cursor(CHANNEL_A, 150).expect("set").last_message_id,
            150
        );
        let done = db.mark_backfill_complete(CHANNEL_A).expect("complete");
        assert!(done.backfill_complete);
        assert_eq!(done.last_message_id, 150);
        let moved = db.set_cursor(CHANNEL_A, 200).expect("set");
        assert!(moved.backfill_complete, "advancing keeps the backfill flag");
        db.mark_backfill_complete(CHANNEL_B).expect("complete");

        let cursors = db.get_cursors().expect("cursors");
        let figures: Vec<(u64, u64, bool)> = cursors
            .iter()
            .map(|cursor| {
                (
                    cursor.channel_id,
                    cursor.last_message_id,
                    cursor.backfill_complete,
                )
            })
            .collect();
        assert_eq!(figures, [(CHANNEL_B, 0, true), (CHANNEL_A, 200, true)]);
    }

    #[test]
    fn partial_updates_merge_into_the_stored_message() {
        let (_dir, db) = migrated_db();
        db.store_messages(&[message(1, CHANNEL_A, "first words")])
            .expect("store");
        let id = crate::actors::db::test_support::BASE_ID + 1;
        let unfurl = PartialMessageUpdate {
            id,
            channel_id: CHANNEL_A,
            embeds: Some(vec![
                serde_json::json!({"type": "link", "url": "https://x"}),
            ]),
            ..PartialMessageUpdate::default()
        };
        let outcome = db.apply_partial_updates(&[unfurl]).expect("unfurl");
        assert_eq!((outcome.updated, outcome.revisions), (1, 0));
        let edit = PartialMessageUpdate {
            id,
            channel_id: CHANNEL_A,
            content: Some("second words".to_owned()),
            edited_at_ms: Some(1_800_000_000_000),
            ..PartialMessageUpdate::default()
        };
        let unknown = PartialMessageUpdate {
            id: id + 1_000,
            channel_id: CHANNEL_A,
            content: Some("never stored".to_owned()),
            ..PartialMessageUpdate::default()
        };
        let outcome = db.apply_partial_updates(&[edit, unknown]).expect("edit");
        assert_eq!(
            (outcome.updated, outcome.revisions, outcome.unchanged),
            (1, 1, 1)
        );
        let stored = db.get_message(id).expect("get").expect("stored");
        assert_eq!(stored.content, "second words");
        assert_eq!(
            stored.embeds.as_array().map(Vec::len),
            Some(1),
            "the unfurl stays"
        );
        assert!(db.get_message(id + 1_000).expect("get").is_none());
    }

    #[test]
    fn five_thousand_messages_are_stored_in_one_call() {
        let (_dir, db) = migrated_db();
        let batch: Vec<NewMessage> = (0..5_000)
            .map(|n| {
                let channel = if n % 2 == 0 { CHANNEL_A } else { CHANNEL_B };
                message(n, channel, &format!("message number {n}"))
            })
            .collect();
        let outcome = db.store_messages(&batch).expect("store");
        assert_eq!(outcome.inserted, 5_000);
        assert_eq!(db.stats().expect("stats").tables["messages"], 5_000);
        assert_eq!(db.store_messages(&batch).expect("again").unchanged, 5_000);
        let query = SearchQuery::for_text("4999").expect("query");
        assert_eq!(db.search(&query).expect("search").total, 1);
    }

    #[test]
    fn an_invalid_message_rejects_the_whole_batch() {
        let (_dir, db) = migrated_db();
        let too_big = NewMessage {
            id: u64::MAX,
            ..message(0, CHANNEL_A, "overflow")
        };
        let error = db
            .store_messages(&[message(1, CHANNEL_A, "fine"), too_big])
            .expect_err("out of range");
        assert_eq!(error.disposition(), Disposition::Reject, "{error}");
        assert!(all_messages(&db).is_empty());
    }
}
