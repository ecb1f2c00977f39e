//! The service-wide figures every scrape shows, whatever the components: uptime, the build, and
//! the process's memory and CPU against the limit in force (see [`crate::system_stats`]).

use std::sync::Arc;
use std::time::Instant;

use super::{Metrics, MetricsError};
use crate::system_stats::{ProcessFigures, SharedProcessSampler};

/// Name, help text and reading of one gauge computed from the process figures.
type ProcessGauge = (&'static str, &'static str, fn(&ProcessFigures) -> f64);

const PROCESS_GAUGES: [ProcessGauge; 4] = [
    (
        "discord_monitor_process_resident_memory_bytes",
        "Resident memory of this process",
        |f| f.resident_memory_bytes as f64,
    ),
    (
        "discord_monitor_memory_limit_bytes",
        "Memory limit in force: the container's cgroup limit, else processing.memory_limit_mb",
        |f| f.memory_limit_bytes as f64,
    ),
    (
        "discord_monitor_memory_used_ratio",
        "Resident memory divided by the memory limit in force",
        |f| f.memory_used_ratio,
    ),
    (
        "discord_monitor_process_cpu_usage_ratio",
        "CPU used by this process between readings, in cores (1.0 = one full core)",
        |f| f64::from(f.cpu_percent) / 100.0,
    ),
];

/// Registers `discord_monitor_uptime_seconds` (since `started`), `discord_monitor_build_info`
/// (this version in `environment`) and, with a sampler, the process memory and CPU gauges
/// (read at scrape time, at most once a second). Without a sampler (the process figures
/// cannot be read here) the process gauges are left out rather than shown as 0.
pub fn register_service_metrics(
    metrics: &Metrics,
    environment: &str,
    started: Instant,
    sampler: Option<&Arc<SharedProcessSampler>>,
) -> Result<(), MetricsError> {
    metrics.gauge_fn(
        "discord_monitor_uptime_seconds",
        "Seconds since the service started",
        &[],
        move || started.elapsed().as_secs_f64(),
    )?;
    metrics
        .gauge(
            "discord_monitor_build_info",
            "Always 1; the labels describe this build",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("environment", environment),
            ],
        )?
        .set(1.0);
    let Some(sampler) = sampler else {
        return Ok(());
    };
    for (name, help, read) in PROCESS_GAUGES {
        let sampler = Arc::clone(sampler);
        metrics.gauge_fn(name, help, &[], move || {
            sampler.figures().map_or(0.0, |figures| read(&figures))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_build_and_process_figures_exist_from_the_start() {
        let metrics = Metrics::new();
        let sampler = Arc::new(SharedProcessSampler::new(512.0).unwrap());
        register_service_metrics(&metrics, "development", Instant::now(), Some(&sampler)).unwrap();
        let text = metrics.render_prometheus();
        assert!(
            text.contains("# TYPE discord_monitor_uptime_seconds gauge"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#"discord_monitor_build_info{{version="{}",environment="development"}} 1"#,
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        for (name, _, _) in PROCESS_GAUGES {
            assert!(
                text.contains(&format!("# TYPE {name} gauge")),
                "{name}: {text}"
            );
        }
    }
}
