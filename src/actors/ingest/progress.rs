//! Which gateway position is committed: the session and sequence number of the last event
//! whose effects are in the database *and* everything queued before it too. That is what a
//! restart may RESUME from: Discord replays every event after it, so nothing received but
//! not yet written (an edit, a delete still in the queue when the process was killed) is
//! lost, and nothing uncommitted is skipped.
//!
//! Batches are taken off the queue in gateway order and may finish in any order; a batch
//! that finished early waits for the ones taken before it. A batch that never finishes (its
//! writer died with it) holds the position where it was for the rest of the process: a
//! restart then resumes from before it, or identifies if Discord no longer has that far.
//! A write the database refused for good (invalid data, or an unexpected error that kept
//! failing: logged as `IngestWriteDropped`) counts as done, since a replay would be refused
//! the same way; a write waiting for the database or its lock holds its batch open.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::actors::db::GatewaySessionRecord;
use crate::discord::gateway::{PersistedSession, ResumableSession, SequencedEvent};
use crate::discord::{Snowflake, User};

/// A point in one session's event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPosition {
    pub session: Arc<ResumableSession>,
    pub seq: u64,
}

/// The row that saves `position` for the next process, as of `saved_at_ms`.
pub fn session_record(position: &SessionPosition, saved_at_ms: i64) -> GatewaySessionRecord {
    let session = &position.session;
    GatewaySessionRecord {
        shard: session.shard,
        session_id: session.session_id.clone(),
        resume_url: session.resume_url.clone(),
        seq: position.seq,
        user_id: session.user.id.get(),
        user_name: session.user.username.clone(),
        token_fingerprint: session.token_fingerprint.clone(),
        saved_at_ms,
    }
}

/// The session a saved row describes, for the gateway to resume; `bot` is whether the
/// configured token is a bot's (the row keeps only the user's id and name).
pub fn persisted_session(record: &GatewaySessionRecord, bot: bool) -> PersistedSession {
    PersistedSession {
        session: ResumableSession {
            session_id: record.session_id.clone(),
            resume_url: record.resume_url.clone(),
            user: User {
                id: Snowflake(record.user_id),
                username: record.user_name.clone(),
                global_name: None,
                bot,
            },
            shard: record.shard,
            token_fingerprint: record.token_fingerprint.clone(),
        },
        seq: record.seq,
        saved_at_ms: record.saved_at_ms,
    }
}

impl SessionPosition {
    fn same_session(&self, other: &SessionPosition) -> bool {
        Arc::ptr_eq(&self.session, &other.session)
            || self.session.session_id == other.session.session_id
    }
}

/// One batch taken off the queue, to be reported committed with [`CommitTracker::committed`].
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchTicket(u64);

#[derive(Debug)]
struct OpenBatch {
    /// Of its last event that has both a session and a sequence number.
    position: Option<SessionPosition>,
    committed: bool,
}

#[derive(Debug, Default)]
pub struct CommitTracker {
    next_ticket: u64,
    /// Batches taken and not yet folded into `committed`, by ticket (= gateway order).
    open: BTreeMap<u64, OpenBatch>,
    committed: Option<SessionPosition>,
}

impl CommitTracker {
    /// `batch` was taken off the queue, after every batch taken before.
    pub fn taken(&mut self, batch: &[SequencedEvent]) -> BatchTicket {
        let position = batch.iter().rev().find_map(|item| {
            Some(SessionPosition {
                session: Arc::clone(item.session.as_ref()?),
                seq: item.seq?,
            })
        });
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.open.insert(
            ticket,
            OpenBatch {
                position,
                committed: false,
            },
        );
        BatchTicket(ticket)
    }

    /// The batch of `ticket` is committed. Answers the committed position if this moved it.
    pub fn committed(&mut self, ticket: BatchTicket) -> Option<&SessionPosition> {
        if let Some(batch) = self.open.get_mut(&ticket.0) {
            batch.committed = true;
        }
        let mut moved = false;
        while let Some(entry) = self.open.first_entry() {
            if !entry.get().committed {
                break;
            }
            let Some(position) = entry.remove().position else {
                continue;
            };
            let next = match &self.committed {
                // A replay after a resume repeats events already committed: never go back.
                Some(current) if current.same_session(&position) && current.seq >= position.seq => {
                    continue;
                }
                _ => position,
            };
            self.committed = Some(next);
            moved = true;
        }
        if moved { self.committed.as_ref() } else { None }
    }

