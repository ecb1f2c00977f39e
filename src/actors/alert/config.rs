//! `alerts` section: where operational alerts and notifications are delivered.
//!
//! Two spellings lead to the same [`Route`]s: the deployment guide's flat keys (`email_*`,
//! `slack_*`, mapped to routes named `email` and `slack`) and the `routes` list, one entry per
//! destination:
//!
//! ```json
//! "alerts": {"routes": [
//!   {"name": "ops-mail", "kind": "email", "min_severity": "warning", "smtp_host": "smtp.example.com",
//!    "smtp_port": 587, "tls": "starttls", "tls_ca_file": null, "username": "...", "password": "...",
//!    "from": "discord-monitor@example.com", "to": ["admin@example.com"]},
//!   {"name": "slack", "kind": "slack", "webhook_url": "https://hooks.slack.com/...", "min_severity": "info"},
//!   {"name": "hook", "kind": "webhook", "url": "https://...", "headers": {"X-Env": "prod"},
//!    "hmac_secret": "...", "min_severity": "info"},
//!   {"name": "discord", "kind": "discord_webhook", "url": "https://discord.com/api/webhooks/..."}
//! ]}
//! ```
//!
//! A route entry is one flat struct ([`RouteConfig`]) rather than a tagged enum so that serde
//! reports every mistake with its exact key path; [`AlertsConfig::routes`] turns the checked
//! entries into typed [`Route`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{
    Allowed, EnvOverride, KeyDoc, ObjectList, Problems, Secret, Section, SectionDoc, ValueKind,
    how_to_set, is_http_url,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// env `EMAIL_ENABLED` (deployment guide's key name).
    pub email_enabled: bool,
    /// env `EMAIL_SMTP_HOST` (deployment guide's key name).
    pub email_smtp_host: Option<String>,
    /// env `EMAIL_SMTP_PORT` (deployment guide's key name).
    pub email_smtp_port: u16,
    /// env `EMAIL_USERNAME` (deployment guide's key name).
    pub email_username: Option<String>,
    /// env `EMAIL_PASSWORD` / `EMAIL_PASSWORD_FILE` (deployment guide's key name).
    pub email_password: Option<Secret>,
    /// env `EMAIL_FROM` (deployment guide's key name).
    pub email_from: Option<String>,
    /// env `EMAIL_TO`, comma-separated (deployment guide's key name).
    pub email_to: Vec<String>,
    /// env `SLACK_ENABLED` (deployment guide's key name).
    pub slack_enabled: bool,
    /// A Slack incoming-webhook URL carries its own credential, so it is a secret.
    /// env `SLACK_WEBHOOK_URL` / `SLACK_WEBHOOK_URL_FILE` (deployment guide's key name).
    pub slack_webhook_url: Option<Secret>,
    /// Destinations beyond the deployment guide's flat email and Slack keys.
    pub routes: Vec<RouteConfig>,
    /// Seconds during which the same condition (same dedup key) is not sent again; after it a
    /// still-firing condition sends one reminder per period.
    pub cooldown_secs: u64,
    /// Seconds before the first retry of a failed delivery; doubles per attempt, with jitter.
    pub retry_initial_secs: u64,
    /// Ceiling of the retry backoff, in seconds.
    pub retry_max_secs: u64,
    /// Consecutive failures that open a route's circuit breaker (no attempts while open) and
    /// raise an alert on the other routes.
    pub breaker_failure_threshold: u32,
    /// Seconds a route's breaker stays open before one trial delivery.
    pub breaker_open_secs: u64,
    /// Days delivered and failed alerts stay in the outbox (and `GET /api/alerts`); pending
    /// ones stay until delivered.
    pub outbox_retention_days: u64,
    /// Seconds between evaluations of the operational alert rules.
    pub rules_interval_secs: u64,
    /// Percent of the memory limit (cgroup, else `processing.memory_limit_mb`) above which
    /// `memory_high` fires.
    pub memory_percent: f64,
    /// Seconds memory must stay above `memory_percent` before the alert fires.
    pub memory_sustain_secs: u64,
    /// Percent of the CPU the process may use (cgroup quota, else the host's cores).
    pub cpu_percent: f64,
    /// Seconds CPU must stay above `cpu_percent` before the alert fires.
    pub cpu_sustain_secs: u64,
    /// Discord API errors (4xx/5xx/429, gateway reconnects) per minute that count as a spike.
    pub discord_errors_per_minute: f64,
    /// Seconds work may wait without progress before the pipeline counts as stalled.
    pub pipeline_stall_secs: u64,
    /// Percent of `llm.daily_cost_limit` that raises the budget warning (100% is critical).
    pub llm_budget_warning_percent: f64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            email_enabled: false,
            email_smtp_host: None,
            email_smtp_port: default_email_smtp_port(),
            email_username: None,
            email_password: None,
            email_from: None,
            email_to: Vec::new(),
            slack_enabled: false,
            slack_webhook_url: None,
            routes: Vec::new(),
            cooldown_secs: default_cooldown_secs(),
            retry_initial_secs: default_retry_initial_secs(),
            retry_max_secs: default_retry_max_secs(),
            breaker_failure_threshold: default_breaker_failure_threshold(),
            breaker_open_secs: default_breaker_open_secs(),
            outbox_retention_days: 30,
            rules_interval_secs: 30,
            memory_percent: 85.0,
            memory_sustain_secs: 60,
            cpu_percent: 90.0,
            cpu_sustain_secs: 300,
            discord_errors_per_minute: 30.0,
            pipeline_stall_secs: 600,
            llm_budget_warning_percent: 80.0,
        }
    }
}

