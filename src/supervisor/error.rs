//! Why a message could not be delivered to (or answered by) a supervised component, and
//! [`AskError`]: that, or the component's own error in its answer.

use actix::MailboxError;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The restart budget is spent; nothing will handle messages until the process restarts.
    #[error("component {0} has failed and is no longer restarted")]
    Failed(String),
    /// The component is being rebuilt after it died; retrying later can succeed.
    #[error("component {0} is restarting")]
    Unavailable(String),
    /// The component was stopped for shutdown.
    #[error("component {0} is stopped")]
    Stopped(String),
    /// The mailbox is at capacity (`try_send` only: actix's `send` queues past the capacity).
    #[error("mailbox of component {0} is full")]
    MailboxFull(String),
    /// The message was taken but not answered, e.g. it timed out.
    #[error("message to component {name} was not answered")]
    Mailbox {
        name: String,
        #[source]
        source: MailboxError,
    },
}

impl ComponentError {
    /// Whether the same message may succeed if sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::MailboxFull(_) | Self::Mailbox { .. }
        )
    }
}

/// Why [`ComponentHandle::ask`](super::ComponentHandle::ask) brought no value back: the
/// component did not answer, or it answered with its own error `E`. Both read exactly as the
/// error inside (message and causes), so a caller that maps them into its own variants, or
/// only logs them, says the same as with the inner error.
#[derive(Debug, thiserror::Error)]
pub enum AskError<E> {
    /// The component is away (restarting, failed, stopped) or did not answer.
    #[error(transparent)]
    Component(ComponentError),
    /// The component answered with an error.
    #[error(transparent)]
    Reply(E),
}
