//! What callers hold instead of a raw `Addr`: [`ComponentHandle`] follows the component
//! across rebuilds (a rebuilt actor has a new mailbox) and answers at once when it has failed
//! or stopped; [`ComponentRecipient`] is the same for one message type, without naming the
//! actor.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use actix::dev::{SendError, ToEnvelope};
use actix::{Actor, Addr, Context, Handler, MailboxError, Message, Recipient};

use super::error::{AskError, ComponentError};
use super::lifecycle::ComponentCore;
use super::status::ComponentStatus;

/// The component's current mailbox, shared by its handles and its supervisor task.
pub(crate) struct Shared<A: Actor> {
    pub(crate) core: Arc<ComponentCore>,
    slot: RwLock<Slot<A>>,
}

struct Slot<A: Actor> {
    /// `None` once the component has ended, so its mailbox closes even if raw addresses were
    /// never handed out.
    addr: Option<Addr<A>>,
    /// Bumped on every rebuild, so cached recipients notice the new mailbox.
    generation: u64,
}

impl<A: Actor<Context = Context<A>>> Shared<A> {
    pub(crate) fn new(core: Arc<ComponentCore>, addr: Addr<A>) -> Self {
        Self {
            core,
            slot: RwLock::new(Slot {
                addr: Some(addr),
                generation: 0,
            }),
        }
    }

    /// A poisoned lock only guards an address; the last one written is still right.
    fn read_slot(&self) -> RwLockReadGuard<'_, Slot<A>> {
        self.slot.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn replace_addr(&self, addr: Addr<A>) {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        slot.addr = Some(addr);
        slot.generation += 1;
    }

    pub(crate) fn close(&self) {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        slot.addr = None;
    }

    /// Runs `use_addr` on the live address without cloning it: an actix sender remembers that
    /// the mailbox was full, so `try_send` only reports `Full` through a long-lived sender.
    fn with_addr<R>(&self, use_addr: impl FnOnce(&Addr<A>) -> R) -> Result<R, ComponentError> {
        let slot = self.read_slot();
        match &slot.addr {
            Some(addr) if addr.connected() => Ok(use_addr(addr)),
            _ => Err(self.gone_error()),
        }
    }

    /// The error for a mailbox that is closed or about to be.
    fn gone_error(&self) -> ComponentError {
        let name = self.core.name().to_owned();
        match self.core.status() {
            ComponentStatus::Failed => ComponentError::Failed(name),
            ComponentStatus::Stopped => ComponentError::Stopped(name),
            _ => ComponentError::Unavailable(name),
        }
    }

    fn mailbox_error(&self, error: MailboxError) -> ComponentError {
        match error {
            MailboxError::Closed => self.gone_error(),
            source @ MailboxError::Timeout => ComponentError::Mailbox {
                name: self.core.name().to_owned(),
                source,
            },
        }
    }

    fn send_error<M>(&self, error: SendError<M>) -> ComponentError {
        match error {
            SendError::Full(_) => ComponentError::MailboxFull(self.core.name().to_owned()),
            SendError::Closed(_) => self.gone_error(),
        }
    }
}

/// A supervised component, as callers see it. Clone freely; all clones follow the same
/// component.
pub struct ComponentHandle<A: Actor> {
    shared: Arc<Shared<A>>,
}

impl<A: Actor> Clone for ComponentHandle<A> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Actor> fmt::Debug for ComponentHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentHandle")
            .field("name", &self.shared.core.name())
            .field("status", &self.shared.core.status())
            .finish()
    }
}

impl<A: Actor<Context = Context<A>>> ComponentHandle<A> {
    pub(crate) fn new(shared: Arc<Shared<A>>) -> Self {
        Self { shared }
    }

    pub fn name(&self) -> &str {
        self.shared.core.name()
    }

    pub fn status(&self) -> ComponentStatus {
        self.shared.core.status()
    }

    /// Restarts since the process started.
    pub fn restarts(&self) -> u32 {
        self.shared.core.restarts()
    }

