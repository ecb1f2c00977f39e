//! discord-sim's generated world and traffic: seed determinism, snowflakes that grow with
//! time, realistic payload variety, the live stream, and the ground truth after edits and
//! deletes (checked against REST, the gateway and the handle).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use discord_sim::{
    CHANNEL_PUBLIC_THREAD, CHANNEL_TEXT, MessageOrigin, RateLimitScope, RateLimitShape,
    RateLimitViolation, RestFault, RouteLimit, Sim, SimConfig, SimHandle, StreamStart,
    snowflake_unix_ms,
};
use support::{INTENTS, RawGateway, WAIT, http};

fn manual(config: SimConfig) -> SimHandle {
    Sim::start(SimConfig {
        stream_start: StreamStart::Manual,
        identify_spacing_ms: 0,
        heartbeat_grace_ms: None,
        ..config
    })
    .expect("start sim")
}

/// What a seed decides, without message ids (history ids depend on the clock at start).
#[derive(Debug, PartialEq)]
struct WorldShape {
    guilds: Vec<String>,
    channels: Vec<(u8, String)>,
    contents_by_channel: Vec<Vec<String>>,
}

fn shape(sim: &SimHandle) -> WorldShape {
    let mut by_channel: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for message in sim.messages() {
        by_channel
            .entry(message.channel_id)
            .or_default()
            .push(message.content);
    }
    WorldShape {
        guilds: sim.guilds().into_iter().map(|g| g.name).collect(),
        channels: sim
            .channels()
            .into_iter()
            .map(|c| (c.kind, c.name))
            .collect(),
        contents_by_channel: by_channel.into_values().collect(),
    }
}

#[test]
fn the_same_seed_builds_the_same_world_and_stream() {
    let config = SimConfig {
        seed: 42,
        guilds: 3,
        channels_per_guild: 4,
        threads_per_guild: 2,
        history_per_channel: 15,
        ..SimConfig::default()
    };
    let first = manual(config.clone());
    let second = manual(config.clone());
    let third = manual(SimConfig { seed: 43, ..config });
    assert_eq!(shape(&first), shape(&second));
    assert_ne!(shape(&first), shape(&third));
    let ids = |sim: &SimHandle| -> Vec<u64> { sim.channels().iter().map(|c| c.id).collect() };
    assert_eq!(
        ids(&first),
        ids(&second),
        "guild and channel ids come from the random seed too"
    );

    for _ in 0..40 {
        first.stream_step();
        second.stream_step();
    }
    assert_eq!(shape(&first), shape(&second));
    assert_eq!(first.stream_status(), second.stream_status());
}

#[test]
fn snowflakes_grow_with_time_and_match_their_timestamps() {
    let sim = manual(SimConfig {
        history_per_channel: 25,
        ..SimConfig::default()
    });
    for _ in 0..50 {
        sim.stream_step();
    }
    let messages = sim.messages();
    let mut by_time = messages.clone();
    by_time.sort_by_key(|m| m.id);
    for message in &messages {
        let parsed = chrono::DateTime::parse_from_rfc3339(&message.timestamp).expect("timestamp");
        assert_eq!(
            parsed.timestamp_millis() as u64,
            snowflake_unix_ms(message.id)
        );
        assert!(message.timestamp.ends_with("+00:00"));
        assert_eq!(
            message.json["id"],
            json!(message.id.to_string()),
            "ids are strings"
        );
    }
    let history_last = by_time
        .iter()
        .filter(|m| m.origin == MessageOrigin::History)
        .map(|m| m.id)
        .max();
    let live_first = by_time
        .iter()
        .filter(|m| m.origin == MessageOrigin::Live)
        .map(|m| m.id)
        .min();
    assert!(
        history_last < live_first,
        "live messages are newer than history"
    );
    let channels_oldest = sim.channels().iter().map(|c| c.id).max().expect("channels");
    assert!(
        by_time
            .iter()
            .filter(|m| m.origin == MessageOrigin::History)
            .all(|m| m.id > channels_oldest)
    );
}

