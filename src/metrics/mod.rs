//! Metrics: a small registry shared as `Arc<Metrics>` (handed to components through their
//! constructors) and rendered by the admin API's `/metrics` route, as Prometheus text
//! exposition 0.0.4 or as JSON `{"metrics": {..}}`.
//!
//! A metric family is a name (prefixed `discord_monitor_`, counters ending in `_total`, base
//! units `_seconds` / `_bytes`), a help text, a type and a fixed set of label names; each label
//! value combination is one series. Registering returns a handle ([`Counter`], [`Gauge`],
//! [`Histogram`]) that records without touching the registry; registering the same series
//! again returns the same handle, so a restarted actor keeps counting where it stopped.
//! Values that live elsewhere (process memory from sysinfo, uptime, component status) are
//! published with [`Metrics::gauge_fn`] / [`Metrics::counter_fn`], computed at render time.
//!
//! Each component keeps its handles in a typed struct of its own (its `metrics.rs`),
//! registered once when the service builds it, so its families are scraped (at 0) before
//! their first event and a registration error stops the start instead of going unnoticed.
//! Labelled families are [`LabeledFamily`]s: the label values known then are registered up front, any
//! other on first use. The service-wide figures are in [`register_service_metrics`]; each
//! supervised component's up/restart series are registered by the supervisor.

mod error;
mod family;
mod name;
mod render;
mod service;
mod values;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

pub use error::MetricsError;
pub use family::{
    CounterFamily, FamilySpec, GaugeFamily, HistogramFamily, LabeledFamily, SeriesHandle,
};
pub use name::METRIC_PREFIX;
pub use render::ExpositionFormat;
pub use service::register_service_metrics;
pub use values::{Counter, Gauge, Histogram, HistogramSnapshot};

use name::{validate_label, validate_name};
use values::{AtomicF64, HistogramCell};

/// Bucket upper bounds in seconds for request and query latencies: Prometheus' defaults, from
/// 5 ms to 10 s.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value computed when the metrics are rendered.
type ValueFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Clone)]
enum Series {
    Stored(Arc<AtomicF64>),
    Histogram(Arc<HistogramCell>),
    Computed(ValueFn),
}

struct Family {
    help: String,
    kind: MetricKind,
    /// In the order of the first registration; every series of the family has exactly these.
    label_names: Vec<String>,
    /// Histograms only.
    buckets: Option<Arc<[f64]>>,
    /// Keyed by label values in `label_names` order, which is also the render order.
    series: BTreeMap<Vec<String>, Series>,
}

/// The registry. Cheap to share: clone the `Arc`, not the registry.
#[derive(Default)]
pub struct Metrics {
    /// Held only to register and to snapshot for a render, never while recording.
    families: Mutex<BTreeMap<String, Family>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let families = self.lock();
        f.debug_struct("Metrics")
            .field("families", &families.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or finds) a counter series. `name` must end in `_total`.
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Counter, MetricsError> {
        self.stored_series(name, help, MetricKind::Counter, labels)
            .map(Counter)
    }

    /// Registers (or finds) a gauge series.
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, MetricsError> {
        self.stored_series(name, help, MetricKind::Gauge, labels)
            .map(Gauge)
    }

