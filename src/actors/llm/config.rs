//! `llm` section: which models we may call and what they may cost per day.

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Gemini key; env `GOOGLE_API_KEY` (seed key).
    pub google_api_key: Option<Secret>,
    /// env `OPENAI_API_KEY`.
    pub openai_api_key: Option<Secret>,
    /// env `OPENROUTER_API_KEY`.
    pub openrouter_api_key: Option<Secret>,
    /// US dollars per UTC day across all providers; env `LLM_DAILY_COST_LIMIT` (seed key).
    pub daily_cost_limit: f64,
    /// `gemini`, `openai` or `openrouter` (seed key).
    pub default_provider: String,
    /// Model names of the default provider tried in order after the first (seed key).
    pub fallback_providers: Vec<String>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            google_api_key: None,
            openai_api_key: None,
            openrouter_api_key: None,
            daily_cost_limit: default_daily_cost_limit(),
            default_provider: default_provider(),
            fallback_providers: Vec::new(),
        }
    }
}

/// US dollars; the seed's value.
pub const fn default_daily_cost_limit() -> f64 {
    10.0
}

pub fn default_provider() -> String {
    "gemini".to_owned()
}

/// Provider names `default_provider` accepts.
pub const KNOWN_PROVIDERS: &[&str] = &["gemini", "openai", "openrouter"];
