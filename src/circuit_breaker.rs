//! The circuit breaker shared by the LLM targets and the alert routes, built on `failsafe`'s
//! [`StateMachine`]: closed -> open after N consecutive failures or a failure rate ->
//! half-open after the cooldown -> closed on success, open again (for longer) on failure.
//!
//! failsafe decides the transitions; this wrapper adds what both callers need and the state
//! machine alone does not offer:
//! - **Failures of different weight.** A dead key or a revoked webhook says the other side is
//!   down for good: the circuit opens at once for [`BreakerSettings::target_down_cooldown`]
//!   (or longer when the server names a delay, such as a daily quota). It does so through the
//!   [`FailurePolicy`] extension point: the policy returns the forced delay on that failure.
//!   A later, longer "down" extends the open period instead of keeping the first deadline.
//! - **Exactly one probe while half-open.** failsafe admits every call once half-open; a
//!   target that just came back should see one probe, not every queued request.
//! - **Readable state** for `/status` and metrics: the [`Instrument`] callbacks record it,
//!   and the wrapper remembers when the open period ends so callers can postpone work
//!   ("retry this outbox row in 40 s") instead of polling.
//! - **Sub-second cooldowns**: failsafe's own backoffs count whole seconds; [`Doubling`]
//!   counts milliseconds, which tests and fast local targets need.
//!
//! All time comes from `failsafe::clock::now()`, so unit tests freeze and advance it with
//! `failsafe::clock::freeze`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use failsafe::failure_policy::{self, ConsecutiveFailures, SuccessRateOverTimeWindow};
use failsafe::{FailurePolicy, Instrument, StateMachine, clock};
use serde::Serialize;

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// A second trigger on the failure rate, for targets that fail every other call.
    pub failure_rate: Option<FailureRateSettings>,
    /// First open period after transient failures; doubles on each failed probe.
    pub cooldown: Duration,
    /// Open period when the other side is down for good (dead key, no credits, revoked URL).
    pub target_down_cooldown: Duration,
    /// Ceiling of any open period.
    pub max_cooldown: Duration,
}

/// Opens the circuit when the recent success rate falls below `1 - max_failure_ratio`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureRateSettings {
    /// Failure fraction (0..1) that opens the circuit...
    pub max_failure_ratio: f64,
    /// ...once at least this many calls were made within `window`.
    pub min_calls: u32,
    /// The span the (exponentially weighted) rate looks back over; whole seconds.
    pub window: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: Some(FailureRateSettings {
                max_failure_ratio: 0.5,
                min_calls: 10,
                // Seconds: long enough to hold ten calls of a busy route, short enough that a
                // failing hour ago does not count now.
                window: Duration::from_secs(60),
            }),
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

/// How much a failure says about the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Overload, timeout, 5xx: counts towards the thresholds.
    Transient,
    /// Down until someone acts: opens at once, for at least `at_least` when the server said.
    Down { at_least: Option<Duration> },
}

/// A state change a caller may want to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Opened from closed: the first sign of trouble.
    Opened,
    /// Opened again after a failed probe, or its open period extended.
    Reopened,
    /// Closed again after being open or half-open.
    Closed,
}

/// What the policy and the instrument share with the wrapper. Never held while calling into
/// the state machine, which calls both under its own lock.
#[derive(Debug)]
struct Observed {
    state: CircuitState,
    /// The open period the next failure must start (a "down" failure).
    forced_delay: Option<Duration>,
    /// The open period the policy chose last.
    last_delay: Option<Duration>,
}

type SharedObserved = Arc<Mutex<Observed>>;

fn lock(observed: &SharedObserved) -> MutexGuard<'_, Observed> {
    // The critical sections only assign fields: a poisoned lock still holds a usable value.
    observed.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Open periods `start, 2*start, 4*start ..` up to `max`, in milliseconds.
#[derive(Debug, Clone)]
pub struct Doubling {
    next: Duration,
    max: Duration,
}

impl Doubling {
    pub fn new(start: Duration, max: Duration) -> Self {
        let max = max.max(start);
        Self { next: start, max }
    }
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = current.saturating_mul(2).min(self.max);
        Some(current)
    }
}

struct Policy {
    consecutive: ConsecutiveFailures<Doubling>,
    rate: Option<SuccessRateOverTimeWindow<Doubling>>,
    max_cooldown: Duration,
    observed: SharedObserved,
}

impl FailurePolicy for Policy {
    fn record_success(&mut self) {
        self.consecutive.record_success();
        if let Some(rate) = &mut self.rate {
            rate.record_success();
        }
    }

    fn mark_dead_on_failure(&mut self) -> Option<Duration> {
        // Both policies see every failure so their counts stay true.
        let by_count = self.consecutive.mark_dead_on_failure();
        let by_rate = self
            .rate
            .as_mut()
            .and_then(|rate| rate.mark_dead_on_failure());
        let mut observed = lock(&self.observed);
        let delay = [observed.forced_delay.take(), by_count, by_rate]
            .into_iter()
            .flatten()
            .max()
            .map(|delay| delay.min(self.max_cooldown));
        if delay.is_some() {
            observed.last_delay = delay;
        }
        delay
    }

