//! A small Discord stand-in for tests: actix-web on 127.0.0.1:0 answering what the test's
//! responder says (real status codes, headers and bodies, every 429 shape) and recording
//! each request with its arrival time, so tests can assert what was sent and when.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// Path prefix of the API, as in Discord's base URL.
pub(crate) const API_PREFIX: &str = "/api/v10";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Below [`API_PREFIX`], e.g. `/users/@me`.
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub at: Instant,
}

/// What to answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub content_type: &'static str,
    /// Held back this long before answering (without blocking the server).
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            content_type: "application/json",
            delay: None,
        }
    }

    pub fn html(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            content_type: "text/html; charset=UTF-8",
            delay: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            content_type: "application/json",
            delay: None,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    /// Discord's bucket headers.
    pub fn bucket(self, hash: &str, limit: u32, remaining: u32, reset_after: Duration) -> Self {
        self.header("X-RateLimit-Bucket", hash)
            .header("X-RateLimit-Limit", limit)
            .header("X-RateLimit-Remaining", remaining)
            .header("X-RateLimit-Reset-After", seconds_rounded_up(reset_after))
    }
}

/// Seconds with three decimals, rounded up as a server must (rounding down would invite a
/// request a fraction of a millisecond early).
fn seconds_rounded_up(duration: Duration) -> String {
    let millis = duration.as_micros().div_ceil(1_000);
    format!("{}.{:03}", millis / 1_000, millis % 1_000)
}

/// `nth` counts earlier requests to the same path (0 for the first).
type Responder = Box<dyn FnMut(&Recorded, usize) -> Reply + Send>;

struct State {
    requests: Vec<Recorded>,
    responder: Responder,
}

pub(crate) struct FakeDiscord {
    port: u16,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(
    request: HttpRequest,
    _body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        path: request
            .path()
            .strip_prefix(API_PREFIX)
            .unwrap_or(request.path())
            .to_owned(),
        query: request.query_string().to_owned(),
        authorization: header("authorization"),
        user_agent: header("user-agent"),
        at: Instant::now(),
    };
    let reply = {
        let mut state = lock(&state);
        let nth = state
            .requests
            .iter()
            .filter(|earlier| earlier.path == recorded.path)
            .count();
        let reply = (state.responder)(&recorded, nth);
        state.requests.push(recorded);
        reply
    };
    if let Some(delay) = reply.delay {
        actix_rt::time::sleep(delay).await;
    }
    let mut response = HttpResponse::build(
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    response.content_type(reply.content_type);
    for (name, value) in reply.headers {
        response.insert_header((name, value));
    }
    response.body(reply.body)
}

impl FakeDiscord {
    /// Starts the server inside the running actix System.
    pub fn start(responder: impl FnMut(&Recorded, usize) -> Reply + Send + 'static) -> Self {
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            responder: Box::new(responder),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
        let port = listener.local_addr().expect("test server address").port();
        let shared = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            port,
            state,
            handle,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}{API_PREFIX}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }
}

impl Drop for FakeDiscord {
    /// The stop command is sent at once; its completion is not needed.
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A Discord-like fixed window: `limit` requests per `window`, starting with the first.
#[derive(Debug)]
pub(crate) struct FixedWindow {
    limit: u32,
    window: Duration,
    started: Option<Instant>,
    used: u32,
}

impl FixedWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            started: None,
            used: 0,
        }
    }

    /// `Ok((remaining, reset_after))` when the request fits, `Err(reset_after)` when it is
    /// one too many.
    pub fn take(&mut self, now: Instant) -> Result<(u32, Duration), Duration> {
        let started = match self.started {
            Some(started) if now < started + self.window => started,
            _ => {
                self.started = Some(now);
                self.used = 0;
                now
            }
        };
        let reset_after = (started + self.window).saturating_duration_since(now);
        if self.used >= self.limit {
            return Err(reset_after);
        }
        self.used += 1;
        Ok((self.limit - self.used, reset_after))
    }
}
