//! Who may use the admin interface: any peer on loopback; any other peer
//! only with the configured token as a bearer credential (RFC 6750).
//!
//! Being on loopback is an ambient credential, and a web browser on the
//! same machine holds it too: a page anywhere on the web can make it send
//! requests to the listener. So a request that relies on loopback, not on
//! the token, must also look like one no browser sends on a page's behalf
//! ([`screen`]): a Host that is `localhost` or an IP address (a DNS name
//! is how DNS rebinding lets a page read the answers), no Origin but the
//! listener's own and no `Sec-Fetch-Site` but `same-origin` or `none` (a
//! page's cross-origin requests carry them), and a POST body declared
//! `application/json` (a page can send `text/plain`, a form or multipart
//! without asking the server first, never JSON).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AdminError;

/// The decision on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// It may go on.
    Allowed,
    /// It is answered 401.
    Unauthorized,
}

/// True for 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6
/// (`::ffff:127.0.0.1`, what a dual-stack socket reports).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A listener on a non-loopback address (the unspecified `0.0.0.0` and
/// `::` included) needs a token.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), AdminError> {
    if is_loopback(addr.ip()) || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(AdminError::TokenRequired(addr))
    }
}

/// Decides on a request from `peer` carrying the `Authorization` header
/// value `authorization`, when the listener's token is `token`.
pub fn authorize(peer: IpAddr, token: Option<&str>, authorization: Option<&[u8]>) -> Access {
    if is_loopback(peer) || carries_token(token, authorization) {
        Access::Allowed
    } else {
        Access::Unauthorized
    }
}

/// True when the listener has a token and `authorization` carries it.
pub fn carries_token(token: Option<&str>, authorization: Option<&[u8]>) -> bool {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return false;
    };
    authorization
        .and_then(bearer)
        .is_some_and(|given| same_secret(given, token.as_bytes()))
}

/// What [`screen`] reads of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserSigns<'a> {
    /// The authority the request names: that of an absolute-form target,
    /// else the `Host` header (RFC 9112 §3.2.2).
    pub host: Option<&'a [u8]>,
    /// The `Origin` header.
    pub origin: Option<&'a [u8]>,
    /// The `Sec-Fetch-Site` header.
    pub fetch_site: Option<&'a [u8]>,
    /// True for a POST.
    pub post: bool,
    /// The `Content-Type` header.
    pub content_type: Option<&'a [u8]>,
}

/// Why a request from a peer that may use the interface is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It names no host (answered 400).
    NoHost,
    /// It names a host by a DNS name other than `localhost` (421).
    ForeignHost(String),
    /// A browser sent it on behalf of a page of another origin (403).
    CrossOrigin(String),
    /// A POST whose body is not declared JSON (415).
    NotJson(String),
}

impl Refusal {
    /// The HTTP status the refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NoHost => 400,
            Refusal::ForeignHost(_) => 421,
            Refusal::CrossOrigin(_) => 403,
            Refusal::NotJson(_) => 415,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoHost => f.write_str("the request names no host (Host header)"),
            Refusal::ForeignHost(host) => write!(
                f,
                "Host {host:?} is not an address of this interface: name it localhost or by \
IP address, or send the token"
            ),
            Refusal::CrossOrigin(what) => write!(
                f,
                "cross-origin requests are refused ({what}): the admin interface is not for \
web pages of other sites"
            ),
            Refusal::NotJson(given) => write!(
                f,
                "a POST must carry Content-Type: application/json, not {given:?}"
            ),
        }
    }
}

