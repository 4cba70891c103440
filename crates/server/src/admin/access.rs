//! Who may use the admin interface: any peer on loopback; any other peer
//! only with the configured token as a bearer credential (RFC 6750).

use std::net::{IpAddr, SocketAddr};

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
    if is_loopback(peer) {
        return Access::Allowed;
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Access::Unauthorized;
    };
    match authorization.and_then(bearer) {
        Some(given) if same_secret(given, token.as_bytes()) => Access::Allowed,
        _ => Access::Unauthorized,
    }
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
