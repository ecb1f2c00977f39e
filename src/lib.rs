//! discord-monitor: watches Discord servers, keeps every message, and uses LLMs to tell its
//! user what matters.
//!
//! # Layout
//! Every long-lived component is an actix actor in its own directory under `actors/`, holding
//! its config section, messages, handlers and errors, and runs under [`supervisor`].
//!
//! - [`app`]: the service. Builds the components, serves the admin API, and on SIGTERM/SIGINT
//!   shuts down in order (readiness off, intake stopped, writes flushed, DB checkpointed);
//!   `app::config` gathers every section into the configuration (`Config`, the sample, the
//!   README table), `app::discord` wires the Discord side, `app::backup` the database lock and
//!   the backups, `app::demo` runs it against discord-sim.
//! - [`supervisor`]: runs each component: restarts after `ctx.stop()` (same instance,
//!   `restarting()` resets it) or a panic (fresh instance from its factory), with exponential
//!   backoff and a restart budget, then marks it failed. Each status report says whether
//!   readiness depends on the component; `ComponentSupervisor` also registers its up/restart
//!   metrics. Callers talk to components through its [`supervisor::ComponentHandle`], which
//!   follows rebuilds.
//! - [`actors::health`]: the HealthActor. Status of every component, readiness probes (e.g.
//!   "database writable"), liveness and readiness, and the operational alert rules (memory,
//!   CPU, Discord errors, database, pipeline, LLM budget, failed components, backups).
//! - [`actors::db`]: the DbActor and [`actors::db::Database`]: SQLite over an r2d2 pool (WAL,
//!   foreign keys, embedded migrations in `migrations/`), batched idempotent writes, message
//!   revisions, ingest cursors, FTS5 search, what a restart continues from (the gateway
//!   session, archived-thread marks); diesel runs on tokio's blocking pool.
//! - [`actors::ratelimit`]: the RateLimiterActor. Every Discord REST call asks it for a permit
//!   (per-route buckets, the global limit, our own ceiling, 429 pauses, a dead token).
//! - [`actors::gateway`]: the GatewayActor. One shard's WebSocket session: HELLO, heartbeats
//!   and zombie detection, IDENTIFY/RESUME, op 7/op 9, close codes (fatal ones stop for good),
//!   zlib-stream; hands events (with their session and sequence) to the ingest queue, waiting
//!   when it is full; at start resumes the session saved by a previous process.
//! - [`actors::ingest`]: the storage path. A bounded queue from the gateway and the
//!   IngestActor writing it in ordered batches (filtered by the channel selection), retrying
//!   while the database is away; saves the gateway session with the sequence of the last
//!   committed event (in gateway order) for a restart to resume; asks for backfill whenever
//!   a new gateway session starts. Owns its queue gauges and the pipeline-stall measurement.
//! - [`actors::backfill`]: the BackfillActor, the source of completeness: pages each monitored
//!   channel's REST history from its cursor (moved only after the rows are committed) at
//!   start, after a lost session and on a schedule, several channels at once
//!   (`discord.backfill_concurrent_channels`), archived threads included.
//! - [`actors::llm`]: the LlmRouterActor, the one door to every model: Gemini and
//!   OpenAI-style clients with structured output, failure classes, fallback chains per request
//!   kind, retries obeying server delays, per-target circuit breakers, the daily budget with
//!   its ledger in the database; `llm check` / `llm usage`.
//! - [`actors::backup`]: the BackupActor (a verified `VACUUM INTO` snapshot with a sha256
//!   sidecar every `database.backup_interval_hours`, retention, outcomes to the ops rules) and
//!   the maintenance needing the database to itself: `db restore`, `db vacuum`, `db repair`,
//!   and the database lock the service holds while it runs.
//! - [`actors::alert`]: the AlertActor (durable outbox in the database, email, Slack, webhook
//!   and Discord-webhook routes, retries, per-route breaker and rate limit, dedup and
//!   cooldown).
//! - [`admin`]: the actix-web admin API (health probes, metrics, sanitized config, status,
//!   stored messages, alerts, backups, OpenAPI) with its access policy.
//! - [`discord`]: Discord's wire formats (messages, channels, guilds, gateway envelope, close
//!   codes, intents) and their conversion into database records; the REST client
//!   ([`discord::rest`]) and `discord check` ([`discord::check`]).
//! - [`config`]: configuration machinery that imports no component: the JSON-with-comments
//!   reader, environment overrides with `NAME_FILE` secrets, every problem reported at once
//!   with its key path and source, redacting [`config::Secret`], and the sections of no single
//!   component (`monitoring`, `processing`, `environment`). Each component's `config.rs` owns
//!   its section: struct, keys, variables, checks.
//! - [`logging`]: slog JSON lines (encoded by slog-json) in the shape the deployment guide's
//!   `grep | jq` commands read, to stdout and rotated files, secret scrubbing, the
//!   `log`-facade bridge, slow-operation and panic lines.
//! - [`metrics`]: the registry behind `/metrics` (Prometheus text and JSON), labelled families
//!   registered up front, and the service-wide figures (uptime, build, process memory/CPU).
//!   Each component keeps its handles in a typed `metrics.rs` of its own.
//! - [`circuit_breaker`]: the circuit breaker of every LLM target and alert route: `failsafe`'s
//!   failure policies, open periods on tokio's clock (failures of different weight, one
//!   half-open probe, readable state).
//! - [`system_stats`]: process memory and CPU from `sysinfo`, against the cgroup limit.
//! - [`tls`]: the one rustls crypto provider (ring) for every client.
//!
//! The binary: `src/main.rs` parses the command line and maps outcomes to exit codes; the
//! commands live in `src/cli/`, one file per command group; nothing else uses `anyhow`.
//! discord-sim, the simulated Discord the tests, benches and `demo` run against, is its own
//! crate (`crates/discord-sim`) with its own binary. `crates/test-python` (test support only)
//! makes the pinned Python environment of the tests that drive third-party Python programs.
//!
//! Outside `src/`: `migrations/` (the schema), `tests/` (end-to-end tests through the binaries,
//! sharing `tests/support/`; `tests/thirdparty/` drives third-party programs), `benches/`
//! (throughput and memory figures), and the deployment files `Dockerfile`,
//! `docker-compose.yml` and `k8s/` (checked by `scripts/verify-container.sh`).

pub mod actors;
pub mod admin;
pub mod app;
pub mod circuit_breaker;
pub mod config;
pub mod discord;
pub mod logging;
pub mod metrics;
pub mod supervisor;
pub mod system_stats;
pub mod tls;
