//! `config validate|show|sample` and `run`'s token check, through the real binary.

mod support;

use std::path::Path;

use support::{DISCORD_TOKEN, GOOGLE_API_KEY, run_cli};

const SEED_CONFIG: &str = include_str!("fixtures/seed_production_config.json");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_seed_example_config_validates_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "production_config.json", SEED_CONFIG);
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
    let config = write(dir.path(), "config.json", SEED_CONFIG);
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
    let table = discord_monitor::config::reference_markdown();
    if std::env::var_os("PRINT_CONFIG_TABLE").is_some() {
        println!("{table}");
    }
    assert!(
        readme.contains(table.trim()),
        "README.md's configuration table is stale: paste the output of \
         `PRINT_CONFIG_TABLE=1 cargo test --test cli_config readme -- --nocapture`"
    );
}
