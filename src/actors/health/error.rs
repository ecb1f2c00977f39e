//! Why a health probe did not pass.

use std::time::Duration;

use super::messages::ProbeFailure;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The check ran and reported a problem. Probe status shows the problem's own message
    /// (not its causes), so it is part of this message rather than a source.
    #[error("probe failed: {0}")]
    Failed(ProbeFailure),
    /// The check did not answer in time; a hung dependency counts as a failing one.
    #[error("probe timed out after {0:?}")]
    TimedOut(Duration),
}
