//! Admin HTTP API.

pub mod auth;
pub mod config;
pub mod error;
pub mod openapi;
