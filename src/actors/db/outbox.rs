//! The alert outbox on [`Database`]: alerts are written here before any delivery is tried,
//! so an alert that cannot be delivered now (receiver down, process restarting) is delivered
//! later. One row per alert and route; `alert_attempts` records every try.
//!
//! - [`Database::enqueue_condition`] decides, in one write transaction, whether a condition
//!   is new, a reminder, resolved, or a duplicate within its cooldown, and inserts the rows
//!   that decision needs. Condition rows have keys `{key}#fire#{ms}@{route}` and
//!   `{key}#resolved#{ms}@{route}`, so the outbox itself remembers each condition across
//!   restarts.
//! - [`Database::enqueue_alerts`] inserts rows, ignoring a `dedup_key` already present.
//! - [`Database::due_alerts`] lists pending rows whose `next_attempt_at_ms` has come, oldest
//!   first, including those left by a previous process.
//! - [`Database::record_alert_attempt`] writes one attempt and moves the row to `delivered`,
//!   back to `pending` with its next time, or to `failed` (only when it can never be sent,
//!   e.g. its route was removed from the config).
//! - [`Database::prune_alerts`] forgets finished rows past their retention.
//! - [`Database::postpone_alert`] moves a row's next time without counting an attempt (rate
//!   limit, open circuit breaker).

use diesel::prelude::*;
use serde::Serialize;

use super::database::{Database, now_ms};
use super::error::DbError;
use super::schema::{alert_attempts, alert_outbox};

/// An alert for one route, to be stored before delivery.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = alert_outbox, check_for_backend(diesel::sqlite::Sqlite))]
pub struct NewOutboxAlert {
    /// Unique over the whole table; a row with the same key already stored wins.
    pub dedup_key: String,
    pub event: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    /// The alert's fields, links and flags, as the alert actor serialized them.
    pub fields_json: String,
    pub route: String,
    pub next_attempt_at_ms: i64,
    pub created_at_ms: i64,
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Pending,
    Delivered,
    Failed,
}

impl OutboxState {
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> OutboxState {
        match text {
            "delivered" => OutboxState::Delivered,
            "failed" => OutboxState::Failed,
            // The CHECK constraint allows nothing else.
            _ => OutboxState::Pending,
        }
    }
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxAlert {
    pub id: i64,
    pub dedup_key: String,
    pub event: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub fields_json: String,
    pub route: String,
    pub state: OutboxState,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = alert_outbox, check_for_backend(diesel::sqlite::Sqlite))]
struct OutboxRow {
    id: i64,
    dedup_key: String,
    event: String,
    severity: String,
    title: String,
    body: String,
    fields_json: String,
    route: String,
    state: String,
    attempts: i32,
    next_attempt_at_ms: i64,
    last_error: Option<String>,
    created_at_ms: i64,
    delivered_at_ms: Option<i64>,
}

impl From<OutboxRow> for OutboxAlert {
    fn from(row: OutboxRow) -> Self {
        OutboxAlert {
            id: row.id,
            dedup_key: row.dedup_key,
            event: row.event,
            severity: row.severity,
            title: row.title,
            body: row.body,
            fields_json: row.fields_json,
            route: row.route,
            state: OutboxState::parse(&row.state),
            attempts: row.attempts,
            next_attempt_at_ms: row.next_attempt_at_ms,
            last_error: row.last_error,
            created_at_ms: row.created_at_ms,
            delivered_at_ms: row.delivered_at_ms,
        }
    }
}

/// One delivery try of an outbox row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertAttempt {
    pub attempt: i32,
    pub at_ms: i64,
    pub ok: bool,
    pub error: Option<String>,
}

/// What happened after a try.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; tried again at `next_attempt_at_ms`.
    Retry {
        error: String,
        next_attempt_at_ms: i64,
    },
    /// Failed for good (the row can never be delivered).
    GiveUp {
        error: String,
    },
}

