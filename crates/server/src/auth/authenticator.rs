//! The default digest authenticator (RFC 3261 §22, RFC 7616, RFC 8760):
//! the one the seed says Asterisk provides, built on the core's public
//! [`Authenticator`] trait.
//!
//! - One `WWW-Authenticate` per algorithm the endpoint's auths offer
//!   (`supported_algorithms_uas`), strongest first, `qop="auth"`.
//! - Passwords (`userpass`), stored MD5 HA1 (`md5`) or stored per-algorithm
//!   hashes (`digest`).
//! - Stateless nonces bound to time, source address and realm; a right
//!   answer to a stale nonce gets a new challenge with `stale=true`; a
//!   nonce-count seen before is a replay and fails.
//! - `qop=auth` with a nonce-count is required, and the digest `uri` must
//!   be the Request-URI (RFC 3261 §22.4, RFC 7616 §3.4.6).
//! - Responses compared in constant time.
//! - No enumeration: an unknown user, a wrong password and an unidentified
//!   source (the core's artificial endpoint) all get the same kind of 401,
//!   a challenge like some configured endpoint's, and the same hashing
//!   work; every failure is a security event in the log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sipjet_core::{
    AuthOutcome, Authenticator, DigestChallenge, Endpoint, IncomingRequest, Method,
    message::AuthValue,
};
use subtle::ConstantTimeEq;

use super::nonce::{NonceCheck, NonceClock, Nonces, SharedNonceCounts};
use crate::config::pjsip::{AuthConf, AuthType};
use crate::digest::{DigestAlgorithm, ResponseInput, ha1, response};
use crate::model::Model;
use crate::security::{SecurityEvent, SecurityEventKind};

/// The default digest authenticator.
pub struct DigestAuthenticator {
    model: Arc<Model>,
    nonces: Nonces,
    /// What nonces are issued and checked by.
    clock: NonceClock,
    /// The endpoints with auths, by name, whose challenges unidentified
    /// senders get (see `realm_and_algorithms`).
    decoys: Vec<String>,
    /// Keys the choice among `decoys`.
    decoy_key: std::collections::hash_map::RandomState,
    /// The password answers for unknown users are checked against: random,
    /// never right.
    decoy_password: String,
    /// The nonce lifetime checked for unknown users.
    decoy_lifetime: Duration,
}

/// Why credentials failed, logged as the security event's reason.
enum Refusal {
    UnknownUser,
    WrongPassword,
    BadNonce,
    Replay,
    Algorithm,
    Malformed(&'static str),
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::UnknownUser => "no such user",
            Refusal::WrongPassword => "wrong password",
            Refusal::BadNonce => "nonce not issued here for this address and realm",
            Refusal::Replay => "nonce-count replayed",
            Refusal::Algorithm => "algorithm not offered",
            Refusal::Malformed(what) => what,
        }
    }

    fn kind(&self) -> SecurityEventKind {
        match self {
            Refusal::BadNonce | Refusal::Replay => SecurityEventKind::InvalidNonce,
            _ => SecurityEventKind::ChallengeResponseFailed,
        }
    }
}

impl DigestAuthenticator {
    /// An authenticator for the auths of `model`, issuing and checking
    /// nonces by `clock`.
    pub fn new(model: Arc<Model>, clock: NonceClock) -> DigestAuthenticator {
        Self::with_counts(model, clock, None)
    }

    /// [`DigestAuthenticator::new`] for a node of a cluster: nonces under
    /// the key of `cluster_secret` in `[global]` (when set), their counts
    /// kept in `shared` as well, so that any node answers a challenge
    /// another sent, and refuses a request replayed at another.
    pub fn with_counts(
        model: Arc<Model>,
        clock: NonceClock,
        shared: Option<Arc<dyn SharedNonceCounts>>,
    ) -> DigestAuthenticator {
        let horizon = model
            .config
            .auths
            .iter()
            .map(|a| a.nonce_lifetime)
            .max()
            .unwrap_or(Duration::from_secs(32));
        let decoys = model
            .endpoints()
            .iter()
            .filter(|e| e.auths.iter().any(|a| model.auth(a).is_some()))
            .map(|e| e.name.clone())
            .collect();
        let nonces = match &model.config.global.cluster_secret {
            Some(secret) => Nonces::shared(horizon, secret, shared),
            None => Nonces::new(horizon),
        };
        DigestAuthenticator {
            nonces,
            clock,
            decoys,
            decoy_key: std::collections::hash_map::RandomState::new(),
            decoy_password: format!("{:032x}", rand::random::<u128>()),
            decoy_lifetime: Duration::from_secs(32),
            model,
        }
    }

