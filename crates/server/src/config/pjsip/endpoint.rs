//! `[name] type=endpoint`: a peer, and the identification methods its
//! `identify_by` (and the global `endpoint_identifier_order`) name.

use sipjet_core::IdentifyMethod;

use super::reader::Reader;
use crate::config::file::{Location, RawOption, RawSection};
use crate::config::value;

/// `[name] type=endpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConf {
    /// Section name: the endpoint's name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `aors`: the AORs this endpoint registers to and is reached at.
    pub aors: Vec<String>,
    /// `auth`: inbound authentication objects.
    pub auth: Vec<String>,
    /// `outbound_auth`: credentials for challenges this side receives.
    pub outbound_auth: Vec<String>,
    /// `transport`: the transport to send from.
    pub transport: Option<String>,
    /// Where each option naming another section (`aors`, `auth`,
    /// `outbound_auth`, `transport`) was written, so that a dangling
    /// reference is reported at its own line.
    pub references_at: Vec<(&'static str, Location)>,
    /// `context` (default `default`).
    pub context: String,
    /// `message_context`: where MESSAGE requests go (default: `context`).
    pub message_context: Option<String>,
    /// `identify_by` (default `username,ip`).
    pub identify_by: Vec<IdentifyMethod>,
    /// `from_user`.
    pub from_user: Option<String>,
    /// `from_domain`.
    pub from_domain: Option<String>,
    /// `outbound_proxy`: a SIP URI every request to the endpoint's
    /// contacts, and every call bridged through it (a trunk), is routed
    /// through (a pre-loaded Route).
    pub outbound_proxy: Option<String>,
    /// `callerid`.
    pub callerid: Option<String>,
    /// `force_rport` (default yes).
    pub force_rport: bool,
    /// `rewrite_contact` (default no).
    pub rewrite_contact: bool,
    /// `allow_unauthenticated_options` (default no).
    pub allow_unauthenticated_options: bool,
    /// `trust_id_inbound` (default no): its P-Asserted-Identity and
    /// Remote-Party-ID are passed on; otherwise they are removed.
    pub trust_id_inbound: bool,
}

/// Every identification method the core has, in the order the error for
/// an unknown one lists them.
const IDENTIFY_METHODS: [IdentifyMethod; 4] = [
    IdentifyMethod::Username,
    IdentifyMethod::AuthUsername,
    IdentifyMethod::Ip,
    IdentifyMethod::Header,
];

/// How `identify_by` names a method.
pub fn identify_method_name(m: IdentifyMethod) -> &'static str {
    match m {
        IdentifyMethod::Username => "username",
        IdentifyMethod::AuthUsername => "auth_username",
        IdentifyMethod::Ip => "ip",
        IdentifyMethod::Header => "header",
    }
}

/// One word of a method list: a method, or `None` for `anonymous`
/// (Asterisk's identifier of last resort, which has no core method).
fn identify_method(v: &str) -> Result<Option<IdentifyMethod>, String> {
    if v.eq_ignore_ascii_case("anonymous") {
        return Ok(None);
    }
    IDENTIFY_METHODS
        .into_iter()
        .find(|m| identify_method_name(*m).eq_ignore_ascii_case(v))
        .map(Some)
        .ok_or_else(|| format!("{v:?} is not username, auth_username, ip, header or anonymous"))
}

/// Reads `identify_by` or `endpoint_identifier_order`. sipjet identifies
/// neither by header nor anonymously: `header` is kept (the core knows
/// the method, and skips it) and `anonymous` left out, each with a
/// warning that it takes no effect.
pub(super) fn identify_methods(
    r: &mut Reader,
    s: &RawSection,
    o: &RawOption,
) -> Option<Vec<IdentifyMethod>> {
    let words: Result<Vec<_>, _> = value::list(&o.value)
        .iter()
        .map(|w| identify_method(w))
        .collect();
    let words = r.value(s, o, |_| words)?;
    for word in &words {
        let unsupported = match word {
            Some(IdentifyMethod::Header) => "Header",
            None => "Anonymous",
            Some(_) => continue,
        };
        r.warn(
            &o.at,
            format!(
                "[{}] option {}: {unsupported} takes no effect: sipjet identifies by source address, From user and Authorization username",
                s.name, o.key
            ),
        );
    }
    Some(words.into_iter().flatten().collect())
}

pub(super) fn endpoint(r: &mut Reader, s: &RawSection) -> Option<EndpointConf> {
    let mut e = EndpointConf {
        name: s.name.clone(),
        at: s.at.clone(),
        aors: Vec::new(),
        auth: Vec::new(),
        outbound_auth: Vec::new(),
        transport: None,
        references_at: Vec::new(),
        context: "default".into(),
        message_context: None,
        identify_by: vec![IdentifyMethod::Username, IdentifyMethod::Ip],
        from_user: None,
        from_domain: None,
        outbound_proxy: None,
        callerid: None,
        force_rport: true,
        rewrite_contact: false,
        allow_unauthenticated_options: false,
        trust_id_inbound: false,
    };
    for o in &s.options {
        if !r.known("endpoint", s, o) {
            continue;
        }
        if let Some(key) = ["aors", "auth", "outbound_auth", "transport"]
            .into_iter()
            .find(|k| *k == o.key)
        {
            e.references_at.retain(|(k, _)| *k != key);
            e.references_at.push((key, o.at.clone()));
        }
        match o.key.as_str() {
            "type" => {}
            "aors" => e.aors = value::list(&o.value),
            "auth" => e.auth = value::list(&o.value),
            "outbound_auth" => e.outbound_auth = value::list(&o.value),
            "transport" => e.transport = Some(o.value.clone()),
            "context" => e.context = o.value.clone(),
            // Read for the warning the option table gives.
            "acl" | "contact_acl" | "permit" | "deny" | "contact_permit" | "contact_deny" => {}
            "message_context" => e.message_context = Some(o.value.clone()),
            "identify_by" => {
                if let Some(m) = identify_methods(r, s, o) {
                    e.identify_by = m;
                }
            }
            "from_user" => e.from_user = Some(o.value.clone()),
            "from_domain" => e.from_domain = Some(o.value.clone()),
            "outbound_proxy" => {
                e.outbound_proxy = r
                    .value(s, o, |v| match sipjet_core::message::Uri::parse(v) {
                        Ok(u) if u.as_sip().is_some() => Ok(v.to_string()),
                        _ => Err(format!("{v:?} is not a sip: or sips: URI")),
                    })
                    .or(e.outbound_proxy.take());
                if e.outbound_proxy
                    .as_ref()
                    .is_some_and(|p| !p.contains(";lr"))
                {
                    r.warn(
                        &o.at,
                        format!(
                            "[{}] outbound_proxy {} has no ;lr (write \\;lr): it is used as a strict router, which takes the Request-URI",
                            s.name, o.value
                        ),
                    );
                }
            }
            "callerid" => e.callerid = Some(o.value.clone()),
            "force_rport" => e.force_rport = r.value(s, o, value::boolean).unwrap_or(e.force_rport),
            "rewrite_contact" => {
                e.rewrite_contact = r.value(s, o, value::boolean).unwrap_or(e.rewrite_contact)
            }
            "allow_unauthenticated_options" => {
                e.allow_unauthenticated_options = r
                    .value(s, o, value::boolean)
                    .unwrap_or(e.allow_unauthenticated_options);
            }
            "trust_id_inbound" => {
                e.trust_id_inbound = r.value(s, o, value::boolean).unwrap_or(e.trust_id_inbound);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    Some(e)
}
