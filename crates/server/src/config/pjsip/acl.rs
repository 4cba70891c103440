//! `[name] type=acl`: which sources may send requests at all, and which
//! addresses a REGISTER may bind, as Asterisk's `res_pjsip_acl` reads it.
//!
//! `permit` and `deny` take addresses and ranges (`192.0.2.0/24`,
//! `192.0.2.0/255.255.255.0`, `2001:db8::/32`), several per line; the
//! rules of a section are applied in order, the last one that matches
//! decides, and a source no rule matches is allowed. `contact_permit` and
//! `contact_deny` do the same for the addresses in a REGISTER's Contact
//! headers. `acl` and `contact_acl` name sections of Asterisk's
//! `acl.conf`, which sipjet does not read: they are errors, so that a
//! server never runs with less protection than its configuration asks
//! for.

use ipnet::IpNet;

use super::identify::MatchItem;
use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;

/// One rule: permit (true) or deny, and the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclRule {
    /// True for `permit`.
    pub permit: bool,
    /// The addresses.
    pub net: IpNet,
}

/// `[name] type=acl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `permit` and `deny`, in order: applied to the source address.
    pub source: Vec<AclRule>,
    /// `contact_permit` and `contact_deny`, in order: applied to the
    /// addresses of a REGISTER's Contact headers.
    pub contact: Vec<AclRule>,
}

/// Ranges as `permit`/`deny` take them (no host names).
fn nets(v: &str) -> Result<Vec<IpNet>, String> {
    value::list(v)
        .iter()
        .map(|item| match MatchItem::parse(item)? {
            MatchItem::Net(n) => Ok(n),
            MatchItem::Host(h) => Err(format!("{h:?} is not an address or a range")),
        })
        .collect()
}

pub(super) fn acl(r: &mut Reader, s: &RawSection) -> AclConf {
    let mut a = AclConf {
        name: s.name.clone(),
        at: s.at.clone(),
        source: Vec::new(),
        contact: Vec::new(),
    };
    for o in &s.options {
        if !r.known("acl", s, o) {
            continue;
        }
        let (list, permit) = match o.key.as_str() {
            "type" => continue,
            "permit" => (&mut a.source, true),
            "deny" => (&mut a.source, false),
            "contact_permit" => (&mut a.contact, true),
            "contact_deny" => (&mut a.contact, false),
            "acl" | "contact_acl" => {
                r.error(
                    &o.at,
                    format!(
                        "[{}] {} = {}: sipjet does not read acl.conf; write its permit and deny lines in this section",
                        s.name, o.key, o.value
                    ),
                );
                continue;
            }
            _ => continue,
        };
        if let Some(ns) = r.value(s, o, nets) {
            list.extend(ns.into_iter().map(|net| AclRule { permit, net }));
        }
    }
    if a.source.is_empty() && a.contact.is_empty() {
        r.warn(
            &s.at,
            format!(
                "[{}] acl has no permit or deny: it allows everything",
                s.name
            ),
        );
    }
    a
}
