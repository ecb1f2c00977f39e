//! What callers ask the router for: a request kind, a system instruction, the content (oldest
//! first, so truncation can drop the oldest) and the JSON schema the answer must follow.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::schema::StructuredMode;

/// Which route a request takes; each kind has its own fallback chain and output budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Many short messages checked against the user's watches; a cheap model fits.
    Triage,
    /// A summary of a period.
    Digest,
    /// A question about the stored messages.
    Ask,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [RequestKind::Triage, RequestKind::Digest, RequestKind::Ask];

    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::Triage => "triage",
            RequestKind::Digest => "digest",
            RequestKind::Ask => "ask",
        }
    }

    /// Tokens: the default output ceiling per kind (triage answers are short lists, digests
    /// and answers longer prose); the provider's `max_output_tokens` caps it further.
    pub const fn default_max_output_tokens(self) -> u32 {
        match self {
            RequestKind::Triage => 1024,
            RequestKind::Digest => 2048,
            RequestKind::Ask => 2048,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON schema a structured answer must follow (JSON Schema as OpenAI takes it:
/// lowercase `type`s, `properties`, `required`, `items`, `enum`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplySchema {
    /// Short identifier, OpenAI's `json_schema.name` (`triage`, `digest`).
    pub name: String,
    pub schema: Value,
}

/// One structured request.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    pub kind: RequestKind,
    /// Instructions; never truncated.
    pub system: String,
    /// Content pieces, oldest first; when the prompt does not fit a model's context window the
    /// oldest pieces are dropped first.
    pub parts: Vec<String>,
    pub schema: Option<ReplySchema>,
    /// `None` uses [`RequestKind::default_max_output_tokens`].
    pub max_output_tokens: Option<u32>,
    /// 0.0 to 2.0; low values keep structured answers stable.
    pub temperature: f32,
}

impl LlmRequest {
    pub fn new(kind: RequestKind, system: impl Into<String>, parts: Vec<String>) -> Self {
        Self {
            kind,
            system: system.into(),
            parts,
            schema: None,
            max_output_tokens: None,
            temperature: DEFAULT_TEMPERATURE,
        }
    }

    pub fn with_schema(mut self, name: impl Into<String>, schema: Value) -> Self {
        self.schema = Some(ReplySchema {
            name: name.into(),
            schema,
        });
        self
    }
}

/// Low: triage and digests should not vary between runs.
pub const DEFAULT_TEMPERATURE: f32 = 0.2;

/// A `provider/model` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Target {
    pub provider: String,
    pub model: String,
}

impl Target {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        crate::actors::llm::config::split_target(text).map(|(p, m)| Self::new(p, m))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// What one provider call sends: the request after truncation, with the output ceiling
/// resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCall {
    /// The request's instructions, followed by the schema's description when `mode` does not
    /// hand the schema to the server.
    pub system: String,
    pub prompt: String,
    pub schema: Option<ReplySchema>,
    /// How the wire format asks for the schema; meaningless without one.
    pub mode: StructuredMode,
    pub max_output_tokens: u32,
    pub temperature: f32,
}