/// Checks a request against what a browser sends on a page's behalf (see
/// the module documentation). `token` says whether it carries the
/// listener's token: such a request was not made by a page that only
/// rides on the machine's loopback, so its Host and Content-Type are its
/// own business; a page of another origin is refused all the same.
pub fn screen(signs: &BrowserSigns<'_>, token: bool) -> Result<(), Refusal> {
    let host = signs.host.map(String::from_utf8_lossy);
    if !token {
        let Some(host) = host.as_deref() else {
            return Err(Refusal::NoHost);
        };
        if !is_local_authority(host) {
            return Err(Refusal::ForeignHost(host.to_string()));
        }
    }
    if let Some(origin) = signs.origin {
        let own = host.as_deref().map(|h| format!("http://{h}"));
        if own.is_none_or(|own| !origin.eq_ignore_ascii_case(own.as_bytes())) {
            return Err(Refusal::CrossOrigin(format!(
                "Origin {:?}",
                String::from_utf8_lossy(origin)
            )));
        }
    }
    if let Some(site) = signs.fetch_site
        && !(site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none"))
    {
        return Err(Refusal::CrossOrigin(format!(
            "Sec-Fetch-Site {:?}",
            String::from_utf8_lossy(site)
        )));
    }
    if signs.post && !token && !signs.content_type.is_some_and(is_json) {
        return Err(Refusal::NotJson(
            signs
                .content_type
                .map_or("none".into(), |c| String::from_utf8_lossy(c).into_owned()),
        ));
    }
    Ok(())
}

/// `localhost` or an IP address (IPv6 in brackets), with an optional
/// port: names no DNS answer can point elsewhere.
pub fn is_local_authority(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) => (v6.parse::<Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let (host, port) = authority
                .find(':')
                .map_or((authority, ""), |colon| authority.split_at(colon));
            let local = host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok();
            (local, port)
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        });
    host_ok && port_ok
}

/// `application/json`, parameters (`; charset=utf-8`) allowed.
fn is_json(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
}

/// The credential of `Bearer <token>`; the scheme is case-insensitive.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    let head = value.get(..SCHEME.len())?;
    if !head.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    let start = rest.iter().position(|b| *b != b' ')?;
    Some(&rest[start..])
}

