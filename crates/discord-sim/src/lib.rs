//! discord-sim: a simulated Discord (REST API v10 and gateway) on loopback, faithful enough
//! that third-party clients (discord.py) work against it, and scriptable enough to test every
//! failure the ingestion path must survive. It writes raw JSON exactly as Discord does and
//! shares no code with our client, so a bug on one side cannot cancel one on the other.
//!
//! # Running it
//! ```no_run
//! use std::time::Duration;
//! use discord_sim::{Sim, SimConfig};
//!
//! let sim = Sim::start(SimConfig {
//!     seed: 7,
//!     heartbeat_interval_ms: 500,
//!     live_messages: 200,
//!     rate_per_sec: 50.0,
//!     ..SimConfig::default()
//! })?;
//! // Point the client at these:
//! let (rest, gateway, token) = (sim.rest_base_url(), sim.gateway_url(), sim.token());
//! # let _ = (rest, gateway, token);
//! sim.wait_until(Duration::from_secs(30), |s| s.stream_status().done())?;
//! for message in sim.messages().iter().filter(|m| m.visible) {
//!     // compare with what the client stored: id, content, edited_timestamp, deleted ...
//!     # let _ = message;
//! }
//! sim.shutdown();
//! # Ok::<(), discord_sim::SimError>(())
//! ```
//! [`Sim::start`] binds `127.0.0.1:0` three times (REST, gateway, resume gateway; ports are
//! configurable) and runs on its own thread with its own actix System, so it can be started
//! from a plain `#[test]`, `#[tokio::test]`, `#[actix_rt::test]` or an actix System. All
//! [`SimHandle`] methods are synchronous and non-blocking except `wait_until` (blocking) and
//! `wait_until_async`. Dropping the handle (or `shutdown()`) stops everything.
//!
//! # REST (`handle.rest_base_url()` = `http://127.0.0.1:PORT/api/v10`)
//! `GET /gateway`, `/gateway/bot` (url, shards, `session_start_limit`), `/users/@me`,
//! `/users/@me/guilds`, `/oauth2/applications/@me` (`flags`: GATEWAY_MESSAGE_CONTENT 1<<18 or
//! _LIMITED 1<<19 per [`MessageContentApproval`]), `/guilds/{id}`, `/guilds/{id}/channels`,
//! `/guilds/{id}/threads/active`, `/channels/{id}`, `/channels/{id}/messages?after|before|
//! around=&limit=` (1..=100, default 50, newest first, deleted messages omitted, no `guild_id`),
//! `/channels/{id}/messages/{id}`, `/channels/{id}/threads/archived/public|private?before=
//! <ISO 8601>&limit=` (2..=100, default 50; `{threads, members, has_more}`, newest
//! `archive_timestamp` first, those archived strictly before `before`; private answers 403
//! code 50013 unless [`SimConfig`] `manage_threads`, and is then empty: sim threads are public).
//! Errors: 401 `{"message":"401: Unauthorized","code":0}` for a missing/wrong token
//! (`Bot <token>`, or the bare token with [`TokenKind::User`]), 403 code 50001 for forbidden
//! channels, 404 codes 10003/10004/10008, 400 code 50035 for bad snowflakes or limits.
//! Every answer carries `X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket` for its
//! bucket (route + major parameter, window from its first request, see [`SimConfig`]
//! `bucket_limit`/`bucket_reset_ms`/`route_limits`); the global limit is
//! `global_limit_per_sec` (default 50) per one-second window. A request arriving while its
//! bucket or the global limit is exhausted gets a 429 and is logged as a
//! [`RateLimitViolation`]: assert `handle.rest_violations().is_empty()`. One exception: a
//! client with several requests on the wire when a scripted global 429 is answered cannot
//! recall them, so those (at most one per concurrent request) may land in its window.
//!
//! # Gateway (`handle.gateway_url()`, `?v=10&encoding=json[&compress=zlib-stream]`)
//! HELLO (`heartbeat_interval_ms`, `_trace`), ACK per heartbeat, IDENTIFY checks (4004 token,
//! 4013 intents, 4014 privileged intents not approved, 4010 shard, 4002 payload > 4096 bytes
//! or undecodable, 4005 identify/resume twice or before HELLO, 4003 other ops before
//! identify, 4001 unknown op, 4008 more than 120 payloads a minute, 4009 no heartbeat for
//! 1.5 intervals + `heartbeat_grace_ms`), IDENTIFYs closer than `identify_spacing_ms` get op 9
//! false, `session_start_limit` enforced. READY (session id, `resume_gateway_url` on a second
//! port, unavailable guild stubs, `shard`, `application`) then one GUILD_CREATE per guild of
//! the shard (channels, active threads; `big_guild_bytes` pads the first one). RESUME with a
//! known session and a seq still in its replay buffer replays every later dispatch, then
//! RESUMED; otherwise op 9 `d=false`. Each session keeps buffering while disconnected until
//! `session_ttl_ms`; events produced while no session exists (before IDENTIFY, after op 9
//! false, after expiry) are never delivered by the gateway: REST backfill is the only way to
//! recover them, as with Discord. A client closing with 1000/1001 ends its session.
//! Without the MESSAGE_CONTENT intent (1<<15) guild messages arrive with empty content,
//! embeds, attachments and components (unless they mention the bot).
//!
//! # Scripting faults (all act on every open connection)
//! - op 7: [`SimHandle::send_reconnect`]; op 9: [`SimHandle::invalidate_session`]`(bool)`;
//!   op 1: [`SimHandle::request_heartbeat`].
//! - zombie (no ACKs, nothing sent, socket open): [`SimHandle::become_zombie`].
//! - TCP drop without close frame: [`SimHandle::drop_connections`], or mid-burst after N
//!   more dispatches: [`SimHandle::drop_connections_after`].
//! - close with a code: [`SimHandle::close_connections`]`(4000 | 4004 | 4007 | 4009 | 1000 ..)`.
//! - malformed frames: [`SimHandle::send_malformed`]`(`[`MalformedFrame`]`)`.
//! - next connection: [`SimHandle::queue_connect_fault`]`(`[`ConnectFault`]`::DelayHello |
//!   SkipHello | ReconnectBeforeHello | RejectHandshake | CloseBeforeHello)`.
//! - sessions: [`SimHandle::expire_sessions`]; token reset: [`SimHandle::set_token`].
//! - REST: [`SimHandle::inject_rest_fault`]`(`[`RestFault`]`, times)` (429 with
//!   [`RateLimitScope`] user/global/shared in [`RateLimitShape`] JSON/header-only/Cloudflare
//!   HTML, each opening a real window; or 500/502/503/504), optionally only for paths
//!   containing a string ([`SimHandle::inject_rest_fault_matching`]).
//!
//! # Traffic and ground truth
//! The world comes from `seed`: `guilds` x (`channels_per_guild` text channels + a category +
//! `threads_per_guild` threads), `history_per_channel` messages before start (REST only),
//! then a live stream of `live_messages` at `rate_per_sec` with `edit_ratio`, `delete_ratio`,
//! `unfurl_ratio`, `structure_event_ratio`, `unknown_event_ratio` (see [`StreamStart`] for when
//! it begins; [`SimHandle::start_stream`] / `pause_stream` / `extend_stream` control it).
//! Messages have string snowflakes that grow with time, unicode and emoji, mentions, replies
//! with `message_reference` + `referenced_message`, attachments, embeds, integer and string
//! nonces, explicit nulls and unknown fields. [`SimHandle::messages`] is the ground truth
//! ([`SimMessage`]: final content, earlier contents, `edited_timestamp`, `deleted`, `visible`,
//! `gateway_missed_change`); [`SimHandle::gateway_stats`], `connections`, `identifies`,
//! `resumes`, `sessions` and `rest_log` tell what happened on the wire.
//!
//! # Files
//! `config.rs` [`SimConfig`]; `handle.rs` [`Sim`], [`SimHandle`]; `world.rs` ground truth and
//! JSON shapes; `content.rs` seeded text; `state.rs` sessions, dispatch, replay; `gateway.rs`
//! sockets; `zlib.rs` zlib-stream; `rest.rs` REST; `ratelimit.rs` buckets and 429s;
//! `stream.rs` live traffic; `faults.rs` connect faults and malformed frames; `records.rs`
//! what tests read back; `snowflake.rs` ids and timestamps.