    /// Registers (or finds) a histogram series. `buckets` are finite, strictly increasing upper
    /// bounds (`+Inf` is implicit); every series of a family uses the same ones.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MetricsError> {
        let valid = buckets.iter().all(|bound| bound.is_finite())
            && buckets.windows(2).all(|pair| pair[0] < pair[1]);
        if !valid {
            return Err(MetricsError::InvalidBuckets {
                name: name.to_owned(),
            });
        }
        let buckets: Arc<[f64]> = Arc::from(buckets);
        let kind = MetricKind::Histogram;
        self.with_series(
            name,
            help,
            kind,
            labels,
            Some(&buckets),
            |entry| match entry {
                Entry::Vacant(slot) => {
                    let cell = Arc::new(HistogramCell::new(Arc::clone(&buckets)));
                    slot.insert(Series::Histogram(Arc::clone(&cell)));
                    Ok(Histogram(cell))
                }
                Entry::Occupied(slot) => match slot.get() {
                    Series::Histogram(cell) => Ok(Histogram(Arc::clone(cell))),
                    _ => Err(series_conflict(name)),
                },
            },
        )
    }

    /// Registers a gauge series whose value `value` computes at each render (keep it quick: it
    /// runs on the `/metrics` request). Registering the same series again replaces the function.
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        self.computed_series(name, help, MetricKind::Gauge, labels, Arc::new(value))
    }

    /// Like [`Metrics::gauge_fn`] for a counter kept elsewhere (e.g. CPU seconds from sysinfo,
    /// log write failures). The function must never return less than it did before.
    pub fn counter_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        value: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        self.computed_series(name, help, MetricKind::Counter, labels, Arc::new(value))
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render_prometheus(&self) -> String {
        render::prometheus_text(&self.snapshot())
    }

    /// `{"metrics": {"<name>": {"type", "help", "values": [{"labels", "value"}]}}}`; histogram
    /// values carry `count`, `sum` and cumulative `buckets` keyed by upper bound.
    pub fn render_json(&self) -> serde_json::Value {
        render::json(&self.snapshot())
    }

    /// The body for `format`; its content type is [`ExpositionFormat::content_type`].
    pub fn render(&self, format: ExpositionFormat) -> String {
        match format {
            ExpositionFormat::Prometheus => self.render_prometheus(),
            ExpositionFormat::Json => self.render_json().to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Family>> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stored_series(
        &self,
        name: &str,
        help: &str,
        kind: MetricKind,
        labels: &[(&str, &str)],
    ) -> Result<Arc<AtomicF64>, MetricsError> {
        self.with_series(name, help, kind, labels, None, |entry| match entry {
            Entry::Vacant(slot) => {
                let cell = Arc::new(AtomicF64::default());
                slot.insert(Series::Stored(Arc::clone(&cell)));
                Ok(cell)
            }
            Entry::Occupied(slot) => match slot.get() {
                Series::Stored(cell) => Ok(Arc::clone(cell)),
                _ => Err(series_conflict(name)),
            },
        })
    }

    fn computed_series(
        &self,
        name: &str,
        help: &str,
        kind: MetricKind,
        labels: &[(&str, &str)],
        value: ValueFn,
    ) -> Result<(), MetricsError> {
        self.with_series(name, help, kind, labels, None, |entry| match entry {
            Entry::Vacant(slot) => {
                slot.insert(Series::Computed(value));
                Ok(())
            }
            Entry::Occupied(mut slot) => match slot.get() {
                Series::Computed(_) => {
                    slot.insert(Series::Computed(value));
                    Ok(())
                }
                _ => Err(series_conflict(name)),
            },
        })
    }

    /// Checks the request against the conventions and the family's earlier registrations, then
    /// hands the series slot for these label values to `use_slot`, under the registry lock.
    fn with_series<T>(
        &self,
        name: &str,
        help: &str,
        kind: MetricKind,
        labels: &[(&str, &str)],
        buckets: Option<&Arc<[f64]>>,
        use_slot: impl FnOnce(Entry<'_, Vec<String>, Series>) -> Result<T, MetricsError>,
    ) -> Result<T, MetricsError> {
        validate_name(name, kind)?;
        if help.trim().is_empty() {
            return Err(MetricsError::MissingHelp {
                name: name.to_owned(),
            });
        }
        for (index, (label, _)) in labels.iter().enumerate() {
            validate_label(name, label)?;
            if labels[..index].iter().any(|(earlier, _)| earlier == label) {
                return Err(MetricsError::InvalidLabel {
                    name: name.to_owned(),
                    label: (*label).to_owned(),
                    reason: "the label is given twice",
                });
            }
        }

        let mut families = self.lock();
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            label_names: labels
                .iter()
                .map(|(label, _)| (*label).to_owned())
                .collect(),
            buckets: buckets.cloned(),
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return Err(MetricsError::KindMismatch {
                name: name.to_owned(),
                registered: family.kind,
                requested: kind,
            });
        }
        if family.help != help {
            return Err(MetricsError::HelpMismatch {
                name: name.to_owned(),
            });
        }
        if family.buckets.as_ref() != buckets {
            return Err(MetricsError::BucketsMismatch {
                name: name.to_owned(),
            });
        }
        let label_values = family
            .label_names
            .iter()
            .map(|label_name| {
                labels
                    .iter()
                    .find(|(label, _)| label == label_name)
                    .map(|(_, value)| (*value).to_owned())
            })
            .collect::<Option<Vec<_>>>()
            .filter(|_| labels.len() == family.label_names.len())
            .ok_or_else(|| MetricsError::LabelsMismatch {
                name: name.to_owned(),
                registered: family.label_names.clone(),
                requested: labels
                    .iter()
                    .map(|(label, _)| (*label).to_owned())
                    .collect(),
            })?;
        use_slot(family.series.entry(label_values))
    }

    /// Copies what a render needs under the lock, then reads the values (and runs the value
    /// functions) outside it, so a slow or re-entrant function cannot block registration.
    fn snapshot(&self) -> Vec<render::FamilySnapshot> {
        let families: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, family)| !family.series.is_empty())
            .map(|(name, family)| {
                (
                    name.clone(),
                    family.help.clone(),
                    family.kind,
                    family.label_names.clone(),
                    family
                        .series
                        .iter()
                        .map(|(values, series)| (values.clone(), series.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        families
            .into_iter()
            .map(
                |(name, help, kind, label_names, series)| render::FamilySnapshot {
                    name,
                    help,
                    kind,
                    label_names,
                    samples: series
                        .into_iter()
                        .map(|(label_values, series)| {
                            let value = match series {
                                Series::Stored(cell) => render::SampleValue::Number(cell.get()),
                                Series::Computed(value) => render::SampleValue::Number(value()),
                                Series::Histogram(cell) => {
                                    render::SampleValue::Histogram(cell.snapshot())
                                }
                            };
                            (label_values, value)
                        })
                        .collect(),
                },
            )
            .collect()
    }
}

/// A series is either recorded through a handle or computed at render time, never both.
fn series_conflict(name: &str) -> MetricsError {
    MetricsError::SeriesConflict {
        name: name.to_owned(),
    }
}

#[cfg(test)]
mod tests;
