//! The gateway protocol's envelope, opcodes, intents and close codes, and the payloads we
//! send (IDENTIFY, RESUME, HEARTBEAT) or read before dispatches start (HELLO, READY), plus
//! `GET /gateway/bot`; the dispatches we act on as typed [`GatewayEvent`]s, and the
//! sessions a restart resumes ([`ResumableSession`], [`PersistedSession`]).

mod events;
mod session;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::model::{Snowflake, User};

pub use events::{GatewayEvent, SequencedEvent};
pub use session::{
    MAX_PERSISTED_SESSION_AGE, PERSISTED_SESSION_REFRESH, PersistedSession, ResumableSession,
    Unusable, token_fingerprint,
};

/// The API version in every REST path and gateway URL.
pub const API_VERSION: u8 = 10;

/// Gateway opcodes (Discord's `topics/opcodes-and-status-codes`).
pub mod opcode {
    pub const DISPATCH: u8 = 0;
    pub const HEARTBEAT: u8 = 1;
    pub const IDENTIFY: u8 = 2;
    pub const PRESENCE_UPDATE: u8 = 3;
    pub const VOICE_STATE_UPDATE: u8 = 4;
    pub const RESUME: u8 = 6;
    pub const RECONNECT: u8 = 7;
    pub const REQUEST_GUILD_MEMBERS: u8 = 8;
    pub const INVALID_SESSION: u8 = 9;
    pub const HELLO: u8 = 10;
    pub const HEARTBEAT_ACK: u8 = 11;
}

/// Gateway intents we may ask for.
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// Privileged: without it guild message content, embeds and attachments arrive empty.
    pub const MESSAGE_CONTENT: u64 = 1 << 15;

    /// What we need to store messages: guilds and channels, guild and direct messages, and
    /// their content.
    pub const DEFAULT: u64 = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT;

    /// Intent names accepted in `discord.intents`.
    pub const NAMED: &[(&str, u64)] = &[
        ("GUILDS", GUILDS),
        ("GUILD_MESSAGES", GUILD_MESSAGES),
        ("DIRECT_MESSAGES", DIRECT_MESSAGES),
        ("MESSAGE_CONTENT", MESSAGE_CONTENT),
    ];
}

/// One gateway frame as received. `d` stays raw until `op`/`t` say what it is, so a dispatch
/// is parsed once, into the right type, and never searched by substring.
#[derive(Debug, Deserialize)]
pub struct InboundFrame<'a> {
    pub op: u8,
    #[serde(borrow, default)]
    pub d: Option<&'a RawValue>,
    #[serde(default)]
    pub s: Option<u64>,
    #[serde(default)]
    pub t: Option<String>,
}

/// A frame we send.
#[derive(Debug, Serialize)]
pub struct OutboundFrame<T: Serialize> {
    pub op: u8,
    pub d: T,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    /// Milliseconds between heartbeats.
    pub heartbeat_interval: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub session_id: String,
    /// Where RESUME must go (with the original query string).
    pub resume_gateway_url: String,
    pub user: User,
    /// `[shard_id, num_shards]`.
    #[serde(default)]
    pub shard: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentifyProperties {
    pub os: String,
    pub browser: String,
    pub device: String,
}

impl IdentifyProperties {
    pub fn ours() -> Self {
        Self {
            os: std::env::consts::OS.to_owned(),
            browser: env!("CARGO_PKG_NAME").to_owned(),
            device: env!("CARGO_PKG_NAME").to_owned(),
        }
    }
}

/// IDENTIFY's `d`. Holds the raw token only while being serialized; never logged (no Debug).
#[derive(Serialize)]
pub struct Identify<'a> {
    pub token: &'a str,
    pub intents: u64,
    pub properties: IdentifyProperties,
    pub shard: [u32; 2],
    /// Members above which a guild's member list is not sent; we need none.
    pub large_threshold: u32,
}

/// RESUME's `d`. No Debug, like [`Identify`]: it holds the token.
#[derive(Serialize)]
pub struct Resume<'a> {
    pub token: &'a str,
    pub session_id: &'a str,
    pub seq: u64,
}