/// What [`Database::enqueue_condition`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionDecision {
    /// Not sent within the cooldown (or resolved since): the `first` rows were stored.
    First,
    /// Still firing one cooldown after it was last sent: the `reminder` rows were stored.
    Reminder,
    /// Resolved after being sent: the `first` rows (the resolved message) were stored.
    Resolved,
    /// Sent within the cooldown already (or already resolved): nothing stored.
    Duplicate,
    /// Resolved, but never sent: nothing stored.
    NeverFired,
}

/// A condition raised (or resolved) for [`Database::enqueue_condition`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewCondition {
    /// The condition's key; rows' `dedup_key`s start with `{key}#fire#` or `{key}#resolved#`.
    pub key: String,
    pub resolved: bool,
    pub now_ms: i64,
    pub cooldown_ms: i64,
    /// Rows for a first notice (or, when `resolved`, the resolved message).
    pub first: Vec<NewOutboxAlert>,
    /// Rows for a reminder (unused when `resolved`).
    pub reminder: Vec<NewOutboxAlert>,
}

/// Whether [`Database::enqueue_alerts`] stored a row or found its key already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    pub inserted: bool,
}

impl Database {
    /// Stores `alerts` in one transaction; rows whose `dedup_key` exists are left as they are.
    pub fn enqueue_alerts(&self, alerts: &[NewOutboxAlert]) -> Result<Vec<Enqueued>, DbError> {
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            alerts
                .iter()
                .map(|alert| insert_ignoring_duplicate(conn, alert))
                .collect()
        })
    }

    /// Stores the rows `condition`'s history calls for (see [`ConditionDecision`]):
    /// - firing: a duplicate within `cooldown_ms` of the last notice; else a reminder when
    ///   it was sent before and not resolved since; else a first notice;
    /// - resolved: nothing if never sent or already resolved since the last notice; else the
    ///   resolved message.
    ///
    /// One write transaction, so two concurrent raises of a condition store it once.
    pub fn enqueue_condition(
        &self,
        condition: &NewCondition,
    ) -> Result<(ConditionDecision, Vec<Enqueued>), DbError> {
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let last_fire = latest_with_prefix(conn, &format!("{}#fire#", condition.key))?;
            let last_resolved = latest_with_prefix(conn, &format!("{}#resolved#", condition.key))?;
            let resolved_since_fire = last_fire
                .is_some_and(|fire| last_resolved.is_some_and(|resolved| resolved >= fire));
            let decision = match (condition.resolved, last_fire) {
                (true, None) => ConditionDecision::NeverFired,
                (true, Some(_)) if resolved_since_fire => ConditionDecision::Duplicate,
                (true, Some(_)) => ConditionDecision::Resolved,
                (false, Some(fire)) if condition.now_ms - fire < condition.cooldown_ms => {
                    ConditionDecision::Duplicate
                }
                (false, Some(_)) if !resolved_since_fire => ConditionDecision::Reminder,
                (false, _) => ConditionDecision::First,
            };
            let rows = match decision {
                ConditionDecision::First | ConditionDecision::Resolved => &condition.first,
                ConditionDecision::Reminder => &condition.reminder,
                ConditionDecision::Duplicate | ConditionDecision::NeverFired => {
                    return Ok((decision, Vec::new()));
                }
            };
            let stored = rows
                .iter()
                .map(|row| insert_ignoring_duplicate(conn, row))
                .collect::<Result<Vec<_>, DbError>>()?;
            Ok((decision, stored))
        })
    }

    /// Pending rows due at `now_ms`, oldest due first, at most `limit`.
    pub fn due_alerts(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxAlert>, DbError> {
        let mut conn = self.connection()?;
        let rows = alert_outbox::table
            .filter(alert_outbox::state.eq(OutboxState::Pending.as_str()))
            .filter(alert_outbox::next_attempt_at_ms.le(now_ms))
            .order((alert_outbox::next_attempt_at_ms, alert_outbox::id))
            .limit(limit)
            .select(OutboxRow::as_select())
            .load(&mut conn)?;
        Ok(rows.into_iter().map(OutboxAlert::from).collect())
    }

    /// The earliest `next_attempt_at_ms` of any pending row, so the sender can sleep until then.
    pub fn next_alert_due_ms(&self) -> Result<Option<i64>, DbError> {
        let mut conn = self.connection()?;
        Ok(alert_outbox::table
            .filter(alert_outbox::state.eq(OutboxState::Pending.as_str()))
            .select(diesel::dsl::min(alert_outbox::next_attempt_at_ms))
            .first(&mut conn)?)
    }

    /// Records one try of row `outbox_id` and moves the row accordingly.
    pub fn record_alert_attempt(
        &self,
        outbox_id: i64,
        outcome: &AttemptOutcome,
    ) -> Result<(), DbError> {
        let now = now_ms();
        let mut conn = self.connection()?;
        conn.immediate_transaction(|conn| {
            let (route, attempts): (String, i32) = alert_outbox::table
                .find(outbox_id)
                .select((alert_outbox::route, alert_outbox::attempts))
                .first(conn)?;
            let attempt = attempts + 1;
            let error = match outcome {
                AttemptOutcome::Delivered => None,
                AttemptOutcome::Retry { error, .. } | AttemptOutcome::GiveUp { error } => {
                    Some(error.as_str())
                }
            };
            diesel::insert_into(alert_attempts::table)
                .values((
                    alert_attempts::outbox_id.eq(outbox_id),
                    alert_attempts::route.eq(&route),
                    alert_attempts::attempt.eq(attempt),
                    alert_attempts::at_ms.eq(now),
                    alert_attempts::ok.eq(error.is_none()),
                    alert_attempts::error.eq(error),
                ))
                .execute(conn)?;
            let row = diesel::update(alert_outbox::table.find(outbox_id));
            match outcome {
                AttemptOutcome::Delivered => row
                    .set((
                        alert_outbox::state.eq(OutboxState::Delivered.as_str()),
                        alert_outbox::attempts.eq(attempt),
                        alert_outbox::delivered_at_ms.eq(now),
                        alert_outbox::last_error.eq(None::<String>),
                    ))
                    .execute(conn)?,
                AttemptOutcome::Retry {
                    error,
                    next_attempt_at_ms,
                } => row
                    .set((
                        alert_outbox::attempts.eq(attempt),
                        alert_outbox::next_attempt_at_ms.eq(next_attempt_at_ms),
                        alert_outbox::last_error.eq(error),
                    ))
                    .execute(conn)?,
                AttemptOutcome::GiveUp { error } => row
                    .set((
                        alert_outbox::state.eq(OutboxState::Failed.as_str()),
                        alert_outbox::attempts.eq(attempt),
                        alert_outbox::last_error.eq(error),
                    ))
                    .execute(conn)?,
            };
            Ok(())
        })
    }

    /// Moves a pending row's next try without counting an attempt.
    pub fn postpone_alert(&self, outbox_id: i64, next_attempt_at_ms: i64) -> Result<(), DbError> {
        let mut conn = self.connection()?;
        diesel::update(alert_outbox::table.find(outbox_id))
            .set(alert_outbox::next_attempt_at_ms.eq(next_attempt_at_ms))
            .execute(&mut conn)?;
        Ok(())
    }

    /// The newest rows, newest first, at most `limit`.
    pub fn recent_alerts(&self, limit: i64) -> Result<Vec<OutboxAlert>, DbError> {
        let mut conn = self.connection()?;
        let rows = alert_outbox::table
            .order(alert_outbox::id.desc())
            .limit(limit)
            .select(OutboxRow::as_select())
            .load(&mut conn)?;
        Ok(rows.into_iter().map(OutboxAlert::from).collect())
    }

    /// Deletes delivered and failed rows created before `before_ms` (their attempts go with
    /// them); pending rows are never deleted. Answers the number of rows deleted.
    pub fn prune_alerts(&self, before_ms: i64) -> Result<usize, DbError> {
        let mut conn = self.connection()?;
        Ok(diesel::delete(
            alert_outbox::table
                .filter(alert_outbox::state.ne(OutboxState::Pending.as_str()))
                .filter(alert_outbox::created_at_ms.lt(before_ms)),
        )
        .execute(&mut conn)?)
    }

    /// Every try of row `outbox_id`, in order.
    pub fn alert_attempts(&self, outbox_id: i64) -> Result<Vec<AlertAttempt>, DbError> {
        let mut conn = self.connection()?;
        let rows: Vec<(i32, i64, bool, Option<String>)> = alert_attempts::table
            .filter(alert_attempts::outbox_id.eq(outbox_id))
            .order(alert_attempts::id)
            .select((
                alert_attempts::attempt,
                alert_attempts::at_ms,
                alert_attempts::ok,
                alert_attempts::error,
            ))
            .load(&mut conn)?;
        Ok(rows
            .into_iter()
            .map(|(attempt, at_ms, ok, error)| AlertAttempt {
                attempt,
                at_ms,
                ok,
                error,
            })
            .collect())
    }
}

