//! One WebSocket connection to the gateway, split in two halves that run beside the actor so
//! that neither can block its arbiter:
//!
//! - the **reader** is a stream the actor adds to its context (`ctx.add_stream`). It inflates
//!   and parses frames, hands dispatches to the event queue itself (`send().await`: a full
//!   queue slows the reader, nothing is dropped) and yields to the actor only what the
//!   protocol needs: HELLO, ACKs, op 1/7/9, the sequence of each dispatch once delivered,
//!   session starts, and how the connection ended.
//! - the **writer** is a task owning the sink, fed through a channel; heartbeats keep going
//!   out while the reader waits for room in the queue. Dropping its [`Outbox`] (or
//!   [`Outbox::close`]) sends a close frame and ends it.
//!
//! Both belong to one connection only: a new connection gets new ones, and items carry the
//! connection's generation so the actor can ignore anything late from an old one.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use slog::{Logger, debug, warn};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use super::dispatch::{self, Dispatch};
use super::error::{ConnectError, InflateError};
use super::heartbeat::ReaderProgress;
use super::inflate::ZlibStream;
use super::metrics::GatewayMetrics;
use crate::config::{REDACTED, Secret};
use crate::discord::gateway::{GatewayEvent, ResumableSession, SequencedEvent};
use crate::discord::gateway::{Hello, InboundFrame, opcode};

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close code for every close we start in order to resume: anything but 1000/1001, which
/// would end the session on Discord's side. Twilight uses the same.
pub(super) const RESUMABLE_CLOSE_CODE: u16 = 4000;

/// Characters of a bad frame quoted in the log: enough to recognise it, never a whole
/// message body.
const EXCERPT_CHARS: usize = 160;

/// Opens a WebSocket to `url` without any frame or message size limit: a large guild's
/// GUILD_CREATE is megabytes.
pub(super) async fn open(url: &str, timeout: Duration) -> Result<Socket, ConnectError> {
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    match tokio::time::timeout(timeout, connect_async_with_config(url, Some(config), true)).await {
        Err(_elapsed) => Err(ConnectError::Timeout(timeout)),
        Ok(Err(err)) => Err(ConnectError::WebSocket(err)),
        Ok(Ok((socket, _response))) => Ok(socket),
    }
}

enum WriterCommand {
    Send(WsMessage),
    Close(u16),
}

/// The sending side of one connection. No Debug: queued payloads may hold the token.
pub(super) struct Outbox {
    commands: mpsc::UnboundedSender<WriterCommand>,
}

impl Outbox {
    /// Queues a text payload; false when the writer has already ended (the socket failed,
    /// and the reader will report how).
    pub(super) fn send(&self, text: String) -> bool {
        self.commands
            .send(WriterCommand::Send(WsMessage::text(text)))
            .is_ok()
    }

    /// Sends a close frame with `code` after what is queued, then ends the writer.
    pub(super) fn close(self, code: u16) {
        // Err: the writer already ended, and with it the socket.
        let _ = self.commands.send(WriterCommand::Close(code));
    }
}

/// Starts the writer task for `sink` on the current arbiter.
pub(super) fn spawn_writer(
    sink: SplitSink<Socket, WsMessage>,
    close_timeout: Duration,
    log: Logger,
) -> Outbox {
    let (commands, receiver) = mpsc::unbounded_channel();
    actix_rt::spawn(write_loop(sink, receiver, close_timeout, log));
    Outbox { commands }
}

async fn write_loop(
    mut sink: SplitSink<Socket, WsMessage>,
    mut commands: mpsc::UnboundedReceiver<WriterCommand>,
    close_timeout: Duration,
    log: Logger,
) {
    let code = loop {
        match commands.recv().await {
            Some(WriterCommand::Send(message)) => {
                if let Err(err) = sink.send(message).await {
                    // Display only: a failed write's Debug could hold the payload (token).
                    debug!(log, "Gateway write failed"; "error" => %err);
                    return;
                }
            }
            Some(WriterCommand::Close(code)) => break code,
            // The connection was dropped without a word: keep the session resumable.
            None => break RESUMABLE_CLOSE_CODE,
        }
    };
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    };
    let closing = async {
        sink.send(WsMessage::Close(Some(frame))).await?;
        sink.close().await
    };
    match tokio::time::timeout(close_timeout, closing).await {
        Ok(Ok(())) => debug!(log, "Gateway connection closed"; "code" => code),
        Ok(Err(err)) => {
            debug!(log, "Gateway close frame not sent"; "code" => code, "error" => %err)
        }
        Err(_elapsed) => debug!(log, "Gateway close timed out"; "code" => code),
    }
}