impl Section for AlertsConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[ObjectList {
            key: "alerts.routes",
            entry_keys: ROUTE_KEYS,
            secret_keys: ROUTE_SECRET_KEYS,
        }],
    };

    fn validate(&self, problems: &mut Problems) {
        self.check_email(problems);
        self.check_slack(problems);
        self.check_routes(problems);
    }
}

impl AlertsConfig {
    fn check_email(&self, problems: &mut Problems) {
        if self.email_enabled {
            let required = [
                ("alerts.email_smtp_host", self.email_smtp_host.is_none()),
                ("alerts.email_from", self.email_from.is_none()),
                ("alerts.email_to", self.email_to.is_empty()),
            ];
            for (key, missing) in required {
                if missing {
                    problems.report(
                        key,
                        "required when `alerts.email_enabled` is true",
                        Some(how_to_set(key, ENV_OVERRIDES)),
                    );
                }
            }
        }
        // Checked even while email is off, so turning it on later does not surface old typos.
        let addresses = self
            .email_from
            .iter()
            .map(|address| ("alerts.email_from".to_owned(), address))
            .chain(
                self.email_to
                    .iter()
                    .enumerate()
                    .map(|(index, address)| (format!("alerts.email_to[{index}]"), address)),
            );
        for (key, address) in addresses {
            check_address(&key, address, problems);
        }
    }

    fn check_slack(&self, problems: &mut Problems) {
        let key = "alerts.slack_webhook_url";
        match &self.slack_webhook_url {
            None if self.slack_enabled => problems.report(
                key,
                "required when `alerts.slack_enabled` is true",
                Some(how_to_set(key, ENV_OVERRIDES)),
            ),
            // The URL embeds its credential: say what is wrong without echoing it.
            Some(url) if !is_http_url(url.expose()) => problems.report(
                key,
                "is not an http(s) URL",
                Some("expected https://hooks.slack.com/services/...".to_owned()),
            ),
            _ => {}
        }
    }

    fn check_routes(&self, problems: &mut Problems) {
        // The flat keys own the names `email` and `slack` when they are enabled.
        let mut names: Vec<&str> = [(self.email_enabled, "email"), (self.slack_enabled, "slack")]
            .into_iter()
            .filter_map(|(enabled, name)| enabled.then_some(name))
            .collect();
        for (index, route) in self.routes.iter().enumerate() {
            let prefix = format!("alerts.routes[{index}]");
            let name = route.name.trim();
            if name.is_empty() {
                problems.report(&format!("{prefix}.name"), "must not be empty", None);
            } else if names.contains(&name) {
                problems.report(
                    &format!("{prefix}.name"),
                    format!("route name `{name}` is used twice"),
                    Some(
                        "route names are unique; `email` and `slack` belong to the flat keys \
                         when those are enabled"
                            .to_owned(),
                    ),
                );
            } else {
                names.push(name);
            }
            route.check(&prefix, problems);
        }
        if self.retry_max_secs < self.retry_initial_secs {
            problems.report(
                "alerts.retry_max_secs",
                "must not be below `alerts.retry_initial_secs`",
                None,
            );
        }
    }
}

