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
    ChannelRecord, DeleteOutcome, GuildRecord, IngestCursor, NewMessage, PLACEHOLDER_CHANNEL_KIND,
    RevisionKind, StoreOutcome, TOMBSTONE_SOURCE, snowflake_created_at_ms, to_db_id,
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
