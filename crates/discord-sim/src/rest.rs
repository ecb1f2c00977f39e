//! The REST API under `/api/v10`: routing, authorization, rate limits with Discord's headers,
//! scripted faults, and the answers, all decided by [`respond`] (plain data in, plain data out,
//! testable without a socket). [`serve`] puts it behind an actix-web server.
//!
//! Order of checks, as Discord's edge applies them: unknown route (404) -> authorization
//! (401) -> rate limits (429, recorded as a violation) -> scripted fault -> the route itself
//! (400 / 403 / 404 / 200). Every request, whatever its answer, is appended to the REST log.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::config::{MessageContentApproval, TokenKind};
use super::ratelimit::{BucketHeaders, Limited, RateLimitScope, RateLimitShape, RestFault};
use super::records::RestRecord;
use super::state::{Shared, SimState, application_flags};
use super::world::Paging;

/// Every route the sim serves, as `METHOD template` (the keys of `SimConfig::route_limits`).
pub const KNOWN_ROUTES: &[&str] = &[
    ROUTE_GATEWAY,
    ROUTE_GATEWAY_BOT,
    ROUTE_ME,
    ROUTE_MY_GUILDS,
    ROUTE_APPLICATION,
    ROUTE_GUILD,
    ROUTE_GUILD_CHANNELS,
    ROUTE_GUILD_ACTIVE_THREADS,
    ROUTE_CHANNEL,
    ROUTE_CHANNEL_MESSAGES,
    ROUTE_CHANNEL_MESSAGE,
    ROUTE_ARCHIVED_PUBLIC_THREADS,
    ROUTE_ARCHIVED_PRIVATE_THREADS,
];
const ROUTE_GATEWAY: &str = "GET /gateway";
const ROUTE_GATEWAY_BOT: &str = "GET /gateway/bot";
const ROUTE_ME: &str = "GET /users/@me";
const ROUTE_MY_GUILDS: &str = "GET /users/@me/guilds";
const ROUTE_APPLICATION: &str = "GET /oauth2/applications/@me";
const ROUTE_GUILD: &str = "GET /guilds/{guild_id}";
const ROUTE_GUILD_CHANNELS: &str = "GET /guilds/{guild_id}/channels";
const ROUTE_GUILD_ACTIVE_THREADS: &str = "GET /guilds/{guild_id}/threads/active";
const ROUTE_CHANNEL: &str = "GET /channels/{channel_id}";
const ROUTE_CHANNEL_MESSAGES: &str = "GET /channels/{channel_id}/messages";
const ROUTE_CHANNEL_MESSAGE: &str = "GET /channels/{channel_id}/messages/{message_id}";
const ROUTE_ARCHIVED_PUBLIC_THREADS: &str = "GET /channels/{channel_id}/threads/archived/public";
const ROUTE_ARCHIVED_PRIVATE_THREADS: &str = "GET /channels/{channel_id}/threads/archived/private";

/// Path prefix of the API version the sim serves.
pub const API_PREFIX: &str = "/api/v10";

/// Discord's page size bounds for channel messages.
const MESSAGES_LIMIT_MAX: u64 = 100;
const MESSAGES_LIMIT_DEFAULT: u64 = 50;
/// Page size bounds for `GET /users/@me/guilds`.
const GUILDS_LIMIT_MAX: u64 = 200;
/// Discord's page size bounds for archived threads (it refuses fewer than two).
const ARCHIVED_THREADS_LIMIT_MIN: u64 = 2;
const ARCHIVED_THREADS_LIMIT_MAX: u64 = 100;
const ARCHIVED_THREADS_LIMIT_DEFAULT: u64 = 50;

/// A request as the sim sees it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
}

/// An answer ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Outgoing {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
        }
    }

    fn error(status: u16, code: u32, message: &str) -> Self {
        Self::json(status, &json!({ "message": message, "code": code }))
    }

    fn header(&mut self, name: &str, value: impl ToString) {
        self.headers.push((name.to_owned(), value.to_string()));
    }

    #[cfg(test)]
    pub(crate) fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A matched route: its template, major parameter and path ids.
struct Matched {
    route: &'static str,
    major: String,
    ids: Vec<String>,
}