    /// The current address. It goes stale when the actor is rebuilt after a panic, so keep
    /// the handle, not the address.
    pub fn addr(&self) -> Result<Addr<A>, ComponentError> {
        self.shared.with_addr(Addr::clone)
    }

    /// Sends `msg` and waits for the answer; the future does not borrow the handle. While the
    /// actor backs off before a restart the message waits in its mailbox. Like actix's own
    /// `send`, this does not wait for room: a full mailbox takes the message anyway, so
    /// bound hot paths with [`try_send`](Self::try_send) or a limit on requests in flight.
    pub fn send<M>(
        &self,
        msg: M,
    ) -> impl Future<Output = Result<M::Result, ComponentError>> + use<A, M>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let request = self.shared.with_addr(|addr| addr.send(msg));
        let shared = Arc::clone(&self.shared);
        async move { request?.await.map_err(|error| shared.mailbox_error(error)) }
    }

    /// [`send`](Self::send) for a message answered with `Result<T, E>`: one error for "no
    /// answer" and "answered with an error", each kept as it was.
    pub fn ask<M, T, E>(
        &self,
        msg: M,
    ) -> impl Future<Output = Result<T, AskError<E>>> + use<A, M, T, E>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message<Result = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        flatten(self.send(msg))
    }

    /// Queues `msg` without waiting for an answer, or answers [`ComponentError::MailboxFull`]
    /// once the mailbox is at its capacity (all clones of the handle share one sender, which
    /// is what lets actix notice).
    pub fn try_send<M>(&self, msg: M) -> Result<(), ComponentError>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.shared
            .with_addr(|addr| addr.try_send(msg))?
            .map_err(|error| self.shared.send_error(error))
    }

    /// A handle for one message type that does not name the actor (for components that only
    /// need to send `M`).
    pub fn recipient<M>(&self) -> ComponentRecipient<M>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        ComponentRecipient {
            source: Arc::clone(&self.shared) as Arc<dyn RecipientSource<M>>,
            cached: Arc::default(),
        }
    }

    /// Asks the actor to stop for good (no restart) and waits until it has; immediate for a
    /// component that already failed or stopped. Messages still queued are dropped and their
    /// senders get an error, so stop the components that feed this one first.
    pub fn stop(&self) -> impl Future<Output = ()> + use<A> {
        stop_component(Arc::clone(&self.shared.core))
    }
}

/// One `Result` from the two layers of an answer to a message answered with a `Result`.
async fn flatten<T, E>(
    answer: impl Future<Output = Result<Result<T, E>, ComponentError>>,
) -> Result<T, AskError<E>> {
    answer
        .await
        .map_err(AskError::Component)?
        .map_err(AskError::Reply)
}

pub(crate) async fn stop_component(core: Arc<ComponentCore>) {
    core.request_stop();
    core.ended().await;
}

/// A fixed recipient: no rebuilds to follow.
struct Unsupervised<M>
where
    M: Message + Send,
    M::Result: Send,
{
    name: String,
    recipient: Recipient<M>,
}

impl<M> RecipientSource<M> for Unsupervised<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn refresh(&self, cached: &mut Option<CachedRecipient<M>>) -> Result<(), ComponentError> {
        if !self.recipient.connected() {
            *cached = None;
            return Err(ComponentError::Stopped(self.name.clone()));
        }
        if cached.is_none() {
            *cached = Some((0, self.recipient.clone()));
        }
        Ok(())
    }

    fn mailbox_error(&self, error: MailboxError) -> ComponentError {
        match error {
            MailboxError::Closed => ComponentError::Stopped(self.name.clone()),
            source @ MailboxError::Timeout => ComponentError::Mailbox {
                name: self.name.clone(),
                source,
            },
        }
    }

    fn send_error(&self, error: SendError<M>) -> ComponentError {
        match error {
            SendError::Full(_) => ComponentError::MailboxFull(self.name.clone()),
            SendError::Closed(_) => ComponentError::Stopped(self.name.clone()),
        }
    }
}