mod config;
mod content;
mod error;
mod faults;
mod gateway;
mod handle;
mod ratelimit;
mod records;
mod rest;
mod snowflake;
mod state;
mod stream;
mod world;
mod zlib;

pub use config::{
    MessageContentApproval, RouteLimit, SessionStartLimit, SimConfig, StreamStart, TokenKind,
    default_token,
};
pub use error::SimError;
pub use faults::{ConnectFault, MalformedFrame};
pub use handle::{Sim, SimHandle};
pub use ratelimit::{RateLimitScope, RateLimitShape, RateLimitViolation, RestFault};
pub use records::{
    ConnectionRecord, GatewayListener, GatewayStats, IdentifyOutcome, IdentifyRecord, RestRecord,
    ResumeOutcome, ResumeRecord, SessionInfo, StreamStatus,
};
pub use rest::{API_PREFIX, KNOWN_ROUTES};
pub use snowflake::{DISCORD_EPOCH_MS, iso_timestamp, snowflake_unix_ms};
pub use state::{APP_FLAG_GATEWAY_MESSAGE_CONTENT, APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED};
pub use world::{
    CHANNEL_ANNOUNCEMENT, CHANNEL_CATEGORY, CHANNEL_PUBLIC_THREAD, CHANNEL_TEXT,
    INTENT_DIRECT_MESSAGES, INTENT_GUILD_MEMBERS, INTENT_GUILD_MESSAGES, INTENT_GUILD_PRESENCES,
    INTENT_GUILDS, INTENT_MESSAGE_CONTENT, MessageOrigin, SimChannel, SimGuild, SimMessage,
};
pub use zlib::SYNC_FLUSH_SUFFIX;
