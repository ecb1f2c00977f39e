//! The alert actor's metrics, in one place: deliveries and failures per route, and whether a
//! route's circuit breaker is open. Without a registry (tests, the CLI) nothing is counted.

use std::sync::Arc;

use crate::metrics::Metrics;

const DELIVERED: &str = "discord_monitor_alerts_delivered_total";
const FAILED: &str = "discord_monitor_alert_delivery_failures_total";
const BREAKER_OPEN: &str = "discord_monitor_alert_route_breaker_open";

#[derive(Clone, Default)]
pub struct AlertMetrics(Option<Arc<Metrics>>);

impl AlertMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        AlertMetrics(Some(metrics))
    }

    pub fn delivered(&self, route: &str) {
        if let Some(metrics) = &self.0
            && let Ok(counter) =
                metrics.counter(DELIVERED, "Alerts delivered, by route", &[("route", route)])
        {
            counter.inc();
        }
    }

    pub fn failed(&self, route: &str) {
        if let Some(metrics) = &self.0
            && let Ok(counter) = metrics.counter(
                FAILED,
                "Failed alert delivery attempts (each is retried), by route",
                &[("route", route)],
            )
        {
            counter.inc();
        }
    }

    pub fn breaker_open(&self, route: &str, open: bool) {
        if let Some(metrics) = &self.0
            && let Ok(gauge) = metrics.gauge(
                BREAKER_OPEN,
                "1 while the route's circuit breaker is open (deliveries paused), else 0",
                &[("route", route)],
            )
        {
            gauge.set(f64::from(u8::from(open)));
        }
    }
}
