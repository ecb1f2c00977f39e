//! The email route: lettre's async SMTP transport over tokio and rustls. STARTTLS (required,
//! never silently plain), implicit TLS or plain for local relays; AUTH when a username is
//! set; an extra trusted CA from `tls_ca_file`. The transport is built once per route and
//! keeps a small connection pool, so a burst of alerts reuses one SMTP session.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailTarget, SmtpTls};
use super::error::SendError;
use super::render::{Notice, email_html, email_subject, email_text};

/// Idle SMTP connections kept per route: alerts come in bursts, rarely in parallel.
const POOL_MAX_SIZE: u32 = 2;
/// Seconds an idle SMTP connection is kept before it is closed (servers drop idle clients
/// after a few minutes anyway).
const POOL_IDLE_SECS: u64 = 60;

pub struct EmailSender {
    /// Always `Some` until dropped: lettre's pool spawns a tokio task when dropped, which panics when
    /// the actor is dropped after the runtime ended (at process exit); see `Drop`.
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailSender {
    pub fn new(target: &EmailTarget, timeout: Duration) -> Result<Self, SendError> {
        crate::tls::install_crypto_provider();
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.smtp_host.as_str())
                .port(target.smtp_port)
                .timeout(Some(timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(POOL_MAX_SIZE)
                        .idle_timeout(Duration::from_secs(POOL_IDLE_SECS)),
                );
        if target.tls != SmtpTls::None {
            let mut parameters = TlsParameters::builder(target.smtp_host.clone());
            if let Some(path) = &target.tls_ca_file {
                let pem = std::fs::read(path).map_err(|source| SendError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                let certificate = Certificate::from_pem(&pem).map_err(SendError::SmtpSetup)?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters.build_rustls().map_err(SendError::SmtpSetup)?;
            builder = builder.tls(match target.tls {
                SmtpTls::Implicit => Tls::Wrapper(parameters),
                _ => Tls::Required(parameters),
            });
        } else {
            builder = builder.tls(Tls::None);
        }
        if let Some(username) = &target.username {
            let password = target
                .password
                .as_ref()
                .map(|password| password.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(EmailSender {
            transport: Some(builder.build()),
            from: mailbox(&target.from)?,
            to: target
                .to
                .iter()
                .map(|address| mailbox(address))
                .collect::<Result<_, _>>()?,
        })
    }

    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(email_subject(notice))
            .header(header::MIME_VERSION_1_0);
        for recipient in &self.to {
            message = message.to(recipient.clone());
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(
                email_text(notice),
                email_html(notice),
            ))
            .map_err(SendError::Message)?;
        let transport = self.transport.as_ref().ok_or(SendError::Closed)?;
        transport
            .send(message)
            .await
            .map(drop)
            .map_err(SendError::Smtp)
    }
}

impl Drop for EmailSender {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            // Without a runtime the process is ending: leaving the idle connections to the
            // OS beats a panic in the pool's drop.
            std::mem::forget(self.transport.take());
        }
    }
}

fn mailbox(address: &str) -> Result<Mailbox, SendError> {
    address.parse().map_err(|source| SendError::Address {
        address: address.to_owned(),
        source,
    })
}
