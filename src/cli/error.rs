//! Failures: the command line's own [`CliError`], and what a command given `--json` prints
//! on stdout when it fails, besides the `error: ...` line on stderr: one object,
//! `{"error": "<the same message>", "error_type": "<kind>"}`.

use serde_json::{Value, json};

use discord_monitor::actors::alert::AlertError;
use discord_monitor::actors::backup::BackupError;
use discord_monitor::actors::db::{DbError, InvalidInput};
use discord_monitor::actors::llm::check::LlmCheckError;
use discord_monitor::config::ConfigError;
use discord_monitor::discord::check::CheckError;

/// A failure that is the command line's own, not the library's.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no database at {} (nothing to back up)", .0.display())]
    NoDatabase(std::path::PathBuf),

    #[error(
        "no database at {} (nothing to search; check database.path, env DATABASE_PATH)",
        .0.display()
    )]
    NothingToSearch(std::path::PathBuf),
}

pub fn error_json(err: &anyhow::Error) -> Value {
    json!({ "error": format!("{err:#}"), "error_type": error_type(err) })
}

/// Which part failed, named by the outermost error of a known type in the chain: a small
/// fixed set for scripts to branch on.
fn error_type(err: &anyhow::Error) -> &'static str {
    err.chain()
        .find_map(|cause| {
            if cause.is::<ConfigError>() {
                Some("ConfigError")
            } else if cause.is::<CheckError>() {
                Some("DiscordError")
            } else if cause.is::<LlmCheckError>() {
                Some("LlmError")
            } else if cause.is::<AlertError>() {
                Some("AlertError")
            } else if cause.is::<BackupError>() {
                Some("BackupError")
            } else if cause.is::<InvalidInput>()
                || matches!(cause.downcast_ref(), Some(DbError::InvalidInput(_)))
            {
                Some("InvalidQuery")
            } else if cause.is::<DbError>() || cause.is::<CliError>() {
                Some("DatabaseError")
            } else if cause.is::<std::io::Error>() {
                Some("IoError")
            } else {
                None
            }
        })
        .unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_known_error_names_the_type_and_the_message_is_the_whole_chain() {
        let err = anyhow::Error::from(BackupError::NotSqlite {
            path: "x.sqlite".into(),
        })
        .context("cannot restore");
        assert_eq!(
            error_json(&err),
            json!({
                "error": "cannot restore: \"x.sqlite\" is not an SQLite database",
                "error_type": "BackupError",
            })
        );
        let missing = anyhow::Error::from(CheckError::MissingToken);
        assert_eq!(error_json(&missing)["error_type"], "DiscordError");
        assert_eq!(
            error_json(&CliError::NoDatabase("db.sqlite".into()).into())["error_type"],
            "DatabaseError"
        );
        assert_eq!(error_json(&anyhow::anyhow!("other"))["error_type"], "Error");
        let query = anyhow::Error::from(InvalidInput::EmptySearch);
        assert_eq!(error_json(&query)["error_type"], "InvalidQuery");
    }
}
