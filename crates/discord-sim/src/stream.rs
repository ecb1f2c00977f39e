//! The live stream: `live_messages` MESSAGE_CREATEs at `rate_per_sec` (or as fast as the sim
//! can), each followed by seeded chances of an edit, a delete, a link unfurl, a structural
//! event (threads, channels, guild, bulk delete) and an unknown event type. It runs on the
//! sim's runtime and waits on [`Shared::stream_wake`] while paused or finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;
use tokio::time::sleep_until;

use super::config::SimConfig;
use super::snowflake::now_unix_ms;
use super::state::{Shared, SimState};
use super::world::{MessageOrigin, MessageSpec, World};

/// Messages produced per lock when there is no rate: long enough to be fast, short enough
/// that gateway writers and REST get the lock between batches.
const UNPACED_BATCH: usize = 32;

/// When the stream fell this far behind its schedule (a busy machine), it starts a new
/// schedule instead of bursting to catch up.
const MAX_LAG: Duration = Duration::from_secs(1);

pub(crate) async fn run(shared: Arc<Shared>) {
    let period = (shared.config.rate_per_sec > 0.0)
        .then(|| Duration::from_secs_f64(1.0 / shared.config.rate_per_sec));
    let mut next_due = Instant::now();
    loop {
        let active = {
            let state = shared.lock();
            state.stream.status.running && !state.stream.status.done()
        };
        if !active {
            shared.stream_wake.notified().await;
            next_due = Instant::now();
            continue;
        }
        if let Some(period) = period {
            sleep_until(next_due.into()).await;
            next_due += period;
            let now = Instant::now();
            if next_due + MAX_LAG < now {
                next_due = now;
            }
        }
        let batch = if period.is_some() { 1 } else { UNPACED_BATCH };
        {
            let mut state = shared.lock();
            for _ in 0..batch {
                if !state.stream.status.running || state.stream.status.done() {
                    break;
                }
                step(&mut state, &shared.config);
            }
        }
        if period.is_none() {
            tokio::task::yield_now().await;
        }
    }
}

/// One live message and whatever follows it.
pub(crate) fn step(state: &mut SimState, config: &SimConfig) {
    let now = Instant::now();
    let at = now_unix_ms();
    let SimState { world, stream, .. } = state;
    let rng = &mut stream.rng;
    let status = &mut stream.status;
    let mut events = Vec::new();

    let channels = world.postable_channels();
    if channels.is_empty() {
        // Nothing left to post in (all deleted or forbidden): the stream is over.
        status.target = status.created;
        return;
    }
    let channel = channels[rng.random_range(0..channels.len())];
    if let Ok((id, created)) =
        world.create_message_at(channel, MessageSpec::default(), at, MessageOrigin::Live)
    {
        events.extend(created);
        status.created += 1;
        if world.message_has_link(channel, id)
            && rng.random_bool(config.unfurl_ratio)
            && let Ok(unfurl) = world.unfurl_message(channel, id)
        {
            events.extend(unfurl);
            status.unfurls += 1;
        }
    }
    if rng.random_bool(config.edit_ratio)
        && let Some((channel, message)) = world.pick_existing_message(rng, false)
        && let Ok(edit) = world.edit_message_at(channel, message, None, at)
    {
        events.extend(edit);
        status.edits += 1;
    }
    if rng.random_bool(config.delete_ratio)
        && let Some((channel, message)) = world.pick_existing_message(rng, true)
        && let Ok(delete) = world.delete_message(channel, message)
    {
        events.extend(delete);
        status.deletes += 1;
    }
    if rng.random_bool(config.structure_event_ratio) {
        let structural = structure_event(world, rng, at);
        if !structural.is_empty() {
            status.structure_events += 1;
            events.extend(structural);
        }
    }
    if rng.random_bool(config.unknown_event_ratio) {
        events.extend(world.unknown_event());
        status.unknown_events += 1;
    }
    state.dispatch(events, config, now);
}

fn structure_event(world: &mut World, rng: &mut StdRng, at: u64) -> Vec<super::world::Event> {
    let text_channels = world.text_channel_ids();
    let threads = world.thread_ids();
    let guilds = world.guild_ids();
    let pick = |rng: &mut StdRng, ids: &[u64]| -> Option<u64> {
        (!ids.is_empty()).then(|| ids[rng.random_range(0..ids.len())])
    };
    let result = match rng.random_range(0..8) {
        0 => {
            pick(rng, &text_channels).map(|parent| world.create_thread(parent, at).map(|(_, e)| e))
        }
        1 => pick(rng, &threads).map(|thread| {
            let name = format!("renamed thread {}", rng.random_range(0..1000));
            world.update_thread(thread, Some(name), None, at)
        }),
        // Archiving is rare: an archived thread takes no new messages.
        2 if threads.len() > 1 => {
            pick(rng, &threads).map(|thread| world.update_thread(thread, None, Some(true), at))
        }
        3 => pick(rng, &guilds).map(|guild| world.thread_list_sync(guild)),
        4 => pick(rng, &text_channels).map(|channel| {
            let topic = format!("Topic changed at {at} 📝");
            world.update_channel(channel, None, Some(Some(topic)))
        }),
        5 => pick(rng, &guilds).map(|guild| world.create_channel(guild, None, at).map(|(_, e)| e)),
        6 => pick(rng, &guilds).map(|guild| {
            let description = format!("Updated {at}");
            world.update_guild(guild, None, Some(Some(description)))
        }),
        _ => bulk_delete(world, rng),
    };
    result.and_then(Result::ok).unwrap_or_default()
}

/// Deletes two or three recent live messages of one channel at once.
fn bulk_delete(
    world: &mut World,
    rng: &mut StdRng,
) -> Option<Result<Vec<super::world::Event>, super::error::SimError>> {
    let (channel, first) = world.pick_existing_message(rng, true)?;
    let mut ids = vec![first];
    for _ in 0..rng.random_range(1..=2) {
        if let Some((other_channel, other)) = world.pick_existing_message(rng, true)
            && other_channel == channel
            && !ids.contains(&other)
        {
            ids.push(other);
        }
    }
    Some(world.bulk_delete(channel, &ids))
}