/// What the actor and the reader of one connection share: whether the reader is waiting for
/// room in the event queue (so the heartbeat does not take our own backlog for a dead
/// connection), and whether the actor has retired the connection.
#[derive(Debug, Default)]
pub(super) struct ReaderActivity {
    stalled: Cell<bool>,
    stalls: Cell<u64>,
    retired: Cell<bool>,
}

impl ReaderActivity {
    /// The actor is done with this connection. Cancelling the reader's stream is not enough:
    /// actix polls a stream again right after the handler that cancelled it, and that poll
    /// must not read (and deliver) another frame whose sequence the actor will not record.
    pub(super) fn retire(&self) {
        self.retired.set(true);
    }

    pub(super) fn progress(&self) -> ReaderProgress {
        ReaderProgress {
            stalled_now: self.stalled.get(),
            stalls: self.stalls.get(),
        }
    }

    fn stall_began(&self) {
        self.stalled.set(true);
        self.stalls.set(self.stalls.get().wrapping_add(1));
    }

    fn stall_ended(&self) {
        self.stalled.set(false);
    }
}

/// A session the gateway started or continued on this connection.
#[derive(Debug)]
pub(super) enum SessionStart {
    Ready(Arc<ResumableSession>),
    Resumed,
}

/// What the reader tells the actor.
#[derive(Debug)]
pub(super) enum Inbound {
    Hello {
        heartbeat_interval: Duration,
    },
    HeartbeatAck,
    /// Op 1: the server wants a beat now.
    HeartbeatRequest,
    /// Op 7.
    Reconnect,
    /// Op 9.
    InvalidSession {
        resumable: bool,
    },
    /// A dispatch was handled (delivered, skipped or ignored): its sequence number counts.
    Dispatched {
        seq: Option<u64>,
        session: Option<SessionStart>,
    },
    /// A frame of no interest to the actor (an unknown opcode, a malformed frame); it still
    /// shows the connection is alive.
    Other,
    /// The connection ended; the reader is done.
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// The zlib stream broke; the reader is done.
    Inflate(InflateError),
    /// Nobody receives events any more; the reader is done.
    EventQueueClosed,
}

impl Inbound {
    fn ends_reader(&self) -> bool {
        matches!(
            self,
            Inbound::Closed { .. } | Inbound::Inflate(_) | Inbound::EventQueueClosed
        )
    }
}

/// An [`Inbound`] of the connection numbered `generation`.
#[derive(Debug)]
pub(super) struct ReaderItem {
    pub(super) generation: u64,
    pub(super) inbound: Inbound,
}

/// What the reader needs to turn frames into events.
pub(super) struct ReaderSetup {
    pub(super) generation: u64,
    pub(super) compressed: bool,
    pub(super) events: mpsc::Sender<SequencedEvent>,
    pub(super) activity: Rc<ReaderActivity>,
    /// The new session replaces a lost one: follow its READY with `SessionLost`.
    pub(super) lost_session: bool,
    /// The session being resumed: the replayed events belong to it, and it is announced
    /// again on RESUMED.
    pub(super) resuming: Option<Arc<ResumableSession>>,
    /// What a session opened on this connection belongs to: `[shard_id, shard_count]` and
    /// the token's fingerprint.
    pub(super) shard: [u32; 2],
    pub(super) token_fingerprint: String,
    pub(super) metrics: GatewayMetrics,
    pub(super) log: Logger,
    /// Only to keep it out of logged excerpts.
    pub(super) token: Secret,
}

struct Reader {
    stream: SplitStream<Socket>,
    inflater: Option<ZlibStream>,
    /// The session events on this connection belong to: the one resumed, or the one READY
    /// opened.
    session: Option<Arc<ResumableSession>>,
    setup: ReaderSetup,
}

