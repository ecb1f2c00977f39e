//! [`Sim::start`] and the [`SimHandle`] a test or the binary drives the sim through. Every
//! method is synchronous and quick (it takes the state lock, never waits on the network), so
//! it can be called from a plain `#[test]`, from inside any async runtime, or from an actor.
//! The only waiting methods are [`SimHandle::wait_until`] (blocking; not for use on the
//! thread that runs the client under test) and [`SimHandle::wait_until_async`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use super::config::SimConfig;
use super::error::SimError;
use super::faults::{ConnectFault, MalformedFrame};
use super::ratelimit::RestFault;
use super::records::{
    ConnectionRecord, GatewayListener, GatewayStats, IdentifyRecord, RestRecord, ResumeRecord,
    SessionInfo, StreamStatus,
};
use super::rest::API_PREFIX;
use super::snowflake::now_unix_ms;
use super::state::{FaultRule, Outbound, Shared, SimState, Urls};
use super::world::{Event, MessageOrigin, MessageSpec, SimChannel, SimGuild, SimMessage, World};
use super::{gateway, rest, stream};

/// How often the waiting helpers re-check their condition.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// Starts simulated Discords.
pub struct Sim;

impl Sim {
    /// Binds the three listeners, builds the world from the configured random seed, and runs the
    /// sim on its own thread (an actix System: REST on actix-web, gateway and stream on tokio
    /// tasks).
    pub fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        config.validate()?;
        let bind = |listener: &'static str, port: u16| {
            let addr = SocketAddr::new(config.bind_ip, port);
            TcpListener::bind(addr).map_err(|source| SimError::Bind {
                listener,
                addr,
                source,
            })
        };
        let rest_listener = bind("rest", config.rest_port)?;
        let gateway_listener = bind("gateway", config.gateway_port)?;
        let resume_listener = bind("resume gateway", config.resume_gateway_port)?;
        let local = |listener: &TcpListener, name: &'static str| {
            listener.local_addr().map_err(|source| SimError::Bind {
                listener: name,
                addr: SocketAddr::new(config.bind_ip, 0),
                source,
            })
        };
        let rest_addr = local(&rest_listener, "rest")?;
        let gateway_addr = local(&gateway_listener, "gateway")?;
        let resume_addr = local(&resume_listener, "resume gateway")?;
        for listener in [&gateway_listener, &resume_listener] {
            listener
                .set_nonblocking(true)
                .map_err(|source| SimError::Bind {
                    listener: "gateway",
                    addr: gateway_addr,
                    source,
                })?;
        }
        let urls = Urls {
            rest_base: format!("http://{rest_addr}{API_PREFIX}"),
            gateway: format!("ws://{gateway_addr}"),
            resume_gateway: format!("ws://{resume_addr}"),
        };
        let shared = Arc::new(Shared::new(config, urls, now_unix_ms()));

        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("discord-sim".to_owned())
            .spawn(move || {
                run(
                    thread_shared,
                    [rest_listener, gateway_listener, resume_listener],
                    ready_tx,
                    stop_rx,
                );
            })
            .map_err(SimError::Thread)?;
        let mut handle = SimHandle {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
            rest_addr,
            gateway_addr,
            resume_addr,
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(reason)) => {
                handle.stop_and_join();
                Err(SimError::Startup(reason))
            }
            Err(_) => {
                handle.stop_and_join();
                Err(SimError::Startup(
                    "sim thread ended during startup".to_owned(),
                ))
            }
        }
    }
}

fn run(
    shared: Arc<Shared>,
    [rest_listener, gateway_listener, resume_listener]: [TcpListener; 3],
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    stop: oneshot::Receiver<()>,
) {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let server = match rest::serve(rest_listener, shared.clone()) {
            Ok(server) => server,
            Err(err) => {
                let _ = ready.send(Err(format!("rest server: {err}")));
                return;
            }
        };
        let server_handle = server.handle();
        let server_task = actix_rt::spawn(server);
        let mut tasks = Vec::new();
        for (listener, kind) in [
            (gateway_listener, GatewayListener::Main),
            (resume_listener, GatewayListener::Resume),
        ] {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    tasks.push(tokio::spawn(gateway::serve(listener, kind, shared.clone())))
                }
                Err(err) => {
                    let _ = ready.send(Err(format!("gateway listener: {err}")));
                    return;
                }
            }
        }
        tasks.push(tokio::spawn(stream::run(shared.clone())));
        let _ = ready.send(Ok(()));
        // Either an explicit stop or the handle being dropped ends the sim.
        let _ = stop.await;
        for task in &tasks {
            task.abort();
        }
        server_handle.stop(false).await;
        let _ = server_task.await;
    });
    // Dropping the runtime here cancels every connection task, closing their sockets.
}

