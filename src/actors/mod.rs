//! One directory per actor: its config, messages, handlers and errors.

pub mod alert;
pub mod backfill;
pub mod backup;
pub mod db;
pub mod gateway;
pub mod health;
pub mod ingest;
pub mod llm;
pub mod processing;
pub mod ratelimit;
