//! discord-sim's gateway against a raw WebSocket client (tokio-tungstenite + flate2): the
//! handshake, IDENTIFY checks, READY/GUILD_CREATE, heartbeats, RESUME replay, every scripted
//! fault, zlib-stream and the multi-megabyte GUILD_CREATE.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use discord_sim::{
    CHANNEL_TEXT, ConnectFault, GatewayListener, IdentifyOutcome, MalformedFrame,
    MessageContentApproval, ResumeOutcome, Sim, SimConfig, SimHandle, StreamStart,
};
use support::{INTENTS, RawGateway, Received, WAIT};

/// A sim with no automatic traffic: tests post what they need.
fn quiet(config: SimConfig) -> SimHandle {
    Sim::start(SimConfig {
        stream_start: StreamStart::Manual,
        history_per_channel: 0,
        identify_spacing_ms: 0,
        heartbeat_grace_ms: None,
        ..config
    })
    .expect("start sim")
}

fn text_channel(sim: &SimHandle) -> u64 {
    sim.channels()
        .iter()
        .find(|c| c.kind == CHANNEL_TEXT && !c.forbidden)
        .map(|c| c.id)
        .expect("a visible text channel")
}

fn id_of(payload: &Value) -> u64 {
    payload["d"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("string snowflake id")
}

/// Logs in and reads every GUILD_CREATE; returns (session id, seq after them).
async fn login_all(client: &mut RawGateway, sim: &SimHandle) -> (String, u64) {
    let ready = client.login(&sim.token(), INTENTS).await;
    for _ in 0..sim.guilds().len() {
        client.dispatch("GUILD_CREATE").await;
    }
    let session = ready["session_id"].as_str().expect("session id").to_owned();
    (session, client.seq.expect("seq"))
}

#[tokio::test]
async fn hello_ready_guilds_heartbeats_and_dispatch() {
    let sim = quiet(SimConfig {
        heartbeat_interval_ms: 750,
        guilds: 2,
        threads_per_guild: 2,
        ..SimConfig::default()
    });
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let hello = client.payload().await;
    assert_eq!(hello["op"], json!(10));
    assert_eq!(hello["s"], Value::Null);
    assert_eq!(hello["t"], Value::Null);
    assert_eq!(hello["d"]["heartbeat_interval"], json!(750));
    assert!(hello["d"]["_trace"].is_array());

    // A heartbeat before READY carries null and is ACKed.
    client.send(json!({"op": 1, "d": null})).await;
    assert_eq!(client.payload().await["op"], json!(11));

    client.identify(&sim.token(), INTENTS).await;
    let ready = client.payload().await;
    assert_eq!(
        (ready["op"].clone(), ready["t"].clone(), ready["s"].clone()),
        (json!(0), json!("READY"), json!(1))
    );
    let d = &ready["d"];
    assert_eq!(d["v"], json!(10));
    assert_eq!(d["resume_gateway_url"], json!(sim.resume_gateway_url()));
    assert_eq!(d["user"]["id"], json!(sim.bot_user_id().to_string()));
    assert_eq!(d["user"]["bot"], json!(true));
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["guilds"].as_array().map(Vec::len), Some(2));
    assert!(
        d["guilds"]
            .as_array()
            .expect("guilds")
            .iter()
            .all(|g| g["unavailable"] == json!(true))
    );
    assert_eq!(d["application"]["flags"], json!(1 << 19));

    for expected_seq in [2, 3] {
        let create = client.payload().await;
        assert_eq!(create["t"], json!("GUILD_CREATE"));
        assert_eq!(create["s"], json!(expected_seq));
        let channels = create["d"]["channels"].as_array().expect("channels");
        assert!(channels.iter().all(|c| c.get("guild_id").is_none()));
        assert_eq!(create["d"]["threads"].as_array().map(Vec::len), Some(2));
        assert_eq!(create["d"]["unavailable"], json!(false));
    }

    let channel = text_channel(&sim);
    let id = sim
        .post_message(channel, "héllo {\"t\":\"READY\"} 🎉")
        .expect("post");
    let message = client.dispatch("MESSAGE_CREATE").await;
    assert_eq!(message["s"], json!(4));
    assert_eq!(id_of(&message), id);
    assert_eq!(message["d"]["content"], json!("héllo {\"t\":\"READY\"} 🎉"));
    assert_eq!(message["d"]["channel_id"], json!(channel.to_string()));
    assert!(message["d"]["guild_id"].is_string() && message["d"]["member"].is_object());
    assert_eq!(message["d"]["edited_timestamp"], Value::Null);

    client.heartbeat().await;
    assert_eq!(client.payload().await["op"], json!(11));
    sim.request_heartbeat();
    assert_eq!(client.payload().await["op"], json!(1));

    let stats = sim.gateway_stats();
    assert_eq!(
        (
            stats.identifies,
            stats.heartbeats_received,
            stats.heartbeat_requests_sent
        ),
        (1, 2, 1)
    );
    let record = &sim.connections()[0];
    assert_eq!(record.path_and_query, "/?v=10&encoding=json");
    assert_eq!(record.last_heartbeat_seq, Some(4));
    assert!(record.identified && !record.compress);
    let identify = &sim.identifies()[0];
    assert_eq!(identify.intents, Some(INTENTS));
    assert_eq!(identify.shard, Some((0, 1)));
    assert_eq!(identify.properties["browser"], json!("sim-test"));
}

