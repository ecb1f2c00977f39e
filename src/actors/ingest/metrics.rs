//! The storage path's metrics, registered once (when the queue is made) and recorded through
//! handles: the queue's depth and capacity, batch durations, events by kind, and stored
//! messages by outcome. Every label value is known in advance, so every series exists from
//! the start.

use std::sync::Arc;
use std::time::Duration;

use super::IngestSender;
use crate::actors::db::StoreOutcome;
use crate::discord::gateway::GatewayEvent;
use crate::metrics::{
    CounterFamily, FamilySpec, Histogram, LATENCY_BUCKETS_SECONDS, Metrics, MetricsError,
};

const EVENTS: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_ingest_events_total",
    help: "Gateway events taken off the ingest queue, by kind",
    label_names: ["kind"],
};

const STORED: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_messages_stored_total",
    help: "Messages written by the storage path, by outcome",
    label_names: ["outcome"],
};

const OUTCOMES: [&str; 3] = ["inserted", "updated", "unchanged"];

/// Cheap to clone; clones (and a restarted actor) share the series.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    batch_duration: Histogram,
    events: CounterFamily<1>,
    stored: CounterFamily<1>,
}

impl IngestMetrics {
    /// Registers the storage path's families in `metrics`, the queue gauges reading `queue`.
    pub fn register(metrics: &Arc<Metrics>, queue: &IngestSender) -> Result<Self, MetricsError> {
        let depth = queue.clone();
        metrics.gauge_fn(
            "discord_monitor_ingest_queue_depth",
            "Gateway events waiting to be stored",
            &[],
            move || (depth.max_capacity() - depth.capacity()) as f64,
        )?;
        metrics
            .gauge(
                "discord_monitor_ingest_queue_capacity",
                "Gateway events the queue holds before the gateway reader waits (processing.max_queue_size)",
                &[],
            )?
            .set(queue.max_capacity() as f64);
        Ok(Self {
            batch_duration: metrics.histogram(
                "discord_monitor_ingest_batch_duration_seconds",
                "Time to write one batch of gateway events to the database",
                LATENCY_BUCKETS_SECONDS,
                &[],
            )?,
            events: CounterFamily::register(
                metrics,
                EVENTS,
                GatewayEvent::KINDS.iter().map(|kind| [*kind]),
            )?,
            stored: CounterFamily::register(metrics, STORED, OUTCOMES.map(|outcome| [outcome]))?,
        })
    }

    pub(super) fn observe_batch(&self, elapsed: Duration) {
        self.batch_duration.observe_duration(elapsed);
    }

    /// `count` events of `kind`; fails only for a kind missing from [`GatewayEvent::KINDS`]
    /// that cannot be registered.
    pub(super) fn count_events(&self, kind: &str, count: u64) -> Result<(), MetricsError> {
        self.events.get([kind])?.inc_by(count);
        Ok(())
    }

    pub(super) fn count_stored(&self, outcome: &StoreOutcome) -> Result<(), MetricsError> {
        for (label, count) in
            OUTCOMES
                .into_iter()
                .zip([outcome.inserted, outcome.updated, outcome.unchanged])
        {
            self.stored.get([label])?.inc_by(count as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_exist_at_zero_from_the_start() {
        let registry = Arc::new(Metrics::new());
        let (queue, _receiver) = super::super::queue(64);
        IngestMetrics::register(&registry, &queue).unwrap();
        let text = registry.render_prometheus();
        for series in [
            "discord_monitor_ingest_queue_depth 0",
            "discord_monitor_ingest_queue_capacity 64",
            "discord_monitor_ingest_batch_duration_seconds_count 0",
            r#"discord_monitor_ingest_events_total{kind="MESSAGE_CREATE"} 0"#,
            r#"discord_monitor_ingest_events_total{kind="THREAD_LIST_SYNC"} 0"#,
            r#"discord_monitor_messages_stored_total{outcome="inserted"} 0"#,
            r#"discord_monitor_messages_stored_total{outcome="updated"} 0"#,
            r#"discord_monitor_messages_stored_total{outcome="unchanged"} 0"#,
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }
}
