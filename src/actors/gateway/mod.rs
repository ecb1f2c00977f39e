//! The Discord gateway component: for now its `discord` config section; the GatewayActor
//! arrives with the ingestion issue.

pub mod config;
