//! Checks of metric and label names against the Prometheus naming conventions, so a bad name
//! fails the first test that registers it instead of a `promtool check metrics` run in CI.

use super::{MetricKind, MetricsError};

/// Every metric of this service starts with this, so dashboards can select them all.
pub const METRIC_PREFIX: &str = "discord_monitor_";

/// Suffixes Prometheus derives from histogram (and summary) families.
const RESERVED_SUFFIXES: [&str; 3] = ["_bucket", "_count", "_sum"];

/// Name parts promtool reads as abbreviated units (`_ms`, `_kb`, ...): spell out the base unit.
const UNIT_ABBREVIATIONS: [&str; 15] = [
    "s", "ms", "us", "ns", "sec", "secs", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// Base units; with an SI prefix (`milliseconds`, `kilobytes`) they are not base units.
const BASE_UNITS: [&str; 10] = [
    "amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds",
    "volts",
];
const SI_PREFIXES: [&str; 20] = [
    "atto", "centi", "deci", "deka", "exa", "femto", "giga", "hecto", "kilo", "mega", "micro",
    "milli", "nano", "peta", "pico", "tera", "yocto", "yotta", "zepto", "zetta",
];
/// Time units other than seconds, which is the base unit for every duration.
const NON_BASE_TIME_UNITS: [&str; 5] = ["minutes", "hours", "days", "weeks", "years"];

const TYPE_WORDS: [&str; 4] = ["counter", "gauge", "histogram", "summary"];

/// Label names Prometheus gives a meaning of its own.
const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];

fn is_snake_case(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn validate_name(name: &str, kind: MetricKind) -> Result<(), MetricsError> {
    let invalid = |reason| {
        Err(MetricsError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if !is_snake_case(name) {
        return invalid("use lowercase snake_case: letters, digits and underscores");
    }
    if !name.starts_with(METRIC_PREFIX) || name.len() == METRIC_PREFIX.len() {
        return invalid("names start with `discord_monitor_`");
    }
    match (kind, name.ends_with("_total")) {
        (MetricKind::Counter, false) => return invalid("counter names end in `_total`"),
        (MetricKind::Gauge | MetricKind::Histogram, true) => {
            return invalid("only counter names end in `_total`");
        }
        _ => {}
    }
    if RESERVED_SUFFIXES
        .iter()
        .any(|suffix| name.ends_with(suffix))
    {
        return invalid("`_bucket`, `_count` and `_sum` are reserved for histogram series");
    }
    for part in name[METRIC_PREFIX.len()..].split('_') {
        if UNIT_ABBREVIATIONS.contains(&part) {
            return invalid("spell units out in base units (`_seconds`, `_bytes`)");
        }
        let prefixed_unit = SI_PREFIXES.iter().any(|prefix| {
            part.strip_prefix(prefix)
                .is_some_and(|unit| BASE_UNITS.contains(&unit))
        });
        if prefixed_unit || NON_BASE_TIME_UNITS.contains(&part) {
            return invalid("use base units (`_seconds`, `_bytes`), not scaled ones");
        }
        if TYPE_WORDS.contains(&part) {
            return invalid("the metric type does not belong in its name");
        }
    }
    Ok(())
}

pub(crate) fn validate_label(name: &str, label: &str) -> Result<(), MetricsError> {
    let invalid = |reason| {
        Err(MetricsError::InvalidLabel {
            name: name.to_owned(),
            label: label.to_owned(),
            reason,
        })
    };
    if !is_snake_case(label) {
        return invalid("use lowercase snake_case: letters, digits and underscores");
    }
    if label.starts_with("__") {
        return invalid("names starting with `__` are reserved for Prometheus");
    }
    if RESERVED_LABELS.contains(&label) {
        return invalid("`le` and `quantile` are reserved for histograms and summaries");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str, kind: MetricKind) -> &'static str {
        match validate_name(name, kind) {
            Err(MetricsError::InvalidName { reason, .. }) => reason,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn accepts_conventional_names() {
        for (name, kind) in [
            ("discord_monitor_messages_stored_total", MetricKind::Counter),
            (
                "discord_monitor_process_resident_memory_bytes",
                MetricKind::Gauge,
            ),
            (
                "discord_monitor_db_write_duration_seconds",
                MetricKind::Histogram,
            ),
            ("discord_monitor_component_up", MetricKind::Gauge),
            (
                "discord_monitor_llm_cost_dollars_total",
                MetricKind::Counter,
            ),
        ] {
            assert_eq!(validate_name(name, kind), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_names_promtool_would_warn_about() {
        assert!(reason("discord_monitor_messages", MetricKind::Counter).contains("_total"));
        assert!(reason("discord_monitor_queue_total", MetricKind::Gauge).contains("_total"));
        assert!(reason("discord_monitor_latency_ms", MetricKind::Histogram).contains("units"));
        assert!(
            reason(
                "discord_monitor_latency_milliseconds",
                MetricKind::Histogram
            )
            .contains("base units")
        );
        assert!(
            reason("discord_monitor_memory_megabytes", MetricKind::Gauge).contains("base units")
        );
        assert!(reason("discord_monitor_uptime_hours", MetricKind::Gauge).contains("base units"));
        assert!(reason("discord_monitor_queueDepth", MetricKind::Gauge).contains("snake_case"));
        assert!(reason("discord_monitor_a:b", MetricKind::Gauge).contains("snake_case"));
        assert!(reason("messages_total", MetricKind::Counter).contains("discord_monitor_"));
        assert!(reason("discord_monitor_", MetricKind::Gauge).contains("discord_monitor_"));
        assert!(reason("discord_monitor_batch_count", MetricKind::Gauge).contains("reserved"));
        assert!(
            reason("discord_monitor_errors_counter_total", MetricKind::Counter).contains("type")
        );
    }

    #[test]
    fn checks_label_names() {
        assert_eq!(validate_label("m", "component"), Ok(()));
        for label in ["le", "quantile", "__name", "Component", "9lives", ""] {
            assert!(validate_label("m", label).is_err(), "{label}");
        }
    }
}
