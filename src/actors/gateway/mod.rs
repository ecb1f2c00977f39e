//! gateway component.

pub mod config;
