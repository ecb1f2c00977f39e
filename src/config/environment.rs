//! The top-level keys, which belong to no section: the deployment stage (`environment`) and
//! `debug_mode`.

use serde::{Deserialize, Serialize};

use super::catalogue::SectionDoc;
use super::env::{EnvOverride, ValueKind};
use super::keys::{Allowed, KeyDoc};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Staging,
    #[default]
    Production,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

/// Spellings the `environment` key accepts.
const ENVIRONMENTS: &[&str] = &[
    Environment::Development.as_str(),
    Environment::Staging.as_str(),
    Environment::Production.as_str(),
];

/// `environment` and `debug_mode`, in the order of the aggregate's fields.
pub const TOP_LEVEL: SectionDoc = SectionDoc {
    keys: &[
        KeyDoc::new(
            "environment",
            "Deployment stage, shown in logs and /status.",
            Allowed::OneOf(ENVIRONMENTS),
        ),
        KeyDoc::new(
            "debug_mode",
            "More detail in logs and error answers.",
            Allowed::Any,
        ),
    ],
    env_overrides: &[
        EnvOverride::new("ENVIRONMENT", "environment", ValueKind::Text),
        EnvOverride::new("DEBUG_MODE", "debug_mode", ValueKind::Bool),
    ],
    lists: &[],
};
