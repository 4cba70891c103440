//! What the server runs from: the typed configuration turned into the
//! core's endpoints, and lookups by name the modules share.

use std::collections::HashMap;
use std::sync::Arc;

use sipjet_core::Endpoint;

use crate::config::pjsip::{AorConf, AuthConf, EndpointConf, PjsipConfig};
use crate::digest::DigestAlgorithm;

/// The configuration, indexed.
pub struct Model {
    /// The configuration as loaded.
    pub config: PjsipConfig,
    endpoints: HashMap<String, Arc<Endpoint>>,
    auths: HashMap<String, AuthConf>,
    aors: HashMap<String, AorConf>,
    /// Realm and algorithms the artificial endpoint's challenge uses: those
    /// every configured auth shares, so that an unknown user's challenge
    /// looks like a known one's.
    pub artificial_realm: String,
    /// See `artificial_realm`.
    pub artificial_algorithms: Vec<DigestAlgorithm>,
}

fn endpoint_of(e: &EndpointConf) -> Endpoint {
    Endpoint {
        aors: e.aors.clone(),
        auths: e.auth.clone(),
        outbound_auths: e.outbound_auth.clone(),
        transport: e.transport.clone(),
        context: e.context.clone(),
        identify_by: e.identify_by.clone(),
        from_user: e.from_user.clone(),
        from_domain: e.from_domain.clone(),
        allow_unauthenticated_options: e.allow_unauthenticated_options,
        trust_id_inbound: e.trust_id_inbound,
        ..Endpoint::new(e.name.clone())
    }
}

impl Model {
    /// Indexes a configuration (already checked).
    pub fn new(config: PjsipConfig) -> Model {
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| (e.name.clone(), Arc::new(endpoint_of(e))))
            .collect();
        let auths: HashMap<_, _> = config
            .auths
            .iter()
            .map(|a| (a.name.clone(), a.clone()))
            .collect();
        let aors = config
            .aors
            .iter()
            .map(|a| (a.name.clone(), a.clone()))
            .collect();
        let realm_of = |a: &AuthConf| {
            a.realm
                .clone()
                .unwrap_or_else(|| config.global.default_realm.clone())
        };
        let mut shared = config
            .auths
            .iter()
            .map(|a| (realm_of(a), a.algorithms.clone()));
        let (artificial_realm, artificial_algorithms) = match shared.next() {
            Some(first) if shared.all(|other| other == first) => first,
            _ => (
                config.global.default_realm.clone(),
                vec![DigestAlgorithm::Md5],
            ),
        };
        Model {
            endpoints,
            auths,
            aors,
            artificial_realm,
            artificial_algorithms,
            config,
        }
    }

    /// An endpoint by name.
    pub fn endpoint(&self, name: &str) -> Option<Arc<Endpoint>> {
        self.endpoints.get(name).cloned()
    }

    /// Every endpoint, sorted by name.
    pub fn endpoints(&self) -> Vec<Arc<Endpoint>> {
        let mut v: Vec<_> = self.endpoints.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// An auth by name.
    pub fn auth(&self, name: &str) -> Option<&AuthConf> {
        self.auths.get(name)
    }

    /// An AOR by name.
    pub fn aor(&self, name: &str) -> Option<&AorConf> {
        self.aors.get(name)
    }

    /// The realm of an auth (its own, or the global default).
    pub fn realm_of(&self, auth: &AuthConf) -> String {
        auth.realm
            .clone()
            .unwrap_or_else(|| self.config.global.default_realm.clone())
    }

    /// True when the server challenges in `realm`: an auth's realm,
    /// `default_realm`, or the artificial endpoint's. Credentials for such
    /// a realm answer this server's challenge and are for it alone.
    pub fn is_own_realm(&self, realm: &str) -> bool {
        realm == self.config.global.default_realm
            || realm == self.artificial_realm
            || self.auths.values().any(|a| self.realm_of(a) == realm)
    }

    /// True when `domain` is one this server answers for: a domain alias's
    /// name or domain, or `default_realm`.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(&self.config.global.default_realm)
            || self.config.domain_aliases.iter().any(|d| {
                d.name.eq_ignore_ascii_case(domain) || d.domain.eq_ignore_ascii_case(domain)
            })
    }
}
