//! Rendering a registry snapshot: Prometheus text exposition 0.0.4 (what `promtool check
//! metrics` and Prometheus scrapes read) and the JSON form for `Accept: application/json`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{HistogramSnapshot, MetricKind};

pub(crate) struct FamilySnapshot {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: MetricKind,
    pub(crate) label_names: Vec<String>,
    /// Label values in `label_names` order, sorted.
    pub(crate) samples: Vec<(Vec<String>, SampleValue)>,
}

pub(crate) enum SampleValue {
    Number(f64),
    Histogram(HistogramSnapshot),
}

/// Which body `/metrics` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    Prometheus,
    Json,
}

impl ExpositionFormat {
    /// JSON only when the `Accept` header prefers `application/json` over the text formats;
    /// everything else (Prometheus' own scrapes, `*/*`, no header) gets Prometheus text.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return ExpositionFormat::Prometheus;
        };
        let mut json_quality = 0.0_f32;
        let mut text_quality = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media_type.as_str() {
                "application/json" => json_quality = json_quality.max(quality),
                "text/plain" | "text/*" | "application/openmetrics-text" => {
                    text_quality = text_quality.max(quality);
                }
                _ => {}
            }
        }
        if json_quality > 0.0 && json_quality > text_quality {
            ExpositionFormat::Json
        } else {
            ExpositionFormat::Prometheus
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            ExpositionFormat::Json => "application/json",
        }
    }
}

/// Go's `ParseFloat` spelling of special values, which Prometheus expects.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `{a="x",b="y"}` plus an optional `le`, or nothing when there are no labels at all.
fn label_set(names: &[String], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

pub(crate) fn prometheus_text(families: &[FamilySnapshot]) -> String {
    let mut out = String::new();
    for family in families {
        let name = &family.name;
        // Writing into a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        for (values, sample) in &family.samples {
            match sample {
                SampleValue::Number(value) => {
                    let labels = label_set(&family.label_names, values, None);
                    let _ = writeln!(out, "{name}{labels} {}", format_value(*value));
                }
                SampleValue::Histogram(histogram) => {
                    let buckets = histogram.bounds.iter().zip(&histogram.cumulative);
                    for (bound, count) in buckets {
                        let labels =
                            label_set(&family.label_names, values, Some(&format_value(*bound)));
                        let _ = writeln!(out, "{name}_bucket{labels} {count}");
                    }
                    let labels = label_set(&family.label_names, values, Some("+Inf"));
                    let _ = writeln!(out, "{name}_bucket{labels} {}", histogram.count);
                    let labels = label_set(&family.label_names, values, None);
                    let _ = writeln!(out, "{name}_sum{labels} {}", format_value(histogram.sum));
                    let _ = writeln!(out, "{name}_count{labels} {}", histogram.count);
                }
            }
        }
    }
    out
}

/// Whole numbers as JSON integers (counts read naturally), others as floats, NaN and infinities
/// (which JSON cannot hold) as null.
fn json_number(value: f64) -> Value {
    /// 2^53: above it not every integer is representable, so keep the float.
    const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() <= MAX_EXACT_INTEGER {
        json!(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

pub(crate) fn json(families: &[FamilySnapshot]) -> Value {
    let mut metrics = Map::new();
    for family in families {
        let values: Vec<Value> = family
            .samples
            .iter()
            .map(|(values, sample)| {
                let labels: Map<String, Value> = family
                    .label_names
                    .iter()
                    .zip(values)
                    .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
                    .collect();
                match sample {
                    SampleValue::Number(value) => {
                        json!({ "labels": labels, "value": json_number(*value) })
                    }
                    SampleValue::Histogram(histogram) => {
                        let mut buckets: Map<String, Value> = histogram
                            .bounds
                            .iter()
                            .zip(&histogram.cumulative)
                            .map(|(bound, count)| (format_value(*bound), json!(count)))
                            .collect();
                        buckets.insert("+Inf".to_owned(), json!(histogram.count));
                        json!({
                            "labels": labels,
                            "count": histogram.count,
                            "sum": json_number(histogram.sum),
                            "buckets": buckets,
                        })
                    }
                }
            })
            .collect();
        metrics.insert(
            family.name.clone(),
            json!({ "type": family.kind.as_str(), "help": family.help, "values": values }),
        );
    }
    json!({ "metrics": metrics })
}
