//! Per-route protection, kept in the actor (not `failsafe`, whose breaker wraps futures and
//! owns its clock, while the actor needs to ask "may I try now, and when next?" to postpone
//! outbox rows without counting an attempt).
//!
//! - [`Breaker`]: closed until `threshold` failures in a row, then open for `open_for`; after
//!   that one trial delivery (half-open) closes it on success or reopens it on failure.
//! - [`RateLimit`]: a token bucket of `per_minute` tokens refilled continuously.
//!
//! Both take the current time as an argument, so tests drive them without sleeping.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open {
        until: Instant,
    },
    /// One trial is allowed; its outcome decides.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    consecutive_failures: u32,
    state: BreakerState,
}

/// What a failure did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripped {
    /// It just opened (from closed or after a failed trial).
    Opened,
    No,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            consecutive_failures: 0,
            state: BreakerState::Closed,
        }
    }

    /// `None` when a delivery may be tried now; otherwise when it may.
    pub fn blocked_until(&mut self, now: Instant) -> Option<Instant> {
        match self.state {
            BreakerState::Open { until } if now < until => Some(until),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen;
                None
            }
            BreakerState::Closed | BreakerState::HalfOpen => None,
        }
    }

    /// Records a success; true when it closed a breaker that was not closed.
    pub fn succeeded(&mut self) -> bool {
        let was_open = self.state != BreakerState::Closed;
        self.consecutive_failures = 0;
        self.state = BreakerState::Closed;
        was_open
    }

    pub fn failed(&mut self, now: Instant) -> Tripped {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let trips = match self.state {
            BreakerState::HalfOpen => true,
            BreakerState::Closed => self.consecutive_failures >= self.threshold,
            BreakerState::Open { .. } => false,
        };
        if !trips {
            return Tripped::No;
        }
        let first_opening = self.state == BreakerState::Closed;
        self.state = BreakerState::Open {
            until: now + self.open_for,
        };
        if first_opening {
            Tripped::Opened
        } else {
            Tripped::No
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == BreakerState::Closed
    }
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    capacity: f64,
    tokens: f64,
    /// Tokens per second.
    refill: f64,
    last: Instant,
}

impl RateLimit {
    pub fn per_minute(per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from(per_minute.max(1));
        RateLimit {
            capacity,
            tokens: capacity,
            refill: capacity / 60.0,
            last: now,
        }
    }

    /// Takes a token; `Err(wait)` when none is left.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.refill))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_the_wait() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(60));
        assert_eq!(breaker.failed(start), Tripped::No);
        assert_eq!(breaker.failed(start), Tripped::No);
        assert_eq!(breaker.failed(start), Tripped::Opened);
        assert_eq!(
            breaker.blocked_until(start + Duration::from_secs(59)),
            Some(start + Duration::from_secs(60))
        );
        assert_eq!(breaker.blocked_until(start + Duration::from_secs(60)), None);
        // The failed trial reopens without announcing it again.
        let later = start + Duration::from_secs(61);
        assert_eq!(breaker.failed(later), Tripped::No);
        assert!(breaker.blocked_until(later).is_some());
        assert_eq!(breaker.blocked_until(later + Duration::from_secs(60)), None);
        assert!(breaker.succeeded());
        assert!(breaker.is_closed());
        assert!(!breaker.succeeded());
    }

    #[test]
    fn rate_limit_refills_over_the_minute() {
        let start = Instant::now();
        let mut limit = RateLimit::per_minute(2, start);
        assert!(limit.take(start).is_ok());
        assert!(limit.take(start).is_ok());
        let wait = limit.take(start).unwrap_err();
        assert_eq!(wait.as_secs(), 30);
        assert!(limit.take(start + Duration::from_secs(30)).is_ok());
    }
}
