//! What a restart needs to continue where the process stopped, kept beside the data it
//! describes: the gateway session to RESUME (with the sequence number of the last event
//! whose effects are committed) and the archived-thread listing marks of backfill. The
//! [`DbActor`] messages for both live here too, so this part of the storage API is one file.

use actix::prelude::*;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use super::actor::DbActor;
use super::database::{Database, now_ms};
use super::error::DbError;
use super::model::{from_db_id, to_db_id};
use super::schema::gateway_sessions;

/// One shard's resumable gateway session as last saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySessionRecord {
    /// `[shard_id, shard_count]` the session was opened with.
    pub shard: [u32; 2],
    pub session_id: String,
    /// READY's `resume_gateway_url`.
    pub resume_url: String,
    /// The sequence number to RESUME from: every event up to it is committed.
    pub seq: u64,
    pub user_id: u64,
    pub user_name: String,
    /// See the `gateway_sessions` migration: a changed token invalidates the session.
    pub token_fingerprint: String,
    /// When the row was last written (unix ms): how long ago its process was last alive.
    pub saved_at_ms: i64,
}

/// Backfill's mark for one thread parent and visibility: the newest archive timestamp of a
/// listing whose threads were all paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivedThreadMark {
    pub parent_id: u64,
    pub private: bool,
    /// Unix microseconds.
    pub newest_archived_at_us: i64,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = gateway_sessions, check_for_backend(diesel::sqlite::Sqlite))]
struct GatewaySessionRow {
    shard_id: i64,
    shard_count: i64,
    session_id: String,
    resume_url: String,
    seq: i64,
    user_id: i64,
    user_name: String,
    token_fingerprint: String,
    saved_at_ms: i64,
}

impl GatewaySessionRow {
    fn from_record(record: &GatewaySessionRecord) -> Result<Self, DbError> {
        Ok(Self {
            shard_id: i64::from(record.shard[0]),
            shard_count: i64::from(record.shard[1]),
            session_id: record.session_id.clone(),
            resume_url: record.resume_url.clone(),
            seq: to_db_id("seq", record.seq)?,
            user_id: to_db_id("user_id", record.user_id)?,
            user_name: record.user_name.clone(),
            token_fingerprint: record.token_fingerprint.clone(),
            saved_at_ms: record.saved_at_ms,
        })
    }

    fn into_record(self) -> GatewaySessionRecord {
        // Written from u32 values by `from_record`.
        let shard = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
        GatewaySessionRecord {
            shard: [shard(self.shard_id), shard(self.shard_count)],
            session_id: self.session_id,
            resume_url: self.resume_url,
            seq: from_db_id(self.seq),
            user_id: from_db_id(self.user_id),
            user_name: self.user_name,
            token_fingerprint: self.token_fingerprint,
            saved_at_ms: self.saved_at_ms,
        }
    }
}

#[derive(QueryableByName)]
struct MarkRow {
    #[diesel(sql_type = BigInt)]
    parent_id: i64,
    #[diesel(sql_type = Bool)]
    private: bool,
    #[diesel(sql_type = BigInt)]
    newest_archived_at_us: i64,
}

impl Database {
    /// Replaces the shard's saved session with `record` (one row per shard).
    pub fn save_gateway_session(&self, record: &GatewaySessionRecord) -> Result<(), DbError> {
        let row = GatewaySessionRow::from_record(record)?;
        let mut conn = self.connection()?;
        diesel::replace_into(gateway_sessions::table)
            .values(&row)
            .execute(&mut conn)?;
        Ok(())
    }

    /// The session saved for `shard_id`, if any.
    pub fn gateway_session(&self, shard_id: u32) -> Result<Option<GatewaySessionRecord>, DbError> {
        let mut conn = self.connection()?;
        let row = gateway_sessions::table
            .find(i64::from(shard_id))
            .first::<GatewaySessionRow>(&mut conn)
            .optional()?;
        Ok(row.map(GatewaySessionRow::into_record))
    }

    /// Records `mark` unless a newer one is stored: marks only move forward.
    pub fn save_archived_thread_mark(&self, mark: &ArchivedThreadMark) -> Result<(), DbError> {
        let parent_id = to_db_id("parent_id", mark.parent_id)?;
        let mut conn = self.connection()?;
        diesel::sql_query(
            "INSERT INTO archived_thread_marks \
                 (parent_id, private, newest_archived_at_us, updated_at_ms) \
             VALUES (?, ?, ?, ?) \
             ON CONFLICT (parent_id, private) DO UPDATE SET \
                 newest_archived_at_us = \
                     MAX(newest_archived_at_us, excluded.newest_archived_at_us), \
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind::<BigInt, _>(parent_id)
        .bind::<Bool, _>(mark.private)
        .bind::<BigInt, _>(mark.newest_archived_at_us)
        .bind::<BigInt, _>(now_ms())
        .execute(&mut conn)?;
        Ok(())
    }

    /// Every stored mark.
    pub fn archived_thread_marks(&self) -> Result<Vec<ArchivedThreadMark>, DbError> {
        let mut conn = self.connection()?;
        let rows: Vec<MarkRow> = diesel::sql_query(
            "SELECT parent_id, private, newest_archived_at_us FROM archived_thread_marks \
             ORDER BY parent_id, private",
        )
        .load(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|row| ArchivedThreadMark {
                parent_id: from_db_id(row.parent_id),
                private: row.private,
                newest_archived_at_us: row.newest_archived_at_us,
            })
            .collect())
    }
}

