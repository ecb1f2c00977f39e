//! What the feeder, the workers, the watchdogs and `/status` share, and outlives any one of
//! them: the bound on messages held in memory, which messages are held, the batch queue, the
//! workers' progress and the counters.
//!
//! Every message taken off the backlog is held by a [`Batch`] until it is recorded or
//! dropped; dropping a batch (recorded, failed, or lost with a restarted worker) gives its
//! room back and lets the feeder take its messages again, so nothing held can leak.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Duration, Instant};

use super::triage::Method;
use crate::actors::db::{BacklogFigures, BacklogItem};

/// How memory compares with its limit; see `watchdog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryPressure {
    Normal,
    /// At 85% of the limit: optional work (rescoring, a deep queue) is shed.
    High,
    /// At the limit: no more messages are taken off the backlog until memory falls.
    Critical,
}

impl MemoryPressure {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => MemoryPressure::Normal,
            1 => MemoryPressure::High,
            _ => MemoryPressure::Critical,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            MemoryPressure::Normal => "normal",
            MemoryPressure::High => "high",
            MemoryPressure::Critical => "critical",
        }
    }
}

/// Whether a batch needs a model or only the rule engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    /// Messages for the model (the rule engine when none may be called).
    Model,
    /// Messages the prefilters keep from the model, or every message when no model is
    /// configured: scored by the rule engine.
    Rules,
}

/// Messages taken off the backlog, held until recorded or dropped (see the module doc).
pub struct Batch {
    pub kind: BatchKind,
    pub items: Vec<BacklogItem>,
    /// When the first of them was taken: a model batch is sent once it is full or this is
    /// `processing.batch_max_wait_secs` old.
    pub taken_at: Instant,
    recorded: bool,
    shared: Arc<ProcessingShared>,
}

