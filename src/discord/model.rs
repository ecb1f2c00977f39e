//! The Discord objects we store, as they arrive from the gateway and REST.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A Discord id. Discord sends strings (JavaScript cannot hold 64-bit integers); some
/// libraries and old payloads send integers, so both are accepted. Serialized as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Snowflake(pub u64);

/// Milliseconds from the Unix epoch to Discord's epoch (2015-01-01T00:00:00Z).
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

impl Snowflake {
    pub const fn get(self) -> u64 {
        self.0
    }

    /// When this id was minted, in Unix milliseconds (the top 42 bits count milliseconds
    /// since Discord's epoch).
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> 22) + DISCORD_EPOCH_MS
    }

    /// The smallest id minted at `unix_ms` (for "after this time" queries).
    pub const fn from_timestamp_ms(unix_ms: u64) -> Self {
        Snowflake(unix_ms.saturating_sub(DISCORD_EPOCH_MS) << 22)
    }
}

/// The link that opens a message in Discord (its "Copy Message Link"); direct messages have
/// no guild and use `@me` in its place.
pub fn message_url(guild_id: Option<u64>, channel_id: u64, message_id: u64) -> String {
    match guild_id {
        Some(guild_id) => {
            format!("https://discord.com/channels/{guild_id}/{channel_id}/{message_id}")
        }
        None => format!("https://discord.com/channels/@me/{channel_id}/{message_id}"),
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SnowflakeVisitor;

        impl Visitor<'_> for SnowflakeVisitor {
            type Value = Snowflake;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snowflake as a decimal string or an unsigned integer")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Snowflake, E> {
                Ok(Snowflake(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Snowflake, E> {
                u64::try_from(value)
                    .map(Snowflake)
                    .map_err(|_| E::custom(format!("negative snowflake {value}")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Snowflake, E> {
                value
                    .parse()
                    .map(Snowflake)
                    .map_err(|_| E::custom(format!("invalid snowflake {value:?}")))
            }
        }

        deserializer.deserialize_any(SnowflakeVisitor)
    }
}

/// `null` and a missing field both mean the default (Discord sends either).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Snowflake,
    #[serde(default, deserialize_with = "null_as_default")]
    pub username: String,
    /// The display name users pick; preferred over `username` when set.
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub bot: bool,
}

impl User {
    /// The name to show: the display name, else the username.
    pub fn display_name(&self) -> &str {
        self.global_name
            .as_deref()
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.username)
    }
}

/// A guild member as embedded in guild messages; only the nickname matters to us.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialMember {
    #[serde(default)]
    pub nick: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageReference {
    #[serde(default)]
    pub message_id: Option<Snowflake>,
    #[serde(default)]
    pub channel_id: Option<Snowflake>,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
}

/// A message: the body of MESSAGE_CREATE, of a full MESSAGE_UPDATE, and of REST history.
/// REST messages carry no `guild_id`: fill it from the channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Snowflake,
    pub channel_id: Snowflake,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    pub author: User,
    #[serde(default)]
    pub member: Option<PartialMember>,
    /// Empty without the MESSAGE_CONTENT intent (except DMs and mentions of the bot).
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: String,
    /// ISO 8601, e.g. `2026-11-28T21:27:06.123000+00:00`.
    pub timestamp: String,
    #[serde(default)]
    pub edited_timestamp: Option<String>,
    /// Discord message type (0 default, 19 reply, ...).
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: i32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachments: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub embeds: Vec<serde_json::Value>,
    #[serde(default)]
    pub message_reference: Option<MessageReference>,
}

/// The body of MESSAGE_UPDATE when it is not a full message (older API behaviour, embed
/// unfurls): only `id` and `channel_id` are certain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageUpdate {
    pub id: Snowflake,
    pub channel_id: Snowflake,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub edited_timestamp: Option<String>,
    #[serde(default)]
    pub attachments: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub embeds: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDelete {
    pub id: Snowflake,
    pub channel_id: Snowflake,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeleteBulk {
    pub ids: Vec<Snowflake>,
    pub channel_id: Snowflake,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
}

/// Discord channel types we treat specially.
pub mod channel_type {
    pub const GUILD_TEXT: i32 = 0;
    pub const DM: i32 = 1;
    pub const GUILD_VOICE: i32 = 2;
    pub const GROUP_DM: i32 = 3;
    pub const GUILD_CATEGORY: i32 = 4;
    pub const GUILD_ANNOUNCEMENT: i32 = 5;
    pub const ANNOUNCEMENT_THREAD: i32 = 10;
    pub const PUBLIC_THREAD: i32 = 11;
    pub const PRIVATE_THREAD: i32 = 12;
    pub const GUILD_STAGE_VOICE: i32 = 13;
    pub const GUILD_FORUM: i32 = 15;
    pub const GUILD_MEDIA: i32 = 16;

    /// Threads and forum posts: channels with a parent that hold messages.
    pub const fn is_thread(kind: i32) -> bool {
        matches!(kind, ANNOUNCEMENT_THREAD | PUBLIC_THREAD | PRIVATE_THREAD)
    }

    /// Channels whose messages we can read (text, announcements, threads, voice text chat,
    /// DMs). Categories, forums and media channels hold no messages themselves: their posts
    /// are threads.
    pub const fn holds_messages(kind: i32) -> bool {
        matches!(
            kind,
            GUILD_TEXT
                | DM
                | GUILD_VOICE
                | GROUP_DM
                | GUILD_ANNOUNCEMENT
                | ANNOUNCEMENT_THREAD
                | PUBLIC_THREAD
                | PRIVATE_THREAD
                | GUILD_STAGE_VOICE
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadMetadata {
    #[serde(default, deserialize_with = "null_as_default")]
    pub archived: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub locked: bool,
    /// When `archived` last changed (ISO 8601), as Discord sends it: archived-thread
    /// listings are ordered and paged by it. Kept as text so that an odd value never costs
    /// the whole channel object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_timestamp: Option<String>,
}

/// A channel, thread or forum post. Channels inside GUILD_CREATE carry no `guild_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub id: Snowflake,
    #[serde(rename = "type")]
    pub kind: i32,
    #[serde(default)]
    pub guild_id: Option<Snowflake>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    /// Category of a channel, or the channel a thread belongs to.
    #[serde(default)]
    pub parent_id: Option<Snowflake>,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub last_message_id: Option<Snowflake>,
    #[serde(default)]
    pub thread_metadata: Option<ThreadMetadata>,
}

/// GUILD_CREATE / GUILD_UPDATE / REST guild. `unavailable: true` means an outage, not a
/// departure; GUILD_DELETE without it means we left or were removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guild {
    pub id: Snowflake,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub owner_id: Option<Snowflake>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub unavailable: bool,
    /// Present in GUILD_CREATE only.
    #[serde(default, deserialize_with = "null_as_default")]
    pub channels: Vec<Channel>,
    /// Active threads the bot can see; GUILD_CREATE only.
    #[serde(default, deserialize_with = "null_as_default")]
    pub threads: Vec<Channel>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_accept_strings_and_integers_and_serialize_as_strings() {
        let id: Snowflake = serde_json::from_str("\"175928847299117063\"").unwrap();
        assert_eq!(id.get(), 175_928_847_299_117_063);
        let id: Snowflake = serde_json::from_str("175928847299117063").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"175928847299117063\""
        );
        // Discord's documented example: minted 2016-04-30 11:18:25.796 UTC.
        assert_eq!(id.timestamp_ms(), 1_462_015_105_796);
        assert!(serde_json::from_str::<Snowflake>("\"12a\"").is_err());
        assert!(serde_json::from_str::<Snowflake>("-1").is_err());
    }

    #[test]
    fn messages_tolerate_nulls_unknown_fields_and_integer_nonces() {
        let message: Message = serde_json::from_value(serde_json::json!({
            "id": "1", "channel_id": "2", "guild_id": null,
            "author": {"id": "3", "username": "ann", "global_name": null, "bot": null,
                       "avatar_decoration_data": {"asset": "x"}},
            "content": "hi", "timestamp": "2026-01-01T00:00:00.000000+00:00",
            "edited_timestamp": null, "type": 0, "nonce": 1234567890123_u64,
            "attachments": null, "embeds": [], "mentions": [], "flags": 0,
            "message_reference": {"message_id": "9", "channel_id": "2", "fail_if_not_exists": false},
            "brand_new_field": {"nested": true}
        }))
        .unwrap();
        assert_eq!(message.author.display_name(), "ann");
        assert!(message.attachments.is_empty());
        assert_eq!(
            message.message_reference.unwrap().message_id,
            Some(Snowflake(9))
        );
    }

    #[test]
    fn guild_create_channels_and_threads() {
        let guild: Guild = serde_json::from_value(serde_json::json!({
            "id": "10", "name": "G", "unavailable": false,
            "channels": [{"id": "11", "type": 0, "name": "general", "parent_id": null}],
            "threads": [{"id": "12", "type": 11, "name": "t", "parent_id": "11",
                         "thread_metadata": {"archived": false, "locked": false}}]
        }))
        .unwrap();
        assert_eq!(guild.channels.len(), 1);
        assert!(channel_type::is_thread(guild.threads[0].kind));
        assert!(!channel_type::holds_messages(channel_type::GUILD_FORUM));
    }
}
