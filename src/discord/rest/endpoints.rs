//! The endpoints the service uses, typed, with their routes (template plus major parameter,
//! which is what the limiter keys buckets by).

use serde::{Deserialize, Serialize};

use super::client::DiscordRest;
use super::error::RestError;
use super::route::Route;
use crate::discord::config::TokenType;
use crate::discord::gateway::{GatewayBot, SessionStartLimit};
use crate::discord::{Channel, Guild, Message, Snowflake, User};

/// Discord's page size for message history.
pub const MAX_MESSAGES_PER_PAGE: u8 = 100;

/// Discord's page size for `GET /users/@me/guilds`.
const GUILDS_PER_PAGE: usize = 200;

/// Discord's page size bounds for archived-thread listings (it refuses fewer than two).
pub const MIN_ARCHIVED_THREADS_PER_PAGE: u8 = 2;
pub const MAX_ARCHIVED_THREADS_PER_PAGE: u8 = 100;

/// Discord's documented daily identify budget, assumed for user tokens (which cannot ask).
const USER_SESSION_STARTS_PER_DAY: u32 = 1_000;

/// Pages of guilds read at most (a million guilds): a server that keeps answering full pages
/// must not keep us looping.
const MAX_GUILD_PAGES: usize = 5_000;

pub mod routes {
    use super::super::route::Route;

    pub const GATEWAY: Route = Route::get("/gateway");
    pub const GATEWAY_BOT: Route = Route::get("/gateway/bot");
    pub const CURRENT_USER: Route = Route::get("/users/@me");
    pub const CURRENT_APPLICATION: Route = Route::get("/applications/@me");
    pub const CURRENT_USER_GUILDS: Route = Route::get("/users/@me/guilds");
    pub const GUILD: Route = Route::get("/guilds/{guild_id}");
    pub const GUILD_CHANNELS: Route = Route::get("/guilds/{guild_id}/channels");
    pub const GUILD_ACTIVE_THREADS: Route = Route::get("/guilds/{guild_id}/threads/active");
    pub const CHANNEL: Route = Route::get("/channels/{channel_id}");
    pub const CHANNEL_MESSAGES: Route = Route::get("/channels/{channel_id}/messages");
    pub const ARCHIVED_PUBLIC_THREADS: Route =
        Route::get("/channels/{channel_id}/threads/archived/public");
    pub const ARCHIVED_PRIVATE_THREADS: Route =
        Route::get("/channels/{channel_id}/threads/archived/private");

    /// Every route above: the REST metrics have a series for each from the start.
    pub const ALL: &[Route] = &[
        GATEWAY,
        GATEWAY_BOT,
        CURRENT_USER,
        CURRENT_APPLICATION,
        CURRENT_USER_GUILDS,
        GUILD,
        GUILD_CHANNELS,
        GUILD_ACTIVE_THREADS,
        CHANNEL,
        CHANNEL_MESSAGES,
        ARCHIVED_PUBLIC_THREADS,
        ARCHIVED_PRIVATE_THREADS,
    ];
}

/// Application flags that say whether the MESSAGE_CONTENT intent is enabled
/// (`resources/application#application-object-application-flags`).
pub mod application_flags {
    /// Enabled for a verified bot in 100 or more servers (approved by Discord).
    pub const GATEWAY_MESSAGE_CONTENT: u64 = 1 << 18;
    /// Enabled in the developer portal for a bot in fewer than 100 servers.
    pub const GATEWAY_MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;
}

/// `GET /applications/@me`, the fields we read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: Snowflake,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub flags: Option<u64>,
    #[serde(default)]
    pub approximate_guild_count: Option<u64>,
}

/// Whether guild messages arrive with their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageContentIntent {
    /// Approved by Discord (verified bot).
    Enabled,
    /// Switched on in the developer portal (bot in fewer than 100 servers).
    EnabledLimited,
    /// Off: content, embeds and attachments of guild messages arrive empty, and IDENTIFY
    /// with the intent closes with 4014.
    Disabled,
}

impl Application {
    pub fn message_content_intent(&self) -> MessageContentIntent {
        let flags = self.flags.unwrap_or(0);
        if flags & application_flags::GATEWAY_MESSAGE_CONTENT != 0 {
            MessageContentIntent::Enabled
        } else if flags & application_flags::GATEWAY_MESSAGE_CONTENT_LIMITED != 0 {
            MessageContentIntent::EnabledLimited
        } else {
            MessageContentIntent::Disabled
        }
    }
}

