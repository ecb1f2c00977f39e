//! Channels Discord answered 403 for: asking again would only spend the invalid-request
//! budget, so callers skip them until permissions change.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::discord::Snowflake;

/// Channels remembered at most; past it the oldest entry is forgotten (and, if still
/// forbidden, costs one more 403 to learn again).
pub const MAX_FORBIDDEN_CHANNELS: usize = 10_000;

/// Shared by every clone; the REST client fills it on each channel-scoped 403.
#[derive(Debug, Clone, Default)]
pub struct ForbiddenChannels {
    inner: Arc<Mutex<Remembered>>,
}

#[derive(Debug, Default)]
struct Remembered {
    since: HashMap<Snowflake, DateTime<Utc>>,
    /// Insertion order, for eviction.
    order: VecDeque<Snowflake>,
}

/// One entry, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForbiddenChannel {
    pub channel_id: Snowflake,
    #[serde(serialize_with = "rfc3339_millis")]
    pub since: DateTime<Utc>,
}

fn rfc3339_millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl ForbiddenChannels {
    pub fn new() -> Self {
        Self::default()
    }

    /// A poisoned lock only means a panic elsewhere mid-insert; the set is still usable.
    fn lock(&self) -> MutexGuard<'_, Remembered> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `channel_id`; `true` when it was not known yet.
    pub fn insert(&self, channel_id: Snowflake) -> bool {
        let mut remembered = self.lock();
        if remembered.since.contains_key(&channel_id) {
            return false;
        }
        while remembered.order.len() >= MAX_FORBIDDEN_CHANNELS {
            match remembered.order.pop_front() {
                Some(oldest) => {
                    remembered.since.remove(&oldest);
                }
                None => break,
            }
        }
        remembered.since.insert(channel_id, Utc::now());
        remembered.order.push_back(channel_id);
        true
    }

    pub fn contains(&self, channel_id: Snowflake) -> bool {
        self.lock().since.contains_key(&channel_id)
    }

    /// Forgets `channel_id`, e.g. when a CHANNEL_UPDATE or GUILD_CREATE may have changed its
    /// permissions; `true` when it was remembered.
    pub fn remove(&self, channel_id: Snowflake) -> bool {
        let mut remembered = self.lock();
        let known = remembered.since.remove(&channel_id).is_some();
        if known {
            remembered.order.retain(|&id| id != channel_id);
        }
        known
    }

    pub fn len(&self) -> usize {
        self.lock().since.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, oldest first.
    pub fn snapshot(&self) -> Vec<ForbiddenChannel> {
        let remembered = self.lock();
        remembered
            .order
            .iter()
            .filter_map(|id| {
                remembered.since.get(id).map(|&since| ForbiddenChannel {
                    channel_id: *id,
                    since,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_forgets_and_stays_bounded() {
        let forbidden = ForbiddenChannels::new();
        let shared = forbidden.clone();
        assert!(forbidden.insert(Snowflake(1)));
        assert!(!shared.insert(Snowflake(1)));
        assert!(shared.contains(Snowflake(1)));
        assert!(shared.remove(Snowflake(1)));
        assert!(forbidden.is_empty());

        for id in 0..(MAX_FORBIDDEN_CHANNELS as u64 + 5) {
            forbidden.insert(Snowflake(id));
        }
        assert_eq!(forbidden.len(), MAX_FORBIDDEN_CHANNELS);
        assert!(!forbidden.contains(Snowflake(4)));
        assert!(forbidden.contains(Snowflake(5)));
        assert_eq!(forbidden.snapshot()[0].channel_id, Snowflake(5));
    }
}
