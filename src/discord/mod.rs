//! Discord's wire formats as we read them: the objects we store (messages, channels, guilds),
//! the gateway envelope and its opcodes, close codes and intents
//!
//! Parsing is liberal on purpose: unknown fields are ignored, explicit `null`s are accepted
//! wherever Discord sends them, snowflakes may be strings or integers, and fields we do not
//! use (such as `nonce`, which is a string or an integer) are not modelled at all.

pub mod check;
pub mod config;
mod directory;
pub mod gateway;
pub mod model;
pub mod rest;

pub use directory::{ChannelDirectory, ChannelInfo};
pub use model::{
    Channel, Guild, Message, MessageDelete, MessageDeleteBulk, MessageReference, MessageUpdate,
    PartialMember, Snowflake, ThreadMetadata, User, channel_type,
};
