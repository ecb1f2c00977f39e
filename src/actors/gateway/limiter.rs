//! The gateway's two pacing rules.
//!
//! - [`SendLimiter`]: Discord closes a connection (4008) that sends more than 120 payloads in
//!   60 s. Heartbeats count too, so a share of the window is reserved for them: other
//!   commands never use it, and a burst of commands can never delay a beat into a zombie
//!   close. One limiter per connection: a new connection starts with a full window.
//! - [`IdentifyPacer`]: IDENTIFYs are limited per day (`session_start_limit`, going over
//!   resets the token) and per 5 s (at most `max_concurrency`, in buckets
//!   `shard_id % max_concurrency`).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::discord::gateway::SessionStartLimit;

/// Payloads Discord accepts per [`SEND_WINDOW`].
pub(super) const SEND_LIMIT: usize = 120;

/// The window of [`SEND_LIMIT`].
pub(super) const SEND_WINDOW: Duration = Duration::from_secs(60);

/// Payloads always left to other commands, however short the heartbeat interval.
const MIN_COMMAND_SHARE: usize = 10;

/// What is being sent: heartbeats may use the reserve, commands may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendClass {
    Heartbeat,
    Command,
}

#[derive(Debug)]
pub(super) struct SendLimiter {
    /// When each payload of the current window went out, oldest first.
    sent: VecDeque<Instant>,
    /// Payloads of the window only heartbeats may use.
    reserved: usize,
}

impl SendLimiter {
    /// A limiter for a fresh connection; the reserve follows `heartbeat_interval` once HELLO
    /// has told it, and assumes Discord's usual 41.25 s until then.
    pub(super) fn new() -> Self {
        Self {
            sent: VecDeque::with_capacity(SEND_LIMIT),
            reserved: Self::reserve_for(Duration::from_millis(41_250)),
        }
    }

    pub(super) fn set_heartbeat_interval(&mut self, interval: Duration) {
        self.reserved = Self::reserve_for(interval);
    }

    /// Beats per window, doubled for the op 1 requests the server may add, plus one for the
    /// beat that straddles the window's edge.
    fn reserve_for(interval: Duration) -> usize {
        let interval_ms = interval.as_millis().max(1);
        let beats = SEND_WINDOW.as_millis().div_ceil(interval_ms);
        let wanted =
            usize::try_from(beats.saturating_mul(2).saturating_add(1)).unwrap_or(SEND_LIMIT);
        wanted.min(SEND_LIMIT - MIN_COMMAND_SHARE)
    }

    /// Records a payload of `class` at `now` if the window has room; otherwise says how long
    /// to wait before asking again.
    pub(super) fn try_acquire(&mut self, class: SendClass, now: Instant) -> Result<(), Duration> {
        while self
            .sent
            .front()
            .is_some_and(|sent| now.saturating_duration_since(*sent) >= SEND_WINDOW)
        {
            self.sent.pop_front();
        }
        let allowed = match class {
            SendClass::Heartbeat => SEND_LIMIT,
            SendClass::Command => SEND_LIMIT - self.reserved,
        };
        if self.sent.len() < allowed {
            self.sent.push_back(now);
            return Ok(());
        }
        // Room comes back when enough of the oldest payloads leave the window.
        let must_expire = self.sent.len() + 1 - allowed;
        let frees_room = self.sent[must_expire - 1];
        Err((frees_room + SEND_WINDOW).saturating_duration_since(now))
    }
}

/// Why an IDENTIFY has to wait, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdentifyWait {
    Now,
    /// This shard identified less than the identify interval ago.
    Spacing(Duration),
    /// `session_start_limit.remaining` is 0: wait for its reset.
    DailyLimit(Duration),
}

impl IdentifyWait {
    pub(super) fn duration(self) -> Duration {
        match self {
            IdentifyWait::Now => Duration::ZERO,
            IdentifyWait::Spacing(wait) | IdentifyWait::DailyLimit(wait) => wait,
        }
    }
}

#[derive(Debug)]
pub(super) struct IdentifyPacer {
    /// At most one IDENTIFY per this: the shard's `shard_id % max_concurrency` bucket allows
    /// one per 5 s, and this process runs a single shard (so `max_concurrency` never lets it
    /// go faster).
    interval: Duration,
    last_identify: Option<Instant>,
}

