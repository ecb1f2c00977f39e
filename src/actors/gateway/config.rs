//! [`GatewaySettings`]: the part of the `discord` section (see
//! [`crate::discord::config::DiscordConfig`]) the GatewayActor uses, checked
//! once, and the protocol's waits.

use std::time::Duration;

use super::error::GatewayError;
use crate::config::Secret;
use crate::discord::config::{Compression, DiscordConfig, TokenType, default_connection_timeout};

/// What the GatewayActor needs from [`DiscordConfig`], checked once.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Sent only inside IDENTIFY and RESUME.
    pub token: Secret,
    pub token_type: TokenType,
    /// Intent bits for IDENTIFY.
    pub intents: u64,
    /// `[shard_id, shard_count]`.
    pub shard: [u32; 2],
    pub compression: Compression,
    /// Limit on TCP connect, TLS and the WebSocket handshake together.
    pub connection_timeout: Duration,
    /// Used instead of the URL `GET /gateway/bot` returns (which is still asked for
    /// `session_start_limit`).
    pub gateway_url: Option<String>,
    pub timing: GatewayTiming,
}

impl GatewaySettings {
    /// Fails only without a token: validation has already checked the other keys.
    pub fn from_config(config: &DiscordConfig) -> Result<Self, GatewayError> {
        let token = config
            .token
            .clone()
            .filter(|token| !token.is_empty())
            .ok_or(GatewayError::MissingToken)?;
        Ok(Self {
            token,
            token_type: config.token_type,
            intents: config.intent_bits(),
            shard: [config.shard_id, config.shard_count],
            compression: config.compression,
            // A negative or NaN value cannot pass validation; fall back rather than panic.
            connection_timeout: Duration::try_from_secs_f64(config.connection_timeout)
                .unwrap_or(Duration::from_secs_f64(default_connection_timeout())),
            gateway_url: config.gateway_url.clone(),
            timing: GatewayTiming::default(),
        })
    }
}

/// The protocol's waits. The defaults are Discord's figures; tests shorten them.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayTiming {
    /// A connection that sends no HELLO within this is given up on.
    pub hello_timeout: Duration,
    /// Minimum time between two IDENTIFYs of this shard: Discord allows one per
    /// `shard_id % max_concurrency` bucket per 5 s, and this process runs one shard.
    pub identify_interval: Duration,
    /// Range of the random wait before identifying again after op 9 `d=false` (Discord
    /// asks for 1 to 5 s).
    pub invalid_session_delay: (Duration, Duration),
    /// Ceiling of the reconnect backoff.
    pub max_reconnect_backoff: Duration,
    /// Resumes that may fail in a row before the session is dropped and we identify.
    pub max_failed_resumes: u32,
    /// How long the writer waits for a close frame to go out before dropping the socket.
    pub close_timeout: Duration,
    /// Reconnect attempts in a row after which the component reports itself degraded.
    pub degraded_after_failures: u32,
}

impl Default for GatewayTiming {
    fn default() -> Self {
        Self {
            hello_timeout: Duration::from_secs(15),
            identify_interval: Duration::from_secs(5),
            invalid_session_delay: (Duration::from_secs(1), Duration::from_secs(5)),
            // Seconds: long enough not to hammer Discord during an outage, short enough that
            // a recovered gateway is back within a minute.
            max_reconnect_backoff: Duration::from_secs(60),
            // Three: one transient failure and a retry on the fallback URL, then give up on
            // the session rather than loop (a known bug of other clients).
            max_failed_resumes: 3,
            // Seconds: a close frame is tiny; a socket that cannot take it in 5 s is dead.
            close_timeout: Duration::from_secs(5),
            // Attempts: the first retry is immediate and the next ones back off; three in a
            // row means an outage worth showing in health.
            degraded_after_failures: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::gateway::intents;

    #[test]
    fn gateway_settings_need_a_token_and_keep_the_rest() {
        let missing = DiscordConfig::default();
        assert!(matches!(
            GatewaySettings::from_config(&missing),
            Err(GatewayError::MissingToken)
        ));
        let blank = DiscordConfig {
            token: Some(Secret::new("  ")),
            ..DiscordConfig::default()
        };
        assert!(GatewaySettings::from_config(&blank).is_err());
        let config = DiscordConfig {
            token: Some(Secret::new("abc")),
            shard_id: 1,
            shard_count: 2,
            connection_timeout: 2.5,
            gateway_url: Some("ws://127.0.0.1:9/".to_owned()),
            ..DiscordConfig::default()
        };
        let settings = GatewaySettings::from_config(&config).unwrap();
        assert_eq!(settings.shard, [1, 2]);
        assert_eq!(settings.intents, intents::DEFAULT);
        assert_eq!(settings.connection_timeout, Duration::from_millis(2_500));
        assert_eq!(settings.compression, Compression::ZlibStream);
        assert!(
            !format!("{settings:?}").contains("abc"),
            "Debug redacts the token"
        );
    }
}
