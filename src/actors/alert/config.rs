//! `alerts` section: where operational alerts and notifications are delivered.

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// env `EMAIL_ENABLED` (seed key).
    pub email_enabled: bool,
    /// env `EMAIL_SMTP_HOST` (seed key).
    pub email_smtp_host: Option<String>,
    /// env `EMAIL_SMTP_PORT` (seed key).
    pub email_smtp_port: u16,
    /// env `EMAIL_USERNAME` (seed key).
    pub email_username: Option<String>,
    /// env `EMAIL_PASSWORD` / `EMAIL_PASSWORD_FILE` (seed key).
    pub email_password: Option<Secret>,
    /// env `EMAIL_FROM` (seed key).
    pub email_from: Option<String>,
    /// env `EMAIL_TO`, comma-separated (seed key).
    pub email_to: Vec<String>,
    /// env `SLACK_ENABLED` (seed key).
    pub slack_enabled: bool,
    /// A Slack incoming-webhook URL carries its own credential, so it is a secret.
    /// env `SLACK_WEBHOOK_URL` / `SLACK_WEBHOOK_URL_FILE` (seed key).
    pub slack_webhook_url: Option<Secret>,
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
        }
    }
}

/// SMTP submission with STARTTLS (the seed's value).
pub const fn default_email_smtp_port() -> u16 {
    587
}
