//! Backfill's metrics, registered once and recorded through handles: passes, messages
//! fetched, and how far completeness may lag (read from the shared status at each scrape).

use std::sync::Arc;

use super::status::SharedBackfillStatus;
use crate::metrics::{Counter, Metrics, MetricsError};

/// Cheap to clone; clones (and a restarted actor) share the series.
#[derive(Debug, Clone)]
pub struct BackfillMetrics {
    passes: Counter,
    messages: Counter,
}

impl BackfillMetrics {
    /// Registers every `discord_monitor_backfill_*` family in `metrics`; the gauges read
    /// `status`, which the actor writes.
    pub fn register(
        metrics: &Arc<Metrics>,
        status: &SharedBackfillStatus,
    ) -> Result<Self, MetricsError> {
        // The age of the newest finished pass (everything older than that pass's start is known
        // to be stored), and how many channels it covered.
        let age = Arc::clone(status);
        metrics.gauge_fn(
            "discord_monitor_backfill_last_pass_age_seconds",
            "Seconds since the last finished backfill pass started (-1 before the first)",
            &[],
            move || {
                age.lock()
                    .ok()
                    .and_then(|status| status.last_pass.as_ref().map(|pass| pass.started_at))
                    .map_or(-1.0, |started| {
                        (chrono::Utc::now() - started).num_milliseconds() as f64 / 1000.0
                    })
            },
        )?;
        let channels = Arc::clone(status);
        metrics.gauge_fn(
            "discord_monitor_backfill_channels",
            "Channels the last backfill pass covered",
            &[],
            move || {
                channels
                    .lock()
                    .ok()
                    .and_then(|status| status.last_pass.as_ref().map(|pass| pass.channels_total))
                    .unwrap_or(0) as f64
            },
        )?;
        Ok(Self {
            passes: metrics.counter(
                "discord_monitor_backfill_passes_total",
                "Backfill passes finished (or ended early)",
                &[],
            )?,
            messages: metrics.counter(
                "discord_monitor_backfill_messages_total",
                "Messages fetched by backfill",
                &[],
            )?,
        })
    }

    pub(super) fn count_pass(&self) {
        self.passes.inc();
    }

    pub(super) fn count_messages(&self, count: u64) {
        self.messages.inc_by(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_exist_from_the_start() {
        let registry = Arc::new(Metrics::new());
        BackfillMetrics::register(&registry, &SharedBackfillStatus::default()).unwrap();
        let text = registry.render_prometheus();
        for series in [
            "discord_monitor_backfill_passes_total 0",
            "discord_monitor_backfill_messages_total 0",
            "discord_monitor_backfill_last_pass_age_seconds -1",
            "discord_monitor_backfill_channels 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }
}
