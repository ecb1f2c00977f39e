//! The service's configuration: one JSON file (`--config`, env `DM_CONFIG`, default
//! `./config.json`) whose sections are those of the deployment guide's example, overridden by
//! environment variables.
//!
//! [`Config`] names every section; each section's struct, keys, variables and checks live with
//! the component it configures (see [`crate::config::Section`]), and the generic loader in
//! [`crate::config`] reads the file through [`Config`]'s catalogue. Only what needs every
//! section lives here: which file to read ([`config_path`]), loading it ([`Config::load`]), the
//! order of the checks, the secrets, and the generated documentation ([`sample_json`],
//! [`reference_markdown`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::actors::alert::config::AlertsConfig;
use crate::actors::db::DatabaseConfig;
use crate::actors::llm::config::LlmConfig;
use crate::actors::processing::config::ProcessingConfig;
use crate::actors::processing::triage::TriageConfig;
use crate::admin::config::AdminConfig;
use crate::config::{
    Catalogue, ConfigError, EnvSource, Environment, MonitoringConfig, Problems, Root, Secret,
    Section, TOP_LEVEL, load_file, render_reference, render_sample,
};
use crate::discord::config::DiscordConfig;

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_PATH_VAR: &str = "DM_CONFIG";
/// Config file used when neither `--config` nor `DM_CONFIG` is given; relative to the working
/// directory, like the deployment guide's `production_config.json`.
pub const DEFAULT_CONFIG_PATH: &str = "config.json";

/// The config file to read and whether it was named explicitly: `--config`, else `DM_CONFIG`
/// (an empty value counts as unset), else `./config.json`. Only an explicit file must exist.
pub fn config_path(cli: Option<PathBuf>, env: &dyn EnvSource) -> (PathBuf, bool) {
    if let Some(path) = cli {
        return (path, true);
    }
    match env.var(CONFIG_PATH_VAR) {
        Some(path) if !path.trim().is_empty() => (PathBuf::from(path.trim()), true),
        _ => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    }
}

/// The whole effective configuration. Every section and key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `development`, `staging` or `production`; env `ENVIRONMENT`.
    pub environment: Environment,
    /// More detail in logs and error answers; env `DEBUG_MODE`.
    pub debug_mode: bool,
    pub discord: DiscordConfig,
    pub llm: LlmConfig,
    pub database: DatabaseConfig,
    pub processing: ProcessingConfig,
    pub triage: TriageConfig,
    pub monitoring: MonitoringConfig,
    pub alerts: AlertsConfig,
    pub admin: AdminConfig,
}

impl Root for Config {
    const CATALOGUE: Catalogue = Catalogue {
        sections: &[
            TOP_LEVEL,
            DiscordConfig::DOC,
            LlmConfig::DOC,
            DatabaseConfig::DOC,
            ProcessingConfig::DOC,
            TriageConfig::DOC,
            MonitoringConfig::DOC,
            AlertsConfig::DOC,
            AdminConfig::DOC,
        ],
    };

    /// Values that must not be empty first, then each section's own rules; `config validate`
    /// prints the problems in this order.
    fn validate(&self, problems: &mut Problems) {
        self.database.check_not_empty(problems);
        self.monitoring.check_not_empty(problems);
        self.llm.check_not_empty(problems);
        self.monitoring.validate(problems);
        self.alerts.validate(problems);
        self.admin.validate(problems);
        self.discord.validate(problems);
        self.llm.validate(problems);
        self.processing.validate(problems);
        self.triage.validate(problems);
    }
}

impl Config {
    /// Reads `path`, applies the environment and validates everything. A missing file is an
    /// error only when `explicit` (see [`config_path`]); otherwise the defaults and the
    /// environment alone make the configuration, so a container can run from env variables.
    pub fn load(path: &Path, explicit: bool, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        load_file(path, explicit, env)
    }

    /// The Discord token, for `run`; commands that never talk to Discord do not call this.
    pub fn require_discord_token(&self) -> Result<&Secret, ConfigError> {
        // Loading already drops blank secrets; this also covers a config built in code.
        self.discord
            .token
            .as_ref()
            .filter(|token| !token.is_empty())
            .ok_or(ConfigError::MissingDiscordToken)
    }

