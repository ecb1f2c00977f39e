//! `discord check` against a local HTTP server answering as Discord does, through the real
//! RateLimiterActor.

use serde_json::json;

use actix::Actor;

use super::*;
use crate::actors::ratelimit::{
    RateLimiterActor, RateLimiterHandle, RateLimiterSettings, TokenState,
};
use crate::config::Secret;
use crate::discord::rest::test_server::{FakeDiscord, Recorded, Reply};

const TOKEN: &str = "check-token-value";

fn config(server: &FakeDiscord) -> DiscordConfig {
    DiscordConfig {
        token: Some(Secret::new(TOKEN)),
        api_base_url: server.base_url(),
        rate_limit_requests_per_minute: 3_000,
        max_retries: 0,
        connection_timeout: 10.0,
        ..DiscordConfig::default()
    }
}

fn quiet() -> Logger {
    Logger::root(slog::Discard, o!())
}

fn discord(application_flags: u64) -> impl FnMut(&Recorded, usize) -> Reply + Send + 'static {
    move |request, _| match request.path.as_str() {
        "/users/@me" => Reply::json(200, json!({"id": "1", "username": "monitor", "bot": true})),
        "/gateway/bot" => Reply::json(
            200,
            json!({
                "url": "wss://gateway.discord.gg", "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 998,
                                        "reset_after": 7_200_000, "max_concurrency": 1}
            }),
        ),
        "/gateway" => Reply::json(200, json!({"url": "wss://gateway.discord.gg"})),
        "/applications/@me" => Reply::json(
            200,
            json!({"id": "5", "name": "Monitor", "flags": application_flags, "bot_public": false}),
        ),
        "/users/@me/guilds" => Reply::json(
            200,
            json!([
                {"id": "100", "name": "Alpha", "icon": null, "owner": false, "permissions": "0"},
                {"id": "200", "name": "Beta", "icon": null, "owner": false, "permissions": "0"}
            ]),
        ),
        "/guilds/100/channels" => Reply::json(
            200,
            json!([
                {"id": "110", "type": 4, "name": "Text", "position": 0, "parent_id": null},
                {"id": "111", "type": 0, "name": "general", "position": 1, "parent_id": "110"},
                {"id": "112", "type": 0, "name": "secret", "position": 2, "parent_id": "110"},
                {"id": "113", "type": 2, "name": "Voice", "position": 3, "parent_id": null},
                {"id": "114", "type": 15, "name": "forum", "position": 4, "parent_id": null}
            ]),
        ),
        "/guilds/100/threads/active" => Reply::json(
            200,
            json!({
                "threads": [{"id": "115", "type": 11, "name": "a thread", "parent_id": "111",
                             "guild_id": "100", "thread_metadata": {"archived": false, "locked": false}}],
                "members": []
            }),
        ),
        "/channels/112/messages" => {
            Reply::json(403, json!({"message": "Missing Access", "code": 50001}))
        }
        path if path.starts_with("/channels/") => Reply::json(200, json!([])),
        _ => Reply::json(404, json!({"message": "404: Not Found", "code": 0})),
    }
}

fn channel(report: &CheckReport, id: u64) -> &ChannelCheck {
    report
        .guilds
        .iter()
        .flat_map(|guild| &guild.channels)
        .find(|channel| channel.id == Snowflake(id))
        .unwrap()
}

