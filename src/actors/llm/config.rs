//! `llm` section: which providers and models may be called, in which order per request kind,
//! and what they may cost per day.
//!
//! Two shapes are accepted. The full one lists `providers` (each with its models and prices) and
//! `routes` (an ordered chain of `provider/model` targets per request kind). The deployment guide's
//! flat keys (`google_api_key`, `default_provider`, `fallback_providers`, ...) still work: with no
//! `providers`, [`LlmConfig::effective_providers`] builds them from the flat keys and
//! [`LlmConfig::effective_routes`] builds the default route from `default_provider` followed by
//! `fallback_providers` (model names of the default provider). Flat API keys also fill the
//! `api_key` of listed providers of the matching kind that have none, so env `GOOGLE_API_KEY` keeps
//! working with the full shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::schema::StructuredMode;
use crate::config::{
    Allowed, EnvOverride, KeyDoc, Problems, Secret, Section, SectionDoc, ValueKind, is_http_url,
    one_of_hint,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Gemini key; env `GOOGLE_API_KEY` (deployment guide's key name).
    pub google_api_key: Option<Secret>,
    /// env `OPENAI_API_KEY`.
    pub openai_api_key: Option<Secret>,
    /// env `OPENROUTER_API_KEY`.
    pub openrouter_api_key: Option<Secret>,
    /// US dollars per UTC day across all providers; env `LLM_DAILY_COST_LIMIT` (deployment guide's
    /// key name).
    pub daily_cost_limit: f64,
    /// `gemini`, `openai` or `openrouter` (deployment guide's key name); used only when `providers`
    /// is empty.
    pub default_provider: String,
    /// Model names of the default provider tried in order after the first (deployment guide's key
    /// name); used only when `providers` is empty.
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

impl Section for LlmConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[],
    };

    fn check_not_empty(&self, problems: &mut Problems) {
        for (index, model) in self.fallback_providers.iter().enumerate() {
            if model.trim().is_empty() {
                problems.report(
                    &format!("llm.fallback_providers[{index}]"),
                    "model name must not be empty",
                    None,
                );
            }
        }
    }

    /// Providers, models, prices and routes. Prices are checked on the effective providers, so
    /// a flat-key `fallback_providers` entry without a known price is reported too.
    fn validate(&self, problems: &mut Problems) {
        for (index, provider) in self.providers.iter().enumerate() {
            check_provider(index, provider, &self.providers[..index], problems);
        }

        let providers = self.effective_providers();
        if self.providers.is_empty() {
            for (index, name) in self.fallback_providers.iter().enumerate() {
                let unpriced = providers
                    .iter()
                    .filter_map(|provider| provider.model(name).map(|model| (provider, model)))
                    .any(|(provider, model)| model.price(provider.kind).is_none());
                if !name.trim().is_empty() && unpriced {
                    problems.report(
                        &format!("llm.fallback_providers[{index}]"),
                        format!("no price known for `{name}`"),
                        Some(
                            "list the model under `llm.providers` with its prices, or the budget \
                             cannot be enforced"
                                .to_owned(),
                        ),
                    );
                }
            }
        }

        for (route, targets) in self.routes.named() {
            for (index, target) in targets.iter().enumerate() {
                check_target(
                    &format!("llm.routes.{route}[{index}]"),
                    target,
                    &providers,
                    problems,
                );
            }
        }
    }
}