    /// Every secret that is set, so the logger can scrub them from lines as defence in depth.
    pub fn secrets(&self) -> Vec<&Secret> {
        [
            &self.discord.token,
            &self.alerts.email_password,
            &self.alerts.slack_webhook_url,
            &self.admin.token,
        ]
        .into_iter()
        .flatten()
        .chain(self.llm.secrets())
        .chain(self.alerts.route_secrets())
        .collect()
    }

    /// The effective configuration with every secret shown as `<redacted>` (unset ones as
    /// `null`), for the admin `/config` route.
    pub fn sanitized_json(&self) -> serde_json::Value {
        // Serializing plain structs into a Value cannot fail; Null is only a formal fallback.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// `config show`: [`Config::sanitized_json`] pretty-printed, with a final newline.
    pub fn show_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.sanitized_json()).unwrap_or_default();
        text.push('\n');
        text
    }
}

const SAMPLE_HEADER: &str = "\
discord-monitor configuration, written by `discord-monitor config sample`. Every value below is \
its default and every key is optional: delete what you do not change. Comments are allowed. \
Environment variables override keys (each key names its variable); NAME_FILE instead reads the \
value of NAME from a file (Docker and Kubernetes secrets); an empty variable counts as unset. \
The file is read from --config, else the environment variable DM_CONFIG, else ./config.json.";

/// `config sample`: the full default configuration as JSON with `//` comments: every key, its
/// default, its meaning and unit, the allowed values and the environment variable. Loads back
/// unchanged.
pub fn sample_json() -> String {
    render_sample::<Config>(SAMPLE_HEADER)
}

