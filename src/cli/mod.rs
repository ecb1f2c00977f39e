//! The command line: [`args`] is what `--help` shows, [`run`] hands each command to its
//! group's module, which prints through [`Output`] and answers an [`Outcome`]; `main` turns
//! that (or an error) into the exit code.

mod alert;
mod args;
mod config;
mod db;
mod discord;
mod error;
mod generate;
mod healthcheck;
mod llm;
mod output;
mod search;
mod serve;

use discord_monitor::app::config::{Config, config_path};
use discord_monitor::config::ProcessEnv;

pub use args::Cli;
use args::{AlertCommand, Command, ConfigCommand, DiscordCommand};
pub use error::error_json;
pub use output::{Output, is_closed};

/// How a command ended, when it could report its own result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// What went wrong has been printed (a route failed, integrity problems, not ready).
    Failure,
    /// The command cannot go ahead as invoked (e.g. `db restore` without `--yes` and no
    /// terminal to ask on): the exit code of bad usage.
    Refused,
}

pub fn run(cli: Cli, out: &mut Output) -> anyhow::Result<Outcome> {
    let (path, explicit) = config_path(cli.config, &ProcessEnv);
    // Only the commands that need the configuration load it (`config sample` and `man` work
    // beside a broken one).
    let load = || Config::load(&path, explicit, &ProcessEnv);
    match cli.command {
        Command::Config(ConfigCommand::Sample { output }) => config::sample(output.as_deref(), out),
        Command::Config(ConfigCommand::Validate) => config::validate(&path, load(), out),
        Command::Config(ConfigCommand::Show) => config::show(&load()?, out),
        Command::Healthcheck(args) => healthcheck::run(&load()?, &args, out),
        Command::Db(command) => db::run(&load()?, command, out),
        Command::Llm(command) => llm::run(&load()?, command, out),
        Command::Discord(DiscordCommand::Check { json }) => discord::check(&load()?, json, out),
        Command::Alert(AlertCommand::Test { route, json }) => {
            alert::test(&load()?, route.as_deref(), json, out)
        }
        Command::Search(args) => search::run(&load()?, args, out),
        Command::Run => serve::run(load()?),
        Command::Demo(args) => serve::demo(load()?, args.port),
        Command::Completions { shell } => generate::completions(shell, out),
        Command::Man { dir } => generate::man(dir.as_deref(), out),
    }
}
