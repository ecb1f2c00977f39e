//! `llm` section: which providers and models may be called, in which order per request kind,
//! and what they may cost per day.
//!
//! Two shapes are accepted. The full one lists `providers` (each with its models and prices)
//! and `routes` (an ordered chain of `provider/model` targets per request kind). The seed's
//! flat keys (`google_api_key`, `default_provider`, `fallback_providers`, ...) still work:
//! with no `providers`, [`LlmConfig::effective_providers`] builds them from the flat keys and
//! [`LlmConfig::effective_routes`] builds the default route from `default_provider` followed by
//! `fallback_providers` (model names of the default provider). Flat API keys also fill the
//! `api_key` of listed providers of the matching kind that have none, so env `GOOGLE_API_KEY`
//! keeps working with the full shape.

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
    /// `gemini`, `openai` or `openrouter` (seed key); used only when `providers` is empty.
    pub default_provider: String,
    /// Model names of the default provider tried in order after the first (seed key); used
    /// only when `providers` is empty.
    pub fallback_providers: Vec<String>,
    /// The providers that may be called; empty means "built from the flat keys".
    pub providers: Vec<ProviderConfig>,
    /// Ordered fallback chains of `provider/model` targets per request kind.
    pub routes: RoutesConfig,
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
            providers: Vec::new(),
            routes: RoutesConfig::default(),
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

/// Which wire format and defaults a provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Google Gemini v1beta `generateContent`.
    Gemini,
    /// OpenAI `chat/completions`.
    Openai,
    /// OpenRouter: OpenAI wire format plus `usage.cost` and 402 for missing credits.
    Openrouter,
    /// Ollama, vLLM, llama.cpp server and other `chat/completions` servers; key optional.
    OpenaiCompatible,
}

/// Spellings `kind` accepts.
pub const PROVIDER_KINDS: &[&str] = &["gemini", "openai", "openrouter", "openai-compatible"];

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Gemini => "gemini",
            ProviderKind::Openai => "openai",
            ProviderKind::Openrouter => "openrouter",
            ProviderKind::OpenaiCompatible => "openai-compatible",
        }
    }

    /// The public endpoint of the kind; `openai-compatible` has none (Ollama's is the
    /// likeliest local server).
    pub const fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Openrouter => "https://openrouter.ai/api/v1",
            ProviderKind::OpenaiCompatible => "http://127.0.0.1:11434/v1",
        }
    }

    /// Whether calls without an API key are pointless (local servers ignore the key).
    pub const fn needs_api_key(self) -> bool {
        !matches!(self, ProviderKind::OpenaiCompatible)
    }

    /// The model asked first when the flat keys build this provider.
    const fn flat_default_model(self) -> &'static str {
        match self {
            ProviderKind::Gemini => "gemini-2.5-flash",
            ProviderKind::Openai => "gpt-4.1-mini",
            ProviderKind::Openrouter => "google/gemini-2.5-flash",
            ProviderKind::OpenaiCompatible => "smollm2",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "gemini" => Some(ProviderKind::Gemini),
            "openai" => Some(ProviderKind::Openai),
            "openrouter" => Some(ProviderKind::Openrouter),
            "openai-compatible" => Some(ProviderKind::OpenaiCompatible),
            _ => None,
        }
    }
}

/// One provider: an endpoint, a key and the models it serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Unique; the first half of a `provider/model` target.
    pub name: String,
    pub kind: ProviderKind,
    /// Overrides the kind's endpoint (how tests point at fakes); `None` uses
    /// [`ProviderKind::default_base_url`].
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Seconds one call may take before it counts as a transient failure.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Ceiling on the output tokens of any call to this provider.
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// Seconds: long enough for a 2k-token structured reply from a slow model.
pub const fn default_timeout_secs() -> u64 {
    30
}

/// Tokens: triage and digest replies are short JSON documents.
pub const fn default_max_output_tokens() -> u32 {
    2048
}

impl ProviderConfig {
    pub fn effective_base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(self.kind.default_base_url())
            .trim_end_matches('/')
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|model| model.name == name)
    }
}

/// A model and its prices. Prices left out come from [`known_price`]; an `openai-compatible`
/// model that is not known costs $0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    /// US dollars per million prompt tokens.
    #[serde(default)]
    pub input_usd_per_mtok: Option<f64>,
    /// US dollars per million output tokens (thinking tokens included).
    #[serde(default)]
    pub output_usd_per_mtok: Option<f64>,
    /// Context window in tokens; prompts are truncated to fit.
    #[serde(default)]
    pub context_tokens: Option<u64>,
}

