//! What the server runs from: the typed configuration turned into the
//! core's endpoints, and lookups by name the modules share.

use std::collections::{HashMap, HashSet};
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
    /// Per AOR, the `outbound_proxy` of the first endpoint (in the order
    /// configured) that names it: looked up for every call to the AOR,
    /// so a table rather than a pass over every endpoint.
    outbound_proxies: HashMap<String, Option<String>>,
    /// The realms the server challenges in (see [`Model::is_own_realm`]),
    /// gathered once: a request's credentials name a realm, and a pass
    /// over every auth for each would let a stranger's made-up realm cost
    /// a scan of the whole configuration.
    own_realms: HashSet<String>,
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
        let mut outbound_proxies = HashMap::new();
        for e in &config.endpoints {
            for aor in &e.aors {
                outbound_proxies
                    .entry(aor.clone())
                    .or_insert_with(|| e.outbound_proxy.clone());
            }
        }
        let mut own_realms: HashSet<String> = config.auths.iter().map(realm_of).collect();
        own_realms.insert(config.global.default_realm.clone());
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
        own_realms.insert(artificial_realm.clone());
        Model {
            endpoints,
            auths,
            aors,
            outbound_proxies,
            own_realms,
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
        self.own_realms.contains(realm)
    }

    /// The `outbound_proxy` of the endpoint `aor` belongs to (the first
    /// configured that names it), if it has one.
    pub fn outbound_proxy_of(&self, aor: &str) -> Option<&str> {
        self.outbound_proxies.get(aor)?.as_deref()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> Model {
        let report = crate::config::pjsip::from_str("t.conf", text);
        assert!(report.is_ok(), "{:?}", report.errors);
        Model::new(report.config)
    }

    #[test]
    fn own_realms_are_the_auths_the_default_and_the_artificial_ones() {
        let m = model(
            "[global]\ntype = global\ndefault_realm = sipjet.test\n\
             [a]\ntype = auth\nusername = a\npassword = p\nrealm = a.sipjet.test\n\
             [b]\ntype = auth\nusername = b\npassword = p\n",
        );
        assert!(m.is_own_realm("sipjet.test"));
        assert!(m.is_own_realm("a.sipjet.test"));
        assert!(m.is_own_realm(&m.artificial_realm));
        assert!(!m.is_own_realm("bob.example"));
        assert!(!m.is_own_realm("A.sipjet.test"), "realms compare exactly");
    }

    #[test]
    fn an_aors_outbound_proxy_is_its_first_endpoints() {
        let m = model(
            "[first]\ntype = endpoint\naors = shared\n\
             [second]\ntype = endpoint\naors = shared, own\n\
             outbound_proxy = sip:198.51.100.1\n\
             [shared]\ntype = aor\n[own]\ntype = aor\n",
        );
        assert_eq!(m.outbound_proxy_of("shared"), None, "first has none");
        assert_eq!(m.outbound_proxy_of("own"), Some("sip:198.51.100.1"));
        assert_eq!(m.outbound_proxy_of("nobody"), None);
    }
}