async fn expect_close(sim: &SimHandle, payload: Value) -> Option<u16> {
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    client.hello().await;
    client.send(payload).await;
    client.closed().await
}

#[tokio::test]
async fn identify_and_payload_checks_close_with_discords_codes() {
    let sim = quiet(SimConfig {
        message_content: MessageContentApproval::Disabled,
        gateway_send_limit_per_minute: 5,
        ..SimConfig::default()
    });
    let token = sim.token();
    let identify = |token: &str, intents: Value| json!({"op": 2, "d": {"token": token, "intents": intents, "properties": {}}});
    assert_eq!(
        expect_close(&sim, identify("wrong", json!(513))).await,
        Some(4004)
    );
    assert_eq!(
        expect_close(&sim, identify(&token, json!(1u64 << 40))).await,
        Some(4013)
    );
    assert_eq!(
        expect_close(&sim, identify(&token, Value::Null)).await,
        Some(4013)
    );
    assert_eq!(
        expect_close(&sim, identify(&token, json!(INTENTS))).await,
        Some(4014)
    );
    assert_eq!(
        expect_close(&sim, identify(&token, json!(1 | 2))).await,
        Some(4014)
    );
    let huge = json!({"op": 2, "d": {"token": token, "intents": 513, "properties": {"os": "x".repeat(5000)}}});
    assert_eq!(expect_close(&sim, huge).await, Some(4002));
    assert_eq!(
        expect_close(&sim, json!({"op": 3, "d": {}})).await,
        Some(4003)
    );
    assert_eq!(
        expect_close(&sim, json!({"op": 99, "d": null})).await,
        Some(4001)
    );
    assert_eq!(expect_close(&sim, json!({"op": "two"})).await, Some(4002));
    let shard =
        json!({"op": 2, "d": {"token": token, "intents": 513, "properties": {}, "shard": [1, 1]}});
    assert_eq!(expect_close(&sim, shard).await, Some(4010));

    // Bot-prefixed tokens are accepted; a second IDENTIFY is "already authenticated".
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    client.hello().await;
    client.identify(&format!("Bot {token}"), 1 | (1 << 9)).await;
    client.dispatch("READY").await;
    client.identify(&token, 1 | (1 << 9)).await;
    assert_eq!(client.closed().await, Some(4005));

    let mut chatty = RawGateway::connect(&sim.gateway_url(), false).await;
    chatty.hello().await;
    for _ in 0..6 {
        chatty.send(json!({"op": 1, "d": null})).await;
    }
    assert_eq!(chatty.closed().await, Some(4008));

    let rejected = sim
        .identifies()
        .iter()
        .filter(|i| matches!(i.outcome, IdentifyOutcome::Closed { .. }))
        .count();
    // The oversized payload never got parsed as an IDENTIFY; the second IDENTIFY (4005) is
    // refused before it is read.
    assert_eq!(rejected, 6);
    assert_eq!(sim.gateway_stats().close_codes_sent.get(&4014), Some(&2));
}