/// Compares the digests in constant time, so that neither the content
/// nor the length of the token leaks through timing.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.as_slice().ct_eq(b.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-Token";

    #[test]
    fn loopback_addresses() {
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "::",
            "192.0.2.1",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn every_peer_token_and_header() {
        let peers: [(&str, bool); 7] = [
            ("127.0.0.1", true),
            ("127.0.0.53", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("192.0.2.1", false),
            ("2001:db8::1", false),
            ("::ffff:192.0.2.1", false),
        ];
        let tokens = [None, Some(""), Some(TOKEN)];
        // Each header and whether it carries TOKEN.
        let headers: [(Option<&str>, bool); 13] = [
            (None, false),
            (Some(""), false),
            (Some("Bearer s3cret-Token"), true),
            (Some("bearer s3cret-Token"), true),
            (Some("BEARER   s3cret-Token"), true),
            (Some("Bearer s3cret-token"), false),
            (Some("Bearer s3cret-Toke"), false),
            (Some("Bearer s3cret-Token2"), false),
            (Some("Bearer "), false),
            (Some("Bearer"), false),
            (Some("Bearers3cret-Token"), false),
            (Some("Basic s3cret-Token"), false),
            (Some("s3cret-Token"), false),
        ];
        for (peer, loopback) in peers {
            for token in tokens {
                for (header, carries) in headers {
                    let expected = if loopback || (token == Some(TOKEN) && carries) {
                        Access::Allowed
                    } else {
                        Access::Unauthorized
                    };
                    assert_eq!(
                        authorize(peer.parse().unwrap(), token, header.map(str::as_bytes)),
                        expected,
                        "peer {peer}, token {token:?}, header {header:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_empty_token_never_matches_an_empty_credential() {
        let peer = "192.0.2.1".parse().unwrap();
        assert_eq!(
            authorize(peer, Some(""), Some(b"Bearer ")),
            Access::Unauthorized
        );
    }

    #[test]
    fn hosts_that_no_dns_answer_can_move() {
        for ok in [
            "localhost",
            "LocalHost:8088",
            "127.0.0.1",
            "127.0.0.1:8088",
            "192.0.2.7:1",
            "[::1]",
            "[::1]:8088",
            "[2001:db8::1]:65535",
        ] {
            assert!(is_local_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8088",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8088",
            "localhost:",
            "localhost:65536",
            "localhost:80a",
            "localhost:8088:1",
            "::1",
            "[::1",
            "[::1]8088",
            "[evil.example]:80",
            "127.1",
            "0x7f.0.0.1",
            "127.0.0.1 ",
        ] {
            assert!(!is_local_authority(bad), "{bad}");
        }
    }

    fn signs<'a>(host: &'a str) -> BrowserSigns<'a> {
        BrowserSigns {
            host: Some(host.as_bytes()),
            ..BrowserSigns::default()
        }
    }

    #[test]
    fn what_a_browser_sends_for_another_site_is_refused() {
        let plain = signs("127.0.0.1:8088");
        assert_eq!(screen(&plain, false), Ok(()));
        assert_eq!(
            screen(&BrowserSigns::default(), false),
            Err(Refusal::NoHost)
        );
        let rebound = signs("evil.example:8088");
        assert_eq!(
            screen(&rebound, false),
            Err(Refusal::ForeignHost("evil.example:8088".into()))
        );
        // The token's holder may name the host as it likes.
        assert_eq!(screen(&rebound, true), Ok(()));

        let with_origin = |origin: &'static str| BrowserSigns {
            origin: Some(origin.as_bytes()),
            ..plain
        };
        assert_eq!(screen(&with_origin("http://127.0.0.1:8088"), false), Ok(()));
        assert_eq!(screen(&with_origin("HTTP://127.0.0.1:8088"), false), Ok(()));
        for other in [
            "http://evil.example",
            "http://127.0.0.1:3000",
            "https://127.0.0.1:8088",
            "http://localhost:8088",
            "null",
        ] {
            for token in [false, true] {
                assert!(
                    matches!(
                        screen(&with_origin(other), token),
                        Err(Refusal::CrossOrigin(_))
                    ),
                    "{other} {token}"
                );
            }
        }
        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            let s = BrowserSigns {
                fetch_site: Some(site.as_bytes()),
                ..plain
            };
            assert_eq!(screen(&s, false).is_ok(), ok, "{site}");
        }
    }

    #[test]
    fn a_post_needs_json_or_the_token() {
        let post = |ct: Option<&'static str>| BrowserSigns {
            post: true,
            content_type: ct.map(str::as_bytes),
            ..signs("localhost:8088")
        };
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            assert_eq!(screen(&post(Some(ok)), false), Ok(()), "{ok}");
        }
        for bad in [
            None,
            Some("text/plain"),
            Some("text/plain; x=application/json"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
        ] {
            let refused = screen(&post(bad), false).unwrap_err();
            assert_eq!(refused.status(), 415, "{bad:?}");
            assert!(
                refused.to_string().contains("application/json"),
                "{refused}"
            );
            assert_eq!(screen(&post(bad), true), Ok(()), "{bad:?}");
        }
    }

    #[test]
    fn a_listener_off_loopback_needs_a_token() {
        for addr in ["127.0.0.1:8088", "[::1]:8088", "127.0.0.2:0"] {
            let addr = addr.parse().unwrap();
            assert!(check_bind(addr, None).is_ok(), "{addr}");
            assert!(check_bind(addr, Some(TOKEN)).is_ok(), "{addr}");
        }
        for addr in ["0.0.0.0:8088", "[::]:8088", "192.0.2.1:8088"] {
            let addr = addr.parse().unwrap();
            assert!(
                matches!(check_bind(addr, None), Err(AdminError::TokenRequired(a)) if a == addr),
                "{addr}"
            );
            assert!(check_bind(addr, Some("")).is_err(), "{addr}");
            assert!(check_bind(addr, Some(TOKEN)).is_ok(), "{addr}");
        }
    }
}