fn match_route(method: &str, path: &str) -> Result<Matched, Outgoing> {
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Err(Outgoing::error(404, 0, "404: Not Found"));
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').skip(1).collect();
    let (route, major, ids): (&'static str, Option<&str>, Vec<&str>) = match segments.as_slice() {
        ["gateway"] => (ROUTE_GATEWAY, None, vec![]),
        ["gateway", "bot"] => (ROUTE_GATEWAY_BOT, None, vec![]),
        ["users", "@me"] => (ROUTE_ME, None, vec![]),
        ["users", "@me", "guilds"] => (ROUTE_MY_GUILDS, None, vec![]),
        ["oauth2", "applications", "@me"] => (ROUTE_APPLICATION, None, vec![]),
        ["guilds", guild] => (ROUTE_GUILD, Some(*guild), vec![*guild]),
        ["guilds", guild, "channels"] => (ROUTE_GUILD_CHANNELS, Some(*guild), vec![*guild]),
        ["guilds", guild, "threads", "active"] => {
            (ROUTE_GUILD_ACTIVE_THREADS, Some(*guild), vec![*guild])
        }
        ["channels", channel] => (ROUTE_CHANNEL, Some(*channel), vec![*channel]),
        ["channels", channel, "messages"] => {
            (ROUTE_CHANNEL_MESSAGES, Some(*channel), vec![*channel])
        }
        ["channels", channel, "threads", "archived", "public"] => (
            ROUTE_ARCHIVED_PUBLIC_THREADS,
            Some(*channel),
            vec![*channel],
        ),
        ["channels", channel, "threads", "archived", "private"] => (
            ROUTE_ARCHIVED_PRIVATE_THREADS,
            Some(*channel),
            vec![*channel],
        ),
        ["channels", channel, "messages", message] => (
            ROUTE_CHANNEL_MESSAGE,
            Some(*channel),
            vec![*channel, *message],
        ),
        _ => return Err(Outgoing::error(404, 0, "404: Not Found")),
    };
    if method != "GET" {
        return Err(Outgoing::error(405, 0, "405: Method Not Allowed"));
    }
    Ok(Matched {
        route,
        major: major.unwrap_or_default().to_owned(),
        ids: ids.into_iter().map(str::to_owned).collect(),
    })
}

fn invalid_form(field: &str, code: &str, message: &str) -> Outgoing {
    Outgoing::json(
        400,
        &json!({
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": { field: { "_errors": [{ "code": code, "message": message }] } },
        }),
    )
}