#[tokio::test]
async fn identify_before_hello_and_too_fast_identifies() {
    let sim = Sim::start(SimConfig {
        stream_start: StreamStart::Manual,
        history_per_channel: 0,
        heartbeat_grace_ms: None,
        identify_spacing_ms: 60_000,
        ..SimConfig::default()
    })
    .expect("start sim");
    sim.queue_connect_fault(ConnectFault::DelayHello(Duration::from_secs(20)));
    let mut early = RawGateway::connect(&sim.gateway_url(), false).await;
    early.identify(&sim.token(), INTENTS).await;
    assert_eq!(early.closed().await, Some(4005));

    let mut first = RawGateway::connect(&sim.gateway_url(), false).await;
    first.login(&sim.token(), INTENTS).await;
    let mut second = RawGateway::connect(&sim.gateway_url(), false).await;
    second.hello().await;
    second.identify(&sim.token(), INTENTS).await;
    let invalid = second.payload().await;
    assert_eq!(
        (invalid["op"].clone(), invalid["d"].clone()),
        (json!(9), json!(false))
    );
    assert_eq!(sim.gateway_stats().identifies_too_fast, 1);
}

#[tokio::test]
async fn resume_on_the_resume_url_replays_everything_after_seq() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, _) = login_all(&mut client, &sim).await;
    let first = sim.post_message(channel, "one").expect("post");
    assert_eq!(id_of(&client.dispatch("MESSAGE_CREATE").await), first);
    let seq = client.seq.expect("seq");

    sim.drop_connections();
    assert!(matches!(client.next().await, Received::Dropped));
    let missed: Vec<u64> = (0..5)
        .map(|i| {
            sim.post_message(channel, format!("missed {i}"))
                .expect("post")
        })
        .collect();

    let mut resumed = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    resumed.hello().await;
    resumed.resume(&sim.token(), &session, seq).await;
    let mut replayed = Vec::new();
    let mut expected_seq = seq + 1;
    loop {
        let payload = resumed.payload().await;
        assert_eq!(
            payload["s"],
            json!(expected_seq),
            "replay keeps the sequence: {payload}"
        );
        expected_seq += 1;
        if payload["t"] == json!("RESUMED") {
            break;
        }
        replayed.push(id_of(&payload));
    }
    assert_eq!(replayed, missed);
    let live = sim.post_message(channel, "after resume").expect("post");
    let payload = resumed.dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        (id_of(&payload), payload["s"].clone()),
        (live, json!(expected_seq))
    );

    let resume = &sim.resumes()[0];
    assert_eq!(resume.listener, GatewayListener::Resume);
    assert_eq!(resume.path_and_query, "/?v=10&encoding=json");
    assert_eq!(resume.seq, Some(seq));
    assert_eq!(resume.outcome, ResumeOutcome::Resumed { replayed: 5 });
    let stats = sim.gateway_stats();
    assert_eq!(
        (
            stats.resumes,
            stats.abrupt_drops,
            stats.connections_on_resume_url
        ),
        (1, 1, 1)
    );
    assert!(sim.connections()[0].dropped_by_sim);

    // Unknown sessions and sequences from the future are refused with op 9 false.
    for (session_id, seq) in [("nope", 1), (session.as_str(), expected_seq + 100)] {
        let mut bad = RawGateway::connect(&sim.resume_gateway_url(), false).await;
        bad.hello().await;
        bad.resume(&sim.token(), session_id, seq).await;
        let refused = bad.payload().await;
        assert_eq!(
            (refused["op"].clone(), refused["d"].clone()),
            (json!(9), json!(false))
        );
    }
}

