//! `discord-monitor discord check`: answers "will monitoring work with this token and this
//! config?" before the service runs. It verifies the token (`GET /users/@me`), shows the
//! gateway URL, recommended shards and `session_start_limit`, whether the application has
//! the MESSAGE_CONTENT intent (bot tokens), and every guild and channel the token can see,
//! with which are monitored (per [`DiscordConfig::monitors`]) and which answer 403. Each
//! monitored channel is probed with `GET /channels/{id}/messages?limit=1`, a few at a time,
//! through the caller's [`RequestGate`] (a RateLimiterActor of its own, so the check honours
//! `rate_limit_requests_per_minute`).
//!
//! It replaces the deployment guide's `curl .../users/@me` token check. A rejected token is an
//! error with a one-line explanation ([`CheckError::TokenRejected`]); everything else that is
//! wrong lands in the report's `problems`.

use std::fmt;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use slog::{Logger, info, o};

use super::config::{DiscordConfig, TokenType};
use super::gateway::{SessionStartLimit, intents};
use super::model::{Channel, Snowflake, channel_type};
use super::rest::{DiscordRest, MessageContentIntent, RequestGate, RestError};
use crate::logging::error_chain;

/// Channels probed at once: enough to finish quickly under Discord's limits, few enough
/// that the limiter, not a burst of parallel requests, sets the pace.
const PROBE_CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("discord.token is not set: set DISCORD_TOKEN (or DISCORD_TOKEN_FILE)")]
    MissingToken,

    #[error("Discord rejected the token (401): check DISCORD_TOKEN and discord.token_type")]
    TokenRejected,

    #[error("cannot verify the token against {api_base_url}")]
    Unverified {
        api_base_url: String,
        #[source]
        source: RestError,
    },

    #[error("cannot set up the Discord client")]
    Client(#[source] RestError),
}

