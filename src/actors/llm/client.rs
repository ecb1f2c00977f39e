//! One HTTP client per provider: sends a prepared call in the provider's wire format and
//! returns the reply or the classified failure. Keys go only into the request headers (marked
//! sensitive); nothing here logs. The bytes travel through a [`Transport`]: reqwest in
//! service, an in-memory server in the router's unit tests, so everything but the socket is
//! tested on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;

use super::config::{ProviderConfig, ProviderKind};
use super::error::LlmError;
use super::failure::{CallFailure, FailureClass, ProviderReply};
use super::openai::JsonObjectSchema;
use super::request::PreparedCall;
use super::{gemini, openai};

/// An HTTP answer of any status, before its wire format reads it.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Posts one JSON body; a failure here is the transport's (timeout, refused connection).
pub trait Transport: Send + Sync {
    fn post(
        &self,
        url: String,
        headers: HeaderMap,
        body: Value,
    ) -> BoxFuture<'static, Result<RawAnswer, CallFailure>>;
}

/// The network, through one reqwest client per provider (its timeout is the provider's).
struct HttpTransport {
    http: reqwest::Client,
}

impl Transport for HttpTransport {
    fn post(
        &self,
        url: String,
        headers: HeaderMap,
        body: Value,
    ) -> BoxFuture<'static, Result<RawAnswer, CallFailure>> {
        let request = self.http.post(url).headers(headers).json(&body);
        Box::pin(async move {
            let response = request
                .send()
                .await
                .map_err(|err| CallFailure::from_transport(&err))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|err| CallFailure::from_transport(&err))?;
            Ok(RawAnswer {
                status,
                headers,
                body: body.to_vec(),
            })
        })
    }
}

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
    transport: Arc<dyn Transport>,
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
    /// A client that calls the provider over the network.
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
        Self::with_transport(config, Arc::new(HttpTransport { http }))
    }

    /// A client whose requests go through `transport`.
    pub fn with_transport(
        config: &ProviderConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, LlmError> {
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
                transport,
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
            kind => (
                openai::url(&inner.base_url),
                openai::body(model, call, json_object_schema(kind)),
            ),
        };
        let answer = inner
            .transport
            .post(url, inner.auth_headers.clone(), body)
            .await?;
        match inner.config.kind {
            ProviderKind::Gemini => gemini::interpret(answer.status, &answer.headers, &answer.body),
            _ => openai::interpret(answer.status, &answer.headers, &answer.body),
        }
    }
}

/// Local servers (llama-cpp-python, llama.cpp) constrain `json_object` to a schema sent
/// beside it; the hosted APIs document no such field.
const fn json_object_schema(kind: ProviderKind) -> JsonObjectSchema {
    match kind {
        ProviderKind::OpenaiCompatible => JsonObjectSchema::Sent,
        ProviderKind::Gemini | ProviderKind::Openai | ProviderKind::Openrouter => {
            JsonObjectSchema::Omitted
        }
    }
}
