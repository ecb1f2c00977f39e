//! Tests of the whole pipeline: line shape, levels, files, rotation, scrubbing, bridge.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use slog::{crit, debug, error, info, o, warn};

use super::*;

fn file_settings(dir: &Path, level: LogLevel) -> LogSettings {
    LogSettings {
        level,
        dir: Some(dir.to_path_buf()),
        stdout: false,
        main_file: RotationPolicy::from_mib(100, 5),
        error_file: RotationPolicy::from_mib(50, 3),
        secrets: Vec::new(),
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn messages(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record["message"].as_str().unwrap())
        .collect()
}

fn keys(record: &Value) -> Vec<&str> {
    record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn line_carries_the_deployment_guide_keys_in_order() {
    let (root, buffer) = memory_logger(LogLevel::Debug);
    let log = root.new(o!("logger" => "database"));
    info!(log, "Stored batch"; "rows" => 12);

    let lines = buffer.lines();
    assert_eq!(lines.len(), 1);
    let record: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        keys(&record),
        ["ts", "level", "logger", "message", "context"]
    );
    assert_eq!(record["level"], "INFO");
    assert_eq!(record["logger"], "database");
    assert_eq!(record["message"], "Stored batch");
    assert_eq!(record["context"], json!({ "rows": 12 }));

    let ts = record["ts"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    assert_eq!(parsed.offset().local_minus_utc(), 0);
    assert!(ts.ends_with('Z'), "{ts}");
    let fraction = ts.split('.').nth(1).unwrap();
    assert_eq!(fraction.len(), "123Z".len(), "milliseconds: {ts}");
    assert_eq!(buffer.text(), format!("{}\n", lines[0]));
}

#[test]
fn every_level_is_written_as_its_full_word() {
    let (log, buffer) = memory_logger(LogLevel::Debug);
    crit!(log, "c");
    error!(log, "e");
    warn!(log, "w");
    info!(log, "i");
    debug!(log, "d");
    let levels: Vec<_> = buffer
        .records()
        .iter()
        .map(|record| record["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]);
}

#[test]
fn logger_defaults_to_the_service_name_and_context_is_omitted_when_empty() {
    let (log, buffer) = memory_logger(LogLevel::Info);
    info!(log, "Started");
    let record = &buffer.records()[0];
    assert_eq!(record["logger"], DEFAULT_LOGGER);
    assert_eq!(keys(record), ["ts", "level", "logger", "message"]);
}

#[test]
fn context_gathers_the_logger_chain_and_the_record() {
    #[derive(serde::Serialize, Clone)]
    struct Limits {
        remaining: u32,
        reset_after_secs: f64,
    }

    let (root, buffer) = memory_logger(LogLevel::Info);
    let discord = root.new(o!("logger" => "discord", "shard" => 0));
    let api = discord.new(o!("logger" => "discord.api", "guild_id" => 42_u64, "shard" => 1));
    warn!(api, "Rate limited";
        "route" => "/channels/7/messages",
        "retry" => true,
        "limits" => slog::Serde(Limits { remaining: 0, reset_after_secs: 1.5 }),
        "guild_id" => 43_u64,
    );

    let record = &buffer.records()[0];
    assert_eq!(
        record["logger"], "discord.api",
        "the newest child's name wins"
    );
    let context = record["context"].as_object().unwrap();
    assert_eq!(context["route"], "/channels/7/messages");
    assert_eq!(context["retry"], true);
    assert_eq!(
        context["limits"],
        json!({ "remaining": 0, "reset_after_secs": 1.5 })
    );
    assert_eq!(
        context["guild_id"], 43,
        "the record's value wins over the chain's"
    );
    assert_eq!(
        context["shard"], 1,
        "a child's value wins over its parent's"
    );
    assert!(!context.contains_key("logger"));
    // As written: the record's keys, then the chain's from the root down.
    let order: Vec<_> = context.keys().map(String::as_str).collect();
    assert_eq!(order, ["route", "retry", "limits", "guild_id", "shard"]);
}

#[test]
fn error_type_and_exception_are_lifted_to_the_top() {
    let (root, buffer) = memory_logger(LogLevel::Info);
    let log = root.new(o!("logger" => "database"));
    let err = io::Error::other("disk I/O error");
    error!(log, "Write failed";
        "error_type" => "DatabaseError",
        "exception" => %err,
        "table" => "messages",
    );
    let record = &buffer.records()[0];
    assert_eq!(
        keys(record),
        [
            "ts",
            "level",
            "logger",
            "message",
            "context",
            "error_type",
            "exception"
        ]
    );
    assert_eq!(record["error_type"], "DatabaseError");
    assert_eq!(record["exception"], "disk I/O error");
    assert_eq!(record["context"], json!({ "table": "messages" }));
}

#[test]
fn error_values_keep_their_source_chain() {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot store batch")]
    struct StoreFailed(#[source] io::Error);

    let (log, buffer) = memory_logger(LogLevel::Info);
    let err = StoreFailed(io::Error::other("database is locked"));
    error!(log, "Write failed"; "exception" => &err as &(dyn std::error::Error + 'static));
    assert_eq!(
        buffer.records()[0]["exception"],
        "cannot store batch: database is locked"
    );
}

#[test]
fn level_filter_drops_records_below_the_configured_level() {
    let (log, buffer) = memory_logger(LogLevel::Warning);
    info!(log, "hidden");
    debug!(log, "hidden too");
    warn!(log, "shown");
    error!(log, "shown too");
    assert_eq!(messages(&buffer.records()), ["shown", "shown too"]);
}

#[test]
fn files_get_their_levels_and_the_directory_is_created() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("nested").join("logs");
    let logging = init(file_settings(&dir, LogLevel::Info)).unwrap();
    let log = logging.logger.new(o!("logger" => "processing"));
    debug!(log, "debug");
    info!(log, "info");
    warn!(log, "warning");
    error!(log, "error");
    crit!(log, "critical");
    drop(log);
    drop(logging);

    let all = read_lines(&dir.join(MAIN_LOG_FILE));
    assert_eq!(messages(&all), ["info", "warning", "error", "critical"]);
    let errors = read_lines(&dir.join(ERROR_LOG_FILE));
    assert_eq!(messages(&errors), ["warning", "error", "critical"]);
    assert!(errors.iter().all(|record| record["logger"] == "processing"));
}

#[test]
fn file_lines_match_the_memory_logger_lines() {
    let temp = tempfile::tempdir().unwrap();
    let logging = init(file_settings(temp.path(), LogLevel::Info)).unwrap();
    let (memory, buffer) = memory_logger(LogLevel::Info);
    for log in [&logging.logger, &memory] {
        let child = log.new(o!("logger" => "llm", "model" => "gemini"));
        warn!(child, "Retrying"; "attempt" => 2, "delay_ms" => 500, "error_type" => "Timeout");
    }
    drop(logging);

    let mut from_file = read_lines(&temp.path().join(MAIN_LOG_FILE)).remove(0);
    let mut from_memory = buffer.records().remove(0);
    for record in [&mut from_file, &mut from_memory] {
        record.as_object_mut().unwrap().remove("ts");
    }
    // Compare the text, not just the values: key order must match too.
    assert_eq!(from_file.to_string(), from_memory.to_string());
}

#[test]
fn rotation_keeps_n_files_and_the_newest_lines_stay_live() {
    let temp = tempfile::tempdir().unwrap();
    let mut settings = file_settings(temp.path(), LogLevel::Info);
    settings.main_file = RotationPolicy {
        max_bytes: 2_000,
        keep: 3,
    };
    settings.error_file = RotationPolicy {
        max_bytes: 1_000,
        keep: 2,
    };
    let logging = init(settings).unwrap();
    for index in 0..300 {
        warn!(logging.logger, "Line {index:03}"; "index" => index);
    }
    drop(logging);

    let mut names: Vec<_> = fs::read_dir(temp.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "discord_monitor.jsonl",
            "discord_monitor.jsonl.1",
            "discord_monitor.jsonl.2",
            "discord_monitor.jsonl.3",
            "errors.jsonl",
            "errors.jsonl.1",
            "errors.jsonl.2",
        ]
    );
    for (name, max_bytes) in [("discord_monitor.jsonl", 2_000), ("errors.jsonl", 1_000)] {
        let live = read_lines(&temp.path().join(name));
        assert_eq!(messages(&live).last(), Some(&"Line 299"), "{name}");
        let live_bytes = fs::metadata(temp.path().join(name)).unwrap().len();
        assert!(live_bytes <= max_bytes, "{name}: {live_bytes} bytes");
        // Rotated files continue exactly where the next newer one starts.
        let newest_rotated = read_lines(&temp.path().join(format!("{name}.1")));
        let last_rotated = newest_rotated.last().unwrap()["context"]["index"]
            .as_u64()
            .unwrap();
        assert_eq!(
            live[0]["context"]["index"].as_u64().unwrap(),
            last_rotated + 1
        );
    }
}

#[test]
fn secrets_never_reach_a_file() {
    let temp = tempfile::tempdir().unwrap();
    let settings = file_settings(temp.path(), LogLevel::Info).with_secrets([
        Secret::new("discord-test-token-abc123"),
        Secret::new("sk-test-openai-key"),
        Secret::new(""),
        Secret::new("ab"),
    ]);
    let logging = init(settings).unwrap();
    let log = logging
        .logger
        .new(o!("logger" => "discord.api", "auth" => "Bot discord-test-token-abc123"));
    error!(log, "Request with sk-test-openai-key failed";
        "url" => "https://example.invalid/?key=sk-test-openai-key",
        "exception" => "401 for token discord-test-token-abc123",
    );
    drop(log);
    drop(logging);

    for name in [MAIN_LOG_FILE, ERROR_LOG_FILE] {
        let text = fs::read_to_string(temp.path().join(name)).unwrap();
        assert!(!text.contains("discord-test-token-abc123"), "{text}");
        assert!(!text.contains("sk-test-openai-key"), "{text}");
        let record: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(record["message"], "Request with <redacted> failed");
        assert_eq!(record["context"]["auth"], "Bot <redacted>");
        assert_eq!(record["exception"], "401 for token <redacted>");
    }
}

#[test]
fn write_failures_are_counted_and_other_outputs_keep_working() {
    struct FullDisk;
    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join(MAIN_LOG_FILE);
    let stats = LogStats::default();
    let outputs = Outputs::new(
        Some(Box::new(FullDisk)),
        Some(RotatingFile::open(path.clone(), RotationPolicy::from_mib(1, 1)).unwrap()),
        None,
        stats.clone(),
    );
    let logging = start(
        LogLevel::Info,
        LineEncoder::default(),
        outputs,
        stats.clone(),
    );
    for index in 0..3 {
        info!(logging.logger, "Line {index}");
    }
    assert_eq!(
        logging.guard.stats().write_failures(),
        stats.write_failures()
    );
    drop(logging);

    assert_eq!(stats.write_failures(), 3);
    assert_eq!(messages(&read_lines(&path)), ["Line 0", "Line 1", "Line 2"]);
}

#[test]
fn records_logged_after_shutdown_are_still_written() {
    let temp = tempfile::tempdir().unwrap();
    let Logging { logger, guard } = init(file_settings(temp.path(), LogLevel::Info)).unwrap();
    info!(logger, "before");
    drop(guard);
    info!(logger, "after");
    assert_eq!(
        messages(&read_lines(&temp.path().join(MAIN_LOG_FILE))),
        ["before", "after"]
    );
}

#[test]
fn unwritable_directory_is_a_typed_error() {
    let temp = tempfile::tempdir().unwrap();
    let blocker = temp.path().join("not-a-dir");
    fs::write(&blocker, "").unwrap();
    let err = init(file_settings(&blocker.join("logs"), LogLevel::Info))
        .err()
        .unwrap();
    assert!(matches!(err, LoggingError::CreateDir { .. }), "{err:?}");

    fs::create_dir(temp.path().join(MAIN_LOG_FILE)).unwrap();
    let err = init(file_settings(temp.path(), LogLevel::Info))
        .err()
        .unwrap();
    assert!(matches!(err, LoggingError::OpenFile { .. }), "{err:?}");
}

#[test]
fn settings_follow_the_monitoring_config() {
    let config = MonitoringConfig::default();
    let settings = LogSettings::from_config(&config);
    assert_eq!(settings.level, LogLevel::Info);
    assert_eq!(settings.dir.as_deref(), Some(Path::new("logs")));
    assert!(settings.stdout);
    assert_eq!(
        settings.main_file,
        RotationPolicy {
            max_bytes: 100 * 1024 * 1024,
            keep: 5
        }
    );
    assert_eq!(
        settings.error_file,
        RotationPolicy {
            max_bytes: 50 * 1024 * 1024,
            keep: 3
        }
    );
}

fn bridged(bridge: &LogBridge, level: log::Level, target: &str, text: &str) {
    log::Log::log(
        bridge,
        &log::Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{text}"))
            .build(),
    );
}

#[test]
fn bridged_records_get_the_mapped_logger_name_and_their_target() {
    let (log, buffer) = memory_logger(LogLevel::Debug);
    let bridge = LogBridge::new(&log, LogLevel::Debug);
    let cases = [
        ("actix_web::middleware::logger", "http"),
        ("actix_server::worker", "http"),
        ("actix_http::h1", "http"),
        ("reqwest::connect", "http.client"),
        ("hyper::proto::h1", "http.client"),
        ("hyper_util::client", "http.client"),
        ("h2::codec", "http.client"),
        ("rustls::client::hs", "http.client"),
        ("diesel", "database"),
        ("lettre::transport::smtp", "alerts"),
        ("tungstenite::protocol", "discord.gateway"),
        ("tokio_tungstenite", "discord.gateway"),
        ("mio::poll", "mio"),
    ];
    for (target, _) in cases {
        bridged(&bridge, log::Level::Warn, target, "bridged");
    }
    let records = buffer.records();
    assert_eq!(records.len(), cases.len());
    for ((target, name), record) in cases.iter().zip(&records) {
        assert_eq!(record["logger"], *name, "{target}");
        assert_eq!(record["level"], "WARNING");
        assert_eq!(record["message"], "bridged");
        assert_eq!(record["context"], json!({ "target": target }));
    }
}

#[test]
fn bridged_debug_records_need_the_debug_level() {
    let (log, buffer) = memory_logger(LogLevel::Info);
    let bridge = LogBridge::new(&log, LogLevel::Info);
    bridged(&bridge, log::Level::Debug, "hyper::proto", "chatty");
    bridged(&bridge, log::Level::Trace, "hyper::proto", "chattier");
    bridged(
        &bridge,
        log::Level::Info,
        "actix_server::builder",
        "Starting 2 workers",
    );
    assert_eq!(messages(&buffer.records()), ["Starting 2 workers"]);

    let (log, buffer) = memory_logger(LogLevel::Debug);
    let bridge = LogBridge::new(&log, LogLevel::Debug);
    bridged(&bridge, log::Level::Debug, "hyper::proto", "chatty");
    bridged(&bridge, log::Level::Trace, "hyper::proto", "chattier");
    let records = buffer.records();
    assert_eq!(messages(&records), ["chatty"]);
    assert_eq!(records[0]["level"], "DEBUG");
}

#[test]
fn installing_the_bridge_twice_is_a_typed_error() {
    let (log, buffer) = memory_logger(LogLevel::Info);
    let first = install_log_bridge(&log, LogLevel::Info);
    let second = install_log_bridge(&log, LogLevel::Info);
    assert!(matches!(second, Err(LoggingError::BridgeAlreadyInstalled)));
    // Nothing else in this test binary installs a bridge, but stay correct if one ever does.
    if first.is_ok() {
        log::warn!(target: "reqwest::retry", "Retrying request");
        // Other tests' crates may log through the facade meanwhile: look for this record only.
        let records: Vec<_> = buffer
            .records()
            .into_iter()
            .filter(|record| record["message"] == "Retrying request")
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["logger"], "http.client");
        assert_eq!(records[0]["level"], "WARNING");
        assert_eq!(records[0]["context"]["target"], "reqwest::retry");
    }
}

#[test]
fn slow_operations_are_logged_under_performance() {
    let (root, buffer) = memory_logger(LogLevel::Info);
    let log = root.new(o!("logger" => "database", "pool" => "main"));
    let threshold = Duration::from_millis(1_000);
    assert!(!log_if_slow(
        &log,
        "db.store_messages",
        Duration::from_millis(1_000),
        threshold
    ));
    assert!(buffer.lines().is_empty());

    assert!(log_if_slow(
        &log,
        "db.store_messages",
        Duration::from_millis(1_520),
        threshold
    ));
    let record = &buffer.records()[0];
    assert_eq!(record["level"], "WARNING");
    assert_eq!(record["logger"], PERFORMANCE_LOGGER);
    assert_eq!(
        record["message"],
        "Slow operation: db.store_messages took 1520 ms"
    );
    assert_eq!(
        record["context"],
        json!({ "operation": "db.store_messages", "duration_ms": 1520, "threshold_ms": 1000, "pool": "main" })
    );
}

/// The deployment guide's "Log Analysis" commands, run on files this module wrote. With `jq`
/// installed the commands run exactly as printed; without it the same fields are checked with
/// serde_json.
#[test]
fn deployment_guide_log_analysis_commands_work_on_our_files() {
    let temp = tempfile::tempdir().unwrap();
    let logs = temp.path().join("logs");
    let logging = init(file_settings(&logs, LogLevel::Info)).unwrap();
    let root = &logging.logger;
    error!(root.new(o!("logger" => "processing")), "Batch failed";
        "error_type" => "ProcessingError", "exception" => "queue closed");
    log_if_slow(
        root,
        "db.store_messages",
        Duration::from_millis(1_520),
        Duration::from_secs(1),
    );
    warn!(root.new(o!("logger" => "discord.api")), "Rate limited"; "route" => "/gateway", "retry_after_ms" => 250);
    error!(root.new(o!("logger" => "database")), "Write failed";
        "error_type" => "DatabaseError", "exception" => "database is locked");
    info!(root.new(o!("logger" => "health")), "Component ready"; "component" => "db");
    drop(logging);

    let commands = [
        (
            r#"grep "ERROR" logs/discord_monitor.jsonl | jq '.exception'"#,
            "\"queue closed\"\n\"database is locked\"\n",
        ),
        (
            r#"grep "performance" logs/discord_monitor.jsonl | jq '.message'"#,
            "\"Slow operation: db.store_messages took 1520 ms\"\n",
        ),
        (
            r#"grep "discord.api" logs/discord_monitor.jsonl | jq -c '.context'"#,
            "{\"route\":\"/gateway\",\"retry_after_ms\":250}\n",
        ),
        (
            r#"grep "database" logs/errors.jsonl | jq '.error_type'"#,
            "\"DatabaseError\"\n",
        ),
    ];
    let jq_installed = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if jq_installed {
        for (command, expected) in commands {
            let output = Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(temp.path())
                .output()
                .unwrap();
            assert!(output.status.success(), "{command}: {output:?}");
            assert_eq!(
                String::from_utf8(output.stdout).unwrap(),
                expected,
                "{command}"
            );
        }
    } else {
        eprintln!("jq not installed: checking the same fields with serde_json instead");
    }

    let grep = |file: &str, needle: &str| -> Vec<Value> {
        fs::read_to_string(logs.join(file))
            .unwrap()
            .lines()
            .filter(|line| line.contains(needle))
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let exceptions: Vec<_> = grep(MAIN_LOG_FILE, "ERROR")
        .iter()
        .map(|r| r["exception"].clone())
        .collect();
    assert_eq!(
        exceptions,
        [json!("queue closed"), json!("database is locked")]
    );
    let slow: Vec<_> = grep(MAIN_LOG_FILE, "performance")
        .iter()
        .map(|r| r["message"].clone())
        .collect();
    assert_eq!(
        slow,
        [json!("Slow operation: db.store_messages took 1520 ms")]
    );
    let api: Vec<_> = grep(MAIN_LOG_FILE, "discord.api")
        .iter()
        .map(|r| r["context"].clone())
        .collect();
    assert_eq!(api, [json!({ "route": "/gateway", "retry_after_ms": 250 })]);
    let db: Vec<_> = grep(ERROR_LOG_FILE, "database")
        .iter()
        .map(|r| r["error_type"].clone())
        .collect();
    assert_eq!(db, [json!("DatabaseError")]);
}

/// `line` with its `ts` value, which changes every run, replaced by `<ts>` after checking its
/// shape (RFC 3339 UTC with milliseconds).
fn masked_ts(line: &str) -> String {
    let rest = line
        .strip_prefix(r#"{"ts":""#)
        .unwrap_or_else(|| panic!("line does not start with ts: {line}"));
    let (ts, rest) = rest.split_at("2026-03-01T12:00:00.123Z".len());
    let shape: String = ts
        .chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect();
    assert_eq!(shape, "0000-00-00T00:00:00.000Z", "{line}");
    format!(r#"{{"ts":"<ts>{rest}"#)
}

/// Representative lines, byte for byte: key order, value types, escaping, precedence,
/// lifted keys, bridged records and scrubbing. Any change to the encoder shows here first.
#[test]
fn golden_lines_are_byte_for_byte_stable() {
    #[derive(serde::Serialize, Clone)]
    struct Limits {
        remaining: u32,
        reset_after_secs: f64,
        buckets: Vec<&'static str>,
        scale: f32,
    }
    #[derive(Debug, thiserror::Error)]
    #[error("cannot store batch of {0} rows")]
    struct StoreFailed(usize, #[source] io::Error);

    let (root, buffer) = memory_logger(LogLevel::Debug);
    info!(root, "Started");
    let discord = root.new(o!("logger" => "discord", "shard" => 0, "gateway" => "wss://x"));
    let api = discord.new(o!("logger" => "discord.api", "shard" => 1_u8));
    warn!(api, "Rate limited on {} after {} tries", "/channels/7", 3;
        "route" => "/channels/7/messages",
        "retry" => true,
        "limits" => slog::Serde(Limits {
            remaining: 0,
            reset_after_secs: 1.5,
            buckets: vec!["a", "b"],
            scale: 0.1,
        }),
        "gateway" => "record wins",
        "route" => "first written wins",
    );
    let err = StoreFailed(12, io::Error::other("database is locked"));
    error!(root.new(o!("logger" => "database")), "Write failed";
        "error_type" => "DatabaseError",
        "exception" => &err as &(dyn std::error::Error + 'static),
        "table" => "messages",
        "rows" => 12_usize,
    );
    crit!(root, "Only the type"; "error_type" => "Panic");
    debug!(root, "Numbers";
        "neg" => -7_i64,
        "big" => u128::MAX,
        "small" => 5_i128,
        "f32" => 1.1_f32,
        "f64" => 1e21_f64,
        "whole" => 2.0_f64,
        "nan" => f64::NAN,
        "inf" => f64::NEG_INFINITY,
        "char" => 'é',
        "unit" => (),
        "none" => None::<u32>,
        "shown" => %"display",
        "debugged" => ?"debug",
    );
    info!(root, "Escapes \"quoted\" \\ back\nnew line\ttab \u{1} control é 日本 😀";
        "text" => "</script> \u{7f} \u{2028}");
    info!(root, "Odd logger"; "logger" => 5);
    info!(root, "");
    let bridge = LogBridge::new(&root, LogLevel::Debug);
    bridged(
        &bridge,
        log::Level::Warn,
        "reqwest::connect",
        "bridged warning",
    );
    log_if_slow(
        &root.new(o!("logger" => "database", "pool" => "main")),
        "db.store_messages",
        Duration::from_millis(1_520),
        Duration::from_secs(1),
    );

    let expected = [
        r#"{"ts":"<ts>","level":"INFO","logger":"discord_monitor","message":"Started"}"#,
        r#"{"ts":"<ts>","level":"WARNING","logger":"discord.api","message":"Rate limited on /channels/7 after 3 tries","context":{"route":"/channels/7/messages","retry":true,"limits":{"remaining":0,"reset_after_secs":1.5,"buckets":["a","b"],"scale":0.10000000149011612},"gateway":"record wins","shard":1}}"#,
        r#"{"ts":"<ts>","level":"ERROR","logger":"database","message":"Write failed","context":{"table":"messages","rows":12},"error_type":"DatabaseError","exception":"cannot store batch of 12 rows: database is locked"}"#,
        r#"{"ts":"<ts>","level":"CRITICAL","logger":"discord_monitor","message":"Only the type","error_type":"Panic"}"#,
        r#"{"ts":"<ts>","level":"DEBUG","logger":"discord_monitor","message":"Numbers","context":{"neg":-7,"big":"340282366920938463463374607431768211455","small":5,"f32":1.100000023841858,"f64":1e+21,"whole":2.0,"nan":"NaN","inf":"-inf","char":"é","unit":null,"none":null,"shown":"display","debugged":"\"debug\""}}"#,
        "{\"ts\":\"<ts>\",\"level\":\"INFO\",\"logger\":\"discord_monitor\",\"message\":\"Escapes \\\"quoted\\\" \\\\ back\\nnew line\\ttab \\u0001 control é 日本 😀\",\"context\":{\"text\":\"</script> \u{7f} \u{2028}\"}}",
        r#"{"ts":"<ts>","level":"INFO","logger":"5","message":"Odd logger"}"#,
        r#"{"ts":"<ts>","level":"INFO","logger":"discord_monitor","message":""}"#,
        r#"{"ts":"<ts>","level":"WARNING","logger":"http.client","message":"bridged warning","context":{"target":"reqwest::connect"}}"#,
        r#"{"ts":"<ts>","level":"WARNING","logger":"performance","message":"Slow operation: db.store_messages took 1520 ms","context":{"operation":"db.store_messages","duration_ms":1520,"threshold_ms":1000,"pool":"main"}}"#,
    ];
    let lines: Vec<String> = buffer.lines().iter().map(|line| masked_ts(line)).collect();
    assert_eq!(lines, expected);

    // Through the whole pipeline (queue, outputs, rotation) with secrets scrubbed, including
    // one whose JSON form is escaped.

    let temp = tempfile::tempdir().unwrap();
    let settings = file_settings(temp.path(), LogLevel::Info).with_secrets([
        Secret::new("discord-test-token-abc123"),
        Secret::new("pa\"ss\\word"),
    ]);
    let logging = init(settings).unwrap();
    let log = logging
        .logger
        .new(o!("logger" => "discord.api", "auth" => "Bot discord-test-token-abc123"));
    error!(log, "Login with pa\"ss\\word failed";
        "url" => "https://example.invalid/?token=discord-test-token-abc123",
        "error_type" => "AuthError",
        "exception" => "401 for discord-test-token-abc123",
    );
    drop(log);
    drop(logging);
    for name in [MAIN_LOG_FILE, ERROR_LOG_FILE] {
        let text = fs::read_to_string(temp.path().join(name)).unwrap();
        assert_eq!(
            masked_ts(text.strip_suffix('\n').unwrap()),
            r#"{"ts":"<ts>","level":"ERROR","logger":"discord.api","message":"Login with <redacted> failed","context":{"url":"https://example.invalid/?token=<redacted>","auth":"Bot <redacted>"},"error_type":"AuthError","exception":"401 for <redacted>"}"#,
            "{name}"
        );
    }
}
