//! Dispatch bodies (op 0) parsed into what they are, by their `t` and nothing else: fields are
//! never located by substring search, so message content such as `"t":"READY"` is just text.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::discord::gateway::{GatewayEvent, Ready};
use crate::discord::{Channel, Guild, Message, MessageUpdate, Snowflake};

/// The `type` label of every dispatch type outside [`GatewayEvent::DISPATCH_TYPES`].
pub(super) const OTHER_TYPE: &str = "other";

/// What one dispatch is.
#[derive(Debug)]
pub(super) enum Dispatch {
    /// The start of a session; the actor needs its session id and resume URL.
    Ready(Ready),
    /// The end of a replay after RESUME.
    Resumed,
    Event(GatewayEvent),
    /// A type we do not handle (presence updates, typing, reactions, ...).
    Ignored,
}

#[derive(Deserialize)]
struct GuildDeleteBody {
    id: Snowflake,
    #[serde(default)]
    unavailable: Option<bool>,
}

#[derive(Deserialize)]
struct ThreadListSyncBody {
    guild_id: Snowflake,
    #[serde(default)]
    threads: Option<Vec<Channel>>,
}

/// Parses the body `data` of a dispatch of type `kind`. `null` data is accepted where Discord
/// sends nothing of interest (RESUMED).
pub(super) fn parse(kind: &str, data: Option<&RawValue>) -> Result<Dispatch, serde_json::Error> {
    let text = data.map_or("null", RawValue::get);
    let event = match kind {
        "READY" => return serde_json::from_str(text).map(Dispatch::Ready),
        "RESUMED" => return Ok(Dispatch::Resumed),
        "MESSAGE_CREATE" => GatewayEvent::MessageCreate(serde_json::from_str(text)?),
        "MESSAGE_UPDATE" => match serde_json::from_str::<Message>(text) {
            Ok(message) => GatewayEvent::MessageUpdate(message),
            Err(_) => {
                GatewayEvent::MessageUpdatePartial(serde_json::from_str::<MessageUpdate>(text)?)
            }
        },
        "MESSAGE_DELETE" => GatewayEvent::MessageDelete(serde_json::from_str(text)?),
        "MESSAGE_DELETE_BULK" => GatewayEvent::MessageDeleteBulk(serde_json::from_str(text)?),
        "GUILD_CREATE" => GatewayEvent::GuildCreate(serde_json::from_str::<Guild>(text)?),
        "GUILD_UPDATE" => GatewayEvent::GuildUpdate(serde_json::from_str::<Guild>(text)?),
        "GUILD_DELETE" => {
            let body: GuildDeleteBody = serde_json::from_str(text)?;
            GatewayEvent::GuildDelete {
                id: body.id,
                unavailable: body.unavailable.unwrap_or(false),
            }
        }
        "CHANNEL_CREATE" => GatewayEvent::ChannelCreate(serde_json::from_str(text)?),
        "CHANNEL_UPDATE" => GatewayEvent::ChannelUpdate(serde_json::from_str(text)?),
        "CHANNEL_DELETE" => GatewayEvent::ChannelDelete(serde_json::from_str(text)?),
        "THREAD_CREATE" => GatewayEvent::ThreadCreate(serde_json::from_str(text)?),
        "THREAD_UPDATE" => GatewayEvent::ThreadUpdate(serde_json::from_str(text)?),
        "THREAD_DELETE" => GatewayEvent::ThreadDelete(serde_json::from_str(text)?),
        "THREAD_LIST_SYNC" => {
            let body: ThreadListSyncBody = serde_json::from_str(text)?;
            GatewayEvent::ThreadListSync {
                guild_id: body.guild_id,
                threads: body.threads.unwrap_or_default(),
            }
        }
        _ => return Ok(Dispatch::Ignored),
    };
    Ok(Dispatch::Event(event))
}

/// The events counter's label for `kind`.
pub(super) fn type_label(kind: &str) -> &'static str {
    GatewayEvent::DISPATCH_TYPES
        .iter()
        .find(|handled| **handled == kind)
        .copied()
        .unwrap_or(OTHER_TYPE)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(value: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    fn message(content: &str) -> serde_json::Value {
        json!({
            "id": "100", "channel_id": "200", "guild_id": "300",
            "author": {"id": "1", "username": "ann"},
            "content": content, "timestamp": "2026-01-01T00:00:00+00:00",
            "nonce": 42, "tts": false, "unknown": {"x": null}
        })
    }

    #[test]
    fn message_events_parse_by_type_not_by_content() {
        let body = raw(message(r#"{"t":"READY","op":10}"#));
        match parse("MESSAGE_CREATE", Some(&body)).unwrap() {
            Dispatch::Event(GatewayEvent::MessageCreate(message)) => {
                assert_eq!(message.content, r#"{"t":"READY","op":10}"#);
                assert_eq!(message.id, Snowflake(100));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn message_update_is_full_or_partial() {
        let full = raw(message("edited"));
        assert!(matches!(
            parse("MESSAGE_UPDATE", Some(&full)).unwrap(),
            Dispatch::Event(GatewayEvent::MessageUpdate(_))
        ));
        let partial = raw(json!({"id": "100", "channel_id": "200", "embeds": []}));
        assert!(matches!(
            parse("MESSAGE_UPDATE", Some(&partial)).unwrap(),
            Dispatch::Event(GatewayEvent::MessageUpdatePartial(_))
        ));
        let broken = raw(json!({"id": "x"}));
        assert!(parse("MESSAGE_UPDATE", Some(&broken)).is_err());
    }

    #[test]
    fn guild_delete_thread_sync_resumed_and_unknown_types() {
        let outage = raw(json!({"id": "5", "unavailable": true}));
        assert!(matches!(
            parse("GUILD_DELETE", Some(&outage)).unwrap(),
            Dispatch::Event(GatewayEvent::GuildDelete {
                id: Snowflake(5),
                unavailable: true
            })
        ));
        let left = raw(json!({"id": "5"}));
        assert!(matches!(
            parse("GUILD_DELETE", Some(&left)).unwrap(),
            Dispatch::Event(GatewayEvent::GuildDelete {
                unavailable: false,
                ..
            })
        ));
        let sync = raw(json!({"guild_id": "5", "channel_ids": ["6"], "members": [],
            "threads": [{"id": "7", "type": 11, "parent_id": "6", "name": "t"}]}));
        match parse("THREAD_LIST_SYNC", Some(&sync)).unwrap() {
            Dispatch::Event(GatewayEvent::ThreadListSync { guild_id, threads }) => {
                assert_eq!(guild_id, Snowflake(5));
                assert_eq!(threads[0].parent_id, Some(Snowflake(6)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parse("RESUMED", None).unwrap(), Dispatch::Resumed));
        let typing = raw(json!({"channel_id": "1"}));
        assert!(matches!(
            parse("TYPING_START", Some(&typing)).unwrap(),
            Dispatch::Ignored
        ));
        assert_eq!(type_label("TYPING_START"), OTHER_TYPE);
        assert_eq!(type_label("GUILD_CREATE"), "GUILD_CREATE");
    }
}
