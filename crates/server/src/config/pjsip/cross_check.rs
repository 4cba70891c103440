//! The checks across sections: references to sections that do not
//! exist, two sections of one name, two transports on one address.

use std::net::SocketAddr;

use sipjet_core::Protocol;

use super::PjsipConfig;
use super::reader::Reader;
use crate::config::file::Location;

/// References between sections, and duplicate names.
pub(super) fn cross_check(r: &mut Reader, cfg: &PjsipConfig) {
    fn dupes<'a>(r: &mut Reader, kind: &str, items: impl Iterator<Item = (&'a str, &'a Location)>) {
        let mut seen: Vec<&str> = Vec::new();
        for (name, at) in items {
            if seen.contains(&name) {
                r.error(at, format!("[{name}] is a second {kind} of that name"));
            }
            seen.push(name);
        }
    }
    dupes(
        r,
        "endpoint",
        cfg.endpoints.iter().map(|e| (e.name.as_str(), &e.at)),
    );
    dupes(
        r,
        "auth",
        cfg.auths.iter().map(|a| (a.name.as_str(), &a.at)),
    );
    dupes(r, "aor", cfg.aors.iter().map(|a| (a.name.as_str(), &a.at)));
    dupes(
        r,
        "transport",
        cfg.transports.iter().map(|t| (t.name.as_str(), &t.at)),
    );
    for e in &cfg.endpoints {
        // At the option's line (which may be in a template), else the section's.
        let at = |key: &str| {
            e.references_at
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&e.at, |(_, at)| at)
        };
        for (key, names) in [("auth", &e.auth), ("outbound_auth", &e.outbound_auth)] {
            for a in names.iter().filter(|a| cfg.auth(a).is_none()) {
                r.error(
                    at(key),
                    format!("[{}] option {key}: auth {a} does not exist", e.name),
                );
            }
        }
        for a in e.aors.iter().filter(|a| cfg.aor(a).is_none()) {
            r.error(
                at("aors"),
                format!("[{}] option aors: aor {a} does not exist", e.name),
            );
        }
        if let Some(t) = &e.transport
            && !cfg.transports.iter().any(|x| &x.name == t)
        {
            r.error(
                at("transport"),
                format!(
                    "[{}] option transport: transport {t} does not exist",
                    e.name
                ),
            );
        }
    }
    dupes(
        r,
        "registration",
        cfg.registrations.iter().map(|g| (g.name.as_str(), &g.at)),
    );
    for g in &cfg.registrations {
        let at = |key: &str| {
            g.references_at
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&g.at, |(_, at)| at)
        };
        for a in g.outbound_auth.iter().filter(|a| cfg.auth(a).is_none()) {
            r.error(
                at("outbound_auth"),
                format!("[{}] option outbound_auth: auth {a} does not exist", g.name),
            );
        }
        if let Some(t) = &g.transport
            && !cfg.transports.iter().any(|x| &x.name == t)
        {
            r.error(
                at("transport"),
                format!(
                    "[{}] option transport: transport {t} does not exist",
                    g.name
                ),
            );
        }
    }
    for i in &cfg.identifies {
        if !i.endpoint.is_empty() && cfg.endpoint(&i.endpoint).is_none() {
            r.error(
                &i.at,
                format!("[{}] endpoint {} does not exist", i.name, i.endpoint),
            );
        }
    }
    let mut binds: Vec<(Protocol, SocketAddr)> = Vec::new();
    for t in &cfg.transports {
        let key = (t.protocol, t.bind);
        if binds.contains(&key) {
            r.error(
                &t.at,
                format!(
                    "[{}] binds {:?} {} like an earlier transport",
                    t.name, t.protocol, t.bind
                ),
            );
        }
        binds.push(key);
    }
}
