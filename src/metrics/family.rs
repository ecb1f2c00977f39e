//! Labelled families for the typed metrics of each component: every series whose label values
//! are known when the component is built is registered then (so it is scraped at 0 before the
//! first event); a value seen only later (an HTTP status nobody listed) is registered on its
//! first use and kept. Recording looks the series up in the family's own list, never in the
//! registry.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Counter, Gauge, Histogram, Metrics, MetricsError};

/// What every series of one family is registered with.
#[derive(Debug, Clone, Copy)]
pub struct FamilySpec<const N: usize> {
    pub name: &'static str,
    pub help: &'static str,
    pub label_names: [&'static str; N],
}

/// A recording handle a family can hold: [`Counter`], [`Gauge`] or (with its buckets)
/// [`Histogram`].
pub trait SeriesHandle: Clone + Send + 'static {
    /// Histograms' bucket bounds; `()` for the others.
    type Options: Clone + Send + Sync + 'static;

    fn register(
        registry: &Metrics,
        name: &str,
        help: &str,
        options: &Self::Options,
        labels: &[(&str, &str)],
    ) -> Result<Self, MetricsError>;
}

impl SeriesHandle for Counter {
    type Options = ();

    fn register(
        registry: &Metrics,
        name: &str,
        help: &str,
        _options: &(),
        labels: &[(&str, &str)],
    ) -> Result<Self, MetricsError> {
        registry.counter(name, help, labels)
    }
}

impl SeriesHandle for Gauge {
    type Options = ();

    fn register(
        registry: &Metrics,
        name: &str,
        help: &str,
        _options: &(),
        labels: &[(&str, &str)],
    ) -> Result<Self, MetricsError> {
        registry.gauge(name, help, labels)
    }
}

impl SeriesHandle for Histogram {
    type Options = &'static [f64];

    fn register(
        registry: &Metrics,
        name: &str,
        help: &str,
        buckets: &&'static [f64],
        labels: &[(&str, &str)],
    ) -> Result<Self, MetricsError> {
        registry.histogram(name, help, buckets, labels)
    }
}

/// One family with `N` labels. Cheap to clone; clones share the series.
#[derive(Clone)]
pub struct LabeledFamily<H: SeriesHandle, const N: usize> {
    registry: Arc<Metrics>,
    spec: FamilySpec<N>,
    options: H::Options,
    /// Few series per family (tens at most), so a scan beats hashing owned keys per record.
    series: Arc<Mutex<Vec<Series<H, N>>>>,
}

/// One series of a family: its label values and its handle.
type Series<H, const N: usize> = ([String; N], H);

pub type CounterFamily<const N: usize> = LabeledFamily<Counter, N>;
pub type GaugeFamily<const N: usize> = LabeledFamily<Gauge, N>;
pub type HistogramFamily<const N: usize> = LabeledFamily<Histogram, N>;

impl<const N: usize> CounterFamily<N> {
    /// A counter family with a series for each of `known` already registered.
    pub fn register<'a>(
        registry: &Arc<Metrics>,
        spec: FamilySpec<N>,
        known: impl IntoIterator<Item = [&'a str; N]>,
    ) -> Result<Self, MetricsError> {
        Self::register_with(registry, spec, (), known)
    }
}

impl<const N: usize> GaugeFamily<N> {
    /// A gauge family with a series for each of `known` already registered.
    pub fn register<'a>(
        registry: &Arc<Metrics>,
        spec: FamilySpec<N>,
        known: impl IntoIterator<Item = [&'a str; N]>,
    ) -> Result<Self, MetricsError> {
        Self::register_with(registry, spec, (), known)
    }
}

impl<const N: usize> HistogramFamily<N> {
    /// A histogram family (every series with `buckets`) with a series for each of `known`
    /// already registered.
    pub fn register<'a>(
        registry: &Arc<Metrics>,
        spec: FamilySpec<N>,
        buckets: &'static [f64],
        known: impl IntoIterator<Item = [&'a str; N]>,
    ) -> Result<Self, MetricsError> {
        Self::register_with(registry, spec, buckets, known)
    }
}

impl<H: SeriesHandle, const N: usize> LabeledFamily<H, N> {
    fn register_with<'a>(
        registry: &Arc<Metrics>,
        spec: FamilySpec<N>,
        options: H::Options,
        known: impl IntoIterator<Item = [&'a str; N]>,
    ) -> Result<Self, MetricsError> {
        let family = Self {
            registry: Arc::clone(registry),
            spec,
            options,
            series: Arc::default(),
        };
        for values in known {
            family.get(values)?;
        }
        Ok(family)
    }

    /// The series for `values`, registered now if it was not known at start. That
    /// registration repeats the family's own name, help and label names, so it fails only if
    /// something else registered the same name differently.
    pub fn get(&self, values: [&str; N]) -> Result<H, MetricsError> {
        let mut series = self.lock();
        if let Some((_, handle)) = series.iter().find(|(known, _)| {
            known
                .iter()
                .zip(values)
                .all(|(known, value)| known == value)
        }) {
            return Ok(handle.clone());
        }
        let labels: Vec<(&str, &str)> = self.spec.label_names.into_iter().zip(values).collect();
        let handle = H::register(
            &self.registry,
            self.spec.name,
            self.spec.help,
            &self.options,
            &labels,
        )?;
        series.push((values.map(str::to_owned), handle.clone()));
        Ok(handle)
    }

    /// Every series registered so far, with its label values.
    pub fn series(&self) -> Vec<Series<H, N>> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Series<H, N>>> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<H: SeriesHandle, const N: usize> std::fmt::Debug for LabeledFamily<H, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabeledFamily")
            .field("name", &self.spec.name)
            .field("series", &self.lock().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTS: FamilySpec<2> = FamilySpec {
        name: "discord_monitor_test_requests_total",
        help: "Requests by route and status",
        label_names: ["route", "status"],
    };

    #[test]
    fn known_series_exist_at_zero_and_others_appear_on_first_use() {
        let registry = Arc::new(Metrics::new());
        let family =
            CounterFamily::register(&registry, REQUESTS, [["/a", "200"], ["/b", "200"]]).unwrap();
        let text = registry.render_prometheus();
        assert!(text.contains(r#"discord_monitor_test_requests_total{route="/a",status="200"} 0"#));
        assert!(text.contains(r#"discord_monitor_test_requests_total{route="/b",status="200"} 0"#));

        family.get(["/a", "200"]).unwrap().inc();
        family.get(["/a", "502"]).unwrap().inc_by(2);
        let text = registry.render_prometheus();
        assert!(text.contains(r#"discord_monitor_test_requests_total{route="/a",status="200"} 1"#));
        assert!(text.contains(r#"discord_monitor_test_requests_total{route="/a",status="502"} 2"#));
        assert_eq!(family.series().len(), 3);
        // Clones share the series; registering again finds the same ones.
        family.clone().get(["/a", "502"]).unwrap().inc();
        let again = CounterFamily::register(&registry, REQUESTS, [["/a", "502"]]).unwrap();
        assert_eq!(again.get(["/a", "502"]).unwrap().get(), 3.0);
    }

    #[test]
    fn a_clash_with_another_registration_is_reported() {
        let registry = Arc::new(Metrics::new());
        registry
            .gauge("discord_monitor_test_requests_total_x", "other", &[])
            .unwrap();
        let clash = FamilySpec {
            name: "discord_monitor_test_requests_total_x",
            help: "Requests",
            label_names: ["route"],
        };
        assert!(GaugeFamily::register(&registry, clash, [["/a"]]).is_err());
    }
}
