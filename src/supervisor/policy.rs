//! How often and how fast a component is restarted: exponential backoff with jitter, and a
//! budget of restarts per sliding window after which it is given up on. The window counts on
//! tokio's clock, like the backoff the runner sleeps, so both follow a paused test clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Share of each backoff taken off at random, so components (or replicas) that fail together
/// do not retry in lockstep. Taking it off rather than adding it keeps the waits of successive
/// restarts ordered: the shortest wait of restart `n + 1` (0.75 × 2b) is longer than the
/// longest of restart `n` (b).
const JITTER_FRACTION: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Wait before the first restart in a window; each further restart in the window doubles it.
    pub initial_backoff: Duration,
    /// Cap on the wait between restarts.
    pub max_backoff: Duration,
    /// Restarts allowed within `window`; one more failure marks the component failed.
    pub max_restarts: u32,
    /// Sliding window over which restarts are counted.
    pub window: Duration,
}

impl RestartPolicy {
    /// The policy `monitoring.component_restart_*` asks for.
    pub fn from_config(config: &crate::config::MonitoringConfig) -> Self {
        Self {
            initial_backoff: Duration::from_millis(config.component_restart_backoff_initial_ms),
            max_backoff: Duration::from_millis(config.component_restart_backoff_max_ms),
            max_restarts: config.component_restart_limit,
            window: Duration::from_secs(config.component_restart_window_secs),
        }
    }

    /// Wait before the `nth` restart of the current window (1-based), before jitter.
    pub fn backoff(&self, nth: u32) -> Duration {
        let doublings = nth.saturating_sub(1);
        let factor = 1_u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// [`backoff`](Self::backoff) with up to a quarter taken off at random.
    pub fn jittered_backoff(&self, nth: u32) -> Duration {
        let cut = JITTER_FRACTION * rand::random::<f64>();
        self.backoff(nth).mul_f64(1.0 - cut)
    }
}

/// The defaults of `monitoring.component_restart_*`: one source for the figures.
impl Default for RestartPolicy {
    fn default() -> Self {
        Self::from_config(&crate::config::MonitoringConfig::default())
    }
}

/// The restarts of one component within the policy's window.
#[derive(Debug, Default)]
pub(crate) struct RestartBudget {
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// Records a restart at `now` if the budget allows one, returning how many restarts the
    /// window then holds (1 for the first); `None` when the budget is spent.
    pub(crate) fn spend(&mut self, policy: &RestartPolicy, now: Instant) -> Option<u32> {
        while self
            .recent
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= policy.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= usize::try_from(policy.max_restarts).unwrap_or(usize::MAX) {
            return None;
        }
        self.recent.push_back(now);
        Some(u32::try_from(self.recent.len()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            max_restarts: 3,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = policy();
        let waits: Vec<_> = (1..=6).map(|nth| policy.backoff(nth).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy.backoff(u32::MAX), policy.max_backoff);
    }

    #[test]
    fn jitter_only_shortens_and_keeps_successive_waits_ordered() {
        let policy = policy();
        for nth in 1..=3 {
            let base = policy.backoff(nth);
            let next_floor = policy.backoff(nth + 1).mul_f64(1.0 - JITTER_FRACTION);
            for _ in 0..200 {
                let wait = policy.jittered_backoff(nth);
                assert!(wait <= base, "{wait:?} > {base:?}");
                assert!(wait >= base.mul_f64(1.0 - JITTER_FRACTION));
                assert!(wait < next_floor);
            }
        }
    }

    #[test]
    fn budget_is_spent_within_the_window_and_refills_after_it() {
        let policy = policy();
        let mut budget = RestartBudget::default();
        let start = Instant::now();
        let counts: Vec<_> = (0..4)
            .map(|i| budget.spend(&policy, start + Duration::from_secs(i)))
            .collect();
        assert_eq!(counts, [Some(1), Some(2), Some(3), None]);

        // The first restart (at +0 s) leaves the window at +60 s.
        assert_eq!(
            budget.spend(&policy, start + Duration::from_secs(60)),
            Some(3)
        );
        assert_eq!(budget.spend(&policy, start + Duration::from_secs(60)), None);
    }

    #[test]
    fn zero_restarts_means_the_first_failure_is_final() {
        let policy = RestartPolicy {
            max_restarts: 0,
            ..policy()
        };
        assert_eq!(
            RestartBudget::default().spend(&policy, Instant::now()),
            None
        );
    }
}
