//! The client side of HTTP digest (RFC 7616, RFC 8760) as a SIP phone
//! answers a challenge. Written here, not borrowed from the server, so
//! that a fault in the server's digest code cannot hide behind the same
//! fault in the load generator.

use md5::Md5;
use sha2::{Digest, Sha256};

/// The hash a challenge names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (RFC 2617 and RFC 3261).
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The name as a challenge writes it.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses a name, case-insensitively.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [Algorithm::Md5, Algorithm::Sha256]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    fn hex(self, data: &str) -> String {
        let bytes = match self {
            Algorithm::Md5 => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a challenge gave and what the answer needs.
pub struct Answer<'a> {
    /// The hash.
    pub algorithm: Algorithm,
    /// The user's name.
    pub username: &'a str,
    /// The user's password.
    pub password: &'a str,
    /// The challenge's realm.
    pub realm: &'a str,
    /// The challenge's nonce.
    pub nonce: &'a str,
    /// The challenge's opaque, echoed.
    pub opaque: Option<&'a str>,
    /// Whether the challenge offered `qop=auth`.
    pub qop_auth: bool,
    /// The request's method.
    pub method: &'a str,
    /// The request's Request-URI.
    pub uri: &'a str,
    /// The client nonce.
    pub cnonce: &'a str,
}

impl Answer<'_> {
    /// The `Authorization` header value (nonce-count 1: every challenge
    /// is answered once).
    pub fn authorization(&self) -> String {
        let h = |s: &str| self.algorithm.hex(s);
        let ha1 = h(&format!(
            "{}:{}:{}",
            self.username, self.realm, self.password
        ));
        let ha2 = h(&format!("{}:{}", self.method, self.uri));
        let nc = "00000001";
        let response = if self.qop_auth {
            h(&format!(
                "{ha1}:{}:{nc}:{}:auth:{ha2}",
                self.nonce, self.cnonce
            ))
        } else {
            h(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.algorithm.name()
        );
        if self.qop_auth {
            v.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", self.cnonce));
        }
        if let Some(o) = self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example (an HTTP request, the same arithmetic).
    #[test]
    fn rfc_2617_example() {
        let a = Answer {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            password: "Circle Of Life",
            realm: "testrealm@host.com",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41"),
            qop_auth: true,
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "0a4f113b",
        };
        assert!(
            a.authorization()
                .contains("response=\"6629fae49393a05397450978507c4ef1\"")
        );
    }

    /// RFC 7616 §3.9.1's SHA-256 example.
    #[test]
    fn rfc_7616_sha256_example() {
        let a = Answer {
            algorithm: Algorithm::Sha256,
            username: "Mufasa",
            password: "Circle of Life",
            realm: "http-auth@example.org",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            opaque: None,
            qop_auth: true,
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        assert!(a.authorization().contains(
            "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
        ));
    }
}
