//! The client side of digest authentication (RFC 3261 §22.2 and §22.3,
//! RFC 2617, RFC 7616 with the algorithms of RFC 8760): answering the 401
//! and 407 challenges of the peers this stack sends requests to, with the
//! credentials configured for them (Asterisk's `outbound_auth`).
//!
//! Sans-IO: [`DigestClient::answer`] takes the request that was challenged
//! and the challenge, and gives the request to send again (new branch,
//! next CSeq, credentials added) or the reason not to. The stack's
//! [`crate::SipStack::send_message_authenticated`] runs it around a client
//! transaction.
//!
//! A challenge is answered once: the same realm challenging again after it
//! was answered means the credentials were refused, unless the challenge
//! says `stale=true` (the credentials were right, the nonce too old). That
//! rule, and a small bound on answers per request, keep a peer from
//! holding the stack in a loop of challenges.
//!
//! A [`DigestClient`] also remembers the last nonce of each realm, and
//! puts credentials with the next nonce count on the next request it is
//! asked to [`DigestClient::authorize`] (a registration refresh), as RFC
//! 2617 §3.2.2 allows: one round trip instead of two while the nonce lasts.

use std::fmt;

use sipjet_message::{HeaderName, Message, quote};

use crate::digest::{DigestAlgorithm, ResponseInput, ha1, response};

/// How many challenges one request may answer in all (a registrar's 401
/// and a proxy's 407, each perhaps stale once): more is a peer playing.
pub const MAX_ANSWERS: usize = 4;

/// Realms remembered for credentials sent ahead of a challenge; a peer
/// cannot make the cache grow past it.
const MAX_CACHED_REALMS: usize = 8;

/// One set of credentials (a `type=auth` section named by
/// `outbound_auth`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredential {
    /// The realm these credentials are for; `None` answers any realm.
    pub realm: Option<String>,
    /// `username=`.
    pub username: String,
    /// The password, from which any algorithm's HA1 is computed.
    pub password: Option<String>,
    /// Stored HA1 hashes by algorithm (`md5_cred`, `password_digest`),
    /// used when there is no password. Each is bound to one realm, so a
    /// hash is used only when `realm` is set or the challenge's realm is
    /// the one it was made for, which the configuration checks.
    pub ha1: Vec<(DigestAlgorithm, String)>,
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("ClientCredential")
            .field("realm", &self.realm)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ClientCredential {
    /// Credentials with a password, for any realm.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> ClientCredential {
        ClientCredential {
            realm: None,
            username: username.into(),
            password: Some(password.into()),
            ha1: Vec::new(),
        }
    }

    /// HA1 for `alg` in `realm`, if these credentials can make it.
    fn ha1(&self, alg: DigestAlgorithm, realm: &str) -> Option<String> {
        match &self.password {
            Some(p) => Some(ha1(alg, &self.username, realm, p)),
            None => self
                .ha1
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|(_, h)| h.clone()),
        }
    }
}

/// Why a challenge is not answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The response carries no Digest challenge this client can answer
    /// (no challenge, another scheme, an unknown algorithm, `qop` other
    /// than `auth`).
    #[error("the {status} carries no digest challenge sipjet can answer")]
    NoUsableChallenge {
        /// 401 or 407.
        status: u16,
    },
    /// No credentials are configured for the realm.
    #[error("no credentials for realm {realm:?}")]
    NoCredentials {
        /// The challenge's realm.
        realm: String,
    },
    /// The realm challenged again after it was answered, without
    /// `stale=true`: the credentials were refused.
    #[error("realm {realm:?} refused the credentials of user {username:?}")]
    Refused {
        /// The realm.
        realm: String,
        /// The username sent.
        username: String,
    },
    /// The request has answered [`MAX_ANSWERS`] challenges already.
    #[error("the request was challenged {MAX_ANSWERS} times; giving up")]
    TooManyChallenges,
    /// The challenged request cannot be rebuilt (it is not ours to resend).
    #[error("the challenged request cannot be sent again: {0}")]
    Request(String),
}

/// What one request (and its resends) has answered so far. Credentials
/// sent ahead by [`DigestClient::authorize`] are not answers: a realm
/// refusing its cached nonce is answered once, like a first challenge.
#[derive(Clone, Debug, Default)]
pub struct AuthAttempt {
    /// `(realm, nonce)` of each challenge answered.
    answered: Vec<(String, String)>,
}