/// Deliberately loose: catches a name or a host pasted instead of an address, not RFC 5321.
fn is_plausible_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn check_address(key: &str, address: &str, problems: &mut Problems) {
    if !is_plausible_email(address) {
        problems.report(
            key,
            format!("`{address}` is not an email address"),
            Some("write it as name@example.org".to_owned()),
        );
    }
}

const KEYS: &[KeyDoc] = &[
    KeyDoc::new(
        "alerts",
        "Where operational alerts are delivered.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.email_enabled",
        "Send alerts by email.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.email_smtp_host",
        "SMTP server; required when email is enabled.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.email_smtp_port",
        "SMTP port (587: STARTTLS).",
        Allowed::PORT,
    ),
    KeyDoc::new("alerts.email_username", "SMTP login name.", Allowed::Any),
    KeyDoc::new(
        "alerts.email_password",
        "SMTP password; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.email_from",
        "Sender address; required when email is enabled.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.email_to",
        "Recipient addresses; at least one when email is enabled.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.slack_enabled",
        "Send alerts to Slack.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.slack_webhook_url",
        "Slack incoming-webhook URL (http or https); required when Slack is enabled; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.routes",
        "Further destinations, each an object with `name` (unique), `kind` (email, slack, \
         webhook, discord_webhook), `enabled` (true), `min_severity` (info, warning, error, \
         critical), `max_per_minute` (30), `timeout_secs` (30) and `events` (only these events; \
         empty: all); email: `smtp_host`, \
         `smtp_port`, `tls` (starttls, implicit, none), `tls_ca_file`, `username`, `password`, \
         `from`, `to`; slack: `webhook_url`; webhook: `url`, `headers`, `hmac_secret` \
         (X-Signature-256 header); discord_webhook: `url`. The flat email/Slack keys above \
         are the routes named `email` and `slack`. Secrets are never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "alerts.cooldown_secs",
        "Seconds before the same condition is sent again (as a reminder while it still fires).",
        Allowed::range(1.0, 604_800.0),
    ),
    KeyDoc::new(
        "alerts.retry_initial_secs",
        "Seconds before the first retry of a failed delivery; doubles per attempt, with jitter.",
        Allowed::range(1.0, 3_600.0),
    ),
    KeyDoc::new(
        "alerts.retry_max_secs",
        "Ceiling of the retry backoff, in seconds; undelivered alerts are retried forever.",
        Allowed::range(1.0, 86_400.0),
    ),
    KeyDoc::new(
        "alerts.breaker_failure_threshold",
        "Failed deliveries in a row that open a route's circuit breaker and raise an alert on \
         the other routes.",
        Allowed::range(1.0, 1_000.0),
    ),
    KeyDoc::new(
        "alerts.breaker_open_secs",
        "Seconds an open breaker waits before one trial delivery.",
        Allowed::range(1.0, 86_400.0),
    ),
    KeyDoc::new(
        "alerts.outbox_retention_days",
        "Days delivered and failed alerts are kept in the outbox (pending ones stay until \
         delivered).",
        Allowed::range(1.0, 3_650.0),
    ),
    KeyDoc::new(
        "alerts.rules_interval_secs",
        "Seconds between evaluations of the operational alert rules.",
        Allowed::range(1.0, 3_600.0),
    ),
    KeyDoc::new(
        "alerts.memory_percent",
        "Memory use, in percent of the container's cgroup limit (else \
         `processing.memory_limit_mb`), above which `memory_high` fires.",
        Allowed::above_at_most(0.0, 100.0),
    ),
    KeyDoc::new(
        "alerts.memory_sustain_secs",
        "Seconds memory must stay above `memory_percent` before the alert fires.",
        Allowed::range(0.0, 86_400.0),
    ),
    KeyDoc::new(
        "alerts.cpu_percent",
        "CPU use, in percent of the container's CPU quota (else the host's cores), above which \
         `cpu_high` fires.",
        Allowed::above_at_most(0.0, 100.0),
    ),
    KeyDoc::new(
        "alerts.cpu_sustain_secs",
        "Seconds CPU must stay above `cpu_percent` before the alert fires.",
        Allowed::range(0.0, 86_400.0),
    ),
    KeyDoc::new(
        "alerts.discord_errors_per_minute",
        "Discord API errors (4xx/5xx/429 answers, gateway reconnects) per minute that count as \
         a spike.",
        Allowed::above_at_most(0.0, 1_000_000.0),
    ),
    KeyDoc::new(
        "alerts.pipeline_stall_secs",
        "Seconds work may wait without progress before the pipeline counts as stalled.",
        Allowed::range(1.0, 86_400.0),
    ),
    KeyDoc::new(
        "alerts.llm_budget_warning_percent",
        "Percent of `llm.daily_cost_limit` spent that raises the budget warning; 100% raises a \
         critical alert.",
        Allowed::above_at_most(0.0, 100.0),
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("EMAIL_ENABLED", "alerts.email_enabled", ValueKind::Bool),
    EnvOverride::new("EMAIL_SMTP_HOST", "alerts.email_smtp_host", ValueKind::Text),
    EnvOverride::new(
        "EMAIL_SMTP_PORT",
        "alerts.email_smtp_port",
        ValueKind::Integer,
    ),
    EnvOverride::new("EMAIL_USERNAME", "alerts.email_username", ValueKind::Text),
    EnvOverride::new("EMAIL_PASSWORD", "alerts.email_password", ValueKind::Secret),
    EnvOverride::new("EMAIL_FROM", "alerts.email_from", ValueKind::Text),
    EnvOverride::new("EMAIL_TO", "alerts.email_to", ValueKind::List),
    EnvOverride::new("SLACK_ENABLED", "alerts.slack_enabled", ValueKind::Bool),
    EnvOverride::new(
        "SLACK_WEBHOOK_URL",
        "alerts.slack_webhook_url",
        ValueKind::Secret,
    ),
];

// The rule defaults above are the deployment guide's "Default Alerts": memory 85%, CPU 90%
// sustained (5 minutes: shorter bursts are normal during backfill), and the LLM budget at 80/100%.
// A Discord error spike is 30 a minute (one every two seconds is far beyond normal noise); a
// pipeline stall is ten minutes without progress with work waiting.

/// SMTP submission with STARTTLS (the deployment guide's default).
pub const fn default_email_smtp_port() -> u16 {
    587
}

/// Seconds: an hour between reminders of a condition that keeps firing.
pub const fn default_cooldown_secs() -> u64 {
    3_600
}

/// Seconds: a receiver that hiccups gets a second try soon.
pub const fn default_retry_initial_secs() -> u64 {
    5
}

/// Seconds: a receiver that is down for hours is still tried every ten minutes.
pub const fn default_retry_max_secs() -> u64 {
    600
}

/// Failures in a row: enough to ride out a blip, few enough to warn within minutes.
pub const fn default_breaker_failure_threshold() -> u32 {
    5
}

/// Seconds the breaker stays open before a trial delivery.
pub const fn default_breaker_open_secs() -> u64 {
    60
}

/// Deliveries per minute a route accepts by default: enough for a burst of distinct
/// conditions, below Slack's one message per second per webhook.
pub const fn default_max_per_minute() -> u32 {
    30
}

const fn default_true() -> bool {
    true
}

/// How serious an alert is; routes deliver alerts at or above their `min_severity`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Spellings of [`Severity`], for the key catalogue.
pub const SEVERITIES: &[&str] = &["info", "warning", "error", "critical"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    Email,
    Slack,
    Webhook,
    DiscordWebhook,
}

impl RouteKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteKind::Email => "email",
            RouteKind::Slack => "slack",
            RouteKind::Webhook => "webhook",
            RouteKind::DiscordWebhook => "discord_webhook",
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); the upgrade is required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption, for a relay on the same host or network.
    None,
}

