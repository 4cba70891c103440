//! HTTP digest computations for SIP (RFC 3261 §22.4, RFC 7616 with the
//! algorithms SIP registers in RFC 8760): MD5, SHA-256 and SHA-512/256.
//!
//! Both sides of digest authentication use it: a server's authenticator
//! checks answers with it, and the core's [`crate::client_auth`] answers
//! the challenges of the peers this stack sends to.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `MD5`
    Md5,
    /// `SHA-256`
    Sha256,
    /// `SHA-512-256`
    Sha512_256,
}

impl DigestAlgorithm {
    /// Parses the RFC 7616 name, without regard to case. A missing
    /// `algorithm` parameter means MD5 (RFC 3261 §22.4).
    pub fn parse(v: &str) -> Result<DigestAlgorithm, String> {
        match v.to_ascii_uppercase().as_str() {
            "MD5" => Ok(DigestAlgorithm::Md5),
            "SHA-256" => Ok(DigestAlgorithm::Sha256),
            "SHA-512-256" => Ok(DigestAlgorithm::Sha512_256),
            _ => Err(format!("{v:?} is not MD5, SHA-256 or SHA-512-256")),
        }
    }

    /// The RFC 7616 name, as written in `algorithm=`.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
        }
    }

    /// Length of a hash in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Md5 => 32,
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha512_256 => 64,
        }
    }

    /// `H(data)` in lowercase hex.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            DigestAlgorithm::Md5 => run::<Md5>(parts),
            DigestAlgorithm::Sha256 => run::<Sha256>(parts),
            DigestAlgorithm::Sha512_256 => run::<Sha512_256>(parts),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `HA1 = H(username ":" realm ":" password)`.
pub fn ha1(alg: DigestAlgorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(&[
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// What the client's `response=` is computed from, besides HA1.
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    /// `nonce`.
    pub nonce: &'a str,
    /// `nc` (with qop).
    pub nc: Option<&'a str>,
    /// `cnonce` (with qop).
    pub cnonce: Option<&'a str>,
    /// `qop` (`auth`), or none for the RFC 2069 form.
    pub qop: Option<&'a str>,
    /// The request method.
    pub method: &'a str,
    /// `uri` of the credentials (the digest-uri).
    pub uri: &'a str,
}

/// The expected `response=`: with `qop=auth`
/// `H(HA1:nonce:nc:cnonce:qop:HA2)`, without qop `H(HA1:nonce:HA2)`,
/// where `HA2 = H(method:uri)`.
pub fn response(alg: DigestAlgorithm, ha1: &str, input: &ResponseInput<'_>) -> String {
    let ha2 = alg.hash_hex(&[input.method.as_bytes(), b":", input.uri.as_bytes()]);
    match (input.qop, input.nc, input.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => alg.hash_hex(&[
            ha1.as_bytes(),
            b":",
            input.nonce.as_bytes(),
            b":",
            nc.as_bytes(),
            b":",
            cnonce.as_bytes(),
            b":",
            qop.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
        _ => alg.hash_hex(&[
            ha1.as_bytes(),
            b":",
            input.nonce.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example (HTTP, MD5, qop=auth).
    #[test]
    fn rfc2617_example() {
        let ha1 = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let r = response(
            DigestAlgorithm::Md5,
            &ha1,
            &ResponseInput {
                nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                nc: Some("00000001"),
                cnonce: Some("0a4f113b"),
                qop: Some("auth"),
                method: "GET",
                uri: "/dir/index.html",
            },
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1's examples (SHA-256 and MD5 over the same input).
    #[test]
    fn rfc7616_examples() {
        let input = ResponseInput {
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: Some("00000001"),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
            qop: Some("auth"),
            method: "GET",
            uri: "/dir/index.html",
        };
        let sha = ha1(
            DigestAlgorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            response(DigestAlgorithm::Sha256, &sha, &input),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = ha1(
            DigestAlgorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            response(DigestAlgorithm::Md5, &md5, &input),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn legacy_form_and_names() {
        let ha1 = ha1(DigestAlgorithm::Md5, "bob", "biloxi.com", "zanzibar");
        let r = response(
            DigestAlgorithm::Md5,
            &ha1,
            &ResponseInput {
                nonce: "n",
                nc: None,
                cnonce: None,
                qop: None,
                method: "REGISTER",
                uri: "sip:biloxi.com",
            },
        );
        let ha2 = DigestAlgorithm::Md5.hash_hex(&[b"REGISTER:sip:biloxi.com"]);
        assert_eq!(
            r,
            DigestAlgorithm::Md5.hash_hex(&[format!("{ha1}:n:{ha2}").as_bytes()])
        );
        assert_eq!(
            DigestAlgorithm::parse("sha-512-256"),
            Ok(DigestAlgorithm::Sha512_256)
        );
        assert!(DigestAlgorithm::parse("SHA-1").is_err());
        assert_eq!(DigestAlgorithm::Sha512_256.hash_hex(&[b"abc"]).len(), 64);
        // SHA-512/256 of "abc" (FIPS 180-4 example).
        assert_eq!(
            DigestAlgorithm::Sha512_256.hash_hex(&[b"abc"]),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
    }
}
