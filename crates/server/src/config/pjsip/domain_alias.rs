//! `[name] type=domain_alias`: another name of a local domain.

use super::reader::Reader;
use crate::config::file::{Location, RawSection};

/// `[name] type=domain_alias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAliasConf {
    /// Section name: the alias.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `domain`: the domain it stands for.
    pub domain: String,
}

pub(super) fn domain_alias(r: &mut Reader, s: &RawSection) -> Option<DomainAliasConf> {
    let mut domain = None;
    for o in &s.options {
        if !r.known("domain_alias", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "domain" => domain = Some(o.value.clone()),
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    let Some(domain) = domain else {
        r.error(&s.at, format!("[{}] domain_alias has no domain", s.name));
        return None;
    };
    Some(DomainAliasConf {
        name: s.name.clone(),
        at: s.at.clone(),
        domain,
    })
}
