//! What the storage path accepts: Discord objects as the gateway delivered them.

use crate::discord::{Channel, Guild, Message, MessageUpdate, Snowflake};

#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// MESSAGE_CREATE.
    MessageCreated(Message),
    /// MESSAGE_UPDATE carrying the full message.
    MessageUpdated(Message),
    /// MESSAGE_UPDATE carrying only some fields.
    MessagePartiallyUpdated(MessageUpdate),
    /// MESSAGE_DELETE and MESSAGE_DELETE_BULK.
    MessagesDeleted {
        channel_id: Snowflake,
        guild_id: Option<Snowflake>,
        ids: Vec<Snowflake>,
    },
    /// GUILD_CREATE / GUILD_UPDATE (GUILD_CREATE also lists channels and active threads).
    GuildUpserted(Guild),
    /// CHANNEL_CREATE/UPDATE, THREAD_CREATE/UPDATE.
    ChannelUpserted(Channel),
    /// THREAD_LIST_SYNC: the active threads of a guild.
    ThreadsSynced {
        guild_id: Snowflake,
        threads: Vec<Channel>,
    },
}

impl IngestEvent {
    /// Label for metrics and logs.
    pub const fn kind(&self) -> &'static str {
        match self {
            IngestEvent::MessageCreated(_) => "message_created",
            IngestEvent::MessageUpdated(_) => "message_updated",
            IngestEvent::MessagePartiallyUpdated(_) => "message_partially_updated",
            IngestEvent::MessagesDeleted { .. } => "messages_deleted",
            IngestEvent::GuildUpserted(_) => "guild_upserted",
            IngestEvent::ChannelUpserted(_) => "channel_upserted",
            IngestEvent::ThreadsSynced { .. } => "threads_synced",
        }
    }
}
