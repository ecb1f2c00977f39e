//! llm component.

pub mod config;
