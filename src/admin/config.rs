//! `admin` section: who may use the admin API.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::{
    Allowed, EnvOverride, KeyDoc, Problems, Secret, Section, SectionDoc, ValueKind,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token for `/config`, `/status` and `/api/*`; env `ADMIN_TOKEN` /
    /// `ADMIN_TOKEN_FILE`. Without one, those routes answer loopback callers only.
    pub token: Option<Secret>,
    /// When non-empty, every route but the health probes answers only callers in these
    /// networks (`10.0.0.0/8`, `192.168.1.7`, `::1/128`); env `ADMIN_ALLOWED_CIDRS`,
    /// comma-separated.
    pub allowed_cidrs: Vec<String>,
    /// Largest request body accepted, in bytes; the admin API takes small JSON at most.
    pub max_body_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            allowed_cidrs: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}

impl AdminConfig {
    /// `allowed_cidrs` parsed; a bare address becomes a single-host network. Loading the
    /// configuration already rejected bad entries, so this fails only on a hand-built config.
    pub fn allowed_networks(&self) -> Result<Vec<IpNet>, InvalidNetwork> {
        self.allowed_cidrs
            .iter()
            .map(|entry| parse_network(entry))
            .collect()
    }
}

impl Section for AdminConfig {
    const DOC: SectionDoc = SectionDoc {
        keys: KEYS,
        env_overrides: ENV_OVERRIDES,
        lists: &[],
    };

    fn validate(&self, problems: &mut Problems) {
        for (index, entry) in self.allowed_cidrs.iter().enumerate() {
            if let Err(err) = parse_network(entry) {
                problems.report(
                    &format!("admin.allowed_cidrs[{index}]"),
                    err.to_string(),
                    Some(
                        "write a network such as 10.0.0.0/8 or an address such as 192.168.1.7"
                            .to_owned(),
                    ),
                );
            }
        }
    }
}

/// Bytes: the admin API takes small JSON bodies; 16 MiB is a generous ceiling.
const MAX_BODY_BYTES_CEILING: f64 = 16.0 * 1024.0 * 1024.0;

const KEYS: &[KeyDoc] = &[
    KeyDoc::new("admin", "Who may use the admin API.", Allowed::Any),
    KeyDoc::new(
        "admin.token",
        "Bearer token for /config, /status and /api/*; without one they answer loopback callers only. Never printed.",
        Allowed::Any,
    ),
    KeyDoc::new(
        "admin.allowed_cidrs",
        "When not empty, every route but the health probes answers only these networks or addresses (10.0.0.0/8, 192.168.1.7, ::1).",
        Allowed::Any,
    ),
    KeyDoc::new(
        "admin.max_body_bytes",
        "Largest admin request body accepted, in bytes.",
        Allowed::range(1.0, MAX_BODY_BYTES_CEILING),
    ),
];

const ENV_OVERRIDES: &[EnvOverride] = &[
    EnvOverride::new("ADMIN_TOKEN", "admin.token", ValueKind::Secret),
    EnvOverride::new(
        "ADMIN_ALLOWED_CIDRS",
        "admin.allowed_cidrs",
        ValueKind::List,
    ),
];

/// An `allowed_cidrs` entry: `10.0.0.0/8`, `fd00::/8` or a bare address such as `192.168.1.7`.
/// Host bits are cleared (`10.1.2.3/8` means `10.0.0.0/8`).
pub fn parse_network(entry: &str) -> Result<IpNet, InvalidNetwork> {
    let entry = entry.trim();
    if let Ok(network) = entry.parse::<IpNet>() {
        return Ok(network.trunc());
    }
    entry
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| InvalidNetwork(entry.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is neither a network in CIDR notation nor an IP address")]
pub struct InvalidNetwork(pub String);

/// Bytes: 64 KiB is far above any admin request and far below anything that hurts.
pub const fn default_max_body_bytes() -> usize {
    64 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_bare_addresses_parse() {
        let config = AdminConfig {
            allowed_cidrs: vec![
                "10.1.2.3/8".to_owned(),
                "192.168.1.7".to_owned(),
                "::1".to_owned(),
                " fd00::/8 ".to_owned(),
            ],
            ..AdminConfig::default()
        };
        let networks = config.allowed_networks().unwrap();
        let rendered: Vec<String> = networks.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::/8"]
        );
        assert!(networks[0].contains(&"10.200.0.1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn garbage_is_rejected_by_name() {
        let err = parse_network("10.0.0.0/33").unwrap_err();
        assert_eq!(err, InvalidNetwork("10.0.0.0/33".to_owned()));
        assert!(parse_network("localhost").is_err());
    }
}