    /// The auths of an endpoint, with their realm.
    fn auths_of<'a>(&'a self, endpoint: &Endpoint) -> Vec<(&'a AuthConf, String)> {
        endpoint
            .auths
            .iter()
            .filter_map(|name| self.model.auth(name))
            .map(|a| (a, self.model.realm_of(a)))
            .collect()
    }

    /// The secret hash for `alg`, if the auth can answer in it.
    fn ha1_for(auth: &AuthConf, realm: &str, alg: DigestAlgorithm) -> Option<String> {
        if let Some((_, h)) = auth.password_digests.iter().find(|(a, _)| *a == alg) {
            return Some(h.clone());
        }
        match (&auth.password, &auth.md5_cred, auth.auth_type) {
            (Some(p), _, AuthType::UserPass | AuthType::Digest) => {
                Some(ha1(alg, &auth.username, realm, p))
            }
            (_, Some(h), AuthType::Md5) if alg == DigestAlgorithm::Md5 => Some(h.clone()),
            _ => None,
        }
    }

    /// Checks one set of Digest credentials against the endpoint's auths.
    ///
    /// An unknown user (or an unidentified source, whose artificial
    /// endpoint has no auths) costs the same work as a known one: the
    /// nonce is checked and a response computed from a secret nobody
    /// knows, so neither the answer nor its timing says which users
    /// exist.
    fn verify(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        cred: &AuthValue<'_>,
        now: SystemTime,
    ) -> Result<bool, Refusal> {
        let param = |n: &str| cred.param(n);
        let username =
            param("username").ok_or(Refusal::Malformed("credentials without username"))?;
        let realm = param("realm").ok_or(Refusal::Malformed("credentials without realm"))?;
        let nonce = param("nonce").ok_or(Refusal::Malformed("credentials without nonce"))?;
        let uri = param("uri").ok_or(Refusal::Malformed("credentials without uri"))?;
        let given = param("response").ok_or(Refusal::Malformed("credentials without response"))?;
        let alg = match param("algorithm") {
            Some(a) => DigestAlgorithm::parse(&a).map_err(|_| Refusal::Algorithm)?,
            None => DigestAlgorithm::Md5,
        };
        // Every challenge offers qop=auth; an answer without it (RFC 2069)
        // has no nonce-count, so nothing would stop its replay.
        let qop = param("qop").ok_or(Refusal::Malformed("credentials without qop=auth"))?;
        if !qop.eq_ignore_ascii_case("auth") {
            return Err(Refusal::Malformed("qop other than auth"));
        }
        let (Some(nc), Some(cnonce)) = (param("nc"), param("cnonce")) else {
            return Err(Refusal::Malformed("qop without nc or cnonce"));
        };
        let count = u32::from_str_radix(&nc, 16)
            .map_err(|_| Refusal::Malformed("nc is not hexadecimal"))?;
        // RFC 3261 §22.4, RFC 7616 §3.4.6: the credentials are for this
        // request, not for one to another URI.
        if !same_uri(&uri, request) {
            return Err(Refusal::Malformed("digest uri is not the Request-URI"));
        }
        let auth = self
            .auths_of(endpoint)
            .into_iter()
            .find(|(a, r)| a.username == *username && *r == *realm)
            .map(|(a, _)| a);
        let source = request.source().ip();
        let lifetime = auth.map_or(self.decoy_lifetime, |a| a.nonce_lifetime);
        let freshness = self.nonces.check(&nonce, now, source, &realm, lifetime);
        let secret = auth
            .filter(|a| a.algorithms.contains(&alg))
            .and_then(|a| Self::ha1_for(a, &realm, alg));
        let ha1 = match &secret {
            Some(h) => h.clone(),
            None => ha1(alg, &username, &realm, &self.decoy_password),
        };
        let expected = response(
            alg,
            &ha1,
            &ResponseInput {
                nonce: &nonce,
                nc: Some(&nc),
                cnonce: Some(&cnonce),
                qop: Some(&qop),
                method: request.method().as_str(),
                uri: &uri,
            },
        );
        let right: bool = expected
            .as_bytes()
            .ct_eq(given.to_ascii_lowercase().as_bytes())
            .into();
        match (auth, &secret) {
            (None, _) => return Err(Refusal::UnknownUser),
            (Some(_), None) => return Err(Refusal::Algorithm),
            _ => {}
        }
        if freshness == NonceCheck::Invalid {
            return Err(Refusal::BadNonce);
        }
        if !right {
            return Err(Refusal::WrongPassword);
        }
        if freshness == NonceCheck::Stale {
            return Ok(false);
        }
        // Counted only for right answers, so nobody can burn counts.
        if !self.nonces.accept_count(&nonce, count, now) {
            return Err(Refusal::Replay);
        }
        Ok(true)
    }

    fn log_failure(request: &IncomingRequest, account: &str, refusal: &Refusal) {
        SecurityEvent {
            kind: refusal.kind(),
            time: SystemTime::now(),
            transport: request.flow.protocol.via_name(),
            remote: request.source(),
            account,
            reason: refusal.reason(),
        }
        .log();
    }

    /// The realm and algorithms a challenge to `endpoint` offers. An
    /// unidentified sender gets those of a configured endpoint chosen by a
    /// keyed hash of the user it claims: the same user always gets the
    /// same challenge, and unknown users get each endpoint's challenge as
    /// often as endpoints have it, so the challenge does not tell an
    /// unknown user from a known one even where auths differ in realm or
    /// algorithms.
    fn realm_and_algorithms(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
    ) -> (String, Vec<DigestAlgorithm>) {
        if endpoint.artificial && !self.decoys.is_empty() {
            use std::hash::BuildHasher;
            let claimed = request
                .auth_username()
                .or_else(|| request.from_user())
                .unwrap_or_default();
            let pick = self.decoy_key.hash_one(claimed) % self.decoys.len() as u64;
            if let Some(decoy) = self.model.endpoint(&self.decoys[pick as usize]) {
                return self.realm_and_algorithms(&decoy, request);
            }
        }
        let auths = self.auths_of(endpoint);
        match auths.first() {
            None => (
                self.model.artificial_realm.clone(),
                self.model.artificial_algorithms.clone(),
            ),
            Some((first, realm)) => {
                let mut algs: Vec<DigestAlgorithm> = Vec::new();
                for (a, r) in &auths {
                    if r == realm {
                        for alg in &a.algorithms {
                            if !algs.contains(alg) {
                                algs.push(*alg);
                            }
                        }
                    }
                }
                if algs.is_empty() {
                    algs = first.algorithms.clone();
                }
                (realm.clone(), algs)
            }
        }
    }
}

