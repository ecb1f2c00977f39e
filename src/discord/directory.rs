//! What we know of each channel: its guild, its parent (for threads) and its type. Filled
//! from GUILD_CREATE, channel events and backfill's REST listings; used to decide whether a
//! channel is monitored and to give REST messages (which carry no `guild_id`) their guild.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Channel, Guild, Snowflake};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    pub guild_id: Option<Snowflake>,
    pub parent_id: Option<Snowflake>,
    pub kind: i32,
}

/// Shared by the IngestActor and backfill (cheap clone).
#[derive(Debug, Clone, Default)]
pub struct ChannelDirectory {
    channels: Arc<RwLock<HashMap<Snowflake, ChannelInfo>>>,
}

impl ChannelDirectory {
    pub fn get(&self, channel_id: Snowflake) -> Option<ChannelInfo> {
        self.channels
            .read()
            .ok()
            .and_then(|channels| channels.get(&channel_id).copied())
    }

    pub fn remember(&self, channel: &Channel, guild_id: Option<Snowflake>) {
        if let Ok(mut channels) = self.channels.write() {
            channels.insert(
                channel.id,
                ChannelInfo {
                    guild_id: channel.guild_id.or(guild_id),
                    parent_id: channel.parent_id,
                    kind: channel.kind,
                },
            );
        }
    }

    pub fn remember_guild(&self, guild: &Guild) {
        for channel in guild.channels.iter().chain(&guild.threads) {
            self.remember(channel, Some(guild.id));
        }
    }

    pub fn len(&self) -> usize {
        self.channels.read().map_or(0, |channels| channels.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_of_a_guild_create_get_its_guild() {
        let guild: Guild = serde_json::from_value(serde_json::json!({
            "id": "1", "name": "g",
            "channels": [{"id": "10", "type": 0}],
            "threads": [{"id": "11", "type": 11, "parent_id": "10"}]
        }))
        .unwrap();
        let directory = ChannelDirectory::default();
        directory.remember_guild(&guild);
        let thread = directory.get(Snowflake(11)).unwrap();
        assert_eq!(thread.guild_id, Some(Snowflake(1)));
        assert_eq!(thread.parent_id, Some(Snowflake(10)));
        assert_eq!(directory.len(), 2);
        assert!(directory.get(Snowflake(99)).is_none());
    }
}
