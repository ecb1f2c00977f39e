//! The alert actor's metrics, in one place: deliveries and failures per route, and whether a
//! route's circuit breaker is open. Registered once, with a series for every configured route
//! from the start. Without a registry (tests, the CLI) nothing is counted.

use std::sync::Arc;

use crate::metrics::{CounterFamily, FamilySpec, GaugeFamily, Metrics, MetricsError};

const DELIVERED: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_alerts_delivered_total",
    help: "Alerts delivered, by route",
    label_names: ["route"],
};
const FAILED: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_alert_delivery_failures_total",
    help: "Failed alert delivery attempts (each is retried), by route",
    label_names: ["route"],
};
const BREAKER_OPEN: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_alert_route_breaker_open",
    help: "1 while the route's circuit breaker is open (deliveries paused), else 0",
    label_names: ["route"],
};

#[derive(Clone, Default)]
pub struct AlertMetrics(Option<Handles>);

#[derive(Clone)]
struct Handles {
    delivered: CounterFamily<1>,
    failed: CounterFamily<1>,
    breaker_open: GaugeFamily<1>,
}

impl AlertMetrics {
    /// Registers the alert families in `metrics`, with a series for each of `routes` (their
    /// names).
    pub fn register<'a>(
        metrics: &Arc<Metrics>,
        routes: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<Self, MetricsError> {
        let each = || routes.clone().into_iter().map(|route| [route]);
        Ok(AlertMetrics(Some(Handles {
            delivered: CounterFamily::register(metrics, DELIVERED, each())?,
            failed: CounterFamily::register(metrics, FAILED, each())?,
            breaker_open: GaugeFamily::register(metrics, BREAKER_OPEN, each())?,
        })))
    }

    /// Fails only for a route that was not configured when the metrics were registered and
    /// cannot be registered now.
    pub fn delivered(&self, route: &str) -> Result<(), MetricsError> {
        if let Some(handles) = &self.0 {
            handles.delivered.get([route])?.inc();
        }
        Ok(())
    }

    pub fn failed(&self, route: &str) -> Result<(), MetricsError> {
        if let Some(handles) = &self.0 {
            handles.failed.get([route])?.inc();
        }
        Ok(())
    }

    pub fn breaker_open(&self, route: &str, open: bool) -> Result<(), MetricsError> {
        if let Some(handles) = &self.0 {
            handles
                .breaker_open
                .get([route])?
                .set(f64::from(u8::from(open)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_series_from_the_start() {
        let registry = Arc::new(Metrics::new());
        let metrics = AlertMetrics::register(&registry, ["ops-email", "ops-slack"]).unwrap();
        let text = registry.render_prometheus();
        for route in ["ops-email", "ops-slack"] {
            for series in [
                format!(r#"discord_monitor_alerts_delivered_total{{route="{route}"}} 0"#),
                format!(r#"discord_monitor_alert_delivery_failures_total{{route="{route}"}} 0"#),
                format!(r#"discord_monitor_alert_route_breaker_open{{route="{route}"}} 0"#),
            ] {
                assert!(text.contains(&series), "{series} in {text}");
            }
        }
        metrics.delivered("ops-slack").unwrap();
        metrics.breaker_open("ops-email", true).unwrap();
        let text = registry.render_prometheus();
        assert!(text.contains(r#"discord_monitor_alerts_delivered_total{route="ops-slack"} 1"#));
        assert!(text.contains(r#"discord_monitor_alert_route_breaker_open{route="ops-email"} 1"#));
    }
}
