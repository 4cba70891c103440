//! `[name] type=registration`: an account sipjet keeps registered at a
//! provider's registrar (Asterisk's `res_pjsip_outbound_registration`).

use std::time::Duration;

use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;

/// `[name] type=registration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `server_uri`: the registrar, the REGISTER's Request-URI.
    pub server_uri: String,
    /// `client_uri`: the address-of-record registered (From and To).
    pub client_uri: String,
    /// `contact_user` (default `s`, as in Asterisk).
    pub contact_user: String,
    /// `contact_header_params`: added to the Contact URI.
    pub contact_header_params: Option<String>,
    /// `expiration` (default 3600 s): the Expires asked for.
    pub expiration: u32,
    /// `retry_interval` (default 60 s): after a temporary failure.
    pub retry_interval: Duration,
    /// `forbidden_retry_interval` (default 0: a 403 stops the
    /// registration, as RFC 3261 §10.2 wants).
    pub forbidden_retry_interval: Duration,
    /// `fatal_retry_interval` (default 0: a final refusal stops it).
    pub fatal_retry_interval: Duration,
    /// `auth_rejection_permanent` (default yes): refused credentials stop
    /// the registration instead of retrying at `retry_interval`.
    pub auth_rejection_permanent: bool,
    /// `max_retries` (default 10): attempts after a failure before giving
    /// up.
    pub max_retries: u32,
    /// `max_random_initial_delay` (default 10 s): the first REGISTER
    /// waits up to this long, so that many registrations do not start at
    /// once.
    pub max_random_initial_delay: Duration,
    /// `outbound_auth`: the auth sections that answer its challenges.
    pub outbound_auth: Vec<String>,
    /// `outbound_proxy`: where REGISTERs go instead of the registrar's
    /// address, with a loose Route to it.
    pub outbound_proxy: Option<String>,
    /// `transport`: the transport section REGISTERs leave through.
    pub transport: Option<String>,
    /// Where `outbound_auth` and `transport` are set, for errors.
    pub references_at: Vec<(&'static str, Location)>,
}

fn sip_uri(v: &str) -> Result<String, String> {
    let v = v.trim();
    match sipjet_core::message::Uri::parse(v) {
        Ok(sipjet_core::message::Uri::Sip(_)) => Ok(v.to_string()),
        Ok(_) => Err(format!("{v:?} is not a sip: or sips: URI")),
        Err(e) => Err(format!("{v:?} is not a URI: {e}")),
    }
}

pub(super) fn registration(r: &mut Reader, s: &RawSection) -> Option<RegistrationConf> {
    let mut g = RegistrationConf {
        name: s.name.clone(),
        at: s.at.clone(),
        server_uri: String::new(),
        client_uri: String::new(),
        contact_user: "s".into(),
        contact_header_params: None,
        expiration: 3600,
        retry_interval: Duration::from_secs(60),
        forbidden_retry_interval: Duration::ZERO,
        fatal_retry_interval: Duration::ZERO,
        auth_rejection_permanent: true,
        max_retries: 10,
        max_random_initial_delay: Duration::from_secs(10),
        outbound_auth: Vec::new(),
        outbound_proxy: None,
        transport: None,
        references_at: Vec::new(),
    };
    let day = |v: &str| value::seconds(v, 0, 86_400);
    for o in &s.options {
        if !r.known("registration", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "server_uri" => {
                if let Some(u) = r.value(s, o, sip_uri) {
                    g.server_uri = u;
                }
            }
            "client_uri" => {
                if let Some(u) = r.value(s, o, sip_uri) {
                    g.client_uri = u;
                }
            }
            "contact_user" => {
                let ok = |v: &str| {
                    if !v.is_empty()
                        && v.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&c))
                    {
                        Ok(v.to_string())
                    } else {
                        Err(format!("{v:?} is not a SIP user part"))
                    }
                };
                if let Some(u) = r.value(s, o, ok) {
                    g.contact_user = u;
                }
            }
            "contact_header_params" => {
                let ok = |v: &str| {
                    if v.bytes().any(|c| c.is_ascii_control() || c == b'>') {
                        Err(format!("{v:?} holds characters a URI parameter cannot"))
                    } else {
                        Ok(v.trim_start_matches(';').to_string())
                    }
                };
                g.contact_header_params = r.value(s, o, ok).filter(|p| !p.is_empty());
            }
            "expiration" => {
                if let Some(n) = r.value(s, o, |v| value::number(v, 1, 604_800)) {
                    g.expiration = n as u32;
                }
            }
            "retry_interval" => {
                if let Some(d) = r.value(s, o, |v| value::seconds(v, 1, 86_400)) {
                    g.retry_interval = d;
                }
            }
            "forbidden_retry_interval" => {
                g.forbidden_retry_interval =
                    r.value(s, o, day).unwrap_or(g.forbidden_retry_interval)
            }
            "fatal_retry_interval" => {
                g.fatal_retry_interval = r.value(s, o, day).unwrap_or(g.fatal_retry_interval)
            }
            "auth_rejection_permanent" => {
                g.auth_rejection_permanent = r
                    .value(s, o, value::boolean)
                    .unwrap_or(g.auth_rejection_permanent)
            }
            "max_retries" => {
                if let Some(n) = r.value(s, o, |v| value::number(v, 0, 1_000_000)) {
                    g.max_retries = n as u32;
                }
            }
            "max_random_initial_delay" => {
                g.max_random_initial_delay =
                    r.value(s, o, day).unwrap_or(g.max_random_initial_delay)
            }
            "outbound_auth" => {
                g.outbound_auth = value::list(&o.value);
                g.references_at.push(("outbound_auth", o.at.clone()));
            }
            "outbound_proxy" => {
                g.outbound_proxy = r.value(s, o, sip_uri);
            }
            "transport" => {
                g.transport = Some(o.value.trim().to_string());
                g.references_at.push(("transport", o.at.clone()));
            }
            "line" | "support_path" | "support_outbound" => {
                r.value(s, o, value::boolean);
            }
            "endpoint" | "user_agent" => {}
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    let mut ok = true;
    for (key, v) in [("server_uri", &g.server_uri), ("client_uri", &g.client_uri)] {
        if v.is_empty() {
            r.error(&s.at, format!("[{}] registration has no {key}", s.name));
            ok = false;
        }
    }
    ok.then_some(g)
}
