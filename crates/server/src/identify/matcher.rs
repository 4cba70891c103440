//! The addresses of an `identify` section's `match` items (addresses,
//! ranges and host names, read by the configuration as [`MatchItem`]s).
//! Host names are resolved when the server starts and again in the
//! background; a request is only ever compared with addresses already
//! known, so no DNS lookup sits on the request path.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

use crate::config::pjsip::MatchItem;

/// The addresses of an `identify` section, as last resolved.
#[derive(Clone, Debug, Default)]
pub struct AddressMatcher {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
    resolved: Arc<RwLock<Vec<IpAddr>>>,
}

impl AddressMatcher {
    /// A matcher for these items; host names match nothing until
    /// [`AddressMatcher::set_resolved`] is called.
    pub fn new(items: impl IntoIterator<Item = MatchItem>) -> AddressMatcher {
        let mut m = AddressMatcher::default();
        for item in items {
            match item {
                MatchItem::Net(n) => m.nets.push(n),
                MatchItem::Host(h) => m.hosts.push(h),
            }
        }
        m
    }

    /// The host names to resolve.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Replaces what the host names resolve to (called by the resolver task).
    pub fn set_resolved(&self, addrs: Vec<IpAddr>) {
        *self.resolved.write().unwrap_or_else(|e| e.into_inner()) = addrs;
    }

    /// True when `ip` is one of the addresses, in one of the ranges, or an
    /// address a host name resolved to. IPv4-mapped IPv6 sources compare as
    /// IPv4.
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
            || (!self.hosts.is_empty()
                && self
                    .resolved
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matching() {
        let m = AddressMatcher::new(
            [
                "192.0.2.10",
                "198.51.100.0/24",
                "2001:db8::/32",
                "gw.example.com",
            ]
            .map(|s| MatchItem::parse(s).unwrap()),
        );
        assert!(m.matches(ip("192.0.2.10")));
        assert!(!m.matches(ip("192.0.2.11")));
        assert!(m.matches(ip("198.51.100.200")));
        assert!(m.matches(ip("2001:db8:1::5")));
        assert!(m.matches(ip("::ffff:198.51.100.1")));
        assert!(!m.matches(ip("203.0.113.1")));
        assert_eq!(m.hosts(), ["gw.example.com"]);
        m.set_resolved(vec![ip("203.0.113.1")]);
        assert!(m.matches(ip("203.0.113.1")));
        m.set_resolved(vec![]);
        assert!(!m.matches(ip("203.0.113.1")));
    }
}