/// One entry of `llm.providers`; `earlier` are the entries before it.
fn check_provider(
    index: usize,
    provider: &ProviderConfig,
    earlier: &[ProviderConfig],
    problems: &mut Problems,
) {
    let at = format!("llm.providers[{index}]");
    if provider.name.trim().is_empty() || provider.name.contains('/') {
        problems.report(
            &format!("{at}.name"),
            format!("`{}` is not a usable provider name", provider.name),
            Some("use a short name without `/`, such as gemini or local".to_owned()),
        );
    } else if earlier.iter().any(|earlier| earlier.name == provider.name) {
        problems.report(
            &format!("{at}.name"),
            format!("duplicate provider name `{}`", provider.name),
            Some("each provider needs its own name".to_owned()),
        );
    }
    if let Some(url) = &provider.base_url
        && !is_http_url(url)
    {
        problems.report(
            &format!("{at}.base_url"),
            format!("`{url}` is not an http:// or https:// URL"),
            Some(format!(
                "default for {}: {}",
                provider.kind.as_str(),
                provider.kind.default_base_url()
            )),
        );
    }
    if !(1..=600).contains(&provider.timeout_secs) {
        problems.report(
            &format!("{at}.timeout_secs"),
            format!("{} is out of range", provider.timeout_secs),
            Some("allowed: 1 to 600".to_owned()),
        );
    }
    if provider.max_output_tokens == 0 {
        problems.report(
            &format!("{at}.max_output_tokens"),
            "0 is out of range",
            Some("allowed: at least 1".to_owned()),
        );
    }
    if provider.models.is_empty() {
        problems.report(
            &format!("{at}.models"),
            "a provider needs at least one model",
            Some(format!("kinds: {}", PROVIDER_KINDS.join(", "))),
        );
    }
    for (model_index, model) in provider.models.iter().enumerate() {
        let model_at = format!("{at}.models[{model_index}]");
        if model.name.trim().is_empty() {
            problems.report(
                &format!("{model_at}.name"),
                "model name must not be empty",
                None,
            );
        } else if provider.models[..model_index]
            .iter()
            .any(|earlier| earlier.name == model.name)
        {
            problems.report(
                &format!("{model_at}.name"),
                format!(
                    "duplicate model `{}` in provider `{}`",
                    model.name, provider.name
                ),
                None,
            );
        }
        let prices = [
            ("input_usd_per_mtok", model.input_usd_per_mtok),
            ("output_usd_per_mtok", model.output_usd_per_mtok),
        ];
        for (name, price) in prices {
            if let Some(price) = price
                && !(price.is_finite() && price >= 0.0)
            {
                problems.report(
                    &format!("{model_at}.{name}"),
                    format!("{price} is not a price"),
                    Some("US dollars per million tokens, 0 or more".to_owned()),
                );
            }
        }
        if model.context_tokens == Some(0) {
            problems.report(
                &format!("{model_at}.context_tokens"),
                "0 is out of range",
                Some("allowed: at least 1".to_owned()),
            );
        }
        if !model.name.trim().is_empty() && model.price(provider.kind).is_none() {
            problems.report(
                &format!("{model_at}.input_usd_per_mtok"),
                format!("no price known for `{}`", model.name),
                Some(
                    "set input_usd_per_mtok and output_usd_per_mtok, or the budget cannot be \
                     enforced"
                        .to_owned(),
                ),
            );
        }
    }
}

/// One `provider/model` target of a route, at key path `at`.
fn check_target(at: &str, target: &str, providers: &[ProviderConfig], problems: &mut Problems) {
    let Some((provider_name, model_name)) = split_target(target) else {
        problems.report(
            at,
            format!("`{target}` is not a `provider/model` target"),
            Some("write it as gemini/gemini-2.5-flash".to_owned()),
        );
        return;
    };
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    match providers.iter().find(|p| p.name == provider_name) {
        None => problems.report(
            at,
            format!("unknown provider `{provider_name}`"),
            Some(one_of_hint(&names, Some(provider_name))),
        ),
        Some(provider) if provider.model(model_name).is_none() => {
            let models: Vec<&str> = provider.models.iter().map(|m| m.name.as_str()).collect();
            problems.report(
                at,
                format!("provider `{provider_name}` has no model `{model_name}`"),
                Some(one_of_hint(&models, Some(model_name))),
            );
        }
        Some(_) => {}
    }
}

const KEYS: &[KeyDoc] = &[
    KeyDoc::new(
        "llm",
        "Which LLM providers may be called and what they may cost.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.google_api_key",
        "Google Gemini API key; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.openai_api_key",
        "OpenAI API key; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.openrouter_api_key",
        "OpenRouter API key; never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.daily_cost_limit",
        "US dollars that LLM calls may cost per UTC day, all providers together.",
        Allowed::at_least(0.0),
    ),
    KeyDoc::new(
        "llm.default_provider",
        "Provider asked first.",
        Allowed::OneOf(KNOWN_PROVIDERS),
    ),
    KeyDoc::new(
        "llm.fallback_providers",
        "Model names of the default provider tried in order when the first fails.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.providers",
        "Providers that may be called; empty builds them from the keys above. Each entry: \
         `name` (unique), `kind` (gemini, openai, openrouter, openai-compatible for Ollama, \
         vLLM or llama.cpp), `base_url` (default: the kind's public endpoint), `api_key` \
         (default: the matching key above; never printed), `timeout_secs` (default 30), \
         `max_output_tokens` (default 2048) and `models`: [{`name`, `input_usd_per_mtok`, \
         `output_usd_per_mtok`, `context_tokens`, `structured_output`}], prices in US dollars \
         per million tokens (default: the known price; $0 for openai-compatible). \
         `structured_output` says how answers are constrained: `json_schema` (response_format \
         json_schema; Gemini: responseSchema), `json_object` (JSON mode, the schema in the \
         system prompt and, for openai-compatible servers such as llama-cpp-python, in \
         response_format.schema), `prompt` (the schema in the system prompt only) or `auto` \
         (default: json_schema, stepping down one mode for good when the server refuses it; \
         the learnt mode is kept in the database and shown in /status and `llm check`). \
         Every answer is checked against the schema and repaired once whatever the mode.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.routes",
        "Ordered fallback chains of `provider/model` targets per request kind.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.routes.default",
        "Chain for every kind without its own; empty means `default_provider` then \
         `fallback_providers`, or every listed model in order.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.routes.triage",
        "Chain for message triage (a cheap model fits); empty uses `default`.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.routes.digest",
        "Chain for digests; empty uses `default`.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "llm.routes.ask",
        "Chain for questions about the messages; empty uses `default`.",
        Allowed::Any,
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("GOOGLE_API_KEY", "llm.google_api_key", ValueKind::Secret),
    EnvOverride::new("OPENAI_API_KEY", "llm.openai_api_key", ValueKind::Secret),
    EnvOverride::new(
        "OPENROUTER_API_KEY",
        "llm.openrouter_api_key",
        ValueKind::Secret,
    ),
    EnvOverride::new(
        "LLM_DAILY_COST_LIMIT",
        "llm.daily_cost_limit",
        ValueKind::Number,
    ),
    EnvOverride::new(
        "LLM_DEFAULT_PROVIDER",
        "llm.default_provider",
        ValueKind::Text,
    ),
];

/// US dollars; the deployment guide's default.
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
    /// How structured answers are asked for; `auto` learns it from the server's refusals.
    #[serde(default)]
    pub structured_output: StructuredOutput,
}

