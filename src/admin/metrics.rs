//! The admin API's own metrics: requests by route pattern and status, and their latency.
//! Registered once when the server's state is built, with a series for every route of
//! [`ROUTES`] (status `200`; `404` for requests matching no route) from the start. Other
//! statuses appear on first use: which of the possible ones a route answers depends on the
//! callers, and a series for each would be mostly zeros.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::openapi::ROUTES;
use crate::metrics::{CounterFamily, FamilySpec, HistogramFamily, Metrics, MetricsError};

/// The route label of a request that matched no route.
pub(super) const UNMATCHED: &str = "unmatched";

const REQUESTS: FamilySpec<2> = FamilySpec {
    name: "discord_monitor_http_requests_total",
    help: "Admin API requests by route pattern and status code",
    label_names: ["route", "status"],
};
const DURATION: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_http_request_duration_seconds",
    help: "Admin API request latency by route pattern",
    label_names: ["route"],
};

/// Seconds; admin requests are small, so the interesting range is 1 ms .. 5 s.
const HTTP_LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Cheap to clone; shared by every worker of the server.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: CounterFamily<2>,
    duration: HistogramFamily<1>,
}

impl HttpMetrics {
    pub fn register(metrics: &Arc<Metrics>) -> Result<Self, MetricsError> {
        let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
        let known_requests = paths
            .iter()
            .map(|path| [*path, "200"])
            .chain([[UNMATCHED, "404"]]);
        Ok(Self {
            requests: CounterFamily::register(metrics, REQUESTS, known_requests)?,
            duration: HistogramFamily::register(
                metrics,
                DURATION,
                HTTP_LATENCY_BUCKETS_SECONDS,
                paths.iter().map(|path| [*path]).chain([[UNMATCHED]]),
            )?,
        })
    }

    /// Counts one request and its latency, per route pattern and status (patterns, not raw
    /// paths, so the label sets stay bounded). Fails only when a status (or route) seen for
    /// the first time cannot be registered.
    pub(super) fn record(
        &self,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) -> Result<(), MetricsError> {
        self.requests.get([route, &status.to_string()])?.inc();
        self.duration.get([route])?.observe_duration(elapsed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_series_from_the_start() {
        let registry = Arc::new(Metrics::new());
        let metrics = HttpMetrics::register(&registry).unwrap();
        let text = registry.render_prometheus();
        for (_, path) in ROUTES {
            assert!(
                text.contains(&format!(
                    r#"discord_monitor_http_requests_total{{route="{path}",status="200"}} 0"#
                )),
                "{path}: {text}"
            );
            assert!(
                text.contains(&format!(
                    r#"discord_monitor_http_request_duration_seconds_count{{route="{path}"}} 0"#
                )),
                "{path}: {text}"
            );
        }
        assert!(
            text.contains(
                r#"discord_monitor_http_requests_total{route="unmatched",status="404"} 0"#
            )
        );
        metrics
            .record("/status", 401, Duration::from_millis(3))
            .unwrap();
        assert!(
            registry
                .render_prometheus()
                .contains(r#"discord_monitor_http_requests_total{route="/status",status="401"} 1"#)
        );
    }
}