/// The last challenge of a realm, for credentials sent ahead.
#[derive(Clone, Debug)]
struct Cached {
    realm: String,
    header: HeaderName,
    nonce: String,
    opaque: Option<String>,
    algorithm: DigestAlgorithm,
    /// `Some` with `qop=auth`; the nonce count last used.
    nc: Option<u32>,
}

/// Answers the challenges of one peer with its credentials.
#[derive(Clone, Debug)]
pub struct DigestClient {
    credentials: Vec<ClientCredential>,
    cache: Vec<Cached>,
}

/// One challenge's parameters, as far as answering needs them.
struct Parsed {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: DigestAlgorithm,
    qop_auth: bool,
    stale: bool,
}

fn parse_challenge(value: &str) -> Option<Parsed> {
    let c = sipjet_message::AuthValue::parse(value).ok()?;
    if !c.is_digest() || c.check().is_err() {
        return None;
    }
    let realm = c.param("realm")?.into_owned();
    let nonce = c.param("nonce")?.into_owned();
    let algorithm = match c.param("algorithm") {
        None => DigestAlgorithm::Md5,
        Some(a) => DigestAlgorithm::parse(&a).ok()?,
    };
    let qop_auth = match c.param("qop") {
        None => false,
        Some(q) => {
            if !q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth")) {
                return None;
            }
            true
        }
    };
    let stale = c
        .param("stale")
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    Some(Parsed {
        realm,
        nonce,
        opaque: c.param("opaque").map(|o| o.into_owned()),
        algorithm,
        qop_auth,
        stale,
    })
}

/// The realm a credentials header was made for.
fn credentials_realm(value: &str) -> Option<String> {
    let c = sipjet_message::AuthValue::parse(value).ok()?;
    c.param("realm").map(|r| r.into_owned())
}

impl DigestClient {
    /// A client answering with `credentials`, the first that fits a
    /// realm winning (one for the exact realm before one for any realm).
    pub fn new(credentials: Vec<ClientCredential>) -> DigestClient {
        DigestClient {
            credentials,
            cache: Vec::new(),
        }
    }