/// The README's configuration table: every key, its default, environment variable and meaning.
pub fn reference_markdown() -> String {
    render_reference::<Config>()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::{ConfigProblem, LogLevel, MapEnv, ProblemSource, REDACTED, load_text};

    const GUIDE_EXAMPLE: &str = include_str!("../../tests/fixtures/deployment_guide_config.json");
    const REPO_SAMPLE: &str = include_str!("../../config.json");

    /// Distinctive values: any of them appearing in output is a leak.
    const TEST_SECRETS: [(&str, &str); 7] = [
        ("DISCORD_TOKEN", "zq-discord-token-8f1e2d"),
        ("GOOGLE_API_KEY", "zq-google-key-77aa10"),
        ("OPENAI_API_KEY", "zq-openai-key-3c9b44"),
        ("OPENROUTER_API_KEY", "zq-openrouter-key-51de09"),
        ("EMAIL_PASSWORD", "zq-smtp-password-c0ffee"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/zq-slack-ab12cd",
        ),
        ("ADMIN_TOKEN", "zq-admin-token-e4f5a6"),
    ];

    fn no_env() -> MapEnv {
        MapEnv::default()
    }

    fn load_str(text: &str, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        load_text(Some(text), Path::new("test-config.json"), env)
    }

    fn problems_of(result: Result<Config, ConfigError>) -> Vec<ConfigProblem> {
        match result {
            Err(ConfigError::Invalid(problems)) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn problem_for<'a>(problems: &'a [ConfigProblem], key: &str) -> &'a ConfigProblem {
        problems
            .iter()
            .find(|problem| problem.key == key)
            .unwrap_or_else(|| panic!("no problem for {key} in {problems:#?}"))
    }

    #[test]
    fn deployment_guide_example_loads_unchanged() {
        let config = load_str(GUIDE_EXAMPLE, &no_env()).expect("the example is valid");
        assert_eq!(config.environment, Environment::Production);
        assert!(!config.debug_mode);
        assert_eq!(
            config.require_discord_token().unwrap().expose(),
            "your_token"
        );
        assert_eq!(config.discord.rate_limit_requests_per_minute, 50);
        assert_eq!(config.discord.max_retries, 3);
        assert_eq!(config.discord.connection_timeout, 30.0);
        assert_eq!(
            config.llm.google_api_key.as_ref().map(Secret::expose),
            Some("your_key")
        );
        assert_eq!(config.llm.daily_cost_limit, 10.0);
        assert_eq!(config.llm.default_provider, "gemini");
        assert_eq!(
            config.llm.fallback_providers,
            ["gemini-1.5-flash", "gemini-2.5-pro"]
        );
        assert_eq!(config.database.path, Path::new("data/db.sqlite"));
        assert_eq!(config.database.backup_dir, Path::new("data/backups"));
        assert_eq!(config.database.backup_interval_hours, 6.0);
        assert_eq!(config.database.max_backups, 48);
        assert_eq!(config.database.connection_pool_size, 10);
        assert_eq!(config.processing.max_queue_size, 10_000);
        assert_eq!(config.processing.worker_count, 4);
        assert_eq!(config.processing.memory_limit_mb, 1024.0);
        assert_eq!(config.monitoring.log_level, LogLevel::Info);
        assert_eq!(config.monitoring.log_dir, Path::new("logs"));
        assert_eq!(config.monitoring.health_check_interval_seconds, 30);
        assert_eq!(config.monitoring.health_check_port, 8080);
        assert!(config.alerts.email_enabled);
        assert_eq!(
            config.alerts.email_smtp_host.as_deref(),
            Some("smtp.gmail.com")
        );
        assert_eq!(config.alerts.email_smtp_port, 587);
        assert_eq!(
            config.alerts.email_username.as_deref(),
            Some("alerts@company.com")
        );
        assert_eq!(
            config.alerts.email_password.as_ref().map(Secret::expose),
            Some("app_password")
        );
        assert_eq!(
            config.alerts.email_from.as_deref(),
            Some("discord-monitor@company.com")
        );
        assert_eq!(config.alerts.email_to, ["admin@company.com"]);
        assert!(!config.alerts.slack_enabled);
        assert_eq!(config.admin, AdminConfig::default());
    }

    #[test]
    fn deployment_guide_example_file_loads_through_load() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/deployment_guide_config.json");
        let config = Config::load(&path, true, &no_env()).unwrap();
        assert_eq!(config, load_str(GUIDE_EXAMPLE, &no_env()).unwrap());
    }

    #[test]
    fn repo_sample_config_loads_cleanly() {
        let config = load_str(REPO_SAMPLE, &no_env()).expect("config.json is valid");
        assert!(
            config.secrets().is_empty(),
            "config.json must hold no secrets"
        );
        assert!(config.database.path.is_relative());
        assert!(config.monitoring.log_dir.is_relative());
    }

    #[test]
    fn the_kubernetes_config_loads_cleanly_and_uses_the_volumes() {
        let config = load_str(include_str!("../../k8s/config.json"), &no_env())
            .expect("k8s/config.json is valid");
        assert!(
            config.secrets().is_empty(),
            "secrets come from the Secret, not the ConfigMap"
        );
        assert!(config.database.path.starts_with("/app/data"));
        assert!(config.database.backup_dir.starts_with("/app/backups"));
    }

    #[test]
    fn three_mistakes_are_reported_together() {
        let text = r#"{
            "monitoring": { "log_levl": "" },
            "processing": { "worker_count": "four" },
            "database": { "connection_pool_size": 100 }
        }"#;
        let err = load_str(text, &no_env()).unwrap_err();
        let rendered = err.to_string();
        let problems = err.problems();
        assert_eq!(problems.len(), 3, "{rendered}");

        let unknown = problem_for(problems, "monitoring.log_levl");
        assert_eq!(unknown.message, "unknown key");
        assert_eq!(
            unknown.source,
            ProblemSource::File("test-config.json".into())
        );
        let hint = unknown.hint.as_deref().unwrap();
        assert!(hint.contains("did you mean `log_level`?"), "{hint}");
        assert!(
            hint.contains("health_check_port"),
            "lists valid keys: {hint}"
        );

        let wrong_type = problem_for(problems, "processing.worker_count");
        assert!(
            wrong_type.message.contains("wrong type"),
            "{}",
            wrong_type.message
        );
        assert!(
            wrong_type.message.contains("\"four\""),
            "{}",
            wrong_type.message
        );

        let range = problem_for(problems, "database.connection_pool_size");
        assert!(range.message.contains("100"), "{}", range.message);
        assert_eq!(range.hint.as_deref(), Some("allowed: 1 to 64"));

        assert_eq!(rendered.lines().count(), 4, "{rendered}");
        assert!(rendered.starts_with("invalid configuration (3 problems):"));
        for key in [
            "monitoring.log_levl",
            "processing.worker_count",
            "database.connection_pool_size",
        ] {
            assert!(rendered.contains(key), "{rendered}");
        }
    }

    #[test]
    fn misplaced_key_and_enum_values_get_hints() {
        let text = r#"{ "log_level": "INFO", "environment": "prod", "llm": { "default_provider": "gemni" },
                        "monitoring": { "log_level": "LOUD" } }"#;
        let problems = problems_of(load_str(text, &no_env()));
        assert_eq!(problems.len(), 4, "{problems:#?}");
        let misplaced = problem_for(&problems, "log_level").hint.clone().unwrap();
        assert!(misplaced.contains("`monitoring.log_level`"), "{misplaced}");
        let environment = problem_for(&problems, "environment");
        assert_eq!(environment.message, "unknown value `prod`");
        let hint = environment.hint.as_deref().unwrap();
        assert!(hint.contains("development, staging, production"), "{hint}");
        let provider = problem_for(&problems, "llm.default_provider");
        assert!(
            provider
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean `gemini`?"),
            "{provider:?}"
        );
        let level = problem_for(&problems, "monitoring.log_level");
        assert!(level.to_string().contains("WARNING"), "{level}");
    }

    #[test]
    fn non_object_sections_are_reported_and_env_still_applies() {
        let env = MapEnv::new([("WORKER_COUNT", "0")]);
        let problems = problems_of(load_str(r#"{"discord": 5, "processing": []}"#, &env));
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problem_for(&problems, "discord")
                .message
                .contains("section")
        );
        assert!(
            problem_for(&problems, "processing")
                .message
                .contains("a list")
        );
        let worker = problem_for(&problems, "processing.worker_count");
        assert_eq!(worker.source, ProblemSource::Env("WORKER_COUNT".into()));
    }

    #[test]
    fn env_overrides_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("discord_token");
        std::fs::write(&token_file, "zq-from-file-token\n").unwrap();
        let env = MapEnv::new([
            ("DISCORD_TOKEN_FILE", token_file.to_str().unwrap()),
            ("DISCORD_RATE_LIMIT_RPM", "30"),
            ("LLM_DAILY_COST_LIMIT", "2.5"),
            ("ENVIRONMENT", "staging"),
            ("DEBUG_MODE", "yes"),
            ("LOG_LEVEL", "warn"),
            ("DATABASE_PATH", "/var/lib/dm/db.sqlite"),
            ("HEALTH_CHECK_PORT", "9090"),
            ("EMAIL_ENABLED", "off"),
            ("EMAIL_TO", "a@x.org, b@y.org"),
            ("ADMIN_ALLOWED_CIDRS", "10.0.0.0/8,127.0.0.1"),
            ("WORKER_COUNT", ""),
        ]);
        let config = load_str(GUIDE_EXAMPLE, &env).unwrap();
        assert_eq!(
            config.require_discord_token().unwrap().expose(),
            "zq-from-file-token"
        );
        assert_eq!(config.discord.rate_limit_requests_per_minute, 30);
        assert_eq!(config.llm.daily_cost_limit, 2.5);
        assert_eq!(config.environment, Environment::Staging);
        assert!(config.debug_mode);
        assert_eq!(config.monitoring.log_level, LogLevel::Warning);
        assert_eq!(config.database.path, Path::new("/var/lib/dm/db.sqlite"));
        assert_eq!(config.monitoring.health_check_port, 9090);
        assert!(!config.alerts.email_enabled);
        assert_eq!(config.alerts.email_to, ["a@x.org", "b@y.org"]);
        assert_eq!(config.admin.allowed_networks().unwrap().len(), 2);
        assert_eq!(
            config.processing.worker_count, 4,
            "empty variable counts as unset"
        );
    }

    #[test]
    fn env_problems_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-secret");
        let env = MapEnv::new([
            ("DISCORD_TOKEN", "zq-direct-token"),
            ("DISCORD_TOKEN_FILE", "/run/secrets/discord"),
            ("GOOGLE_API_KEY_FILE", missing.to_str().unwrap()),
            ("WORKER_COUNT", "many"),
            ("EMAIL_ENABLED", "perhaps"),
            ("MEMORY_LIMIT_MB", "NaN"),
            ("MAX_QUEUE_SIZE", "-5"),
            ("DATABASE_POOL_SIZE", "100"),
        ]);
        let err = load_str("{}", &env).unwrap_err();
        let rendered = err.to_string();
        let problems = err.problems();
        assert_eq!(problems.len(), 7, "{rendered}");

        let both = problem_for(problems, "discord.token");
        assert!(
            both.message
                .contains("both DISCORD_TOKEN and DISCORD_TOKEN_FILE")
        );
        let unreadable = problem_for(problems, "llm.google_api_key");
        assert_eq!(
            unreadable.source,
            ProblemSource::Env("GOOGLE_API_KEY_FILE".into())
        );
        assert!(
            unreadable.message.contains("no-such-secret"),
            "{}",
            unreadable.message
        );
        let expectations = [
            ("processing.worker_count", "WORKER_COUNT"),
            ("alerts.email_enabled", "EMAIL_ENABLED"),
            ("processing.memory_limit_mb", "MEMORY_LIMIT_MB"),
            ("processing.max_queue_size", "MAX_QUEUE_SIZE"),
            ("database.connection_pool_size", "DATABASE_POOL_SIZE"),
        ];
        for (key, var) in expectations {
            assert_eq!(
                problem_for(problems, key).source,
                ProblemSource::Env(var.into())
            );
            assert!(rendered.contains(&format!("[env {var}]")), "{rendered}");
        }
        assert!(!rendered.contains("zq-direct-token"), "{rendered}");
    }

    #[test]
    fn secret_file_contents_are_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pool");
        std::fs::write(&file, "zq-not-a-number\n").unwrap();
        let env = MapEnv::new([("DATABASE_POOL_SIZE_FILE", file.to_str().unwrap())]);
        let problems = problems_of(load_str("{}", &env));
        let problem = problem_for(&problems, "database.connection_pool_size");
        assert_eq!(
            problem.source,
            ProblemSource::Env("DATABASE_POOL_SIZE_FILE".into())
        );

        let text = r#"{"discord": {"token": 987654321}, "admin": {"token": ["zq-list-secret"]}}"#;
        let rendered = load_str(text, &no_env()).unwrap_err().to_string();
        assert!(rendered.contains("discord.token"), "{rendered}");
        assert!(rendered.contains("admin.token"), "{rendered}");
        assert!(!rendered.contains("987654321"), "{rendered}");
        assert!(!rendered.contains("zq-list-secret"), "{rendered}");

        let bad_url = r#"{"alerts": {"slack_enabled": true, "slack_webhook_url": "zq-not-a-url"}}"#;
        let rendered = load_str(bad_url, &no_env()).unwrap_err().to_string();
        assert!(rendered.contains("alerts.slack_webhook_url"), "{rendered}");
        assert!(!rendered.contains("zq-not-a-url"), "{rendered}");
    }

    #[test]
    fn comments_and_trailing_commas_are_accepted() {
        let text = "// my deployment\n{\n  /* stage */ \"environment\": \"staging\", // why not\n  \"discord\": { \"max_retries\": 5, },\n}\n";
        let config = load_str(text, &no_env()).unwrap();
        assert_eq!(config.environment, Environment::Staging);
        assert_eq!(config.discord.max_retries, 5);
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = load_str(
            "{\n  \"debug_mode\": true\n  \"environment\": \"staging\"\n}",
            &no_env(),
        )
        .unwrap_err();
        match &err {
            ConfigError::Parse { line, column, .. } => assert_eq!((*line, *column), (3, 3)),
            other => panic!("expected Parse, got {other:?}"),
        }
        assert!(err.to_string().contains("line 3, column 3"), "{err}");
    }

    #[test]
    fn sample_loads_back_to_the_defaults() {
        let sample = sample_json();
        assert!(sample.starts_with("// "));
        assert_eq!(load_str(&sample, &no_env()).unwrap(), Config::default());
        for entry in Config::CATALOGUE.env_overrides() {
            assert!(sample.contains(entry.var), "sample names {}", entry.var);
        }
        for doc in Config::CATALOGUE.keys() {
            let leaf = doc.key.rsplit('.').next().unwrap();
            assert!(
                sample.contains(&format!("\"{leaf}\":")),
                "sample shows {}",
                doc.key
            );
        }
        assert!(sample.lines().all(|line| line.len() <= 100), "{sample}");
    }

    #[test]
    fn reference_table_has_a_row_per_key() {
        let table = reference_markdown();
        assert!(table.contains("| `database.connection_pool_size` | `10` | `DATABASE_POOL_SIZE`"));
        let rows = table.lines().count() - 2;
        let leaves = Config::CATALOGUE
            .keys()
            .filter(|doc| Config::CATALOGUE.child_keys(doc.key).is_empty())
            .count();
        assert_eq!(rows, leaves);
    }

    #[test]
    fn catalogue_matches_the_structs() {
        fn walk(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
            if let serde_json::Value::Object(map) = value {
                for (name, child) in map {
                    let key = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(child, &key, out);
                    out.insert(key);
                }
            }
        }
        let mut from_structs = BTreeSet::new();
        walk(&Config::default().sanitized_json(), "", &mut from_structs);
        let catalogued: BTreeSet<String> = Config::CATALOGUE
            .keys()
            .map(|doc| doc.key.to_owned())
            .collect();
        assert_eq!(from_structs, catalogued);
        for entry in Config::CATALOGUE.env_overrides() {
            assert!(
                catalogued.contains(entry.key),
                "{} overrides unknown {}",
                entry.var,
                entry.key
            );
        }
        assert_eq!(load_str("{}", &no_env()).unwrap(), Config::default());
    }

    #[test]
    fn every_variable_and_key_appears_once() {
        let overrides: Vec<_> = Config::CATALOGUE.env_overrides().collect();
        for (index, entry) in overrides.iter().enumerate() {
            for other in &overrides[index + 1..] {
                assert_ne!(entry.var, other.var);
                assert_ne!(entry.key, other.key);
            }
        }
    }

    #[test]
    fn show_and_sanitized_output_hold_no_secret() {
        let env = MapEnv::new(
            TEST_SECRETS
                .iter()
                .copied()
                .chain([("SLACK_ENABLED", "true")]),
        );
        let config = load_str(GUIDE_EXAMPLE, &env).unwrap();
        assert_eq!(config.secrets().len(), TEST_SECRETS.len());
        let exposed: Vec<&str> = config
            .secrets()
            .iter()
            .map(|secret| secret.expose())
            .collect();
        let outputs = [
            config.show_json(),
            config.sanitized_json().to_string(),
            format!("{config:?}"),
        ];
        for (_, secret) in TEST_SECRETS {
            assert!(exposed.contains(&secret), "secrets() lists {secret}");
            for output in &outputs {
                assert!(!output.contains(secret), "leaked {secret} in {output}");
            }
        }
        let sanitized = config.sanitized_json();
        assert_eq!(sanitized["discord"]["token"], REDACTED);
        assert_eq!(sanitized["admin"]["token"], REDACTED);
        assert_eq!(sanitized["processing"]["worker_count"], 4);
    }

    #[test]
    fn empty_secrets_count_as_unset() {
        let text = r#"{"discord": {"token": ""}, "admin": {"token": "  "},
                       "alerts": {"email_smtp_host": "", "email_password": " "}}"#;
        let config = load_str(text, &no_env()).unwrap();
        assert!(config.secrets().is_empty());
        assert_eq!(config.alerts.email_smtp_host, None);
        let err = config.require_discord_token().unwrap_err();
        let message = err.to_string();
        for how in ["discord.token", "DISCORD_TOKEN", "DISCORD_TOKEN_FILE"] {
            assert!(message.contains(how), "{message}");
        }
    }

    #[test]
    fn cross_key_rules() {
        let text = r#"{
            "monitoring": { "health_check_host": "localhost", "health_check_port": 0 },
            "alerts": { "email_enabled": true, "email_to": ["ops", "ok@example.org"], "slack_enabled": true },
            "admin": { "allowed_cidrs": ["10.0.0.0/8", "10.0.0.0/99"], "max_body_bytes": 0 },
            "discord": { "connection_timeout": 0 },
            "database": { "path": "" }
        }"#;
        let env = MapEnv::new([("EMAIL_FROM", "")]);
        let problems = problems_of(load_str(text, &env));
        let keys: BTreeSet<&str> = problems
            .iter()
            .map(|problem| problem.key.as_str())
            .collect();
        let expected: BTreeSet<&str> = [
            "monitoring.health_check_host",
            "monitoring.health_check_port",
            "alerts.email_smtp_host",
            "alerts.email_from",
            "alerts.email_to[0]",
            "alerts.slack_webhook_url",
            "admin.allowed_cidrs[1]",
            "admin.max_body_bytes",
            "discord.connection_timeout",
            "database.path",
        ]
        .into();
        assert_eq!(keys, expected, "{problems:#?}");
        let from = problem_for(&problems, "alerts.email_from");
        assert_eq!(from.source, ProblemSource::Unset);
        assert!(from.hint.as_deref().unwrap().contains("EMAIL_FROM"));
    }

    #[test]
    fn llm_providers_and_routes_load_and_are_checked() {
        let good = r#"{"llm": {
            "daily_cost_limit": 10.0,
            "providers": [
                {"name": "gemini", "kind": "gemini", "base_url": "https://generativelanguage.googleapis.com",
                 "api_key": "zq-gem-key", "timeout_secs": 30,
                 "models": [{"name": "gemini-2.5-flash", "input_usd_per_mtok": 0.30,
                             "output_usd_per_mtok": 2.50, "context_tokens": 1048576}]},
                {"name": "local", "kind": "openai-compatible", "base_url": "http://127.0.0.1:11434/v1",
                 "models": [{"name": "smollm2", "input_usd_per_mtok": 0, "output_usd_per_mtok": 0}]}
            ],
            "routes": {"default": ["gemini/gemini-2.5-flash", "local/smollm2"],
                       "triage": ["local/smollm2"]}
        }}"#;
        let config = load_str(good, &no_env()).unwrap();
        assert_eq!(config.llm.providers.len(), 2);
        assert_eq!(config.llm.routes.triage, ["local/smollm2"]);
        assert_eq!(config.secrets().len(), 1);
        assert!(!config.show_json().contains("zq-gem-key"));

        let bad = r#"{"llm": {
            "providers": [
                {"name": "a", "kind": "openai", "base_url": "ftp://x",
                 "models": [{"name": "m1", "input_usd_per_mtok": -1, "output_usd_per_mtok": 1}]},
                {"name": "a", "kind": "openai-compatible", "models": [{"name": "m"}]}
            ],
            "routes": {"default": ["a/m1", "zz/m", "a/nope", "plain"]}
        }}"#;
        let problems = problems_of(load_str(bad, &no_env()));
        let keys: BTreeSet<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        let expected: BTreeSet<&str> = [
            "llm.providers[0].base_url",
            "llm.providers[0].models[0].input_usd_per_mtok",
            "llm.providers[1].name",
            "llm.routes.default[1]",
            "llm.routes.default[2]",
            "llm.routes.default[3]",
        ]
        .into();
        assert_eq!(keys, expected, "{problems:#?}");

        let unknown_kind = r#"{"llm": {"providers": [{"name": "b", "kind": "gemeni"}]}}"#;
        let problems = problems_of(load_str(unknown_kind, &no_env()));
        assert_eq!(problems[0].key, "llm.providers[0].kind", "{problems:#?}");
    }

    #[test]
    fn flat_alert_keys_are_the_email_and_slack_routes() {
        use crate::actors::alert::config::{RouteTarget, SmtpTls};
        let env = MapEnv::new([
            ("SLACK_ENABLED", "true"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x",
            ),
        ]);
        let config = load_str(GUIDE_EXAMPLE, &env).unwrap();
        let routes = config.alerts.routes();
        let names: Vec<&str> = routes.iter().map(|route| route.name.as_str()).collect();
        assert_eq!(names, ["email", "slack"]);
        let RouteTarget::Email(email) = &routes[0].target else {
            panic!("{routes:?}");
        };
        assert_eq!(email.smtp_host, "smtp.gmail.com");
        assert_eq!((email.smtp_port, email.tls), (587, SmtpTls::Starttls));
        assert_eq!(email.to, ["admin@company.com"]);
    }

    #[test]
    fn the_issue_routes_load_and_their_secrets_stay_hidden() {
        use crate::actors::alert::config::{RouteKind, Severity};
        let text = r#"{"alerts": {"routes": [
          {"name": "ops-mail", "kind": "email", "min_severity": "warning", "smtp_host": "smtp.example.com",
           "smtp_port": 587, "tls": "starttls", "tls_ca_file": null, "username": "u", "password": "zq-route-pass",
           "from": "discord-monitor@example.com", "to": ["admin@example.com"]},
          {"name": "slack", "kind": "slack", "webhook_url": "https://hooks.slack.com/zq-route-slack", "min_severity": "info"},
          {"name": "hook", "kind": "webhook", "url": "https://example.com/hook", "headers": {"X-Env": "prod"},
           "hmac_secret": "zq-route-hmac", "min_severity": "info"},
          {"name": "discord", "kind": "discord_webhook", "url": "https://discord.com/api/webhooks/zq-route-discord"}
        ]}}"#;
        let config = load_str(text, &no_env()).unwrap();
        let routes = config.alerts.routes();
        let kinds: Vec<RouteKind> = routes.iter().map(|route| route.target.kind()).collect();
        assert_eq!(
            kinds,
            [
                RouteKind::Email,
                RouteKind::Slack,
                RouteKind::Webhook,
                RouteKind::DiscordWebhook
            ]
        );
        assert_eq!(routes[0].min_severity, Severity::Warning);
        assert_eq!(config.secrets().len(), 5);
        let shown = config.show_json();
        for secret in [
            "zq-route-pass",
            "zq-route-slack",
            "zq-route-hmac",
            "zq-route-discord",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn route_problems_name_their_key_path() {
        let text = r#"{"alerts": {"email_enabled": false, "routes": [
          {"name": "a", "kind": "email", "smtp_host": "h", "from": "nobody", "webhook_url": "https://x/y"},
          {"name": "a", "kind": "webhook", "url": "zq-not-a-url-secret"},
          {"name": "b", "kind": "slack", "webhook_url": "https://x/y", "smtp_prot": 25},
          {"name": "c", "kind": "pager", "url": "https://x"},
          {"name": "d", "kind": "webhook", "url": "https://x", "hmac_secret": 12345678}
        ]}}"#;
        let err = load_str(text, &no_env()).unwrap_err();
        let rendered = err.to_string();
        let problems = err.problems();
        let keys: BTreeSet<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "alerts.routes[0].to",
            "alerts.routes[0].from",
            "alerts.routes[0].webhook_url",
            "alerts.routes[1].name",
            "alerts.routes[1].url",
            "alerts.routes[2].smtp_prot",
            "alerts.routes[3].kind",
            "alerts.routes[4].hmac_secret",
        ] {
            assert!(keys.contains(key), "{key} missing in {rendered}");
        }
        let typo = problem_for(problems, "alerts.routes[2].smtp_prot");
        assert!(
            typo.hint
                .as_deref()
                .unwrap()
                .contains("did you mean `smtp_port`?"),
            "{typo:?}"
        );
        assert!(!rendered.contains("zq-not-a-url-secret"), "{rendered}");
        assert!(!rendered.contains("12345678"), "{rendered}");
    }

    #[test]
    fn explicit_missing_file_is_an_error_implicit_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.json");
        let err = Config::load(&path, true, &no_env()).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        assert!(err.to_string().contains("absent.json"), "{err}");

        let env = MapEnv::new([("WORKER_COUNT", "8")]);
        let config = Config::load(&path, false, &env).unwrap();
        assert_eq!(config.processing.worker_count, 8);
        assert_eq!(
            Config {
                processing: ProcessingConfig {
                    worker_count: 8,
                    ..ProcessingConfig::default()
                },
                ..Config::default()
            },
            config
        );
    }

    #[test]
    fn unreadable_path_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(dir.path(), false, &no_env()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn config_path_precedence() {
        let env = MapEnv::new([(CONFIG_PATH_VAR, "/etc/dm/config.json")]);
        assert_eq!(
            config_path(Some("cli.json".into()), &env),
            (PathBuf::from("cli.json"), true)
        );
        assert_eq!(
            config_path(None, &env),
            (PathBuf::from("/etc/dm/config.json"), true)
        );
        assert_eq!(
            config_path(None, &MapEnv::new([(CONFIG_PATH_VAR, "")])),
            (PathBuf::from(DEFAULT_CONFIG_PATH), false)
        );
        assert_eq!(
            config_path(None, &no_env()),
            (PathBuf::from(DEFAULT_CONFIG_PATH), false)
        );
    }
}