/// A recipient for one mailbox, and the generation of the slot it was taken from.
type CachedRecipient<M> = (u64, Recipient<M>);

/// How a [`ComponentRecipient`] reaches the component without knowing the actor type.
trait RecipientSource<M>: Send + Sync
where
    M: Message + Send,
    M::Result: Send,
{
    /// Brings `cached` up to date with the component's current mailbox.
    fn refresh(&self, cached: &mut Option<CachedRecipient<M>>) -> Result<(), ComponentError>;
    fn mailbox_error(&self, error: MailboxError) -> ComponentError;
    fn send_error(&self, error: SendError<M>) -> ComponentError;
}

impl<A, M> RecipientSource<M> for Shared<A>
where
    A: Actor<Context = Context<A>> + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn refresh(&self, cached: &mut Option<CachedRecipient<M>>) -> Result<(), ComponentError> {
        let slot = self.read_slot();
        match &slot.addr {
            Some(addr) if addr.connected() => {
                if cached
                    .as_ref()
                    .is_none_or(|(seen, _)| *seen != slot.generation)
                {
                    *cached = Some((slot.generation, addr.clone().recipient()));
                }
                Ok(())
            }
            _ => {
                *cached = None;
                Err(self.gone_error())
            }
        }
    }

    fn mailbox_error(&self, error: MailboxError) -> ComponentError {
        Shared::mailbox_error(self, error)
    }

    fn send_error(&self, error: SendError<M>) -> ComponentError {
        Shared::send_error(self, error)
    }
}

/// A supervised component seen through one message type. Clones share one sender, so
/// `try_send` sees the mailbox's capacity.
pub struct ComponentRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    source: Arc<dyn RecipientSource<M>>,
    cached: Arc<Mutex<Option<CachedRecipient<M>>>>,
}

impl<M> Clone for ComponentRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    fn clone(&self) -> Self {
        Self {
            source: Arc::clone(&self.source),
            cached: Arc::clone(&self.cached),
        }
    }
}

impl<M> fmt::Debug for ComponentRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentRecipient").finish_non_exhaustive()
    }
}

impl<M> ComponentRecipient<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    /// The same interface over an actor that is not supervised (a one-shot CLI command's
    /// DbActor, a test's), so code taking a `ComponentRecipient` runs without a supervisor.
    pub fn unsupervised(name: &str, recipient: Recipient<M>) -> Self {
        Self {
            source: Arc::new(Unsupervised {
                name: name.to_owned(),
                recipient,
            }),
            cached: Arc::default(),
        }
    }

    fn with_recipient<R>(
        &self,
        use_recipient: impl FnOnce(&Recipient<M>) -> R,
    ) -> Result<R, ComponentError> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        self.source.refresh(&mut cached)?;
        match cached.as_ref() {
            Some((_, recipient)) => Ok(use_recipient(recipient)),
            // `refresh` fills the cache whenever it succeeds.
            None => Err(self.source.mailbox_error(MailboxError::Closed)),
        }
    }

    /// As [`ComponentHandle::send`].
    pub fn send(&self, msg: M) -> impl Future<Output = Result<M::Result, ComponentError>> + use<M> {
        let request = self.with_recipient(|recipient| recipient.send(msg));
        let source = Arc::clone(&self.source);
        async move { request?.await.map_err(|error| source.mailbox_error(error)) }
    }

    /// As [`ComponentHandle::ask`].
    pub fn ask<T, E>(&self, msg: M) -> impl Future<Output = Result<T, AskError<E>>> + use<M, T, E>
    where
        M: Message<Result = Result<T, E>>,
        T: Send + 'static,
        E: Send + 'static,
    {
        flatten(self.send(msg))
    }

    /// As [`ComponentHandle::try_send`].
    pub fn try_send(&self, msg: M) -> Result<(), ComponentError> {
        self.with_recipient(|recipient| recipient.try_send(msg))?
            .map_err(|error| self.source.send_error(error))
    }
}