#[tokio::test]
async fn reconnect_and_invalid_session_both_forms() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, _) = login_all(&mut client, &sim).await;

    sim.send_reconnect();
    let reconnect = client.payload().await;
    assert_eq!(
        (reconnect["op"].clone(), reconnect["d"].clone()),
        (json!(7), Value::Null)
    );
    let seq = client.seq.expect("seq");
    client.close(4000).await;
    let posted = sim.post_message(channel, "during reconnect").expect("post");
    let mut client = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    client.hello().await;
    client.resume(&sim.token(), &session, seq).await;
    assert_eq!(id_of(&client.dispatch("MESSAGE_CREATE").await), posted);
    client.dispatch("RESUMED").await;
    assert_eq!(
        sim.gateway_stats().close_codes_received.get(&4000),
        Some(&1)
    );

    // op 9 true: the same session resumes on the same connection.
    sim.invalidate_session(true);
    let invalid = client.payload().await;
    assert_eq!(
        (invalid["op"].clone(), invalid["d"].clone()),
        (json!(9), json!(true))
    );
    client
        .resume(&sim.token(), &session, client.seq.expect("seq"))
        .await;
    client.dispatch("RESUMED").await;

    // op 9 false: the session is gone; what happens before the next IDENTIFY is lost.
    sim.invalidate_session(false);
    let invalid = client.payload().await;
    assert_eq!(
        (invalid["op"].clone(), invalid["d"].clone()),
        (json!(9), json!(false))
    );
    let lost = sim
        .post_message(channel, "nobody hears this")
        .expect("post");
    assert_eq!(sim.gateway_stats().events_without_session, 1);
    client.identify(&sim.token(), INTENTS).await;
    let ready = client.dispatch("READY").await;
    assert_ne!(ready["d"]["session_id"], json!(session));
    assert_eq!(
        ready["s"],
        json!(1),
        "a new session starts its sequence again"
    );
    let after = sim.post_message(channel, "heard").expect("post");
    assert_eq!(id_of(&client.dispatch("MESSAGE_CREATE").await), after);
    assert!(
        sim.message(channel, lost).is_some_and(|m| !m.deleted),
        "REST still has it"
    );
}

#[tokio::test]
async fn zombie_swallows_acks_and_dispatches_until_the_client_resumes() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, seq) = login_all(&mut client, &sim).await;
    sim.become_zombie();
    client.heartbeat().await;
    let posted = sim.post_message(channel, "into the void").expect("post");
    assert!(
        client
            .next_within(Duration::from_millis(800))
            .await
            .is_none(),
        "a zombie says nothing"
    );
    assert!(sim.gateway_stats().frames_swallowed_by_zombie >= 2);
    assert_eq!(sim.gateway_stats().heartbeats_received, 1);
    client.close(4000).await;

    let mut resumed = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    resumed.hello().await;
    resumed.resume(&sim.token(), &session, seq).await;
    assert_eq!(id_of(&resumed.dispatch("MESSAGE_CREATE").await), posted);
    resumed.dispatch("RESUMED").await;
}

#[tokio::test]
async fn tcp_drop_mid_burst_then_resume_loses_nothing() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, _) = login_all(&mut client, &sim).await;
    sim.drop_connections_after(7);
    let posted: Vec<u64> = (0..25)
        .map(|i| {
            sim.post_message(channel, format!("burst {i}"))
                .expect("post")
        })
        .collect();
    let mut received = Vec::new();
    loop {
        match client.next().await {
            Received::Payload(payload) => received.push(id_of(&payload)),
            Received::Dropped => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(received.len(), 7);
    let mut resumed = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    resumed.hello().await;
    resumed
        .resume(&sim.token(), &session, client.seq.expect("seq"))
        .await;
    loop {
        let payload = resumed.payload().await;
        if payload["t"] == json!("RESUMED") {
            break;
        }
        received.push(id_of(&payload));
    }
    assert_eq!(received, posted, "every message exactly once, in order");
    let record = &sim.connections()[0];
    assert!(record.dropped_by_sim && record.close_code_sent.is_none());
}

#[tokio::test]
async fn close_codes_decide_whether_the_session_survives() {
    let sim = quiet(SimConfig::default());
    for (code, resumable) in [(4000, true), (1000, true), (4007, false), (4009, false)] {
        let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
        let (session, seq) = login_all(&mut client, &sim).await;
        sim.close_connections(code, "scripted");
        assert_eq!(client.closed().await, Some(code));
        let mut next = RawGateway::connect(&sim.resume_gateway_url(), false).await;
        next.hello().await;
        next.resume(&sim.token(), &session, seq).await;
        let answer = next.payload().await;
        if resumable {
            assert_eq!(answer["t"], json!("RESUMED"), "after {code}: {answer}");
        } else {
            assert_eq!(
                (answer["op"].clone(), answer["d"].clone()),
                (json!(9), json!(false)),
                "after {code}"
            );
        }
        next.close(4000).await;
    }

    // A client that closes with 1000 ends its own session.
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, seq) = login_all(&mut client, &sim).await;
    client.close(1000).await;
    sim.wait_until_async(WAIT, |s| s.open_connections() <= 1)
        .await
        .expect("closed");
    let mut next = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    next.hello().await;
    next.resume(&sim.token(), &session, seq).await;
    assert_eq!(next.payload().await["op"], json!(9));
}

