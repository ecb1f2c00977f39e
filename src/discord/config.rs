//! The `discord` section: which Discord, which token, which channels. Read by the gateway,
//! ingest, backfill and the REST client alike, so it lives with Discord's formats rather
//! than with any one component; [`DiscordConfig::monitors`] is the one channel selection.

use serde::{Deserialize, Serialize};

use super::Snowflake;
use super::gateway::intents;
use crate::config::{
    Allowed, EnvOverride, KeyDoc, Problems, Secret, Section, SectionDoc, ValueKind, is_http_url,
    one_of_hint,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Bot (or, as in the deployment guide, user) token; env `DISCORD_TOKEN` /
    /// `DISCORD_TOKEN_FILE`. Only `run` needs it.
    pub token: Option<Secret>,
    /// Our own ceiling on REST calls, below Discord's published limits (deployment guide's key
    /// name).
    pub rate_limit_requests_per_minute: u32,
    /// Retries of a failed REST call (5xx, transport) before it is reported failed; one call
    /// makes at most `1 + max_retries` attempts (deployment guide's key name).
    pub max_retries: u32,
    /// Seconds to wait for a TCP/TLS connection to Discord (the deployment guide's key name, hence
    /// no unit suffix).
    pub connection_timeout: f64,
    /// `bot` (recommended) or `user` (the deployment guide's choice, against Discord's terms of
    /// service).
    pub token_type: TokenType,
    /// REST base, with the API version; changed only to point at a proxy or discord-sim.
    pub api_base_url: String,
    /// Gateway URL to use instead of the one `GET /gateway/bot` returns.
    pub gateway_url: Option<String>,
    /// Gateway transport compression: `zlib-stream` or `none`.
    pub compression: Compression,
    /// Gateway intents by name (GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT).
    pub intents: Vec<String>,
    /// This process's shard, and the number of shards (`shard_id < shard_count`).
    pub shard_id: u32,
    pub shard_count: u32,
    /// Only these guilds (empty: every guild the token can see).
    pub guild_ids: Vec<Snowflake>,
    /// Only these channels (empty: every channel of the monitored guilds).
    pub channel_ids: Vec<Snowflake>,
    /// Never these channels, even when listed or in a monitored guild.
    pub ignored_channel_ids: Vec<Snowflake>,
    /// Messages fetched per channel on the first backfill (0: start from now).
    pub backfill_max_messages_per_channel: u32,
    /// Seconds between scheduled backfill passes (gap safety net besides the gateway).
    pub backfill_interval_secs: u64,
    /// Channels a backfill pass pages at once, each in its own Discord bucket.
    pub backfill_concurrent_channels: u32,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            rate_limit_requests_per_minute: default_rate_limit_requests_per_minute(),
            max_retries: default_max_retries(),
            connection_timeout: default_connection_timeout(),
            token_type: TokenType::Bot,
            api_base_url: default_api_base_url(),
            gateway_url: None,
            compression: Compression::ZlibStream,
            intents: default_intents(),
            shard_id: 0,
            shard_count: default_shard_count(),
            guild_ids: Vec::new(),
            channel_ids: Vec::new(),
            ignored_channel_ids: Vec::new(),
            backfill_max_messages_per_channel: default_backfill_max_messages_per_channel(),
            backfill_interval_secs: default_backfill_interval_secs(),
            backfill_concurrent_channels: default_backfill_concurrent_channels(),
        }
    }
}

impl DiscordConfig {
    /// The intent bits `intents` names (unknown names are reported by validation).
    pub fn intent_bits(&self) -> u64 {
        self.intents
            .iter()
            .filter_map(|name| {
                intents::NAMED
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(name))
                    .map(|(_, bits)| *bits)
            })
            .fold(0, |all, bits| all | bits)
    }

    /// Whether messages of `channel_id` (in `guild_id`, with parent `parent_id` for threads)
    /// are to be stored. A thread follows its parent channel's selection.
    pub fn monitors(
        &self,
        guild_id: Option<Snowflake>,
        channel_id: Snowflake,
        parent_id: Option<Snowflake>,
    ) -> bool {
        let ignored = |id: Snowflake| self.ignored_channel_ids.contains(&id);
        if ignored(channel_id) || parent_id.is_some_and(ignored) {
            return false;
        }
        if let Some(guild) = guild_id
            && !self.guild_ids.is_empty()
            && !self.guild_ids.contains(&guild)
        {
            return false;
        }
        self.channel_ids.is_empty()
            || self.channel_ids.contains(&channel_id)
            || parent_id.is_some_and(|parent| self.channel_ids.contains(&parent))
    }
}

