//! alert component.

pub mod config;
