//! A scripted gateway for the actor tests: a real WebSocket server on 127.0.0.1:0 that hands
//! each accepted connection to the test, which then plays Discord's side step by step (the
//! way discord.js and Remora test their clients). Heartbeats are recorded and, unless turned
//! off, answered with ACKs by the connection's own task, so scripts only deal with the rest.
//! With `compress=zlib-stream` in the query, every frame goes out through one deflate
//! context per connection, as Discord does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{WebSocketStream, accept_hdr_async_with_config};

use super::inflate::tests::Deflater;

/// Deadline for anything a test waits for: far above what an idle machine needs.
pub(super) const GENEROUS_WAIT: Duration = Duration::from_secs(20);

pub(super) struct TestGateway {
    addr: SocketAddr,
    connections: mpsc::UnboundedReceiver<ServerConn>,
}

impl TestGateway {
    pub(super) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, connections) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _peer)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Some(conn) = ServerConn::accept(tcp).await {
                        let _ = sender.send(conn);
                    }
                });
            }
        });
        Self { addr, connections }
    }

    pub(super) fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The next connection the client opens.
    pub(super) async fn next_connection(&mut self) -> ServerConn {
        tokio::time::timeout(GENEROUS_WAIT, self.connections.recv())
            .await
            .expect("timed out waiting for the client to connect")
            .expect("server stopped")
    }

    /// True if no connection arrives within `wait`.
    pub(super) async fn no_connection_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.connections.recv())
            .await
            .is_err()
    }
}

/// What the client sent, other than heartbeats.
#[derive(Debug)]
pub(super) enum ClientFrame {
    Json(Value),
    /// The client closed (its code) or the connection ended (`None`).
    Closed(Option<u16>),
}

enum Command {
    Send(Value),
    /// A payload compressed as one message but sent in two WebSocket frames.
    SendSplit(Value),
    Raw(WsMessage),
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
}

pub(super) struct ServerConn {
    /// The request path with its query string.
    pub(super) path: String,
    frames: mpsc::UnboundedReceiver<ClientFrame>,
    commands: mpsc::UnboundedSender<Command>,
    acks: Arc<AtomicBool>,
    heartbeats: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl ServerConn {
    async fn accept(tcp: TcpStream) -> Option<Self> {
        let path = Arc::new(Mutex::new(String::new()));
        let seen_path = Arc::clone(&path);
        // The Err type is tungstenite's, sized as it chose.
        #[allow(clippy::result_large_err)]
        let callback = move |request: &Request, response: Response| {
            *seen_path.lock().unwrap() = request.uri().to_string();
            Ok(response)
        };
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let socket = accept_hdr_async_with_config(tcp, callback, Some(config))
            .await
            .ok()?;
        let path = path.lock().unwrap().clone();
        let deflater = path.contains("compress=zlib-stream").then(Deflater::new);
        let (frame_sender, frames) = mpsc::unbounded_channel();
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let acks = Arc::new(AtomicBool::new(true));
        let heartbeats = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(serve(
            socket,
            deflater,
            frame_sender,
            command_receiver,
            Arc::clone(&acks),
            Arc::clone(&heartbeats),
        ));
        Some(Self {
            path,
            frames,
            commands,
            acks,
            heartbeats,
        })
    }

    pub(super) fn send(&self, payload: Value) {
        let _ = self.commands.send(Command::Send(payload));
    }

    pub(super) fn send_split(&self, payload: Value) {
        let _ = self.commands.send(Command::SendSplit(payload));
    }

    pub(super) fn send_raw(&self, message: WsMessage) {
        let _ = self.commands.send(Command::Raw(message));
    }

    pub(super) fn hello(&self, interval_ms: u64) {
        self.send(
            json!({"op": 10, "d": {"heartbeat_interval": interval_ms, "_trace": ["test"]},
                         "s": null, "t": null}),
        );
    }

    pub(super) fn dispatch(&self, kind: &str, seq: u64, data: Value) {
        self.send(json!({"op": 0, "t": kind, "s": seq, "d": data}));
    }

    pub(super) fn ready(&self, seq: u64, session_id: &str, resume_url: &str) {
        self.dispatch(
            "READY",
            seq,
            json!({
                "v": 10, "session_id": session_id, "resume_gateway_url": resume_url,
                "user": {"id": "900", "username": "monitor", "bot": true, "global_name": null},
                "guilds": [{"id": "300", "unavailable": true}], "shard": [0, 1],
                "application": {"id": "900", "flags": 0}
            }),
        );
    }

    pub(super) fn close(&self, code: u16) {
        let _ = self.commands.send(Command::Close(code));
    }

    pub(super) fn drop_tcp(&self) {
        let _ = self.commands.send(Command::Drop);
    }

    pub(super) fn set_acks(&self, on: bool) {
        self.acks.store(on, Ordering::SeqCst);
    }

    /// The `d` of every heartbeat received so far, with when it arrived.
    pub(super) fn heartbeats(&self) -> Vec<(Instant, Value)> {
        self.heartbeats.lock().unwrap().clone()
    }

    /// The next frame the client sends (heartbeats aside).
    pub(super) async fn next_frame(&mut self) -> ClientFrame {
        tokio::time::timeout(GENEROUS_WAIT, self.frames.recv())
            .await
            .expect("timed out waiting for a client frame")
            .unwrap_or(ClientFrame::Closed(None))
    }

    /// The next frame, which must be a payload with opcode `op`.
    pub(super) async fn expect_op(&mut self, op: u64) -> Value {
        match self.next_frame().await {
            ClientFrame::Json(payload) if payload["op"] == op => payload,
            other => panic!("expected op {op}, got {other:?}"),
        }
    }

    /// Waits for the client to close or drop the connection; its close code.
    pub(super) async fn closed(&mut self) -> Option<u16> {
        loop {
            if let ClientFrame::Closed(code) = self.next_frame().await {
                return code;
            }
        }
    }

    /// True if the client sends nothing (heartbeats aside) within `wait`.
    pub(super) async fn silent_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.frames.recv())
            .await
            .is_err()
    }
}