impl Section for DiscordConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[],
    };

    fn validate(&self, problems: &mut Problems) {
        if !is_http_url(&self.api_base_url) {
            problems.report(
                "discord.api_base_url",
                "must be an http:// or https:// URL",
                Some("default: https://discord.com/api/v10".to_owned()),
            );
        }
        if let Some(url) = &self.gateway_url
            && !(url.starts_with("wss://") || url.starts_with("ws://"))
        {
            problems.report(
                "discord.gateway_url",
                "must be a ws:// or wss:// URL",
                Some("leave it unset to use the URL Discord returns".to_owned()),
            );
        }
        let known: Vec<&str> = intents::NAMED.iter().map(|(name, _)| *name).collect();
        for (index, name) in self.intents.iter().enumerate() {
            if !known.iter().any(|known| known.eq_ignore_ascii_case(name)) {
                problems.report(
                    &format!("discord.intents[{index}]"),
                    format!("unknown intent `{name}`"),
                    Some(one_of_hint(&known, Some(name))),
                );
            }
        }
        if self.shard_id >= self.shard_count {
            problems.report(
                "discord.shard_id",
                format!(
                    "shard {} does not exist with shard_count {}",
                    self.shard_id, self.shard_count
                ),
                Some("shard ids run from 0 to shard_count - 1".to_owned()),
            );
        }
    }
}

const KEYS: &[KeyDoc] = &[
    KeyDoc::new("discord", "How the service talks to Discord.", Allowed::Any),
    KeyDoc::new(
        "discord.token",
        "Discord token. Only `run` needs it; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.rate_limit_requests_per_minute",
        "Ceiling on our own REST calls, per minute, kept below Discord's limits.",
        Allowed::range(1.0, 3_000.0),
    ),
    KeyDoc::new(
        "discord.max_retries",
        "Retries of a failed REST call before it is reported failed.",
        Allowed::range(0.0, 20.0),
    ),
    KeyDoc::new(
        "discord.connection_timeout",
        "Seconds to wait for a connection to Discord.",
        Allowed::above_at_most(0.0, 300.0),
    ),
    KeyDoc::new(
        "discord.token_type",
        "`bot` (recommended) or `user` (the deployment guide's choice; automating a user account \
         breaks Discord's terms).",
        Allowed::OneOf(&["bot", "user"]),
    ),
    KeyDoc::new(
        "discord.api_base_url",
        "REST base URL with the API version; change only for a proxy or discord-sim.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.gateway_url",
        "Gateway URL to use instead of the one GET /gateway/bot returns.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.compression",
        "Gateway transport compression.",
        Allowed::OneOf(&["zlib-stream", "none"]),
    ),
    KeyDoc::new(
        "discord.intents",
        "Gateway intents by name: GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT \
         (privileged: enable it in the developer portal).",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.shard_id",
        "This process's shard.",
        Allowed::range(0.0, 65_535.0),
    ),
    KeyDoc::new(
        "discord.shard_count",
        "Number of shards (each serves up to 2500 guilds).",
        Allowed::range(1.0, 65_536.0),
    ),
    KeyDoc::new(
        "discord.guild_ids",
        "Only these guilds; empty means every guild the token can see.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.channel_ids",
        "Only these channels (and their threads); empty means every channel.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.ignored_channel_ids",
        "Never these channels (nor their threads).",
        Allowed::Any,
    ),
    KeyDoc::new(
        "discord.backfill_max_messages_per_channel",
        "Messages fetched per channel on the first backfill; 0 starts from now.",
        Allowed::range(0.0, 1_000_000.0),
    ),
    KeyDoc::new(
        "discord.backfill_interval_secs",
        "Seconds between scheduled backfill passes, the safety net behind the gateway.",
        Allowed::range(10.0, 86_400.0),
    ),
    KeyDoc::new(
        "discord.backfill_concurrent_channels",
        "Channels a backfill pass pages at once (each is its own Discord rate-limit bucket; all share rate_limit_requests_per_minute).",
        Allowed::range(1.0, 32.0),
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("DISCORD_TOKEN", "discord.token", ValueKind::Secret),
    EnvOverride::new(
        "DISCORD_RATE_LIMIT_RPM",
        "discord.rate_limit_requests_per_minute",
        ValueKind::Integer,
    ),
    EnvOverride::new(
        "DISCORD_MAX_RETRIES",
        "discord.max_retries",
        ValueKind::Integer,
    ),
    EnvOverride::new("DISCORD_TOKEN_TYPE", "discord.token_type", ValueKind::Text),
    EnvOverride::new(
        "DISCORD_API_BASE_URL",
        "discord.api_base_url",
        ValueKind::Text,
    ),
    EnvOverride::new(
        "DISCORD_GATEWAY_URL",
        "discord.gateway_url",
        ValueKind::Text,
    ),
    EnvOverride::new("DISCORD_GUILD_IDS", "discord.guild_ids", ValueKind::List),
    EnvOverride::new(
        "DISCORD_CHANNEL_IDS",
        "discord.channel_ids",
        ValueKind::List,
    ),
    EnvOverride::new(
        "DISCORD_IGNORED_CHANNEL_IDS",
        "discord.ignored_channel_ids",
        ValueKind::List,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Bot,
    /// A user account's token: REST `Authorization` carries it without the `Bot ` prefix.
    /// Automating a user account breaks Discord's terms; supported because the deployment guide
    /// uses one.
    User,
}

impl TokenType {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::Bot => "bot",
            TokenType::User => "user",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[serde(rename = "zlib-stream")]
    ZlibStream,
    #[serde(rename = "none")]
    None,
}

impl Compression {
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::ZlibStream => "zlib-stream",
            Compression::None => "none",
        }
    }
}

