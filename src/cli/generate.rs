//! `completions <shell>` and `man`: generated from the clap definitions, so they always match
//! `--help`.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Outcome, Output};

/// The script is built in memory first: clap_complete panics on a failed write, and a closed
/// stdout must end quietly.
pub fn completions(shell: Shell, out: &mut Output) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    out.write_bytes(&script)?;
    Ok(Outcome::Success)
}

/// The top page on stdout, or every page into `dir`: the top page lists its subcommands as
/// `discord-monitor-db(1)` and so on, which only the pages in `dir` provide.
pub fn man(dir: Option<&Path>, out: &mut Output) -> anyhow::Result<Outcome> {
    // `help` has no page of its own; clap_mangen leaves it out of the directory too.
    let command = Cli::command().disable_help_subcommand(true);
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            out.write_bytes(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(command, dir))
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            eprintln!("Wrote the man pages into {}", dir.display());
        }
    }
    Ok(Outcome::Success)
}