async fn serve(
    socket: WebSocketStream<TcpStream>,
    mut deflater: Option<Deflater>,
    frames: mpsc::UnboundedSender<ClientFrame>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    acks: Arc<AtomicBool>,
    heartbeats: Arc<Mutex<Vec<(Instant, Value)>>>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut encode = move |payload: &Value| -> WsMessage {
        let text = payload.to_string();
        match deflater.as_mut() {
            Some(deflater) => WsMessage::binary(deflater.message(text.as_bytes())),
            None => WsMessage::text(text),
        }
    };
    loop {
        tokio::select! {
            inbound = stream.next() => match inbound {
                Some(Ok(WsMessage::Text(text))) => {
                    let Ok(payload) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if payload["op"] == 1 {
                        heartbeats.lock().unwrap().push((Instant::now(), payload["d"].clone()));
                        if acks.load(Ordering::SeqCst)
                            && sink.send(encode(&json!({"op": 11}))).await.is_err()
                        {
                            let _ = frames.send(ClientFrame::Closed(None));
                            return;
                        }
                    } else {
                        let _ = frames.send(ClientFrame::Json(payload));
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    let _ = frames.send(ClientFrame::Closed(frame.map(|frame| u16::from(frame.code))));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = frames.send(ClientFrame::Closed(None));
                    return;
                }
            },
            command = commands.recv() => {
                let message = match command {
                    Some(Command::Send(payload)) => encode(&payload),
                    Some(Command::SendSplit(payload)) => {
                        let whole = encode(&payload).into_data();
                        let (head, tail) = whole.split_at(whole.len() / 2);
                        if sink.send(WsMessage::binary(head.to_vec())).await.is_err() {
                            return;
                        }
                        WsMessage::binary(tail.to_vec())
                    }
                    Some(Command::Raw(message)) => message,
                    Some(Command::Close(code)) => WsMessage::Close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: "scripted close".into(),
                    })),
                    Some(Command::Drop) | None => {
                        let _ = frames.send(ClientFrame::Closed(None));
                        return;
                    }
                };
                if sink.send(message).await.is_err() {
                    let _ = frames.send(ClientFrame::Closed(None));
                    return;
                }
            }
        }
    }
}