/// Save the shard's resumable session; see [`Database::save_gateway_session`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct SaveGatewaySession(pub GatewaySessionRecord);

/// The session saved for a shard; see [`Database::gateway_session`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<GatewaySessionRecord>, DbError>")]
pub struct LoadGatewaySession {
    pub shard_id: u32,
}

/// Move an archived-thread mark forward; see [`Database::save_archived_thread_mark`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct SaveArchivedThreadMark(pub ArchivedThreadMark);

/// Every archived-thread mark; see [`Database::archived_thread_marks`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<ArchivedThreadMark>, DbError>")]
pub struct LoadArchivedThreadMarks;

impl Handler<SaveGatewaySession> for DbActor {
    type Result = ResponseActFuture<Self, Result<(), DbError>>;

    fn handle(&mut self, msg: SaveGatewaySession, _ctx: &mut Self::Context) -> Self::Result {
        self.run("save_gateway_session", move |db| {
            db.save_gateway_session(&msg.0)
        })
    }
}

impl Handler<LoadGatewaySession> for DbActor {
    type Result = ResponseActFuture<Self, Result<Option<GatewaySessionRecord>, DbError>>;

    fn handle(&mut self, msg: LoadGatewaySession, _ctx: &mut Self::Context) -> Self::Result {
        self.run("gateway_session", move |db| {
            db.gateway_session(msg.shard_id)
        })
    }
}

impl Handler<SaveArchivedThreadMark> for DbActor {
    type Result = ResponseActFuture<Self, Result<(), DbError>>;

    fn handle(&mut self, msg: SaveArchivedThreadMark, _ctx: &mut Self::Context) -> Self::Result {
        self.run("save_archived_thread_mark", move |db| {
            db.save_archived_thread_mark(&msg.0)
        })
    }
}

impl Handler<LoadArchivedThreadMarks> for DbActor {
    type Result = ResponseActFuture<Self, Result<Vec<ArchivedThreadMark>, DbError>>;

    fn handle(&mut self, _msg: LoadArchivedThreadMarks, _ctx: &mut Self::Context) -> Self::Result {
        self.run("archived_thread_marks", Database::archived_thread_marks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::Disposition;
    use crate::actors::db::test_support::migrated_db;

    fn session(seq: u64) -> GatewaySessionRecord {
        GatewaySessionRecord {
            shard: [1, 4],
            session_id: "2f9c1e".to_owned(),
            resume_url: "wss://gateway-us-east1-b.discord.gg".to_owned(),
            seq,
            user_id: 1_250_000_000_000_000_000,
            user_name: "monitor".to_owned(),
            token_fingerprint: "0123456789abcdef".to_owned(),
            saved_at_ms: 1_764_000_000_000,
        }
    }

    #[test]
    fn a_saved_session_is_read_back_per_shard_and_replaced_by_the_next_save() {
        let (_dir, db) = migrated_db();
        assert_eq!(db.gateway_session(1).unwrap(), None);
        db.save_gateway_session(&session(41)).unwrap();
        assert_eq!(db.gateway_session(1).unwrap(), Some(session(41)));
        assert_eq!(db.gateway_session(0).unwrap(), None, "another shard");

        let newer = GatewaySessionRecord {
            session_id: "7a01bd".to_owned(),
            saved_at_ms: session(0).saved_at_ms + 5_000,
            ..session(3)
        };
        db.save_gateway_session(&newer).unwrap();
        assert_eq!(db.gateway_session(1).unwrap(), Some(newer));
        assert_eq!(db.stats().unwrap().tables["gateway_sessions"], 1);
    }

    #[test]
    fn archived_thread_marks_only_move_forward_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::actors::db::test_support::config_at(&dir.path().join("db.sqlite"));
        let mark = |parent_id, private, newest_archived_at_us| ArchivedThreadMark {
            parent_id,
            private,
            newest_archived_at_us,
        };
        {
            let db = Database::open(&config).unwrap();
            db.run_pending_migrations().unwrap();
            db.save_archived_thread_mark(&mark(10, false, 2_000))
                .unwrap();
            db.save_archived_thread_mark(&mark(10, true, 1_000))
                .unwrap();
            db.save_archived_thread_mark(&mark(11, false, 5_000))
                .unwrap();
            // An older listing finishing late does not move the mark back.
            db.save_archived_thread_mark(&mark(10, false, 1_500))
                .unwrap();
            db.save_archived_thread_mark(&mark(11, false, 6_000))
                .unwrap();
        }
        let db = Database::open(&config).unwrap();
        assert_eq!(
            db.archived_thread_marks().unwrap(),
            [
                mark(10, false, 2_000),
                mark(10, true, 1_000),
                mark(11, false, 6_000)
            ]
        );
    }

    #[test]
    fn ids_that_do_not_fit_are_refused() {
        let (_dir, db) = migrated_db();
        let err = db
            .save_gateway_session(&GatewaySessionRecord {
                user_id: u64::MAX,
                ..session(1)
            })
            .unwrap_err();
        assert_eq!(err.disposition(), Disposition::Reject, "{err}");
        let err = db
            .save_archived_thread_mark(&ArchivedThreadMark {
                parent_id: u64::MAX,
                private: false,
                newest_archived_at_us: 0,
            })
            .unwrap_err();
        assert_eq!(err.disposition(), Disposition::Reject, "{err}");
    }
}
