//! `admin` section: who may use the admin API.

use serde::{Deserialize, Serialize};

use crate::config::Secret;

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

/// Bytes: 64 KiB is far above any admin request and far below anything that hurts.
pub const fn default_max_body_bytes() -> usize {
    64 * 1024
}