/// One entry of `alerts.routes`. Which keys apply depends on `kind`; validation reports keys
/// that are missing or do not belong.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique; names the route in the outbox, logs and `alert test --route`. Required:
    /// defaulted only so that validation (not serde) reports it with the entry's other
    /// problems.
    #[serde(default)]
    pub name: String,
    /// Required, defaulted for the same reason as `name`.
    #[serde(default)]
    pub kind: Option<RouteKind>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub min_severity: Severity,
    /// Deliveries per minute; more wait in the outbox.
    #[serde(default = "default_max_per_minute")]
    pub max_per_minute: u32,
    /// Only these events (`memory_high`, a watch's event, ...); empty means every event.
    /// With `min_severity` this routes alerts to channels by kind or severity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// email: SMTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    /// email: port; default 587 (starttls), 465 (implicit) or 25 (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    /// email: `starttls` (default), `implicit` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SmtpTls>,
    /// email: PEM file of an extra CA to trust (private relays, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// email: SMTP login; AUTH is used when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// slack: incoming-webhook URL (holds its credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    /// webhook, discord_webhook: target URL (a Discord webhook URL holds its token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// webhook: extra request headers; values may be credentials, so they are secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// webhook: key of the `X-Signature-256` HMAC-SHA256 over the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<Secret>,
    /// Seconds one delivery may take (connect, TLS, send).
    #[serde(default = "default_route_timeout_secs")]
    pub timeout_secs: u64,
}

