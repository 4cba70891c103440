//! Authentication: the seed's `ast_sip_authenticator` and the methods
//! around it (`ast_sip_requires_authentication`,
//! `ast_sip_authenticate_request`, `ast_sip_get_authentication_credentials`,
//! `ast_sip_check_authentication`, `ast_sip_challenge_request`).
//!
//! One authenticator at a time. With none registered nothing requires
//! authentication and every request counts as authenticated, as the seed
//! says.

use sipjet_message::{Message, quote};

use crate::endpoint::Endpoint;
use crate::request::IncomingRequest;

/// The secret a challenge is answered against: the seed's `is_md5` and its
/// union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestSecret {
    /// A plain username and password.
    Plain {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// A username and a stored HA1 (`md5(username:realm:password)` for
    /// MD5, or the algorithm's own hash).
    Ha1 {
        /// Username.
        username: String,
        /// The hash, in lowercase hex.
        ha1: String,
    },
}

/// The data of one digest challenge (`struct ast_sip_digest_challenge_data`
/// with RFC 7616's algorithm and the stale flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestChallenge {
    /// The realm (required).
    pub realm: String,
    /// The secret (not sent; the authenticator checks answers with it).
    pub secret: Option<DigestSecret>,
    /// `domain=`, optional.
    pub domain: Option<String>,
    /// `opaque=`; the core makes one when left empty.
    pub opaque: Option<String>,
    /// `nonce=`; the core makes one when left empty.
    pub nonce: Option<String>,
    /// `algorithm=` (`MD5`, `SHA-256`, `SHA-512-256`); none means MD5.
    pub algorithm: Option<String>,
    /// `qop=`, normally `auth`; none for the RFC 2069 form.
    pub qop: Option<String>,
    /// `stale=true`: the credentials were right but the nonce too old.
    pub stale: bool,
}

impl DigestChallenge {
    /// A challenge for `realm` with `qop=auth` and nothing else set.
    pub fn new(realm: impl Into<String>) -> DigestChallenge {
        DigestChallenge {
            realm: realm.into(),
            secret: None,
            domain: None,
            opaque: None,
            nonce: None,
            algorithm: None,
            qop: Some("auth".into()),
            stale: false,
        }
    }

    /// The `WWW-Authenticate` value, with `nonce` and `opaque` filled in
    /// by `fresh` when empty.
    pub fn header_value(&self, mut fresh: impl FnMut() -> String) -> String {
        let mut v = format!("Digest realm={}", quote(&self.realm));
        if let Some(d) = &self.domain {
            v.push_str(&format!(", domain={}", quote(d)));
        }
        let nonce = self
            .nonce
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(&mut fresh);
        v.push_str(&format!(", nonce={}", quote(&nonce)));
        let opaque = self
            .opaque
            .clone()
            .filter(|o| !o.is_empty())
            .unwrap_or_else(&mut fresh);
        v.push_str(&format!(", opaque={}", quote(&opaque)));
        if let Some(a) = &self.algorithm {
            v.push_str(&format!(", algorithm={a}"));
        }
        if let Some(q) = &self.qop {
            v.push_str(&format!(", qop={}", quote(q)));
        }
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }
}

/// What checking a request's credentials found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are right.
    Success,
    /// No credentials for this realm, or a stale nonce: challenge (again).
    Challenge {
        /// True when the credentials were right but the nonce stale.
        stale: bool,
    },
    /// The credentials are wrong (or the user unknown, the nonce forged,
    /// the count replayed): why, for the log.
    Failed(String),
}

/// The seed's `ast_sip_check_authentication` results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckAuthResult {
    /// A challenge was sent (`AST_SIP_AUTHENTICATION_CHALLENGE_SENT`).
    ChallengeSent,
    /// Authenticated (`AST_SIP_AUTHENTICATION_SUCCESS`).
    Success,
    /// Wrong credentials; a fresh challenge was sent, so the answer looks
    /// like any challenge (`AST_SIP_AUTHENTICATION_FAILED`).
    Failed,
    /// No authentication needed (`AST_SIP_AUTHENTICATION_NOT_REQUIRED`).
    NotRequired,
}

/// An authenticator: the seed's `struct ast_sip_authenticator`.
pub trait Authenticator: Send + Sync + 'static {
    /// Whether `request` from `endpoint` must be authenticated
    /// (`requires_authentication`).
    fn requires_authentication(&self, endpoint: &Endpoint, request: &IncomingRequest) -> bool;

    /// Checks the request's credentials (`authenticate_request`).
    fn authenticate_request(&self, endpoint: &Endpoint, request: &IncomingRequest) -> AuthOutcome;

    /// The challenges to send (`get_authentication_credentials`): one per
    /// algorithm offered, strongest first. `stale` asks for `stale=true`.
    fn get_authentication_credentials(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        stale: bool,
    ) -> Vec<DigestChallenge>;

    /// True when its work on a received request never waits: no blocking
    /// I/O, no lock held for long, no synchronous push to a serializer.
    /// When everything a request meets says so, the core runs the
    /// request's task on the thread that received it instead of handing it
    /// to a pool thread, which saves a wake-up and a context switch per
    /// request. The default, false, keeps the seed's behaviour: the task
    /// goes through the threadpool.
    fn runs_inline(&self) -> bool {
        false
    }
}

/// The core's own nonce or opaque, when an authenticator leaves them empty:
/// 128 random bits in hex.
pub(crate) fn fresh_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A 401 answering `request` with one `WWW-Authenticate` per challenge.
pub(crate) fn challenge_response(base: Message, challenges: &[DigestChallenge]) -> Message {
    let mut m = base;
    for c in challenges {
        // Header values built here contain no line breaks.
        let _ = m.add_header("WWW-Authenticate", &c.header_value(fresh_token));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        let c = DigestChallenge::new("example.com");
        let v = c.header_value(|| "fresh".into());
        assert_eq!(
            v,
            "Digest realm=\"example.com\", nonce=\"fresh\", opaque=\"fresh\", qop=\"auth\""
        );
        let c = DigestChallenge {
            domain: Some("sip:example.com".into()),
            nonce: Some("n1".into()),
            opaque: Some("o1".into()),
            algorithm: Some("SHA-256".into()),
            stale: true,
            qop: None,
            ..DigestChallenge::new("r")
        };
        assert_eq!(
            c.header_value(|| unreachable!()),
            "Digest realm=\"r\", domain=\"sip:example.com\", nonce=\"n1\", opaque=\"o1\", algorithm=SHA-256, stale=true"
        );
        let (a, b) = (fresh_token(), fresh_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn challenge_headers_parse_back() {
        let req = Message::parse(
            &b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n"[..],
        )
        .unwrap();
        let base = Message::response_to(&req, 401).unwrap();
        let m = challenge_response(
            base,
            &[
                DigestChallenge {
                    algorithm: Some("SHA-256".into()),
                    ..DigestChallenge::new("example.com")
                },
                DigestChallenge::new("example.com"),
            ],
        );
        let back = Message::parse(m.to_bytes()).unwrap();
        back.validate().unwrap();
        let challenges: Vec<_> = back.www_authenticates().map(Result::unwrap).collect();
        assert_eq!(challenges.len(), 2);
        assert_eq!(challenges[0].param("algorithm").unwrap(), "SHA-256");
        assert_eq!(challenges[1].param("realm").unwrap(), "example.com");
        assert_ne!(challenges[0].param("nonce"), challenges[1].param("nonce"));
    }
}