    /// The committed position, if any batch of a session has been committed.
    pub fn position(&self) -> Option<&SessionPosition> {
        self.committed.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::MessageDelete;
    use crate::discord::gateway::GatewayEvent;

    fn session(id: &str) -> Arc<ResumableSession> {
        Arc::new(ResumableSession {
            session_id: id.to_owned(),
            resume_url: "wss://resume.example".to_owned(),
            user: User {
                id: Snowflake(900),
                username: "monitor".to_owned(),
                global_name: None,
                bot: true,
            },
            shard: [0, 1],
            token_fingerprint: "00".to_owned(),
        })
    }

    fn events(
        session: &Arc<ResumableSession>,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Vec<SequencedEvent> {
        seqs.map(|seq| SequencedEvent {
            session: Some(Arc::clone(session)),
            seq: Some(seq),
            event: GatewayEvent::MessageDelete(MessageDelete {
                id: Snowflake(seq),
                channel_id: Snowflake(10),
                guild_id: None,
            }),
        })
        .collect()
    }

    #[test]
    fn a_saved_row_round_trips_into_the_same_session() {
        let position = SessionPosition {
            session: session("c0ffee"),
            seq: 77,
        };
        let record = session_record(&position, 1_764_000_000_000);
        assert_eq!(record.seq, 77);
        assert_eq!(record.user_id, 900);
        let saved = persisted_session(&record, true);
        assert_eq!(saved.session, *position.session);
        assert_eq!(saved.seq, 77);
        assert_eq!(saved.saved_at_ms, 1_764_000_000_000);
    }

    fn seq_of(position: Option<&SessionPosition>) -> Option<(String, u64)> {
        position.map(|position| (position.session.session_id.clone(), position.seq))
    }

    #[test]
    fn a_batch_committed_early_waits_for_the_batches_taken_before_it() {
        let a = session("a");
        let mut tracker = CommitTracker::default();
        let first = tracker.taken(&events(&a, 1..=3));
        let second = tracker.taken(&events(&a, 4..=6));
        let third = tracker.taken(&events(&a, 7..=9));

        assert_eq!(tracker.committed(third), None);
        assert_eq!(tracker.committed(second), None);
        assert_eq!(
            seq_of(tracker.position()),
            None,
            "seq 1-3 are not committed"
        );

        assert_eq!(
            seq_of(tracker.committed(first)),
            Some(("a".to_owned(), 9)),
            "all three at once"
        );
    }

    #[test]
    fn a_batch_that_never_commits_holds_the_position() {
        let a = session("a");
        let mut tracker = CommitTracker::default();
        let first = tracker.taken(&events(&a, 1..=2));
        let _abandoned = tracker.taken(&events(&a, 3..=4));
        let later = tracker.taken(&events(&a, 5..=6));
        tracker.committed(first);
        assert_eq!(tracker.committed(later), None);
        assert_eq!(seq_of(tracker.position()), Some(("a".to_owned(), 2)));
    }

    #[test]
    fn events_without_a_sequence_keep_the_position_and_a_new_session_replaces_it() {
        let a = session("a");
        let b = session("b");
        let mut tracker = CommitTracker::default();
        let ticket = tracker.taken(&events(&a, 1..=5));
        tracker.committed(ticket);
        // SessionLost (ours, no seq) and events from outside any session.
        let unnumbered = vec![
            SequencedEvent {
                session: Some(Arc::clone(&b)),
                seq: None,
                event: GatewayEvent::SessionLost,
            },
            SequencedEvent::from(GatewayEvent::SessionLost),
        ];
        let ticket = tracker.taken(&unnumbered);
        assert_eq!(tracker.committed(ticket), None);
        assert_eq!(seq_of(tracker.position()), Some(("a".to_owned(), 5)));

        let ticket = tracker.taken(&events(&b, 1..=2));
        assert_eq!(
            seq_of(tracker.committed(ticket)),
            Some(("b".to_owned(), 2)),
            "a new session starts over at its own seq"
        );
    }

    #[test]
    fn a_replay_of_committed_events_never_moves_the_position_back() {
        let a = session("a");
        let mut tracker = CommitTracker::default();
        let ticket = tracker.taken(&events(&a, 1..=8));
        tracker.committed(ticket);
        // Resumed from 5 (the actor restarted with 6-8 still queued): 6-8 come again.
        let ticket = tracker.taken(&events(&a, 6..=7));
        assert_eq!(tracker.committed(ticket), None);
        assert_eq!(seq_of(tracker.position()), Some(("a".to_owned(), 8)));
        let ticket = tracker.taken(&events(&a, 8..=9));
        assert_eq!(seq_of(tracker.committed(ticket)), Some(("a".to_owned(), 9)));
    }
}
