//! The admin API of the real binary (`demo`) on a loopback port: probes, auth, sanitized
//! config, metrics, messages, search, OpenAPI, clean SIGTERM shutdown, and logs free of
//! secrets.

mod support;

use std::collections::BTreeSet;

use discord_monitor::actors::db::{Database, DatabaseConfig, NewMessage};
use serde_json::json;
use support::{
    ADMIN_TOKEN, DISCORD_TOKEN, EMAIL_PASSWORD, GOOGLE_API_KEY, SLACK_WEBHOOK_URL, Service,
    get_json, get_text, message, run_cli,
};

const SECRET_ENV: &[(&str, &str)] = &[
    ("ADMIN_TOKEN", ADMIN_TOKEN),
    ("DISCORD_TOKEN", DISCORD_TOKEN),
    ("GOOGLE_API_KEY", GOOGLE_API_KEY),
    ("EMAIL_PASSWORD", EMAIL_PASSWORD),
    ("SLACK_WEBHOOK_URL", SLACK_WEBHOOK_URL),
    ("LOG_LEVEL", "DEBUG"),
];

/// A demo instance whose database already holds three messages in two channels.
fn demo_with_messages() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&DatabaseConfig {
        path: dir.path().join("demo-data/db.sqlite"),
        ..DatabaseConfig::default()
    })
    .unwrap();
    db.run_pending_migrations().unwrap();
    db.store_messages(&[
        message(1_000_003, 555, "third"),
        message(1_000_001, 555, "first"),
        message(1_000_002, 777, "other channel"),
    ])
    .unwrap();
    drop(db);
    Service::start_in(dir, &["demo"], SECRET_ENV)
}

#[tokio::test]
async fn probes_detailed_health_and_clean_shutdown() {
    let mut service = demo_with_messages();
    service.wait_ready().await;

    for path in ["/health", "/health/live"] {
        let (status, body) = get_json(&service.url(path), None).await;
        assert_eq!((status, &body["status"]), (200, &json!("alive")), "{path}");
    }
    let (status, body) = get_json(&service.url("/health/ready"), None).await;
    assert_eq!((status, &body["status"]), (200, &json!("ready")));

    let (status, body) = get_json(&service.url("/health/detailed"), None).await;
    assert_eq!(status, 200, "{body}");
    let components = &body["health"]["components"];
    assert_eq!(components["database"]["status"], "up", "{body}");
    assert_eq!(components["admin_api"]["status"], "up", "{body}");
    assert_eq!(components["database"]["restarts"], 0);
    assert!(body["system"]["resident_memory_bytes"].as_u64().unwrap() > 0);

    let exit = service.terminate();
    assert!(exit.success(), "exit {exit}; stderr:\n{}", service.stderr());
    let output = service.finish();
    assert!(output.contains("Stopped cleanly"), "shutdown is logged");
}

