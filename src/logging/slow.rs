//! Slow-operation lines under the `performance` logger, which the deployment guide's
//! `grep "performance" logs/discord_monitor.jsonl | jq '.message'` reads.

use std::time::Duration;

/// Logger name of slow-operation lines.
pub const PERFORMANCE_LOGGER: &str = "performance";

/// Logs a WARNING when `elapsed` exceeds `threshold` (`monitoring.slow_operation_threshold_ms`);
/// returns whether it did. The caller's logger context is kept, its `logger` name replaced.
pub fn log_if_slow(
    logger: &slog::Logger,
    operation: &str,
    elapsed: Duration,
    threshold: Duration,
) -> bool {
    if elapsed <= threshold {
        return false;
    }
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let threshold_ms = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX);
    slog::warn!(
        logger,
        "Slow operation: {} took {} ms", operation, duration_ms;
        "logger" => PERFORMANCE_LOGGER,
        "operation" => operation,
        "duration_ms" => duration_ms,
        "threshold_ms" => threshold_ms,
    );
    true
}