/// Discord's v10 REST API.
pub fn default_api_base_url() -> String {
    "https://discord.com/api/v10".to_owned()
}

/// Everything needed to store guild and direct messages with their content.
pub fn default_intents() -> Vec<String> {
    [
        "GUILDS",
        "GUILD_MESSAGES",
        "DIRECT_MESSAGES",
        "MESSAGE_CONTENT",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// One shard serves up to 2500 guilds, far more than a monitor watches.
pub const fn default_shard_count() -> u32 {
    1
}

/// Messages: enough context for a first digest without a long first run.
pub const fn default_backfill_max_messages_per_channel() -> u32 {
    1_000
}

/// Seconds: a quarter hour bounds how long a gap the gateway missed goes unnoticed.
pub const fn default_backfill_interval_secs() -> u64 {
    900
}

/// Channels. Each channel's history is its own Discord bucket (5 requests per 5 s), so one
/// channel at a time pages about one request a second however high our ceiling is; four
/// keep four buckets busy (about 4 requests/s, 400 messages/s). Few enough that a first
/// run, thousands of pages long, takes under a tenth of the highest ceiling (3000 a minute)
/// and leaves the rest to the REST calls gateway events trigger, which share it. At the
/// default 50 a minute the ceiling, not this, sets the pace.
pub const fn default_backfill_concurrent_channels() -> u32 {
    4
}

/// The deployment guide's default: well under Discord's 50 requests/second global limit.
pub const fn default_rate_limit_requests_per_minute() -> u32 {
    50
}

pub const fn default_max_retries() -> u32 {
    3
}

/// Seconds; the deployment guide's default.
pub const fn default_connection_timeout() -> f64 {
    30.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_intents_are_what_storing_messages_needs() {
        assert_eq!(DiscordConfig::default().intent_bits(), intents::DEFAULT);
    }

    #[test]
    fn channel_selection_follows_guilds_channels_ignores_and_thread_parents() {
        let guild = Some(Snowflake(1));
        let everything = DiscordConfig::default();
        assert!(everything.monitors(guild, Snowflake(10), None));

        let selective = DiscordConfig {
            guild_ids: vec![Snowflake(1)],
            channel_ids: vec![Snowflake(10)],
            ignored_channel_ids: vec![Snowflake(11)],
            ..DiscordConfig::default()
        };
        assert!(selective.monitors(guild, Snowflake(10), None));
        assert!(!selective.monitors(guild, Snowflake(12), None));
        assert!(!selective.monitors(Some(Snowflake(2)), Snowflake(10), None));
        // A thread of a monitored channel is monitored; one of an ignored channel is not.
        assert!(selective.monitors(guild, Snowflake(20), Some(Snowflake(10))));
        assert!(!selective.monitors(guild, Snowflake(21), Some(Snowflake(11))));
        // Direct messages have no guild: only the channel lists apply.
        assert!(!selective.monitors(None, Snowflake(30), None));
        assert!(everything.monitors(None, Snowflake(30), None));
    }
}
