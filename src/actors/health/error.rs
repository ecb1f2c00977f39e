//! Why a health probe did not pass.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The check ran and reported a problem.
    #[error("probe failed: {0}")]
    Failed(String),
    /// The check did not answer in time; a hung dependency counts as a failing one.
    #[error("probe timed out after {0:?}")]
    TimedOut(Duration),
}
