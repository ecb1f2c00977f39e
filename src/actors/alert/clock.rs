//! [`WallClock`]: where the outbox's times come from.

/// The wall clock the AlertActor reads the outbox's times from, in milliseconds since the Unix
/// epoch.
///
/// Outbox rows keep wall-clock times (when a row is due, when a condition was last sent)
/// because they outlive the process: a restart carries on with their retries and cooldowns.
/// What lives only in memory (each route's breaker and rate limit, the wake-up timers) runs on
/// tokio's clock instead. Tests give the actor a wall clock that follows tokio's, so skipping
/// time on a paused tokio clock skips the outbox's time with it.
#[derive(Debug, Clone, Copy)]
pub struct WallClock(Source);

#[derive(Debug, Clone, Copy)]
enum Source {
    System,
    /// `wall_ms` at tokio's instant `at`, moving with tokio's clock since.
    #[cfg(test)]
    FollowingTokio {
        wall_ms: i64,
        at: tokio::time::Instant,
    },
}

impl WallClock {
    /// The system's clock.
    pub const fn system() -> Self {
        Self(Source::System)
    }

    /// Reads the system's clock once, then moves with tokio's: it stands still while tokio's
    /// clock is paused and jumps with `tokio::time::advance`.
    #[cfg(test)]
    pub fn following_tokio() -> Self {
        Self(Source::FollowingTokio {
            wall_ms: Self::system().now_ms(),
            at: tokio::time::Instant::now(),
        })
    }

    pub fn now_ms(&self) -> i64 {
        match self.0 {
            Source::System => chrono::Utc::now().timestamp_millis(),
            #[cfg(test)]
            Source::FollowingTokio { wall_ms, at } => {
                let elapsed_ms = i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX);
                wall_ms.saturating_add(elapsed_ms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn following_tokio_moves_only_with_tokio_time() {
        let clock = WallClock::following_tokio();
        let start = clock.now_ms();
        tokio::task::yield_now().await;
        assert_eq!(clock.now_ms(), start);
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(clock.now_ms(), start + 1_500);
    }
}
