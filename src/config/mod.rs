//! Configuration machinery: what every section has in common, and the sections that belong to
//! no single component. It imports no component: each component's `config.rs` owns its
//! section (struct, keys, environment variables, checks) by implementing [`Section`], and the
//! aggregate naming every section (`app::config::Config`) implements [`Root`].
//!
//! - [`load_file`] reads a file for a [`Root`], applies its sections' [`EnvOverride`]s (read
//!   through an injectable [`EnvSource`]; `NAME_FILE` reads a secret from a file) and returns
//!   every problem at once as [`ConfigError::Invalid`], each with its key path and source
//!   ([`Problems`]).
//! - The file may hold `//` and `/* */` comments and trailing commas (see `jsonc`).
//! - Each section's [`KeyDoc`]s say what its keys mean and allow; the [`Catalogue`] of them
//!   drives range checks, hints, [`render_sample`] (`config sample`) and [`render_reference`]
//!   (the README table).
//! - Secrets are [`Secret`]s: they serialize as `<redacted>`, and an empty secret counts as
//!   unset.
//! - Sections of no single component: [`MonitoringConfig`] and the top-level `environment`
//!   and `debug_mode` ([`TOP_LEVEL`]).

mod catalogue;
mod check;
mod env;
mod environment;
mod error;
mod jsonc;
mod keys;
mod load;
mod monitoring;
mod problems;
mod sample;
mod secret;

pub use catalogue::{Catalogue, ObjectList, Root, Section, SectionDoc};
pub use check::{how_to_set, is_http_url};
pub use env::{EnvOverride, EnvSource, MapEnv, ProcessEnv, ValueFileError, ValueKind};
pub use environment::{Environment, TOP_LEVEL};
pub use error::{ConfigError, ConfigProblem, ProblemSource};
pub use keys::{Allowed, KeyDoc, one_of_hint};
pub use load::{load_file, load_text};
pub use monitoring::{LogLevel, MonitoringConfig, UnknownLogLevel};
pub use problems::Problems;
pub use sample::{render_reference, render_sample};
pub use secret::{REDACTED, Secret};