impl IdentifyPacer {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_identify: None,
        }
    }

    /// How long to wait before the next IDENTIFY, given the latest `GET /gateway/bot` answer
    /// (fetched just now), if any.
    pub(super) fn wait(&self, limit: Option<&SessionStartLimit>, now: Instant) -> IdentifyWait {
        if let Some(limit) = limit
            && limit.remaining == 0
        {
            return IdentifyWait::DailyLimit(Duration::from_millis(limit.reset_after));
        }
        match self.last_identify {
            Some(last) => {
                let ready_at = last + self.interval;
                if ready_at > now {
                    IdentifyWait::Spacing(ready_at - now)
                } else {
                    IdentifyWait::Now
                }
            }
            None => IdentifyWait::Now,
        }
    }

    pub(super) fn identified(&mut self, now: Instant) {
        self.last_identify = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn commands_leave_the_reserve_to_heartbeats() {
        let mut limiter = SendLimiter::new();
        limiter.set_heartbeat_interval(Duration::from_millis(41_250));
        // 60 / 41.25 -> 2 beats, doubled for op 1 requests, plus one.
        assert_eq!(limiter.reserved, 5);
        let start = Instant::now();
        for _ in 0..SEND_LIMIT - 5 {
            limiter.try_acquire(SendClass::Command, start).unwrap();
        }
        let wait = limiter.try_acquire(SendClass::Command, start).unwrap_err();
        assert_eq!(wait, SEND_WINDOW);
        for _ in 0..5 {
            limiter.try_acquire(SendClass::Heartbeat, start).unwrap();
        }
        assert!(limiter.try_acquire(SendClass::Heartbeat, start).is_err());
        tokio::time::advance(SEND_WINDOW).await;
        limiter
            .try_acquire(SendClass::Command, Instant::now())
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides() {
        let mut limiter = SendLimiter::new();
        limiter.set_heartbeat_interval(SEND_WINDOW);
        let allowed = SEND_LIMIT - limiter.reserved;
        for _ in 0..allowed {
            limiter
                .try_acquire(SendClass::Command, Instant::now())
                .unwrap();
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        let wait = limiter
            .try_acquire(SendClass::Command, Instant::now())
            .unwrap_err();
        // The first payload leaves the window 60 s after it was sent.
        let sent_for = Duration::from_millis(100) * u32::try_from(allowed).unwrap();
        assert_eq!(wait, SEND_WINDOW - sent_for);
        tokio::time::advance(wait).await;
        limiter
            .try_acquire(SendClass::Command, Instant::now())
            .unwrap();
        assert!(
            limiter
                .try_acquire(SendClass::Command, Instant::now())
                .is_err()
        );
    }

    #[test]
    fn short_intervals_never_starve_commands() {
        let mut limiter = SendLimiter::new();
        limiter.set_heartbeat_interval(Duration::from_millis(100));
        assert_eq!(limiter.reserved, SEND_LIMIT - MIN_COMMAND_SHARE);
    }

    #[tokio::test(start_paused = true)]
    async fn identifies_are_spaced_and_wait_for_the_daily_reset() {
        let mut pacer = IdentifyPacer::new(Duration::from_secs(5));
        assert_eq!(pacer.wait(None, Instant::now()), IdentifyWait::Now);
        pacer.identified(Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            pacer.wait(None, Instant::now()),
            IdentifyWait::Spacing(Duration::from_secs(3))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(pacer.wait(None, Instant::now()), IdentifyWait::Now);
        let spent = SessionStartLimit {
            total: 1000,
            remaining: 0,
            reset_after: 14_400_000,
            max_concurrency: 1,
        };
        assert_eq!(
            pacer.wait(Some(&spent), Instant::now()),
            IdentifyWait::DailyLimit(Duration::from_secs(14_400))
        );
        let left = SessionStartLimit {
            remaining: 999,
            ..spent
        };
        assert_eq!(pacer.wait(Some(&left), Instant::now()), IdentifyWait::Now);
    }
}
