//! A per-route rate limit: a token bucket of `per_minute` tokens refilled continuously. It
//! takes the current time (tokio's clock, like the route's breaker) as an argument, so tests
//! drive it without sleeping.

use std::time::Duration;

use tokio::time::Instant;

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