#[tokio::test]
async fn generated_payloads_cover_what_real_discord_sends() {
    let sim = manual(SimConfig {
        seed: 9,
        history_per_channel: 0,
        unfurl_ratio: 1.0,
        ..SimConfig::default()
    });
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    client.login(&sim.token(), INTENTS).await;
    for _ in 0..sim.guilds().len() {
        client.dispatch("GUILD_CREATE").await;
    }
    for _ in 0..400 {
        sim.stream_step();
    }
    let mut creates = Vec::new();
    while creates.len() < 400 {
        let payload = client.payload().await;
        if payload["t"] == json!("MESSAGE_CREATE") {
            creates.push(payload["d"].clone());
        }
    }
    let count = |test: &dyn Fn(&Value) -> bool| creates.iter().filter(|d| test(d)).count();
    assert!(count(&|d| d["nonce"].is_u64()) > 0, "integer nonces");
    assert!(count(&|d| d["nonce"].is_string()) > 0, "string nonces");
    assert!(count(&|d| d.get("nonce").is_none()) > 0, "no nonce at all");
    assert!(
        count(&|d| d["type"] == json!(19)
            && d["message_reference"]["message_id"].is_string()
            && d.get("referenced_message").is_some())
            > 0,
        "replies"
    );
    assert!(
        count(&|d| d["attachments"].as_array().is_some_and(|a| !a.is_empty())) > 0,
        "attachments"
    );
    assert!(
        count(&|d| d["embeds"].as_array().is_some_and(|e| !e.is_empty())) > 0,
        "embeds"
    );
    assert!(
        count(&|d| d["mentions"].as_array().is_some_and(|m| !m.is_empty())) > 0,
        "mentions"
    );
    assert!(
        count(&|d| d.get("sim_future_field").is_some()) > 0,
        "unknown fields"
    );
    assert!(
        count(&|d| d.get("webhook_id").is_some()) > 0,
        "webhook messages"
    );
    assert!(
        count(&|d| d["author"]["global_name"].is_null()) > 0,
        "explicit nulls"
    );
    assert!(
        count(&|d| d["content"]
            .as_str()
            .is_some_and(|c| c.contains("\"t\":\"READY\"")))
            > 0,
        "frame-like content"
    );
    assert!(
        count(&|d| d["content"]
            .as_str()
            .is_some_and(|c| c.chars().any(|ch| ch as u32 > 0xffff)))
            > 0,
        "astral-plane emoji"
    );
    let status = sim.stream_status();
    assert!(status.edits > 0 && status.deletes > 0 && status.unfurls > 0);
}

