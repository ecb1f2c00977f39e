//! The catalogue of configuration keys: what each means and which values it allows. It feeds
//! range validation, the hints of problems, the commented sample and the README table, so the
//! four never disagree. A test checks it covers exactly the keys of [`super::Config`].

use std::fmt;

use super::{Environment, LogLevel};
use crate::actors::llm::config::KNOWN_PROVIDERS;

/// One key (or section) of the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyDoc {
    /// Dotted path, `database.connection_pool_size`; a section is its bare name.
    pub key: &'static str,
    /// Meaning, with the unit where there is one.
    pub doc: &'static str,
    pub allowed: Allowed,
}

/// Which values a key accepts beyond its JSON type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    Any,
    /// Inclusive bounds unless `min_exclusive`; `max: None` means unbounded above.
    Range {
        min: f64,
        min_exclusive: bool,
        max: Option<f64>,
    },
    OneOf(&'static [&'static str]),
}

impl Allowed {
    pub fn permits(&self, number: f64) -> bool {
        match *self {
            Allowed::Range {
                min,
                min_exclusive,
                max,
            } => {
                let above_min = if min_exclusive {
                    number > min
                } else {
                    number >= min
                };
                above_min && max.is_none_or(|max| number <= max)
            }
            Allowed::Any | Allowed::OneOf(_) => true,
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Allowed::Any => f.write_str("any value of its type"),
            Allowed::Range {
                min,
                min_exclusive: false,
                max: Some(max),
            } => write!(f, "{min} to {max}"),
            Allowed::Range {
                min,
                min_exclusive: true,
                max: Some(max),
            } => write!(f, "above {min}, at most {max}"),
            Allowed::Range {
                min,
                min_exclusive: false,
                max: None,
            } => write!(f, "at least {min}"),
            Allowed::Range {
                min,
                min_exclusive: true,
                max: None,
            } => write!(f, "above {min}"),
            Allowed::OneOf(values) => f.write_str(&values.join(", ")),
        }
    }
}

const fn range(min: f64, max: f64) -> Allowed {
    Allowed::Range {
        min,
        min_exclusive: false,
        max: Some(max),
    }
}

const fn at_least(min: f64) -> Allowed {
    Allowed::Range {
        min,
        min_exclusive: false,
        max: None,
    }
}

const fn above_at_most(min: f64, max: f64) -> Allowed {
    Allowed::Range {
        min,
        min_exclusive: true,
        max: Some(max),
    }
}

const fn key(key: &'static str, doc: &'static str, allowed: Allowed) -> KeyDoc {
    KeyDoc { key, doc, allowed }
}

const ANY: Allowed = Allowed::Any;
const PORT: Allowed = range(1.0, 65_535.0);

/// Spellings the `environment` key accepts.
pub const ENVIRONMENTS: &[&str] = &[
    Environment::Development.as_str(),
    Environment::Staging.as_str(),
    Environment::Production.as_str(),
];
/// Spellings `monitoring.log_level` prints; it also accepts any case, `WARN`, `TRACE`, `FATAL`.
pub const LOG_LEVELS: &[&str] = &[
    LogLevel::Critical.as_str(),
    LogLevel::Error.as_str(),
    LogLevel::Warning.as_str(),
    LogLevel::Info.as_str(),
    LogLevel::Debug.as_str(),
];
/// Bytes: the admin API takes small JSON bodies; 16 MiB is a generous ceiling.
pub const MAX_ADMIN_BODY_BYTES: f64 = 16.0 * 1024.0 * 1024.0;