impl Batch {
    pub(super) fn new(kind: BatchKind, shared: &Arc<ProcessingShared>) -> Self {
        Self {
            kind,
            items: Vec::new(),
            taken_at: Instant::now(),
            recorded: false,
            shared: Arc::clone(shared),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Its verdicts are committed: the backlog rows are gone, so a page read before the
    /// commit must not hand these messages out again.
    pub fn mark_recorded(&mut self) {
        self.recorded = true;
    }

    /// Moves the first `count` items into a batch of their own (the same room held).
    pub(super) fn split_off_front(&mut self, count: usize) -> Batch {
        let rest = self.items.split_off(count.min(self.items.len()));
        let front = std::mem::replace(&mut self.items, rest);
        Batch {
            kind: self.kind,
            items: front,
            taken_at: self.taken_at,
            recorded: false,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.items.is_empty() {
            return;
        }
        let ids = self.items.iter().map(|item| item.message_id);
        self.shared.release(ids, self.items.len(), self.recorded);
    }
}

/// Counters since the process started.
#[derive(Debug, Default)]
pub struct Counters {
    pub llm: AtomicU64,
    pub rules: AtomicU64,
    pub prefilter: AtomicU64,
    /// Scored by rules because no model could be called.
    pub degraded: AtomicU64,
    pub needs_attention: AtomicU64,
    /// Model requests answered, and those that retried unusable items.
    pub model_calls: AtomicU64,
    pub model_retries: AtomicU64,
    /// Millionths of a US dollar.
    pub cost_micro_usd: AtomicU64,
    pub batches: AtomicU64,
    /// Verdicts not written because their message was already recorded.
    pub already_done: AtomicU64,
    pub write_failures: AtomicU64,
    pub stalls: AtomicU64,
}

impl Counters {
    pub fn count(&self, method: Method, degraded: bool, needs_attention: bool) {
        let counter = match method {
            Method::Llm => &self.llm,
            Method::Rules => &self.rules,
            Method::Prefilter => &self.prefilter,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if degraded {
            self.degraded.fetch_add(1, Ordering::Relaxed);
        }
        if needs_attention {
            self.needs_attention.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn scored(&self) -> u64 {
        [&self.llm, &self.rules, &self.prefilter]
            .iter()
            .map(|counter| counter.load(Ordering::Relaxed))
            .sum()
    }
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerPhase {
    Idle,
    Scoring,
    /// Waiting for the model's answer.
    AwaitingModel,
    Writing,
}

/// One worker's progress, read by the stall watchdog and `/status`.
#[derive(Debug)]
pub struct WorkerSlot {
    pub name: String,
    state: Mutex<SlotState>,
    pub batches: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct SlotState {
    phase: WorkerPhase,
    batch_len: usize,
    /// Last time the worker finished a step (took a batch, got an answer, wrote).
    progress_at: Instant,
    busy_since: Option<Instant>,
}

/// A worker as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub name: String,
    pub state: WorkerPhase,
    pub batch_messages: usize,
    pub busy_secs: Option<u64>,
    pub since_progress_secs: u64,
    pub batches: u64,
}

impl WorkerSlot {
    pub fn new(name: String) -> Self {
        Self {
            name,
            state: Mutex::new(SlotState {
                phase: WorkerPhase::Idle,
                batch_len: 0,
                progress_at: Instant::now(),
                busy_since: None,
            }),
            batches: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A step finished; now in `phase`.
    pub fn step(&self, phase: WorkerPhase, batch_len: usize) {
        let mut state = self.lock();
        let now = Instant::now();
        state.progress_at = now;
        state.batch_len = batch_len;
        if phase == WorkerPhase::Idle {
            state.busy_since = None;
        } else if state.phase == WorkerPhase::Idle {
            state.busy_since = Some(now);
        }
        state.phase = phase;
    }

    /// How long a busy worker has gone without progress; `None` while idle.
    pub fn stalled_for(&self, now: Instant) -> Option<Duration> {
        let state = self.lock();
        (state.phase != WorkerPhase::Idle).then(|| now.saturating_duration_since(state.progress_at))
    }

    pub fn status(&self, now: Instant) -> WorkerStatus {
        let state = *self.lock();
        WorkerStatus {
            name: self.name.clone(),
            state: state.phase,
            batch_messages: state.batch_len,
            busy_secs: state
                .busy_since
                .map(|since| now.saturating_duration_since(since).as_secs()),
            since_progress_secs: now.saturating_duration_since(state.progress_at).as_secs(),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

/// Messages recorded over the last minute, sampled by the watchdog.
#[derive(Debug, Default)]
struct Throughput {
    samples: VecDeque<(Instant, u64)>,
}

/// Seconds of samples the throughput is averaged over.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(60);

impl Throughput {
    fn sample(&mut self, now: Instant, total: u64) {
        self.samples.push_back((now, total));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > THROUGHPUT_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    fn per_second(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((first_at, first)), Some((last_at, last))) if last_at > first_at => {
                last.saturating_sub(*first) as f64
                    / last_at.saturating_duration_since(*first_at).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The processing pipeline's shared state; see the module doc.
pub struct ProcessingShared {
    /// One permit per message the pipeline may hold (`processing.max_queue_size`).
    room: Arc<Semaphore>,
    capacity: usize,
    held: Mutex<Held>,
    batches: mpsc::Sender<Batch>,
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    pub workers: Vec<Arc<WorkerSlot>>,
    pub counters: Counters,
    pressure: AtomicU8,
    /// Set by a worker whose model answered: a model can be called again, so verdicts scored
    /// by rules meanwhile may be rescored.
    model_answered: AtomicBool,
    throughput: Mutex<Throughput>,
    backlog: Mutex<Option<BacklogFigures>>,
    last_error: Mutex<Option<String>>,
}

/// Which messages are held, and which were recorded while a page read was under way.
#[derive(Debug, Default)]
struct Held {
    ids: HashSet<u64>,
    /// Recorded message -> the page-read generation current when it was: a page read that
    /// began later cannot return it, one that began earlier may (see [`ProcessingShared::fresh`]).
    recorded: HashMap<u64, u64>,
    generation: u64,
}

impl ProcessingShared {
    /// Room for `capacity` messages; a queue of `queued_batches` batches between the feeder
    /// and `workers` workers.
    pub fn new(capacity: usize, queued_batches: usize, worker_names: &[String]) -> Arc<Self> {
        let (batches, receiver) = mpsc::channel(queued_batches.max(1));
        Arc::new(Self {
            room: Arc::new(Semaphore::new(capacity.max(1))),
            capacity: capacity.max(1),
            held: Mutex::default(),
            batches,
            receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
            workers: worker_names
                .iter()
                .map(|name| Arc::new(WorkerSlot::new(name.clone())))
                .collect(),
            counters: Counters::default(),
            pressure: AtomicU8::new(0),
            model_answered: AtomicBool::new(false),
            throughput: Mutex::default(),
            backlog: Mutex::default(),
            last_error: Mutex::default(),
        })
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages held in memory (waiting for a batch, queued, or with a worker).
    pub fn depth(&self) -> usize {
        self.capacity - self.room.available_permits()
    }

    pub fn available(&self) -> usize {
        self.room.available_permits()
    }

    /// Waits until there is room for at least one message.
    pub(super) async fn wait_for_room(&self) {
        if let Ok(permit) = self.room.acquire().await {
            drop(permit);
        }
    }

    /// Starts a page read; its generation goes to [`Self::fresh`].
    pub(super) fn begin_read(&self) -> u64 {
        let mut held = self.held();
        held.generation += 1;
        held.generation
    }

    /// Keeps from a page read that began at `generation` the messages not held and not
    /// recorded meanwhile, takes room for them (at most what is free) and marks them held.
    pub(super) fn fresh(&self, generation: u64, page: Vec<BacklogItem>) -> Vec<BacklogItem> {
        let mut held = self.held();
        let fresh: Vec<BacklogItem> = page
            .into_iter()
            .filter(|item| {
                !held.ids.contains(&item.message_id)
                    && held
                        .recorded
                        .get(&item.message_id)
                        .is_none_or(|recorded_in| *recorded_in < generation)
            })
            .collect();
        // Recorded before this read began: the feeder reads one page at a time, so no read
        // under way can return them any more.
        held.recorded
            .retain(|_, recorded_in| *recorded_in >= generation);
        let room = self.room.available_permits().min(fresh.len());
        let fresh: Vec<BacklogItem> = fresh.into_iter().take(room).collect();
        if let Ok(permits) = self
            .room
            .try_acquire_many(u32::try_from(fresh.len()).unwrap_or(u32::MAX))
        {
            permits.forget();
        } else {
            return Vec::new();
        }
        held.ids.extend(fresh.iter().map(|item| item.message_id));
        fresh
    }

    fn release(&self, ids: impl Iterator<Item = u64>, count: usize, recorded: bool) {
        let mut held = self.held();
        let generation = held.generation;
        for id in ids {
            held.ids.remove(&id);
            if recorded {
                held.recorded.insert(id, generation);
            }
        }
        drop(held);
        self.room.add_permits(count);
    }

    /// The queue's sending end: a full queue makes the feeder wait.
    pub(super) fn sender(&self) -> &mpsc::Sender<Batch> {
        &self.batches
    }

    pub(super) fn receiver(&self) -> Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>> {
        Arc::clone(&self.receiver)
    }

    pub fn pressure(&self) -> MemoryPressure {
        MemoryPressure::from_u8(self.pressure.load(Ordering::Relaxed))
    }

    pub(super) fn set_pressure(&self, pressure: MemoryPressure) {
        self.pressure.store(pressure as u8, Ordering::Relaxed);
    }

    pub(super) fn note_model_answered(&self) {
        self.model_answered.store(true, Ordering::Relaxed);
    }

    pub(super) fn take_model_answered(&self) -> bool {
        self.model_answered.swap(false, Ordering::Relaxed)
    }

    pub(super) fn sample_throughput(&self, now: Instant) {
        let total = self.counters.scored();
        self.throughput
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sample(now, total);
    }

    /// Messages scored per second over the last minute.
    pub fn throughput_per_sec(&self) -> f64 {
        self.throughput
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .per_second()
    }

    pub(super) fn set_backlog(&self, figures: BacklogFigures) {
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) = Some(figures);
    }

    /// The backlog as last counted (every few seconds).
    pub fn backlog(&self) -> Option<BacklogFigures> {
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::db::BacklogReason;

    fn item(id: u64) -> BacklogItem {
        BacklogItem {
            message_id: id,
            channel_id: 1,
            guild_id: None,
            channel_name: String::new(),
            author_id: 2,
            author_name: "a".to_owned(),
            author_is_bot: false,
            content: "x".to_owned(),
            created_at_ms: 0,
            kind: 0,
            deleted: false,
            has_attachments: false,
            reply_to_message_id: None,
            reason: BacklogReason::New,
        }
    }

    fn batch(shared: &Arc<ProcessingShared>, items: Vec<BacklogItem>) -> Batch {
        let mut batch = Batch::new(BatchKind::Model, shared);
        batch.items = items;
        batch
    }

    #[tokio::test]
    async fn held_messages_are_not_taken_twice_and_room_comes_back() {
        let shared = ProcessingShared::new(3, 2, &[]);
        let read = shared.begin_read();
        let taken = shared.fresh(read, (1..=5).map(item).collect());
        assert_eq!(taken.len(), 3, "only as many as there is room for");
        assert_eq!((shared.depth(), shared.available()), (3, 0));
        let again = shared.begin_read();
        assert!(shared.fresh(again, (1..=3).map(item).collect()).is_empty());

        drop(batch(&shared, taken));
        assert_eq!(shared.depth(), 0);
        let read = shared.begin_read();
        assert_eq!(
            shared.fresh(read, vec![item(1)]).len(),
            1,
            "released, not recorded"
        );
    }

    #[tokio::test]
    async fn a_message_recorded_during_a_read_is_not_handed_out_by_it() {
        let shared = ProcessingShared::new(10, 2, &[]);
        let first = shared.begin_read();
        let mut recorded = batch(&shared, shared.fresh(first, vec![item(7)]));
        // A read begins, the batch is recorded and released, then the read's page (taken
        // before the commit) arrives with the message in it.
        let racing = shared.begin_read();
        recorded.mark_recorded();
        drop(recorded);
        assert!(shared.fresh(racing, vec![item(7)]).is_empty());
        // Reads that begin after the commit cannot see it: no need to remember it.
        let later = shared.begin_read();
        assert!(shared.fresh(later, vec![]).is_empty());
        assert!(shared.held().recorded.is_empty());
    }

    #[tokio::test]
    async fn a_batch_splits_and_each_part_releases_its_own() {
        let shared = ProcessingShared::new(10, 2, &[]);
        let read = shared.begin_read();
        let mut whole = batch(&shared, shared.fresh(read, (1..=5).map(item).collect()));
        let front = whole.split_off_front(2);
        assert_eq!((front.len(), whole.len()), (2, 3));
        drop(front);
        assert_eq!(shared.depth(), 3);
        drop(whole);
        assert_eq!(shared.depth(), 0);
    }

    #[test]
    fn throughput_is_a_rate_over_the_window() {
        let mut throughput = Throughput::default();
        let start = Instant::now();
        throughput.sample(start, 0);
        throughput.sample(start + Duration::from_secs(10), 500);
        assert!((throughput.per_second() - 50.0).abs() < 1e-9);
    }
}
