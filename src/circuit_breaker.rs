//! The circuit breaker shared by the LLM targets and the alert routes: closed -> open after N
//! consecutive failures or a failure rate -> half-open after the cooldown -> closed on
//! success, open again (for longer) on failure.
//!
//! `failsafe` decides when a circuit opens and for how long: its [`FailurePolicy`]s (consecutive
//! failures, success rate over a time window) with our [`Doubling`] backoff. The three states
//! and the end of the open period are kept here, against tokio's clock
//! ([`tokio::time::Instant`]), following the transition rules of failsafe's `StateMachine`.
//! That state machine reads failsafe's own clock, a `std::time::Instant` that only
//! `failsafe::clock::freeze` can replace, for the span of a synchronous closure on one thread;
//! it cannot follow tokio's clock, which tests pause and advance across awaits and which the
//! actors' timers already run on. Owning the deadline lets the breakers of the LLM router and
//! the AlertActor be tested on a paused clock like everything else that waits.
//!
//! What this adds to the failure policies:
//! - **Failures of different weight.** A dead key or a revoked webhook says the other side is
//!   down for good: the circuit opens at once for [`BreakerSettings::target_down_cooldown`]
//!   (or longer when the server names a delay, such as a daily quota). The combined policy
//!   returns that forced delay on that failure. A later, longer "down" extends the open period
//!   instead of keeping the first deadline.
//! - **Exactly one probe while half-open**: a target that just came back sees one probe, not
//!   every queued request.
//! - **Readable state** for `/status` and metrics, and when the open period ends, so callers
//!   can postpone work ("retry this outbox row in 40 s") instead of polling.
//! - **Sub-second cooldowns**: failsafe's own backoffs count whole seconds; [`Doubling`]
//!   counts milliseconds, which tests and fast local targets need.
//!
//! One part still reads failsafe's clock: the failure-rate policy's window (its moving average
//! and request count). In production that is the same monotonic clock as tokio's; on a paused
//! tokio clock the window sees real time, so its test freezes failsafe's clock instead.

use std::time::Duration;

use failsafe::FailurePolicy;
use failsafe::failure_policy::{self, ConsecutiveFailures, SuccessRateOverTimeWindow};
use serde::Serialize;
use tokio::time::Instant;

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

/// The state with what each one needs to move on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    /// Calls are refused until `until`; `delay` is the period that ends there.
    Open {
        until: Instant,
        delay: Duration,
    },
    /// The open period of `delay` is over; a failed probe opens it again for the next backoff,
    /// or for `delay` once more when the policy names none.
    HalfOpen {
        delay: Duration,
    },
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

/// Both failsafe policies plus the forced delay of a "down" failure, as one policy: the open
/// period is the longest any of them asks for, capped.
struct Policy {
    consecutive: ConsecutiveFailures<Doubling>,
    rate: Option<SuccessRateOverTimeWindow<Doubling>>,
    max_cooldown: Duration,
    /// The open period the next failure must start (a "down" failure).
    forced_delay: Option<Duration>,
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
        [self.forced_delay.take(), by_count, by_rate]
            .into_iter()
            .flatten()
            .max()
            .map(|delay| delay.min(self.max_cooldown))
    }

    fn revived(&mut self) {
        self.consecutive.revived();
        if let Some(rate) = &mut self.rate {
            rate.revived();
        }
    }
}

pub struct CircuitBreaker {
    state: State,
    policy: Policy,
    probe_in_flight: bool,
    target_down_cooldown: Duration,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state)
            .field("probe_in_flight", &self.probe_in_flight)
            .finish()
    }
}

