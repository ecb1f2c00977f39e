//! Proof that discord-sim is faithful enough for a real third-party client: discord.py
//! (pinned, in the tests' Python environment from `test_python`) logs in over REST, takes the
//! gateway URL from `GET /gateway/bot`, connects with zlib-stream, identifies, receives every
//! live message, and resumes on `resume_gateway_url` after an op 7. Also runs the
//! `discord-sim` binary.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use discord_sim::{GatewayListener, MessageOrigin, ResumeOutcome, Sim, SimConfig, StreamStart};
use support::{RawGateway, WAIT, http};

/// discord.py's own timeout inside the script; the test allows a little more.
const CLIENT_TIMEOUT_SECS: u64 = 120;

/// Waits for the child, killing it if it outlives `limit`; returns (success, stdout, stderr).
fn wait_with_limit(mut child: Child, limit: Duration) -> (bool, String, String) {
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("poll child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

#[test]
fn discord_py_receives_every_live_message_and_resumes_after_op_7() {
    // First, so a first run's install happens before the sim starts.
    let python = test_python::python();
    let live_messages = 40;
    let sim = Sim::start(SimConfig {
        seed: 11,
        guilds: 2,
        channels_per_guild: 2,
        threads_per_guild: 1,
        history_per_channel: 2,
        live_messages,
        rate_per_sec: 15.0,
        stream_start: StreamStart::OnFirstReady,
        delete_ratio: 0.0,
        heartbeat_interval_ms: 1_000,
        heartbeat_grace_ms: Some(15_000),
        ..SimConfig::default()
    })
    .expect("start sim");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thirdparty/discordpy_client.py");
    let child = Command::new(python)
        .arg(&script)
        .arg(sim.rest_base_url())
        .arg(sim.token())
        .arg(live_messages.to_string())
        .arg(CLIENT_TIMEOUT_SECS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the discord.py script");

    // Halfway through the stream, Discord asks the client to reconnect.
    let halfway = sim.wait_until(Duration::from_secs(CLIENT_TIMEOUT_SECS), |s| {
        s.stream_status().created >= live_messages / 2
    });
    if halfway.is_ok() {
        sim.send_reconnect();
    }
    let (ok, stdout, stderr) =
        wait_with_limit(child, Duration::from_secs(CLIENT_TIMEOUT_SECS + 60));
    assert!(
        ok,
        "discord.py script failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    halfway.expect("the stream never got halfway: discord.py did not become ready");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!("discord.py script printed no report ({err})\nstdout: {stdout}\nstderr: {stderr}")
    });

    assert_eq!(
        report["ready"],
        Value::Bool(true),
        "on_ready never fired\nstderr: {stderr}"
    );
    assert_eq!(
        report["user_id"],
        Value::from(sim.bot_user_id().to_string())
    );
    assert_eq!(report["guilds"].as_array().map(Vec::len), Some(2));
    let received = report["messages"].as_object().expect("messages");
    let live: Vec<_> = sim
        .messages()
        .into_iter()
        .filter(|m| m.origin == MessageOrigin::Live)
        .collect();
    assert_eq!(live.len(), live_messages);
    for message in &live {
        let got = received.get(&message.id.to_string()).unwrap_or_else(|| {
            panic!(
                "discord.py never saw message {} (got {} of {})\nstderr: {stderr}",
                message.id,
                received.len(),
                live.len()
            )
        });
        // on_message sees the message as created; later edits arrive as edit events.
        let created = message
            .previous_contents
            .first()
            .unwrap_or(&message.content);
        assert_eq!(
            got["content"].as_str(),
            Some(created.as_str()),
            "message {}",
            message.id
        );
        assert_eq!(
            got["channel_id"],
            Value::from(message.channel_id.to_string())
        );
        assert_eq!(got["guild_id"], Value::from(message.guild_id.to_string()));
        assert_eq!(got["author_id"], Value::from(message.author_id.to_string()));
    }

    let resumes = sim.resumes();
    assert!(
        resumes.iter().any(|r| r.listener == GatewayListener::Resume
            && matches!(r.outcome, ResumeOutcome::Resumed { .. })
            && r.path_and_query.contains("compress=zlib-stream")),
        "discord.py should resume on resume_gateway_url: {resumes:?}"
    );
    assert!(report["resumed"].as_u64().is_some_and(|n| n >= 1));
    let first = &sim.connections()[0];
    assert_eq!(
        first.listener,
        GatewayListener::Main,
        "first connection uses GET /gateway/bot's url"
    );
    assert!(
        first.compress
            && first.path_and_query.contains("v=10")
            && first.path_and_query.contains("encoding=json")
    );
    assert!(sim.gateway_stats().heartbeats_received > 0);
    let identify = &sim.identifies()[0];
    assert!(
        identify.intents.is_some_and(|i| i & (1 << 15) != 0),
        "asked for MESSAGE_CONTENT"
    );

    let log = sim.rest_log();
    assert!(
        log.iter()
            .any(|r| r.route == Some("GET /gateway/bot") && r.status == 200)
    );
    assert!(
        log.iter()
            .any(|r| r.route == Some("GET /users/@me") && r.status == 200)
    );
    assert!(log.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("DiscordBot"))
    }));
    assert!(sim.rest_violations().is_empty());
}

#[tokio::test]
async fn discord_sim_binary_prints_urls_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_discord-sim"))
        .args([
            "--messages",
            "5",
            "--history",
            "2",
            "--rate",
            "0",
            "--status-every-secs",
            "0",
            "--token",
            "binary-test-token",
            "--zlib",
            "--heartbeat-ms",
            "500",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run discord-sim");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut values = std::collections::BTreeMap::new();
    loop {
        let line = lines_rx
            .recv_timeout(WAIT)
            .expect("discord-sim printed READY in time");
        if line == "READY" {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.to_owned(), value.to_owned());
        }
    }
    assert_eq!(values["TOKEN"], "binary-test-token");
    assert!(values["CONNECT_URL"].ends_with("?v=10&encoding=json&compress=zlib-stream"));

    let me: Value = http()
        .get(format!("{}/users/@me", values["REST_BASE_URL"]))
        .header("Authorization", "Bot binary-test-token")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(me["id"].is_string());
    let mut gateway = RawGateway::connect(&values["GATEWAY_URL"], true).await;
    assert_eq!(gateway.hello().await, 500);

    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("poll") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "discord-sim did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
}
