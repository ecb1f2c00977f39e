//! The recording handles. Each is a cheap clone of an `Arc` into the registry, so a component
//! looks its metric up once (at construction) and then records without touching the registry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// An `f64` updated atomically through its bit pattern.
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, delta: f64) {
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
    }
}

/// A value that only goes up (restarting the process resets it, which Prometheus handles).
#[derive(Debug, Clone)]
pub struct Counter(pub(crate) Arc<AtomicF64>);

impl Counter {
    pub fn inc(&self) {
        self.0.add(1.0);
    }

    pub fn inc_by(&self, count: u64) {
        self.0.add(count as f64);
    }

    /// Adds a fractional amount (seconds, dollars). Negative and NaN amounts are ignored: a
    /// counter that went down would read as a process restart.
    pub fn add(&self, amount: f64) {
        if amount > 0.0 {
            self.0.add(amount);
        }
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone)]
pub struct Gauge(pub(crate) Arc<AtomicF64>);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }

    pub fn add(&self, delta: f64) {
        self.0.add(delta);
    }

    pub fn inc(&self) {
        self.0.add(1.0);
    }

    pub fn dec(&self) {
        self.0.add(-1.0);
    }

    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// Observations counted into fixed buckets, with their sum and count.
#[derive(Debug, Clone)]
pub struct Histogram(pub(crate) Arc<HistogramCell>);

impl Histogram {
    /// NaN observations are dropped: one would turn `_sum` into NaN for the life of the process.
    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }

    /// Observes a duration in seconds, the base unit of every `_seconds` histogram.
    pub fn observe_duration(&self, duration: Duration) {
        self.0.observe(duration.as_secs_f64());
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        self.0.snapshot()
    }
}

/// A histogram's values at one moment; `cumulative[i]` counts observations `<= bounds[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub bounds: Arc<[f64]>,
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

#[derive(Debug)]
pub(crate) struct HistogramCell {
    bounds: Arc<[f64]>,
    /// One lock for counts, count and sum so a render never sees them disagree; held for a few
    /// additions only.
    state: Mutex<HistogramState>,
}

#[derive(Debug)]
struct HistogramState {
    /// Per bucket, not cumulative: observations in `(bounds[i-1], bounds[i]]`.
    bucket_counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl HistogramCell {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            state: Mutex::new(HistogramState {
                bucket_counts: vec![0; bounds.len()],
                count: 0,
                sum: 0.0,
            }),
            bounds,
        }
    }

    fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = state.bucket_counts.get_mut(bucket) {
            *count += 1;
        }
        state.count += 1;
        state.sum += value;
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let cumulative = state
            .bucket_counts
            .iter()
            .scan(0, |total, count| {
                *total += count;
                Some(*total)
            })
            .collect();
        HistogramSnapshot {
            bounds: Arc::clone(&self.bounds),
            cumulative,
            count: state.count,
            sum: state.sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_only_goes_up() {
        let counter = Counter(Arc::default());
        counter.inc();
        counter.inc_by(4);
        counter.add(0.5);
        counter.add(-3.0);
        counter.add(f64::NAN);
        assert_eq!(counter.get(), 5.5);
    }

    #[test]
    fn gauge_moves_both_ways() {
        let gauge = Gauge(Arc::default());
        gauge.set(10.0);
        gauge.inc();
        gauge.dec();
        gauge.dec();
        gauge.add(-2.5);
        assert_eq!(gauge.get(), 6.5);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let histogram = Histogram(Arc::new(HistogramCell::new(Arc::from([0.1, 1.0, 5.0]))));
        for value in [0.05, 0.1, 0.5, 1.0, 7.0, f64::NAN] {
            histogram.observe(value);
        }
        histogram.observe_duration(Duration::from_millis(2_500));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.cumulative, [2, 4, 5]);
        assert_eq!(snapshot.count, 6);
        assert!((snapshot.sum - 11.15).abs() < 1e-9, "{}", snapshot.sum);
    }

    #[test]
    fn concurrent_increments_are_not_lost() {
        let counter = Counter(Arc::default());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let counter = counter.clone();
                scope.spawn(move || {
                    for _ in 0..10_000 {
                        counter.inc();
                    }
                });
            }
        });
        assert_eq!(counter.get(), 40_000.0);
    }
}
