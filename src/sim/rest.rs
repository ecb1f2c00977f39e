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

/// Path prefix of the API version the sim serves.
pub const API_PREFIX: &str = "/api/v10";

/// Discord's page size bounds for channel messages.
const MESSAGES_LIMIT_MAX: u64 = 100;
const MESSAGES_LIMIT_DEFAULT: u64 = 50;
/// Page size bounds for `GET /users/@me/guilds`.
const GUILDS_LIMIT_MAX: u64 = 200;

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
    state.rest.log.push(record);
    if state.rest.log.len() % 1024 == 0 {
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
        _ => channel_route(state, matched, query, with_content),
    }
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