#[tokio::test]
async fn protected_routes_need_the_token_and_never_show_secrets() {
    let mut service = demo_with_messages();
    service.wait_ready().await;

    for path in ["/config", "/status", "/api/messages", "/api/search?q=x"] {
        let (status, body) = get_json(&service.url(path), None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("bearer"), "{body}");
        let (status, _) = get_json(&service.url(path), Some("wrong-token")).await;
        assert_eq!(status, 401, "{path}");
    }

    let (status, config) = get_json(&service.url("/config"), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(config["discord"]["token"], "<redacted>");
    assert_eq!(config["admin"]["token"], "<redacted>");
    assert_eq!(config["alerts"]["email_password"], "<redacted>");
    assert_eq!(config["alerts"]["slack_webhook_url"], "<redacted>");
    support::assert_no_secrets(&config.to_string(), "/config");

    let (status, body) = get_json(&service.url("/status"), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "service",
        "discord_client_health",
        "processing_status",
        "database",
        "llm",
    ] {
        assert!(!body[key].is_null(), "/status lacks {key}: {body}");
    }
    assert_eq!(body["service"]["mode"], "demo");
    // The three stored before the start, plus what the demo's simulated Discord brings.
    let stored = body["database"]["stats"]["tables"]["messages"]
        .as_u64()
        .unwrap();
    assert!(stored >= 3, "{body}");
    support::assert_no_secrets(&body.to_string(), "/status");

    service.finish();
}

#[tokio::test]
async fn messages_are_listed_in_id_order_with_clear_errors_for_bad_parameters() {
    let mut service = demo_with_messages();
    service.wait_ready().await;
    let url = |query: &str| service.url(&format!("/api/messages{query}"));

    // The demo also stores a simulated Discord's messages: their snowflakes are far larger
    // than these test ids, so the oldest page holds exactly ours.
    let (status, body) = get_json(&url("?after=0&limit=3"), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1000001", "1000002", "1000003"]);

    // Like Discord's history pages: without `after`, the newest messages; with it, the
    // oldest ones above it. Either way ascending.
    let (_, body) = get_json(&url("?channel_id=555&limit=1"), Some(ADMIN_TOKEN)).await;
    assert_eq!(body["messages"][0]["content"], "third", "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    let (_, body) = get_json(&url("?channel_id=555&after=0&limit=1"), Some(ADMIN_TOKEN)).await;
    assert_eq!(body["messages"][0]["content"], "first", "{body}");
    let (_, body) = get_json(&url("?channel_id=555&after=1000001"), Some(ADMIN_TOKEN)).await;
    assert_eq!(body["messages"][0]["content"], "third", "{body}");
    let (_, body) = get_json(&url("?channel_id=555&before=1000003"), Some(ADMIN_TOKEN)).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 1, "{body}");

    // RFC 3339 times beside the `_ms` ones.
    let first = &body["messages"][0];
    assert_eq!(first["created_at_ms"], created_at_ms(1_000_001), "{body}");
    assert_eq!(first["created_at"], "2023-11-14T22:30:00.001Z", "{body}");
    assert!(
        first["edited_at_ms"].is_null() && first["edited_at"].is_null(),
        "{body}"
    );

    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?channel_id=abc",
        "?chanel_id=1",
        "?after=5&before=5",
    ] {
        let (status, body) = get_json(&url(bad), Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    service.finish();
}

/// Creation time of the messages `support::message` builds.
const fn created_at_ms(id: u64) -> i64 {
    1_700_000_000_000 + id as i64
}

const SEARCH_GUILD: u64 = 7;
const OPS: u64 = 901;
const DEV: u64 = 902;
const DM: u64 = 903;
const BOB: u64 = 98;

/// A demo instance whose database also holds messages to search: in two channels of guild 7
/// and a direct message, by two authors, one edited and one deleted.
fn demo_with_search_messages() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&DatabaseConfig {
        path: dir.path().join("demo-data/db.sqlite"),
        ..DatabaseConfig::default()
    })
    .unwrap();
    db.run_pending_migrations().unwrap();
    db.store_messages(&[
        message(2_000_001, OPS, "kubernetes rollout failed at noon"),
        message(2_000_002, OPS, "kubernetes kubernetes, kubernetes again"),
        NewMessage {
            author_id: BOB,
            author_name: "bob".to_owned(),
            ..message(2_000_003, DEV, "the kubernetes upgrade is done")
        },
        NewMessage {
            guild_id: None,
            ..message(2_000_004, DM, "kubernetes in a direct message")
        },
        message(2_000_005, OPS, "first wording zanzibar"),
        message(2_000_006, OPS, "kubernetes secret plan"),
    ])
    .unwrap();
    db.store_messages(&[NewMessage {
        content: "second wording quokka".to_owned(),
        edited_at_ms: Some(1_800_000_000_000),
        ..message(2_000_005, OPS, "")
    }])
    .unwrap();
    db.mark_deleted(OPS, &[2_000_006]).unwrap();
    drop(db);
    Service::start_in(dir, &["demo"], SECRET_ENV)
}

/// The message ids of a search answer's hits, sorted (ranking is checked on its own).
fn hit_ids(body: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {body}"))
        .iter()
        .map(|hit| hit["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

fn hit<'a>(body: &'a serde_json::Value, message_id: &str) -> &'a serde_json::Value {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hit| hit["message_id"] == message_id)
        .unwrap_or_else(|| panic!("{message_id} not found: {body}"))
}

#[tokio::test]
async fn search_ranks_filters_and_answers_bad_queries_with_a_hint() {
    let mut service = demo_with_search_messages();
    service.wait_ready().await;
    let base = service.url("/api/search");
    let search = |params: &[(&str, &str)]| {
        reqwest::Url::parse_with_params(&base, params)
            .unwrap()
            .to_string()
    };
    let found = |params: &[(&str, &str)]| {
        let url = search(params);
        async move {
            let (status, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
            assert_eq!(status, 200, "{url}: {body}");
            body
        }
    };

    let (status, body) = get_json(&search(&[("q", "kubernetes")]), None).await;
    assert_eq!(status, 401, "{body}");

    // The deleted message is never found; the one saying it three times ranks first.
    let body = found(&[("q", "kubernetes")]).await;
    assert_eq!(body["query"], "kubernetes");
    assert_eq!(
        (&body["total"], &body["has_more"]),
        (&json!(4), &json!(false))
    );
    assert_eq!(body["hits"][0]["message_id"], "2000002", "{body}");
    assert_eq!(hit_ids(&body), ["2000001", "2000002", "2000003", "2000004"]);
    let upgrade = hit(&body, "2000003");
    assert_eq!(upgrade["guild_id"], SEARCH_GUILD.to_string());
    assert_eq!(upgrade["channel_id"], DEV.to_string());
    assert_eq!(upgrade["author_id"], BOB.to_string());
    assert_eq!(upgrade["author_name"], "bob");
    assert_eq!(upgrade["created_at"], "2023-11-14T22:46:40.003Z");
    assert!(upgrade["edited_at"].is_null(), "{upgrade}");
    assert_eq!(upgrade["snippet"], "the ⟦kubernetes⟧ upgrade is done");
    assert_eq!(
        upgrade["jump_url"],
        format!("https://discord.com/channels/{SEARCH_GUILD}/{DEV}/2000003")
    );
    let direct = hit(&body, "2000004");
    assert!(direct["guild_id"].is_null(), "{direct}");
    assert_eq!(
        direct["jump_url"],
        format!("https://discord.com/channels/@me/{DM}/2000004")
    );
    let page = found(&[("q", "kubernetes"), ("limit", "1")]).await;
    assert_eq!(page["hits"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&page["total"], &page["has_more"]),
        (&json!(4), &json!(true))
    );

    // Filters, each alone and together.
    let (ops, dev, guild, bob) = (
        OPS.to_string(),
        DEV.to_string(),
        SEARCH_GUILD.to_string(),
        BOB.to_string(),
    );
    let since = created_at_ms(2_000_002).to_string();
    for (params, expected) in [
        (
            vec![("channel_id", ops.as_str())],
            vec!["2000001", "2000002"],
        ),
        (
            vec![("guild_id", guild.as_str())],
            vec!["2000001", "2000002", "2000003"],
        ),
        (vec![("author_id", bob.as_str())], vec!["2000003"]),
        (
            vec![("author_id", bob.as_str()), ("channel_id", ops.as_str())],
            vec![],
        ),
        (vec![("channel_id", dev.as_str())], vec!["2000003"]),
        // `since` inclusive (Unix ms), `until` exclusive (RFC 3339).
        (
            vec![
                ("since", since.as_str()),
                ("until", "2023-11-14T22:46:40.004Z"),
            ],
            vec!["2000002", "2000003"],
        ),
    ] {
        let mut params = params;
        params.push(("q", "kubernetes"));
        assert_eq!(hit_ids(&found(&params).await), expected, "{params:?}");
    }

    // The query language: phrases, prefixes, OR, exclusions; edits and FTS5's own syntax.
    for (q, expected) in [
        ("\"rollout failed\"", vec!["2000001"]),
        ("\"failed rollout\"", vec![]),
        ("kuber* -noon -again", vec!["2000003", "2000004"]),
        ("quokka OR noon", vec!["2000001", "2000005"]),
        (
            "NOT upgrade kubernetes NOT direct",
            vec!["2000001", "2000002"],
        ),
        ("zanzibar", vec![]),
        // `NEAR(` and `content:` are words here: no message says "near" or "content".
        ("NEAR(kubernetes, 3)", vec![]),
        ("content:upgrade", vec![]),
        ("upgrade (done)", vec!["2000003"]),
        ("^kubernetes +upgrade", vec!["2000003"]),
        ("Ünïcödé ñandú", vec![]),
        (
            "kubernetes AND",
            vec!["2000001", "2000002", "2000003", "2000004"],
        ),
    ] {
        assert_eq!(hit_ids(&found(&[("q", q)]).await), expected, "{q}");
    }
    let edited = found(&[("q", "quokka")]).await;
    assert_eq!(
        edited["hits"][0]["edited_at"], "2027-01-15T08:00:00Z",
        "{edited}"
    );

    // Never a 500: what FTS5 would reject is a 400 with a hint; other mistakes name the
    // parameter.
    let long = "kubernetes ".repeat(60);
    for (params, expected) in [
        (vec![("q", "\"kubernetes")], "a quote is not closed"),
        (vec![("q", "-")], "search text has no words"),
        (vec![("q", "*")], "search text has no words"),
        (vec![("q", "🎉")], "search text has no words"),
        (vec![("q", "")], "search text has no words"),
        (vec![("q", "-kubernetes")], "it only excludes words"),
        (vec![("q", "kubernetes OR")], "OR is missing a word"),
        (vec![("q", "OR")], "OR is missing a word"),
        (vec![("q", "kubernetes NOT")], "NOT is missing the word"),
        (
            vec![("q", "noon OR -kubernetes")],
            "an excluded word cannot be",
        ),
        (vec![("q", long.as_str())], "characters long, more than 512"),
    ] {
        let url = search(&params);
        let (status, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 400, "{url}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(expected), "{url}: {body}");
        let hint = body["hint"]
            .as_str()
            .unwrap_or_else(|| panic!("no hint: {body}"));
        assert!(error.contains(hint), "{body}");
    }
    for (params, expected) in [
        (vec![], "q is required"),
        (
            vec![("q", "x"), ("guild_id", "abc")],
            "guild_id must be a Discord snowflake",
        ),
        (
            vec![("q", "x"), ("author_id", "-1")],
            "author_id must be a Discord snowflake",
        ),
        (
            vec![("q", "x"), ("since", "tomorrow")],
            "since must be an RFC 3339 time",
        ),
        (
            vec![("q", "x"), ("since", "2024-01-02"), ("until", "2024-01-01")],
            "must be before until",
        ),
        (
            vec![("q", "x"), ("limit", "0")],
            "limit must be an integer from 1 to 100",
        ),
        (
            vec![("q", "x"), ("limit", "101")],
            "limit must be an integer from 1 to 100",
        ),
        (
            vec![("q", "x"), ("sort", "new")],
            "unknown parameter \"sort\"",
        ),
        (vec![("q", "x"), ("q", "y")], "given more than once"),
    ] {
        let url = search(&params);
        let (status, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(expected),
            "{url}: {body}"
        );
        assert!(body.get("hint").is_none(), "{body}");
    }

    // What the demo ingested from its simulated Discord is found too, with the names of its
    // guilds and channels.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ingested = loop {
        let body = found(&[("q", "deploy OR release OR rollback OR latency OR review")]).await;
        if body["total"].as_u64().unwrap() > 0 {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing ingested: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let first = &ingested["hits"][0];
    assert!(first["guild_name"].is_string(), "{ingested}");
    assert!(first["channel_name"].is_string(), "{ingested}");
    assert!(
        first["snippet"].as_str().unwrap().contains('⟦'),
        "{ingested}"
    );

    // The command line reads the same database while the service writes to it.
    let env = [("DATABASE_PATH", "demo-data/db.sqlite")];
    let out = run_cli(
        service.dir.path(),
        &["search", "kubernetes", "--json"],
        &env,
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let cli: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(cli["total"], 4, "{cli}");
    assert_eq!(
        cli["hits"], body["hits"],
        "the CLI answers what the API does"
    );
    service.finish();
}

#[tokio::test]
async fn metrics_openapi_and_unknown_routes() {
    let mut service = demo_with_messages();
    service.wait_ready().await;

    let (status, content_type, text) = get_text(&service.url("/metrics")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        text.contains("# TYPE discord_monitor_uptime_seconds gauge"),
        "{text}"
    );
    assert!(
        text.contains("discord_monitor_process_resident_memory_bytes"),
        "{text}"
    );
    // Every component's families are registered when the service is built, so they are all
    // scraped whatever has happened yet (the alert families need configured routes, which
    // the demo has none of).
    for family in [
        "discord_monitor_component_up",
        "discord_monitor_component_restarts_total",
        "discord_monitor_build_info",
        "discord_monitor_rest_requests_total",
        "discord_monitor_rest_rate_limited_total",
        "discord_monitor_rest_rate_limit_wait_seconds",
        "discord_monitor_rest_rate_limit_buckets",
        "discord_monitor_rest_invalid_requests",
        "discord_monitor_gateway_reconnects_total",
        "discord_monitor_ingest_queue_depth",
        "discord_monitor_ingest_queue_capacity",
        "discord_monitor_ingest_batch_duration_seconds",
        "discord_monitor_ingest_events_total",
        "discord_monitor_messages_stored_total",
        "discord_monitor_backfill_passes_total",
        "discord_monitor_backfill_messages_total",
        "discord_monitor_backfill_last_pass_age_seconds",
        "discord_monitor_backfill_channels",
        "discord_monitor_llm_requests_total",
        "discord_monitor_llm_failures_total",
        "discord_monitor_llm_request_duration_seconds",
        "discord_monitor_llm_tokens_total",
        "discord_monitor_llm_cost_usd_total",
        "discord_monitor_llm_circuit_state",
        "discord_monitor_llm_spent_today_usd",
        "discord_monitor_llm_daily_limit_usd",
        "discord_monitor_backup_failures_total",
        "discord_monitor_backup_files",
        "discord_monitor_backup_last_duration_seconds",
        "discord_monitor_http_requests_total",
        "discord_monitor_http_request_duration_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family}: {text}"
        );
    }
    assert!(
        text.contains(
            r#"discord_monitor_http_requests_total{route="/openapi.json",status="200"} 0"#
        ),
        "a route nobody asked yet is there at 0: {text}"
    );
    let (status, body) = get_json(&service.url("/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(body["metrics"].is_object(), "{body}");
    let (_, body) = get_json(&service.url("/metrics?format=json"), None).await;
    assert!(
        body["metrics"]["discord_monitor_uptime_seconds"].is_object(),
        "{body}"
    );

    let (status, spec) = get_json(&service.url("/openapi.json"), None).await;
    assert_eq!(status, 200);
    let documented: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    let served: BTreeSet<String> = discord_monitor::admin::openapi::ROUTES
        .iter()
        .map(|(_, path)| (*path).to_owned())
        .collect();
    assert_eq!(documented, served);
    for path in &served {
        let (status, _) = get_json(&service.url(path), Some(ADMIN_TOKEN)).await;
        assert_ne!(status, 404, "{path} is documented but not served");
    }

    let (status, body) = get_json(&service.url("/nope"), None).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("/nope"), "{body}");
    let response = support::client()
        .post(service.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    assert!(service.terminate().success());
    let log_file = service
        .dir
        .path()
        .join("demo-data/logs/discord_monitor.jsonl");
    // Every line of the log file is JSON in the shape the deployment guide's log commands read.
    let log = std::fs::read_to_string(&log_file).expect("the demo logs under demo-data/logs");
    service.finish();
    assert!(log.lines().count() > 3, "{log}");
    for line in log.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        for key in ["ts", "level", "logger", "message"] {
            assert!(record[key].is_string(), "{key} missing in {line}");
        }
    }
    assert!(
        log.contains(r#""logger":"http""#),
        "admin requests are logged"
    );
    assert!(
        !log.to_lowercase().contains("authorization"),
        "headers are never logged"
    );
}

#[tokio::test]
async fn allowed_cidrs_limit_everything_but_the_probes() {
    let mut service = Service::start(
        &["demo"],
        &json!({}),
        &[("ADMIN_ALLOWED_CIDRS", "10.0.0.0/8")],
    );
    service.wait_ready().await;
    let (status, body) = get_json(&service.url("/metrics"), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("allowed_cidrs"),
        "{body}"
    );
    let (status, _) = get_json(&service.url("/health/ready"), None).await;
    assert_eq!(status, 200);
    service.finish();
}

#[tokio::test]
async fn without_an_admin_token_loopback_callers_are_admitted() {
    let mut service = Service::start(&["demo"], &json!({}), &[]);
    service.wait_ready().await;
    let (status, body) = get_json(&service.url("/config"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["admin"]["token"].is_null());
    let (status, body) = get_json(&service.url("/api/search?q=deploy"), None).await;
    assert_eq!(status, 200, "{body}");
    let exit = service.interrupt();
    assert!(exit.success(), "Ctrl-C stops cleanly: {exit}");
    assert!(service.all_output().contains("SIGINT"));
    service.finish();
}

#[tokio::test]
async fn healthcheck_command_follows_readiness() {
    let mut service = Service::start(&["demo"], &json!({}), &[]);
    service.wait_ready().await;
    let url = service.url("/health/ready");
    let dir = tempfile::tempdir().unwrap();
    let out = support::run_cli(dir.path(), &["healthcheck", "--url", &url], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("ready"), "{out:?}");
    let out = support::run_cli(
        dir.path(),
        &["healthcheck"],
        &[("HEALTH_CHECK_PORT", &service.port.to_string())],
    );
    assert_eq!(out.code(), 0, "default URL from the config port: {out:?}");
    service.finish();
    let out = support::run_cli(
        dir.path(),
        &["healthcheck", "--url", &url, "--timeout-secs", "2"],
        &[],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stdout.contains("not ready"), "{out:?}");
}

#[tokio::test]
async fn the_service_takes_backups_on_its_own_and_on_request() {
    // 1.8 s between backups, two kept: within a few seconds the service has pruned.
    let mut service = Service::start(
        &["demo"],
        &json!({}),
        &[
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("DATABASE_BACKUP_INTERVAL_HOURS", "0.0005"),
            ("DATABASE_MAX_BACKUPS", "2"),
        ],
    );
    service.wait_ready().await;
    let url = service.url("/api/backups");
    let (status, _) = get_json(&url, None).await;
    assert_eq!(status, 401);

    // Generous: the machine is shared; the backups themselves take milliseconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let body = loop {
        let (status, body) = get_json(&url, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        let successes = body["state"]["successes"].as_u64().unwrap();
        if successes >= 4 && body["backups"].as_array().unwrap().len() == 2 {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pruned backups yet: {body}\n{}",
            service.stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(body["state"]["failures"], 0, "{body}");
    assert_eq!(body["state"]["max_backups"], 2, "{body}");
    assert!(
        body["state"]["backup_dir"]
            .as_str()
            .unwrap()
            .starts_with("demo-data"),
        "the demo keeps its backups under demo-data: {body}"
    );
    for backup in body["backups"].as_array().unwrap() {
        assert_eq!(backup["kind"], "scheduled", "{body}");
        assert_eq!(backup["metadata"]["sha256"].as_str().unwrap().len(), 64);
        assert!(
            service
                .dir
                .path()
                .join(backup["path"].as_str().unwrap())
                .is_file()
        );
    }

    // On request: 201 with the record (409 only if a scheduled one runs at that instant).
    let record = loop {
        let response = support::client()
            .post(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        match status {
            201 => break body["backup"].clone(),
            409 => assert!(body["error"].as_str().unwrap().contains("already running")),
            other => panic!("POST /api/backups answered {other}: {body}"),
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(record["reason"], "manual", "{record}");
    assert_eq!(record["kept"], 2, "{record}");
    let response = support::client()
        .put(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    let (status, body) = get_json(&service.url("/status"), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["backup"]["last_outcome"], "ok", "{body}");
    assert!(body["backup"]["next_due_at"].is_string(), "{body}");
    let (_, _, metrics) = get_text(&service.url("/metrics")).await;
    assert!(
        metrics.contains("discord_monitor_backup_files 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("discord_monitor_backup_failures_total 0"),
        "{metrics}"
    );
    service.finish();
}