/// Everything the check found. `Display` is the CLI's text; `--json` serializes it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub api_base_url: String,
    pub token_type: TokenType,
    pub account: Account,
    pub gateway: GatewayCheck,
    /// Bot tokens only.
    pub message_content_intent: Option<MessageContentIntent>,
    pub guilds: Vec<GuildCheck>,
    /// What stops monitoring from working as configured.
    pub problems: Vec<String>,
    /// What works but deserves attention.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: Snowflake,
    pub name: String,
    pub bot: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayCheck {
    /// What Discord returned (`None` if the request failed).
    pub url: Option<String>,
    /// `discord.gateway_url`, which the service uses instead.
    pub configured_url: Option<String>,
    /// Bot tokens only.
    pub recommended_shards: Option<u32>,
    pub session_start_limit: Option<SessionStartLimit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GuildCheck {
    pub id: Snowflake,
    pub name: String,
    /// Per `discord.guild_ids`; channels are listed for monitored guilds only.
    pub monitored: bool,
    pub channels: Vec<ChannelCheck>,
    /// Why the channels could not be listed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelCheck {
    pub id: Snowflake,
    pub name: Option<String>,
    /// Discord's channel type.
    pub kind: i32,
    pub kind_name: &'static str,
    /// Category of a channel, or the channel of a thread.
    pub parent_id: Option<Snowflake>,
    /// Whether its messages would be stored.
    pub monitored: bool,
    pub access: ChannelAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChannelAccess {
    /// The probe read its history.
    Readable,
    /// 403: the token lacks View Channel or Read Message History there.
    Forbidden,
    NotFound,
    /// Not monitored, or a channel type without messages: not asked.
    NotProbed,
    Failed {
        error: String,
    },
}

impl CheckReport {
    pub fn monitored_channels(&self) -> impl Iterator<Item = &ChannelCheck> {
        self.guilds
            .iter()
            .flat_map(|guild| &guild.channels)
            .filter(|channel| channel.monitored)
    }
}

/// Runs the check for `config`, every request through `gate` (a RateLimiterActor of its own,
/// so the check honours `rate_limit_requests_per_minute`).
pub async fn run_check(
    config: &DiscordConfig,
    gate: Arc<dyn RequestGate>,
    log: &Logger,
) -> Result<CheckReport, CheckError> {
    let log = log.new(o!("logger" => "discord_check"));
    if config.token.as_ref().is_none_or(|token| token.is_empty()) {
        return Err(CheckError::MissingToken);
    }
    let rest = DiscordRest::new(config, gate, &log).map_err(CheckError::Client)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let user = rest.current_user().await.map_err(|source| match source {
        RestError::Unauthorized { .. } | RestError::Fatal { .. } => CheckError::TokenRejected,
        source => CheckError::Unverified {
            api_base_url: config.api_base_url.clone(),
            source,
        },
    })?;
    info!(log, "Token accepted"; "user_id" => user.id.get(), "bot" => user.bot);
    let is_bot = config.token_type == TokenType::Bot;
    if config.token_type == TokenType::User {
        warnings.push(
            "discord.token_type is user: automating a user account breaks Discord's terms of \
             service and can get the account banned; use a bot token"
                .to_owned(),
        );
    }

    let gateway = check_gateway(&rest, config, &mut problems).await;
    let message_content_intent = if is_bot {
        check_message_content(&rest, config, &mut problems).await
    } else {
        None
    };
    let guilds = check_guilds(&rest, config, is_bot, &log, &mut problems).await;

    Ok(CheckReport {
        api_base_url: config.api_base_url.clone(),
        token_type: config.token_type,
        account: Account {
            id: user.id,
            name: user.display_name().to_owned(),
            bot: user.bot,
        },
        gateway,
        message_content_intent,
        guilds,
        problems,
        warnings,
    })
}

async fn check_gateway(
    rest: &DiscordRest,
    config: &DiscordConfig,
    problems: &mut Vec<String>,
) -> GatewayCheck {
    let mut gateway = GatewayCheck {
        url: None,
        configured_url: config.gateway_url.clone(),
        recommended_shards: None,
        session_start_limit: None,
    };
    if rest.token_type() == TokenType::Bot {
        match rest.get_gateway_bot().await {
            Ok(bot) => {
                if bot.session_start_limit.remaining == 0 {
                    problems.push(format!(
                        "no gateway sessions left today (0 of {}): connecting must wait {} s",
                        bot.session_start_limit.total,
                        bot.session_start_limit.reset_after / 1_000
                    ));
                }
                if bot.shards > config.shard_count {
                    problems.push(format!(
                        "Discord recommends {} shards but discord.shard_count is {}",
                        bot.shards, config.shard_count
                    ));
                }
                gateway.url = Some(bot.url);
                gateway.recommended_shards = Some(bot.shards);
                gateway.session_start_limit = Some(bot.session_start_limit);
            }
            Err(err) => problems.push(format!("GET /gateway/bot failed: {}", error_chain(&err))),
        }
    } else {
        match rest.get_gateway().await {
            Ok(url) => gateway.url = Some(url.url),
            Err(err) => problems.push(format!("GET /gateway failed: {}", error_chain(&err))),
        }
    }
    gateway
}

async fn check_message_content(
    rest: &DiscordRest,
    config: &DiscordConfig,
    problems: &mut Vec<String>,
) -> Option<MessageContentIntent> {
    match rest.current_application().await {
        Ok(application) => {
            let intent = application.message_content_intent();
            if intent == MessageContentIntent::Disabled
                && config.intent_bits() & intents::MESSAGE_CONTENT != 0
            {
                problems.push(
                    "the MESSAGE_CONTENT intent is requested (discord.intents) but not enabled \
                     for the application: the gateway will close with 4014; enable it under \
                     Bot > Privileged Gateway Intents in the developer portal"
                        .to_owned(),
                );
            }
            Some(intent)
        }
        Err(err) => {
            problems.push(format!(
                "GET /applications/@me failed: {}",
                error_chain(&err)
            ));
            None
        }
    }
}

async fn check_guilds(
    rest: &DiscordRest,
    config: &DiscordConfig,
    is_bot: bool,
    log: &Logger,
    problems: &mut Vec<String>,
) -> Vec<GuildCheck> {
    let visible = match rest.current_user_guilds().await {
        Ok(guilds) => guilds,
        Err(err) => {
            problems.push(format!("cannot list guilds: {}", error_chain(&err)));
            return Vec::new();
        }
    };
    for wanted in &config.guild_ids {
        if !visible.iter().any(|guild| guild.id == *wanted) {
            problems.push(format!(
                "guild {wanted} in discord.guild_ids is not visible to the token (is the bot a member?)"
            ));
        }
    }
    let mut guilds = Vec::with_capacity(visible.len());
    for guild in visible {
        let monitored = config.guild_ids.is_empty() || config.guild_ids.contains(&guild.id);
        let mut check = GuildCheck {
            id: guild.id,
            name: guild.name,
            monitored,
            channels: Vec::new(),
            error: None,
        };
        if monitored {
            match list_channels(rest, guild.id, is_bot).await {
                Ok(channels) => {
                    check.channels = channels
                        .into_iter()
                        .map(|channel| classify(config, guild.id, channel))
                        .collect();
                }
                Err(err) => check.error = Some(error_chain(&err)),
            }
        }
        guilds.push(check);
    }
    let seen: Vec<Snowflake> = guilds
        .iter()
        .flat_map(|guild| guild.channels.iter().map(|channel| channel.id))
        .collect();
    for wanted in &config.channel_ids {
        if !seen.contains(wanted) {
            problems.push(format!(
                "channel {wanted} in discord.channel_ids is not in any monitored guild the token can see"
            ));
        }
    }
    probe_channels(rest, &mut guilds, log).await;
    for channel in guilds.iter().flat_map(|guild| &guild.channels) {
        if channel.monitored && channel.access == ChannelAccess::Forbidden {
            problems.push(format!(
                "no access to monitored channel {} ({}): grant View Channel and Read Message History, or list it in discord.ignored_channel_ids",
                channel.name.as_deref().unwrap_or("unnamed"),
                channel.id
            ));
        }
    }
    guilds
}

/// A guild's channels, plus its active threads for bot tokens (user tokens cannot list them).
async fn list_channels(
    rest: &DiscordRest,
    guild_id: Snowflake,
    is_bot: bool,
) -> Result<Vec<Channel>, RestError> {
    let mut channels = rest.guild_channels(guild_id).await?;
    channels.sort_by_key(|channel| (channel.position.unwrap_or(i64::MAX), channel.id));
    if !is_bot {
        return Ok(channels);
    }
    // Each thread right below its channel; threads whose channel is not listed go last.
    let mut threads = rest.active_threads(guild_id).await?;
    let mut ordered = Vec::with_capacity(channels.len() + threads.len());
    for channel in channels {
        let id = channel.id;
        ordered.push(channel);
        let (own, rest_of_threads): (Vec<_>, Vec<_>) = threads
            .into_iter()
            .partition(|thread| thread.parent_id == Some(id));
        ordered.extend(own);
        threads = rest_of_threads;
    }
    ordered.extend(threads);
    Ok(ordered)
}

fn classify(config: &DiscordConfig, guild_id: Snowflake, channel: Channel) -> ChannelCheck {
    let thread_parent = channel
        .parent_id
        .filter(|_| channel_type::is_thread(channel.kind));
    let monitored = channel_type::holds_messages(channel.kind)
        && config.monitors(Some(guild_id), channel.id, thread_parent);
    ChannelCheck {
        id: channel.id,
        name: channel.name,
        kind: channel.kind,
        kind_name: kind_name(channel.kind),
        parent_id: channel.parent_id,
        monitored,
        access: ChannelAccess::NotProbed,
    }
}

/// Reads one message of each monitored channel, [`PROBE_CONCURRENCY`] at a time.
async fn probe_channels(rest: &DiscordRest, guilds: &mut [GuildCheck], log: &Logger) {
    let targets: Vec<(usize, usize, Snowflake)> = guilds
        .iter()
        .enumerate()
        .flat_map(|(guild_index, guild)| {
            guild
                .channels
                .iter()
                .enumerate()
                .filter(|(_, channel)| channel.monitored)
                .map(move |(channel_index, channel)| (guild_index, channel_index, channel.id))
        })
        .collect();
    info!(log, "Probing monitored channels"; "count" => targets.len());
    let results: Vec<(usize, usize, ChannelAccess)> = stream::iter(targets)
        .map(|(guild_index, channel_index, channel_id)| async move {
            let access = match rest.channel_messages_before(channel_id, None, 1).await {
                Ok(_) => ChannelAccess::Readable,
                Err(RestError::Forbidden { .. }) => ChannelAccess::Forbidden,
                Err(RestError::NotFound { .. }) => ChannelAccess::NotFound,
                Err(err) => ChannelAccess::Failed {
                    error: error_chain(&err),
                },
            };
            (guild_index, channel_index, access)
        })
        .buffer_unordered(PROBE_CONCURRENCY)
        .collect()
        .await;
    for (guild_index, channel_index, access) in results {
        if let Some(channel) = guilds
            .get_mut(guild_index)
            .and_then(|guild| guild.channels.get_mut(channel_index))
        {
            channel.access = access;
        }
    }
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        channel_type::GUILD_TEXT => "text",
        channel_type::DM => "dm",
        channel_type::GUILD_VOICE => "voice",
        channel_type::GROUP_DM => "group dm",
        channel_type::GUILD_CATEGORY => "category",
        channel_type::GUILD_ANNOUNCEMENT => "announcement",
        channel_type::ANNOUNCEMENT_THREAD => "announcement thread",
        channel_type::PUBLIC_THREAD => "thread",
        channel_type::PRIVATE_THREAD => "private thread",
        channel_type::GUILD_STAGE_VOICE => "stage",
        channel_type::GUILD_FORUM => "forum",
        channel_type::GUILD_MEDIA => "media",
        _ => "other",
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Discord check against {}", self.api_base_url)?;
        writeln!(
            f,
            "Token: accepted ({} token) for {} (id {}{})",
            self.token_type.as_str(),
            self.account.name,
            self.account.id,
            if self.account.bot { ", bot" } else { "" }
        )?;
        write!(f, "Gateway: ")?;
        match &self.gateway.url {
            Some(url) => write!(f, "{url}")?,
            None => write!(f, "unknown (request failed)")?,
        }
        if let Some(shards) = self.gateway.recommended_shards {
            write!(f, ", {shards} recommended shard(s)")?;
        }
        writeln!(f)?;
        if let Some(configured) = &self.gateway.configured_url {
            writeln!(f, "  discord.gateway_url overrides it: {configured}")?;
        }
        if let Some(limit) = &self.gateway.session_start_limit {
            writeln!(
                f,
                "Session starts: {} of {} left, reset in {}, {} identify(s) per 5 s",
                limit.remaining,
                limit.total,
                human_duration_ms(limit.reset_after),
                limit.max_concurrency
            )?;
        }
        if let Some(intent) = self.message_content_intent {
            let text = match intent {
                MessageContentIntent::Enabled => "enabled",
                MessageContentIntent::EnabledLimited => "enabled (bot in fewer than 100 servers)",
                MessageContentIntent::Disabled => {
                    "NOT enabled: guild messages arrive without content"
                }
            };
            writeln!(f, "MESSAGE_CONTENT intent: {text}")?;
        }
        let monitored_guilds = self.guilds.iter().filter(|guild| guild.monitored).count();
        writeln!(
            f,
            "Guilds: {} visible, {} monitored; channels: {} monitored",
            self.guilds.len(),
            monitored_guilds,
            self.monitored_channels().count()
        )?;
        for guild in &self.guilds {
            let mark = if guild.monitored {
                "monitored"
            } else {
                "not monitored"
            };
            writeln!(f, "  {} ({}) [{mark}]", guild.name, guild.id)?;
            if let Some(error) = &guild.error {
                writeln!(f, "    channels unavailable: {error}")?;
            }
            for channel in &guild.channels {
                writeln!(
                    f,
                    "    {:<32} {:>20}  {:<20} {}",
                    channel_label(channel),
                    channel.id.to_string(),
                    channel.kind_name,
                    channel_state(channel)
                )?;
            }
        }
        if !self.problems.is_empty() {
            writeln!(f, "Problems:")?;
            for problem in &self.problems {
                writeln!(f, "  - {problem}")?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "Warnings:")?;
            for warning in &self.warnings {
                writeln!(f, "  - {warning}")?;
            }
        }
        Ok(())
    }
}

fn channel_label(channel: &ChannelCheck) -> String {
    let name = channel.name.as_deref().unwrap_or("(unnamed)");
    if channel_type::is_thread(channel.kind) {
        format!("  └ {name}")
    } else if channel.kind == channel_type::GUILD_CATEGORY {
        name.to_owned()
    } else {
        format!("#{name}")
    }
}

fn channel_state(channel: &ChannelCheck) -> String {
    if !channel_type::holds_messages(channel.kind) {
        return "holds no messages".to_owned();
    }
    if !channel.monitored {
        return "not monitored".to_owned();
    }
    match &channel.access {
        ChannelAccess::Readable => "monitored, readable".to_owned(),
        ChannelAccess::Forbidden => "monitored, FORBIDDEN (403)".to_owned(),
        ChannelAccess::NotFound => "monitored, not found (404)".to_owned(),
        ChannelAccess::NotProbed => "monitored".to_owned(),
        ChannelAccess::Failed { error } => format!("monitored, probe failed: {error}"),
    }
}

fn human_duration_ms(ms: u64) -> String {
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{} s", ms / 1_000),
        (0, minutes) => format!("{minutes} min"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

#[cfg(test)]
mod tests;
