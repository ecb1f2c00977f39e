//! The REST side's metrics (`discord_monitor_rest_*`), registered once and recorded through
//! handles; the ops rules read [`RateLimiterMetrics::errors_total`] from them.
//!
//! `discord_monitor_rest_requests_total{route,status}` has a series for every route of
//! [`routes::ALL`] with status `200` from the start. Other statuses appear on first use:
//! Discord may answer any code, and a series for each route and each code it documents would
//! be mostly zeros. Every 429 scope has its series from the start.

use std::sync::Arc;
use std::time::Duration;

use crate::discord::rest::{RateLimitScope, Route, routes};
use crate::metrics::{CounterFamily, FamilySpec, Gauge, Histogram, Metrics, MetricsError};

const REQUESTS: FamilySpec<2> = FamilySpec {
    name: "discord_monitor_rest_requests_total",
    help: "Discord REST requests by route template and status (error: no answer)",
    label_names: ["route", "status"],
};

const RATE_LIMITED: FamilySpec<1> = FamilySpec {
    name: "discord_monitor_rest_rate_limited_total",
    help: "429 answers from Discord by scope (user, global, shared, cloudflare)",
    label_names: ["scope"],
};

/// The `status` label of a request that got no answer.
const NO_ANSWER: &str = "error";

/// Seconds a request may wait for its permit, from nothing to a long 429 pause.
const WAIT_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Cheap to clone; clones (and a restarted actor) share the series.
#[derive(Debug, Clone)]
pub struct RateLimiterMetrics {
    requests: CounterFamily<2>,
    rate_limited: CounterFamily<1>,
    wait: Histogram,
    buckets: Gauge,
    invalid_requests: Gauge,
}

impl RateLimiterMetrics {
    /// Registers every `discord_monitor_rest_*` family in `metrics`.
    pub fn register(metrics: &Arc<Metrics>) -> Result<Self, MetricsError> {
        let route_labels: Vec<String> = routes::ALL.iter().map(Route::label).collect();
        Ok(Self {
            requests: CounterFamily::register(
                metrics,
                REQUESTS,
                route_labels.iter().map(|route| [route.as_str(), "200"]),
            )?,
            rate_limited: CounterFamily::register(
                metrics,
                RATE_LIMITED,
                RateLimitScope::ALL.map(|scope| [scope.as_str()]),
            )?,
            wait: metrics.histogram(
                "discord_monitor_rest_rate_limit_wait_seconds",
                "Time REST requests waited for a rate-limit permit",
                WAIT_BUCKETS_SECONDS,
                &[],
            )?,
            buckets: metrics.gauge(
                "discord_monitor_rest_rate_limit_buckets",
                "Rate-limit buckets the REST limiter currently tracks",
                &[],
            )?,
            invalid_requests: metrics.gauge(
                "discord_monitor_rest_invalid_requests",
                "401/403/429 answers in the last ten minutes (Discord bans at 10000)",
                &[],
            )?,
        })
    }

    /// One request on `route` (its label) answered with `status`, or not answered (`None`).
    /// Fails only when a status seen for the first time cannot be registered.
    pub(super) fn count_request(
        &self,
        route: &str,
        status: Option<u16>,
    ) -> Result<(), MetricsError> {
        let status = status.map_or_else(|| NO_ANSWER.to_owned(), |status| status.to_string());
        self.requests.get([route, &status])?.inc();
        Ok(())
    }

    pub(super) fn count_rate_limited(&self, scope: RateLimitScope) -> Result<(), MetricsError> {
        self.rate_limited.get([scope.as_str()])?.inc();
        Ok(())
    }

    pub(super) fn observe_wait(&self, waited: Duration) {
        self.wait.observe_duration(waited);
    }

    pub(super) fn set_figures(&self, buckets: usize, invalid_requests: u32) {
        self.buckets.set(buckets as f64);
        self.invalid_requests.set(f64::from(invalid_requests));
    }

    /// Requests Discord answered with 4xx/5xx (429s included) or not at all, since start.
    pub fn errors_total(&self) -> u64 {
        self.requests
            .series()
            .iter()
            .filter(|([_, status], _)| {
                status == NO_ANSWER || status.parse::<u16>().is_ok_and(|code| code >= 400)
            })
            .map(|(_, counter)| counter.get() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_exist_at_zero_from_the_start() {
        let registry = Arc::new(Metrics::new());
        RateLimiterMetrics::register(&registry).unwrap();
        let text = registry.render_prometheus();
        for series in [
            r#"discord_monitor_rest_requests_total{route="GET /channels/{channel_id}/messages",status="200"} 0"#,
            r#"discord_monitor_rest_requests_total{route="GET /gateway/bot",status="200"} 0"#,
            r#"discord_monitor_rest_rate_limited_total{scope="cloudflare"} 0"#,
            r#"discord_monitor_rest_rate_limited_total{scope="user"} 0"#,
            "discord_monitor_rest_rate_limit_wait_seconds_count 0",
            "discord_monitor_rest_rate_limit_buckets 0",
            "discord_monitor_rest_invalid_requests 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
    }

    #[test]
    fn errors_count_failed_and_unanswered_requests() {
        let registry = Arc::new(Metrics::new());
        let metrics = RateLimiterMetrics::register(&registry).unwrap();
        let route = routes::CHANNEL_MESSAGES.label();
        for (status, times) in [(Some(200), 50), (Some(429), 3), (Some(502), 2), (None, 1)] {
            for _ in 0..times {
                metrics.count_request(&route, status).unwrap();
            }
        }
        assert_eq!(metrics.errors_total(), 6);
        let text = registry.render_prometheus();
        assert!(text.contains(&format!(
            r#"discord_monitor_rest_requests_total{{route="{route}",status="502"}} 2"#
        )));
        assert!(text.contains(&format!(
            r#"discord_monitor_rest_requests_total{{route="{route}",status="error"}} 1"#
        )));
    }
}
