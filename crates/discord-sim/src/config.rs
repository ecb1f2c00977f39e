//! [`SimConfig`]: everything a test or the `discord-sim` binary chooses about the simulated
//! Discord. Defaults are Discord's own published values wherever one exists (heartbeat
//! interval, identify spacing, 50 requests/s global limit, 120 gateway sends per minute), so a
//! test that wants something faster or tighter says so explicitly.

use std::net::{IpAddr, Ipv4Addr};

use super::error::SimError;

/// How REST requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `Authorization: Bot <token>`; a bare token is rejected with 401, as Discord does.
    Bot,
    /// `Authorization: <token>` with no prefix (a user account's token, as self-bots send it);
    /// `Bot <token>` is 401. READY then carries full guild objects and no GUILD_CREATE follows,
    /// like a user account.
    User,
}

/// Whether the application may receive message content (the privileged MESSAGE_CONTENT
/// intent), shown in `GET /oauth2/applications/@me` `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageContentApproval {
    /// Flag GATEWAY_MESSAGE_CONTENT (1 << 18): verified bots in 100+ guilds.
    Enabled,
    /// Flag GATEWAY_MESSAGE_CONTENT_LIMITED (1 << 19): the toggle bots under 100 guilds get.
    Limited,
    /// Neither flag: IDENTIFY asking for MESSAGE_CONTENT is closed with 4014, and REST
    /// messages arrive with empty content, embeds and attachments.
    Disabled,
}

/// When the live stream of generated traffic begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// As soon as the sim is up, connected client or not (events with no session are lost).
    Immediately,
    /// When the first READY has been queued for a client.
    OnFirstReady,
    /// Only when the test calls [`super::SimHandle::start_stream`].
    Manual,
}

/// `session_start_limit` served by `GET /gateway/bot` and enforced on IDENTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// Identifies allowed per reset period (Discord: 1000 a day).
    pub total: u32,
    /// Identifies left when the sim starts.
    pub remaining: u32,
    /// Milliseconds from sim start until `remaining` goes back to `total`.
    pub reset_after_ms: u64,
    /// Identifies allowed per 5 s window, per bucket `shard_id % max_concurrency`.
    pub max_concurrency: u32,
}

impl Default for SessionStartLimit {
    fn default() -> Self {
        Self {
            total: 1000,
            remaining: 1000,
            // One day, Discord's reset period.
            reset_after_ms: 86_400_000,
            max_concurrency: 1,
        }
    }
}

/// A per-route override of the REST bucket size, e.g. route
/// `"GET /channels/{channel_id}/messages"` with `limit` 2 every `reset_ms` 1000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLimit {
    /// Method and path template exactly as listed in the module doc.
    pub route: String,
    pub limit: u32,
    pub reset_ms: u64,
}

/// Everything about one simulated Discord. Build with `SimConfig { field: .., ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every generated id offset, name, message and stream decision: the same seed
    /// gives the same guilds, channels, history contents and live sequence.
    pub seed: u64,
    /// The only token the sim accepts (REST and IDENTIFY/RESUME).
    pub token: String,
    pub token_kind: TokenKind,
    /// Address every listener binds; loopback by default.
    pub bind_ip: IpAddr,
    /// 0 picks a free port, for all three listeners.
    pub rest_port: u16,
    pub gateway_port: u16,
    /// The port behind READY's `resume_gateway_url`: a separate listener, so tests can see
    /// which URL a client resumed on.
    pub resume_gateway_port: u16,

    pub guilds: usize,
    /// Text channels per guild (every fourth is an announcement channel), plus one category.
    pub channels_per_guild: usize,
    /// Public threads per guild at start, spread over its text channels.
    pub threads_per_guild: usize,
    /// The last N text channels of every guild answer REST with 403 Missing Access and
    /// dispatch nothing: the bot cannot see them.
    pub forbidden_channels_per_guild: usize,
    /// Messages that exist in every text channel and thread before any client connects,
    /// only reachable by REST backfill.
    pub history_per_channel: usize,
    /// MESSAGE_CREATE events the live stream generates in total.
    pub live_messages: usize,
    /// Live messages per second; 0 means as fast as the sim can produce them.
    pub rate_per_sec: f64,
    pub stream_start: StreamStart,
    /// After each live message, the chance of also editing an earlier message (0..=1).
    pub edit_ratio: f64,
    /// After each live message, the chance of also deleting an earlier message (0..=1).
    pub delete_ratio: f64,
    /// Chance that a live message with a link later gets an embed-unfurl MESSAGE_UPDATE
    /// (no `edited_timestamp`), like Discord's link previews.
    pub unfurl_ratio: f64,
    /// Per live message, the chance of a structural event: thread create/update/list sync,
    /// channel create/update, guild update, bulk delete.
    pub structure_event_ratio: f64,
    /// Per live message, the chance of a dispatch with an event type no client knows.
    pub unknown_event_ratio: f64,
    /// Embed unfurls as the legacy partial MESSAGE_UPDATE `{id, channel_id, guild_id,
    /// embeds}` instead of a full message object.
    pub partial_unfurl_updates: bool,
    /// Pads the first guild's GUILD_CREATE with members until it is at least this many bytes
    /// (e.g. `Some(3_500_000)` for the multi-megabyte case).
    pub big_guild_bytes: Option<usize>,

    /// Sent in HELLO; Discord's value is 41250 ms, tests use a few hundred.
    pub heartbeat_interval_ms: u64,
    /// Close with 4009 when no heartbeat arrived for `1.5 * interval + grace`; `None` never
    /// closes for missing heartbeats.
    pub heartbeat_grace_ms: Option<u64>,
    /// How long a disconnected session stays resumable (events keep buffering for it).
    pub session_ttl_ms: u64,
    /// Dispatches kept per session for replay; RESUME from before the oldest gets op 9 false.
    pub replay_buffer_events: usize,
    /// Minimum time between IDENTIFYs of one `max_concurrency` bucket; a faster one gets op 9
    /// `d=false`, as Discord answers. 0 disables the check.
    pub identify_spacing_ms: u64,
    /// Client payloads allowed per 60 s on one connection before close 4008.
    pub gateway_send_limit_per_minute: u32,
    pub message_content: MessageContentApproval,
    /// `shards` recommended by `GET /gateway/bot`.
    pub shards: u32,
    pub session_start_limit: SessionStartLimit,

    /// Requests per second across all routes; 0 disables the global limit.
    pub global_limit_per_sec: u32,
    /// Default bucket: requests per window, per route and major parameter.
    pub bucket_limit: u32,
    /// Default bucket window in milliseconds, counted from the first request of a window.
    pub bucket_reset_ms: u64,
    pub route_limits: Vec<RouteLimit>,
    /// REST requests kept in the log (oldest dropped first), so a long-running binary stays
    /// bounded; tests see everything unless they send more than this.
    pub rest_log_limit: usize,
    /// The bot holds MANAGE_THREADS: `GET /channels/{id}/threads/archived/private` answers
    /// (an empty list: the sim has no private threads) instead of 403 code 50013, which is
    /// what a bot without the permission gets from Discord.
    pub manage_threads: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            token: default_token(),
            token_kind: TokenKind::Bot,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rest_port: 0,
            gateway_port: 0,
            resume_gateway_port: 0,
            guilds: 2,
            channels_per_guild: 3,
            threads_per_guild: 1,
            forbidden_channels_per_guild: 0,
            history_per_channel: 20,
            live_messages: 100,
            rate_per_sec: 10.0,
            stream_start: StreamStart::OnFirstReady,
            edit_ratio: 0.1,
            delete_ratio: 0.05,
            unfurl_ratio: 0.5,
            structure_event_ratio: 0.02,
            unknown_event_ratio: 0.01,
            partial_unfurl_updates: false,
            big_guild_bytes: None,
            heartbeat_interval_ms: 41_250,
            heartbeat_grace_ms: Some(5_000),
            // Discord does not publish it; a few minutes matches what clients observe.
            session_ttl_ms: 180_000,
            replay_buffer_events: 20_000,
            // Discord: one identify per 5 s per concurrency bucket.
            identify_spacing_ms: 5_000,
            gateway_send_limit_per_minute: 120,
            message_content: MessageContentApproval::Limited,
            shards: 1,
            session_start_limit: SessionStartLimit::default(),
            global_limit_per_sec: 50,
            bucket_limit: 5,
            bucket_reset_ms: 5_000,
            route_limits: Vec::new(),
            rest_log_limit: 200_000,
            manage_threads: false,
        }
    }
}

