//! The problems found while loading, each with where its value came from, so every section's
//! checks report with a key path and a source without knowing the file or the environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{ConfigProblem, ProblemSource};

/// Collects every problem of one load.
#[derive(Debug)]
pub struct Problems {
    /// The file as parsed, before overrides.
    file: Value,
    path: PathBuf,
    /// Key path -> variable that set it.
    env: HashMap<String, String>,
    found: Vec<ConfigProblem>,
}

impl Problems {
    pub(crate) fn new(file: Value, path: &Path) -> Self {
        Self {
            file,
            path: path.to_owned(),
            env: HashMap::new(),
            found: Vec::new(),
        }
    }

    /// Records that `var` set `key`, so later problems of `key` name the variable.
    pub(crate) fn set_by_env(&mut self, key: &str, var: String) {
        self.env.insert(key.to_owned(), var);
    }

    /// The config file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The source of `key` (`alerts.email_to[1]` is looked up as `alerts.email_to`).
    pub fn source(&self, key: &str) -> ProblemSource {
        let plain = key.split('[').next().unwrap_or(key);
        if let Some(var) = self.env.get(plain) {
            return ProblemSource::Env(var.clone());
        }
        let in_file = plain
            .split('.')
            .try_fold(&self.file, |value, segment| value.get(segment))
            .is_some();
        if in_file {
            ProblemSource::File(self.path.clone())
        } else {
            ProblemSource::Unset
        }
    }

    /// Adds a problem with `key`, named with its source.
    pub fn report(&mut self, key: &str, message: impl Into<String>, hint: Option<String>) {
        let problem = ConfigProblem {
            key: key.to_owned(),
            message: message.into(),
            source: self.source(key),
            hint,
        };
        self.found.push(problem);
    }

    /// Adds a problem whose source is already known.
    pub(crate) fn push(&mut self, problem: ConfigProblem) {
        self.found.push(problem);
    }

    /// Whether a problem with exactly `key` was reported, so a check can skip what an earlier
    /// one already said.
    pub fn is_reported(&self, key: &str) -> bool {
        self.found.iter().any(|problem| problem.key == key)
    }

    pub(crate) fn into_vec(self) -> Vec<ConfigProblem> {
        self.found
    }
}