    /// True when there are no credentials to answer with.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    fn credential_for(&self, realm: &str) -> Option<&ClientCredential> {
        self.credentials
            .iter()
            .find(|c| c.realm.as_deref() == Some(realm))
            .or_else(|| self.credentials.iter().find(|c| c.realm.is_none()))
    }

    /// Adds credentials for every realm that challenged before, with the
    /// next nonce count, to a new request of this client's (the next
    /// REGISTER of a registration).
    pub fn authorize(&mut self, request: &mut Message) {
        let (Some(method), Some(uri)) = (
            request.method().map(|m| m.as_str().to_string()),
            request.request_uri().map(str::to_string),
        ) else {
            return;
        };
        let mut headers = Vec::new();
        for i in 0..self.cache.len() {
            let Some(cred) = self.credential_for(&self.cache[i].realm).cloned() else {
                continue;
            };
            let c = &mut self.cache[i];
            let Some(h1) = cred.ha1(c.algorithm, &c.realm) else {
                continue;
            };
            let nc = c.nc.map(|n| n.saturating_add(1));
            c.nc = nc;
            headers.push((
                c.header,
                credentials_value(&cred.username, &h1, c, &method, &uri, nc),
            ));
        }
        for (h, v) in headers {
            // Values built here hold no line breaks.
            let _ = request.add_header(h.as_str(), &v);
        }
    }

    /// Answers the 401 or 407 `challenge` to `request` (the request as
    /// sent, top Via included): the request to send again, with a new
    /// branch `branch`, the next CSeq and credentials for each realm that
    /// challenged. `attempt` is this request's history; pass the same one
    /// for every resend of it.
    pub fn answer(
        &mut self,
        request: &Message,
        challenge: &Message,
        branch: &str,
        attempt: &mut AuthAttempt,
    ) -> Result<Message, AuthError> {
        let status = challenge.status().unwrap_or(0);
        let (challenge_header, credentials_header) = match status {
            401 => (HeaderName::WwwAuthenticate, HeaderName::Authorization),
            407 => (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            ),
            _ => return Err(AuthError::NoUsableChallenge { status }),
        };
        // The first usable challenge of each realm (RFC 8760 §2.4: the
        // server lists its preferred algorithm first).
        let mut chosen: Vec<Parsed> = Vec::new();
        for value in challenge.headers(challenge_header) {
            if let Some(p) = parse_challenge(value)
                && !chosen.iter().any(|c| c.realm == p.realm)
            {
                chosen.push(p);
            }
        }
        if chosen.is_empty() {
            return Err(AuthError::NoUsableChallenge { status });
        }
        let method = request
            .method()
            .ok_or_else(|| AuthError::Request("not a request".into()))?
            .as_str()
            .to_string();
        let uri = request
            .request_uri()
            .ok_or_else(|| AuthError::Request("no Request-URI".into()))?
            .to_string();
        let mut answers = Vec::new();
        for p in &chosen {
            let cred = self
                .credential_for(&p.realm)
                .ok_or_else(|| AuthError::NoCredentials {
                    realm: p.realm.clone(),
                })?
                .clone();
            let answered_realm = attempt.answered.iter().any(|(r, _)| *r == p.realm);
            if answered_realm && !p.stale {
                return Err(AuthError::Refused {
                    realm: p.realm.clone(),
                    username: cred.username.clone(),
                });
            }
            if attempt.answered.len() >= MAX_ANSWERS {
                return Err(AuthError::TooManyChallenges);
            }
            let h1 = cred
                .ha1(p.algorithm, &p.realm)
                .ok_or_else(|| AuthError::NoCredentials {
                    realm: format!("{} with {}", p.realm, p.algorithm.as_str()),
                })?;
            let cached = Cached {
                realm: p.realm.clone(),
                header: credentials_header,
                nonce: p.nonce.clone(),
                opaque: p.opaque.clone(),
                algorithm: p.algorithm,
                nc: p.qop_auth.then_some(1),
            };
            answers.push(credentials_value(
                &cred.username,
                &h1,
                &cached,
                &method,
                &uri,
                cached.nc,
            ));
            attempt.answered.push((p.realm.clone(), p.nonce.clone()));
            self.remember(cached);
        }
        let mut next = request.clone();
        // Keep the credentials of other realms (a registrar's beside a
        // proxy's); replace those of the realms that challenged now.
        let kept: Vec<String> = request
            .headers(credentials_header)
            .filter(|v| credentials_realm(v).is_none_or(|r| !chosen.iter().any(|p| p.realm == r)))
            .map(str::to_string)
            .collect();
        next.remove_header(credentials_header.as_str());
        for v in kept.iter().chain(answers.iter()) {
            next.add_header(credentials_header.as_str(), v)
                .map_err(|e| AuthError::Request(e.to_string()))?;
        }
        let cseq = request
            .cseq()
            .map_err(|e| AuthError::Request(e.to_string()))?;
        let seq = cseq
            .seq
            .checked_add(1)
            .ok_or_else(|| AuthError::Request("CSeq cannot grow".into()))?;
        next.set_header("CSeq", &format!("{seq} {}", cseq.method))
            .map_err(|e| AuthError::Request(e.to_string()))?;
        let via = request
            .via()
            .map_err(|e| AuthError::Request(e.to_string()))?;
        let old = via
            .branch()
            .ok_or_else(|| AuthError::Request("the top Via has no branch".into()))?;
        let new_via =
            via.as_str()
                .replacen(&format!("branch={old}"), &format!("branch={branch}"), 1);
        next.set_top_via(&new_via)
            .map_err(|e| AuthError::Request(e.to_string()))?;
        Ok(next)
    }

    fn remember(&mut self, c: Cached) {
        self.cache.retain(|x| x.realm != c.realm);
        if self.cache.len() >= MAX_CACHED_REALMS {
            self.cache.remove(0);
        }
        self.cache.push(c);
    }

    /// Forgets the cached nonces (after a refusal, so that the next
    /// request starts without credentials).
    pub fn forget_nonces(&mut self) {
        self.cache.clear();
    }
}

