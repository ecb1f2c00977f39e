//! Turns a batch of events into the fewest database writes that keep their order: runs of
//! the same kind of write are merged (one transaction each), and unmonitored channels are
//! filtered out here, once.

use crate::actors::db::{
    ChannelRecord, GuildRecord, MessageSource, NewMessage, PartialMessageUpdate,
};
use crate::discord::config::DiscordConfig;
use crate::discord::{Message, Snowflake};

use super::convert;
use crate::discord::ChannelDirectory;
use crate::discord::gateway::GatewayEvent;

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Guilds(Vec<GuildRecord>),
    Channels(Vec<ChannelRecord>),
    Messages(Vec<NewMessage>),
    PartialUpdates(Vec<PartialMessageUpdate>),
    Deletes { channel_id: u64, ids: Vec<u64> },
}

impl WriteOp {
    pub const fn name(&self) -> &'static str {
        match self {
            WriteOp::Guilds(_) => "guilds",
            WriteOp::Channels(_) => "channels",
            WriteOp::Messages(_) => "messages",
            WriteOp::PartialUpdates(_) => "partial_updates",
            WriteOp::Deletes { .. } => "deletes",
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<WriteOp>,
    /// A new session began (not a resume): the gateway delivers nothing from before it, so
    /// the gap must be backfilled.
    pub new_session: bool,
    /// Message events of channels the configuration does not monitor.
    pub unmonitored: usize,
    /// Events whose content could not be converted (e.g. an unparsable timestamp).
    pub invalid: Vec<String>,
}

impl Plan {
    fn push(&mut self, op: WriteOp) {
        match (self.ops.last_mut(), op) {
            (Some(WriteOp::Guilds(run)), WriteOp::Guilds(more)) => run.extend(more),
            (Some(WriteOp::Channels(run)), WriteOp::Channels(more)) => run.extend(more),
            (Some(WriteOp::Messages(run)), WriteOp::Messages(more)) => run.extend(more),
            (Some(WriteOp::PartialUpdates(run)), WriteOp::PartialUpdates(more)) => {
                run.extend(more);
            }
            (
                Some(WriteOp::Deletes { channel_id, ids }),
                WriteOp::Deletes {
                    channel_id: next_channel,
                    ids: more,
                },
            ) if *channel_id == next_channel => ids.extend(more),
            (_, op) => self.ops.push(op),
        }
    }
}

/// Plans `events` in order. Guilds outside `discord.guild_ids` are ignored entirely; every
/// channel of a monitored guild is recorded (names are useful even for unmonitored ones);
/// messages are kept only for monitored channels.
pub fn plan(
    events: Vec<GatewayEvent>,
    selection: &DiscordConfig,
    directory: &ChannelDirectory,
) -> Plan {
    let mut plan = Plan::default();
    let guild_selected = |guild_id: Option<Snowflake>| {
        guild_id
            .is_none_or(|id| selection.guild_ids.is_empty() || selection.guild_ids.contains(&id))
    };
    for event in events {
        match event {
            GatewayEvent::GuildCreate(guild) | GatewayEvent::GuildUpdate(guild) => {
                if !guild_selected(Some(guild.id)) || guild.unavailable {
                    continue;
                }
                directory.remember_guild(&guild);
                plan.push(WriteOp::Guilds(vec![convert::guild_record(&guild)]));
                let channels: Vec<ChannelRecord> = guild
                    .channels
                    .iter()
                    .chain(&guild.threads)
                    .map(|channel| convert::channel_record(channel, Some(guild.id.get())))
                    .collect();
                if !channels.is_empty() {
                    plan.push(WriteOp::Channels(channels));
                }
            }
            GatewayEvent::ChannelCreate(channel)
            | GatewayEvent::ChannelUpdate(channel)
            | GatewayEvent::ThreadCreate(channel)
            | GatewayEvent::ThreadUpdate(channel) => {
                let guild_id = channel
                    .guild_id
                    .or_else(|| directory.get(channel.id).and_then(|info| info.guild_id));
                if !guild_selected(guild_id) {
                    continue;
                }
                directory.remember(&channel, guild_id);
                plan.push(WriteOp::Channels(vec![convert::channel_record(
                    &channel,
                    guild_id.map(Snowflake::get),
                )]));
            }
            GatewayEvent::ThreadListSync { guild_id, threads } => {
                if !guild_selected(Some(guild_id)) {
                    continue;
                }
                let records = threads
                    .iter()
                    .map(|thread| {
                        directory.remember(thread, Some(guild_id));
                        convert::channel_record(thread, Some(guild_id.get()))
                    })
                    .collect();
                plan.push(WriteOp::Channels(records));
            }
            GatewayEvent::MessageCreate(message) | GatewayEvent::MessageUpdate(message) => {
                plan_message(&mut plan, &message, selection, directory);
            }
            GatewayEvent::MessageUpdatePartial(update) => {
                if !monitored(selection, directory, update.guild_id, update.channel_id) {
                    plan.unmonitored += 1;
                    continue;
                }
                let edited_at_ms = match update
                    .edited_timestamp
                    .as_deref()
                    .map(convert::parse_timestamp_ms)
                    .transpose()
                {
                    Ok(edited) => edited,
                    Err(err) => {
                        plan.invalid.push(format!("message {}: {err}", update.id));
                        continue;
                    }
                };
                plan.push(WriteOp::PartialUpdates(vec![PartialMessageUpdate {
                    id: update.id.get(),
                    channel_id: update.channel_id.get(),
                    content: update.content,
                    edited_at_ms,
                    attachments: update.attachments,
                    embeds: update.embeds,
                }]));
            }
            GatewayEvent::MessageDelete(delete) => {
                plan_deletes(
                    &mut plan,
                    selection,
                    directory,
                    delete.guild_id,
                    delete.channel_id,
                    vec![delete.id],
                );
            }
            GatewayEvent::MessageDeleteBulk(bulk) => {
                plan_deletes(
                    &mut plan,
                    selection,
                    directory,
                    bulk.guild_id,
                    bulk.channel_id,
                    bulk.ids,
                );
            }
            // Not only after a lost session (which the gateway announces): the first session
            // of a process replaces the session of the process before it, and the start-up
            // backfill pass may have paged a channel before this READY. What was posted in
            // between reaches neither the gateway nor that pass.
            GatewayEvent::Ready { resumed: false, .. } | GatewayEvent::SessionLost => {
                plan.new_session = true;
            }
            // Nothing to store: a departed guild's history and a deleted channel's messages
            // are kept (retention is the user's decision); sessions are the gateway's affair.
            GatewayEvent::Ready { resumed: true, .. }
            | GatewayEvent::GuildDelete { .. }
            | GatewayEvent::ChannelDelete(_)
            | GatewayEvent::ThreadDelete(_) => {}
        }
    }
    plan
}

fn plan_deletes(
    plan: &mut Plan,
    selection: &DiscordConfig,
    directory: &ChannelDirectory,
    guild_id: Option<Snowflake>,
    channel_id: Snowflake,
    ids: Vec<Snowflake>,
) {
    if !monitored(selection, directory, guild_id, channel_id) {
        plan.unmonitored += ids.len();
        return;
    }
    plan.push(WriteOp::Deletes {
        channel_id: channel_id.get(),
        ids: ids.into_iter().map(Snowflake::get).collect(),
    });
}

fn plan_message(
    plan: &mut Plan,
    message: &Message,
    selection: &DiscordConfig,
    directory: &ChannelDirectory,
) {
    let known_guild = directory
        .get(message.channel_id)
        .and_then(|info| info.guild_id);
    if !monitored(selection, directory, message.guild_id, message.channel_id) {
        plan.unmonitored += 1;
        return;
    }
    match convert::new_message(
        message,
        known_guild.map(Snowflake::get),
        MessageSource::Gateway,
    ) {
        Ok(row) => plan.push(WriteOp::Messages(vec![row])),
        Err(err) => plan.invalid.push(format!("message {}: {err}", message.id)),
    }
}

/// Whether `channel_id` is monitored, using what the directory knows of its guild and parent.
pub fn monitored(
    selection: &DiscordConfig,
    directory: &ChannelDirectory,
    guild_id: Option<Snowflake>,
    channel_id: Snowflake,
) -> bool {
    let info = directory.get(channel_id);
    let guild_id = guild_id.or_else(|| info.and_then(|info| info.guild_id));
    selection.monitors(guild_id, channel_id, info.and_then(|info| info.parent_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::{Guild, MessageDelete, MessageDeleteBulk};

    fn message(id: u64, channel: u64, content: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": id.to_string(), "channel_id": channel.to_string(), "guild_id": "1",
            "author": {"id": "5", "username": "ann"}, "content": content,
            "timestamp": "2026-01-01T00:00:00+00:00", "type": 0
        }))
        .unwrap()
    }