fn snowflake(field: &str, raw: &str) -> Result<u64, Outgoing> {
    raw.parse::<u64>().map_err(|_| {
        invalid_form(
            field,
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not snowflake."),
        )
    })
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn limit_param(query: &str, default: u64, max: u64) -> Result<usize, Outgoing> {
    let Some(raw) = query_param(query, "limit") else {
        return Ok(default as usize);
    };
    let value: u64 = raw.parse().map_err(|_| {
        invalid_form(
            "limit",
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not int."),
        )
    })?;
    if value < 1 {
        return Err(invalid_form(
            "limit",
            "NUMBER_TYPE_MIN",
            "int value should be greater than or equal to 1.",
        ));
    }
    if value > max {
        return Err(invalid_form(
            "limit",
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        ));
    }
    Ok(value as usize)
}

fn seconds(duration: Duration) -> String {
    // Discord gives three decimals; rounding up keeps a client that waits exactly this long
    // out of the window.
    let millis = duration.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_nanos().div_ceil(1_000_000_000) as u64
}

fn add_bucket_headers(response: &mut Outgoing, headers: &BucketHeaders) {
    let reset_at = SystemTime::now() + headers.reset_after;
    let reset_epoch = reset_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    response.header("X-RateLimit-Limit", headers.limit);
    response.header("X-RateLimit-Remaining", headers.remaining);
    response.header("X-RateLimit-Reset", format!("{reset_epoch:.3}"));
    response.header("X-RateLimit-Reset-After", seconds(headers.reset_after));
    response.header("X-RateLimit-Bucket", &headers.bucket);
}

/// A 429 in the requested shape.
fn too_many_requests(
    scope: RateLimitScope,
    retry_after: Duration,
    shape: RateLimitShape,
    bucket: Option<&BucketHeaders>,
) -> Outgoing {
    let global = scope == RateLimitScope::Global;
    let mut response = match shape {
        RateLimitShape::CloudflareHtml => {
            let mut response = Outgoing {
                status: 429,
                headers: Vec::new(),
                content_type: Some("text/html; charset=UTF-8"),
                body: CLOUDFLARE_BODY.as_bytes().to_vec(),
            };
            response.header("Retry-After", whole_seconds(retry_after));
            return response;
        }
        RateLimitShape::JsonBody => Outgoing::json(
            429,
            &json!({
                "message": "You are being rate limited.",
                "retry_after": (retry_after.as_secs_f64() * 1000.0).ceil() / 1000.0,
                "global": global,
            }),
        ),
        RateLimitShape::HeaderOnly => Outgoing {
            status: 429,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        },
    };
    if let Some(bucket) = bucket.filter(|_| !global) {
        add_bucket_headers(&mut response, bucket);
    }
    response.header("Retry-After", whole_seconds(retry_after));
    if global {
        response.header("X-RateLimit-Global", "true");
    }
    response.header("X-RateLimit-Scope", scope.as_str());
    response
}

const CLOUDFLARE_BODY: &str = "<!DOCTYPE html>\n<html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>\n<body><div id=\"cf-error-details\"><h1>Error 1015</h1><h2>You are being rate limited</h2><p>The owner of this website (discord.com) has banned you temporarily from accessing this website.</p></div></body></html>\n";

fn server_error(status: u16) -> Outgoing {
    let (content_type, body): (&'static str, String) = match status {
        502 | 504 => (
            "text/html",
            format!(
                "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
            ),
        ),
        _ => (
            "application/json",
            json!({"message": format!("{status}: Internal Server Error"), "code": 0}).to_string(),
        ),
    };
    Outgoing {
        status,
        headers: Vec::new(),
        content_type: Some(content_type),
        body: body.into_bytes(),
    }
}

fn authorized(state: &SimState, header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    match state.world.token_kind() {
        TokenKind::Bot => header.strip_prefix("Bot ") == Some(state.token.as_str()),
        TokenKind::User => header == state.token,
    }
}

/// Answers one request and records it.
pub(crate) fn respond(shared: &Shared, request: &Incoming) -> Outgoing {
    let now = Instant::now();
    let mut state = shared.lock();
    let mut record = RestRecord {
        at: now,
        since_start: now.duration_since(shared.started),
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        route: None,
        major: String::new(),
        status: 0,
        violation: None,
        scripted: false,
        authorized: false,
        user_agent: request.user_agent.clone(),
    };
    let response = decide(shared, &mut state, request, now, &mut record);
    record.status = response.status;
    state.rest.log.push_back(record);
    while state.rest.log.len() > shared.config.rest_log_limit {
        state.rest.log.pop_front();
    }
    state.rest.requests += 1;
    // Idle buckets are dropped now and then so the map cannot grow without bound.
    if state.rest.requests.is_multiple_of(1024) {
        state.rest.limiter.prune(now);
    }
    response
}

fn decide(
    shared: &Shared,
    state: &mut SimState,
    request: &Incoming,
    now: Instant,
    record: &mut RestRecord,
) -> Outgoing {
    let matched = match match_route(&request.method, &request.path) {
        Ok(matched) => matched,
        Err(response) => return response,
    };
    record.route = Some(matched.route);
    record.major.clone_from(&matched.major);
    record.authorized = authorized(state, request.authorization.as_deref());
    if !record.authorized && matched.route != ROUTE_GATEWAY {
        return Outgoing::error(401, 0, "401: Unauthorized");
    }

    if let Err(limited) = state.rest.limiter.check(matched.route, &matched.major, now) {
        let Limited {
            violation,
            scope,
            retry_after,
            headers,
        } = limited;
        record.violation = Some(violation);
        return too_many_requests(
            scope,
            retry_after,
            RateLimitShape::JsonBody,
            headers.as_ref(),
        );
    }

    if let Some(fault) = take_fault(state, &request.path) {
        record.scripted = true;
        return match fault {
            RestFault::ServerError { status } => server_error(status),
            RestFault::RateLimited {
                scope,
                retry_after,
                shape,
            } => {
                // A Cloudflare ban is per IP: it blocks every route like a global limit.
                let window_scope = if shape == RateLimitShape::CloudflareHtml {
                    RateLimitScope::Global
                } else {
                    scope
                };
                let limits = &mut state.rest.limiter;
                limits.block(
                    matched.route,
                    &matched.major,
                    window_scope,
                    now + retry_after,
                    now,
                );
                let mut headers = limits.peek(matched.route, &matched.major, now);
                headers.remaining = 0;
                headers.reset_after = retry_after;
                too_many_requests(scope, retry_after, shape, Some(&headers))
            }
        };
    }

    let headers = state.rest.limiter.admit(matched.route, &matched.major, now);
    let mut response = route(shared, state, &matched, &request.query, now);
    add_bucket_headers(&mut response, &headers);
    response
}

fn take_fault(state: &mut SimState, path: &str) -> Option<RestFault> {
    let faults = &mut state.rest.faults;
    let index = faults.iter().position(|rule| {
        rule.path_contains
            .as_deref()
            .is_none_or(|needle| path.contains(needle))
    })?;
    let rule = &mut faults[index];
    let fault = rule.fault;
    rule.remaining = rule.remaining.saturating_sub(1);
    if rule.remaining == 0 {
        faults.remove(index);
    }
    Some(fault)
}

fn route(
    shared: &Shared,
    state: &mut SimState,
    matched: &Matched,
    query: &str,
    now: Instant,
) -> Outgoing {
    let config = &shared.config;
    let with_content = config.message_content != MessageContentApproval::Disabled
        || config.token_kind == TokenKind::User;
    match matched.route {
        ROUTE_GATEWAY => Outgoing::json(200, &json!({ "url": shared.urls.gateway })),
        ROUTE_GATEWAY_BOT => {
            let limit = state.session_start_limit(config, now);
            Outgoing::json(
                200,
                &json!({
                    "url": shared.urls.gateway,
                    "shards": config.shards,
                    "session_start_limit": limit,
                }),
            )
        }
        ROUTE_ME => Outgoing::json(200, &state.world.bot_user_json()),
        ROUTE_APPLICATION => {
            if config.token_kind == TokenKind::User {
                return Outgoing::error(401, 0, "401: Unauthorized");
            }
            let bot = state.world.bot_user_json();
            Outgoing::json(
                200,
                &json!({
                    "id": state.world.application_id().to_string(),
                    "name": "discord-sim",
                    "icon": null,
                    "description": "A simulated Discord application",
                    "summary": "",
                    "type": null,
                    "bot": bot,
                    "bot_public": false,
                    "bot_require_code_grant": false,
                    "verify_key": "0".repeat(64),
                    "flags": application_flags(config),
                    "owner": {"id": "100000000000000001", "username": "sim-owner", "avatar": null, "discriminator": "0", "public_flags": 0, "flags": 0, "global_name": null},
                    "team": null,
                    "approximate_guild_count": state.world.guild_ids().len(),
                    "redirect_uris": [],
                    "interactions_endpoint_url": null,
                    "integration_types_config": {"0": {}},
                }),
            )
        }
        ROUTE_MY_GUILDS => my_guilds(state, query),
        ROUTE_GUILD | ROUTE_GUILD_CHANNELS | ROUTE_GUILD_ACTIVE_THREADS => {
            let guild_id = match snowflake("guild_id", &matched.ids[0]) {
                Ok(id) => id,
                Err(response) => return response,
            };
            let body = match matched.route {
                ROUTE_GUILD => state.world.guild_rest_json(guild_id),
                ROUTE_GUILD_CHANNELS => state.world.guild_channels_json(guild_id),
                _ => state.world.active_threads_json(guild_id),
            };
            match body {
                Some(body) => Outgoing::json(200, &body),
                None => Outgoing::error(404, 10004, "Unknown Guild"),
            }
        }
        ROUTE_ARCHIVED_PUBLIC_THREADS | ROUTE_ARCHIVED_PRIVATE_THREADS => {
            archived_threads(state, matched, query, config.manage_threads)
        }
        _ => channel_route(state, matched, query, with_content),
    }
}

/// Decodes `%XX` escapes (a timestamp's `:` and `+` arrive escaped).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `GET /channels/{id}/threads/archived/{public,private}?before=<ISO 8601>&limit=<2..100>`.
fn archived_threads(
    state: &SimState,
    matched: &Matched,
    query: &str,
    manage_threads: bool,
) -> Outgoing {
    let channel_id = match snowflake("channel_id", &matched.ids[0]) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match state.world.channel_forbidden(channel_id) {
        None => return Outgoing::error(404, 10003, "Unknown Channel"),
        Some(true) => return Outgoing::error(403, 50001, "Missing Access"),
        Some(false) => {}
    }
    let private = matched.route == ROUTE_ARCHIVED_PRIVATE_THREADS;
    if private && !manage_threads {
        return Outgoing::error(403, 50013, "Missing Permissions");
    }
    if !state.world.channel_has_threads(channel_id) {
        return Outgoing::error(400, 50024, "Cannot execute action on this channel type");
    }
    let limit = match limit_param(
        query,
        ARCHIVED_THREADS_LIMIT_DEFAULT,
        ARCHIVED_THREADS_LIMIT_MAX,
    ) {
        Ok(limit) if limit as u64 >= ARCHIVED_THREADS_LIMIT_MIN => limit,
        Ok(_) => {
            return invalid_form(
                "limit",
                "NUMBER_TYPE_MIN",
                "int value should be greater than or equal to 2.",
            );
        }
        Err(response) => return response,
    };
    let before_ms = match query_param(query, "before").map(percent_decode) {
        None => None,
        Some(raw) => match chrono::DateTime::parse_from_rfc3339(&raw) {
            Ok(at) => Some(u64::try_from(at.timestamp_millis()).unwrap_or(0)),
            Err(_) => {
                return invalid_form(
                    "before",
                    "DATE_TIME_TYPE_PARSE",
                    &format!("Could not interpret \"{raw}\" as date."),
                );
            }
        },
    };
    Outgoing::json(
        200,
        &state
            .world
            .archived_threads_json(channel_id, before_ms, limit, private),
    )
}

fn my_guilds(state: &SimState, query: &str) -> Outgoing {
    let limit = match limit_param(query, GUILDS_LIMIT_MAX, GUILDS_LIMIT_MAX) {
        Ok(limit) => limit,
        Err(response) => return response,
    };
    let parse = |name: &str| {
        query_param(query, name)
            .map(|raw| snowflake(name, raw))
            .transpose()
    };
    let (after, before) = match (parse("after"), parse("before")) {
        (Ok(after), Ok(before)) => (after, before),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let mut ids = state.world.guild_ids();
    ids.sort_unstable();
    let guilds: Vec<Value> = ids
        .into_iter()
        .filter(|id| after.is_none_or(|a| *id > a) && before.is_none_or(|b| *id < b))
        .take(limit)
        .filter_map(|id| state.world.partial_guild_json(id))
        .collect();
    Outgoing::json(200, &Value::Array(guilds))
}

fn channel_route(state: &SimState, matched: &Matched, query: &str, with_content: bool) -> Outgoing {
    let channel_id = match snowflake("channel_id", &matched.ids[0]) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match state.world.channel_forbidden(channel_id) {
        None => return Outgoing::error(404, 10003, "Unknown Channel"),
        Some(true) => return Outgoing::error(403, 50001, "Missing Access"),
        Some(false) => {}
    }
    match matched.route {
        ROUTE_CHANNEL => match state.world.channel_rest_json(channel_id) {
            Some(body) => Outgoing::json(200, &body),
            None => Outgoing::error(404, 10003, "Unknown Channel"),
        },
        ROUTE_CHANNEL_MESSAGE => {
            let message_id = match snowflake("message_id", &matched.ids[1]) {
                Ok(id) => id,
                Err(response) => return response,
            };
            match state
                .world
                .message_json(channel_id, message_id, with_content)
            {
                Some(body) => Outgoing::json(200, &body),
                None => Outgoing::error(404, 10008, "Unknown Message"),
            }
        }
        _ => {
            if !state.world.channel_holds_messages(channel_id) {
                return Outgoing::error(400, 50024, "Cannot execute action on this channel type");
            }
            let limit = match limit_param(query, MESSAGES_LIMIT_DEFAULT, MESSAGES_LIMIT_MAX) {
                Ok(limit) => limit,
                Err(response) => return response,
            };
            // Discord honours one anchor, in this order of precedence.
            let mut paging = Paging::Latest;
            for (name, make) in [
                ("after", Paging::After as fn(u64) -> Paging),
                ("before", Paging::Before),
                ("around", Paging::Around),
            ] {
                if let Some(raw) = query_param(query, name) {
                    match snowflake(name, raw) {
                        Ok(id) => paging = make(id),
                        Err(response) => return response,
                    }
                }
            }
            let page = state
                .world
                .messages_page(channel_id, paging, limit, with_content);
            Outgoing::json(200, &Value::Array(page))
        }
    }
}

/// The actix-web entry point: every path goes through [`respond`].
async fn entry(request: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let incoming = Incoming {
        method: request.method().as_str().to_owned(),
        path: request.path().to_owned(),
        query: request.query_string().to_owned(),
        authorization: header("authorization"),
        user_agent: header("user-agent"),
    };
    let outgoing = respond(&shared, &incoming);
    let status = actix_web::http::StatusCode::from_u16(outgoing.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &outgoing.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    if let Some(content_type) = outgoing.content_type {
        response.content_type(content_type);
    }
    response.body(outgoing.body)
}

/// Starts the REST server on `listener` inside the current actix System.
pub(crate) fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(shared);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .default_service(web::to(entry))
    })
    // One worker is plenty on loopback and keeps the sim light on a 2-core machine.
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RouteLimit, SimConfig};
    use crate::ratelimit::RateLimitViolation;
    use crate::state::Urls;

    fn shared(config: SimConfig) -> Shared {
        let urls = Urls {
            rest_base: "http://sim/api/v10".to_owned(),
            gateway: "ws://sim-gateway".to_owned(),
            resume_gateway: "ws://sim-resume".to_owned(),
        };
        Shared::new(config, urls, crate::snowflake::now_unix_ms())
    }

    fn get(shared: &Shared, path_and_query: &str) -> Outgoing {
        let token = shared.lock().token.clone();
        get_as(shared, path_and_query, Some(format!("Bot {token}")))
    }

    fn get_as(shared: &Shared, path_and_query: &str, authorization: Option<String>) -> Outgoing {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        respond(
            shared,
            &Incoming {
                method: "GET".to_owned(),
                path: format!("{API_PREFIX}{path}"),
                query: query.to_owned(),
                authorization,
                user_agent: Some("DiscordBot (test, 1)".to_owned()),
            },
        )
    }

    fn body(response: &Outgoing) -> Value {
        serde_json::from_slice(&response.body).expect("json body")
    }

    fn first_text_channel(shared: &Shared) -> u64 {
        shared
            .lock()
            .world
            .sim_channels()
            .iter()
            .find(|c| c.kind == crate::world::CHANNEL_TEXT && !c.forbidden)
            .map(|c| c.id)
            .expect("a text channel")
    }

    #[test]
    fn authorization_follows_the_token_kind() {
        let bot = shared(SimConfig::default());
        let token = bot.lock().token.clone();
        for header in [None, Some("Bot wrong".to_owned()), Some(token.clone())] {
            let response = get_as(&bot, "/users/@me", header);
            assert_eq!(response.status, 401);
            assert_eq!(
                body(&response),
                json!({"message": "401: Unauthorized", "code": 0})
            );
        }
        assert_eq!(get(&bot, "/users/@me").status, 200);
        // GET /gateway needs no token at all.
        let gateway = get_as(&bot, "/gateway", None);
        assert_eq!(body(&gateway), json!({"url": "ws://sim-gateway"}));

        let user = shared(SimConfig {
            token_kind: TokenKind::User,
            ..SimConfig::default()
        });
        assert_eq!(get_as(&user, "/users/@me", Some(token.clone())).status, 200);
        assert_eq!(
            get_as(&user, "/users/@me", Some(format!("Bot {token}"))).status,
            401
        );
        let log = user.lock().rest.log.clone();
        assert_eq!(log.len(), 2);
        assert!(log[0].authorized && !log[1].authorized);
    }

    #[test]
    fn bucket_headers_count_down_per_major_parameter_then_429() {
        let sim = shared(SimConfig {
            route_limits: vec![RouteLimit {
                route: "GET /channels/{channel_id}/messages".to_owned(),
                limit: 2,
                reset_ms: 60_000,
            }],
            ..SimConfig::default()
        });
        let channel = first_text_channel(&sim);
        let path = format!("/channels/{channel}/messages?limit=1");
        let first = get(&sim, &path);
        assert_eq!(first.status, 200);
        assert_eq!(first.header_value("X-RateLimit-Limit"), Some("2"));
        assert_eq!(first.header_value("X-RateLimit-Remaining"), Some("1"));
        let reset_after: f64 = first
            .header_value("X-RateLimit-Reset-After")
            .and_then(|v| v.parse().ok())
            .expect("reset-after");
        assert!(reset_after > 50.0 && reset_after <= 60.0, "{reset_after}");
        let reset: f64 = first
            .header_value("X-RateLimit-Reset")
            .and_then(|v| v.parse().ok())
            .expect("reset epoch");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        assert!((reset - now - reset_after).abs() < 5.0);
        let bucket = first
            .header_value("X-RateLimit-Bucket")
            .expect("bucket")
            .to_owned();

        let second = get(&sim, &path);
        assert_eq!(second.header_value("X-RateLimit-Remaining"), Some("0"));
        assert_eq!(
            second.header_value("X-RateLimit-Bucket"),
            Some(bucket.as_str())
        );

        let refused = get(&sim, &path);
        assert_eq!(refused.status, 429);
        assert_eq!(refused.header_value("X-RateLimit-Scope"), Some("user"));
        let retry_after: u64 = refused
            .header_value("Retry-After")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((50..=60).contains(&retry_after));
        let refusal = body(&refused);
        assert_eq!(refusal["global"], json!(false));
        assert!(refusal["retry_after"].as_f64().is_some_and(|s| s > 50.0));

        // Another channel has its own counter under the same bucket id.
        let other = sim
            .lock()
            .world
            .sim_channels()
            .iter()
            .find(|c| c.kind == crate::world::CHANNEL_TEXT && c.id != channel)
            .map(|c| c.id)
            .expect("second channel");
        let elsewhere = get(&sim, &format!("/channels/{other}/messages"));
        assert_eq!(elsewhere.status, 200);
        assert_eq!(
            elsewhere.header_value("X-RateLimit-Bucket"),
            Some(bucket.as_str())
        );

        let log = sim.lock().rest.log.clone();
        let violations: Vec<_> = log.iter().filter_map(|r| r.violation).collect();
        assert_eq!(violations, vec![RateLimitViolation::Bucket]);
        assert_eq!(log[2].route, Some(ROUTE_CHANNEL_MESSAGES));
        assert_eq!(log[2].major, channel.to_string());
    }

    #[test]
    fn every_429_shape_and_server_errors() {
        let sim = shared(SimConfig::default());
        let hold = Duration::from_secs(30);
        let state_faults = |fault: RestFault| {
            sim.lock().rest.faults.push_back(crate::state::FaultRule {
                fault,
                remaining: 1,
                path_contains: None,
            });
        };

        state_faults(RestFault::RateLimited {
            scope: RateLimitScope::Shared,
            retry_after: hold,
            shape: RateLimitShape::HeaderOnly,
        });
        let header_only = get(&sim, "/users/@me");
        assert_eq!(header_only.status, 429);
        assert!(header_only.body.is_empty() && header_only.content_type.is_none());
        assert_eq!(header_only.header_value("Retry-After"), Some("30"));
        assert_eq!(
            header_only.header_value("X-RateLimit-Scope"),
            Some("shared")
        );
        assert_eq!(header_only.header_value("X-RateLimit-Remaining"), Some("0"));
        // The shared window blocks that bucket only.
        assert_eq!(get(&sim, "/users/@me").status, 429);
        assert_eq!(get(&sim, "/users/@me/guilds").status, 200);

        state_faults(RestFault::RateLimited {
            scope: RateLimitScope::Global,
            retry_after: Duration::from_millis(1500),
            shape: RateLimitShape::JsonBody,
        });
        let global = get(&sim, "/users/@me/guilds");
        assert_eq!(global.status, 429);
        assert_eq!(global.header_value("X-RateLimit-Global"), Some("true"));
        assert_eq!(global.header_value("X-RateLimit-Scope"), Some("global"));
        assert_eq!(global.header_value("Retry-After"), Some("2"));
        assert_eq!(
            body(&global),
            json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": true})
        );
        let inside = get(&sim, "/gateway/bot");
        assert_eq!(inside.status, 429);
        let log = sim.lock().rest.log.clone();
        let last = log.back().expect("logged");
        assert_eq!(last.violation, Some(RateLimitViolation::Global));
        assert!(!last.scripted);
        assert!(log.iter().filter(|r| r.scripted).count() == 2);
    }

    #[test]
    fn cloudflare_html_and_server_errors_are_not_json() {
        let sim = shared(SimConfig::default());
        let push = |fault: RestFault| {
            sim.lock().rest.faults.push_back(crate::state::FaultRule {
                fault,
                remaining: 1,
                path_contains: Some("/guilds".to_owned()),
            });
        };
        push(RestFault::ServerError { status: 502 });
        push(RestFault::ServerError { status: 500 });
        // Faults limited to /guilds leave other routes alone.
        assert_eq!(get(&sim, "/users/@me").status, 200);
        let bad_gateway = get(&sim, "/users/@me/guilds");
        assert_eq!(bad_gateway.status, 502);
        assert_eq!(bad_gateway.content_type, Some("text/html"));
        assert!(bad_gateway.headers.is_empty());
        let internal = get(&sim, "/users/@me/guilds");
        assert_eq!(internal.status, 500);
        assert_eq!(body(&internal)["code"], json!(0));

        push(RestFault::RateLimited {
            scope: RateLimitScope::User,
            retry_after: Duration::from_secs(60),
            shape: RateLimitShape::CloudflareHtml,
        });
        let html = get(&sim, "/users/@me/guilds");
        assert_eq!(html.status, 429);
        assert_eq!(
            html.headers,
            vec![("Retry-After".to_owned(), "60".to_owned())]
        );
        assert!(String::from_utf8_lossy(&html.body).contains("<!DOCTYPE html>"));
        // A Cloudflare ban covers every route.
        let after = get(&sim, "/users/@me");
        assert_eq!(after.status, 429);
        assert_eq!(
            sim.lock().rest.log.back().and_then(|r| r.violation),
            Some(RateLimitViolation::Global)
        );
    }

    #[test]
    fn message_pages_are_newest_first_like_discord() {
        let sim = shared(SimConfig {
            history_per_channel: 30,
            bucket_limit: 1000,
            ..SimConfig::default()
        });
        let channel = first_text_channel(&sim);
        let ids = |response: &Outgoing| -> Vec<u64> {
            body(response)
                .as_array()
                .expect("array")
                .iter()
                .map(|m| {
                    m["id"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .expect("string id")
                })
                .collect()
        };
        let all = ids(&get(
            &sim,
            &format!("/channels/{channel}/messages?limit=100"),
        ));
        assert_eq!(all.len(), 30);
        assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert_eq!(
            ids(&get(&sim, &format!("/channels/{channel}/messages"))).len(),
            30
        );

        let oldest = all[29];
        let after = ids(&get(
            &sim,
            &format!("/channels/{channel}/messages?after={oldest}&limit=5"),
        ));
        // The five messages right after the cursor, still newest first.
        assert_eq!(after, vec![all[24], all[25], all[26], all[27], all[28]]);
        let before = ids(&get(
            &sim,
            &format!("/channels/{channel}/messages?before={}&limit=3", all[10]),
        ));
        assert_eq!(before, vec![all[11], all[12], all[13]]);
        let around = ids(&get(
            &sim,
            &format!("/channels/{channel}/messages?around={}&limit=4", all[10]),
        ));
        assert_eq!(around, vec![all[8], all[9], all[10], all[11]]);

        let page = body(&get(&sim, &format!("/channels/{channel}/messages?limit=1")));
        assert!(
            page[0].get("guild_id").is_none(),
            "REST messages carry no guild_id"
        );
        assert!(page[0].get("nonce").is_none());
        assert!(page[0]["edited_timestamp"].is_null() || page[0]["edited_timestamp"].is_string());

        sim.lock()
            .world
            .delete_message(channel, all[0])
            .expect("delete");
        let latest = ids(&get(&sim, &format!("/channels/{channel}/messages?limit=1")));
        assert_eq!(latest, vec![all[1]]);

        for bad in ["limit=0", "limit=101", "limit=abc", "after=xyz"] {
            let response = get(&sim, &format!("/channels/{channel}/messages?{bad}"));
            assert_eq!(response.status, 400, "{bad}");
            assert_eq!(body(&response)["code"], json!(50035));
        }
    }

    #[test]
    fn missing_access_unknown_and_content_approval() {
        let sim = shared(SimConfig {
            forbidden_channels_per_guild: 1,
            message_content: MessageContentApproval::Disabled,
            history_per_channel: 3,
            bucket_limit: 1000,
            ..SimConfig::default()
        });
        let channels = sim.lock().world.sim_channels();
        let forbidden = channels
            .iter()
            .find(|c| c.forbidden)
            .expect("forbidden channel");
        let denied = get(&sim, &format!("/channels/{}/messages", forbidden.id));
        assert_eq!(denied.status, 403);
        assert_eq!(
            body(&denied),
            json!({"message": "Missing Access", "code": 50001})
        );
        assert_eq!(
            body(&get(&sim, "/channels/1/messages"))["code"],
            json!(10003)
        );
        assert_eq!(body(&get(&sim, "/guilds/1"))["code"], json!(10004));
        let category = channels
            .iter()
            .find(|c| c.kind == crate::world::CHANNEL_CATEGORY)
            .expect("category");
        assert_eq!(
            body(&get(&sim, &format!("/channels/{}/messages", category.id)))["code"],
            json!(50024)
        );
        assert_eq!(get(&sim, "/nope").status, 404);

        let application = body(&get(&sim, "/oauth2/applications/@me"));
        assert_eq!(application["flags"], json!(0));
        let channel = first_text_channel(&sim);
        let page = body(&get(&sim, &format!("/channels/{channel}/messages")));
        for message in page.as_array().expect("array") {
            assert_eq!(message["content"], json!(""));
            assert_eq!(message["embeds"], json!([]));
            assert_eq!(message["attachments"], json!([]));
        }

        let approved = shared(SimConfig::default());
        let flags = body(&get(&approved, "/oauth2/applications/@me"))["flags"].as_u64();
        assert_eq!(
            flags,
            Some(crate::state::APP_FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED)
        );
        let gateway_bot = body(&get(&approved, "/gateway/bot"));
        assert_eq!(gateway_bot["url"], json!("ws://sim-gateway"));
        assert_eq!(gateway_bot["session_start_limit"]["remaining"], json!(1000));
        assert_eq!(
            gateway_bot["session_start_limit"]["max_concurrency"],
            json!(1)
        );
    }

    #[test]
    fn archived_threads_page_newest_first_by_archive_time_and_private_needs_manage_threads() {
        let sim = shared(SimConfig {
            threads_per_guild: 0,
            ..SimConfig::default()
        });
        let parent = first_text_channel(&sim);
        let base_ms = crate::snowflake::now_unix_ms();
        let mut threads = Vec::new();
        {
            let mut state = sim.lock();
            for n in 0..3u64 {
                let (id, _) = state
                    .world
                    .create_thread(parent, base_ms + n)
                    .expect("thread");
                // Archived in the reverse order of creation, a second apart.
                state
                    .world
                    .update_thread(id, None, Some(true), base_ms + 10_000 - n * 1_000)
                    .expect("archive");
                threads.push(id);
            }
            let (open, _) = state
                .world
                .create_thread(parent, base_ms + 5)
                .expect("thread");
            threads.push(open);
        }
        let ids = |body: &Value| -> Vec<u64> {
            body["threads"]
                .as_array()
                .expect("threads")
                .iter()
                .map(|t| t["id"].as_str().expect("id").parse().expect("snowflake"))
                .collect()
        };
        let path = format!("/channels/{parent}/threads/archived/public");
        let first = get(&sim, &format!("{path}?limit=2"));
        assert_eq!(first.status, 200);
        assert!(first.header_value("X-RateLimit-Bucket").is_some());
        let first_body = body(&first);
        assert_eq!(ids(&first_body), vec![threads[0], threads[1]]);
        assert_eq!(first_body["has_more"], json!(true));
        assert_eq!(first_body["members"], json!([]));
        let oldest = &first_body["threads"][1];
        assert_eq!(oldest["thread_metadata"]["archived"], json!(true));
        assert_eq!(oldest["parent_id"], json!(parent.to_string()));
        let before = oldest["thread_metadata"]["archive_timestamp"]
            .as_str()
            .expect("archive_timestamp")
            .replace(':', "%3A")
            .replace('+', "%2B");
        let second = body(&get(&sim, &format!("{path}?before={before}&limit=2")));
        assert_eq!(ids(&second), vec![threads[2]]);
        assert_eq!(second["has_more"], json!(false));

        assert_eq!(get(&sim, &format!("{path}?limit=1")).status, 400);
        assert_eq!(get(&sim, &format!("{path}?before=yesterday")).status, 400);
        let private = get(
            &sim,
            &format!("/channels/{parent}/threads/archived/private"),
        );
        assert_eq!(private.status, 403);
        assert_eq!(body(&private)["code"], json!(50013));
        let unknown = get(&sim, "/channels/1234/threads/archived/public");
        assert_eq!(unknown.status, 404);
        assert_eq!(body(&unknown)["code"], json!(10003));
        let on_a_thread = get(
            &sim,
            &format!("/channels/{}/threads/archived/public", threads[3]),
        );
        assert_eq!(on_a_thread.status, 400);

        let allowed = shared(SimConfig {
            manage_threads: true,
            ..SimConfig::default()
        });
        let parent = first_text_channel(&allowed);
        let private = get(
            &allowed,
            &format!("/channels/{parent}/threads/archived/private"),
        );
        assert_eq!(private.status, 200);
        assert_eq!(
            body(&private),
            json!({"threads": [], "members": [], "has_more": false})
        );
    }

    #[test]
    fn archived_thread_routes_have_their_own_buckets() {
        let sim = shared(SimConfig {
            route_limits: vec![RouteLimit {
                route: ROUTE_ARCHIVED_PUBLIC_THREADS.to_owned(),
                limit: 1,
                reset_ms: 60_000,
            }],
            ..SimConfig::default()
        });
        let parent = first_text_channel(&sim);
        let path = format!("/channels/{parent}/threads/archived/public");
        assert_eq!(get(&sim, &path).status, 200);
        assert_eq!(get(&sim, &path).status, 429);
        let log = sim.lock().rest.log.clone();
        let violations: Vec<_> = log.iter().filter_map(|r| r.violation).collect();
        assert_eq!(violations, vec![RateLimitViolation::Bucket]);
        assert_eq!(log[1].route, Some(ROUTE_ARCHIVED_PUBLIC_THREADS));
        assert_eq!(
            get(&sim, &format!("/channels/{parent}/messages?limit=1")).status,
            200
        );
    }
}
