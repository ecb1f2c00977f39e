//! The gateway's sockets: two WebSocket listeners (the URL from `GET /gateway/bot` and READY's
//! `resume_gateway_url`) and one task per connection. The task speaks the wire protocol
//! (handshake, query string, HELLO, zlib-stream, close frames, payload size and send-rate
//! limits, heartbeat deadline) and hands every decision about sessions to [`SimState`] under
//! the lock; what the state decides comes back as [`Outbound`] commands on the connection's
//! queue, which the task writes in order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::sleep_until;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::faults::ConnectFault;
use super::records::GatewayListener;
use super::state::{ConnectionEnd, FrameKind, Outbound, Shared, TRACE, frame};
use super::zlib::ZlibStream;

/// Largest payload a client may send (Discord closes with 4002 above it).
const MAX_CLIENT_PAYLOAD_BYTES: usize = 4096;

/// The send-rate window Discord counts client payloads in.
const SEND_RATE_WINDOW: Duration = Duration::from_secs(60);

/// How long to wait for the client's close frame after sending ours.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// API versions the sim answers; anything else is closed with 4012 like Discord does.
const SUPPORTED_VERSIONS: &[&str] = &["9", "10"];

/// Accepts connections until the sim stops (the task is aborted with the runtime).
pub(crate) async fn serve(listener: TcpListener, kind: GatewayListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, kind, shared.clone()));
            }
            // Out of file descriptors or a reset during accept: keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// What the client asked for in its URL.
#[derive(Debug, Default)]
struct GatewayQuery {
    version: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

fn parse_query(path_and_query: &str) -> GatewayQuery {
    let mut query = GatewayQuery::default();
    let Some((_, raw)) = path_and_query.split_once('?') else {
        return query;
    };
    for pair in raw.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = Some(value.to_owned());
        match key {
            "v" => query.version = value,
            "encoding" => query.encoding = value,
            "compress" => query.compress = value,
            _ => {}
        }
    }
    query
}

fn refusal(status: StatusCode, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() = status;
    response
}

async fn connection(stream: TcpStream, listener: GatewayListener, shared: Arc<Shared>) {
    // Dispatch bursts are many small frames: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let fault = shared.lock().take_connect_fault();
    let mut path_and_query = String::from("/");
    // tungstenite fixes the callback's signature, large error response included.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        if let Some(ConnectFault::RejectHandshake { status }) = fault {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return Err(refusal(
                status,
                "gateway unavailable (scripted by discord-sim)",
            ));
        }
        let query = parse_query(&path_and_query);
        if query.encoding.as_deref().is_some_and(|e| e != "json") {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "discord-sim speaks encoding=json only",
            ));
        }
        if query
            .compress
            .as_deref()
            .is_some_and(|c| c != "zlib-stream")
        {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "discord-sim supports compress=zlib-stream only",
            ));
        }
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let query = parse_query(&path_and_query);
    let compress = query.compress.is_some();
    let (tx, rx) = mpsc::unbounded_channel();
    let id =
        shared
            .lock()
            .register_connection(listener, path_and_query, compress, tx, Instant::now());
    let mut connection = Connection {
        id,
        ws,
        zlib: compress.then(ZlibStream::new),
        zombie: false,
        drop_after: None,
        end: ConnectionEnd::default(),
        received_at: VecDeque::new(),
        hello_sent: false,
        last_heartbeat: Instant::now(),
        closing_since: None,
        shared: shared.clone(),
    };
    let version_ok = query
        .version
        .as_deref()
        .is_none_or(|v| SUPPORTED_VERSIONS.contains(&v));
    connection.run(fault, version_ok, rx).await;
    let end = connection.end;
    shared.lock().connection_ended(id, end, Instant::now());
}

struct Connection {
    id: u64,
    ws: WebSocketStream<TcpStream>,
    zlib: Option<ZlibStream>,
    zombie: bool,
    /// Dispatches left before an abrupt drop (`drop_connections_after`).
    drop_after: Option<u64>,
    end: ConnectionEnd,
    /// When each client payload of the last minute arrived (send-rate limit).
    received_at: VecDeque<Instant>,
    hello_sent: bool,
    last_heartbeat: Instant,
    /// Set once we sent a close frame: only the client's answer is awaited now.
    closing_since: Option<Instant>,
    shared: Arc<Shared>,
}

/// What the loop does after handling one event.
enum Flow {
    Continue,
    Stop,
}