    fn revived(&mut self) {
        self.consecutive.revived();
        if let Some(rate) = &mut self.rate {
            rate.revived();
        }
    }
}

struct Observer(SharedObserved);

impl Instrument for Observer {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        lock(&self.0).state = CircuitState::Open;
    }

    fn on_half_open(&self) {
        lock(&self.0).state = CircuitState::HalfOpen;
    }

    fn on_closed(&self) {
        lock(&self.0).state = CircuitState::Closed;
    }
}

pub struct CircuitBreaker {
    machine: StateMachine<Policy, Observer>,
    observed: SharedObserved,
    /// When the current open period ends (the state machine keeps its own copy private).
    open_until: Option<Instant>,
    probe_in_flight: bool,
    target_down_cooldown: Duration,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state())
            .field("open_until", &self.open_until)
            .field("probe_in_flight", &self.probe_in_flight)
            .finish()
    }
}

impl CircuitBreaker {
    pub fn new(settings: &BreakerSettings) -> Self {
        let cooldown = settings.cooldown.min(settings.max_cooldown);
        let backoff = Doubling::new(cooldown, settings.max_cooldown);
        let observed = Arc::new(Mutex::new(Observed {
            state: CircuitState::Closed,
            forced_delay: None,
            last_delay: None,
        }));
        let policy = Policy {
            consecutive: failure_policy::consecutive_failures(
                settings.consecutive_failures.max(1),
                backoff.clone(),
            ),
            rate: settings.failure_rate.map(|rate| {
                failure_policy::success_rate_over_time_window(
                    (1.0 - rate.max_failure_ratio).clamp(0.0, 1.0),
                    rate.min_calls,
                    // failsafe counts the window in whole seconds and slices it in five.
                    rate.window.max(Duration::from_secs(1)),
                    backoff,
                )
            }),
            max_cooldown: settings.max_cooldown,
            observed: Arc::clone(&observed),
        };
        let machine = StateMachine::new(policy, Observer(Arc::clone(&observed)));
        Self {
            machine,
            observed,
            open_until: None,
            probe_in_flight: false,
            target_down_cooldown: settings.target_down_cooldown,
        }
    }

    pub fn state(&self) -> CircuitState {
        lock(&self.observed).state
    }

    /// Time left in the open period; `None` unless open.
    pub fn open_for(&self) -> Option<Duration> {
        (self.state() == CircuitState::Open)
            .then_some(self.open_until)
            .flatten()
            .map(|until| until.saturating_duration_since(clock::now()))
    }

    /// Asks to make a call now. Half-open admits exactly one (the probe) until its outcome is
    /// recorded or it is [`released`](Self::release). `Err` carries how long to wait.
    pub fn try_acquire(&mut self) -> Result<(), Duration> {
        if self.state() == CircuitState::HalfOpen && self.probe_in_flight {
            // The probe's outcome decides; until it is recorded every other call is refused.
            return Err(self.retry_hint());
        }
        if !self.machine.is_call_permitted() {
            return Err(self.retry_hint());
        }
        if self.state() == CircuitState::HalfOpen {
            self.probe_in_flight = true;
        }
        Ok(())
    }

    /// A call admitted by [`try_acquire`](Self::try_acquire) was not made after all.
    pub fn release(&mut self) {
        self.probe_in_flight = false;
    }

    /// The other side answered (any answer that proves it alive, not only a success).
    pub fn record_success(&mut self) -> Option<Transition> {
        let was = self.state();
        self.probe_in_flight = false;
        // A success seen while open (a call admitted before it opened) closes it as well:
        // the target is evidently back.
        if was == CircuitState::Open {
            self.machine.reset();
        }
        self.machine.on_success();
        self.open_until = None;
        (was != CircuitState::Closed).then_some(Transition::Closed)
    }

    pub fn record_failure(&mut self, failure: Failure) -> Option<Transition> {
        let was = self.state();
        self.probe_in_flight = false;
        if let Failure::Down { at_least } = failure {
            let delay = at_least
                .unwrap_or(Duration::ZERO)
                .max(self.target_down_cooldown);
            return self.force_open(delay, was);
        }
        if was == CircuitState::Open {
            // A late answer to a call admitted before the circuit opened.
            return None;
        }
        self.machine.on_error();
        self.after_failure(was)
    }

    fn force_open(&mut self, delay: Duration, was: CircuitState) -> Option<Transition> {
        let now = clock::now();
        if was == CircuitState::Open && self.open_until.is_some_and(|until| until >= now + delay) {
            return None;
        }
        if was == CircuitState::Open {
            // The state machine ignores failures while open; start a fresh, longer period.
            self.machine.reset();
        }
        lock(&self.observed).forced_delay = Some(delay);
        self.machine.on_error();
        self.after_failure(was)
    }

    fn after_failure(&mut self, was: CircuitState) -> Option<Transition> {
        let (state, delay) = {
            let observed = lock(&self.observed);
            (observed.state, observed.last_delay)
        };
        if state != CircuitState::Open {
            return None;
        }
        self.open_until = delay.map(|delay| clock::now() + delay);
        Some(if was == CircuitState::Closed {
            Transition::Opened
        } else {
            Transition::Reopened
        })
    }

