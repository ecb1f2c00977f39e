//! [`PipelineStall`]: how long the storage path has had work waiting without finishing a
//! batch, for the ops rules' "pipeline stalled" alert.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::IngestSender;
use super::actor::IngestStats;

/// Stalled for as long as events have been waiting with no batch finished since: measured
/// from the later of "the queue stopped being empty" and the last batch, so an event arriving
/// after a quiet hour is not a stall. Times are wall-clock milliseconds, like
/// [`IngestStats::last_batch_at_ms`].
pub struct PipelineStall {
    queue: IngestSender,
    stats: Arc<IngestStats>,
    /// When the queue was last seen going from empty to not empty; `None` while it is empty.
    waiting_since_ms: Mutex<Option<u64>>,
}

impl PipelineStall {
    pub fn new(queue: IngestSender, stats: Arc<IngestStats>) -> Self {
        Self {
            queue,
            stats,
            waiting_since_ms: Mutex::new(None),
        }
    }

    /// The stall right now (zero while the queue is empty or moving).
    pub fn stalled_for(&self) -> Duration {
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let queued = self.queue.max_capacity() != self.queue.capacity();
        self.measure(queued, now_ms)
    }

    fn measure(&self, queued: bool, now_ms: u64) -> Duration {
        let mut waiting_since = self
            .waiting_since_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !queued {
            *waiting_since = None;
            return Duration::ZERO;
        }
        let since = *waiting_since.get_or_insert(now_ms);
        let last_batch_ms = self.stats.last_batch_at_ms.load(Ordering::Relaxed);
        Duration::from_millis(now_ms.saturating_sub(since.max(last_batch_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet start, long before any of the times below.
    const T0: u64 = 1_700_000_000_000;

    fn stall() -> PipelineStall {
        let (queue, _receiver) = super::super::queue(8);
        PipelineStall::new(queue, Arc::new(IngestStats::default()))
    }

    #[test]
    fn an_empty_queue_is_never_stalled() {
        let stall = stall();
        assert_eq!(stall.measure(false, T0), Duration::ZERO);
        assert_eq!(stall.measure(false, T0 + 3_600_000), Duration::ZERO);
    }

    #[test]
    fn waiting_events_count_from_when_they_started_waiting() {
        let stall = stall();
        // The last batch was an hour ago; then the queue went quiet.
        stall
            .stats
            .last_batch_at_ms
            .store(T0 - 3_600_000, Ordering::Relaxed);
        // An event arrives: not a stall yet, however long ago the last batch was.
        assert_eq!(stall.measure(true, T0), Duration::ZERO);
        assert_eq!(stall.measure(true, T0 + 90_000), Duration::from_secs(90));
        // A batch finishes while events keep waiting: measured from that batch.
        stall
            .stats
            .last_batch_at_ms
            .store(T0 + 100_000, Ordering::Relaxed);
        assert_eq!(stall.measure(true, T0 + 130_000), Duration::from_secs(30));
        // The queue empties: the next wait starts afresh.
        assert_eq!(stall.measure(false, T0 + 140_000), Duration::ZERO);
        assert_eq!(stall.measure(true, T0 + 500_000), Duration::ZERO);
        assert_eq!(stall.measure(true, T0 + 510_000), Duration::from_secs(10));
    }
}
