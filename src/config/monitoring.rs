//! `monitoring` section: logs, health checks and the admin listener.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::catalogue::{Section, SectionDoc};
use super::env::{EnvOverride, ValueKind};
use super::keys::{Allowed, KeyDoc};
use super::problems::Problems;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// env `LOG_LEVEL` (deployment guide's key name).
    pub log_level: LogLevel,
    /// Directory for the rotated JSON log files; env `LOG_DIR` (deployment guide's key name).
    pub log_dir: PathBuf,
    /// Also write every log line to stdout, for log shipping.
    pub log_to_stdout: bool,
    /// Size at which `discord_monitor.jsonl` is rotated, in MiB.
    pub log_file_max_mb: u64,
    /// Rotated `discord_monitor.jsonl` files kept.
    pub log_file_count: u32,
    /// Size at which `errors.jsonl` (warnings and worse) is rotated, in MiB.
    pub error_log_max_mb: u64,
    /// Rotated `errors.jsonl` files kept.
    pub error_log_count: u32,
    /// Operations slower than this are logged under `performance`.
    pub slow_operation_threshold_ms: u64,
    /// How often components are probed for health (deployment guide's key name).
    pub health_check_interval_seconds: u64,
    /// Port of the admin/health HTTP API; env `HEALTH_CHECK_PORT`.
    pub health_check_port: u16,
    /// Address the admin API binds to; env `HEALTH_CHECK_HOST`. All interfaces by default so
    /// container probes reach it; protected routes still need a token or a loopback caller.
    pub health_check_host: String,
    /// Seconds a SIGTERM/SIGINT shutdown may take before the process exits anyway; below
    /// Kubernetes' default 30 s grace period.
    pub shutdown_timeout_secs: u64,
    /// Restarts a component may need within `component_restart_window_secs` before it is
    /// marked failed (readiness off) instead of being restarted again.
    pub component_restart_limit: u32,
    /// The window over which restarts are counted.
    pub component_restart_window_secs: u64,
    /// Wait before the first restart of a failed component; doubles with each restart in
    /// the window.
    pub component_restart_backoff_initial_ms: u64,
    /// Ceiling of that wait.
    pub component_restart_backoff_max_ms: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            log_level: LogLevel::Info,
            log_dir: PathBuf::from("logs"),
            log_to_stdout: true,
            log_file_max_mb: default_log_file_max_mb(),
            log_file_count: default_log_file_count(),
            error_log_max_mb: default_error_log_max_mb(),
            error_log_count: default_error_log_count(),
            slow_operation_threshold_ms: default_slow_operation_threshold_ms(),
            health_check_interval_seconds: default_health_check_interval_seconds(),
            health_check_port: default_health_check_port(),
            health_check_host: default_health_check_host(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            component_restart_limit: default_component_restart_limit(),
            component_restart_window_secs: default_component_restart_window_secs(),
            component_restart_backoff_initial_ms: default_component_restart_backoff_initial_ms(),
            component_restart_backoff_max_ms: default_component_restart_backoff_max_ms(),
        }
    }
}

impl Section for MonitoringConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[],
    };

    fn check_not_empty(&self, problems: &mut Problems) {
        if self.log_dir.as_os_str().is_empty() {
            problems.report("monitoring.log_dir", "must not be empty", None);
        }
    }

    fn validate(&self, problems: &mut Problems) {
        let host = &self.health_check_host;
        if host.parse::<IpAddr>().is_err() {
            problems.report(
                "monitoring.health_check_host",
                format!("`{host}` is not an IP address"),
                Some(
                    "use 0.0.0.0 (all interfaces), 127.0.0.1 (this machine only) or ::".to_owned(),
                ),
            );
        }
    }
}

