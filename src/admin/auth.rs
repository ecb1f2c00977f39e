//! Who may call which admin route.
//!
//! The health probes (`/health`, `/health/live`, `/health/ready`) answer everyone so that
//! kubelets and load balancers never need credentials. Every other route is limited to
//! `admin.allowed_cidrs` when that list is set. `/config`, `/status` and `/api/*` also need
//! `Authorization: Bearer <admin.token>`; with no token configured they answer loopback callers
//! only, so a fresh install is never open to the network.
//!
//! The caller is the TCP peer. `X-Forwarded-For` is deliberately ignored: anyone can send it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::error::AdminError;
use crate::config::Secret;

/// Routes that stay open to everyone, whatever `allowed_cidrs` says.
pub const PROBE_PATHS: &[&str] = &["/health", "/health/live", "/health/ready"];

#[derive(Debug, Clone)]
pub struct AccessPolicy {
    token: Option<Secret>,
    allowed_networks: Vec<IpNet>,
}

impl AccessPolicy {
    pub fn new(token: Option<Secret>, allowed_networks: Vec<IpNet>) -> Self {
        let token = token.filter(|token| !token.is_empty());
        Self {
            token,
            allowed_networks,
        }
    }

    /// Network check for every route but the probes.
    pub fn check_network(&self, path: &str, caller: Option<IpAddr>) -> Result<(), AdminError> {
        if self.allowed_networks.is_empty() || PROBE_PATHS.contains(&path) {
            return Ok(());
        }
        match caller.map(canonical) {
            Some(ip) if self.allowed_networks.iter().any(|net| net.contains(&ip)) => Ok(()),
            Some(ip) => Err(AdminError::Forbidden(format!(
                "caller {ip} is not in admin.allowed_cidrs"
            ))),
            None => Err(AdminError::Forbidden(
                "caller address unknown; admin.allowed_cidrs is set".to_owned(),
            )),
        }
    }

    /// Credential check for the protected routes.
    pub fn check_admin(
        &self,
        authorization: Option<&str>,
        caller: Option<IpAddr>,
    ) -> Result<(), AdminError> {
        match &self.token {
            Some(expected) => {
                let presented = authorization
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .map(str::trim);
                match presented {
                    Some(presented) if constant_time_eq(presented, expected.expose()) => Ok(()),
                    _ => Err(AdminError::Unauthorized),
                }
            }
            None if caller.map(canonical).is_some_and(|ip| ip.is_loopback()) => Ok(()),
            None => Err(AdminError::Forbidden(
                "no admin.token is configured (env ADMIN_TOKEN), so this route answers \
                 loopback callers only"
                    .to_owned(),
            )),
        }
    }
}

/// `::ffff:127.0.0.1` is how an IPv4 caller looks on a dual-stack socket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Compares without an early exit so response timing does not reveal how much of a guessed
/// token was right.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut difference = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(index).copied().unwrap_or(!byte));
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn token_is_required_when_configured_even_from_loopback() {
        let policy = AccessPolicy::new(Some(Secret::new("s3cret-admin")), vec![]);
        assert!(policy.check_admin(None, ip("127.0.0.1")).is_err());
        assert!(
            policy
                .check_admin(Some("Bearer wrong"), ip("127.0.0.1"))
                .is_err()
        );
        assert!(
            policy
                .check_admin(Some("Bearer s3cret-admin"), ip("10.1.2.3"))
                .is_ok()
        );
        assert!(
            policy
                .check_admin(Some("Bearer s3cret-admin-and-more"), ip("10.1.2.3"))
                .is_err()
        );
    }

    #[test]
    fn without_token_only_loopback_is_admitted() {
        let policy = AccessPolicy::new(None, vec![]);
        assert!(policy.check_admin(None, ip("127.0.0.1")).is_ok());
        assert!(policy.check_admin(None, ip("::1")).is_ok());
        assert!(policy.check_admin(None, ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check_admin(None, ip("192.168.1.9")).is_err());
        let empty = AccessPolicy::new(Some(Secret::new("  ")), vec![]);
        assert!(empty.check_admin(None, ip("192.168.1.9")).is_err());
    }

    #[test]
    fn networks_limit_everything_but_probes() {
        let policy = AccessPolicy::new(None, vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(policy.check_network("/metrics", ip("10.9.9.9")).is_ok());
        assert!(policy.check_network("/metrics", ip("192.168.0.1")).is_err());
        assert!(
            policy
                .check_network("/health/ready", ip("192.168.0.1"))
                .is_ok()
        );
        assert!(
            policy
                .check_network("/metrics", ip("::ffff:10.0.0.1"))
                .is_ok()
        );
    }
}