/// Seconds: SMTP dialogues and webhook posts take well under a second when healthy.
pub const fn default_route_timeout_secs() -> u64 {
    30
}

/// The keys a route entry accepts, for unknown-key hints.
pub const ROUTE_KEYS: &[&str] = &[
    "name",
    "kind",
    "enabled",
    "min_severity",
    "max_per_minute",
    "events",
    "smtp_host",
    "smtp_port",
    "tls",
    "tls_ca_file",
    "username",
    "password",
    "from",
    "to",
    "webhook_url",
    "url",
    "headers",
    "hmac_secret",
    "timeout_secs",
];

/// Route keys holding credentials: their values never appear in any message.
pub const ROUTE_SECRET_KEYS: &[&str] =
    &["password", "webhook_url", "url", "headers", "hmac_secret"];

/// A checked, typed route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    pub min_severity: Severity,
    /// Empty: every event.
    pub events: Vec<String>,
    pub max_per_minute: u32,
    pub timeout_secs: u64,
    pub target: RouteTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteTarget {
    Email(EmailTarget),
    Slack { webhook_url: Secret },
    Webhook(WebhookTarget),
    DiscordWebhook { url: Secret },
}

impl RouteTarget {
    pub const fn kind(&self) -> RouteKind {
        match self {
            RouteTarget::Email(_) => RouteKind::Email,
            RouteTarget::Slack { .. } => RouteKind::Slack,
            RouteTarget::Webhook(_) => RouteKind::Webhook,
            RouteTarget::DiscordWebhook { .. } => RouteKind::DiscordWebhook,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailTarget {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub tls_ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    pub url: Secret,
    pub headers: BTreeMap<String, Secret>,
    pub hmac_secret: Option<Secret>,
}

fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "token", "key", "secret", "signature", "cookie"]
        .iter()
        .any(|word| name.contains(word))
}

/// The usual port of each TLS mode.
pub const fn default_smtp_port(tls: SmtpTls) -> u16 {
    match tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Implicit => 465,
        SmtpTls::None => 25,
    }
}

