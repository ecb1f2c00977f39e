//! Registration errors. Recording a value never fails; registering one can, when a name breaks
//! the Prometheus conventions `promtool check metrics` enforces or clashes with an earlier
//! registration of the same family.

use super::MetricKind;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("invalid metric name `{name}`: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid label name `{label}` on metric `{name}`: {reason}")]
    InvalidLabel {
        name: String,
        label: String,
        reason: &'static str,
    },
    #[error("metric `{name}` needs help text")]
    MissingHelp { name: String },
    #[error("metric `{name}` is already registered as a {registered}, not a {requested}")]
    KindMismatch {
        name: String,
        registered: MetricKind,
        requested: MetricKind,
    },
    #[error("metric `{name}` is already registered with different help text")]
    HelpMismatch { name: String },
    #[error("metric `{name}` is registered with labels {registered:?}, not {requested:?}")]
    LabelsMismatch {
        name: String,
        registered: Vec<String>,
        requested: Vec<String>,
    },
    #[error("histogram `{name}` buckets must be finite and strictly increasing")]
    InvalidBuckets { name: String },
    #[error("histogram `{name}` is already registered with other buckets")]
    BucketsMismatch { name: String },
    /// The same series asked for both as a recorded value (handle) and a computed one.
    #[error(
        "series of `{name}` with these labels is already registered as the other of recorded or computed"
    )]
    SeriesConflict { name: String },
}
