//! The HTTP routes: Slack incoming webhooks, generic JSON webhooks (custom headers, HMAC
//! signature, idempotency key) and Discord webhooks, over reqwest with rustls.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use ring::hmac;
use serde_json::Value;

use super::error::SendError;
use super::render::{Notice, discord_messages, slack_payload, webhook_payload};
use crate::config::Secret;

/// Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's convention).
pub const SIGNATURE_HEADER: &str = "X-Signature-256";
/// Header carrying the notice's stable id, so a receiver can drop a redelivery.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Builds the shared client of one route.
pub fn client(timeout: Duration) -> Result<reqwest::Client, SendError> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("discord-monitor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SendError::HttpClient)
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let tag = hmac::sign(&key, body);
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for byte in tag.as_ref() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

async fn post_json(
    client: &reqwest::Client,
    url: &Secret,
    body: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> Result<(), SendError> {
    let mut request = client
        .post(url.expose())
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.map_err(SendError::http)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after_secs = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|secs| secs.ceil() as u64);
    Err(SendError::Status {
        status: status.as_u16(),
        retry_after_secs,
    })
}

fn to_bytes(payload: &Value) -> Vec<u8> {
    // Serializing a Value built from strings cannot fail.
    serde_json::to_vec(payload).unwrap_or_default()
}

pub struct SlackSender {
    pub client: reqwest::Client,
    pub webhook_url: Secret,
}

impl SlackSender {
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let body = to_bytes(&slack_payload(notice));
        post_json(&self.client, &self.webhook_url, body, Vec::new()).await
    }
}

pub struct WebhookSender {
    pub client: reqwest::Client,
    pub url: Secret,
    /// Parsed once; names and values were checked by config validation.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub hmac_secret: Option<Secret>,
}

impl WebhookSender {
    pub fn headers(configured: &BTreeMap<String, Secret>) -> Vec<(HeaderName, HeaderValue)> {
        configured
            .iter()
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let mut value = HeaderValue::from_str(value.expose()).ok()?;
                value.set_sensitive(true);
                Some((name, value))
            })
            .collect()
    }

    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let body = to_bytes(&webhook_payload(notice));
        let mut headers = self.headers.clone();
        if let Ok(id) = HeaderValue::from_str(&notice.id) {
            headers.push((HeaderName::from_static("idempotency-key"), id));
        }
        if let Some(secret) = &self.hmac_secret
            && let Ok(value) = HeaderValue::from_str(&signature(secret, &body))
        {
            headers.push((HeaderName::from_static("x-signature-256"), value));
        }
        post_json(&self.client, &self.url, body, headers).await
    }
}

pub struct DiscordSender {
    pub client: reqwest::Client,
    pub url: Secret,
}

impl DiscordSender {
    /// Posts every part in order; a failure leaves the rest for the retry, which starts over
    /// (a receiver may see the first parts twice, never miss one).
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        for message in discord_messages(notice) {
            post_json(&self.client, &self.url, to_bytes(&message), Vec::new()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(&Secret::new("Jefe"), b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
