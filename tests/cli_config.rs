//! `config validate|show|sample` and `run`'s token check, through the real binary.

mod support;

use std::path::Path;

use support::{ADMIN_TOKEN, DISCORD_TOKEN, GOOGLE_API_KEY, run_cli};

const GUIDE_CONFIG: &str = include_str!("fixtures/deployment_guide_config.json");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_deployment_guide_config_validates_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "production_config.json", GUIDE_CONFIG);
    let out = run_cli(dir.path(), &["--config", &path, "config", "validate"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout.contains("Configuration OK"), "{out:?}");
}

#[test]
fn three_mistakes_are_all_reported_with_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "config.json",
        r#"{
            "discord": {"rate_limit_requests_per_minit": 50},
            "database": {"connection_pool_size": "ten"},
            "processing": {"worker_count": 0}
        }"#,
    );
    let out = run_cli(dir.path(), &["--config", &path, "config", "validate"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    for expected in [
        "discord.rate_limit_requests_per_minit",
        "rate_limit_requests_per_minute", // the "did you mean" hint
        "database.connection_pool_size",
        "processing.worker_count",
        "3 problems",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn environment_and_file_overrides_apply_and_secrets_stay_masked() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", GUIDE_CONFIG);
    let token_file = write(dir.path(), "discord_token", &format!("{DISCORD_TOKEN}\n"));
    let out = run_cli(
        dir.path(),
        &["--config", &config, "config", "show"],
        &[
            ("DISCORD_TOKEN_FILE", &token_file),
            ("GOOGLE_API_KEY", GOOGLE_API_KEY),
            ("DATABASE_PATH", "/var/lib/dm/messages.sqlite"),
            ("WORKER_COUNT", "8"),
            ("LOG_LEVEL", "debug"),
            ("EMAIL_TO", "a@example.com, b@example.com"),
        ],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let shown: serde_json::Value = serde_json::from_str(&out.stdout).expect("show prints JSON");
    assert_eq!(shown["database"]["path"], "/var/lib/dm/messages.sqlite");
    assert_eq!(shown["processing"]["worker_count"], 8);
    assert_eq!(shown["monitoring"]["log_level"], "DEBUG");
    assert_eq!(
        shown["alerts"]["email_to"],
        serde_json::json!(["a@example.com", "b@example.com"])
    );
    assert_eq!(shown["discord"]["token"], "<redacted>");
    assert_eq!(shown["llm"]["google_api_key"], "<redacted>");
    // The file's own values stay where no variable overrides them.
    assert_eq!(shown["database"]["max_backups"], 48);
}

#[test]
fn bad_environment_values_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token", "x");
    let out = run_cli(
        dir.path(),
        &["config", "validate"],
        &[
            ("WORKER_COUNT", "many"),
            ("HEALTH_CHECK_PORT", "70000"),
            ("DISCORD_TOKEN", DISCORD_TOKEN),
            ("DISCORD_TOKEN_FILE", &token_file),
        ],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    for expected in [
        "WORKER_COUNT",
        "processing.worker_count",
        "HEALTH_CHECK_PORT",
        "DISCORD_TOKEN_FILE",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn sample_writes_a_commented_file_that_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        dir.path(),
        &["config", "sample", "--output", "sample.json"],
        &[],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("sample.json")).unwrap();
    assert!(text.contains("//"), "the sample explains its keys");
    assert!(
        text.contains("DISCORD_TOKEN"),
        "the sample names the env variables"
    );
    let out = run_cli(
        dir.path(),
        &["--config", "sample.json", "config", "validate"],
        &[],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    let again = run_cli(
        dir.path(),
        &["config", "sample", "--output", "sample.json"],
        &[],
    );
    assert_eq!(again.code(), 1, "refuses to overwrite: {again:?}");
}

#[test]
fn an_explicit_missing_config_file_is_an_error_but_the_default_one_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        dir.path(),
        &["--config", "nope.json", "config", "validate"],
        &[],
    );
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("nope.json"), "{out:?}");
    let out = run_cli(dir.path(), &["config", "validate"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    let out = run_cli(
        dir.path(),
        &["config", "validate"],
        &[("DM_CONFIG", "missing.json")],
    );
    assert_eq!(out.code(), 1, "{out:?}");
}

#[test]
fn run_refuses_to_start_without_a_discord_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["run"], &[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("DISCORD_TOKEN"), "{out:?}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn the_readme_configuration_table_is_current() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = discord_monitor::app::config::reference_markdown();
    if std::env::var_os("PRINT_CONFIG_TABLE").is_some() {
        println!("{table}");
    }
    assert!(
        readme.contains(table.trim()),
        "README.md's configuration table is stale: paste the output of \
         `PRINT_CONFIG_TABLE=1 cargo test --test cli_config readme -- --nocapture`"
    );
}

/// `config sample` prints exactly the pinned file; a change to any key's default, doc or
/// variable shows up here as well as in the README table.
#[test]
fn the_sample_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["config", "sample"], &[]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, include_str!("fixtures/config_sample.jsonc"));
}

/// `config show` of the deployment guide's example with every secret set: every key, and no
/// secret.
#[test]
fn show_of_the_deployment_guide_config_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.json", GUIDE_CONFIG);
    let out = run_cli(
        dir.path(),
        &["--config", "config.json", "config", "show"],
        &[
            ("DISCORD_TOKEN", DISCORD_TOKEN),
            ("GOOGLE_API_KEY", GOOGLE_API_KEY),
            ("SLACK_ENABLED", "true"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        out.stdout,
        include_str!("fixtures/config_show_deployment_guide.json")
    );
}

/// Configurations wrong in every way validation knows, and the exact report for each: every
/// message, hint, key path and source, in order.
const PROBLEM_CASES: &[(&str, &[(&str, &str)])] = &[
    (
        r#"{
  "environment": "prod",
  "log_level": "INFO",
  "discord": {
    "rate_limit_requests_per_minit": 50,
    "max_retries": 99,
    "token_type": "bott",
    "api_base_url": "discord.com",
    "gateway_url": "https://gateway.example",
    "intents": ["GUILDS", "GUILD_MESAGES"],
    "shard_id": 3,
    "shard_count": 2,
    "token": 987654321
  },
  "llm": {
    "daily_cost_limit": -1,
    "fallback_providers": ["", "mystery-model"],
    "routes": {"default": ["gemini/nope", "plain", "zz/m"], "triage": ["gemini/gemini-2.5-flash"]}
  },
  "database": {"path": "", "connection_pool_size": 100, "max_backups": "many"},
  "processing": {"worker_count": "four"},
  "monitoring": {"log_level": "LOUD", "log_dir": "", "health_check_host": "localhost",
                 "health_check_port": 0},
  "alerts": {
    "email_enabled": true, "email_to": ["ops", "ok@example.org"], "slack_enabled": true,
    "retry_initial_secs": 100, "retry_max_secs": 50, "memory_percent": 0,
    "routes": [
      {"name": "a", "kind": "email", "smtp_host": "h", "from": "nobody", "webhook_url": "https://x/y",
       "tls_ca_file": "missing.pem", "smtp_port": 0},
      {"name": "a", "kind": "webhook", "url": "zq-not-a-url", "headers": {"bad header": "v"}},
      {"name": "b", "kind": "slack", "webhook_url": "https://x/y", "smtp_prot": 25},
      {"name": "c", "kind": "pager", "url": "https://x"},
      {"name": " ", "kind": "webhook", "url": "https://x", "max_per_minute": 0, "timeout_secs": 0},
      {"name": "d", "kind": "webhook", "url": "https://x", "hmac_secret": 12345678}
    ]
  },
  "admin": {"allowed_cidrs": ["10.0.0.0/8", "10.0.0.0/99"], "max_body_bytes": 0, "tokn": "x"}
}"#,
        &[
            ("DISCORD_TOKEN", "zq-direct-token"),
            ("DISCORD_TOKEN_FILE", "/run/secrets/discord"),
            ("GOOGLE_API_KEY_FILE", "no-such-secret"),
            ("EMAIL_ENABLED", "perhaps"),
            ("MEMORY_LIMIT_MB", "NaN"),
            ("MAX_QUEUE_SIZE", "-5"),
            ("EMAIL_FROM", ""),
            ("ADMIN_ALLOWED_CIDRS", ""),
        ],
    ),
    (
        r#"{"llm": {
            "providers": [
                {"name": "a", "kind": "openai", "base_url": "ftp://x", "timeout_secs": 0,
                 "max_output_tokens": 0,
                 "models": [{"name": "m1", "input_usd_per_mtok": -1, "output_usd_per_mtok": 1,
                             "context_tokens": 0},
                            {"name": "m1", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1},
                            {"name": ""}]},
                {"name": "a", "kind": "openai-compatible", "models": [{"name": "m"}]},
                {"name": "x/y", "kind": "gemini"}
            ],
            "routes": {"default": ["a/m1", "zz/m", "a/nope", "plain"], "ask": ["a/m2"]}
        }}"#,
        &[("WORKER_COUNT", "0"), ("DATABASE_POOL_SIZE", "100")],
    ),
    (
        r#"{"discord": 5, "processing": [], "alerts": "none"}"#,
        &[
            ("WORKER_COUNT", "0"),
            ("HEALTH_CHECK_PORT", "70000"),
            ("LLM_DEFAULT_PROVIDER", "gemni"),
        ],
    ),
    (
        r#"{"llm": {"providers": [{"name": "b", "kind": "gemeni"}]}}"#,
        &[],
    ),
    ("[1, 2]", &[("DEBUG_MODE", "maybe")]),
];

#[test]
fn every_problem_report_is_pinned() {
    let mut reports = String::new();
    for (index, (text, env)) in PROBLEM_CASES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.json", text);
        let out = run_cli(
            dir.path(),
            &["--config", "config.json", "config", "validate"],
            env,
        );
        assert_eq!(out.code(), 1, "{out:?}");
        reports.push_str(&format!("## case {index}\n{}", out.stderr));
    }
    if std::env::var_os("PRINT_PROBLEM_REPORTS").is_some() {
        print!("{reports}");
    }
    assert_eq!(reports, include_str!("fixtures/config_problems.txt"));
}
