//! `match =` of an `identify` section: addresses, CIDR ranges (or
//! address/netmask, as Asterisk also accepts) and host names. Host names are
//! resolved when the configuration loads and again in the background; a
//! request is only ever compared with addresses already known, so no DNS
//! lookup sits on the request path.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;

/// One `match` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchItem {
    /// An address or a range.
    Net(IpNet),
    /// A host name, resolved in the background.
    Host(String),
}

impl MatchItem {
    /// Parses `192.0.2.1`, `192.0.2.0/24`, `192.0.2.0/255.255.255.0`,
    /// `2001:db8::/32`, `[2001:db8::1]`, or a host name.
    pub fn parse(v: &str) -> Result<MatchItem, String> {
        let v = v.trim();
        let bare = v.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(MatchItem::Net(IpNet::from(ip)));
        }
        if let Ok(net) = v.parse::<IpNet>() {
            return Ok(MatchItem::Net(net.trunc()));
        }
        if let Some((addr, mask)) = v.split_once('/') {
            if let (Ok(addr), Ok(mask)) = (addr.parse::<IpAddr>(), mask.parse::<IpAddr>()) {
                let net = IpNet::with_netmask(addr, mask)
                    .map_err(|_| format!("{mask} is not a netmask"))?;
                return Ok(MatchItem::Net(net.trunc()));
            }
            return Err(format!("{v:?} is not an address range"));
        }
        let host_ok = !v.is_empty()
            && v.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
            && !v.starts_with('.');
        if host_ok {
            Ok(MatchItem::Host(v.to_string()))
        } else {
            Err(format!("{v:?} is not an address, range or host name"))
        }
    }
}

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
    fn items_parse() {
        assert_eq!(
            MatchItem::parse("192.0.2.1").unwrap(),
            MatchItem::Net("192.0.2.1/32".parse().unwrap())
        );
        assert_eq!(
            MatchItem::parse("192.0.2.77/24").unwrap(),
            MatchItem::Net("192.0.2.0/24".parse().unwrap())
        );
        assert_eq!(
            MatchItem::parse("10.1.2.3/255.255.0.0").unwrap(),
            MatchItem::Net("10.1.0.0/16".parse().unwrap())
        );
        assert_eq!(
            MatchItem::parse("[2001:db8::1]").unwrap(),
            MatchItem::Net("2001:db8::1/128".parse().unwrap())
        );
        assert_eq!(
            MatchItem::parse("gw.example.com").unwrap(),
            MatchItem::Host("gw.example.com".into())
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/255.0.255.0",
            "bad host",
            "",
            "1.2.3.4/x",
        ] {
            assert!(MatchItem::parse(bad).is_err(), "{bad}");
        }
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