/// Every key, in the order of the structs' fields.
pub const KEYS: &[KeyDoc] = &[
    key(
        "environment",
        "Deployment stage, shown in logs and /status.",
        Allowed::OneOf(ENVIRONMENTS),
    ),
    key("debug_mode", "More detail in logs and error answers.", ANY),
    key("discord", "How the service talks to Discord.", ANY),
    key(
        "discord.token",
        "Discord token. Only `run` needs it; never printed.",
        ANY,
    ),
    key(
        "discord.rate_limit_requests_per_minute",
        "Ceiling on our own REST calls, per minute, kept below Discord's limits.",
        range(1.0, 3_000.0),
    ),
    key(
        "discord.max_retries",
        "Retries of a failed REST call before it is reported failed.",
        range(0.0, 20.0),
    ),
    key(
        "discord.connection_timeout",
        "Seconds to wait for a connection to Discord.",
        above_at_most(0.0, 300.0),
    ),
    key(
        "discord.token_type",
        "`bot` (recommended) or `user` (the seed's mode; automating a user account breaks \
         Discord's terms).",
        Allowed::OneOf(&["bot", "user"]),
    ),
    key(
        "discord.api_base_url",
        "REST base URL with the API version; change only for a proxy or discord-sim.",
        ANY,
    ),
    key(
        "discord.gateway_url",
        "Gateway URL to use instead of the one GET /gateway/bot returns.",
        ANY,
    ),
    key(
        "discord.compression",
        "Gateway transport compression.",
        Allowed::OneOf(&["zlib-stream", "none"]),
    ),
    key(
        "discord.intents",
        "Gateway intents by name: GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT \
         (privileged: enable it in the developer portal).",
        ANY,
    ),
    key(
        "discord.shard_id",
        "This process's shard.",
        range(0.0, 65_535.0),
    ),
    key(
        "discord.shard_count",
        "Number of shards (each serves up to 2500 guilds).",
        range(1.0, 65_536.0),
    ),
    key(
        "discord.guild_ids",
        "Only these guilds; empty means every guild the token can see.",
        ANY,
    ),
    key(
        "discord.channel_ids",
        "Only these channels (and their threads); empty means every channel.",
        ANY,
    ),
    key(
        "discord.ignored_channel_ids",
        "Never these channels (nor their threads).",
        ANY,
    ),
    key(
        "discord.backfill_max_messages_per_channel",
        "Messages fetched per channel on the first backfill; 0 starts from now.",
        range(0.0, 1_000_000.0),
    ),
    key(
        "discord.backfill_interval_secs",
        "Seconds between scheduled backfill passes, the safety net behind the gateway.",
        range(10.0, 86_400.0),
    ),
    key(
        "discord.backfill_concurrent_channels",
        "Channels a backfill pass pages at once (each is its own Discord rate-limit bucket; all share rate_limit_requests_per_minute).",
        range(1.0, 32.0),
    ),
    key(
        "llm",
        "Which LLM providers may be called and what they may cost.",
        ANY,
    ),
    key(
        "llm.google_api_key",
        "Google Gemini API key; never printed.",
        ANY,
    ),
    key("llm.openai_api_key", "OpenAI API key; never printed.", ANY),
    key(
        "llm.openrouter_api_key",
        "OpenRouter API key; never printed.",
        ANY,
    ),
    key(
        "llm.daily_cost_limit",
        "US dollars that LLM calls may cost per UTC day, all providers together.",
        at_least(0.0),
    ),
    key(
        "llm.default_provider",
        "Provider asked first.",
        Allowed::OneOf(KNOWN_PROVIDERS),
    ),
    key(
        "llm.fallback_providers",
        "Model names of the default provider tried in order when the first fails.",
        ANY,
    ),
    key(
        "llm.providers",
        "Providers that may be called; empty builds them from the keys above. Each entry: \
         `name` (unique), `kind` (gemini, openai, openrouter, openai-compatible for Ollama, \
         vLLM or llama.cpp), `base_url` (default: the kind's public endpoint), `api_key` \
         (default: the matching key above; never printed), `timeout_secs` (default 30), \
         `max_output_tokens` (default 2048) and `models`: [{`name`, `input_usd_per_mtok`, \
         `output_usd_per_mtok`, `context_tokens`}], prices in US dollars per million tokens \
         (default: the known price; $0 for openai-compatible).",
        ANY,
    ),
    key(
        "llm.routes",
        "Ordered fallback chains of `provider/model` targets per request kind.",
        ANY,
    ),
    key(
        "llm.routes.default",
        "Chain for every kind without its own; empty means `default_provider` then \
         `fallback_providers`, or every listed model in order.",
        ANY,
    ),
    key(
        "llm.routes.triage",
        "Chain for message triage (a cheap model fits); empty uses `default`.",
        ANY,
    ),
    key(
        "llm.routes.digest",
        "Chain for digests; empty uses `default`.",
        ANY,
    ),
    key(
        "llm.routes.ask",
        "Chain for questions about the messages; empty uses `default`.",
        ANY,
    ),
    key(
        "database",
        "Where messages are stored and how they are backed up.",
        ANY,
    ),
    key(
        "database.path",
        "SQLite database file; parent directories are created.",
        ANY,
    ),
    key(
        "database.backup_dir",
        "Directory for database backups.",
        ANY,
    ),
    key(
        "database.backup_interval_hours",
        "Hours between database backups.",
        above_at_most(0.0, 8_760.0),
    ),
    key(
        "database.max_backups",
        "Backups kept before the oldest is deleted.",
        range(1.0, 10_000.0),
    ),
    key(
        "database.connection_pool_size",
        "Database connections kept open.",
        range(1.0, 64.0),
    ),
    key(
        "database.busy_timeout_ms",
        "Milliseconds SQLite waits for a lock held by another connection before failing.",
        range(1.0, 600_000.0),
    ),
    key(
        "processing",
        "The pipeline between intake and storage.",
        ANY,
    ),
    key(
        "processing.max_queue_size",
        "Items queued between intake and storage before intake slows down.",
        range(1.0, 10_000_000.0),
    ),
    key(
        "processing.worker_count",
        "Concurrent processing workers.",
        range(1.0, 256.0),
    ),
    key(
        "processing.memory_limit_mb",
        "MiB of memory the service may use; health and alerts compare against it.",
        at_least(64.0),
    ),
    key(
        "monitoring",
        "Logs, health checks and the admin API listener.",
        ANY,
    ),
    key(
        "monitoring.log_level",
        "Least severe level logged (any case; WARN, TRACE and FATAL also accepted).",
        Allowed::OneOf(LOG_LEVELS),
    ),
    key(
        "monitoring.log_dir",
        "Directory of the rotated JSON log files.",
        ANY,
    ),
    key(
        "monitoring.log_to_stdout",
        "Also write every log line to stdout, for log shipping.",
        ANY,
    ),
    key(
        "monitoring.log_file_max_mb",
        "MiB at which discord_monitor.jsonl is rotated.",
        range(1.0, 1_048_576.0),
    ),
    key(
        "monitoring.log_file_count",
        "Rotated discord_monitor.jsonl files kept.",
        range(1.0, 1_000.0),
    ),
    key(
        "monitoring.error_log_max_mb",
        "MiB at which errors.jsonl (warnings and worse) is rotated.",
        range(1.0, 1_048_576.0),
    ),
    key(
        "monitoring.error_log_count",
        "Rotated errors.jsonl files kept.",
        range(1.0, 1_000.0),
    ),
    key(
        "monitoring.slow_operation_threshold_ms",
        "Milliseconds above which an operation is logged under `performance`.",
        range(1.0, 3_600_000.0),
    ),
    key(
        "monitoring.health_check_interval_seconds",
        "Seconds between component health probes.",
        range(1.0, 86_400.0),
    ),
    key(
        "monitoring.health_check_port",
        "TCP port of the health and admin HTTP API.",
        PORT,
    ),
    key(
        "monitoring.health_check_host",
        "IP address the health and admin API binds to (0.0.0.0 for all interfaces).",
        ANY,
    ),
    key(
        "monitoring.shutdown_timeout_secs",
        "Seconds a SIGTERM/SIGINT shutdown may take before the process exits anyway.",
        range(1.0, 600.0),
    ),
    key(
        "monitoring.component_restart_limit",
        "Restarts a component may need within the restart window before it is marked failed \
         (readiness off) instead of restarted again.",
        range(1.0, 1000.0),
    ),
    key(
        "monitoring.component_restart_window_secs",
        "Seconds over which component restarts are counted.",
        range(1.0, 86_400.0),
    ),
    key(
        "monitoring.component_restart_backoff_initial_ms",
        "Milliseconds before the first restart of a failed component; doubles per restart.",
        range(1.0, 600_000.0),
    ),
    key(
        "monitoring.component_restart_backoff_max_ms",
        "Ceiling of the restart backoff, in milliseconds.",
        range(1.0, 3_600_000.0),
    ),
    key("alerts", "Where operational alerts are delivered.", ANY),
    key("alerts.email_enabled", "Send alerts by email.", ANY),
    key(
        "alerts.email_smtp_host",
        "SMTP server; required when email is enabled.",
        ANY,
    ),
    key("alerts.email_smtp_port", "SMTP port (587: STARTTLS).", PORT),
    key("alerts.email_username", "SMTP login name.", ANY),
    key(
        "alerts.email_password",
        "SMTP password; never printed.",
        ANY,
    ),
    key(
        "alerts.email_from",
        "Sender address; required when email is enabled.",
        ANY,
    ),
    key(
        "alerts.email_to",
        "Recipient addresses; at least one when email is enabled.",
        ANY,
    ),
    key("alerts.slack_enabled", "Send alerts to Slack.", ANY),
    key(
        "alerts.slack_webhook_url",
        "Slack incoming-webhook URL (http or https); required when Slack is enabled; never printed.",
        ANY,
    ),
    key(
        "alerts.routes",
        "Further destinations, each an object with `name` (unique), `kind` (email, slack, \
         webhook, discord_webhook), `enabled` (true), `min_severity` (info, warning, error, \
         critical), `max_per_minute` (30), `timeout_secs` (30) and `events` (only these events; \
         empty: all); email: `smtp_host`, \
         `smtp_port`, `tls` (starttls, implicit, none), `tls_ca_file`, `username`, `password`, \
         `from`, `to`; slack: `webhook_url`; webhook: `url`, `headers`, `hmac_secret` \
         (X-Signature-256 header); discord_webhook: `url`. The flat email/Slack keys above \
         are the routes named `email` and `slack`. Secrets are never printed.",
        ANY,
    ),
    key(
        "alerts.cooldown_secs",
        "Seconds before the same condition is sent again (as a reminder while it still fires).",
        range(1.0, 604_800.0),
    ),
    key(
        "alerts.retry_initial_secs",
        "Seconds before the first retry of a failed delivery; doubles per attempt, with jitter.",
        range(1.0, 3_600.0),
    ),
    key(
        "alerts.retry_max_secs",
        "Ceiling of the retry backoff, in seconds; undelivered alerts are retried forever.",
        range(1.0, 86_400.0),
    ),
    key(
        "alerts.breaker_failure_threshold",
        "Failed deliveries in a row that open a route's circuit breaker and raise an alert on \
         the other routes.",
        range(1.0, 1_000.0),
    ),
    key(
        "alerts.breaker_open_secs",
        "Seconds an open breaker waits before one trial delivery.",
        range(1.0, 86_400.0),
    ),
    key(
        "alerts.outbox_retention_days",
        "Days delivered and failed alerts are kept in the outbox (pending ones stay until \
         delivered).",
        range(1.0, 3_650.0),
    ),
    key(
        "alerts.rules_interval_secs",
        "Seconds between evaluations of the operational alert rules.",
        range(1.0, 3_600.0),
    ),
    key(
        "alerts.memory_percent",
        "Memory use, in percent of the container's cgroup limit (else \
         `processing.memory_limit_mb`), above which `memory_high` fires.",
        above_at_most(0.0, 100.0),
    ),
    key(
        "alerts.memory_sustain_secs",
        "Seconds memory must stay above `memory_percent` before the alert fires.",
        range(0.0, 86_400.0),
    ),
    key(
        "alerts.cpu_percent",
        "CPU use, in percent of the container's CPU quota (else the host's cores), above which \
         `cpu_high` fires.",
        above_at_most(0.0, 100.0),
    ),
    key(
        "alerts.cpu_sustain_secs",
        "Seconds CPU must stay above `cpu_percent` before the alert fires.",
        range(0.0, 86_400.0),
    ),
    key(
        "alerts.discord_errors_per_minute",
        "Discord API errors (4xx/5xx/429 answers, gateway reconnects) per minute that count as \
         a spike.",
        above_at_most(0.0, 1_000_000.0),
    ),
    key(
        "alerts.pipeline_stall_secs",
        "Seconds work may wait without progress before the pipeline counts as stalled.",
        range(1.0, 86_400.0),
    ),
    key(
        "alerts.llm_budget_warning_percent",
        "Percent of `llm.daily_cost_limit` spent that raises the budget warning; 100% raises a \
         critical alert.",
        above_at_most(0.0, 100.0),
    ),
    key("admin", "Who may use the admin API.", ANY),
    key(
        "admin.token",
        "Bearer token for /config, /status and /api/*; without one they answer loopback callers only. Never printed.",
        ANY,
    ),
    key(
        "admin.allowed_cidrs",
        "When not empty, every route but the health probes answers only these networks or addresses (10.0.0.0/8, 192.168.1.7, ::1).",
        ANY,
    ),
    key(
        "admin.max_body_bytes",
        "Largest admin request body accepted, in bytes.",
        range(1.0, MAX_ADMIN_BODY_BYTES),
    ),
];