/// An Authorization or Proxy-Authorization value.
fn credentials_value(
    username: &str,
    ha1: &str,
    c: &Cached,
    method: &str,
    uri: &str,
    nc: Option<u32>,
) -> String {
    let nc = nc.map(|n| format!("{n:08x}"));
    let cnonce = nc
        .as_ref()
        .map(|_| format!("{:016x}", rand::random::<u64>()));
    let resp = response(
        c.algorithm,
        ha1,
        &ResponseInput {
            nonce: &c.nonce,
            nc: nc.as_deref(),
            cnonce: cnonce.as_deref(),
            qop: nc.as_ref().map(|_| "auth"),
            method,
            uri,
        },
    );
    let mut v = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
        quote(username),
        quote(&c.realm),
        quote(&c.nonce),
        quote(uri),
        quote(&resp),
        c.algorithm.as_str()
    );
    if let (Some(nc), Some(cnonce)) = (nc, cnonce) {
        v.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(&cnonce)));
    }
    if let Some(o) = &c.opaque {
        v.push_str(&format!(", opaque={}", quote(o)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:provider.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst;rport\r\nFrom: <sip:office@provider.test>;tag=1\r\nTo: <sip:office@provider.test>\r\nCall-ID: c1\r\nCSeq: 7 REGISTER\r\nContact: <sip:office@127.0.0.1>\r\nContent-Length: 0\r\n\r\n";

    fn request() -> Message {
        Message::parse(REGISTER.as_bytes().to_vec()).unwrap()
    }

    fn challenge(status: u16, headers: &[&str]) -> Message {
        let name = if status == 401 {
            "WWW-Authenticate"
        } else {
            "Proxy-Authenticate"
        };
        let mut text = format!(
            "SIP/2.0 {status} Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst;rport\r\nFrom: <sip:office@provider.test>;tag=1\r\nTo: <sip:office@provider.test>;tag=2\r\nCall-ID: c1\r\nCSeq: 7 REGISTER\r\n"
        );
        for h in headers {
            text.push_str(&format!("{name}: {h}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(text.into_bytes()).unwrap()
    }

    /// What a server would compute for the credentials in `value`.
    fn verify(value: &str, method: &str, password: &str) -> bool {
        let c = sipjet_message::AuthValue::parse(value).unwrap();
        let alg = DigestAlgorithm::parse(&c.param("algorithm").unwrap()).unwrap();
        let user = c.param("username").unwrap();
        let realm = c.param("realm").unwrap();
        let h1 = ha1(alg, &user, &realm, password);
        let want = response(
            alg,
            &h1,
            &ResponseInput {
                nonce: &c.param("nonce").unwrap(),
                nc: c.param("nc").as_deref(),
                cnonce: c.param("cnonce").as_deref(),
                qop: c.param("qop").as_deref(),
                method,
                uri: &c.param("uri").unwrap(),
            },
        );
        want == c.param("response").unwrap()
    }

    fn client() -> DigestClient {
        DigestClient::new(vec![ClientCredential::password("office", "s3cret")])
    }

    #[test]
    fn answers_each_algorithm_with_qop_auth() {
        for alg in ["MD5", "SHA-256", "SHA-512-256"] {
            let mut c = client();
            let mut attempt = AuthAttempt::default();
            let ch = challenge(
                401,
                &[&format!(
                    "Digest realm=\"provider.test\", nonce=\"n1\", opaque=\"o1\", algorithm={alg}, qop=\"auth\""
                )],
            );
            let next = c
                .answer(&request(), &ch, "z9hG4bKsecond", &mut attempt)
                .unwrap();
            let auth = next.header(HeaderName::Authorization).unwrap().to_string();
            assert!(verify(&auth, "REGISTER", "s3cret"), "{alg}: {auth}");
            assert!(!verify(&auth, "REGISTER", "wrong"));
            assert!(auth.contains("nc=00000001"), "{auth}");
            assert!(auth.contains("opaque=\"o1\""), "{auth}");
            assert!(auth.contains(&format!("algorithm={alg}")), "{auth}");
            assert_eq!(next.cseq().unwrap().seq, 8);
            assert_eq!(next.via().unwrap().branch(), Some("z9hG4bKsecond"));
            assert_eq!(next.call_id().unwrap(), "c1");
        }
    }

    #[test]
    fn rfc2069_form_without_qop() {
        let mut c = client();
        let ch = challenge(401, &["Digest realm=\"r\", nonce=\"n\""]);
        let next = c
            .answer(&request(), &ch, "z9hG4bK2", &mut AuthAttempt::default())
            .unwrap();
        let auth = next.header(HeaderName::Authorization).unwrap();
        assert!(!auth.contains("nc="));
        assert!(!auth.contains("cnonce"));
        assert!(verify(auth, "REGISTER", "s3cret"));
    }

    #[test]
    fn proxy_challenge_goes_into_proxy_authorization() {
        let mut c = client();
        let ch = challenge(
            407,
            &["Digest realm=\"proxy\", nonce=\"p\", qop=\"auth-int,auth\""],
        );
        let next = c
            .answer(&request(), &ch, "z9hG4bK2", &mut AuthAttempt::default())
            .unwrap();
        assert!(!next.has(HeaderName::Authorization));
        assert!(verify(
            next.header(HeaderName::ProxyAuthorization).unwrap(),
            "REGISTER",
            "s3cret"
        ));
    }

    #[test]
    fn the_first_supported_challenge_of_a_realm_is_used() {
        let mut c = client();
        let ch = challenge(
            401,
            &[
                "Digest realm=\"r\", nonce=\"a\", algorithm=SHA-1",
                "Digest realm=\"r\", nonce=\"b\", algorithm=SHA-256, qop=\"auth\"",
                "Digest realm=\"r\", nonce=\"c\", algorithm=MD5, qop=\"auth\"",
            ],
        );
        let next = c
            .answer(&request(), &ch, "z9hG4bK2", &mut AuthAttempt::default())
            .unwrap();
        let values: Vec<_> = next.headers(HeaderName::Authorization).collect();
        assert_eq!(values.len(), 1);
        assert!(values[0].contains("algorithm=SHA-256"));
        assert!(values[0].contains("nonce=\"b\""));
    }

    #[test]
    fn a_second_challenge_of_the_same_realm_ends_it() {
        let mut c = client();
        let mut attempt = AuthAttempt::default();
        let first = challenge(401, &["Digest realm=\"r\", nonce=\"n1\", qop=\"auth\""]);
        let sent = c
            .answer(&request(), &first, "z9hG4bK2", &mut attempt)
            .unwrap();
        // Same nonce, not stale: refused.
        assert_eq!(
            c.answer(&sent, &first, "z9hG4bK3", &mut attempt.clone())
                .err(),
            Some(AuthError::Refused {
                realm: "r".into(),
                username: "office".into()
            })
        );
        // A fresh nonce without stale: the credentials were refused too.
        let fresh = challenge(401, &["Digest realm=\"r\", nonce=\"n2\", qop=\"auth\""]);
        assert!(matches!(
            c.answer(&sent, &fresh, "z9hG4bK3", &mut attempt.clone()),
            Err(AuthError::Refused { .. })
        ));
        // stale=true: answered again, with the new nonce.
        let stale = challenge(
            401,
            &["Digest realm=\"r\", nonce=\"n3\", qop=\"auth\", stale=true"],
        );
        let again = c.answer(&sent, &stale, "z9hG4bK4", &mut attempt).unwrap();
        let values: Vec<_> = again.headers(HeaderName::Authorization).collect();
        assert_eq!(values.len(), 1, "the old credentials are replaced");
        assert!(values[0].contains("nonce=\"n3\""));
        assert_eq!(again.cseq().unwrap().seq, 9);
    }

    #[test]
    fn stale_loops_are_bounded() {
        let mut c = client();
        let mut attempt = AuthAttempt::default();
        let mut req = request();
        let mut answered = 0;
        for i in 0..10 {
            let ch = challenge(
                401,
                &[&format!(
                    "Digest realm=\"r\", nonce=\"n{i}\", qop=\"auth\", stale=true"
                )],
            );
            match c.answer(&req, &ch, &format!("z9hG4bK{i}"), &mut attempt) {
                Ok(next) => {
                    req = next;
                    answered += 1;
                }
                Err(e) => {
                    assert_eq!(e, AuthError::TooManyChallenges);
                    break;
                }
            }
        }
        assert_eq!(answered, MAX_ANSWERS);
    }

    #[test]
    fn unusable_challenges_and_missing_credentials() {
        let mut c = client();
        for h in [
            "Basic realm=\"r\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest nonce=\"n\"",
            "Digest realm=\"r\"",
            "Digest realm=\"open",
        ] {
            assert_eq!(
                c.answer(
                    &request(),
                    &challenge(401, &[h]),
                    "z9hG4bK2",
                    &mut AuthAttempt::default()
                )
                .err(),
                Some(AuthError::NoUsableChallenge { status: 401 }),
                "{h}"
            );
        }
        let mut only_other = DigestClient::new(vec![ClientCredential {
            realm: Some("elsewhere".into()),
            ..ClientCredential::password("u", "p")
        }]);
        assert_eq!(
            only_other
                .answer(
                    &request(),
                    &challenge(401, &["Digest realm=\"r\", nonce=\"n\""]),
                    "z9hG4bK2",
                    &mut AuthAttempt::default()
                )
                .err(),
            Some(AuthError::NoCredentials { realm: "r".into() })
        );
    }

    #[test]
    fn the_realms_own_credentials_win_over_any_realm() {
        let mut c = DigestClient::new(vec![
            ClientCredential::password("anyone", "a"),
            ClientCredential {
                realm: Some("r".into()),
                ..ClientCredential::password("mine", "m")
            },
        ]);
        let next = c
            .answer(
                &request(),
                &challenge(401, &["Digest realm=\"r\", nonce=\"n\""]),
                "z9hG4bK2",
                &mut AuthAttempt::default(),
            )
            .unwrap();
        let auth = next.header(HeaderName::Authorization).unwrap();
        assert!(auth.contains("username=\"mine\""));
        assert!(verify(auth, "REGISTER", "m"));
    }

    #[test]
    fn stored_ha1_answers_without_a_password() {
        let h1 = ha1(DigestAlgorithm::Md5, "office", "r", "s3cret");
        let mut c = DigestClient::new(vec![ClientCredential {
            realm: Some("r".into()),
            username: "office".into(),
            password: None,
            ha1: vec![(DigestAlgorithm::Md5, h1)],
        }]);
        let next = c
            .answer(
                &request(),
                &challenge(401, &["Digest realm=\"r\", nonce=\"n\", qop=\"auth\""]),
                "z9hG4bK2",
                &mut AuthAttempt::default(),
            )
            .unwrap();
        assert!(verify(
            next.header(HeaderName::Authorization).unwrap(),
            "REGISTER",
            "s3cret"
        ));
        // No SHA-256 hash stored: that challenge cannot be answered.
        assert!(matches!(
            c.answer(
                &request(),
                &challenge(401, &["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"]),
                "z9hG4bK2",
                &mut AuthAttempt::default(),
            ),
            Err(AuthError::NoCredentials { .. })
        ));
    }

    #[test]
    fn the_next_request_reuses_the_nonce_with_the_next_count() {
        let mut c = client();
        let ch = challenge(401, &["Digest realm=\"r\", nonce=\"n\", qop=\"auth\""]);
        c.answer(&request(), &ch, "z9hG4bK2", &mut AuthAttempt::default())
            .unwrap();
        for want in ["00000002", "00000003"] {
            let mut next = request();
            c.authorize(&mut next);
            let auth = next.header(HeaderName::Authorization).unwrap().to_string();
            assert!(auth.contains(&format!("nc={want}")), "{auth}");
            assert!(auth.contains("nonce=\"n\""), "{auth}");
            assert!(verify(&auth, "REGISTER", "s3cret"));
        }
        // The server refusing the cached nonce is answered, once.
        let mut next = request();
        c.authorize(&mut next);
        let mut attempt = AuthAttempt::default();
        let fresh = challenge(401, &["Digest realm=\"r\", nonce=\"m\", qop=\"auth\""]);
        let answered = c.answer(&next, &fresh, "z9hG4bK3", &mut attempt).unwrap();
        let values: Vec<_> = answered.headers(HeaderName::Authorization).collect();
        assert_eq!(values.len(), 1);
        assert!(values[0].contains("nonce=\"m\"") && values[0].contains("nc=00000001"));
        assert!(
            c.answer(&answered, &fresh, "z9hG4bK4", &mut attempt)
                .is_err()
        );
        c.forget_nonces();
        let mut bare = request();
        c.authorize(&mut bare);
        assert!(!bare.has(HeaderName::Authorization));
    }

    #[test]
    fn other_realms_credentials_are_kept() {
        let mut c = client();
        let mut attempt = AuthAttempt::default();
        let first = c
            .answer(
                &request(),
                &challenge(401, &["Digest realm=\"a\", nonce=\"n\""]),
                "z9hG4bK2",
                &mut attempt,
            )
            .unwrap();
        let second = c
            .answer(
                &first,
                &challenge(407, &["Digest realm=\"b\", nonce=\"m\""]),
                "z9hG4bK3",
                &mut attempt,
            )
            .unwrap();
        assert!(second.has(HeaderName::Authorization));
        assert!(second.has(HeaderName::ProxyAuthorization));
        assert_eq!(second.cseq().unwrap().seq, 9);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let text = format!("{:?}", ClientCredential::password("u", "hunter2"));
        assert!(!text.contains("hunter2"));
    }
}
