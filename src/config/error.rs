//! What can go wrong loading the configuration. Every message is written for the person at the
//! terminal: it names the file or variable, the key path and how to fix it, and never carries a
//! secret value.

use std::fmt;
use std::path::PathBuf;

/// Why the configuration could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The path was given explicitly (`--config` or `DM_CONFIG`) and nothing is there.
    #[error(
        "config file `{}` does not exist (write one with `discord-monitor config sample --output {}`, or omit --config/DM_CONFIG to run from defaults and environment variables)",
        path.display(),
        path.display()
    )]
    NotFound { path: PathBuf },

    #[error("cannot read config file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// JSON syntax error; line and column count from 1 in the file as written (comments
    /// included).
    #[error("config file `{}` is not valid JSON at line {line}, column {column}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },

    /// Every problem found, each on its own line.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<ConfigProblem>),

    /// `run` needs a Discord token and none is configured.
    #[error(
        "no discord token configured: set `discord.token` in the config file, or the environment variable DISCORD_TOKEN, or DISCORD_TOKEN_FILE naming a file that holds it"
    )]
    MissingDiscordToken,
}

impl ConfigError {
    /// The individual problems when the configuration was readable but wrong.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

/// One thing wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, `database.connection_pool_size`, `alerts.email_to[1]`, `(root)`.
    pub key: String,
    /// What is wrong, without the key.
    pub message: String,
    /// Where the offending value came from.
    pub source: ProblemSource,
    /// How to fix it: the valid keys, allowed values or range.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.key, self.message, self.source)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemSource {
    File(PathBuf),
    /// The environment variable's name (`DISCORD_TOKEN` or `DISCORD_TOKEN_FILE`).
    Env(String),
    /// Neither the file nor the environment set the key.
    Unset,
}

impl fmt::Display for ProblemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemSource::File(path) => write!(f, "file {}", path.display()),
            ProblemSource::Env(name) => write!(f, "env {name}"),
            ProblemSource::Unset => f.write_str("not set"),
        }
    }
}

struct ProblemList<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "invalid configuration ({count} {noun}):")?;
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
