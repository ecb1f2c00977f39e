//! A deliberately simple raw gateway client for discord-sim's own tests: plain
//! tokio-tungstenite plus flate2, nothing from the project's Discord client, so the sim is
//! checked against the protocol rather than against our implementation of it.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use flate2::{Decompress, FlushDecompress};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous: a busy 2-core CI machine can stall for seconds.
pub const WAIT: Duration = Duration::from_secs(30);

/// GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 15);

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    Payload(Value),
    /// A text frame that is not JSON (or a binary frame that does not inflate).
    Garbage(String),
    Closed(Option<u16>),
    /// The TCP connection ended without a close frame.
    Dropped,
}

pub struct RawGateway {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    inflate: Option<Decompress>,
    pending: Vec<u8>,
    /// Last sequence number seen.
    pub seq: Option<u64>,
    /// Binary (compressed) frames received.
    pub binary_frames: usize,
    /// Text frames received.
    pub text_frames: usize,
    /// Size of the largest decoded payload, in bytes.
    pub largest_payload: usize,
}

impl RawGateway {
    /// Connects to `base` (`ws://host:port`) with Discord's query string.
    pub async fn connect(base: &str, zlib: bool) -> Self {
        let url = if zlib {
            format!("{base}/?v=10&encoding=json&compress=zlib-stream")
        } else {
            format!("{base}/?v=10&encoding=json")
        };
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("websocket handshake");
        Self {
            ws,
            inflate: zlib.then(|| Decompress::new(true)),
            pending: Vec::new(),
            seq: None,
            binary_frames: 0,
            text_frames: 0,
            largest_payload: 0,
        }
    }

    pub async fn next(&mut self) -> Received {
        match self.next_within(WAIT).await {
            Some(received) => received,
            None => panic!("nothing from the sim within {WAIT:?}"),
        }
    }

    /// The next thing the server sends, or `None` if it sends nothing for `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            return Some(match frame {
                Some(Ok(Message::Text(text))) => {
                    self.text_frames += 1;
                    self.parse(text.as_str())
                }
                Some(Ok(Message::Binary(bytes))) => {
                    self.binary_frames += 1;
                    self.pending.extend_from_slice(&bytes);
                    if !self.pending.ends_with(&[0, 0, 0xff, 0xff]) {
                        continue;
                    }
                    let input = std::mem::take(&mut self.pending);
                    match self.inflate.as_mut() {
                        None => Received::Garbage(format!("binary frame of {} bytes", input.len())),
                        Some(inflate) => match inflate_all(inflate, &input) {
                            Ok(text) => self.parse(&text),
                            Err(err) => Received::Garbage(err),
                        },
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    Received::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Received::Dropped,
            });
        }
    }

    fn parse(&mut self, text: &str) -> Received {
        self.largest_payload = self.largest_payload.max(text.len());
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                if let Some(seq) = value.get("s").and_then(Value::as_u64) {
                    self.seq = Some(seq);
                }
                Received::Payload(value)
            }
            Err(_) => Received::Garbage(text.to_owned()),
        }
    }

    /// The next JSON payload; panics on anything else.
    pub async fn payload(&mut self) -> Value {
        match self.next().await {
            Received::Payload(value) => value,
            other => panic!("expected a payload, got {other:?}"),
        }
    }

    /// Skips payloads until one matches.
    pub async fn until(&mut self, mut matches: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let value = self.payload().await;
            if matches(&value) {
                return value;
            }
        }
    }

    /// The next dispatch of type `t`.
    pub async fn dispatch(&mut self, t: &str) -> Value {
        self.until(|v| v["t"] == json!(t)).await
    }

    /// Reads until the connection closes; returns the close code (None = dropped or no code).
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                Received::Closed(code) => return code,
                Received::Dropped => return None,
                _ => continue,
            }
        }
    }

    pub async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .expect("send to the sim");
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send to the sim");
    }

    pub async fn close(&mut self, code: u16) {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: "test".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    /// Reads HELLO and returns its interval in ms.
    pub async fn hello(&mut self) -> u64 {
        let hello = self.payload().await;
        assert_eq!(hello["op"], json!(10), "first frame must be HELLO: {hello}");
        hello["d"]["heartbeat_interval"].as_u64().expect("interval")
    }

    pub async fn heartbeat(&mut self) {
        let d = self.seq.map_or(Value::Null, Value::from);
        self.send(json!({"op": 1, "d": d})).await;
    }

    pub async fn identify(&mut self, token: &str, intents: u64) {
        self.send(json!({
            "op": 2,
            "d": {
                "token": token,
                "intents": intents,
                "properties": {"os": "linux", "browser": "sim-test", "device": "sim-test"},
                "shard": [0, 1],
                "large_threshold": 250,
            }
        }))
        .await;
    }

    /// HELLO + IDENTIFY + READY; returns READY's `d`.
    pub async fn login(&mut self, token: &str, intents: u64) -> Value {
        self.hello().await;
        self.identify(token, intents).await;
        self.dispatch("READY").await["d"].clone()
    }

    pub async fn resume(&mut self, token: &str, session_id: &str, seq: u64) {
        self.send(json!({
            "op": 6,
            "d": {"token": token, "session_id": session_id, "seq": seq}
        }))
        .await;
    }
}

fn inflate_all(context: &mut Decompress, input: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(input.len() * 4 + 1024);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let before = context.total_in();
        context
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .map_err(|e| format!("inflate failed: {e}"))?;
        consumed += (context.total_in() - before) as usize;
        if consumed >= input.len() && out.len() < out.capacity() {
            break;
        }
    }
    String::from_utf8(out).map_err(|e| format!("not utf-8: {e}"))
}

/// reqwest is built without a default crypto provider (one provider for the whole process, as
/// in the service): install ring's, once.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is all this wants.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client for the sim's REST API (installs the process's rustls provider first).
pub fn http() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("http client")
}
