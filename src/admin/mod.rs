//! The admin HTTP API (actix-web) on `monitoring.health_check_port`.
//!
//! Routes (also in `/openapi.json`, generated from [`openapi::ROUTES`]):
//! - `GET /health`, `/health/live`: liveness, cheap.
//! - `GET /health/ready`: every required component up and the database writable (503 with the
//!   reasons otherwise).
//! - `GET /health/detailed`: `.health.components.<name>` status, last error, restarts; probes.
//! - `GET /metrics`: Prometheus text, or `{"metrics": {..}}` for `Accept: application/json`.
//! - `GET /config` (admin): effective configuration, secrets masked.
//! - `GET /status` (admin): Discord client health, processing, database, LLM, backup summaries.
//! - `GET /api/messages` (admin): stored messages, ascending by id.
//! - `GET /api/search` (admin): full-text search, best hits first, with snippets and links.
//! - `GET /api/findings` (admin): triage verdicts with their messages, newest first
//!   (`min_importance`, `category`, `since` (RFC 3339), `channel_id`, `before`, `limit`).
//! - `GET /api/alerts` (admin): recent alerts with their delivery state.
//! - `POST /api/alerts/test` (admin): a test alert through every route, one result each.
//! - `GET /api/backups` (admin): the backup schedule's state and the backups kept.
//! - `POST /api/backups` (admin): take a database backup now; answers it (409 while one runs).
//! - `GET /openapi.json`: the description of all of the above.
//!
//! Access rules are in [`auth`]; errors are always `{"error": ".."}` ([`error::AdminError`]),
//! with a `"hint"` beside it when a search query is at fault.
//! Every request is counted in [`HttpMetrics`].

pub mod auth;
pub mod config;
pub mod error;
pub mod findings;
mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod state;

pub use error::AdminError;
pub use metrics::HttpMetrics;
pub use server::{configure, start};
pub use state::{AdminState, DiscordStatusSources, ProbeRefresh, ProcessingSources, ServiceFacts};
