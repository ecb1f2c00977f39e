//! A circuit breaker per target: closed -> open after N consecutive failures or a failure
//! rate over a minimum of calls -> one half-open probe after the cooldown.
//!
//! Why not `failsafe`: its breaker wraps each call and decides from a success predicate, with
//! one fixed backoff per breaker. The router needs more: a dead key opens the circuit at once
//! for a long cooldown (or the server's own delay, such as a daily quota), a second failure
//! extends the cooldown instead of keeping the first deadline (a known bug of the anchors),
//! blocked content and bad requests prove the target alive without counting as failures,
//! and `/status` must read the state. That is the ~100 lines below, on tokio's clock so tests
//! can pause it.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::failure::FailureClass;

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// Failure fraction (0..1) over the last `window` calls that opens it...
    pub failure_rate: f64,
    /// ...once at least `min_calls` calls are in the window.
    pub min_calls: usize,
    pub window: usize,
    /// First open period after transient failures; doubles on each failed probe.
    pub cooldown: Duration,
    /// Open period for a dead key, missing credits or an exhausted quota.
    pub target_down_cooldown: Duration,
    /// Ceiling of any open period.
    pub max_cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 10,
            window: 20,
            // Seconds: outlasts a provider's brief overload without hiding a recovery long.
            cooldown: Duration::from_secs(30),
            // A fixed key or topped-up account is a human action: minutes, not seconds.
            target_down_cooldown: Duration::from_secs(15 * 60),
            // A daily quota resets within a day.
            max_cooldown: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    state: CircuitState,
    consecutive: u32,
    /// Recent outcomes, true for a failure.
    recent: VecDeque<bool>,
    open_until: Option<Instant>,
    /// The open period used last, doubled when a probe fails.
    last_cooldown: Duration,
    probe_in_flight: bool,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: CircuitState::Closed,
            consecutive: 0,
            recent: VecDeque::new(),
            open_until: None,
            last_cooldown: Duration::ZERO,
            probe_in_flight: false,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Time left until the next probe while open.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        self.open_until
            .filter(|_| self.state == CircuitState::Open)
            .map(|until| until.saturating_duration_since(now))
    }

    /// Whether a call may go out now; after the cooldown this admits exactly one probe.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            CircuitState::Closed => true,
            CircuitState::Open => {
                if self.open_until.is_some_and(|until| now >= until) {
                    self.state = CircuitState::HalfOpen;
                    self.probe_in_flight = true;
                    true
                } else {
                    false
                }
            }
            CircuitState::HalfOpen if !self.probe_in_flight => {
                self.probe_in_flight = true;
                true
            }
            CircuitState::HalfOpen => false,
        }
    }

    /// A call admitted by [`Breaker::allow`] was not made after all (budget refused it).
    pub fn release(&mut self) {
        self.probe_in_flight = false;
    }

    /// The target answered (any answer that is not a target failure).
    pub fn record_alive(&mut self) {
        self.state = CircuitState::Closed;
        self.consecutive = 0;
        self.open_until = None;
        self.last_cooldown = Duration::ZERO;
        self.probe_in_flight = false;
        self.push(false);
    }

    pub fn record_failure(
        &mut self,
        class: FailureClass,
        server_delay: Option<Duration>,
        now: Instant,
    ) {
        if !class.counts_against_target() {
            self.record_alive();
            return;
        }
        self.consecutive += 1;
        self.push(true);
        let probe_failed = self.state == CircuitState::HalfOpen;
        self.probe_in_flight = false;
        let cooldown = if class == FailureClass::TargetDown {
            Some(
                server_delay
                    .unwrap_or(Duration::ZERO)
                    .max(self.settings.target_down_cooldown),
            )
        } else if probe_failed {
            Some((self.last_cooldown * 2).max(self.settings.cooldown))
        } else if self.consecutive >= self.settings.consecutive_failures || self.rate_exceeded() {
            Some(self.settings.cooldown)
        } else {
            None
        };
        if let Some(cooldown) = cooldown {
            let cooldown = cooldown.min(self.settings.max_cooldown);
            let until = now + cooldown;
            // A second failure extends the deadline, never shortens it.
            self.open_until = Some(self.open_until.map_or(until, |old| old.max(until)));
            self.last_cooldown = cooldown;
            self.state = CircuitState::Open;
        }
    }

    fn push(&mut self, failed: bool) {
        self.recent.push_back(failed);
        while self.recent.len() > self.settings.window {
            self.recent.pop_front();
        }
    }

    fn rate_exceeded(&self) -> bool {
        let calls = self.recent.len();
        calls >= self.settings.min_calls
            && self.recent.iter().filter(|failed| **failed).count() as f64 / calls as f64
                >= self.settings.failure_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_then_one_probe() {
        let mut breaker = Breaker::new(BreakerSettings {
            consecutive_failures: 3,
            ..BreakerSettings::default()
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(breaker.allow(start));
            breaker.record_failure(FailureClass::Transient, None, start);
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(!breaker.allow(start + Duration::from_secs(29)));
        let later = start + Duration::from_secs(30);
        assert!(breaker.allow(later));
        assert!(!breaker.allow(later), "only one probe at a time");
        breaker.record_failure(FailureClass::Transient, None, later);
        assert_eq!(breaker.open_for(later), Some(Duration::from_secs(60)));
        let probe = later + Duration::from_secs(60);
        assert!(breaker.allow(probe));
        breaker.record_alive();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn target_down_opens_at_once_and_blocks_do_not_count() {
        let mut breaker = Breaker::new(BreakerSettings::default());
        let now = Instant::now();
        for _ in 0..10 {
            breaker.record_failure(FailureClass::Blocked, None, now);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record_failure(FailureClass::TargetDown, None, now);
        assert_eq!(breaker.open_for(now), Some(Duration::from_secs(900)));
        breaker.record_failure(
            FailureClass::TargetDown,
            Some(Duration::from_secs(3600)),
            now,
        );
        assert_eq!(
            breaker.open_for(now),
            Some(Duration::from_secs(3600)),
            "extended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failure_rate_opens_the_circuit() {
        let mut breaker = Breaker::new(BreakerSettings::default());
        let now = Instant::now();
        for index in 0..10 {
            if index % 2 == 1 {
                breaker.record_failure(FailureClass::Transient, None, now);
            } else {
                breaker.record_alive();
            }
        }
        assert_eq!(breaker.state(), CircuitState::Open);
    }
}