/// `GET /gateway`: the URL only (what a user token may ask for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayUrl {
    pub url: String,
}

#[derive(Deserialize)]
struct ActiveThreads {
    #[serde(default)]
    threads: Vec<Channel>,
}

/// One page of `GET /channels/{id}/threads/archived/{public,private}`: threads newest
/// `thread_metadata.archive_timestamp` first; `has_more` when older ones remain (ask again
/// with `before` = the last one's archive timestamp).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ArchivedThreads {
    #[serde(default)]
    pub threads: Vec<Channel>,
    #[serde(default)]
    pub has_more: bool,
}

fn page_query(
    anchor: &'static str,
    id: Option<Snowflake>,
    limit: u8,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::with_capacity(2);
    if let Some(id) = id {
        query.push((anchor, id.to_string()));
    }
    query.push(("limit", limit.to_string()));
    query
}

fn check_limit(limit: u8) -> Result<(), RestError> {
    if (1..=MAX_MESSAGES_PER_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(RestError::InvalidLimit(limit))
    }
}

impl DiscordRest {
    /// `GET /gateway/bot`: URL, recommended shards, `session_start_limit` (bot tokens).
    pub async fn get_gateway_bot(&self) -> Result<GatewayBot, RestError> {
        self.get(routes::GATEWAY_BOT, "/gateway/bot", &[]).await
    }

    /// `GET /gateway`: the URL alone, for user tokens.
    pub async fn get_gateway(&self) -> Result<GatewayUrl, RestError> {
        self.get(routes::GATEWAY, "/gateway", &[]).await
    }

    /// What the gateway needs before it connects, for this client's token: `GET /gateway/bot`
    /// for a bot token. A user token may only call `GET /gateway`, which has no session-start
    /// budget: one shard and Discord's documented daily figures stand in for it.
    pub async fn gateway_info(&self) -> Result<GatewayBot, RestError> {
        match self.token_type() {
            TokenType::Bot => self.get_gateway_bot().await,
            TokenType::User => self.get_gateway().await.map(|gateway| GatewayBot {
                url: gateway.url,
                shards: 1,
                session_start_limit: SessionStartLimit {
                    total: USER_SESSION_STARTS_PER_DAY,
                    remaining: USER_SESSION_STARTS_PER_DAY,
                    reset_after: 0,
                    max_concurrency: 1,
                },
            }),
        }
    }

    /// `GET /users/@me`: who the token belongs to (the token check).
    pub async fn current_user(&self) -> Result<User, RestError> {
        self.get(routes::CURRENT_USER, "/users/@me", &[]).await
    }

    /// `GET /applications/@me` (bot tokens): the flags tell whether MESSAGE_CONTENT is on.
    pub async fn current_application(&self) -> Result<Application, RestError> {
        self.get(routes::CURRENT_APPLICATION, "/applications/@me", &[])
            .await
    }

    /// `GET /users/@me/guilds`, every page: the guilds the token can see (partial objects:
    /// id, name, icon).
    pub async fn current_user_guilds(&self) -> Result<Vec<Guild>, RestError> {
        let mut guilds: Vec<Guild> = Vec::new();
        for _ in 0..MAX_GUILD_PAGES {
            let mut query = vec![("limit", GUILDS_PER_PAGE.to_string())];
            if let Some(last) = guilds.last() {
                query.push(("after", last.id.to_string()));
            }
            let page: Vec<Guild> = self
                .get(routes::CURRENT_USER_GUILDS, "/users/@me/guilds", &query)
                .await?;
            let full = page.len() >= GUILDS_PER_PAGE;
            guilds.extend(page);
            if !full {
                break;
            }
        }
        Ok(guilds)
    }

    /// `GET /guilds/{guild_id}`.
    pub async fn guild(&self, guild_id: Snowflake) -> Result<Guild, RestError> {
        self.get(
            routes::GUILD.for_guild(guild_id),
            &format!("/guilds/{guild_id}"),
            &[],
        )
        .await
    }

    /// `GET /guilds/{guild_id}/channels`: channels, categories, forums; not threads.
    pub async fn guild_channels(&self, guild_id: Snowflake) -> Result<Vec<Channel>, RestError> {
        self.get(
            routes::GUILD_CHANNELS.for_guild(guild_id),
            &format!("/guilds/{guild_id}/channels"),
            &[],
        )
        .await
    }

