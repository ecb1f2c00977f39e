//! From Discord's objects to the database's records: the one conversion, used by the
//! IngestActor for gateway events and by backfill for REST pages.

use chrono::DateTime;

use crate::actors::db::{ChannelRecord, GuildRecord, MessageSource, NewMessage};
use crate::discord::{Channel, Guild, Message, channel_type};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("invalid timestamp {value:?}")]
    Timestamp {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
}

/// Parses Discord's ISO 8601 timestamps (`2026-11-28T21:27:06.123000+00:00`) to Unix ms.
pub fn parse_timestamp_ms(value: &str) -> Result<i64, ConvertError> {
    DateTime::parse_from_rfc3339(value)
        .map(|parsed| parsed.timestamp_millis())
        .map_err(|source| ConvertError::Timestamp {
            value: value.to_owned(),
            source,
        })
}

/// The row for `message`. `guild_id` fills in what REST messages lack (the channel's guild).
pub fn new_message(
    message: &Message,
    guild_id: Option<u64>,
    source: MessageSource,
) -> Result<NewMessage, ConvertError> {
    let author_name = message
        .member
        .as_ref()
        .and_then(|member| member.nick.clone())
        .filter(|nick| !nick.is_empty())
        .unwrap_or_else(|| message.author.display_name().to_owned());
    let reference = message.message_reference.as_ref();
    Ok(NewMessage {
        id: message.id.get(),
        channel_id: message.channel_id.get(),
        guild_id: message.guild_id.map(|id| id.get()).or(guild_id),
        author_id: message.author.id.get(),
        author_name,
        author_is_bot: message.author.bot,
        content: message.content.clone(),
        created_at_ms: parse_timestamp_ms(&message.timestamp)?,
        edited_at_ms: message
            .edited_timestamp
            .as_deref()
            .map(parse_timestamp_ms)
            .transpose()?,
        kind: message.kind,
        attachments: message.attachments.clone(),
        embeds: message.embeds.clone(),
        reply_to_message_id: reference.and_then(|r| r.message_id).map(|id| id.get()),
        reply_to_channel_id: reference.and_then(|r| r.channel_id).map(|id| id.get()),
        source,
    })
}

/// The row for `channel`; `guild_id` fills in what channels inside GUILD_CREATE lack.
pub fn channel_record(channel: &Channel, guild_id: Option<u64>) -> ChannelRecord {
    ChannelRecord {
        id: channel.id.get(),
        guild_id: channel.guild_id.map(|id| id.get()).or(guild_id),
        parent_id: channel.parent_id.map(|id| id.get()),
        kind: channel.kind,
        name: channel.name.clone().unwrap_or_default(),
        topic: channel.topic.clone(),
        is_thread: channel_type::is_thread(channel.kind),
        archived: channel
            .thread_metadata
            .as_ref()
            .is_some_and(|metadata| metadata.archived),
    }
}

pub fn guild_record(guild: &Guild) -> GuildRecord {
    GuildRecord {
        id: guild.id.get(),
        name: guild.name.clone(),
        icon: guild.icon.clone(),
        owner_id: guild.owner_id.map(|id| id.get()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_messages_get_the_channel_guild_and_nicknames_win() {
        let message: Message = serde_json::from_value(serde_json::json!({
            "id": "100", "channel_id": "200",
            "author": {"id": "3", "username": "ann", "global_name": "Ann B"},
            "member": {"nick": "annie"},
            "content": "hello", "timestamp": "2026-01-01T00:00:01.500000+00:00",
            "edited_timestamp": "2026-01-01T00:00:02+00:00", "type": 19,
            "message_reference": {"message_id": "99", "channel_id": "200"}
        }))
        .unwrap();
        let row = new_message(&message, Some(7), MessageSource::Backfill).unwrap();
        assert_eq!(row.guild_id, Some(7));
        assert_eq!(row.author_name, "annie");
        assert_eq!(row.created_at_ms, 1_767_225_601_500);
        assert_eq!(row.edited_at_ms, Some(1_767_225_602_000));
        assert_eq!(row.reply_to_message_id, Some(99));
        assert_eq!(row.kind, 19);
    }

    #[test]
    fn bad_timestamps_are_errors_not_panics() {
        assert!(parse_timestamp_ms("yesterday").is_err());
    }
}