/// A token in the shape of a real bot token (base64 user id, timestamp, HMAC), so clients
/// that sanity-check the format accept it.
pub fn default_token() -> String {
    "MTAwMDAwMDAwMDAwMDAwMDAx.GsimTk.c2ltdWxhdGVkLWRpc2NvcmQtdG9rZW4tMDAx".to_owned()
}

impl SimConfig {
    /// Reports every invalid value at once.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut problems = Vec::new();
        for (name, ratio) in [
            ("edit_ratio", self.edit_ratio),
            ("delete_ratio", self.delete_ratio),
            ("unfurl_ratio", self.unfurl_ratio),
            ("structure_event_ratio", self.structure_event_ratio),
            ("unknown_event_ratio", self.unknown_event_ratio),
        ] {
            if !(0.0..=1.0).contains(&ratio) {
                problems.push(format!("{name} must be between 0 and 1, got {ratio}"));
            }
        }
        if !self.rate_per_sec.is_finite() || self.rate_per_sec < 0.0 {
            problems.push(format!(
                "rate_per_sec must be 0 or positive, got {}",
                self.rate_per_sec
            ));
        }
        if self.token.trim().is_empty() || self.token.chars().any(char::is_whitespace) {
            problems.push("token must be non-empty without whitespace".to_owned());
        }
        if self.forbidden_channels_per_guild > self.channels_per_guild {
            problems.push(format!(
                "forbidden_channels_per_guild ({}) exceeds channels_per_guild ({})",
                self.forbidden_channels_per_guild, self.channels_per_guild
            ));
        }
        if self.live_messages > 0
            && (self.guilds == 0 || self.channels_per_guild <= self.forbidden_channels_per_guild)
        {
            problems.push("live_messages needs at least one visible text channel".to_owned());
        }
        if self.heartbeat_interval_ms == 0 {
            problems.push("heartbeat_interval_ms must be positive".to_owned());
        }
        if self.replay_buffer_events == 0 {
            problems.push("replay_buffer_events must be positive".to_owned());
        }
        if self.shards == 0 || self.session_start_limit.max_concurrency == 0 {
            problems
                .push("shards and session_start_limit.max_concurrency must be positive".to_owned());
        }
        if self.rest_log_limit == 0 {
            problems.push("rest_log_limit must be positive".to_owned());
        }
        if self.bucket_limit == 0 || self.bucket_reset_ms == 0 {
            problems.push("bucket_limit and bucket_reset_ms must be positive".to_owned());
        }
        for route in &self.route_limits {
            if route.limit == 0 || route.reset_ms == 0 {
                problems.push(format!("route limit {:?} must be positive", route.route));
            }
            if !super::rest::KNOWN_ROUTES.contains(&route.route.as_str()) {
                problems.push(format!(
                    "route {:?} is not a route the sim serves (known: {})",
                    route.route,
                    super::rest::KNOWN_ROUTES.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::InvalidConfig(problems.join("; ")))
        }
    }
}