/// Tokens: the window assumed for a model whose window is neither configured nor known; small
/// enough for any local model we are likely to meet.
pub const FALLBACK_CONTEXT_TOKENS: u64 = 8192;

/// Prices and context of a model as the router uses them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub context_tokens: u64,
}

impl ModelPrice {
    pub fn is_free(&self) -> bool {
        self.input_usd_per_mtok == 0.0 && self.output_usd_per_mtok == 0.0
    }

    /// US dollars for the given token counts.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_mtok
            + output_tokens as f64 * self.output_usd_per_mtok)
            / 1_000_000.0
    }
}

/// Default prices (USD per 1M tokens, input / output) and context windows from
/// `docs/llm-providers.md` (LiteLLM's table, late 2026). Prices change: config overrides them.
const KNOWN_MODELS: &[(&str, f64, f64, u64)] = &[
    ("gemini-2.5-flash", 0.30, 2.50, 1_048_576),
    ("gemini-2.5-pro", 1.25, 10.00, 1_048_576),
    ("gemini-1.5-flash", 0.075, 0.30, 1_048_576),
    ("gpt-4o-mini", 0.15, 0.60, 128_000),
    ("gpt-4.1-mini", 0.40, 1.60, 1_047_576),
];

/// The default price of a model by name; OpenRouter names (`google/gemini-2.5-flash`) are
/// looked up by their last part.
pub fn known_price(model: &str) -> Option<ModelPrice> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    KNOWN_MODELS
        .iter()
        .find(|(name, ..)| *name == bare)
        .map(|&(_, input, output, context)| ModelPrice {
            input_usd_per_mtok: input,
            output_usd_per_mtok: output,
            context_tokens: context,
        })
}

impl ModelConfig {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            input_usd_per_mtok: None,
            output_usd_per_mtok: None,
            context_tokens: None,
        }
    }

    /// Configured prices, else the known defaults, else $0 for local servers. `None` when a
    /// paid provider's model has no price anywhere (validation reports it).
    pub fn price(&self, kind: ProviderKind) -> Option<ModelPrice> {
        let known = known_price(&self.name).or(match kind {
            ProviderKind::OpenaiCompatible => Some(ModelPrice {
                input_usd_per_mtok: 0.0,
                output_usd_per_mtok: 0.0,
                context_tokens: FALLBACK_CONTEXT_TOKENS,
            }),
            _ => None,
        });
        let input = self
            .input_usd_per_mtok
            .or(known.map(|price| price.input_usd_per_mtok))?;
        let output = self
            .output_usd_per_mtok
            .or(known.map(|price| price.output_usd_per_mtok))?;
        Some(ModelPrice {
            input_usd_per_mtok: input,
            output_usd_per_mtok: output,
            context_tokens: self
                .context_tokens
                .or(known.map(|price| price.context_tokens))
                .unwrap_or(FALLBACK_CONTEXT_TOKENS),
        })
    }
}

/// Fallback chains per request kind; an empty chain uses `default`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    pub default: Vec<String>,
    pub triage: Vec<String>,
    pub digest: Vec<String>,
    pub ask: Vec<String>,
}

impl RoutesConfig {
    /// Each chain with its key name, for validation and `/status`.
    pub fn named(&self) -> [(&'static str, &Vec<String>); 4] {
        [
            ("default", &self.default),
            ("triage", &self.triage),
            ("digest", &self.digest),
            ("ask", &self.ask),
        ]
    }
}

/// `provider/model`, split at the first `/` (OpenRouter model names hold more slashes).
pub fn split_target(target: &str) -> Option<(&str, &str)> {
    target
        .split_once('/')
        .filter(|(provider, model)| !provider.is_empty() && !model.is_empty())
}

impl LlmConfig {
    fn flat_key(&self, kind: ProviderKind) -> Option<&Secret> {
        match kind {
            ProviderKind::Gemini => self.google_api_key.as_ref(),
            ProviderKind::Openai => self.openai_api_key.as_ref(),
            ProviderKind::Openrouter => self.openrouter_api_key.as_ref(),
            ProviderKind::OpenaiCompatible => None,
        }
        .filter(|key| !key.is_empty())
    }