impl CircuitBreaker {
    pub fn new(settings: &BreakerSettings) -> Self {
        let cooldown = settings.cooldown.min(settings.max_cooldown);
        let backoff = Doubling::new(cooldown, settings.max_cooldown);
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
            forced_delay: None,
        };
        Self {
            state: State::Closed,
            policy,
            probe_in_flight: false,
            target_down_cooldown: settings.target_down_cooldown,
        }
    }

    /// The state after the last call or outcome: an open period that has run out still reads
    /// open until the next [`try_acquire`](Self::try_acquire) makes it half-open.
    pub fn state(&self) -> CircuitState {
        match self.state {
            State::Closed => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Time left in the open period; `None` unless open.
    pub fn open_for(&self) -> Option<Duration> {
        match self.state {
            State::Open { until, .. } => Some(until.saturating_duration_since(Instant::now())),
            State::Closed | State::HalfOpen { .. } => None,
        }
    }

    /// Asks to make a call now. Once the open period is over the circuit is half-open and
    /// admits exactly one call (the probe) until its outcome is recorded or it is
    /// [`released`](Self::release). `Err` carries how long to wait.
    pub fn try_acquire(&mut self) -> Result<(), Duration> {
        // Millisecond: while a probe is out nobody knows how long it takes; ask again soon.
        const SHORTEST_WAIT: Duration = Duration::from_millis(1);
        match self.state {
            State::Closed => Ok(()),
            State::HalfOpen { .. } if self.probe_in_flight => Err(SHORTEST_WAIT),
            State::HalfOpen { .. } => {
                self.probe_in_flight = true;
                Ok(())
            }
            State::Open { until, delay } => {
                let now = Instant::now();
                if now < until {
                    return Err((until - now).max(SHORTEST_WAIT));
                }
                self.state = State::HalfOpen { delay };
                self.probe_in_flight = true;
                Ok(())
            }
        }
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
        if was != CircuitState::Closed {
            self.close();
        }
        self.policy.record_success();
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
        self.count_failure(was)
    }

    fn force_open(&mut self, delay: Duration, was: CircuitState) -> Option<Transition> {
        if let State::Open { until, .. } = self.state {
            if until >= Instant::now() + delay {
                return None;
            }
            // Failures while open count for nothing; start a fresh, longer period.
            self.close();
        }
        self.policy.forced_delay = Some(delay);
        self.count_failure(was)
    }

    /// Gives the failure to the policy: from closed it opens the circuit when the policy says
    /// so; a failed probe opens it again, for the policy's next backoff or the last period.
    fn count_failure(&mut self, was: CircuitState) -> Option<Transition> {
        let delay = match self.state {
            State::Closed => self.policy.mark_dead_on_failure()?,
            State::HalfOpen { delay } => self.policy.mark_dead_on_failure().unwrap_or(delay),
            State::Open { .. } => return None,
        };
        self.state = State::Open {
            until: Instant::now() + delay,
            delay,
        };
        Some(if was == CircuitState::Closed {
            Transition::Opened
        } else {
            Transition::Reopened
        })
    }

    /// Closed, with the policies' history and backoff reset.
    fn close(&mut self) {
        self.state = State::Closed;
        self.policy.revived();
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

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

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_then_one_probe_with_a_doubled_cooldown() {
        let mut breaker = CircuitBreaker::new(&count_only(3));
        for expected in [None, None, Some(Transition::Opened)] {
            assert!(breaker.try_acquire().is_ok());
            assert_eq!(breaker.record_failure(Failure::Transient), expected);
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.open_for(), Some(secs(30)));
        advance(secs(29)).await;
        assert_eq!(breaker.try_acquire(), Err(secs(1)));
        advance(secs(1)).await;
        assert!(
            breaker.try_acquire().is_ok(),
            "the probe, as the period ends"
        );
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.try_acquire().is_err(), "only one probe at a time");
        assert_eq!(
            breaker.record_failure(Failure::Transient),
            Some(Transition::Reopened)
        );
        assert_eq!(breaker.open_for(), Some(secs(60)), "doubled");
        advance(secs(60)).await;
        assert!(breaker.try_acquire().is_ok());
        assert_eq!(breaker.record_success(), Some(Transition::Closed));
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(breaker.record_success(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn closing_resets_the_backoff() {
        let mut breaker = CircuitBreaker::new(&count_only(1));
        breaker.record_failure(Failure::Transient);
        advance(secs(30)).await;
        assert!(breaker.try_acquire().is_ok());
        breaker.record_failure(Failure::Transient);
        assert_eq!(breaker.open_for(), Some(secs(60)));
        advance(secs(60)).await;
        assert!(breaker.try_acquire().is_ok());
        breaker.record_success();
        assert_eq!(
            breaker.record_failure(Failure::Transient),
            Some(Transition::Opened)
        );
        assert_eq!(
            breaker.open_for(),
            Some(secs(30)),
            "back to the first cooldown"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_probe_lets_the_next_call_probe() {
        let mut breaker = CircuitBreaker::new(&count_only(1));
        breaker.record_failure(Failure::Transient);
        advance(secs(30)).await;
        assert!(breaker.try_acquire().is_ok());
        breaker.release();
        assert!(breaker.try_acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn down_opens_at_once_and_a_longer_down_extends_the_period() {
        let mut breaker = CircuitBreaker::new(&BreakerSettings::default());
        assert_eq!(
            breaker.record_failure(Failure::Down { at_least: None }),
            Some(Transition::Opened)
        );
        assert_eq!(breaker.open_for(), Some(secs(900)));
        advance(secs(100)).await;
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
        advance(secs(3599)).await;
        assert_eq!(breaker.try_acquire(), Err(secs(1)));
        advance(secs(1)).await;
        assert!(breaker.try_acquire().is_ok());
        assert_eq!(breaker.record_success(), Some(Transition::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_period_is_capped() {
        let mut breaker = CircuitBreaker::new(&BreakerSettings {
            max_cooldown: secs(600),
            ..BreakerSettings::default()
        });
        breaker.record_failure(Failure::Down {
            at_least: Some(secs(86_400 * 3)),
        });
        assert_eq!(breaker.open_for(), Some(secs(600)));
    }

    /// The failure rate's window counts on failsafe's clock (see the module doc), so this test
    /// freezes and advances that one; tokio's clock stands still, which keeps the circuit open
    /// from the moment the rate opens it.
    #[tokio::test(start_paused = true)]
    async fn a_high_failure_rate_opens_the_circuit_without_consecutive_failures() {
        failsafe::clock::freeze(|time| {
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
            assert_eq!(breaker.open_for(), Some(secs(30)));
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_failure_while_open_changes_nothing() {
        let mut breaker = CircuitBreaker::new(&count_only(1));
        breaker.record_failure(Failure::Transient);
        advance(secs(10)).await;
        assert_eq!(breaker.record_failure(Failure::Transient), None);
        assert_eq!(breaker.open_for(), Some(secs(20)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_success_while_open_closes_it() {
        let mut breaker = CircuitBreaker::new(&count_only(1));
        breaker.record_failure(Failure::Transient);
        assert_eq!(breaker.record_success(), Some(Transition::Closed));
        assert!(breaker.try_acquire().is_ok());
        assert_eq!(breaker.open_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn sub_second_cooldowns_work() {
        let mut breaker = CircuitBreaker::new(&BreakerSettings {
            cooldown: Duration::from_millis(200),
            ..count_only(1)
        });
        breaker.record_failure(Failure::Transient);
        assert_eq!(breaker.open_for(), Some(Duration::from_millis(200)));
        advance(Duration::from_millis(199)).await;
        assert_eq!(breaker.try_acquire(), Err(Duration::from_millis(1)));
        advance(Duration::from_millis(1)).await;
        assert!(breaker.try_acquire().is_ok());
    }
}
