//! One HTTP client per provider: sends a prepared call in the provider's wire format and
//! returns the reply or the classified failure. Keys go only into the request headers (marked
//! sensitive); nothing here logs.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use super::config::{ProviderConfig, ProviderKind};
use super::error::LlmError;
use super::failure::{CallFailure, FailureClass, ProviderReply};
use super::request::PreparedCall;
use super::{gemini, openai};

const USER_AGENT: &str = concat!("discord-monitor/", env!("CARGO_PKG_VERSION"));
/// Seconds to open a TCP/TLS connection: a provider that cannot accept a connection in this
/// time is down for our purposes, whatever the whole-call timeout.
const CONNECT_TIMEOUT_SECS: u64 = 10;
/// OpenRouter ranks apps by these headers; harmless elsewhere.
const OPENROUTER_TITLE: &str = "discord-monitor";

/// A provider's endpoint, credential and HTTP client.
#[derive(Clone)]
pub struct ProviderClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ProviderConfig,
    base_url: String,
    auth_headers: HeaderMap,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("name", &self.inner.config.name)
            .field("kind", &self.inner.config.kind)
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl ProviderClient {
    pub fn new(config: &ProviderConfig) -> Result<Self, LlmError> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS))
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            // The router decides about retries, with the failure class in hand.
            .retry(reqwest::retry::never())
            .build()
            .map_err(LlmError::Client)?;
        let mut auth_headers = HeaderMap::new();
        if let Some(key) = config.api_key.as_ref().filter(|key| !key.is_empty()) {
            let (name, value) = match config.kind {
                ProviderKind::Gemini => ("x-goog-api-key", key.expose().trim().to_owned()),
                _ => (
                    AUTHORIZATION.as_str(),
                    format!("Bearer {}", key.expose().trim()),
                ),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| LlmError::InvalidKey {
                provider: config.name.clone(),
            })?;
            value.set_sensitive(true);
            auth_headers.insert(name, value);
        }
        if config.kind == ProviderKind::Openrouter {
            auth_headers.insert("x-title", HeaderValue::from_static(OPENROUTER_TITLE));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: config.effective_base_url().to_owned(),
                config: config.clone(),
                auth_headers,
            }),
        })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// One attempt, no retries.
    pub async fn call(
        &self,
        model: &str,
        call: &PreparedCall,
    ) -> Result<ProviderReply, CallFailure> {
        let inner = &self.inner;
        if inner.config.kind.needs_api_key() && inner.auth_headers.is_empty() {
            return Err(CallFailure::new(
                FailureClass::TargetDown,
                None,
                format!("no API key configured for provider `{}`", inner.config.name),
            ));
        }
        let (url, body) = match inner.config.kind {
            ProviderKind::Gemini => (
                gemini::url(&inner.base_url, model),
                gemini::body(model, call),
            ),
            _ => (openai::url(&inner.base_url), openai::body(model, call)),
        };
        let response = inner
            .http
            .post(url)
            .headers(inner.auth_headers.clone())
            .json(&body)
            .send()
            .await
            .map_err(|err| CallFailure::from_transport(&err))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| CallFailure::from_transport(&err))?;
        match inner.config.kind {
            ProviderKind::Gemini => gemini::interpret(status, &headers, &bytes),
            _ => openai::interpret(status, &headers, &bytes),
        }
    }
}
