//! Snowflake ids and Discord timestamps. Ids are `(ms since 2015-01-01) << 22 | worker bits |
//! increment`, so they increase with time exactly like Discord's and clients can page by them.

use chrono::{DateTime, SecondsFormat, Utc};

/// First millisecond of 2015 (Unix ms): the zero of Discord snowflakes.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Worker id 1, process 0: the bits Discord puts between the timestamp and the increment.
const WORKER_BITS: u64 = 1 << 17;

/// Unix milliseconds encoded in a snowflake.
pub fn snowflake_unix_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Discord's ISO 8601 form with microseconds and an explicit offset:
/// `2024-05-01T12:00:00.123000+00:00`.
pub fn iso_timestamp(unix_ms: u64) -> String {
    let millis = i64::try_from(unix_ms).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub(crate) fn now_unix_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default()
}

/// Hands out strictly increasing snowflakes: the time-based id, or one more than the last
/// when several are needed within one millisecond (or the clock stepped back).
#[derive(Debug, Default)]
pub(crate) struct SnowflakeGen {
    last: u64,
}

impl SnowflakeGen {
    pub(crate) fn at(&mut self, unix_ms: u64) -> u64 {
        let since_epoch = unix_ms.saturating_sub(DISCORD_EPOCH_MS);
        let candidate = (since_epoch << 22) | WORKER_BITS;
        let id = candidate.max(self.last + 1);
        self.last = id;
        id
    }

    pub(crate) fn now(&mut self) -> u64 {
        self.at(now_unix_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_encode_their_time() {
        let mut ids = SnowflakeGen::default();
        let t = 1_700_000_000_000;
        let a = ids.at(t);
        let b = ids.at(t);
        let c = ids.at(t - 5_000);
        assert!(
            a < b && b < c,
            "ids must strictly increase even when the clock steps back"
        );
        assert_eq!(snowflake_unix_ms(a), t);
        assert_eq!(iso_timestamp(t), "2023-11-14T22:13:20.000000+00:00");
    }
}