    #[test]
    fn runs_of_the_same_write_merge_and_order_is_kept() {
        let selection = DiscordConfig::default();
        let directory = ChannelDirectory::default();
        let events = vec![
            GatewayEvent::MessageCreate(message(100, 10, "a")),
            GatewayEvent::MessageCreate(message(101, 10, "b")),
            GatewayEvent::MessageDelete(MessageDelete {
                id: Snowflake(100),
                channel_id: Snowflake(10),
                guild_id: Some(Snowflake(1)),
            }),
            GatewayEvent::MessageDeleteBulk(MessageDeleteBulk {
                ids: vec![Snowflake(101)],
                channel_id: Snowflake(10),
                guild_id: Some(Snowflake(1)),
            }),
            GatewayEvent::MessageCreate(message(102, 10, "c")),
        ];
        let plan = plan(events, &selection, &directory);
        let names: Vec<&str> = plan.ops.iter().map(WriteOp::name).collect();
        assert_eq!(names, ["messages", "deletes", "messages"]);
        assert_eq!(
            plan.ops[1],
            WriteOp::Deletes {
                channel_id: 10,
                ids: vec![100, 101]
            }
        );
    }

    #[test]
    fn unmonitored_channels_and_guilds_are_filtered_using_thread_parents() {
        let selection = DiscordConfig {
            channel_ids: vec![Snowflake(10)],
            ..DiscordConfig::default()
        };
        let directory = ChannelDirectory::default();
        let guild: Guild = serde_json::from_value(serde_json::json!({
            "id": "1", "name": "g",
            "channels": [{"id": "10", "type": 0}, {"id": "20", "type": 0}],
            "threads": [{"id": "11", "type": 11, "parent_id": "10"}]
        }))
        .unwrap();
        let events = vec![
            GatewayEvent::GuildCreate(guild),
            GatewayEvent::MessageCreate(message(100, 10, "kept")),
            GatewayEvent::MessageCreate(message(101, 11, "thread of a monitored channel")),
            GatewayEvent::MessageCreate(message(102, 20, "not monitored")),
        ];
        let plan = plan(events, &selection, &directory);
        assert_eq!(plan.unmonitored, 1);
        let WriteOp::Messages(rows) = &plan.ops[2] else {
            panic!("{:?}", plan.ops);
        };
        let ids: Vec<u64> = rows.iter().map(|row| row.id).collect();
        assert_eq!(ids, [100, 101]);
        // Every channel of the monitored guild is recorded, monitored or not.
        let WriteOp::Channels(channels) = &plan.ops[1] else {
            panic!("{:?}", plan.ops);
        };
        assert_eq!(channels.len(), 3);
    }