#[tokio::test]
async fn expired_sessions_and_events_nobody_could_receive() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let before = sim
        .post_message(channel, "before anyone connected")
        .expect("post");
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, seq) = login_all(&mut client, &sim).await;
    let edited = sim.post_message(channel, "will be edited").expect("post");
    client.dispatch("MESSAGE_CREATE").await;
    sim.drop_connections();
    client.closed().await;
    sim.wait_until_async(WAIT, |s| s.open_connections() == 0)
        .await
        .expect("dropped");
    sim.edit_message(channel, edited, "edited while the session was buffering")
        .expect("edit");
    sim.expire_sessions();
    sim.edit_message(channel, before, "edited with no session at all")
        .expect("edit");

    let mut late = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    late.hello().await;
    late.resume(&sim.token(), &session, seq).await;
    assert_eq!(late.payload().await["op"], json!(9));

    let truth = |id| sim.message(channel, id).expect("exists");
    assert!(
        truth(edited).gateway_missed_change,
        "lost in the expired session's buffer"
    );
    assert!(truth(before).gateway_missed_change, "no session existed");
    let stats = sim.gateway_stats();
    assert_eq!(
        (stats.sessions_expired, stats.events_without_session),
        (1, 2)
    );
}

#[tokio::test]
async fn zlib_stream_uses_one_context_per_connection() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    for _ in 0..2 {
        let mut client = RawGateway::connect(&sim.gateway_url(), true).await;
        login_all(&mut client, &sim).await;
        let posted = sim.post_message(channel, "compressed ü").expect("post");
        assert_eq!(id_of(&client.dispatch("MESSAGE_CREATE").await), posted);
        assert_eq!(
            client.text_frames, 0,
            "everything arrives as zlib-stream binary frames"
        );
        assert!(client.binary_frames >= 4);

        sim.send_malformed(MalformedFrame::CorruptZlib);
        assert!(matches!(client.next().await, Received::Garbage(_)));
        client.close(4000).await;
        sim.wait_until_async(WAIT, |s| s.open_connections() == 0)
            .await
            .expect("closed");
    }
    let records = sim.connections();
    assert!(
        records
            .iter()
            .all(|r| r.compress && r.path_and_query.ends_with("compress=zlib-stream"))
    );
}

#[tokio::test]
async fn big_guild_create_is_several_megabytes() {
    let sim = quiet(SimConfig {
        big_guild_bytes: Some(3_500_000),
        ..SimConfig::default()
    });
    for zlib in [false, true] {
        let mut client = RawGateway::connect(&sim.gateway_url(), zlib).await;
        client.login(&sim.token(), INTENTS).await;
        let big = client.dispatch("GUILD_CREATE").await;
        assert!(
            client.largest_payload > 3_000_000,
            "{} bytes",
            client.largest_payload
        );
        assert!(
            big["d"]["members"]
                .as_array()
                .is_some_and(|m| m.len() > 5_000)
        );
        assert_eq!(big["d"]["large"], json!(true));
        client.close(4000).await;
    }
}

