//! A fake model server for triage: OpenAI-style `POST /chat/completions` on 127.0.0.1:0 that
//! reads the numbered lines of a triage prompt and answers one item per number, counting
//! calls and the messages they carried. Optionally slow, and optionally wrong about the first
//! message of every batch of several (an importance of 837649), as small models are.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

pub const MODEL: &str = "triage-model";

#[derive(Default)]
struct State {
    calls: AtomicU64,
    messages: AtomicU64,
    prompt_chars: AtomicU64,
    delay_ms: AtomicU64,
    corrupt_first: AtomicBool,
}

pub struct FakeTriage {
    pub base_url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl FakeTriage {
    /// Starts on its own thread and runtime, so it serves whatever the test's runtime does.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(State::default());
        let shared = web::Data::from(Arc::clone(&state));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("listen")
                .run();
                sender.send(server.handle()).expect("hand over the handle");
                let _ = server.await;
            });
        });
        let handle = receiver.recv().expect("fake server started");
        Self {
            base_url,
            state,
            handle,
        }
    }

    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Message lines received over all calls (a retried message counts again).
    pub fn messages(&self) -> u64 {
        self.state.messages.load(Ordering::SeqCst)
    }

    pub fn prompt_chars(&self) -> u64 {
        self.state.prompt_chars.load(Ordering::SeqCst)
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    pub fn corrupt_first_of_each_batch(&self) {
        self.state.corrupt_first.store(true, Ordering::SeqCst);
    }

    /// The `llm` section that routes triage to this server, priced so costs show.
    pub fn llm_config(&self) -> Value {
        json!({
            "daily_cost_limit": 5.0,
            "providers": [{
                "name": "fake",
                "kind": "openai",
                "base_url": self.base_url,
                "api_key": "dmtest-fake-model-key",
                "timeout_secs": 30,
                "models": [{"name": MODEL, "input_usd_per_mtok": 0.10,
                            "output_usd_per_mtok": 0.40, "context_tokens": 128000}]
            }],
            "routes": {"triage": [format!("fake/{MODEL}")]}
        })
    }
}

impl Drop for FakeTriage {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn answer(body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = parsed["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let system_chars = parsed["messages"][0]["content"]
        .as_str()
        .map_or(0, str::len);
    let lines: Vec<(u64, String)> = prompt
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (number, text) = rest.split_once(']')?;
            Some((number.parse().ok()?, text.to_lowercase()))
        })
        .collect();
    state.calls.fetch_add(1, Ordering::SeqCst);
    state
        .messages
        .fetch_add(lines.len() as u64, Ordering::SeqCst);
    state
        .prompt_chars
        .fetch_add((prompt.len() + system_chars) as u64, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        actix_rt::time::sleep(Duration::from_millis(delay)).await;
    }
    let corrupt = state.corrupt_first.load(Ordering::SeqCst) && lines.len() > 1;
    let items: Vec<Value> = lines
        .iter()
        .map(|(number, text)| {
            let urgent = text.contains("incident") || text.contains("alert");
            let importance = if corrupt && *number == 1 {
                837_649
            } else if urgent {
                8
            } else {
                3
            };
            json!({"i": number, "imp": importance, "urg": if urgent { "high" } else { "low" },
                   "cat": if urgent { "incident" } else { "chatter" }, "att": urgent,
                   "why": if urgent { "mentions an incident" } else { "ordinary chat" }})
        })
        .collect();
    let text = json!({"items": items}).to_string();
    let prompt_tokens = (prompt.len() + system_chars) as u64 / 4;
    let completion_tokens = text.len() as u64 / 4;
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-triage", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}
    }))
}
