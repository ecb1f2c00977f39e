//! Alert delivery: for now its `alerts` config section; the AlertActor arrives with the
//! alerting issue.

pub mod config;
