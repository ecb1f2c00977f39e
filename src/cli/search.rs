//! `search QUERY...`: full-text search straight on the database file. It works while the
//! service runs: in SQLite's write-ahead-log mode readers and the writer do not wait for one
//! another, and searching writes nothing.

use std::io::IsTerminal;

use anyhow::Context;
use chrono::SecondsFormat;

use discord_monitor::actors::db::{
    Database, DatabaseConfig, SNIPPET_MATCH_END, SNIPPET_MATCH_START, SearchHit, SearchParams,
    SearchQuery, parse_time,
};
use discord_monitor::app::config::Config;

use super::args::SearchArgs;
use super::error::CliError;
use super::{Outcome, Output};

/// One connection is all a single query needs.
const CLI_POOL_SIZE: u32 = 1;

/// Bold on, and back to normal, for the matched words on a terminal.
const BOLD: &str = "\u{1b}[1m";
const NORMAL: &str = "\u{1b}[0m";

pub fn run(config: &Config, args: SearchArgs, out: &mut Output) -> anyhow::Result<Outcome> {
    // A query that cannot run is refused before the database is touched.
    let query = SearchQuery::new(SearchParams {
        text: args.query.join(" "),
        guild_id: args.guild,
        channel_id: args.channel,
        author_id: args.author,
        since_ms: args
            .since
            .as_deref()
            .map(|since| parse_time("--since", since))
            .transpose()?,
        until_ms: args
            .until
            .as_deref()
            .map(|until| parse_time("--until", until))
            .transpose()?,
        limit: Some(args.limit),
    })?;
    let database = &config.database;
    if !database.path.is_file() {
        return Err(CliError::NothingToSearch(database.path.clone()).into());
    }
    let db = Database::open(&DatabaseConfig {
        connection_pool_size: CLI_POOL_SIZE,
        ..database.clone()
    })
    .with_context(|| format!("cannot open {}", database.path.display()))?;
    let pending = db.pending_migrations()?;
    if !pending.is_empty() {
        eprintln!(
            "warning: {} is missing migration(s) {}; the service applies them at its start (or \
             run `db migrate`)",
            database.path.display(),
            pending.join(", ")
        );
    }
    let results = db.search(&query).context("search failed")?;
    if args.json {
        out.json_pretty(&serde_json::json!({
            "query": query.text(),
            "total": results.total,
            "has_more": results.has_more,
            "hits": results.hits,
        }))?;
        return Ok(Outcome::Success);
    }
    let highlight = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for hit in &results.hits {
        writeln!(out, "{}", hit_line(hit, highlight))?;
    }
    // The count goes to stderr so that stdout holds exactly one line per hit.
    match (results.total, results.has_more) {
        (0, _) => eprintln!("No messages match {:?}", query.text()),
        (total, true) => eprintln!(
            "{} of {total} matches shown (--limit up to {} shows more)",
            results.hits.len(),
            SearchQuery::MAX_LIMIT
        ),
        (1, false) => eprintln!("1 match"),
        (total, false) => eprintln!("{total} matches"),
    }
    Ok(Outcome::Success)
}

/// `time (RFC 3339, UTC)  #channel  author: snippet  link`, on one line whatever the message
/// held.
fn hit_line(hit: &SearchHit, highlight: bool) -> String {
    let place = match (&hit.channel_name, hit.guild_id) {
        (Some(name), _) => format!("#{}", one_line(name)),
        (None, None) => "DM".to_owned(),
        (None, Some(_)) => format!("#{}", hit.channel_id),
    };
    let mut snippet = one_line(&hit.snippet);
    if highlight {
        snippet = snippet
            .replace(SNIPPET_MATCH_START, BOLD)
            .replace(SNIPPET_MATCH_END, NORMAL);
    }
    format!(
        "{}  {place}  {}: {snippet}  {}",
        hit.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        one_line(&hit.author_name),
        hit.jump_url
    )
}

/// Whitespace runs (newlines included) as one space, and no control character: a message
/// cannot move the cursor or recolour the terminal it is printed on.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(channel_name: Option<&str>, guild_id: Option<u64>) -> SearchHit {
        SearchHit {
            message_id: 3,
            guild_id,
            guild_name: None,
            channel_id: 2,
            channel_name: channel_name.map(str::to_owned),
            author_id: 1,
            author_name: "alice\u{1b}[31m".to_owned(),
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            edited_at: None,
            snippet: format!("the\n{SNIPPET_MATCH_START}deploy{SNIPPET_MATCH_END}\t failed"),
            jump_url: "https://discord.com/channels/7/2/3".to_owned(),
        }
    }

    #[test]
    fn a_hit_is_one_line_without_control_characters() {
        assert_eq!(
            hit_line(&hit(Some("ops"), Some(7)), false),
            "2023-11-14T22:13:20Z  #ops  alice [31m: the ⟦deploy⟧ failed  \
             https://discord.com/channels/7/2/3"
        );
        assert_eq!(
            hit_line(&hit(None, Some(7)), true),
            "2023-11-14T22:13:20Z  #2  alice [31m: the \u{1b}[1mdeploy\u{1b}[0m failed  \
             https://discord.com/channels/7/2/3"
        );
        assert!(hit_line(&hit(None, None), false).contains("  DM  "));
    }
}