#[actix_rt::test]
async fn reports_token_gateway_intent_guilds_and_channel_access() {
    let server = FakeDiscord::start(discord(1 << 19));
    let config = DiscordConfig {
        guild_ids: vec![Snowflake(100), Snowflake(300)],
        ignored_channel_ids: vec![Snowflake(113)],
        ..config(&server)
    };
    let report = check(&config, &quiet()).await.unwrap();

    assert_eq!(report.account.name, "monitor");
    assert_eq!(
        report.gateway.url.as_deref(),
        Some("wss://gateway.discord.gg")
    );
    assert_eq!(report.gateway.recommended_shards, Some(1));
    assert_eq!(
        report
            .gateway
            .session_start_limit
            .as_ref()
            .unwrap()
            .remaining,
        998
    );
    assert_eq!(
        report.message_content_intent,
        Some(MessageContentIntent::EnabledLimited)
    );
    assert!(report.guilds[0].monitored && !report.guilds[1].monitored);
    assert!(report.guilds[1].channels.is_empty());
    assert_eq!(channel(&report, 111).access, ChannelAccess::Readable);
    assert_eq!(channel(&report, 112).access, ChannelAccess::Forbidden);
    assert!(!channel(&report, 113).monitored);
    assert!(!channel(&report, 110).monitored && !channel(&report, 114).monitored);
    // A thread follows its parent channel and is probed too.
    assert!(channel(&report, 115).monitored);
    assert_eq!(channel(&report, 115).access, ChannelAccess::Readable);

    // Only monitored channels were probed, with one message each.
    let probes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with("/messages"))
        .collect();
    assert_eq!(probes.len(), 3);
    assert!(probes.iter().all(|probe| probe.query == "limit=1"));
    assert!(server.requests_to("/guilds/200/channels").is_empty());

    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("guild 300"))
    );
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("secret (112)"))
    );
    assert!(report.warnings.is_empty());

    let text = report.to_string();
    assert!(text.contains("Token: accepted (bot token) for monitor (id 1, bot)"));
    assert!(text.contains("wss://gateway.discord.gg, 1 recommended shard(s)"));
    assert!(text.contains("Session starts: 998 of 1000 left, reset in 2 h 0 min"));
    assert!(text.contains("MESSAGE_CONTENT intent: enabled (bot in fewer than 100 servers)"));
    assert!(text.contains("Alpha (100) [monitored]"));
    assert!(text.contains("Beta (200) [not monitored]"));
    assert!(text.contains("monitored, FORBIDDEN (403)"));
    let json = serde_json::to_value(&report).unwrap();
    let secret = json["guilds"][0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["id"] == "112")
        .unwrap();
    assert_eq!(secret["access"]["status"], "forbidden");
    assert_eq!(secret["kind_name"], "text");
    // Threads are listed right below their channel.
    assert_eq!(json["guilds"][0]["channels"][2]["id"], "115");
    assert_eq!(json["message_content_intent"], "enabled_limited");
    assert!(!serde_json::to_string(&json).unwrap().contains(TOKEN));
}

#[actix_rt::test]
async fn a_missing_message_content_intent_is_a_problem_when_requested() {
    let server = FakeDiscord::start(discord(0));
    let report = check(&config(&server), &quiet()).await.unwrap();
    assert_eq!(
        report.message_content_intent,
        Some(MessageContentIntent::Disabled)
    );
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("4014"))
    );
    assert!(
        report
            .to_string()
            .contains("MESSAGE_CONTENT intent: NOT enabled")
    );
}

#[actix_rt::test]
async fn a_rejected_token_is_one_line_and_nothing_else_is_asked() {
    let server = FakeDiscord::start(|_, _| {
        Reply::json(401, json!({"message": "401: Unauthorized", "code": 0}))
    });
    let err = check(&config(&server), &quiet()).await.unwrap_err();
    assert!(matches!(err, CheckError::TokenRejected));
    assert_eq!(
        err.to_string(),
        "Discord rejected the token (401): check DISCORD_TOKEN and discord.token_type"
    );
    assert_eq!(server.requests().len(), 1);
}

#[actix_rt::test]
async fn an_unreachable_api_and_a_missing_token_are_errors() {
    let server = FakeDiscord::start(discord(0));
    let missing = DiscordConfig {
        token: None,
        ..config(&server)
    };
    assert!(matches!(
        check(&missing, &quiet()).await,
        Err(CheckError::MissingToken)
    ));
    assert!(server.requests().is_empty());

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = DiscordConfig {
        api_base_url: format!("http://127.0.0.1:{closed_port}/api/v10"),
        ..config(&server)
    };
    let err = check(&unreachable, &quiet()).await.unwrap_err();
    assert!(matches!(err, CheckError::Unverified { .. }), "{err}");
}

#[actix_rt::test]
async fn user_tokens_get_the_plain_gateway_no_application_and_a_warning() {
    let server = FakeDiscord::start(discord(0));
    let config = DiscordConfig {
        token_type: TokenType::User,
        ..config(&server)
    };
    let report = check(&config, &quiet()).await.unwrap();
    assert_eq!(report.message_content_intent, None);
    assert_eq!(report.gateway.recommended_shards, None);
    assert_eq!(server.requests_to("/gateway").len(), 1);
    assert!(server.requests_to("/applications/@me").is_empty());
    assert!(server.requests_to("/guilds/100/threads/active").is_empty());
    assert!(report.warnings[0].contains("terms of service"));
    assert_eq!(server.requests()[0].authorization.as_deref(), Some(TOKEN));
}

/// The check as `discord check` runs it: through a RateLimiterActor of its own.
async fn check(config: &DiscordConfig, log: &Logger) -> Result<CheckReport, CheckError> {
    let limiter = RateLimiterActor::new(
        RateLimiterSettings::from_config(config),
        TokenState::new(),
        log,
    )
    .start();
    run_check(config, Arc::new(RateLimiterHandle::from(limiter)), log).await
}