impl Connection {
    async fn run(
        &mut self,
        fault: Option<ConnectFault>,
        version_ok: bool,
        mut rx: mpsc::UnboundedReceiver<Outbound>,
    ) {
        let interval = Duration::from_millis(self.shared.config.heartbeat_interval_ms);
        let grace = self
            .shared
            .config
            .heartbeat_grace_ms
            .map(Duration::from_millis);
        let mut hello_at = Some(Instant::now());
        if !version_ok {
            hello_at = None;
            self.close(4012, "Invalid API version").await;
        }
        match fault {
            Some(ConnectFault::DelayHello(delay)) => hello_at = Some(Instant::now() + delay),
            Some(ConnectFault::SkipHello) => hello_at = None,
            Some(ConnectFault::ReconnectBeforeHello) => {
                hello_at = None;
                self.shared.lock().gateway.stats.reconnects_sent += 1;
                if self
                    .write_text(&frame(7, None, None, "null"))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(ConnectFault::CloseBeforeHello { code }) => {
                hello_at = None;
                self.close(code, "closed before HELLO (scripted)").await;
            }
            Some(ConnectFault::RejectHandshake { .. }) | None => {}
        }

        loop {
            let far = Instant::now() + Duration::from_secs(86_400);
            let hello_due = hello_at.filter(|_| self.closing_since.is_none());
            let heartbeat_due = match grace {
                Some(grace) if self.hello_sent && self.closing_since.is_none() => {
                    Some(self.last_heartbeat + interval.mul_f64(1.5) + grace)
                }
                _ => None,
            };
            let close_due = self.closing_since.map(|t| t + CLOSE_HANDSHAKE_TIMEOUT);
            let flow = tokio::select! {
                () = sleep_until(hello_due.unwrap_or(far).into()), if hello_due.is_some() => {
                    hello_at = None;
                    self.send_hello(interval).await
                }
                () = sleep_until(heartbeat_due.unwrap_or(far).into()), if heartbeat_due.is_some() => {
                    self.close(4009, "Session timed out").await;
                    Flow::Continue
                }
                () = sleep_until(close_due.unwrap_or(far).into()), if close_due.is_some() => {
                    Flow::Stop
                }
                inbound = self.ws.next() => self.inbound(inbound).await,
                outbound = rx.recv() => match outbound {
                    Some(outbound) => self.outbound(outbound).await,
                    None => Flow::Stop,
                },
            };
            if let Flow::Stop = flow {
                return;
            }
        }
    }

    async fn send_hello(&mut self, interval: Duration) -> Flow {
        let d = format!(
            r#"{{"heartbeat_interval":{},"_trace":{TRACE}}}"#,
            interval.as_millis()
        );
        if self.write_text(&frame(10, None, None, &d)).await.is_err() {
            return Flow::Stop;
        }
        self.hello_sent = true;
        self.last_heartbeat = Instant::now();
        if let Some(record) = self.shared.lock().record_mut(self.id) {
            record.hello_sent = true;
        }
        Flow::Continue
    }

    async fn write_text(&mut self, text: &str) -> Result<(), ()> {
        let message = match &mut self.zlib {
            Some(zlib) => Message::binary(zlib.compress(text.as_bytes()).map_err(|_| ())?),
            None => Message::text(text),
        };
        self.ws.send(message).await.map_err(|_| ())
    }

    async fn close(&mut self, code: u16, reason: &str) {
        if self.closing_since.is_some() {
            return;
        }
        self.closing_since = Some(Instant::now());
        self.end.close_code_sent = Some(code);
        {
            let mut state = self.shared.lock();
            *state
                .gateway
                .stats
                .close_codes_sent
                .entry(code)
                .or_default() += 1;
            state.closing(self.id, code);
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        // The client may already be gone; the close deadline ends the task either way.
        let _ = self.ws.close(Some(frame)).await;
    }

    fn drop_abruptly(&mut self) -> Flow {
        // SO_LINGER 0: the kernel answers with RST and no FIN, like a dead load balancer.
        let _ = self.ws.get_ref().set_zero_linger();
        self.end.dropped_by_sim = true;
        self.shared.lock().gateway.stats.abrupt_drops += 1;
        Flow::Stop
    }

    async fn outbound(&mut self, outbound: Outbound) -> Flow {
        match outbound {
            Outbound::Frame { text, kind, seq } => {
                if self.closing_since.is_some() {
                    return Flow::Continue;
                }
                if self.zombie {
                    self.shared.lock().gateway.stats.frames_swallowed_by_zombie += 1;
                    return Flow::Continue;
                }
                if self.write_text(&text).await.is_err() {
                    return Flow::Stop;
                }
                self.shared.lock().note_written(self.id, kind, seq);
                if matches!(kind, FrameKind::Dispatch | FrameKind::Replay)
                    && let Some(left) = self.drop_after.as_mut()
                {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        return self.drop_abruptly();
                    }
                }
                Flow::Continue
            }
            Outbound::RawBinary(bytes) => {
                if self.zombie || self.closing_since.is_some() {
                    return Flow::Continue;
                }
                match self.ws.send(Message::binary(bytes)).await {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop,
                }
            }
            Outbound::Close { code, reason } => {
                self.close(code, &reason).await;
                Flow::Continue
            }
            Outbound::Drop => self.drop_abruptly(),
            Outbound::DropAfter(0) => self.drop_abruptly(),
            Outbound::DropAfter(count) => {
                self.drop_after = Some(count);
                Flow::Continue
            }
            Outbound::Zombie => {
                self.zombie = true;
                Flow::Continue
            }
        }
    }

    async fn inbound(
        &mut self,
        inbound: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Flow {
        match inbound {
            Some(Ok(Message::Text(text))) => self.payload(text.as_str()).await,
            Some(Ok(Message::Binary(_))) => {
                // Clients send JSON text; ETF would be binary and is not offered here.
                self.close(4002, "Error while decoding payload.").await;
                Flow::Continue
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                self.end.close_code_received = Some(code);
                self.shared.lock().client_closing(self.id, code);
                if self.zombie || self.closing_since.is_some() {
                    // A zombie never answers; after our own close the exchange is complete.
                    return Flow::Stop;
                }
                // Reading on lets tungstenite send its close reply, then the stream ends.
                Flow::Continue
            }
            Some(Ok(_)) => Flow::Continue,
            Some(Err(_)) | None => {
                if self.end.close_code_received.is_none() && self.closing_since.is_none() {
                    self.end.client_dropped_without_close = true;
                }
                Flow::Stop
            }
        }
    }

    async fn payload(&mut self, text: &str) -> Flow {
        if self.closing_since.is_some() {
            return Flow::Continue;
        }
        let now = Instant::now();
        if let Some(record) = self.shared.lock().record_mut(self.id) {
            record.frames_received += 1;
        }
        self.received_at.push_back(now);
        while self
            .received_at
            .front()
            .is_some_and(|t| now.duration_since(*t) > SEND_RATE_WINDOW)
        {
            self.received_at.pop_front();
        }
        let limit = self.shared.config.gateway_send_limit_per_minute as usize;
        if self.received_at.len() > limit {
            self.close(4008, "Rate limited.").await;
            return Flow::Continue;
        }
        if text.len() > MAX_CLIENT_PAYLOAD_BYTES {
            self.close(4002, "Error while decoding payload.").await;
            return Flow::Continue;
        }
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            self.close(4002, "Error while decoding payload.").await;
            return Flow::Continue;
        };
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            self.close(4002, "Error while decoding payload.").await;
            return Flow::Continue;
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        let shared = self.shared.clone();
        let verdict = match op {
            1 => {
                self.last_heartbeat = now;
                shared.lock().heartbeat(self.id, d.as_u64());
                None
            }
            2 | 6 => {
                let mut state = shared.lock();
                if !self.hello_sent || state.is_authenticated(self.id) {
                    Some(4005)
                } else if op == 2 {
                    let code = state.identify(self.id, &d, &shared.config, &shared.urls, now);
                    drop(state);
                    // The live stream may be waiting for the first READY.
                    shared.stream_wake.notify_one();
                    code
                } else {
                    state.resume(self.id, &d, &shared.config, now)
                }
            }
            // Presence, voice state, request guild members, request soundboard sounds...
            3 | 4 | 8 | 31 => {
                if shared.lock().is_authenticated(self.id) {
                    None
                } else {
                    Some(4003)
                }
            }
            _ => Some(4001),
        };
        if let Some(code) = verdict {
            let reason = match code {
                4001 => "Unknown opcode.",
                4003 => "Not authenticated.",
                4004 => "Authentication failed.",
                4005 => "Already authenticated.",
                4010 => "Invalid shard.",
                4013 => "Invalid intent(s).",
                4014 => "Disallowed intent(s).",
                _ => "Error while decoding payload.",
            };
            self.close(code, reason).await;
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_is_read_like_discord_does() {
        let query = parse_query("/?v=10&encoding=json&compress=zlib-stream");
        assert_eq!(query.version.as_deref(), Some("10"));
        assert_eq!(query.encoding.as_deref(), Some("json"));
        assert_eq!(query.compress.as_deref(), Some("zlib-stream"));
        let bare = parse_query("/");
        assert!(bare.version.is_none() && bare.compress.is_none());
    }
}