fn insert_ignoring_duplicate(
    conn: &mut SqliteConnection,
    alert: &NewOutboxAlert,
) -> Result<Enqueued, DbError> {
    let inserted = diesel::insert_or_ignore_into(alert_outbox::table)
        .values(alert)
        .execute(conn)?
        > 0;
    let id = alert_outbox::table
        .filter(alert_outbox::dedup_key.eq(&alert.dedup_key))
        .select(alert_outbox::id)
        .first(conn)?;
    Ok(Enqueued { id, inserted })
}

/// The newest `created_at_ms` of rows whose key starts with `prefix`.
fn latest_with_prefix(conn: &mut SqliteConnection, prefix: &str) -> Result<Option<i64>, DbError> {
    // A prefix range (`prefix <= key < prefix + U+10FFFF`) uses the unique index and needs no
    // LIKE escaping of `%` and `_` in keys.
    let upper = format!("{prefix}\u{10FFFF}");
    Ok(alert_outbox::table
        .filter(alert_outbox::dedup_key.ge(prefix))
        .filter(alert_outbox::dedup_key.lt(&upper))
        .select(diesel::dsl::max(alert_outbox::created_at_ms))
        .first(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::test_support::{config_at, migrated_db};

    fn alert(key: &str, route: &str, due: i64) -> NewOutboxAlert {
        NewOutboxAlert {
            dedup_key: key.to_owned(),
            event: "test".to_owned(),
            severity: "warning".to_owned(),
            title: "Disk almost full".to_owned(),
            body: "92% used".to_owned(),
            fields_json: "{}".to_owned(),
            route: route.to_owned(),
            next_attempt_at_ms: due,
            created_at_ms: due,
        }
    }

    #[test]
    fn duplicates_collapse_and_rows_survive_a_reopen() {
        let (dir, db) = migrated_db();
        let first = db
            .enqueue_alerts(&[
                alert("disk#fire#1@mail", "mail", 10),
                alert("disk#fire#1@hook", "hook", 10),
            ])
            .unwrap();
        assert!(first.iter().all(|enqueued| enqueued.inserted));
        let again = db
            .enqueue_alerts(&[alert("disk#fire#1@mail", "mail", 10)])
            .unwrap();
        assert_eq!(
            again,
            [Enqueued {
                id: first[0].id,
                inserted: false
            }]
        );
        drop(db);

        let reopened = Database::open(&config_at(&dir.path().join("db.sqlite"))).unwrap();
        assert!(reopened.due_alerts(9, 10).unwrap().is_empty());
        let due = reopened.due_alerts(10, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(reopened.next_alert_due_ms().unwrap(), Some(10));
    }

    fn condition(resolved: bool, now_ms: i64) -> NewCondition {
        let kind = if resolved { "resolved" } else { "fire" };
        NewCondition {
            key: "disk".to_owned(),
            resolved,
            now_ms,
            cooldown_ms: 1_000,
            first: vec![alert(&format!("disk#{kind}#{now_ms}@r"), "r", now_ms)],
            reminder: vec![NewOutboxAlert {
                title: "reminder".to_owned(),
                ..alert(&format!("disk#{kind}#{now_ms}@r"), "r", now_ms)
            }],
        }
    }

    #[test]
    fn conditions_fire_remind_resolve_and_collapse() {
        let (_dir, db) = migrated_db();
        let decide = |resolved, at| db.enqueue_condition(&condition(resolved, at)).unwrap().0;
        assert_eq!(decide(true, 0), ConditionDecision::NeverFired);
        assert_eq!(decide(false, 10), ConditionDecision::First);
        assert_eq!(decide(false, 500), ConditionDecision::Duplicate);
        // Flapping within the cooldown: one resolved message, then quiet.
        assert_eq!(decide(true, 600), ConditionDecision::Resolved);
        assert_eq!(decide(false, 700), ConditionDecision::Duplicate);
        assert_eq!(decide(true, 800), ConditionDecision::Duplicate);
        // Back after its cooldown: a new first notice, then a reminder a cooldown later.
        assert_eq!(decide(false, 1_100), ConditionDecision::First);
        assert_eq!(decide(false, 2_200), ConditionDecision::Reminder);
        assert_eq!(decide(true, 2_300), ConditionDecision::Resolved);
        let titles: Vec<String> = db
            .recent_alerts(100)
            .unwrap()
            .into_iter()
            .rev()
            .map(|row| format!("{}:{}", row.dedup_key.split('#').nth(1).unwrap(), row.title))
            .collect();
        assert_eq!(
            titles,
            [
                "fire:Disk almost full",
                "resolved:Disk almost full",
                "fire:Disk almost full",
                "fire:reminder",
                "resolved:Disk almost full"
            ]
        );
    }

    #[test]
    fn attempts_are_recorded_and_move_the_row() {
        let (_dir, db) = migrated_db();
        let id = db.enqueue_alerts(&[alert("k#fire#1@r", "r", 0)]).unwrap()[0].id;
        db.record_alert_attempt(
            id,
            &AttemptOutcome::Retry {
                error: "connection refused".to_owned(),
                next_attempt_at_ms: 500,
            },
        )
        .unwrap();
        assert!(db.due_alerts(499, 10).unwrap().is_empty());
        let row = &db.due_alerts(500, 10).unwrap()[0];
        assert_eq!((row.attempts, row.state), (1, OutboxState::Pending));
        assert_eq!(row.last_error.as_deref(), Some("connection refused"));

        db.postpone_alert(id, 900).unwrap();
        assert!(db.due_alerts(899, 10).unwrap().is_empty());
        db.record_alert_attempt(id, &AttemptOutcome::Delivered)
            .unwrap();
        assert!(db.due_alerts(i64::MAX, 10).unwrap().is_empty());
        let stored = &db.recent_alerts(10).unwrap()[0];
        assert_eq!((stored.attempts, stored.state), (2, OutboxState::Delivered));
        assert!(stored.delivered_at_ms.is_some());
        let attempts = db.alert_attempts(id).unwrap();
        assert_eq!(
            attempts
                .iter()
                .map(|a| (a.attempt, a.ok))
                .collect::<Vec<_>>(),
            [(1, false), (2, true)]
        );
        assert_eq!(db.next_alert_due_ms().unwrap(), None);

        let gone = db
            .enqueue_alerts(&[alert("k#fire#2@old", "old", 0)])
            .unwrap()[0]
            .id;
        db.record_alert_attempt(
            gone,
            &AttemptOutcome::GiveUp {
                error: "route `old` is not configured".to_owned(),
            },
        )
        .unwrap();
        assert_eq!(db.recent_alerts(1).unwrap()[0].state, OutboxState::Failed);

        let pending = db.enqueue_alerts(&[alert("k#fire#3@r", "r", 0)]).unwrap()[0].id;
        assert_eq!(
            db.prune_alerts(1).unwrap(),
            2,
            "delivered and failed rows go"
        );
        let left = db.recent_alerts(10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, pending);
        assert!(db.alert_attempts(id).unwrap().is_empty());
    }
}