/// The reader of one connection, as a stream of [`ReaderItem`]s that ends after the item
/// that says the connection ended.
pub(super) fn reader(
    stream: SplitStream<Socket>,
    setup: ReaderSetup,
) -> impl Stream<Item = ReaderItem> + 'static {
    let reader = Reader {
        stream,
        inflater: setup.compressed.then(ZlibStream::new),
        session: setup.resuming.clone(),
        setup,
    };
    futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader.filter(|reader| !reader.setup.activity.retired.get())?;
        let inbound = reader.next_inbound().await;
        let item = ReaderItem {
            generation: reader.setup.generation,
            inbound,
        };
        let more = (!item.inbound.ends_reader()).then_some(reader);
        Some((item, more))
    })
}

impl Reader {
    async fn next_inbound(&mut self) -> Inbound {
        loop {
            let message = match self.stream.next().await {
                Some(Ok(message)) => message,
                // A TLS EOF without close_notify, a reset, a protocol error: all an ordinary
                // close without a code.
                Some(Err(err)) => {
                    return Inbound::Closed {
                        code: None,
                        reason: err.to_string(),
                    };
                }
                None => {
                    return Inbound::Closed {
                        code: None,
                        reason: "connection ended without a close frame".to_owned(),
                    };
                }
            };
            let payload: &[u8] = match &message {
                WsMessage::Text(text) => text.as_bytes(),
                WsMessage::Binary(bytes) => match self.inflater.as_mut() {
                    Some(inflater) => match inflater.push(bytes) {
                        Ok(Some(inflated)) => inflated,
                        Ok(None) => continue,
                        Err(err) => return Inbound::Inflate(err),
                    },
                    None => bytes,
                },
                WsMessage::Close(frame) => {
                    return Inbound::Closed {
                        code: frame.as_ref().map(|frame| u16::from(frame.code)),
                        reason: frame
                            .as_ref()
                            .map(|frame| frame.reason.to_string())
                            .unwrap_or_default(),
                    };
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
            };
            return handle_payload(&self.setup, &mut self.session, payload).await;
        }
    }
}

async fn handle_payload(
    setup: &ReaderSetup,
    session: &mut Option<Arc<ResumableSession>>,
    payload: &[u8],
) -> Inbound {
    let frame: InboundFrame<'_> = match serde_json::from_slice(payload) {
        Ok(frame) => frame,
        Err(err) => {
            setup.metrics.malformed_frames.inc();
            warn!(setup.log, "Gateway frame skipped";
                "error" => %err, "bytes" => payload.len(),
                "excerpt" => excerpt(payload, &setup.token));
            return Inbound::Other;
        }
    };
    match frame.op {
        opcode::DISPATCH => handle_dispatch(setup, session, &frame).await,
        opcode::HEARTBEAT => Inbound::HeartbeatRequest,
        opcode::RECONNECT => Inbound::Reconnect,
        opcode::INVALID_SESSION => {
            // `d` is a boolean; anything else (null, missing) cannot be resumed.
            let resumable = frame
                .d
                .and_then(|d| serde_json::from_str::<bool>(d.get()).ok())
                .unwrap_or(false);
            Inbound::InvalidSession { resumable }
        }
        opcode::HELLO => {
            let hello = frame
                .d
                .map(|d| serde_json::from_str::<Hello>(d.get()))
                .transpose();
            match hello {
                Ok(Some(hello)) if hello.heartbeat_interval > 0 => Inbound::Hello {
                    heartbeat_interval: Duration::from_millis(hello.heartbeat_interval),
                },
                _ => {
                    setup.metrics.malformed_frames.inc();
                    warn!(setup.log, "Gateway HELLO skipped";
                        "excerpt" => excerpt(payload, &setup.token));
                    Inbound::Other
                }
            }
        }
        opcode::HEARTBEAT_ACK => Inbound::HeartbeatAck,
        other => {
            debug!(setup.log, "Gateway opcode ignored"; "op" => other);
            Inbound::Other
        }
    }
}

