//! The gateway's metrics, registered once and recorded through handles. Registering again
//! returns the same series, so counters keep counting across actor restarts.

use std::collections::HashMap;
use std::sync::Arc;

use super::dispatch::OTHER_TYPE;
use crate::discord::gateway::GatewayEvent;
use crate::metrics::{Counter, Gauge, Metrics, MetricsError};

const EVENTS: &str = "discord_monitor_gateway_events_total";
const CLOSE_CODES: &str = "discord_monitor_gateway_close_codes_total";
const CLOSE_CODES_HELP: &str = "Gateway connections ended, by close code (`none`: no close frame).";

/// Close codes with a series of their own; anything else is counted as `other`, so a
/// misbehaving server cannot grow the metric without bound.
const KNOWN_CLOSE_CODES: &[u16] = &[
    1000, 1001, 1006, 4000, 4001, 4002, 4003, 4004, 4005, 4007, 4008, 4009, 4010, 4011, 4012, 4013,
    4014,
];

#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    pub(super) connected: Gauge,
    pub(super) heartbeat_latency: Gauge,
    pub(super) reconnects: Counter,
    pub(super) resumes: Counter,
    pub(super) identifies: Counter,
    pub(super) invalid_sessions: Counter,
    pub(super) zombies: Counter,
    pub(super) malformed_frames: Counter,
    pub(super) output_blocked_seconds: Counter,
    events: Arc<HashMap<&'static str, Counter>>,
    close_codes: Arc<HashMap<String, Counter>>,
}

impl GatewayMetrics {
    /// Registers every `discord_monitor_gateway_*` series in `metrics`.
    pub fn register(metrics: &Metrics) -> Result<Self, MetricsError> {
        let mut events = HashMap::new();
        for kind in GatewayEvent::DISPATCH_TYPES.iter().chain([&OTHER_TYPE]) {
            let counter = metrics.counter(
                EVENTS,
                "Gateway dispatches received, by type (`other`: types we ignore).",
                &[("type", kind)],
            )?;
            events.insert(*kind, counter);
        }
        let mut close_codes = HashMap::new();
        let labels = KNOWN_CLOSE_CODES
            .iter()
            .map(u16::to_string)
            .chain(["none".to_owned(), "other".to_owned()]);
        for label in labels {
            let counter = metrics.counter(CLOSE_CODES, CLOSE_CODES_HELP, &[("code", &label)])?;
            close_codes.insert(label, counter);
        }
        Ok(Self {
            connected: metrics.gauge(
                "discord_monitor_gateway_connected",
                "1 while a gateway session is ready (or resumed), else 0.",
                &[],
            )?,
            heartbeat_latency: metrics.gauge(
                "discord_monitor_gateway_heartbeat_latency_seconds",
                "Round trip of the last acknowledged heartbeat.",
                &[],
            )?,
            reconnects: metrics.counter(
                "discord_monitor_gateway_reconnects_total",
                "Gateway connections lost and attempted again.",
                &[],
            )?,
            resumes: metrics.counter(
                "discord_monitor_gateway_resumes_total",
                "RESUMEs sent.",
                &[],
            )?,
            identifies: metrics.counter(
                "discord_monitor_gateway_identifies_total",
                "IDENTIFYs sent (each spends one of the daily session starts).",
                &[],
            )?,
            invalid_sessions: metrics.counter(
                "discord_monitor_gateway_invalid_sessions_total",
                "INVALID_SESSION (op 9) received.",
                &[],
            )?,
            zombies: metrics.counter(
                "discord_monitor_gateway_zombie_total",
                "Connections closed because a heartbeat went unacknowledged.",
                &[],
            )?,
            malformed_frames: metrics.counter(
                "discord_monitor_gateway_malformed_frames_total",
                "Frames or dispatch bodies that did not parse and were skipped.",
                &[],
            )?,
            output_blocked_seconds: metrics.counter(
                "discord_monitor_gateway_output_blocked_seconds_total",
                "Time the gateway reader waited for room in the full event queue.",
                &[],
            )?,
            events: Arc::new(events),
            close_codes: Arc::new(close_codes),
        })
    }

    /// Connections lost and attempted again since start (the ops rules count them as Discord
    /// errors).
    pub fn reconnects_total(&self) -> u64 {
        self.reconnects.get() as u64
    }

    pub(super) fn count_event(&self, type_label: &str) {
        if let Some(counter) = self
            .events
            .get(type_label)
            .or_else(|| self.events.get(OTHER_TYPE))
        {
            counter.inc();
        }
    }

    pub(super) fn count_close(&self, code: Option<u16>) {
        let label = match code {
            None => "none".to_owned(),
            Some(code) if KNOWN_CLOSE_CODES.contains(&code) => code.to_string(),
            Some(_) => "other".to_owned(),
        };
        if let Some(counter) = self.close_codes.get(&label) {
            counter.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_registers_and_counts() {
        let registry = Metrics::new();
        let metrics = GatewayMetrics::register(&registry).unwrap();
        metrics.count_event("MESSAGE_CREATE");
        metrics.count_event("PRESENCE_UPDATE");
        metrics.count_close(Some(4004));
        metrics.count_close(Some(4999));
        metrics.count_close(None);
        let text = registry.render_prometheus();
        assert!(text.contains(r#"discord_monitor_gateway_events_total{type="MESSAGE_CREATE"} 1"#));
        assert!(text.contains(r#"discord_monitor_gateway_events_total{type="other"} 1"#));
        assert!(text.contains(r#"discord_monitor_gateway_close_codes_total{code="4004"} 1"#));
        assert!(text.contains(r#"discord_monitor_gateway_close_codes_total{code="other"} 1"#));
        assert!(text.contains(r#"discord_monitor_gateway_close_codes_total{code="none"} 1"#));
        // A restarted actor registers again and keeps the same series.
        let again = GatewayMetrics::register(&registry).unwrap();
        again.count_event("MESSAGE_CREATE");
        assert!(
            registry
                .render_prometheus()
                .contains(r#"discord_monitor_gateway_events_total{type="MESSAGE_CREATE"} 2"#)
        );
    }
}