    fn retry_hint(&self) -> Duration {
        // Millisecond: the open period may end between the state machine's clock read and ours.
        const SHORTEST_WAIT: Duration = Duration::from_millis(1);
        self.open_for().unwrap_or(SHORTEST_WAIT).max(SHORTEST_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn count_only(consecutive_failures: u32) -> BreakerSettings {
        BreakerSettings {
            consecutive_failures,
            failure_rate: None,
            ..BreakerSettings::default()
        }
    }

    #[test]
    fn consecutive_failures_open_then_one_probe_with_a_doubled_cooldown() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&count_only(3));
            for expected in [None, None, Some(Transition::Opened)] {
                assert!(breaker.try_acquire().is_ok());
                assert_eq!(breaker.record_failure(Failure::Transient), expected);
            }
            assert_eq!(breaker.state(), CircuitState::Open);
            time.advance(secs(29));
            assert_eq!(breaker.try_acquire(), Err(secs(1)));
            time.advance(secs(2));
            assert!(breaker.try_acquire().is_ok(), "the probe");
            assert_eq!(breaker.state(), CircuitState::HalfOpen);
            assert!(breaker.try_acquire().is_err(), "only one probe at a time");
            assert_eq!(
                breaker.record_failure(Failure::Transient),
                Some(Transition::Reopened)
            );
            assert_eq!(breaker.open_for(), Some(secs(60)), "doubled");
            time.advance(secs(61));
            assert!(breaker.try_acquire().is_ok());
            assert_eq!(breaker.record_success(), Some(Transition::Closed));
            assert_eq!(breaker.state(), CircuitState::Closed);
            assert_eq!(breaker.record_success(), None);
        });
    }

    #[test]
    fn a_released_probe_lets_the_next_call_probe() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&count_only(1));
            breaker.record_failure(Failure::Transient);
            time.advance(secs(31));
            assert!(breaker.try_acquire().is_ok());
            breaker.release();
            assert!(breaker.try_acquire().is_ok());
        });
    }

    #[test]
    fn down_opens_at_once_and_a_longer_down_extends_the_period() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&BreakerSettings::default());
            assert_eq!(
                breaker.record_failure(Failure::Down { at_least: None }),
                Some(Transition::Opened)
            );
            assert_eq!(breaker.open_for(), Some(secs(900)));
            time.advance(secs(100));
            assert_eq!(
                breaker.record_failure(Failure::Down {
                    at_least: Some(secs(3600))
                }),
                Some(Transition::Reopened)
            );
            assert_eq!(breaker.open_for(), Some(secs(3600)), "extended");
            assert_eq!(
                breaker.record_failure(Failure::Down { at_least: None }),
                None,
                "a shorter down never shortens it"
            );
            assert_eq!(breaker.open_for(), Some(secs(3600)));
            time.advance(secs(3601));
            assert!(breaker.try_acquire().is_ok());
            assert_eq!(breaker.record_success(), Some(Transition::Closed));
        });
    }

    #[test]
    fn the_open_period_is_capped() {
        clock::freeze(|_| {
            let mut breaker = CircuitBreaker::new(&BreakerSettings {
                max_cooldown: secs(600),
                ..BreakerSettings::default()
            });
            breaker.record_failure(Failure::Down {
                at_least: Some(secs(86_400 * 3)),
            });
            assert_eq!(breaker.open_for(), Some(secs(600)));
        });
    }

    #[test]
    fn a_high_failure_rate_opens_the_circuit_without_consecutive_failures() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&BreakerSettings {
                consecutive_failures: 100,
                ..BreakerSettings::default()
            });
            let mut opened = None;
            // Two failures for every success, one call a second.
            for call in 0..120 {
                time.advance(secs(1));
                if breaker.try_acquire().is_err() {
                    opened = Some(call);
                    break;
                }
                if call % 3 == 0 {
                    breaker.record_success();
                } else {
                    breaker.record_failure(Failure::Transient);
                }
            }
            let opened = opened.expect("the failure rate opened the circuit");
            assert!(opened >= 60, "not before the window is full: call {opened}");
        });
    }

    #[test]
    fn a_late_failure_while_open_changes_nothing() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&count_only(1));
            breaker.record_failure(Failure::Transient);
            time.advance(secs(10));
            assert_eq!(breaker.record_failure(Failure::Transient), None);
            assert_eq!(breaker.open_for(), Some(secs(20)));
        });
    }

    #[test]
    fn sub_second_cooldowns_work() {
        clock::freeze(|time| {
            let mut breaker = CircuitBreaker::new(&BreakerSettings {
                cooldown: Duration::from_millis(200),
                ..count_only(1)
            });
            breaker.record_failure(Failure::Transient);
            assert_eq!(breaker.open_for(), Some(Duration::from_millis(200)));
            time.advance(Duration::from_millis(201));
            assert!(breaker.try_acquire().is_ok());
        });
    }
}