/// What a close code means for the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect and RESUME the session.
    Resume,
    /// Reconnect with a new session (IDENTIFY).
    Reidentify,
    /// Never reconnect: configuration or credentials must change first.
    Fatal,
}

/// Classifies a close code from the server (`None`: no close frame, e.g. a dropped TCP
/// connection). Per Discord: 4004 and 4010-4014 are fatal; 4007 and 4009 need a new session;
/// the rest, 1006 and a missing code reconnect and resume. A 1000/1001 from the server ends
/// the session on Discord's side, so we identify anew.
pub fn close_action(code: Option<u16>) -> CloseAction {
    match code {
        Some(4004 | 4010 | 4011 | 4012 | 4013 | 4014) => CloseAction::Fatal,
        Some(4007 | 4009 | 1000 | 1001) => CloseAction::Reidentify,
        _ => CloseAction::Resume,
    }
}

/// Why a fatal close code is fatal, for the log, health and alerts.
pub fn close_code_reason(code: u16) -> &'static str {
    match code {
        4000 => "unknown error",
        4001 => "unknown opcode sent",
        4002 => "payload could not be decoded",
        4003 => "payload sent before identifying",
        4004 => "authentication failed: the token is invalid",
        4005 => "already authenticated",
        4007 => "invalid sequence number on resume",
        4008 => "rate limited: too many payloads",
        4009 => "session timed out",
        4010 => "invalid shard",
        4011 => "sharding required: too many guilds for one shard",
        4012 => "invalid API version",
        4013 => "invalid intents",
        4014 => {
            "disallowed intents: enable the privileged intent (MESSAGE_CONTENT) in the developer portal"
        }
        1000 => "normal closure",
        1001 => "going away",
        1006 => "abnormal closure (connection lost)",
        _ => "unrecognised close code",
    }
}

/// `GET /gateway/bot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayBot {
    pub url: String,
    pub shards: u32,
    pub session_start_limit: SessionStartLimit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStartLimit {
    pub total: u32,
    pub remaining: u32,
    /// Milliseconds until `remaining` resets.
    pub reset_after: u64,
    /// Identifies allowed per 5 seconds.
    pub max_concurrency: u32,
}

/// The shard that receives a guild's events (DMs go to shard 0).
pub const fn shard_for_guild(guild_id: Snowflake, num_shards: u32) -> u32 {
    if num_shards == 0 {
        return 0;
    }
    ((guild_id.0 >> 22) % num_shards as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_classified_as_the_docs_say() {
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert_eq!(close_action(Some(code)), CloseAction::Fatal, "{code}");
        }
        for code in [4007, 4009, 1000, 1001] {
            assert_eq!(close_action(Some(code)), CloseAction::Reidentify, "{code}");
        }
        for code in [4000, 4001, 4002, 4003, 4005, 4008, 1006] {
            assert_eq!(close_action(Some(code)), CloseAction::Resume, "{code}");
        }
        assert_eq!(close_action(None), CloseAction::Resume);
    }

    #[test]
    fn frames_keep_d_raw_and_accept_nulls() {
        let text = r#"{"op":0,"d":{"content":"\"t\":\"READY\""},"s":42,"t":"MESSAGE_CREATE"}"#;
        let frame: InboundFrame<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(frame.t.as_deref(), Some("MESSAGE_CREATE"));
        assert_eq!(frame.s, Some(42));
        let hello: InboundFrame<'_> = serde_json::from_str(
            r#"{"op":10,"d":{"heartbeat_interval":41250,"_trace":["x"]},"s":null,"t":null}"#,
        )
        .unwrap();
        let hello: Hello = serde_json::from_str(hello.d.unwrap().get()).unwrap();
        assert_eq!(hello.heartbeat_interval, 41_250);
    }

    #[test]
    fn shards_follow_the_documented_formula() {
        assert_eq!(shard_for_guild(Snowflake(175_928_847_299_117_063), 1), 0);
        assert_eq!(
            shard_for_guild(Snowflake(175_928_847_299_117_063), 16),
            ((175_928_847_299_117_063_u64 >> 22) % 16) as u32
        );
    }
}