#[tokio::test]
async fn live_stream_runs_to_its_target_and_truth_matches_the_gateway() {
    let sim = Sim::start(SimConfig {
        seed: 5,
        guilds: 2,
        channels_per_guild: 2,
        threads_per_guild: 1,
        history_per_channel: 3,
        live_messages: 300,
        rate_per_sec: 0.0,
        edit_ratio: 0.2,
        delete_ratio: 0.1,
        structure_event_ratio: 0.0,
        stream_start: StreamStart::OnFirstReady,
        heartbeat_grace_ms: None,
        ..SimConfig::default()
    })
    .expect("start sim");
    let mut client = RawGateway::connect(&sim.gateway_url(), true).await;
    client.login(&sim.token(), INTENTS).await;
    sim.wait_until_async(WAIT, |s| s.stream_status().done())
        .await
        .expect("stream finished");

    // Replay what the client received into a tiny store and compare it with the truth.
    let mut store: BTreeMap<u64, (String, bool)> = BTreeMap::new();
    let total = sim.gateway_stats().dispatches_queued;
    let mut seen = 1; // READY
    while seen < total {
        let payload = client.payload().await;
        seen += 1;
        let d = &payload["d"];
        let id = || {
            d["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .expect("id")
        };
        match payload["t"].as_str() {
            Some("MESSAGE_CREATE") | Some("MESSAGE_UPDATE") => {
                let content = d["content"].as_str().expect("full objects").to_owned();
                store.insert(id(), (content, false));
            }
            Some("MESSAGE_DELETE") => {
                store.entry(id()).or_insert_with(|| (String::new(), true)).1 = true;
            }
            Some("MESSAGE_DELETE_BULK") => {
                for raw in d["ids"].as_array().expect("ids") {
                    let id = raw.as_str().and_then(|s| s.parse().ok()).expect("id");
                    store.entry(id).or_insert_with(|| (String::new(), true)).1 = true;
                }
            }
            _ => {}
        }
    }
    let live: Vec<_> = sim
        .messages()
        .into_iter()
        .filter(|m| m.origin == MessageOrigin::Live)
        .collect();
    assert_eq!(live.len(), 300);
    for message in &live {
        let (content, deleted) = store
            .get(&message.id)
            .expect("every live message reached the client");
        assert_eq!(*deleted, message.deleted, "message {}", message.id);
        assert_eq!(content, &message.content, "message {}", message.id);
        assert!(!message.gateway_missed_change);
    }
    let status = sim.stream_status();
    assert_eq!(status.created, 300);
    assert!(!status.running || status.done());
}

#[tokio::test]
async fn ground_truth_after_edits_unfurls_and_deletes_matches_rest() {
    let sim = manual(SimConfig {
        history_per_channel: 0,
        bucket_limit: 100,
        ..SimConfig::default()
    });
    let channel = sim
        .channels()
        .iter()
        .find(|c| c.kind == CHANNEL_TEXT)
        .map(|c| c.id)
        .expect("channel");
    let original = sim.post_message(channel, "first words").expect("post");
    sim.edit_message(channel, original, "second words")
        .expect("edit");
    sim.edit_message(channel, original, "final words")
        .expect("edit");
    let unfurled = sim
        .post_message(channel, "see https://example.com")
        .expect("post");
    sim.unfurl_message(channel, unfurled).expect("unfurl");
    let reply = sim
        .post_reply(channel, original, "replying")
        .expect("reply");
    let doomed = sim.post_message(channel, "short-lived").expect("post");
    sim.delete_message(channel, doomed).expect("delete");

    let truth = |id| sim.message(channel, id).expect("message exists");
    let edited = truth(original);
    assert_eq!(edited.content, "final words");
    assert_eq!(
        edited.previous_contents,
        vec!["first words", "second words"]
    );
    assert!(edited.edited_timestamp.is_some());
    let preview = truth(unfurled);
    assert_eq!(
        (preview.embeds, preview.edited_timestamp.clone()),
        (1, None)
    );
    let gone = truth(doomed);
    assert!(
        gone.deleted && gone.content == "short-lived",
        "deletion keeps the last content"
    );
    assert_eq!(truth(reply).reply_to, Some(original));

    let client = http();
    let page: Vec<Value> = client
        .get(format!(
            "{}/channels/{channel}/messages?limit=100",
            sim.rest_base_url()
        ))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let by_id: BTreeMap<String, &Value> = page
        .iter()
        .map(|m| (m["id"].as_str().expect("id").to_owned(), m))
        .collect();
    assert_eq!(by_id.len(), 3, "the deleted message is not listed");
    assert!(!by_id.contains_key(&doomed.to_string()));
    assert_eq!(
        by_id[&original.to_string()]["content"],
        json!("final words")
    );
    assert_eq!(
        by_id[&original.to_string()]["edited_timestamp"],
        json!(edited.edited_timestamp)
    );
    let reply_json = by_id[&reply.to_string()];
    assert_eq!(
        reply_json["referenced_message"]["content"],
        json!("final words")
    );
    assert_eq!(
        reply_json["message_reference"]["message_id"],
        json!(original.to_string())
    );

    sim.delete_message(channel, original).expect("delete");
    let reply_json: Value = client
        .get(format!(
            "{}/channels/{channel}/messages/{reply}",
            sim.rest_base_url()
        ))
        .header("Authorization", format!("Bot {}", sim.token()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        reply_json["referenced_message"],
        Value::Null,
        "a deleted parent becomes null"
    );
}

#[tokio::test]
async fn rest_log_proves_a_polite_client_never_sends_inside_a_window() {
    let sim = manual(SimConfig {
        history_per_channel: 30,
        route_limits: vec![RouteLimit {
            route: "GET /channels/{channel_id}/messages".to_owned(),
            limit: 2,
            reset_ms: 400,
        }],
        ..SimConfig::default()
    });
    let channel = sim
        .channels()
        .iter()
        .find(|c| c.kind == CHANNEL_TEXT || c.kind == CHANNEL_PUBLIC_THREAD)
        .map(|c| c.id)
        .expect("channel");
    sim.inject_rest_fault_matching(
        "/messages",
        RestFault::RateLimited {
            scope: RateLimitScope::Global,
            retry_after: Duration::from_millis(700),
            shape: RateLimitShape::JsonBody,
        },
        1,
    );
    let client = http();
    let url = format!(
        "{}/channels/{channel}/messages?limit=5",
        sim.rest_base_url()
    );
    let mut statuses = Vec::new();
    // A polite client: honours Retry-After / Reset-After and the remaining count.
    for _ in 0..8 {
        let response = client
            .get(&url)
            .header("Authorization", format!("Bot {}", sim.token()))
            .send()
            .await
            .expect("request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        statuses.push(status);
        let wait = if status == 429 {
            header("Retry-After")
                .and_then(|v| v.parse::<f64>().ok())
                .expect("Retry-After")
        } else if header("X-RateLimit-Remaining").as_deref() == Some("0") {
            header("X-RateLimit-Reset-After")
                .and_then(|v| v.parse::<f64>().ok())
                .expect("Reset-After")
        } else {
            0.0
        };
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
    assert_eq!(statuses[0], 429, "the scripted global 429 comes first");
    assert!(statuses[1..].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        sim.rest_violations().is_empty(),
        "{:?}",
        sim.rest_violations()
    );

    // An impolite one is caught.
    for _ in 0..3 {
        client
            .get(&url)
            .header("Authorization", format!("Bot {}", sim.token()))
            .send()
            .await
            .expect("request");
    }
    let violations = sim.rest_violations();
    assert!(!violations.is_empty());
    assert!(
        violations
            .iter()
            .all(|v| v.violation == Some(RateLimitViolation::Bucket) && v.status == 429)
    );
}