impl AlertsConfig {
    /// Every enabled route: `email` and `slack` from the flat keys first, then `routes`.
    /// Entries missing a required key are left out (validation has reported them).
    pub fn routes(&self) -> Vec<Route> {
        let mut routes = Vec::new();
        if self.email_enabled
            && let (Some(host), Some(from)) = (&self.email_smtp_host, &self.email_from)
            && !self.email_to.is_empty()
        {
            // Port 465 is implicit TLS by convention; everything else upgrades with STARTTLS,
            // as the deployment guide's Gmail settings (587) expect.
            let tls = if self.email_smtp_port == 465 {
                SmtpTls::Implicit
            } else {
                SmtpTls::Starttls
            };
            routes.push(Route {
                name: "email".to_owned(),
                min_severity: Severity::Info,
                events: Vec::new(),
                max_per_minute: default_max_per_minute(),
                timeout_secs: default_route_timeout_secs(),
                target: RouteTarget::Email(EmailTarget {
                    smtp_host: host.clone(),
                    smtp_port: self.email_smtp_port,
                    tls,
                    tls_ca_file: None,
                    username: self.email_username.clone(),
                    password: self.email_password.clone(),
                    from: from.clone(),
                    to: self.email_to.clone(),
                }),
            });
        }
        if self.slack_enabled
            && let Some(url) = &self.slack_webhook_url
        {
            routes.push(Route {
                name: "slack".to_owned(),
                min_severity: Severity::Info,
                events: Vec::new(),
                max_per_minute: default_max_per_minute(),
                timeout_secs: default_route_timeout_secs(),
                target: RouteTarget::Slack {
                    webhook_url: url.clone(),
                },
            });
        }
        routes.extend(
            self.routes
                .iter()
                .filter(|entry| entry.enabled)
                .filter_map(RouteConfig::to_route),
        );
        routes
    }

    /// Every secret of the `routes` list, for the logger's scrubber. Header values count only
    /// under a credential-like name: scrubbing `X-Env: prod` would blank every "prod" in the
    /// logs, while all header values are still shown redacted.
    pub fn route_secrets(&self) -> Vec<&Secret> {
        self.routes
            .iter()
            .flat_map(|route| {
                [
                    &route.password,
                    &route.webhook_url,
                    &route.url,
                    &route.hmac_secret,
                ]
                .into_iter()
                .flatten()
                .chain(
                    route
                        .headers
                        .iter()
                        .filter(|(name, _)| is_credential_header(name))
                        .map(|(_, value)| value),
                )
            })
            .collect()
    }
}

impl RouteConfig {
    /// The typed route, or `None` when a key its kind requires is missing.
    pub fn to_route(&self) -> Option<Route> {
        let target = match self.kind? {
            RouteKind::Email => {
                let tls = self.tls.unwrap_or_default();
                RouteTarget::Email(EmailTarget {
                    smtp_host: self.smtp_host.clone()?,
                    smtp_port: self.smtp_port.unwrap_or(default_smtp_port(tls)),
                    tls,
                    tls_ca_file: self.tls_ca_file.clone(),
                    username: self.username.clone(),
                    password: self.password.clone(),
                    from: self.from.clone()?,
                    to: Some(self.to.clone()).filter(|to| !to.is_empty())?,
                })
            }
            RouteKind::Slack => RouteTarget::Slack {
                webhook_url: self.webhook_url.clone()?,
            },
            RouteKind::Webhook => RouteTarget::Webhook(WebhookTarget {
                url: self.url.clone()?,
                headers: self.headers.clone(),
                hmac_secret: self.hmac_secret.clone(),
            }),
            RouteKind::DiscordWebhook => RouteTarget::DiscordWebhook {
                url: self.url.clone()?,
            },
        };
        Some(Route {
            name: self.name.clone(),
            min_severity: self.min_severity,
            events: self.events.clone(),
            max_per_minute: self.max_per_minute,
            timeout_secs: self.timeout_secs,
            target,
        })
    }