/// How a model is asked for a structured answer, as configured. Whatever the mode, every
/// answer is checked against the request's schema (and repaired once) before a caller sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum StructuredOutput {
    /// Start at `json_schema` (Gemini: its native `responseSchema`) and step down one mode,
    /// for good, when the server refuses the one sent (an HTTP 400/422 naming
    /// `response_format`, `json_schema`, `grammar`, ...): the router remembers the mode in the
    /// database.
    #[default]
    Auto,
    /// Always this mode; a refusal falls back to the next target instead.
    Fixed(StructuredMode),
}

impl StructuredOutput {
    pub const fn as_str(self) -> &'static str {
        match self {
            StructuredOutput::Auto => "auto",
            StructuredOutput::Fixed(mode) => mode.as_str(),
        }
    }

    /// The configured mode; `None` for `auto`.
    pub const fn fixed(self) -> Option<StructuredMode> {
        match self {
            StructuredOutput::Auto => None,
            StructuredOutput::Fixed(mode) => Some(mode),
        }
    }
}

impl fmt::Display for StructuredOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown structured output mode `{0}` (expected one of auto, json_schema, json_object, prompt)"
)]
pub struct UnknownStructuredOutput(pub String);

impl FromStr for StructuredOutput {
    type Err = UnknownStructuredOutput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "auto" {
            return Ok(StructuredOutput::Auto);
        }
        StructuredMode::parse(text)
            .map(StructuredOutput::Fixed)
            .ok_or_else(|| UnknownStructuredOutput(text.to_owned()))
    }
}

impl Serialize for StructuredOutput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A custom error names the allowed modes, which the loader's "unknown value" wording for a
/// key inside a list could not.
impl<'de> Deserialize<'de> for StructuredOutput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
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

/// Default prices (USD per 1M tokens, input / output) and context windows, from LiteLLM's
/// public model price table (late 2026). Prices change: config overrides them.
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
            structured_output: StructuredOutput::Auto,
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

    /// Whether a request of `kind` (`triage`, `digest`, `ask`) has a target worth calling at
    /// all: a priced model in its chain (its own, else `default`) whose provider has an API key
    /// or needs none. Without one, callers score by other means from the start instead of
    /// failing every call.
    pub fn has_callable_target(&self, kind: &str) -> bool {
        let routes = self.effective_routes();
        let chain = routes
            .named()
            .into_iter()
            .find(|(name, chain)| *name == kind && !chain.is_empty())
            .map_or(&routes.default, |(_, chain)| chain);
        let providers = self.effective_providers();
        chain
            .iter()
            .filter_map(|target| split_target(target))
            .any(|(provider_name, model_name)| {
                providers.iter().any(|provider| {
                    provider.name == provider_name
                        && provider
                            .model(model_name)
                            .is_some_and(|model| model.price(provider.kind).is_some())
                        && (!provider.kind.needs_api_key()
                            || provider.api_key.as_ref().is_some_and(|key| !key.is_empty()))
                })
            })
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
    fn flat_keys_build_the_gemini_chain() {
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
    fn structured_output_is_auto_unless_a_mode_is_named() {
        let config: LlmConfig = serde_json::from_value(serde_json::json!({
            "providers": [{"name": "local", "kind": "openai-compatible", "models": [
                {"name": "a"},
                {"name": "b", "structured_output": "json_object"},
                {"name": "c", "structured_output": "auto"}
            ]}]
        }))
        .unwrap();
        let modes: Vec<StructuredOutput> = config.providers[0]
            .models
            .iter()
            .map(|model| model.structured_output)
            .collect();
        assert_eq!(
            modes,
            [
                StructuredOutput::Auto,
                StructuredOutput::Fixed(StructuredMode::JsonObject),
                StructuredOutput::Auto
            ]
        );
        assert_eq!(
            serde_json::to_value(&config.providers[0].models[1]).unwrap()["structured_output"],
            "json_object"
        );
        let err = serde_json::from_value::<ModelConfig>(
            serde_json::json!({"name": "a", "structured_output": "jsonschema"}),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "unknown structured output mode `jsonschema` (expected one of auto, \
                 json_schema, json_object, prompt)"
            ),
            "{err}"
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