/// Names of the keys directly inside `parent` (`""` for the top level), in file order.
pub fn child_keys(parent: &str) -> Vec<&'static str> {
    KEYS.iter()
        .filter_map(|doc| match doc.key.rsplit_once('.') {
            Some((key_parent, name)) if key_parent == parent => Some(name),
            None if parent.is_empty() => Some(doc.key),
            _ => None,
        })
        .collect()
}

/// True for a top-level key holding other keys (`discord`, `llm`, ...).
pub fn is_section(key: &str) -> bool {
    !key.contains('.') && !child_keys(key).is_empty()
}

pub fn key_doc(key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|doc| doc.key == key)
}

/// The closest of `candidates` to `typed`, when close enough to be a likely typo.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed_lower = typed.to_ascii_lowercase();
    // A third of the word, at least 2 edits: catches transpositions and dropped letters without
    // proposing unrelated short keys.
    let limit = (typed.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&typed_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The allowed values, led by the likely intended one when `typed` is close to one of them.
pub(crate) fn one_of_hint(values: &[&str], typed: Option<&str>) -> String {
    let suggestion = typed
        .and_then(|typed| closest(typed, values.iter().copied()))
        .map(|value| format!("did you mean `{value}`? "))
        .unwrap_or_default();
    format!("{suggestion}allowed values: {}", values.join(", "))
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("log_levl", "log_level"), 1);
        assert_eq!(edit_distance("tokne", "token"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn closest_proposes_typos_not_strangers() {
        let keys = ["log_level", "log_dir", "health_check_port"];
        assert_eq!(closest("log_levl", keys), Some("log_level"));
        assert_eq!(closest("LOG_LEVEL", keys), Some("log_level"));
        assert_eq!(closest("colour", keys), None);
    }

    #[test]
    fn ranges_describe_themselves() {
        assert_eq!(range(1.0, 64.0).to_string(), "1 to 64");
        assert_eq!(
            above_at_most(0.0, 300.0).to_string(),
            "above 0, at most 300"
        );
        assert_eq!(at_least(64.0).to_string(), "at least 64");
        assert!(!above_at_most(0.0, 300.0).permits(0.0));
        assert!(above_at_most(0.0, 300.0).permits(300.0));
        assert!(at_least(0.0).permits(1e12));
    }
}