    /// Reports what is wrong with this entry of `alerts.routes`, at key path `prefix`
    /// (`alerts.routes[2]`); the name's uniqueness is the list's to check.
    fn check(&self, prefix: &str, problems: &mut Problems) {
        let kind = self.kind.map_or("", RouteKind::as_str);
        for (key, missing) in self.required_keys() {
            let key_path = format!("{prefix}.{key}");
            // An unknown `kind` was reported (and dropped) while deserializing.
            if missing && !problems.is_reported(&key_path) {
                let message = if kind.is_empty() {
                    "required: email, slack, webhook or discord_webhook".to_owned()
                } else {
                    format!("required for a `{kind}` route")
                };
                problems.report(&key_path, message, None);
            }
        }
        for key in self.foreign_keys() {
            problems.report(
                &format!("{prefix}.{key}"),
                format!("does not apply to a `{kind}` route"),
                Some("remove it, or set `kind` to the route it belongs to".to_owned()),
            );
        }
        let urls = [("webhook_url", &self.webhook_url), ("url", &self.url)];
        for (key, url) in urls {
            // The URL may embed its credential: say what is wrong without echoing it.
            if let Some(url) = url
                && !is_http_url(url.expose())
            {
                problems.report(&format!("{prefix}.{key}"), "is not an http(s) URL", None);
            }
        }
        let addresses = self
            .from
            .iter()
            .map(|address| (format!("{prefix}.from"), address))
            .chain(
                self.to
                    .iter()
                    .enumerate()
                    .map(|(i, address)| (format!("{prefix}.to[{i}]"), address)),
            );
        for (key, address) in addresses {
            check_address(&key, address, problems);
        }
        if let Some(file) = &self.tls_ca_file
            && !file.is_file()
        {
            problems.report(
                &format!("{prefix}.tls_ca_file"),
                format!("{} is not a readable file", file.display()),
                Some("a PEM file with the CA certificate".to_owned()),
            );
        }
        if self.smtp_port == Some(0) {
            problems.report(
                &format!("{prefix}.smtp_port"),
                "0 is out of range",
                Some("allowed: 1 to 65535".to_owned()),
            );
        }
        let positive = [
            ("max_per_minute", u64::from(self.max_per_minute)),
            ("timeout_secs", self.timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.report(
                    &format!("{prefix}.{key}"),
                    "0 is out of range",
                    Some("allowed: at least 1".to_owned()),
                );
            }
        }
        for header in self.headers.keys() {
            let valid = !header.is_empty()
                && header
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_".contains(&byte));
            if !valid {
                problems.report(
                    &format!("{prefix}.headers"),
                    format!("`{header}` is not a valid header name"),
                    Some("letters, digits, `-` and `_`".to_owned()),
                );
            }
        }
    }

    /// Keys this entry's kind requires, with whether each is missing.
    fn required_keys(&self) -> Vec<(&'static str, bool)> {
        let Some(kind) = self.kind else {
            return vec![("kind", true)];
        };
        match kind {
            RouteKind::Email => vec![
                ("smtp_host", self.smtp_host.is_none()),
                ("from", self.from.is_none()),
                ("to", self.to.is_empty()),
            ],
            RouteKind::Slack => vec![("webhook_url", self.webhook_url.is_none())],
            RouteKind::Webhook | RouteKind::DiscordWebhook => vec![("url", self.url.is_none())],
        }
    }

    /// Keys set on this entry that its kind does not use.
    fn foreign_keys(&self) -> Vec<&'static str> {
        let Some(kind) = self.kind else {
            return Vec::new();
        };
        let email = [
            ("smtp_host", self.smtp_host.is_some()),
            ("smtp_port", self.smtp_port.is_some()),
            ("tls", self.tls.is_some()),
            ("tls_ca_file", self.tls_ca_file.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("from", self.from.is_some()),
            ("to", !self.to.is_empty()),
        ];
        let slack = [("webhook_url", self.webhook_url.is_some())];
        let url = [("url", self.url.is_some())];
        let webhook = [
            ("headers", !self.headers.is_empty()),
            ("hmac_secret", self.hmac_secret.is_some()),
        ];
        let mut foreign = Vec::new();
        let mut add = |set: &[(&'static str, bool)], applies: bool| {
            if !applies {
                foreign.extend(set.iter().filter(|(_, present)| *present).map(|(k, _)| *k));
            }
        };
        add(&email, kind == RouteKind::Email);
        add(&slack, kind == RouteKind::Slack);
        add(
            &url,
            matches!(kind, RouteKind::Webhook | RouteKind::DiscordWebhook),
        );
        add(&webhook, kind == RouteKind::Webhook);
        foreign
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_plausibility() {
        assert!(is_plausible_email("admin@company.com"));
        assert!(!is_plausible_email("admin"));
        assert!(!is_plausible_email("@company.com"));
        assert!(!is_plausible_email("a@b@c"));
        assert!(!is_plausible_email("a b@c.org"));
    }
}