#[tokio::test]
async fn malformed_frames_leave_the_connection_usable() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    login_all(&mut client, &sim).await;
    let seq = client.seq;
    sim.send_malformed(MalformedFrame::InvalidJson);
    assert!(matches!(client.next().await, Received::Garbage(_)));
    for kind in [
        MalformedFrame::WrongEnvelopeTypes,
        MalformedFrame::WrongMessageTypes,
        MalformedFrame::NotAnObject,
    ] {
        sim.send_malformed(kind);
        assert!(matches!(client.next().await, Received::Payload(_)));
    }
    assert_eq!(client.seq, seq, "malformed frames carry no usable sequence");
    sim.dispatch_unknown_event();
    assert_eq!(
        client.payload().await["t"],
        json!("SIM_UNRELEASED_FEATURE_UPDATE")
    );
    let posted = sim.post_message(channel, "still here").expect("post");
    assert_eq!(id_of(&client.dispatch("MESSAGE_CREATE").await), posted);
    assert_eq!(sim.gateway_stats().malformed_frames_sent, 4);
}

#[tokio::test]
async fn connect_faults_apply_to_the_next_connections_in_order() {
    let sim = quiet(SimConfig::default());
    sim.queue_connect_fault(ConnectFault::ReconnectBeforeHello);
    sim.queue_connect_fault(ConnectFault::CloseBeforeHello { code: 4000 });
    sim.queue_connect_fault(ConnectFault::SkipHello);
    sim.queue_connect_fault(ConnectFault::DelayHello(Duration::from_millis(400)));
    sim.queue_connect_fault(ConnectFault::RejectHandshake { status: 503 });

    let mut first = RawGateway::connect(&sim.gateway_url(), false).await;
    assert_eq!(first.payload().await["op"], json!(7));
    let mut second = RawGateway::connect(&sim.gateway_url(), false).await;
    assert_eq!(second.closed().await, Some(4000));
    let mut third = RawGateway::connect(&sim.gateway_url(), false).await;
    assert!(
        third
            .next_within(Duration::from_millis(600))
            .await
            .is_none(),
        "no HELLO"
    );
    let started = Instant::now();
    let mut fourth = RawGateway::connect(&sim.gateway_url(), false).await;
    fourth.hello().await;
    assert!(started.elapsed() >= Duration::from_millis(350));
    let refused =
        tokio_tungstenite::connect_async(format!("{}/?v=10&encoding=json", sim.gateway_url()))
            .await;
    let message = refused.expect_err("handshake refused").to_string();
    assert!(message.contains("503"), "{message}");
    // The queue is empty again: a normal HELLO.
    let mut normal = RawGateway::connect(&sim.gateway_url(), false).await;
    normal.hello().await;
}

#[tokio::test]
async fn intents_decide_what_a_session_receives() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let mut no_content = RawGateway::connect(&sim.gateway_url(), false).await;
    no_content.login(&sim.token(), 1 | (1 << 9)).await;
    let mut no_messages = RawGateway::connect(&sim.gateway_url(), false).await;
    no_messages.login(&sim.token(), 1).await;
    let mut full = RawGateway::connect(&sim.gateway_url(), false).await;
    full.login(&sim.token(), INTENTS).await;

    sim.post_message(channel, "secret words").expect("post");
    let mention = format!("<@{}> hi bot", sim.bot_user_id());
    sim.post_message(channel, mention.clone()).expect("post");
    sim.update_channel(channel, Some("renamed".to_owned()), None)
        .expect("update");

    let stripped = no_content.dispatch("MESSAGE_CREATE").await;
    assert_eq!(stripped["d"]["content"], json!(""));
    assert_eq!(stripped["d"]["embeds"], json!([]));
    assert_eq!(stripped["d"]["attachments"], json!([]));
    assert_eq!(
        no_content.dispatch("MESSAGE_CREATE").await["d"]["content"],
        json!(mention),
        "mentions keep content"
    );
    assert_eq!(
        full.dispatch("MESSAGE_CREATE").await["d"]["content"],
        json!("secret words")
    );
    let first_after_guilds = no_messages.until(|v| v["t"] != json!("GUILD_CREATE")).await;
    assert_eq!(
        first_after_guilds["t"],
        json!("CHANNEL_UPDATE"),
        "no GUILD_MESSAGES, no messages"
    );
    assert_eq!(first_after_guilds["d"]["name"], json!("renamed"));
}

