//! Heartbeat bookkeeping of one connection: when the first beat goes out, whether the last one
//! was acknowledged, and whether a due beat finds the connection dead (a zombie).
//!
//! Zombie rule: a beat is due and the previous one was never ACKed, and nothing else arrived
//! meanwhile (any inbound frame proves life). One exception: while the reader waits for room in a
//! full event queue it reads nothing, ACKs included, so a beat that finds the reader stalled (now
//! or at any time since the previous beat) is sent, not counted as a zombie: the backlog is ours,
//! not the connection's.

use std::time::Duration;

use tokio::time::Instant;

/// What a due beat should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Beat {
    Send,
    /// The connection is dead: close it (not with 1000/1001) and resume.
    Zombie,
}

/// How the reader has been doing, as the heartbeat sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ReaderProgress {
    /// The reader is waiting for room in the event queue right now.
    pub(super) stalled_now: bool,
    /// Stalls since the connection opened; a change means it stalled in between.
    pub(super) stalls: u64,
}

#[derive(Debug)]
pub(super) struct Heartbeat {
    interval: Duration,
    /// When the beat still waiting for its ACK was sent.
    unacked_since: Option<Instant>,
    /// A frame arrived since the last beat was sent.
    inbound_since_beat: bool,
    /// `ReaderProgress::stalls` when the last beat was sent.
    stalls_at_beat: u64,
}

impl Heartbeat {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            unacked_since: None,
            inbound_since_beat: false,
            stalls_at_beat: 0,
        }
    }

    pub(super) fn interval(&self) -> Duration {
        self.interval
    }

    /// The first beat goes out after a random share of the interval, so that clients
    /// reconnecting together (after an outage) do not beat in lockstep.
    pub(super) fn first_delay(&self) -> Duration {
        self.first_delay_with(rand::random::<f64>())
    }

    /// [`first_delay`](Self::first_delay) for a given random share in `0..1`.
    pub(super) fn first_delay_with(&self, share: f64) -> Duration {
        self.interval.mul_f64(share.clamp(0.0, 1.0))
    }

    /// A beat is due: send it, or declare the connection a zombie.
    pub(super) fn on_due(&mut self, reader: ReaderProgress) -> Beat {
        let reader_stalled = reader.stalled_now || reader.stalls != self.stalls_at_beat;
        if self.unacked_since.is_some() && !self.inbound_since_beat && !reader_stalled {
            Beat::Zombie
        } else {
            Beat::Send
        }
    }

    /// A scheduled beat was written to the socket at `now`.
    pub(super) fn sent(&mut self, now: Instant, reader: ReaderProgress) {
        // A beat sent while the previous ACK is still unread (stalled reader) is measured
        // from the older one, so the latency shown includes our own backlog.
        self.unacked_since.get_or_insert(now);
        self.inbound_since_beat = false;
        self.stalls_at_beat = reader.stalls;
    }

    /// Any frame from the server.
    pub(super) fn saw_inbound(&mut self) {
        self.inbound_since_beat = true;
    }

    /// An ACK (op 11) arrived at `now`: the round trip of the beat it answers.
    pub(super) fn acked(&mut self, now: Instant) -> Option<Duration> {
        self.unacked_since
            .take()
            .map(|sent| now.saturating_duration_since(sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(41_250);

    fn idle() -> ReaderProgress {
        ReaderProgress::default()
    }

    #[test]
    fn first_beat_is_a_random_share_of_the_interval() {
        let heartbeat = Heartbeat::new(INTERVAL);
        assert_eq!(heartbeat.first_delay_with(0.0), Duration::ZERO);
        assert_eq!(heartbeat.first_delay_with(0.5), INTERVAL / 2);
        assert!(heartbeat.first_delay_with(7.0) <= INTERVAL);
        let delays: Vec<Duration> = (0..50).map(|_| heartbeat.first_delay()).collect();
        assert!(delays.iter().all(|delay| *delay <= INTERVAL));
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter spreads the first beats");
    }

    #[tokio::test(start_paused = true)]
    async fn acks_measure_latency_and_a_missing_ack_makes_a_zombie() {
        let mut heartbeat = Heartbeat::new(INTERVAL);
        tokio::time::sleep(heartbeat.first_delay_with(0.25)).await;
        assert_eq!(heartbeat.on_due(idle()), Beat::Send);
        heartbeat.sent(Instant::now(), idle());
        tokio::time::advance(Duration::from_millis(120)).await;
        assert_eq!(
            heartbeat.acked(Instant::now()),
            Some(Duration::from_millis(120))
        );
        assert_eq!(heartbeat.acked(Instant::now()), None, "one ACK per beat");

        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(idle()), Beat::Send);
        heartbeat.sent(Instant::now(), idle());
        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(idle()), Beat::Zombie, "no ACK, no frame");
    }

    #[tokio::test(start_paused = true)]
    async fn any_inbound_frame_proves_life() {
        let mut heartbeat = Heartbeat::new(INTERVAL);
        heartbeat.sent(Instant::now(), idle());
        tokio::time::sleep(INTERVAL / 2).await;
        heartbeat.saw_inbound();
        tokio::time::sleep(INTERVAL / 2).await;
        assert_eq!(heartbeat.on_due(idle()), Beat::Send);
        heartbeat.sent(Instant::now(), idle());
        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(idle()), Beat::Zombie);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_reader_is_not_a_zombie() {
        let mut heartbeat = Heartbeat::new(INTERVAL);
        let start = Instant::now();
        heartbeat.sent(start, idle());
        // Stalled right now: the ACK may be sitting unread in the socket.
        let stalled = ReaderProgress {
            stalled_now: true,
            stalls: 1,
        };
        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(stalled), Beat::Send);
        heartbeat.sent(Instant::now(), stalled);
        // Stalled and recovered between two beats: still not the connection's fault.
        let recovered = ReaderProgress {
            stalled_now: false,
            stalls: 2,
        };
        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(recovered), Beat::Send);
        heartbeat.sent(Instant::now(), recovered);
        // Latency counts from the oldest unanswered beat.
        assert_eq!(heartbeat.acked(Instant::now()), Some(INTERVAL * 2));
        // No stall since, no ACK since: a zombie after all.
        heartbeat.sent(Instant::now(), recovered);
        tokio::time::sleep(INTERVAL).await;
        assert_eq!(heartbeat.on_due(recovered), Beat::Zombie);
    }
}
