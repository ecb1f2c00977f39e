//! Whether Discord has rejected the token, shared beyond the RateLimiterActor's restarts.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

/// Set once, on the first 401. Shared by the RateLimiterActor (which sets it and, after a
/// restart, reads it back: restarting does not revive a revoked token) and whatever reports
/// health. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct TokenState {
    rejected_at: Arc<OnceLock<DateTime<Utc>>>,
}

impl TokenState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_rejected(&self) -> bool {
        self.rejected_at.get().is_some()
    }

    pub fn rejected_at(&self) -> Option<DateTime<Utc>> {
        self.rejected_at.get().copied()
    }

    /// Marks the token dead; `true` only for the call that did.
    pub(super) fn reject(&self, at: DateTime<Utc>) -> bool {
        self.rejected_at.set(at).is_ok()
    }
}
