//! Registry behaviour and the exact rendered formats.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::*;

const MESSAGES: &str = "discord_monitor_messages_stored_total";
const MESSAGES_HELP: &str = "Messages written to the database.";

fn sample_registry() -> Metrics {
    let metrics = Metrics::new();
    let stored = |channel, kind| {
        metrics
            .counter(
                MESSAGES,
                MESSAGES_HELP,
                &[("channel", channel), ("kind", kind)],
            )
            .unwrap()
    };
    stored("general", "create").inc_by(3);
    stored("alerts", "create").inc();
    stored("general", "edit").inc();
    metrics
        .gauge(
            "discord_monitor_queue_depth",
            "Messages waiting to be processed.",
            &[],
        )
        .unwrap()
        .set(17.0);
    let latency = metrics
        .histogram(
            "discord_monitor_db_write_duration_seconds",
            "Time to write one batch.",
            &[0.01, 0.1, 1.0],
            &[("table", "messages")],
        )
        .unwrap();
    for seconds in [0.004, 0.05, 0.05, 0.5, 3.0] {
        latency.observe(seconds);
    }
    metrics
}

#[test]
fn renders_the_exact_prometheus_text() {
    let expected = "\
# HELP discord_monitor_db_write_duration_seconds Time to write one batch.
# TYPE discord_monitor_db_write_duration_seconds histogram
discord_monitor_db_write_duration_seconds_bucket{table=\"messages\",le=\"0.01\"} 1
discord_monitor_db_write_duration_seconds_bucket{table=\"messages\",le=\"0.1\"} 3
discord_monitor_db_write_duration_seconds_bucket{table=\"messages\",le=\"1\"} 4
discord_monitor_db_write_duration_seconds_bucket{table=\"messages\",le=\"+Inf\"} 5
discord_monitor_db_write_duration_seconds_sum{table=\"messages\"} 3.604
discord_monitor_db_write_duration_seconds_count{table=\"messages\"} 5
# HELP discord_monitor_messages_stored_total Messages written to the database.
# TYPE discord_monitor_messages_stored_total counter
discord_monitor_messages_stored_total{channel=\"alerts\",kind=\"create\"} 1
discord_monitor_messages_stored_total{channel=\"general\",kind=\"create\"} 3
discord_monitor_messages_stored_total{channel=\"general\",kind=\"edit\"} 1
# HELP discord_monitor_queue_depth Messages waiting to be processed.
# TYPE discord_monitor_queue_depth gauge
discord_monitor_queue_depth 17
";
    assert_eq!(sample_registry().render_prometheus(), expected);
}

#[test]
fn renders_json_values_per_label_set() {
    let rendered = sample_registry().render_json();
    assert_eq!(
        rendered["metrics"][MESSAGES],
        json!({
            "type": "counter",
            "help": MESSAGES_HELP,
            "values": [
                { "labels": { "channel": "alerts", "kind": "create" }, "value": 1 },
                { "labels": { "channel": "general", "kind": "create" }, "value": 3 },
                { "labels": { "channel": "general", "kind": "edit" }, "value": 1 },
            ],
        })
    );
    assert_eq!(
        rendered["metrics"]["discord_monitor_queue_depth"]["values"],
        json!([{ "labels": {}, "value": 17 }])
    );
    assert_eq!(
        rendered["metrics"]["discord_monitor_db_write_duration_seconds"]["values"],
        json!([{
            "labels": { "table": "messages" },
            "count": 5,
            "sum": 3.604,
            "buckets": { "0.01": 1, "0.1": 3, "1": 4, "+Inf": 5 },
        }])
    );
    let keys: Vec<_> = rendered["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "discord_monitor_db_write_duration_seconds",
            "discord_monitor_messages_stored_total",
            "discord_monitor_queue_depth",
        ]
    );
    let body = sample_registry().render(ExpositionFormat::Json);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        rendered
    );
}

#[test]
fn help_and_label_values_are_escaped() {
    let metrics = Metrics::new();
    metrics
        .gauge(
            "discord_monitor_component_up",
            "1 when up.\nPath C:\\data",
            &[("component", "db \"main\"\\\nline2")],
        )
        .unwrap()
        .set(1.0);
    assert_eq!(
        metrics.render_prometheus(),
        "# HELP discord_monitor_component_up 1 when up.\\nPath C:\\\\data\n\
         # TYPE discord_monitor_component_up gauge\n\
         discord_monitor_component_up{component=\"db \\\"main\\\"\\\\\\nline2\"} 1\n"
    );
}

#[test]
fn special_values_use_prometheus_spelling() {
    let metrics = Metrics::new();
    for (label, value) in [
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
        ("neg", f64::NEG_INFINITY),
        ("frac", 0.25),
    ] {
        metrics
            .gauge("discord_monitor_ratio", "A ratio.", &[("case", label)])
            .unwrap()
            .set(value);
    }
    let text = metrics.render_prometheus();
    assert!(
        text.contains("discord_monitor_ratio{case=\"nan\"} NaN\n"),
        "{text}"
    );
    assert!(
        text.contains("discord_monitor_ratio{case=\"inf\"} +Inf\n"),
        "{text}"
    );
    assert!(
        text.contains("discord_monitor_ratio{case=\"neg\"} -Inf\n"),
        "{text}"
    );
    assert!(
        text.contains("discord_monitor_ratio{case=\"frac\"} 0.25\n"),
        "{text}"
    );
    let values = &metrics.render_json()["metrics"]["discord_monitor_ratio"]["values"];
    assert_eq!(values[0]["value"], json!(0.25));
    assert_eq!(values[2]["value"], serde_json::Value::Null);
}

#[test]
fn registering_a_series_again_returns_the_same_handle() {
    let metrics = Metrics::new();
    let first = metrics
        .counter(
            MESSAGES,
            MESSAGES_HELP,
            &[("channel", "a"), ("kind", "create")],
        )
        .unwrap();
    // Label order does not matter, the values do.
    let again = metrics
        .counter(
            MESSAGES,
            MESSAGES_HELP,
            &[("kind", "create"), ("channel", "a")],
        )
        .unwrap();
    let other = metrics
        .counter(
            MESSAGES,
            MESSAGES_HELP,
            &[("channel", "b"), ("kind", "create")],
        )
        .unwrap();
    first.inc();
    again.inc();
    other.inc();
    assert_eq!(first.get(), 2.0);
    assert_eq!(other.get(), 1.0);
    let text = metrics.render_prometheus();
    assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
}

#[test]
fn conflicting_registrations_are_refused() {
    let metrics = Metrics::new();
    metrics
        .counter(MESSAGES, MESSAGES_HELP, &[("channel", "a")])
        .unwrap();
    assert!(matches!(
        metrics.counter(MESSAGES, "Other help.", &[("channel", "a")]),
        Err(MetricsError::HelpMismatch { .. })
    ));
    assert!(matches!(
        metrics.counter(MESSAGES, MESSAGES_HELP, &[("guild", "a")]),
        Err(MetricsError::LabelsMismatch { .. })
    ));
    assert!(matches!(
        metrics.counter(
            MESSAGES,
            MESSAGES_HELP,
            &[("channel", "a"), ("kind", "edit")]
        ),
        Err(MetricsError::LabelsMismatch { .. })
    ));
    assert!(matches!(
        metrics.counter(
            MESSAGES,
            MESSAGES_HELP,
            &[("channel", "a"), ("channel", "b")]
        ),
        Err(MetricsError::InvalidLabel { .. })
    ));
    metrics
        .gauge("discord_monitor_queue_depth", "Depth.", &[])
        .unwrap();
    assert_eq!(
        metrics
            .histogram("discord_monitor_queue_depth", "Depth.", &[1.0], &[])
            .err(),
        Some(MetricsError::KindMismatch {
            name: "discord_monitor_queue_depth".to_owned(),
            registered: MetricKind::Gauge,
            requested: MetricKind::Histogram,
        })
    );
    assert!(matches!(
        metrics.gauge_fn("discord_monitor_queue_depth", "Depth.", &[], || 1.0),
        Err(MetricsError::SeriesConflict { .. })
    ));
    assert!(matches!(
        metrics.gauge("discord_monitor_queue_depth", "", &[]),
        Err(MetricsError::MissingHelp { .. })
    ));
    assert!(matches!(
        metrics.gauge("discord_monitor_queue_depth_ms", "Depth.", &[]),
        Err(MetricsError::InvalidName { .. })
    ));
}

#[test]
fn histogram_buckets_are_checked() {
    let metrics = Metrics::new();
    let name = "discord_monitor_llm_call_duration_seconds";
    for buckets in [
        &[1.0, 1.0][..],
        &[2.0, 1.0],
        &[f64::NAN],
        &[1.0, f64::INFINITY],
    ] {
        assert!(
            matches!(
                metrics.histogram(name, "Calls.", buckets, &[]),
                Err(MetricsError::InvalidBuckets { .. })
            ),
            "{buckets:?}"
        );
    }
    metrics
        .histogram(
            name,
            "Calls.",
            LATENCY_BUCKETS_SECONDS,
            &[("provider", "a")],
        )
        .unwrap();
    assert!(matches!(
        metrics.histogram(name, "Calls.", &[1.0], &[("provider", "b")]),
        Err(MetricsError::BucketsMismatch { .. })
    ));
    let histogram = metrics
        .histogram(
            name,
            "Calls.",
            LATENCY_BUCKETS_SECONDS,
            &[("provider", "b")],
        )
        .unwrap();
    histogram.observe_duration(Duration::from_millis(30));
    assert_eq!(histogram.snapshot().cumulative[..4], [0, 0, 0, 1]);
}

#[test]
fn computed_values_are_read_at_render_time() {
    let metrics = Metrics::new();
    let resident = Arc::new(AtomicU64::new(1_000));
    let source = Arc::clone(&resident);
    metrics
        .gauge_fn(
            "discord_monitor_process_resident_memory_bytes",
            "Resident memory of the process.",
            &[],
            move || source.load(Ordering::Relaxed) as f64,
        )
        .unwrap();
    metrics
        .counter_fn(
            "discord_monitor_log_write_failures_total",
            "Log lines that could not be written.",
            &[],
            || 2.0,
        )
        .unwrap();
    assert!(
        metrics
            .render_prometheus()
            .contains("discord_monitor_process_resident_memory_bytes 1000\n")
    );
    resident.store(2_048, Ordering::Relaxed);
    let text = metrics.render_prometheus();
    assert!(
        text.contains("discord_monitor_process_resident_memory_bytes 2048\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE discord_monitor_log_write_failures_total counter\n"),
        "{text}"
    );

    // Registering again (a restarted component) replaces the function.
    metrics
        .gauge_fn(
            "discord_monitor_process_resident_memory_bytes",
            "Resident memory of the process.",
            &[],
            || 7.0,
        )
        .unwrap();
    assert!(
        metrics
            .render_prometheus()
            .contains("discord_monitor_process_resident_memory_bytes 7\n")
    );
}

#[test]
fn a_value_function_may_use_the_registry() {
    let metrics = Arc::new(Metrics::new());
    let weak = Arc::downgrade(&metrics);
    metrics
        .gauge_fn(
            "discord_monitor_renders_seen",
            "Renders so far.",
            &[],
            move || {
                let Some(metrics) = weak.upgrade() else {
                    return 0.0;
                };
                // Would deadlock if value functions ran under the registry lock.
                metrics
                    .counter("discord_monitor_renders_total", "Renders.", &[])
                    .map_or(0.0, |renders| {
                        renders.inc();
                        renders.get()
                    })
            },
        )
        .unwrap();
    assert!(
        metrics
            .render_prometheus()
            .contains("discord_monitor_renders_seen 1\n")
    );
    let text = metrics.render_prometheus();
    assert!(text.contains("discord_monitor_renders_seen 2\n"), "{text}");
    // Families are read in name order, after the gauge function counted this render.
    assert!(text.contains("discord_monitor_renders_total 2\n"), "{text}");
}

#[test]
fn accept_header_picks_the_format() {
    let cases = [
        (None, ExpositionFormat::Prometheus),
        (Some("*/*"), ExpositionFormat::Prometheus),
        (Some("application/json"), ExpositionFormat::Json),
        (
            Some("Application/JSON; charset=utf-8"),
            ExpositionFormat::Json,
        ),
        (Some("application/json, */*;q=0.5"), ExpositionFormat::Json),
        (
            Some("text/plain;version=0.0.4;q=0.9, application/json;q=0.5"),
            ExpositionFormat::Prometheus,
        ),
        (Some("application/json;q=0"), ExpositionFormat::Prometheus),
        (
            Some(
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
            ),
            ExpositionFormat::Prometheus,
        ),
    ];
    for (accept, expected) in cases {
        assert_eq!(
            ExpositionFormat::from_accept(accept),
            expected,
            "{accept:?}"
        );
    }
    assert_eq!(
        ExpositionFormat::Prometheus.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(ExpositionFormat::Json.content_type(), "application/json");
}

/// Feeds a rendered registry to `promtool check metrics`, which also lints names; skipped with
/// a note when promtool (Debian package `prometheus`) is not installed.
#[test]
fn promtool_accepts_the_rendered_text() {
    let metrics = sample_registry();
    metrics
        .gauge_fn(
            "discord_monitor_uptime_seconds",
            "Seconds since the process started.",
            &[],
            || 12.5,
        )
        .unwrap();
    metrics
        .gauge(
            "discord_monitor_component_up",
            "1 when the component runs, 0 when it failed.",
            &[("component", "db \"x\"\\\n")],
        )
        .unwrap()
        .set(1.0);
    let text = metrics.render_prometheus();

    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!(
            "promtool not installed: skipping `promtool check metrics` (apt-get install prometheus)"
        );
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "promtool failed:\n{stdout}{stderr}\n---\n{text}"
    );
    assert!(
        stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool warned:\n{stdout}{stderr}\n---\n{text}"
    );
}