const KEYS: &[KeyDoc] = &[
    KeyDoc::new(
        "monitoring",
        "Logs, health checks and the admin API listener.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "monitoring.log_level",
        "Least severe level logged (any case; WARN, TRACE and FATAL also accepted).",
        Allowed::OneOf(LOG_LEVELS),
    ),
    KeyDoc::new(
        "monitoring.log_dir",
        "Directory of the rotated JSON log files.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "monitoring.log_to_stdout",
        "Also write every log line to stdout, for log shipping.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "monitoring.log_file_max_mb",
        "MiB at which discord_monitor.jsonl is rotated.",
        Allowed::range(1.0, 1_048_576.0),
    ),
    KeyDoc::new(
        "monitoring.log_file_count",
        "Rotated discord_monitor.jsonl files kept.",
        Allowed::range(1.0, 1_000.0),
    ),
    KeyDoc::new(
        "monitoring.error_log_max_mb",
        "MiB at which errors.jsonl (warnings and worse) is rotated.",
        Allowed::range(1.0, 1_048_576.0),
    ),
    KeyDoc::new(
        "monitoring.error_log_count",
        "Rotated errors.jsonl files kept.",
        Allowed::range(1.0, 1_000.0),
    ),
    KeyDoc::new(
        "monitoring.slow_operation_threshold_ms",
        "Milliseconds above which an operation is logged under `performance`.",
        Allowed::range(1.0, 3_600_000.0),
    ),
    KeyDoc::new(
        "monitoring.health_check_interval_seconds",
        "Seconds between component health probes.",
        Allowed::range(1.0, 86_400.0),
    ),
    KeyDoc::new(
        "monitoring.health_check_port",
        "TCP port of the health and admin HTTP API.",
        Allowed::PORT,
    ),
    KeyDoc::new(
        "monitoring.health_check_host",
        "IP address the health and admin API binds to (0.0.0.0 for all interfaces).",
        Allowed::Any,
    ),
    KeyDoc::new(
        "monitoring.shutdown_timeout_secs",
        "Seconds a SIGTERM/SIGINT shutdown may take before the process exits anyway.",
        Allowed::range(1.0, 600.0),
    ),
    KeyDoc::new(
        "monitoring.component_restart_limit",
        "Restarts a component may need within the restart window before it is marked failed \
         (readiness off) instead of restarted again.",
        Allowed::range(1.0, 1000.0),
    ),
    KeyDoc::new(
        "monitoring.component_restart_window_secs",
        "Seconds over which component restarts are counted.",
        Allowed::range(1.0, 86_400.0),
    ),
    KeyDoc::new(
        "monitoring.component_restart_backoff_initial_ms",
        "Milliseconds before the first restart of a failed component; doubles per restart.",
        Allowed::range(1.0, 600_000.0),
    ),
    KeyDoc::new(
        "monitoring.component_restart_backoff_max_ms",
        "Ceiling of the restart backoff, in milliseconds.",
        Allowed::range(1.0, 3_600_000.0),
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("LOG_LEVEL", "monitoring.log_level", ValueKind::Text),
    EnvOverride::new("LOG_DIR", "monitoring.log_dir", ValueKind::Path),
    EnvOverride::new(
        "HEALTH_CHECK_PORT",
        "monitoring.health_check_port",
        ValueKind::Integer,
    ),
    EnvOverride::new(
        "HEALTH_CHECK_HOST",
        "monitoring.health_check_host",
        ValueKind::Text,
    ),
];

/// MiB; the deployment guide's rotation size for the application log.
pub const fn default_log_file_max_mb() -> u64 {
    100
}

/// The deployment guide's retention for the application log.
pub const fn default_log_file_count() -> u32 {
    5
}

/// MiB; the deployment guide's rotation size for the error log.
pub const fn default_error_log_max_mb() -> u64 {
    50
}

/// The deployment guide's retention for the error log.
pub const fn default_error_log_count() -> u32 {
    3
}

/// Milliseconds: a database batch or an HTTP call slower than a second is worth a look.
pub const fn default_slow_operation_threshold_ms() -> u64 {
    1_000
}

/// Seconds; the deployment guide's default.
pub const fn default_health_check_interval_seconds() -> u64 {
    30
}

/// The deployment guide's port.
pub const fn default_health_check_port() -> u16 {
    8080
}

pub fn default_health_check_host() -> String {
    "0.0.0.0".to_owned()
}

/// Seconds; leaves headroom inside Kubernetes' 30 s termination grace period.
pub const fn default_shutdown_timeout_secs() -> u64 {
    20
}

/// Five restarts in ten minutes: enough to ride out a flapping dependency, few enough that a
/// component that cannot work is reported failed within minutes.
pub const fn default_component_restart_limit() -> u32 {
    5
}

/// Seconds; see [`default_component_restart_limit`].
pub const fn default_component_restart_window_secs() -> u64 {
    600
}

/// Milliseconds: most transient failures (a dropped connection, a locked database) are over
/// within a second, and it keeps a crash loop from burning CPU.
pub const fn default_component_restart_backoff_initial_ms() -> u64 {
    1_000
}

/// Milliseconds: a component is retried at least once a minute.
pub const fn default_component_restart_backoff_max_ms() -> u64 {
    60_000
}

/// Log levels named as the deployment guide's log lines name them (`WARNING`, not `WARN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Critical,
    Error,
    Warning,
    Info,
    Debug,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Critical,
        LogLevel::Error,
        LogLevel::Warning,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Critical => "CRITICAL",
            LogLevel::Error => "ERROR",
            LogLevel::Warning => "WARNING",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
        }
    }
}

/// Spellings `monitoring.log_level` prints; it also accepts any case, `WARN`, `TRACE`, `FATAL`.
const LOG_LEVELS: &[&str] = &[
    LogLevel::Critical.as_str(),
    LogLevel::Error.as_str(),
    LogLevel::Warning.as_str(),
    LogLevel::Info.as_str(),
    LogLevel::Debug.as_str(),
];

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level `{0}` (expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL)")]
pub struct UnknownLogLevel(pub String);

impl FromStr for LogLevel {
    type Err = UnknownLogLevel;

    /// Case-insensitive; `WARN` and `TRACE` are accepted because Python and Rust users type them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" | "FATAL" => Ok(LogLevel::Critical),
            "ERROR" => Ok(LogLevel::Error),
            "WARNING" | "WARN" => Ok(LogLevel::Warning),
            "INFO" => Ok(LogLevel::Info),
            "DEBUG" | "TRACE" => Ok(LogLevel::Debug),
            _ => Err(UnknownLogLevel(s.to_owned())),
        }
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}