    /// `GET /guilds/{guild_id}/threads/active` (bot tokens): active threads and forum posts.
    pub async fn active_threads(&self, guild_id: Snowflake) -> Result<Vec<Channel>, RestError> {
        let active: ActiveThreads = self
            .get(
                routes::GUILD_ACTIVE_THREADS.for_guild(guild_id),
                &format!("/guilds/{guild_id}/threads/active"),
                &[],
            )
            .await?;
        Ok(active.threads)
    }

    /// `GET /channels/{channel_id}/threads/archived/public?before=..&limit=..` (2..=100):
    /// public threads (and forum posts) of a channel archived before `before` (an ISO 8601
    /// timestamp; the newest without it).
    pub async fn archived_public_threads(
        &self,
        channel_id: Snowflake,
        before: Option<String>,
        limit: u8,
    ) -> Result<ArchivedThreads, RestError> {
        self.archived_threads(
            routes::ARCHIVED_PUBLIC_THREADS,
            "public",
            channel_id,
            before,
            limit,
        )
        .await
    }

    /// `GET /channels/{channel_id}/threads/archived/private?before=..&limit=..`: the same for
    /// private threads. Needs MANAGE_THREADS; without it Discord answers 403, which is not
    /// remembered as the channel being forbidden.
    pub async fn archived_private_threads(
        &self,
        channel_id: Snowflake,
        before: Option<String>,
        limit: u8,
    ) -> Result<ArchivedThreads, RestError> {
        self.archived_threads(
            routes::ARCHIVED_PRIVATE_THREADS,
            "private",
            channel_id,
            before,
            limit,
        )
        .await
    }

    async fn archived_threads(
        &self,
        route: Route,
        visibility: &str,
        channel_id: Snowflake,
        before: Option<String>,
        limit: u8,
    ) -> Result<ArchivedThreads, RestError> {
        if !(MIN_ARCHIVED_THREADS_PER_PAGE..=MAX_ARCHIVED_THREADS_PER_PAGE).contains(&limit) {
            return Err(RestError::InvalidLimit(limit));
        }
        let mut query = Vec::with_capacity(2);
        if let Some(before) = before {
            query.push(("before", before));
        }
        query.push(("limit", limit.to_string()));
        self.get(
            route.for_channel(channel_id),
            &format!("/channels/{channel_id}/threads/archived/{visibility}"),
            &query,
        )
        .await
    }

    /// `GET /channels/{channel_id}`.
    pub async fn channel(&self, channel_id: Snowflake) -> Result<Channel, RestError> {
        self.get(
            routes::CHANNEL.for_channel(channel_id),
            &format!("/channels/{channel_id}"),
            &[],
        )
        .await
    }

    /// `GET /channels/{channel_id}/messages?after=..&limit=..`: up to `limit` (1..=100)
    /// messages newer than `after`, **newest first** within the page; without `after`, the
    /// newest messages. Page forward by passing the largest id seen as the next `after`.
    pub async fn channel_messages(
        &self,
        channel_id: Snowflake,
        after: Option<Snowflake>,
        limit: u8,
    ) -> Result<Vec<Message>, RestError> {
        check_limit(limit)?;
        self.get(
            routes::CHANNEL_MESSAGES.for_channel(channel_id),
            &format!("/channels/{channel_id}/messages"),
            &page_query("after", after, limit),
        )
        .await
    }

    /// `GET /channels/{channel_id}/messages?before=..&limit=..`: up to `limit` messages older
    /// than `before` (the newest ones without it), newest first; for a first run that reads
    /// history backwards from now.
    pub async fn channel_messages_before(
        &self,
        channel_id: Snowflake,
        before: Option<Snowflake>,
        limit: u8,
    ) -> Result<Vec<Message>, RestError> {
        check_limit(limit)?;
        self.get(
            routes::CHANNEL_MESSAGES.for_channel(channel_id),
            &format!("/channels/{channel_id}/messages"),
            &page_query("before", before, limit),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_content_intent_from_application_flags() {
        let app = |flags| Application {
            id: Snowflake(1),
            name: "bot".into(),
            flags,
            approximate_guild_count: None,
        };
        assert_eq!(
            app(Some(1 << 18)).message_content_intent(),
            MessageContentIntent::Enabled
        );
        assert_eq!(
            app(Some((1 << 19) | (1 << 23))).message_content_intent(),
            MessageContentIntent::EnabledLimited
        );
        assert_eq!(
            app(Some(1 << 15)).message_content_intent(),
            MessageContentIntent::Disabled
        );
        assert_eq!(
            app(None).message_content_intent(),
            MessageContentIntent::Disabled
        );
    }
}