/// True when the digest `uri` names the request's Request-URI: the same
/// text, or an equivalent URI (RFC 3261 §19.1.4).
fn same_uri(uri: &str, request: &IncomingRequest) -> bool {
    let Some(request_uri) = request.message.request_uri() else {
        return false;
    };
    uri == request_uri
        || matches!(
            (sipjet_core::message::Uri::parse(uri), sipjet_core::message::Uri::parse(request_uri)),
            (Ok(a), Ok(b)) if a.equivalent(&b)
        )
}

/// True when the Request-URI has no user part: the request is for the
/// server itself.
fn addressed_to_server(request: &IncomingRequest) -> bool {
    request
        .message
        .request_uri_parsed()
        .and_then(Result::ok)
        .is_some_and(|u| u.as_sip().is_some_and(|s| s.user.is_none()))
}

impl Authenticator for DigestAuthenticator {
    fn runs_inline(&self) -> bool {
        // Hashes and a nonce check in memory; or, with nonce-counts shared
        // in a database, a round trip to it.
        !self.nonces.is_shared()
    }

    fn requires_authentication(&self, endpoint: &Endpoint, request: &IncomingRequest) -> bool {
        if request.method() == &Method::Options
            && self.model.config.global.unauthenticated_server_options
            && addressed_to_server(request)
        {
            return false;
        }
        if endpoint.artificial {
            return true;
        }
        if endpoint.auths.is_empty() {
            return false;
        }
        !(request.method() == &Method::Options && endpoint.allow_unauthenticated_options)
    }

    fn authenticate_request(&self, endpoint: &Endpoint, request: &IncomingRequest) -> AuthOutcome {
        let now = self.clock.now();
        let creds: Vec<_> = request
            .message
            .authorizations()
            .filter_map(Result::ok)
            .filter(AuthValue::is_digest)
            // Credentials for another realm answer somebody else's
            // challenge (the callee's, in a call): not ours to judge.
            .filter(|c| c.param("realm").is_none_or(|r| self.model.is_own_realm(&r)))
            .collect();
        if creds.is_empty() {
            return AuthOutcome::Challenge { stale: false };
        }
        let mut last = None;
        for cred in &creds {
            match self.verify(endpoint, request, cred, now) {
                Ok(true) => return AuthOutcome::Success,
                Ok(false) => return AuthOutcome::Challenge { stale: true },
                Err(r) => last = Some((cred.param("username").map(|u| u.into_owned()), r)),
            }
        }
        let (user, refusal) = last.expect("at least one set of credentials was checked");
        let account = user.unwrap_or_else(|| endpoint.name.clone());
        Self::log_failure(request, &account, &refusal);
        AuthOutcome::Failed(refusal.reason().to_string())
    }

    fn get_authentication_credentials(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        stale: bool,
    ) -> Vec<DigestChallenge> {
        let (realm, algorithms) = self.realm_and_algorithms(endpoint, request);
        let source: IpAddr = request.source().ip();
        let nonce = self.nonces.issue(self.clock.now(), source, &realm);
        algorithms
            .iter()
            .map(|alg| DigestChallenge {
                nonce: Some(nonce.clone()),
                algorithm: Some(alg.as_str().to_string()),
                stale,
                ..DigestChallenge::new(realm.clone())
            })
            .collect()
    }
}