    #[test]
    fn every_new_session_needs_a_backfill_and_a_resume_does_not() {
        let plan_of = |events| {
            plan(
                events,
                &DiscordConfig::default(),
                &ChannelDirectory::default(),
            )
        };
        let ready = |resumed| GatewayEvent::Ready {
            session_id: "s".to_owned(),
            user: serde_json::from_value(serde_json::json!({"id": "9", "username": "bot"}))
                .unwrap(),
            resumed,
        };
        // The first READY of a process: no SessionLost from the gateway, still a gap.
        assert!(plan_of(vec![ready(false)]).new_session);
        assert!(plan_of(vec![ready(false), GatewayEvent::SessionLost]).new_session);
        assert!(plan_of(vec![GatewayEvent::SessionLost]).new_session);
        // A resume replays what was missed.
        assert!(!plan_of(vec![ready(true)]).new_session);
    }

    #[test]
    fn invalid_timestamps_are_reported_not_stored() {
        let mut bad = message(100, 10, "x");
        bad.timestamp = "not a time".to_owned();
        let plan = plan(
            vec![GatewayEvent::MessageCreate(bad)],
            &DiscordConfig::default(),
            &ChannelDirectory::default(),
        );
        assert!(plan.ops.is_empty());
        assert_eq!(plan.invalid.len(), 1);
    }
}
