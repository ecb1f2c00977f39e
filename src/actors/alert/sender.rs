//! One sender per configured route, built from its [`Route`].

use std::time::Duration;

use super::config::{Route, RouteTarget};
use super::email::EmailSender;
use super::error::SendError;
use super::http::{DiscordSender, SlackSender, WebhookSender, client};
use super::render::Notice;

pub enum RouteSender {
    Email(Box<EmailSender>),
    Slack(SlackSender),
    Webhook(WebhookSender),
    Discord(DiscordSender),
}

impl RouteSender {
    pub fn new(route: &Route) -> Result<Self, SendError> {
        let timeout = Duration::from_secs(route.timeout_secs);
        Ok(match &route.target {
            RouteTarget::Email(target) => {
                RouteSender::Email(Box::new(EmailSender::new(target, timeout)?))
            }
            RouteTarget::Slack { webhook_url } => RouteSender::Slack(SlackSender {
                client: client(timeout)?,
                webhook_url: webhook_url.clone(),
            }),
            RouteTarget::Webhook(target) => RouteSender::Webhook(WebhookSender {
                client: client(timeout)?,
                url: target.url.clone(),
                headers: WebhookSender::headers(&target.headers),
                hmac_secret: target.hmac_secret.clone(),
            }),
            RouteTarget::DiscordWebhook { url } => RouteSender::Discord(DiscordSender {
                client: client(timeout)?,
                url: url.clone(),
            }),
        })
    }

    /// Delivers `notice`, giving up after `timeout` (the SMTP and HTTP clients have their own
    /// timeouts per step; this bounds the whole dialogue and a multi-part Discord post).
    pub async fn send(&self, notice: &Notice, timeout: Duration) -> Result<(), SendError> {
        let delivery = async {
            match self {
                RouteSender::Email(sender) => sender.send(notice).await,
                RouteSender::Slack(sender) => sender.send(notice).await,
                RouteSender::Webhook(sender) => sender.send(notice).await,
                RouteSender::Discord(sender) => sender.send(notice).await,
            }
        };
        tokio::time::timeout(timeout, delivery)
            .await
            .map_err(|_| SendError::Timeout(timeout))?
    }
}
