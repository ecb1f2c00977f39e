//! Configuration: one JSON file (`--config`, env `DM_CONFIG`, default `./config.json`) whose
//! sections are those of the seed's `production_config.json`, overridden by environment
//! variables. Each section's struct lives beside the component it configures.

mod monitoring;
mod processing;
mod secret;

use serde::{Deserialize, Serialize};

pub use crate::actors::alert::config::AlertsConfig;
pub use crate::actors::db::config::DatabaseConfig;
pub use crate::actors::gateway::config::DiscordConfig;
pub use crate::actors::llm::config::LlmConfig;
pub use crate::admin::config::AdminConfig;
pub use monitoring::{LogLevel, MonitoringConfig, UnknownLogLevel};
pub use processing::ProcessingConfig;
pub use secret::{REDACTED, Secret};

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
    pub monitoring: MonitoringConfig,
    pub alerts: AlertsConfig,
    pub admin: AdminConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Staging,
    #[default]
    Production,
}
