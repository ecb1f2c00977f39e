//! Reconnect backoff: the first attempt after a loss is immediate (most drops are one-offs: a
//! deploy on Discord's side, op 7), then 1 s, 2 s, 4 s ... up to a cap, each with jitter so that
//! many clients cut off together do not return together.

use std::time::Duration;

/// Share of each wait taken off at random. Taking it off rather than adding it keeps the
/// waits ordered (the shortest wait of attempt n + 1 is longer than the longest of attempt
/// n) and the cap a real cap.
const JITTER_FRACTION: f64 = 0.25;

#[derive(Debug)]
pub(super) struct ReconnectBackoff {
    /// Attempts since the last session was ready.
    attempts: u32,
    max: Duration,
}

impl ReconnectBackoff {
    pub(super) fn new(max: Duration) -> Self {
        Self { attempts: 0, max }
    }

    /// Attempts since the last success.
    pub(super) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before the next attempt, which it counts.
    pub(super) fn next_delay(&mut self) -> Duration {
        let delay = self.delay_with(self.attempts, rand::random::<f64>());
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    /// The wait before attempt `attempt` (0-based) for a random share `jitter` in `0..1`.
    pub(super) fn delay_with(&self, attempt: u32, jitter: f64) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let doublings = attempt - 1;
        let base = 1_u32
            .checked_shl(doublings)
            .map_or(self.max, |factor| Duration::from_secs(u64::from(factor)))
            .min(self.max);
        base.mul_f64(1.0 - JITTER_FRACTION * jitter.clamp(0.0, 1.0))
    }

    /// A session is ready again: the next loss starts over with an immediate attempt.
    pub(super) fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(60);

    #[test]
    fn immediate_then_doubling_up_to_the_cap() {
        let backoff = ReconnectBackoff::new(CAP);
        let waits: Vec<u64> = (0..10)
            .map(|attempt| backoff.delay_with(attempt, 0.0).as_secs())
            .collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.delay_with(u32::MAX, 0.0), CAP);
    }

    #[test]
    fn jitter_takes_off_up_to_a_quarter_and_keeps_the_order() {
        let backoff = ReconnectBackoff::new(CAP);
        assert_eq!(
            backoff.delay_with(3, 1.0),
            Duration::from_secs(4).mul_f64(0.75)
        );
        for attempt in 1..7 {
            assert!(backoff.delay_with(attempt + 1, 1.0) > backoff.delay_with(attempt, 0.0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_count_until_reset() {
        let mut backoff = ReconnectBackoff::new(CAP);
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            tokio::time::sleep(backoff.next_delay()).await;
        }
        // 0 + ~1 + ~2 + ~4 seconds, each up to a quarter shorter.
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs_f64(7.0 * 0.75) && waited <= Duration::from_secs(7));
        assert_eq!(backoff.attempts(), 4);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::ZERO);
    }
}
