//! The Via header (RFC 3261 §20.42, RFC 3581 `rport`).

use std::fmt;
use std::net::IpAddr;

use crate::error::{SyntaxError, excerpt};
use crate::host::{Host, parse_hostport};
use crate::lex::{is_lws, is_token, is_token_byte, trim_lws, trim_lws_start};
use crate::params::Params;

/// The prefix of an RFC 3261 branch; without it a transaction is matched by
/// the RFC 2543 rules.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    raw: &'a str,
    /// Protocol name (`SIP`).
    pub protocol: &'a str,
    /// Protocol version (`2.0`).
    pub version: &'a str,
    /// Transport token (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`, or any other).
    pub transport: &'a str,
    /// Host of sent-by.
    pub host: Host<'a>,
    /// Port of sent-by, when written.
    pub port: Option<u16>,
    /// The parameters.
    pub params: Params<'a>,
}

fn token_at(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(|&b| is_token_byte(b)).count();
    (&s[..n], &s[n..])
}

fn expect_slash(s: &str) -> Result<&str, SyntaxError> {
    trim_lws_start(s)
        .strip_prefix('/')
        .map(trim_lws_start)
        .ok_or(SyntaxError::new(
            "sent-protocol is not of the form SIP/2.0/transport",
        ))
}

/// The Via parameters whose values [`Via::check`] judges; `maddr` last.
const CHECKED: [&str; 5] = ["ttl", "rport", "received", "branch", "maddr"];

impl<'a> Via<'a> {
    /// Parses one Via value (one element of a possibly comma-separated line).
    pub fn parse(s: &'a str) -> Result<Via<'a>, SyntaxError> {
        let raw = trim_lws(s);
        if raw.is_empty() {
            return Err(SyntaxError::new("empty Via value"));
        }
        let (protocol, rest) = token_at(raw);
        let (version, rest) = token_at(expect_slash(rest)?);
        let (transport, rest) = token_at(expect_slash(rest)?);
        if protocol.is_empty() || version.is_empty() || transport.is_empty() {
            return Err(SyntaxError::new(
                "sent-protocol is not of the form SIP/2.0/transport",
            ));
        }
        if !rest.as_bytes().first().copied().is_some_and(is_lws) {
            return Err(SyntaxError::new(
                "sent-protocol must be followed by white space and sent-by",
            ));
        }
        let rest = trim_lws_start(rest);
        let (host, port, used) = parse_hostport(rest)?;
        let tail = trim_lws_start(&rest[used..]);
        if !tail.is_empty() && !tail.starts_with(';') {
            return Err(SyntaxError::owned(format!(
                "unexpected {:?} after sent-by",
                excerpt(tail)
            )));
        }
        Ok(Via {
            raw,
            protocol,
            version,
            transport,
            host,
            port,
            params: Params::new(tail),
        })
    }

    /// Full check of the value: parameter grammar, and the values of the
    /// parameters RFC 3261 and RFC 3581 define.
    pub fn check(&self) -> Result<(), SyntaxError> {
        self.params.check()?;
        // One pass over the parameters, each name judged at its first
        // occurrence (as a lookup by name finds it): this runs for every
        // Via of every message received.
        let mut seen = [false; CHECKED.len()];
        for p in self.params.iter() {
            let Some(i) = CHECKED
                .iter()
                .position(|name| p.name.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let has_value = |what: &'static str| p.value.ok_or(SyntaxError::new(what));
            match CHECKED[i] {
                "ttl" => {
                    crate::lex::parse_decimal(has_value("ttl has no value")?, 255, "ttl")?;
                }
                "rport" => {
                    if let Some(v) = p.value {
                        crate::lex::parse_decimal(v, 65535, "rport")?;
                    }
                }
                "received" => {
                    let v = has_value("received has no value")?;
                    parse_ip(v).ok_or_else(|| {
                        SyntaxError::owned(format!(
                            "received {:?} is not an IP address",
                            excerpt(v)
                        ))
                    })?;
                }
                "branch" => {
                    if !is_token(has_value("branch has no value")?) {
                        return Err(SyntaxError::new("branch is not a token"));
                    }
                }
                _ => {
                    Host::parse(has_value("maddr has no value")?)?;
                }
            }
        }
        Ok(())
    }

    /// The value as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.value("branch")
    }

    /// True when the branch starts with the RFC 3261 magic cookie.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params.value("received").and_then(parse_ip)
    }

    /// `rport`: `None` when absent, `Some(None)` when present without a
    /// value (the client asks for it), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|v| v.parse().ok())
    }

    /// True when the transport token names a reliable transport.
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }

    /// `host[:port]` of sent-by.
    pub fn sent_by(&self) -> SentBy<'a> {
        SentBy {
            host: self.host,
            port: self.port,
        }
    }
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// The sent-by of a Via: host and optional port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentBy<'a> {
    /// Host.
    pub host: Host<'a>,
    /// Port, when written.
    pub port: Option<u16>,
}

impl fmt::Display for SentBy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

fn parse_ip(v: &str) -> Option<IpAddr> {
    let v = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn plain_and_parameters() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;received=10.0.0.1;rport=5070;ttl=16;maddr=224.2.0.1").unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.received(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(v.rport(), Some(Some(5070)));
        assert_eq!(v.ttl(), Some(16));
        assert_eq!(v.maddr(), Some("224.2.0.1"));
        assert!(v.check().is_ok());
        assert!(!v.is_reliable());
        assert_eq!(v.sent_by().to_string(), "192.0.2.1:5060");
    }

    #[test]
    fn rport_without_value_and_ipv6() {
        let v = Via::parse("SIP/2.0/TCP [2001:db8::1]:5061;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.sent_by().to_string(), "[2001:db8::1]:5061");
        assert!(v.is_reliable());
        let v = Via::parse("SIP/2.0/UDP h;received=[2001:db8::2]").unwrap();
        assert_eq!(v.received(), Some("2001:db8::2".parse().unwrap()));
        assert!(v.check().is_ok());
        assert_eq!(Via::parse("SIP/2.0/UDP h").unwrap().rport(), None);
    }

    #[test]
    fn folded_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ",
        )
        .unwrap();
        assert_eq!(v.host, Host::Domain("spindle.example.com"));
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert!(v.check().is_ok());
    }

    #[test]
    fn refusals() {
        for (bad, want) in [
            ("", "empty"),
            ("SIP/2.0 host", "sent-protocol"),
            ("SIP/2.0/UDP", "followed by white space"),
            ("SIP/2.0/UDP 192.0.2.15;;", "empty parameter"),
            ("SIP/2.0/UDP h;ttl=300", "exceeds 255"),
            ("SIP/2.0/UDP h;received=nothost", "not an IP address"),
            ("SIP/2.0/UDP h;rport=x", "not a number"),
            ("SIP/2.0/UDP h junk", "after sent-by"),
        ] {
            let err = Via::parse(bad)
                .and_then(|v| v.check().map(|_| v))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }
}
