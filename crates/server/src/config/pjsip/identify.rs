//! `[name] type=identify`: the endpoint requests from some addresses
//! belong to, and what `match =` may name (addresses, CIDR ranges or
//! address/netmask as Asterisk also accepts, host names).

use std::net::IpAddr;

use ipnet::IpNet;

use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;

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

/// `[name] type=identify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `endpoint`.
    pub endpoint: String,
    /// `match`: addresses, CIDR ranges and host names, in order, each
    /// with where it was written.
    pub matches: Vec<(MatchItem, Location)>,
    /// `match_header`: `Name: value`.
    pub match_header: Option<String>,
}

pub(super) fn identify(r: &mut Reader, s: &RawSection) -> Option<IdentifyConf> {
    let mut i = IdentifyConf {
        name: s.name.clone(),
        at: s.at.clone(),
        endpoint: String::new(),
        matches: Vec::new(),
        match_header: None,
    };
    for o in &s.options {
        if !r.known("identify", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "endpoint" => i.endpoint = o.value.clone(),
            "match" => {
                let items = r.value(s, o, |v| {
                    value::list(v)
                        .iter()
                        .map(|m| MatchItem::parse(m))
                        .collect::<Result<Vec<_>, _>>()
                });
                if let Some(items) = items {
                    i.matches
                        .extend(items.into_iter().map(|m| (m, o.at.clone())));
                }
            }
            "match_header" => {
                let header = r.value(s, o, |v| {
                    v.split_once(':')
                        .map(|_| v.to_string())
                        .ok_or_else(|| format!("{v:?} is not Name: value"))
                });
                i.match_header = header.or(i.match_header.take());
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if i.endpoint.is_empty() {
        r.error(&s.at, format!("[{}] identify has no endpoint", s.name));
    }
    if i.matches.is_empty() && i.match_header.is_none() {
        r.error(
            &s.at,
            format!("[{}] identify has neither match nor match_header", s.name),
        );
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
