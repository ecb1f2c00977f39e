//! discord-monitor: watches Discord servers, keeps every message, and uses LLMs to tell its
//! user what matters.
//!
//! # Layout
//! Layers, each importing only the ones below it (`tests/layers.rs` fails on an import that
//! points up): the binary (`src/main.rs`, commands in `src/cli/`) -> [`app`] -> components
//! ([`actors`], [`admin`]) -> storage ([`actors::db`]) -> [`discord`] -> foundations.
//! A message's path: socket -> [`actors::gateway`] -> ingest queue -> [`actors::ingest`] ->
//! [`actors::db`], with no return trip; then the triage backlog -> [`actors::processing`] ->
//! its verdict in [`actors::db`].
//!
//! - [`app`]: builds each component under the supervisor and connects them; `run`, `demo`,
//!   ordered shutdown; [`app::config`] gathers every section into the configuration.
//! - [`actors`]: one directory per supervised actix actor with its config, messages, handlers,
//!   errors and metrics: `gateway` (one shard's session), `ingest` (queue, batched writes, row
//!   conversion, the saved session), `backfill` (REST history, completeness), `ratelimit`
//!   (every REST permit), `db` (SQLite; every SQL statement), `llm` (the router and budget),
//!   `processing` (triage: backlog, queue, workers, watchdogs, prefilters, rule engine,
//!   prompt), `alert` (durable outbox, routes), `backup` (snapshots, restore, repair),
//!   `health` (liveness, readiness, ops alert rules).
//! - [`admin`]: the actix-web admin API and its access policy.
//! - [`discord`]: Discord's formats (model, gateway events, resumable sessions), the `discord`
//!   section and its channel selection, the REST client, `discord check`.
//! - Foundations, importing no component: [`config`] (loading, env overrides, problems,
//!   secrets), [`logging`] (slog-json lines, rotation, scrubbing), [`metrics`] (the registry
//!   behind `/metrics`), [`supervisor`] (restarts, backoff, budgets), [`circuit_breaker`],
//!   [`system_stats`], [`tls`].
//!
//! Outside `src/`: `crates/discord-sim` (the simulated Discord of the tests, benches and
//! `demo`), `crates/test-python` (the tests' pinned Python), `migrations/`, `tests/`,
//! `benches/`, `docs/`, and the deployment files (`Dockerfile`, `docker-compose.yml`, `k8s/`).

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