/// Controls one running sim; dropping it shuts the sim down.
pub struct SimHandle {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    rest_addr: SocketAddr,
    gateway_addr: SocketAddr,
    resume_addr: SocketAddr,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("rest", &self.rest_addr)
            .field("gateway", &self.gateway_addr)
            .field("resume_gateway", &self.resume_addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the sim thread has already been reported by the panic hook.
            let _ = thread.join();
        }
    }

    /// Stops the servers and closes every connection (also done on drop).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    // ---- addresses ----

    /// `http://127.0.0.1:PORT/api/v10`: append route paths (`/users/@me`).
    pub fn rest_base_url(&self) -> String {
        self.shared.urls.rest_base.clone()
    }

    /// `ws://127.0.0.1:PORT` (what `GET /gateway/bot` returns; append `/?v=10&encoding=json`).
    pub fn gateway_url(&self) -> String {
        self.shared.urls.gateway.clone()
    }

    /// READY's `resume_gateway_url`: another port of the same sim.
    pub fn resume_gateway_url(&self) -> String {
        self.shared.urls.resume_gateway.clone()
    }

    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    pub fn resume_gateway_addr(&self) -> SocketAddr {
        self.resume_addr
    }

    /// The token the sim currently accepts.
    pub fn token(&self) -> String {
        self.shared.lock().token.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// When the sim started (REST log and connection records are relative to it).
    pub fn started_at(&self) -> Instant {
        self.shared.started
    }

    /// Makes `token` the only accepted token: the old one now gets REST 401 and gateway 4004
    /// (a token reset).
    pub fn set_token(&self, token: impl Into<String>) {
        self.shared.lock().token = token.into();
    }

    /// The bot's user id (the application id).
    pub fn bot_user_id(&self) -> u64 {
        self.shared.lock().world.bot_user_id()
    }

    // ---- traffic ----

    fn apply<T>(
        &self,
        change: impl FnOnce(&mut World, u64) -> Result<(T, Vec<Event>), SimError>,
    ) -> Result<T, SimError> {
        let mut state = self.shared.lock();
        let (value, events) = change(&mut state.world, now_unix_ms())?;
        state.dispatch(events, &self.shared.config, Instant::now());
        Ok(value)
    }

    fn apply_events(
        &self,
        change: impl FnOnce(&mut World, u64) -> Result<Vec<Event>, SimError>,
    ) -> Result<(), SimError> {
        self.apply(|world, at| change(world, at).map(|events| ((), events)))
    }

    /// Starts (or resumes) the live stream.
    pub fn start_stream(&self) {
        self.shared.lock().stream.status.running = true;
        self.shared.stream_wake.notify_one();
    }

    /// Pauses the live stream; [`Self::start_stream`] continues it.
    pub fn pause_stream(&self) {
        self.shared.lock().stream.status.running = false;
    }

    /// Adds `count` live messages to the stream's target.
    pub fn extend_stream(&self, count: usize) {
        self.shared.lock().stream.status.target += count;
        self.shared.stream_wake.notify_one();
    }

    /// Produces one live-stream step now (a message plus its seeded follow-ups), whether the
    /// stream runs or not.
    pub fn stream_step(&self) {
        let mut state = self.shared.lock();
        state.stream.status.target = state
            .stream
            .status
            .target
            .max(state.stream.status.created + 1);
        stream::step(&mut state, &self.shared.config);
    }

    pub fn stream_status(&self) -> StreamStatus {
        self.shared.lock().stream.status
    }

    /// Posts a message with this content (MESSAGE_CREATE to every session that may see it).
    pub fn post_message(
        &self,
        channel_id: u64,
        content: impl Into<String>,
    ) -> Result<u64, SimError> {
        let spec = MessageSpec {
            content: Some(content.into()),
            reply_to: None,
        };
        self.apply(|world, at| {
            world.create_message_at(channel_id, spec, at, MessageOrigin::Injected)
        })
    }

    /// Posts a reply to `reply_to` (type 19 with `message_reference` and `referenced_message`).
    pub fn post_reply(
        &self,
        channel_id: u64,
        reply_to: u64,
        content: impl Into<String>,
    ) -> Result<u64, SimError> {
        let spec = MessageSpec {
            content: Some(content.into()),
            reply_to: Some(reply_to),
        };
        self.apply(|world, at| {
            world.create_message_at(channel_id, spec, at, MessageOrigin::Injected)
        })
    }

    /// Posts a message generated from the random seed (unicode, mentions, attachments, ...).
    pub fn post_generated_message(&self, channel_id: u64) -> Result<u64, SimError> {
        self.apply(|world, at| {
            world.create_message_at(
                channel_id,
                MessageSpec::default(),
                at,
                MessageOrigin::Injected,
            )
        })
    }

    /// A user edit: new content and `edited_timestamp` (full MESSAGE_UPDATE).
    pub fn edit_message(
        &self,
        channel_id: u64,
        message_id: u64,
        content: impl Into<String>,
    ) -> Result<(), SimError> {
        let content = content.into();
        self.apply_events(|world, at| {
            world.edit_message_at(channel_id, message_id, Some(content), at)
        })
    }

    /// An embed unfurl: MESSAGE_UPDATE with new embeds and no new `edited_timestamp`.
    pub fn unfurl_message(&self, channel_id: u64, message_id: u64) -> Result<(), SimError> {
        self.apply_events(|world, _| world.unfurl_message(channel_id, message_id))
    }

    pub fn delete_message(&self, channel_id: u64, message_id: u64) -> Result<(), SimError> {
        self.apply_events(|world, _| world.delete_message(channel_id, message_id))
    }

    /// MESSAGE_DELETE_BULK.
    pub fn bulk_delete_messages(
        &self,
        channel_id: u64,
        message_ids: &[u64],
    ) -> Result<(), SimError> {
        self.apply_events(|world, _| world.bulk_delete(channel_id, message_ids))
    }

    /// THREAD_CREATE under a text channel; returns the thread id.
    pub fn create_thread(&self, parent_id: u64) -> Result<u64, SimError> {
        self.apply(|world, at| world.create_thread(parent_id, at))
    }

    /// THREAD_UPDATE: rename and/or archive (archived threads take no new live messages).
    pub fn update_thread(
        &self,
        thread_id: u64,
        name: Option<String>,
        archived: Option<bool>,
    ) -> Result<(), SimError> {
        self.apply_events(|world, at| world.update_thread(thread_id, name, archived, at))
    }

    /// THREAD_DELETE.
    pub fn delete_thread(&self, thread_id: u64) -> Result<(), SimError> {
        self.apply_events(|world, _| world.delete_thread(thread_id))
    }

    /// THREAD_LIST_SYNC for a guild.
    pub fn thread_list_sync(&self, guild_id: u64) -> Result<(), SimError> {
        self.apply_events(|world, _| world.thread_list_sync(guild_id))
    }

    /// CHANNEL_CREATE (a text channel); returns its id.
    pub fn create_channel(&self, guild_id: u64, name: Option<String>) -> Result<u64, SimError> {
        self.apply(|world, at| world.create_channel(guild_id, name, at))
    }

    /// CHANNEL_UPDATE (THREAD_UPDATE for a thread): rename and/or set the topic.
    pub fn update_channel(
        &self,
        channel_id: u64,
        name: Option<String>,
        topic: Option<Option<String>>,
    ) -> Result<(), SimError> {
        self.apply_events(|world, _| world.update_channel(channel_id, name, topic))
    }

    /// CHANNEL_DELETE (THREAD_DELETE for a thread).
    pub fn delete_channel(&self, channel_id: u64) -> Result<(), SimError> {
        self.apply_events(|world, _| world.delete_channel(channel_id))
    }

    /// Takes away (or gives back) the bot's access: REST 403 Missing Access, no dispatches.
    pub fn set_channel_forbidden(&self, channel_id: u64, forbidden: bool) -> Result<(), SimError> {
        self.apply_events(|world, _| world.set_channel_forbidden(channel_id, forbidden))
    }

    /// GUILD_UPDATE: rename and/or set the description.
    pub fn update_guild(
        &self,
        guild_id: u64,
        name: Option<String>,
        description: Option<Option<String>>,
    ) -> Result<(), SimError> {
        self.apply_events(|world, _| world.update_guild(guild_id, name, description))
    }

    /// A dispatch with an event type no client knows.
    pub fn dispatch_unknown_event(&self) {
        let _ = self.apply_events(|world, _| Ok(world.unknown_event()));
    }

    /// Any dispatch, as given (it gets a seq and goes to every session).
    pub fn dispatch_raw(&self, t: &str, guild_id: Option<u64>, d: Value) {
        let _ = self.apply_events(|_, _| Ok(vec![World::raw_event(t, guild_id, d)]));
    }

    // ---- gateway faults (they act on every open connection) ----

    fn with_state<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        f(&mut self.shared.lock())
    }

    /// Op 7 RECONNECT.
    pub fn send_reconnect(&self) {
        self.with_state(SimState::send_reconnect);
    }

    /// Op 9 INVALID_SESSION. `resumable=false` ends the sessions: events from now until the
    /// client identifies again reach nobody.
    pub fn invalidate_session(&self, resumable: bool) {
        self.with_state(|state| state.invalidate_sessions(resumable, Instant::now()));
    }

    /// Op 1 from the server: the client must heartbeat at once.
    pub fn request_heartbeat(&self) {
        self.with_state(SimState::request_heartbeat);
    }

    /// The open connections stop sending anything (no ACKs, no dispatches) but stay open;
    /// their sessions keep buffering, so a RESUME elsewhere gets everything.
    pub fn become_zombie(&self) {
        self.with_state(|state| state.broadcast(|| Outbound::Zombie));
    }

    /// Drops every open TCP connection now: RST, no close frame.
    pub fn drop_connections(&self) {
        self.with_state(|state| state.broadcast(|| Outbound::Drop));
    }

    /// Drops every open TCP connection (RST, no close frame) after it has written `count`
    /// more dispatches: a drop in the middle of a burst.
    pub fn drop_connections_after(&self, count: u64) {
        self.with_state(|state| state.broadcast(|| Outbound::DropAfter(count)));
    }

    /// Closes every open connection with `code`. 4004, 4007, 4009 and 4010-4014 also end the
    /// session (as Discord does); other codes leave it resumable.
    pub fn close_connections(&self, code: u16, reason: &str) {
        self.with_state(|state| {
            state.broadcast(|| Outbound::Close {
                code,
                reason: reason.to_owned(),
            });
        });
    }

    /// Sends one malformed frame on every open connection.
    pub fn send_malformed(&self, kind: MalformedFrame) {
        self.with_state(|state| state.send_malformed(kind));
    }

    /// Applies `fault` to the next gateway connection (queued faults apply in order).
    pub fn queue_connect_fault(&self, fault: ConnectFault) {
        self.with_state(|state| state.queue_connect_fault(fault));
    }

    /// Ends every disconnected session now, as if `session_ttl_ms` had passed: a late RESUME
    /// gets op 9 `d=false`.
    pub fn expire_sessions(&self) {
        self.with_state(SimState::expire_disconnected_sessions);
    }

    // ---- REST faults ----

    /// The next `times` REST requests (any route) get `fault` instead of their answer.
    pub fn inject_rest_fault(&self, fault: RestFault, times: u32) {
        self.push_fault(None, fault, times);
    }

    /// The next `times` REST requests whose path contains `path_contains` get `fault`.
    pub fn inject_rest_fault_matching(&self, path_contains: &str, fault: RestFault, times: u32) {
        self.push_fault(Some(path_contains.to_owned()), fault, times);
    }

    fn push_fault(&self, path_contains: Option<String>, fault: RestFault, times: u32) {
        if times == 0 {
            return;
        }
        self.shared.lock().rest.faults.push_back(FaultRule {
            fault,
            remaining: times,
            path_contains,
        });
    }

    // ---- observation ----

    /// Every message that exists or existed, in (channel, id) order.
    pub fn messages(&self) -> Vec<SimMessage> {
        self.shared.lock().world.sim_messages()
    }

    pub fn messages_in(&self, channel_id: u64) -> Vec<SimMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.channel_id == channel_id)
            .collect()
    }

    pub fn message(&self, channel_id: u64, message_id: u64) -> Option<SimMessage> {
        self.messages_in(channel_id)
            .into_iter()
            .find(|m| m.id == message_id)
    }

    pub fn channels(&self) -> Vec<SimChannel> {
        self.shared.lock().world.sim_channels()
    }

    pub fn guilds(&self) -> Vec<SimGuild> {
        self.shared.lock().world.sim_guilds()
    }

    pub fn rest_log(&self) -> Vec<RestRecord> {
        self.shared.lock().rest.log.iter().cloned().collect()
    }

    /// Requests that arrived while their bucket or the global limit was exhausted.
    pub fn rest_violations(&self) -> Vec<RestRecord> {
        self.shared
            .lock()
            .rest
            .log
            .iter()
            .filter(|r| r.violation.is_some())
            .cloned()
            .collect()
    }

    pub fn gateway_stats(&self) -> GatewayStats {
        self.shared.lock().gateway.stats.clone()
    }

    /// Every gateway connection so far, in order.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.shared
            .lock()
            .gateway
            .records
            .values()
            .cloned()
            .collect()
    }

    pub fn open_connections(&self) -> usize {
        self.shared.lock().open_connection_count()
    }

    pub fn identifies(&self) -> Vec<IdentifyRecord> {
        self.shared.lock().gateway.identifies.clone()
    }

    pub fn resumes(&self) -> Vec<ResumeRecord> {
        self.shared.lock().gateway.resumes.clone()
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.lock().sessions()
    }

    /// Polls `condition` until it holds. Blocks the calling thread: from async code use
    /// [`Self::wait_until_async`] so the client under test keeps running.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&SimHandle) -> bool,
    ) -> Result<(), SimError> {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SimError::Timeout(timeout));
            }
            std::thread::sleep(WAIT_POLL);
        }
    }

    /// [`Self::wait_until`] for async callers (tokio or actix runtimes).
    pub async fn wait_until_async(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&SimHandle) -> bool,
    ) -> Result<(), SimError> {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SimError::Timeout(timeout));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }
}
