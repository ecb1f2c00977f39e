//! The processing pipeline's metrics, registered once and read from its shared state at each
//! scrape: messages held and room, the backlog, memory pressure, verdicts by method, batch
//! durations and stalls.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::shared::ProcessingShared;
use super::triage::Method;
use crate::metrics::{Histogram, LATENCY_BUCKETS_SECONDS, Metrics, MetricsError};

/// Cheap to clone; clones (and restarted actors) share the series.
#[derive(Debug, Clone)]
pub struct ProcessingMetrics {
    batch_duration: Histogram,
}

impl ProcessingMetrics {
    pub fn register(
        metrics: &Arc<Metrics>,
        shared: &Arc<ProcessingShared>,
    ) -> Result<Self, MetricsError> {
        let held = Arc::clone(shared);
        metrics.gauge_fn(
            "discord_monitor_processing_queue_depth",
            "Messages held in memory for triage (waiting for a batch, queued or with a worker)",
            &[],
            move || held.depth() as f64,
        )?;
        metrics
            .gauge(
                "discord_monitor_processing_queue_capacity",
                "Messages the triage pipeline may hold in memory (processing.max_queue_size)",
                &[],
            )?
            .set(shared.capacity() as f64);
        let backlog = Arc::clone(shared);
        metrics.gauge_fn(
            "discord_monitor_processing_backlog_messages",
            "Stored messages not triaged yet (the durable backlog), as last counted",
            &[],
            move || backlog.backlog().map_or(0.0, |figures| figures.size as f64),
        )?;
        let pressure = Arc::clone(shared);
        metrics.gauge_fn(
            "discord_monitor_processing_memory_pressure",
            "0 normal, 1 optional work shed (85% of the memory limit), 2 backlog paused (100%)",
            &[],
            move || f64::from(pressure.pressure() as u8),
        )?;
        for method in Method::ALL {
            let counters = Arc::clone(shared);
            metrics.counter_fn(
                "discord_monitor_triage_verdicts_total",
                "Messages triaged, by who scored them: llm, rules or prefilter",
                &[("method", method.as_str())],
                move || {
                    let counter = match method {
                        Method::Llm => &counters.counters.llm,
                        Method::Rules => &counters.counters.rules,
                        Method::Prefilter => &counters.counters.prefilter,
                    };
                    counter.load(Ordering::Relaxed) as f64
                },
            )?;
        }
        let degraded = Arc::clone(shared);
        metrics.counter_fn(
            "discord_monitor_triage_degraded_total",
            "Messages scored by rules because no model could be called",
            &[],
            move || degraded.counters.degraded.load(Ordering::Relaxed) as f64,
        )?;
        let stalls = Arc::clone(shared);
        metrics.counter_fn(
            "discord_monitor_processing_stalls_total",
            "Triage workers restarted after making no progress for processing.stall_timeout_secs",
            &[],
            move || stalls.counters.stalls.load(Ordering::Relaxed) as f64,
        )?;
        Ok(Self {
            batch_duration: metrics.histogram(
                "discord_monitor_triage_batch_duration_seconds",
                "Time to score and record one triage batch",
                LATENCY_BUCKETS_SECONDS,
                &[],
            )?,
        })
    }

    pub(super) fn observe_batch(&self, elapsed: Duration) {
        self.batch_duration.observe_duration(elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_exist_at_zero_from_the_start() {
        let registry = Arc::new(Metrics::new());
        let shared = ProcessingShared::new(64, 2, &[]);
        ProcessingMetrics::register(&registry, &shared).unwrap();
        let text = registry.render_prometheus();
        for series in [
            "discord_monitor_processing_queue_depth 0",
            "discord_monitor_processing_queue_capacity 64",
            "discord_monitor_processing_backlog_messages 0",
            "discord_monitor_processing_memory_pressure 0",
            r#"discord_monitor_triage_verdicts_total{method="llm"} 0"#,
            r#"discord_monitor_triage_verdicts_total{method="prefilter"} 0"#,
            "discord_monitor_triage_degraded_total 0",
            "discord_monitor_processing_stalls_total 0",
            "discord_monitor_triage_batch_duration_seconds_count 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }
}
