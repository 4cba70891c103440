//! The endpoint identifiers the seed says Asterisk provides, on the core's
//! public [`EndpointIdentifier`] trait: by the user part of the From URI,
//! by source address (`identify` sections), and by the Authorization
//! username; plus the counter of sources no identifier recognises.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sipjet_core::{Endpoint, EndpointIdentifier, IdentifyMethod, IncomingRequest};

use super::matcher::AddressMatcher;
use crate::model::Model;
use crate::security::{SecurityEvent, SecurityEventKind, UnidentifiedSources};

/// By the user part of the From URI: the endpoint named `user@domain`,
/// else the one named `user` (as Asterisk's `username` identifier).
pub struct ByUsername {
    model: Arc<Model>,
}

impl ByUsername {
    /// An identifier over the model's endpoints.
    pub fn new(model: Arc<Model>) -> ByUsername {
        ByUsername { model }
    }
}

impl EndpointIdentifier for ByUsername {
    fn runs_inline(&self) -> bool {
        // A lookup in the model.
        true
    }

    fn name(&self) -> &str {
        "username"
    }

    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        let user = request.from_user()?;
        let with_domain = request.from_domain().map(|d| format!("{user}@{d}"));
        with_domain
            .and_then(|n| self.model.endpoint(&n))
            .or_else(|| self.model.endpoint(&user))
            .filter(|e| e.identifiable_by(IdentifyMethod::Username))
    }
}

/// By the username of the Authorization header: the endpoint whose auth
/// has that username.
pub struct ByAuthUsername {
    model: Arc<Model>,
    by_username: HashMap<String, Vec<String>>,
}

impl ByAuthUsername {
    /// An identifier over the model's endpoints and auths.
    pub fn new(model: Arc<Model>) -> ByAuthUsername {
        let mut by_username: HashMap<String, Vec<String>> = HashMap::new();
        for e in &model.config.endpoints {
            for a in e.auth.iter().filter_map(|name| model.auth(name)) {
                by_username
                    .entry(a.username.clone())
                    .or_default()
                    .push(e.name.clone());
            }
        }
        ByAuthUsername { model, by_username }
    }
}

impl EndpointIdentifier for ByAuthUsername {
    fn runs_inline(&self) -> bool {
        // A lookup in the model.
        true
    }

    fn name(&self) -> &str {
        "auth_username"
    }

    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        let user = request.auth_username()?;
        self.by_username
            .get(&user)?
            .iter()
            .filter_map(|n| self.model.endpoint(n))
            .find(|e| e.identifiable_by(IdentifyMethod::AuthUsername))
    }
}

/// By source address, through `identify` sections in file order.
pub struct ByIp {
    model: Arc<Model>,
    sections: Vec<(AddressMatcher, String)>,
}

impl ByIp {
    /// An identifier over the model's `identify` sections.
    pub fn new(model: Arc<Model>) -> ByIp {
        let sections = model
            .config
            .identifies
            .iter()
            .filter(|i| !i.matches.is_empty())
            .map(|i| {
                let items = i.matches.iter().map(|(m, _)| m.clone());
                (AddressMatcher::new(items), i.endpoint.clone())
            })
            .collect();
        ByIp { model, sections }
    }

    /// Resolves every host name now, then again every `every`, in the
    /// background: a request never waits for DNS.
    pub async fn resolve_hosts(self: &Arc<Self>, every: Duration) {
        self.refresh().await;
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                me.refresh().await;
            }
        });
    }

    async fn refresh(&self) {
        for (matcher, endpoint) in &self.sections {
            if matcher.hosts().is_empty() {
                continue;
            }
            let mut addrs: Vec<IpAddr> = Vec::new();
            for host in matcher.hosts() {
                match tokio::net::lookup_host((host.as_str(), 0)).await {
                    Ok(found) => addrs.extend(found.map(|sa| sa.ip())),
                    Err(e) => {
                        tracing::warn!(%host, %endpoint, error = %e, "identify: cannot resolve a match host")
                    }
                }
            }
            matcher.set_resolved(addrs);
        }
    }
}

impl EndpointIdentifier for ByIp {
    fn runs_inline(&self) -> bool {
        // Addresses resolved in the background; a lookup in memory.
        true
    }

    fn name(&self) -> &str {
        "ip"
    }

    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        let source = request.source().ip();
        self.sections
            .iter()
            .find(|(m, _)| m.matches(source))
            .and_then(|(_, name)| self.model.endpoint(name))
            .filter(|e| e.identifiable_by(IdentifyMethod::Ip))
    }
}

/// Last in the chain: never identifies, but counts the sources that got
/// this far and logs a security event for one that sends too many.
pub struct CountUnidentified {
    sources: Arc<UnidentifiedSources>,
}

impl CountUnidentified {
    /// A counter feeding `sources`.
    pub fn new(sources: Arc<UnidentifiedSources>) -> CountUnidentified {
        CountUnidentified { sources }
    }
}

impl EndpointIdentifier for CountUnidentified {
    fn runs_inline(&self) -> bool {
        // A counter under a short lock.
        true
    }

    fn name(&self) -> &str {
        "count-unidentified"
    }

    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        if request.is_in_dialog() {
            return None;
        }
        let account = request.from_user().unwrap_or_default();
        if self
            .sources
            .record(request.source().ip(), &account, Instant::now())
        {
            SecurityEvent {
                kind: SecurityEventKind::UnidentifiedSource,
                time: SystemTime::now(),
                transport: request.flow.protocol.via_name(),
                remote: request.source(),
                account: &account,
                reason: "too many requests from an unidentified source",
            }
            .log();
        }
        None
    }
}