async fn handle_dispatch(
    setup: &ReaderSetup,
    session: &mut Option<Arc<ResumableSession>>,
    frame: &InboundFrame<'_>,
) -> Inbound {
    let kind = frame.t.as_deref().unwrap_or_default();
    let seq = frame.s;
    setup.metrics.count_event(dispatch::type_label(kind));
    let mut started = None;
    match dispatch::parse(kind, frame.d) {
        Ok(Dispatch::Event(event)) => {
            if deliver(setup, session, seq, event).await.is_err() {
                return Inbound::EventQueueClosed;
            }
        }
        Ok(Dispatch::Ready(ready)) => {
            let opened = Arc::new(ResumableSession {
                session_id: ready.session_id,
                resume_url: ready.resume_gateway_url,
                user: ready.user,
                shard: setup.shard,
                token_fingerprint: setup.token_fingerprint.clone(),
            });
            *session = Some(Arc::clone(&opened));
            let announced = GatewayEvent::Ready {
                session_id: opened.session_id.clone(),
                user: opened.user.clone(),
                resumed: false,
            };
            if deliver(setup, session, seq, announced).await.is_err()
                || (setup.lost_session
                    && deliver(setup, session, None, GatewayEvent::SessionLost)
                        .await
                        .is_err())
            {
                return Inbound::EventQueueClosed;
            }
            started = Some(SessionStart::Ready(opened));
        }
        Ok(Dispatch::Resumed) => {
            if let Some(resumed) = setup.resuming.as_deref() {
                let announced = GatewayEvent::Ready {
                    session_id: resumed.session_id.clone(),
                    user: resumed.user.clone(),
                    resumed: true,
                };
                if deliver(setup, session, seq, announced).await.is_err() {
                    return Inbound::EventQueueClosed;
                }
            }
            started = Some(SessionStart::Resumed);
        }
        Ok(Dispatch::Ignored) => {}
        Err(err) => {
            setup.metrics.malformed_frames.inc();
            let body = frame.d.map_or("", |d| d.get());
            warn!(setup.log, "Gateway dispatch skipped";
                "type" => kind, "seq" => seq, "error" => %err, "bytes" => body.len(),
                "excerpt" => excerpt(body.as_bytes(), &setup.token));
        }
    }
    Inbound::Dispatched {
        seq,
        session: started,
    }
}

/// The event queue's receiver is gone.
struct QueueClosed;

/// Puts `event` (of `session`, numbered `seq`) in the queue, waiting for room: a full queue
/// slows the reader instead of losing events.
async fn deliver(
    setup: &ReaderSetup,
    session: &Option<Arc<ResumableSession>>,
    seq: Option<u64>,
    event: GatewayEvent,
) -> Result<(), QueueClosed> {
    let event = SequencedEvent {
        session: session.clone(),
        seq,
        event,
    };
    match setup.events.try_send(event) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(QueueClosed),
        Err(mpsc::error::TrySendError::Full(event)) => {
            setup.activity.stall_began();
            let started = tokio::time::Instant::now();
            let sent = setup.events.send(event).await;
            setup.activity.stall_ended();
            setup
                .metrics
                .output_blocked_seconds
                .add(started.elapsed().as_secs_f64());
            sent.map_err(|_closed| QueueClosed)
        }
    }
}

/// The start of `bytes` for a log line, with the token masked should it appear.
pub(super) fn excerpt(bytes: &[u8], token: &Secret) -> String {
    let token = token.expose();
    // Mask before cutting, over a window long enough to hold a token straddling the cut.
    let window = &bytes[..bytes.len().min(EXCERPT_CHARS * 4 + token.len())];
    let mut text = String::from_utf8_lossy(window).into_owned();
    if !token.is_empty() {
        text = text.replace(token, REDACTED);
    }
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => {
            text.truncate(cut);
            text.push('…');
            text
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_never_show_the_token() {
        let token = Secret::new("MTk4NjIy.secret-token");
        let long = format!("{{\"op\":0,\"d\":\"{}\"}}", "x".repeat(10_000));
        let cut = excerpt(long.as_bytes(), &token);
        assert!(cut.chars().count() <= EXCERPT_CHARS + 1);
        // A token straddling the cut is masked before the cut.
        let straddling = format!("{}{}tail", "y".repeat(EXCERPT_CHARS - 5), token.expose());
        let cut = excerpt(straddling.as_bytes(), &token);
        assert!(!cut.contains("MTk4"), "{cut}");
        assert!(!excerpt(b"\xff\xfe broken utf-8", &token).is_empty());
    }
}
