//! What the loader knows of a configuration without knowing its components: each section
//! describes itself ([`Section`]), and the aggregate lists its sections ([`Root`]). The
//! loader, the sample and the README table read everything from the resulting [`Catalogue`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::env::{EnvOverride, ValueKind};
use super::keys::KeyDoc;
use super::problems::Problems;

/// One section as the loader sees it.
#[derive(Debug, Clone, Copy)]
pub struct SectionDoc {
    /// The section itself, then each of its keys in the order of the struct's fields, by full
    /// dotted path (`database`, `database.path`, ...).
    pub keys: &'static [KeyDoc],
    /// The environment variables that override its keys: the names the deployment guide uses,
    /// plus one per key an operator is likely to set per deployment. Keys of
    /// [`ValueKind::Secret`] are the section's secrets: their values never appear in a problem.
    pub env_overrides: &'static [EnvOverride],
    /// Its keys holding a list of objects.
    pub lists: &'static [ObjectList],
}

/// A key holding a list of objects, such as `alerts.routes`. Problems inside an entry name the
/// entry's index (`alerts.routes[2].smtp_port`); hints need the keys an entry accepts.
#[derive(Debug, Clone, Copy)]
pub struct ObjectList {
    /// Dotted path of the list, `alerts.routes`.
    pub key: &'static str,
    /// Every key an entry accepts, for unknown-key hints.
    pub entry_keys: &'static [&'static str],
    /// Entry keys holding credentials: their values never appear in a problem.
    pub secret_keys: &'static [&'static str],
}

/// A section of the configuration file, owned by the component it configures.
pub trait Section {
    /// Its keys, their variables and its lists of objects.
    const DOC: SectionDoc;

    /// Reports values that must not be empty (paths, names). The aggregate reports these
    /// before any section's [`Section::validate`].
    fn check_not_empty(&self, _problems: &mut Problems) {}

    /// Reports what the types and the catalogue's ranges cannot express: rules that tie keys
    /// together, URLs, addresses.
    fn validate(&self, _problems: &mut Problems) {}
}

/// A whole configuration file: the struct naming every section.
pub trait Root: Default + Serialize + DeserializeOwned {
    /// Every section, in the order of the struct's fields.
    const CATALOGUE: Catalogue;

    /// Runs the sections' checks, in the order their problems are to be reported. The catalogue's
    /// ranges and allowed values were checked before.
    fn validate(&self, problems: &mut Problems);
}

/// Every section of a configuration, in file order.
#[derive(Debug, Clone, Copy)]
pub struct Catalogue {
    pub sections: &'static [SectionDoc],
}

impl Catalogue {
    /// Every key, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &'static KeyDoc> + use<> {
        self.sections.iter().flat_map(|section| section.keys)
    }

    /// Every environment override, in file order.
    pub fn env_overrides(&self) -> impl Iterator<Item = &'static EnvOverride> + use<> {
        self.sections
            .iter()
            .flat_map(|section| section.env_overrides)
    }

    pub fn key_doc(&self, key: &str) -> Option<&'static KeyDoc> {
        self.keys().find(|doc| doc.key == key)
    }

    /// The variable that overrides `key`, if any.
    pub fn override_for_key(&self, key: &str) -> Option<&'static EnvOverride> {
        self.env_overrides().find(|entry| entry.key == key)
    }

    /// Names of the keys directly inside `parent` (`""` for the top level), in file order.
    pub fn child_keys(&self, parent: &str) -> Vec<&'static str> {
        self.keys()
            .filter_map(|doc| match doc.key.rsplit_once('.') {
                Some((key_parent, name)) if key_parent == parent => Some(name),
                None if parent.is_empty() => Some(doc.key),
                _ => None,
            })
            .collect()
    }

    /// True for a top-level key holding other keys (`discord`, `llm`, ...).
    pub fn is_section(&self, key: &str) -> bool {
        !key.contains('.') && !self.child_keys(key).is_empty()
    }

    /// The list of objects `key` (`alerts.routes`) names.
    pub fn list(&self, key: &str) -> Option<&'static ObjectList> {
        self.sections
            .iter()
            .flat_map(|section| section.lists)
            .find(|list| list.key == key)
    }

    /// The list of objects whose entries hold `key` (`alerts.routes.smtp_port`, indexes
    /// removed), with the rest of the key (`smtp_port`).
    pub fn list_holding<'k>(&self, key: &'k str) -> Option<(&'static ObjectList, &'k str)> {
        self.sections
            .iter()
            .flat_map(|section| section.lists)
            .find_map(|list| {
                key.strip_prefix(list.key)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .map(|rest| (list, rest))
            })
    }

    /// Keys holding credentials; their values never appear in any message.
    pub fn is_secret_key(&self, key: &str) -> bool {
        if let Some((list, entry_key)) = self.list_holding(key) {
            let leaf = entry_key.split('.').next().unwrap_or(entry_key);
            return list.secret_keys.contains(&leaf);
        }
        self.override_for_key(key)
            .is_some_and(|entry| entry.kind == ValueKind::Secret)
    }
}