    /// The providers the router uses: the `providers` list (keys filled from the flat keys
    /// where missing), or, when it is empty, one provider per flat key plus the default
    /// provider, whose models are its default model followed by `fallback_providers`.
    pub fn effective_providers(&self) -> Vec<ProviderConfig> {
        if !self.providers.is_empty() {
            return self
                .providers
                .iter()
                .map(|provider| {
                    let mut provider = provider.clone();
                    if provider.api_key.as_ref().is_none_or(Secret::is_empty) {
                        provider.api_key = self.flat_key(provider.kind).cloned();
                    }
                    provider
                })
                .collect();
        }
        let default_kind = ProviderKind::from_name(&self.default_provider);
        [
            ProviderKind::Gemini,
            ProviderKind::Openai,
            ProviderKind::Openrouter,
        ]
        .into_iter()
        .filter(|&kind| self.flat_key(kind).is_some() || Some(kind) == default_kind)
        .map(|kind| {
            let mut models = vec![ModelConfig::named(kind.flat_default_model())];
            if Some(kind) == default_kind {
                for name in &self.fallback_providers {
                    if !models.iter().any(|model| &model.name == name) {
                        models.push(ModelConfig::named(name));
                    }
                }
            }
            ProviderConfig {
                name: kind.as_str().to_owned(),
                kind,
                base_url: None,
                api_key: self.flat_key(kind).cloned(),
                timeout_secs: default_timeout_secs(),
                max_output_tokens: default_max_output_tokens(),
                models,
            }
        })
        .collect()
    }

    /// The routes the router uses. Without `providers`, the default route is the default
    /// provider's default model then `fallback_providers`; with `providers` and no
    /// `routes.default`, it is every model in the order listed.
    pub fn effective_routes(&self) -> RoutesConfig {
        let mut routes = self.routes.clone();
        if routes.default.is_empty() {
            routes.default = if self.providers.is_empty() {
                self.effective_providers()
                    .iter()
                    .filter(|provider| provider.name == self.default_provider)
                    .flat_map(|provider| {
                        provider
                            .models
                            .iter()
                            .map(|model| format!("{}/{}", provider.name, model.name))
                    })
                    .collect()
            } else {
                self.providers
                    .iter()
                    .flat_map(|provider| {
                        provider
                            .models
                            .iter()
                            .map(|model| format!("{}/{}", provider.name, model.name))
                    })
                    .collect()
            };
        }
        routes
    }

    /// Every API key set anywhere in the section, for log scrubbing.
    pub fn secrets(&self) -> Vec<&Secret> {
        [
            &self.google_api_key,
            &self.openai_api_key,
            &self.openrouter_api_key,
        ]
        .into_iter()
        .flatten()
        .chain(
            self.providers
                .iter()
                .filter_map(|provider| provider.api_key.as_ref()),
        )
        .filter(|secret| !secret.is_empty())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_flat_keys_build_the_gemini_chain() {
        let config = LlmConfig {
            google_api_key: Some(Secret::new("k")),
            fallback_providers: vec!["gemini-1.5-flash".into(), "gemini-2.5-pro".into()],
            ..LlmConfig::default()
        };
        let providers = config.effective_providers();
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].name, "gemini");
        assert_eq!(providers[0].api_key.as_ref().unwrap().expose(), "k");
        assert_eq!(
            config.effective_routes().default,
            [
                "gemini/gemini-2.5-flash",
                "gemini/gemini-1.5-flash",
                "gemini/gemini-2.5-pro"
            ]
        );
        let flash = providers[0].model("gemini-1.5-flash").unwrap();
        assert_eq!(
            flash
                .price(ProviderKind::Gemini)
                .unwrap()
                .input_usd_per_mtok,
            0.075
        );
    }

    #[test]
    fn flat_keys_fill_listed_providers_and_local_models_are_free() {
        let config: LlmConfig = serde_json::from_value(serde_json::json!({
            "openai_api_key": "sk-x",
            "providers": [
                {"name": "oa", "kind": "openai", "models": [{"name": "gpt-4o-mini"}]},
                {"name": "local", "kind": "openai-compatible", "models": [{"name": "smollm2"}]}
            ]
        }))
        .unwrap();
        let providers = config.effective_providers();
        assert_eq!(providers[0].api_key.as_ref().unwrap().expose(), "sk-x");
        assert!(providers[1].api_key.is_none());
        assert!(
            providers[1].models[0]
                .price(ProviderKind::OpenaiCompatible)
                .unwrap()
                .is_free()
        );
        assert_eq!(
            config.effective_routes().default,
            ["oa/gpt-4o-mini", "local/smollm2"]
        );
        assert_eq!(
            providers[0].effective_base_url(),
            "https://api.openai.com/v1"
        );
    }

    #[test]
    fn targets_split_at_the_first_slash() {
        assert_eq!(
            split_target("openrouter/google/gemini-2.5-flash"),
            Some(("openrouter", "google/gemini-2.5-flash"))
        );
        assert_eq!(split_target("gemini"), None);
        assert_eq!(split_target("/x"), None);
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = known_price("gemini-2.5-flash").unwrap();
        let cost = price.cost_usd(1_000_000, 100_000);
        assert!((cost - 0.55).abs() < 1e-12, "{cost}");
    }
}
