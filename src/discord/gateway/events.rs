//! What the gateway hands to the storage side, one variant per dispatch it needs, in the
//! order the gateway sent them, each with the session it arrived on and its sequence number.

use std::sync::Arc;

use super::session::ResumableSession;
use crate::discord::{
    Channel, Guild, Message, MessageDelete, MessageDeleteBulk, MessageUpdate, Snowflake, User,
};

/// One item of the queue to the storage side.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencedEvent {
    /// The session it arrived on: what a restart resumes once this event is committed.
    /// `None` only for events made outside a session (tests).
    pub session: Option<Arc<ResumableSession>>,
    /// The dispatch's `s`; `None` for what we add ourselves ([`GatewayEvent::SessionLost`]).
    pub seq: Option<u64>,
    pub event: GatewayEvent,
}

impl From<GatewayEvent> for SequencedEvent {
    /// An event outside any session (tests, tools).
    fn from(event: GatewayEvent) -> Self {
        Self {
            session: None,
            seq: None,
            event,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayEvent {
    /// A session started (`resumed: false`, after IDENTIFY) or continued (`resumed: true`,
    /// after RESUME; the missed events were replayed before this).
    Ready {
        session_id: String,
        user: User,
        resumed: bool,
    },
    /// Sent right after the `Ready` of a new session that replaced a lost one (op 9
    /// `d=false`, a close that ends the session, resumes given up, an actor restart):
    /// whatever happened in between never reaches the gateway, so backfill must fetch it.
    SessionLost,
    MessageCreate(Message),
    /// A MESSAGE_UPDATE carrying the whole message.
    MessageUpdate(Message),
    /// A MESSAGE_UPDATE carrying only some fields (an embed unfurl, older API behaviour).
    MessageUpdatePartial(MessageUpdate),
    MessageDelete(MessageDelete),
    MessageDeleteBulk(MessageDeleteBulk),
    GuildCreate(Guild),
    GuildUpdate(Guild),
    /// `unavailable: true` is an outage; `false` means we left or were removed.
    GuildDelete {
        id: Snowflake,
        unavailable: bool,
    },
    ChannelCreate(Channel),
    ChannelUpdate(Channel),
    ChannelDelete(Channel),
    /// Threads and forum posts: channels with a parent.
    ThreadCreate(Channel),
    ThreadUpdate(Channel),
    ThreadDelete(Channel),
    /// The active threads of `guild_id` (sent when we gain access to a channel).
    ThreadListSync {
        guild_id: Snowflake,
        threads: Vec<Channel>,
    },
}

impl GatewayEvent {
    /// The dispatch types (`t`) the gateway turns into events: a fixed set, so a label made
    /// of them cannot grow without bound.
    pub const DISPATCH_TYPES: [&str; 16] = [
        "READY",
        "RESUMED",
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
        "GUILD_CREATE",
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "THREAD_LIST_SYNC",
    ];

    /// Every value [`kind`](Self::kind) returns, e.g. for metric series made up front: the
    /// dispatch types and our own `SESSION_LOST`.
    pub const KINDS: [&str; 17] = {
        let mut kinds = ["SESSION_LOST"; 17];
        let mut index = 0;
        while index < Self::DISPATCH_TYPES.len() {
            kinds[index + 1] = Self::DISPATCH_TYPES[index];
            index += 1;
        }
        kinds
    };

    /// The dispatch type this came from, as Discord names it (`SESSION_LOST` is ours).
    pub const fn kind(&self) -> &'static str {
        match self {
            GatewayEvent::Ready { resumed: false, .. } => "READY",
            GatewayEvent::Ready { resumed: true, .. } => "RESUMED",
            GatewayEvent::SessionLost => "SESSION_LOST",
            GatewayEvent::MessageCreate(_) => "MESSAGE_CREATE",
            GatewayEvent::MessageUpdate(_) | GatewayEvent::MessageUpdatePartial(_) => {
                "MESSAGE_UPDATE"
            }
            GatewayEvent::MessageDelete(_) => "MESSAGE_DELETE",
            GatewayEvent::MessageDeleteBulk(_) => "MESSAGE_DELETE_BULK",
            GatewayEvent::GuildCreate(_) => "GUILD_CREATE",
            GatewayEvent::GuildUpdate(_) => "GUILD_UPDATE",
            GatewayEvent::GuildDelete { .. } => "GUILD_DELETE",
            GatewayEvent::ChannelCreate(_) => "CHANNEL_CREATE",
            GatewayEvent::ChannelUpdate(_) => "CHANNEL_UPDATE",
            GatewayEvent::ChannelDelete(_) => "CHANNEL_DELETE",
            GatewayEvent::ThreadCreate(_) => "THREAD_CREATE",
            GatewayEvent::ThreadUpdate(_) => "THREAD_UPDATE",
            GatewayEvent::ThreadDelete(_) => "THREAD_DELETE",
            GatewayEvent::ThreadListSync { .. } => "THREAD_LIST_SYNC",
        }
    }
}