#[tokio::test]
async fn missing_heartbeats_close_with_4009_and_end_the_session() {
    let sim = Sim::start(SimConfig {
        stream_start: StreamStart::Manual,
        history_per_channel: 0,
        heartbeat_interval_ms: 200,
        heartbeat_grace_ms: Some(300),
        ..SimConfig::default()
    })
    .expect("start sim");
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    let (session, seq) = login_all(&mut client, &sim).await;
    assert_eq!(client.closed().await, Some(4009));
    let mut next = RawGateway::connect(&sim.resume_gateway_url(), false).await;
    next.hello().await;
    next.resume(&sim.token(), &session, seq).await;
    assert_eq!(next.payload().await["op"], json!(9));
}

#[tokio::test]
async fn threads_channels_and_guild_events_reach_the_client() {
    let sim = quiet(SimConfig::default());
    let channel = text_channel(&sim);
    let guild = sim.guilds()[0].id;
    let mut client = RawGateway::connect(&sim.gateway_url(), false).await;
    login_all(&mut client, &sim).await;

    let thread = sim.create_thread(channel).expect("thread");
    let created = client.dispatch("THREAD_CREATE").await;
    assert_eq!(created["d"]["parent_id"], json!(channel.to_string()));
    assert_eq!(created["d"]["newly_created"], json!(true));
    let in_thread = sim.post_message(thread, "in a thread").expect("post");
    let message = client.dispatch("MESSAGE_CREATE").await;
    assert_eq!(
        (id_of(&message), message["d"]["channel_id"].clone()),
        (in_thread, json!(thread.to_string()))
    );
    sim.update_thread(thread, Some("renamed".to_owned()), Some(true))
        .expect("update");
    assert_eq!(
        client.dispatch("THREAD_UPDATE").await["d"]["thread_metadata"]["archived"],
        json!(true)
    );
    sim.thread_list_sync(guild).expect("sync");
    assert!(client.dispatch("THREAD_LIST_SYNC").await["d"]["threads"].is_array());
    sim.delete_thread(thread).expect("delete");
    assert_eq!(
        client.dispatch("THREAD_DELETE").await["d"]["id"],
        json!(thread.to_string())
    );

    let new_channel = sim
        .create_channel(guild, Some("fresh".to_owned()))
        .expect("channel");
    assert_eq!(
        client.dispatch("CHANNEL_CREATE").await["d"]["name"],
        json!("fresh")
    );
    sim.delete_channel(new_channel).expect("delete");
    assert_eq!(
        client.dispatch("CHANNEL_DELETE").await["d"]["id"],
        json!(new_channel.to_string())
    );
    sim.update_guild(guild, Some("New name".to_owned()), None)
        .expect("guild");
    assert_eq!(
        client.dispatch("GUILD_UPDATE").await["d"]["name"],
        json!("New name")
    );

    let a = sim.post_message(channel, "a").expect("post");
    let b = sim.post_message(channel, "b").expect("post");
    sim.edit_message(channel, a, "a2").expect("edit");
    let edit = client.dispatch("MESSAGE_UPDATE").await;
    assert!(edit["d"]["edited_timestamp"].is_string());
    assert_eq!(edit["d"]["content"], json!("a2"));
    sim.unfurl_message(channel, b).expect("unfurl");
    let unfurl = client.dispatch("MESSAGE_UPDATE").await;
    assert_eq!(
        unfurl["d"]["edited_timestamp"],
        Value::Null,
        "an unfurl is not an edit"
    );
    assert_eq!(unfurl["d"]["embeds"].as_array().map(Vec::len), Some(1));
    sim.bulk_delete_messages(channel, &[a, b]).expect("bulk");
    let bulk = client.dispatch("MESSAGE_DELETE_BULK").await;
    let ids: BTreeSet<String> = bulk["d"]["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids, BTreeSet::from([a.to_string(), b.to_string()]));

    // Access taken away: one CHANNEL_UPDATE, then silence from that channel.
    sim.set_channel_forbidden(channel, true).expect("forbid");
    client.dispatch("CHANNEL_UPDATE").await;
    sim.post_message(channel, "hidden").expect("post");
    assert!(
        client
            .next_within(Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(sim.gateway_stats().events_hidden, 1);
}
