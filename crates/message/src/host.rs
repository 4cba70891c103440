//! Hosts as they appear in URIs and in Via sent-by: a domain name, an IPv4
//! address, or an IPv6 reference in brackets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::SyntaxError;
use crate::lex::{CLASS, class};

/// A host part. Domain names keep their received case; compare them with
/// [`Host::eq_ignore_case`] as RFC 3261 §19.1.4 requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub enum Host<'a> {
    /// A domain name (`hostname` in RFC 3261).
    Domain(&'a str),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written as `[..]`).
    Ipv6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a whole host.
    pub fn parse(s: &'a str) -> Result<Host<'a>, SyntaxError> {
        let (host, used) = Host::parse_prefix(s)?;
        if used != s.len() {
            return Err(SyntaxError::owned(format!(
                "host {:?} has unexpected characters",
                crate::error::excerpt(s)
            )));
        }
        Ok(host)
    }

    /// Parses a host at the start of `s`; returns it and the bytes used.
    pub(crate) fn parse_prefix(s: &'a str) -> Result<(Host<'a>, usize), SyntaxError> {
        let b = s.as_bytes();
        if b.first() == Some(&b'[') {
            let end = memchr::memchr(b']', b)
                .ok_or(SyntaxError::new("IPv6 reference without a closing \"]\""))?;
            let addr: Ipv6Addr = s[1..end].parse().map_err(|_| {
                SyntaxError::owned(format!(
                    "{:?} is not an IPv6 address",
                    crate::error::excerpt(&s[1..end])
                ))
            })?;
            return Ok((Host::Ipv6(addr), end + 1));
        }
        // One pass: the extent, whether it is all digits and dots, and
        // whether a dot leads or follows another.
        let (mut len, mut seen, mut prev_dot, mut bad_dots) = (0, 0u8, class::DOT, 0u8);
        while len < b.len() {
            let c = CLASS[b[len] as usize];
            if c & class::HOST == 0 {
                break;
            }
            bad_dots |= c & prev_dot;
            prev_dot = c & class::DOT;
            seen |= c;
            len += 1;
        }
        if len == 0 {
            return Err(SyntaxError::new("host is missing"));
        }
        let text = &s[..len];
        if bad_dots != 0 {
            return Err(SyntaxError::owned(format!(
                "{:?} is not a host name",
                crate::error::excerpt(text)
            )));
        }
        let numeric = seen & class::NON_NUMERIC == 0;
        if numeric {
            let addr: Ipv4Addr = text
                .parse()
                .map_err(|_| SyntaxError::owned(format!("{text:?} is not an IPv4 address")))?;
            return Ok((Host::Ipv4(addr), len));
        }
        Ok((Host::Domain(text), len))
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(a)),
            Host::Ipv6(a) => Some(IpAddr::V6(a)),
        }
    }

    /// Host comparison of RFC 3261 §19.1.4: domain names compare without
    /// regard to case; a name never equals an address.
    pub fn eq_ignore_case(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses `host [":" port]` at the start of `s`; returns host, port and the
/// bytes used.
pub(crate) fn parse_hostport(s: &str) -> Result<(Host<'_>, Option<u16>, usize), SyntaxError> {
    let (host, mut used) = Host::parse_prefix(s)?;
    let mut port = None;
    if s.as_bytes().get(used) == Some(&b':') {
        let digits = s[used + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let p = crate::lex::parse_decimal(&s[used + 1..used + 1 + digits], 65535, "port")?;
        port = Some(p as u16);
        used += 1 + digits;
    }
    Ok((host, port, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            Host::parse("Example.COM").unwrap(),
            Host::Domain("Example.COM")
        );
        assert_eq!(
            Host::parse("192.0.2.1").unwrap(),
            Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            Host::parse("[2001:db8::10]").unwrap(),
            Host::Ipv6("2001:db8::10".parse().unwrap())
        );
        assert!(Host::parse("999.1.1.1").is_err());
        assert!(Host::parse("[2001:db8::10").is_err());
        assert!(Host::parse("").is_err());
        assert!(Host::parse("a b").is_err());
        assert!(Host::parse("a..b").is_err());
        assert_eq!(Host::Ipv6("::1".parse().unwrap()).to_string(), "[::1]");
    }

    #[test]
    fn hostport() {
        let (h, p, n) = parse_hostport("[::1]:5061;x").unwrap();
        assert_eq!((h.to_string(), p, n), ("[::1]".to_string(), Some(5061), 10));
        assert!(
            parse_hostport("a:70000")
                .unwrap_err()
                .to_string()
                .contains("exceeds 65535")
        );
        assert!(parse_hostport("a:").is_err());
    }

    #[test]
    fn comparison() {
        assert!(Host::Domain("AtLanTa.CoM").eq_ignore_case(&Host::Domain("atlanta.com")));
        assert!(!Host::Domain("a").eq_ignore_case(&Host::Ipv4(Ipv4Addr::LOCALHOST)));
    }
}
