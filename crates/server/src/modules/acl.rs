//! The `type=acl` sections applied to every request before anything else
//! looks at it (identification, authentication, the services), as
//! Asterisk's `res_pjsip_acl` does: a source a section denies gets 403,
//! and so does a REGISTER whose Contact names an address a section's
//! contact rules deny; either is logged as a `FailedACL` security event.
//! An ACK is dropped without an answer.
//!
//! The answer is stateless: a refused source makes the server keep
//! nothing.

use std::net::IpAddr;
use std::time::SystemTime;

use sipjet_core::{Handled, HeaderName, IncomingRequest, Method, Priority, Service};

use crate::config::pjsip::{AclConf, AclRule};
use crate::security::{SecurityEvent, SecurityEventKind};

/// The ACLs, as a service that runs before the distributor.
pub struct AclFilter {
    acls: Vec<AclConf>,
}

/// Asterisk's `ast_apply_ha`: the last rule that matches decides; none
/// matching allows.
fn allows(rules: &[AclRule], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    rules
        .iter()
        .rev()
        .find(|r| r.net.contains(&ip))
        .is_none_or(|r| r.permit)
}

impl AclFilter {
    /// A filter for these sections.
    pub fn new(acls: Vec<AclConf>) -> AclFilter {
        AclFilter { acls }
    }

    /// The section that denies `ip` as a source.
    fn denies_source(&self, ip: IpAddr) -> Option<&AclConf> {
        self.acls.iter().find(|a| !allows(&a.source, ip))
    }

    /// The section that denies a Contact of the REGISTER, and the
    /// Contact. A Contact with a host name is denied where contact rules
    /// exist: it cannot be checked without a DNS lookup on the request
    /// path.
    fn denies_contact(&self, request: &IncomingRequest) -> Option<(&AclConf, String)> {
        let guarded: Vec<&AclConf> = self.acls.iter().filter(|a| !a.contact.is_empty()).collect();
        if guarded.is_empty() {
            return None;
        }
        for contact in request.message.contacts() {
            let Ok(contact) = contact else {
                continue;
            };
            let Some(addr) = contact.addr() else {
                continue; // `*`: removes bindings, adds none.
            };
            let host = addr
                .uri()
                .ok()
                .and_then(|u| u.as_sip().map(|s| s.host.ip()));
            let uri = addr.uri_str().to_string();
            match host {
                Some(Some(ip)) => {
                    if let Some(a) = guarded.iter().find(|a| !allows(&a.contact, ip)) {
                        return Some((a, uri));
                    }
                }
                _ => return Some((guarded[0], uri)),
            }
        }
        None
    }

    fn refuse(&self, request: &IncomingRequest, acl: &str, reason: String) {
        SecurityEvent {
            kind: SecurityEventKind::FailedAcl,
            time: SystemTime::now(),
            transport: request.flow.protocol.via_name(),
            remote: request.flow.remote,
            account: &request.from_user().unwrap_or_default(),
            reason: &format!("{reason} (acl {acl})"),
        }
        .log();
        if request.method() != &Method::Ack {
            let _ = request.respond_stateless(request.response_with_reason(403, "Forbidden"));
        }
    }
}

impl Service for AclFilter {
    fn name(&self) -> &str {
        "acl"
    }

    fn priority(&self) -> i32 {
        // After the SIP logger, before the distributor identifies and
        // authenticates.
        Priority::TRANSPORT
    }

    fn runs_inline(&self) -> bool {
        true
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if let Some(acl) = self.denies_source(request.flow.remote.ip()) {
            self.refuse(request, &acl.name, "source address denied".into());
            return Handled::Yes;
        }
        if request.method() == &Method::Register
            && request.message.has(HeaderName::Contact)
            && let Some((acl, contact)) = self.denies_contact(request)
        {
            self.refuse(request, &acl.name, format!("contact {contact} denied"));
            return Handled::Yes;
        }
        Handled::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(permit: bool, net: &str) -> AclRule {
        AclRule {
            permit,
            net: net.parse().unwrap(),
        }
    }

    #[test]
    fn the_last_matching_rule_decides_and_none_allows() {
        let rules = [rule(false, "0.0.0.0/0"), rule(true, "192.0.2.0/24")];
        assert!(allows(&rules, "192.0.2.9".parse().unwrap()));
        assert!(!allows(&rules, "198.51.100.1".parse().unwrap()));
        assert!(allows(&rules, "::ffff:192.0.2.9".parse().unwrap()));
        let rules = [rule(true, "192.0.2.0/24"), rule(false, "192.0.2.66/32")];
        assert!(!allows(&rules, "192.0.2.66".parse().unwrap()));
        assert!(allows(&rules, "192.0.2.67".parse().unwrap()));
        assert!(allows(&[], "203.0.113.1".parse().unwrap()));
        // An IPv6 source no IPv4 rule matches is allowed.
        assert!(allows(
            &[rule(false, "0.0.0.0/0")],
            "2001:db8::1".parse().unwrap()
        ));
    }
}
