//! `[name] type=transport`: a listener.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;

use sipjet_core::Protocol;

use super::identify::MatchItem;
use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;

/// `[name] type=transport`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `protocol` (default udp).
    pub protocol: Protocol,
    /// `bind` (default 0.0.0.0 on the protocol's port).
    pub bind: SocketAddr,
    /// `cert_file` (TLS, WSS).
    pub cert_file: Option<PathBuf>,
    /// `priv_key_file` (TLS, WSS).
    pub priv_key_file: Option<PathBuf>,
    /// `ca_list_file`: CA certificates trusted, beside the system's, for
    /// every TLS and WSS connection the server opens (the files of all
    /// transports together). Unlike Asterisk, whose `verify_server`
    /// defaults to no, sipjet always checks the certificate and name of
    /// the server it connects to.
    pub ca_list_file: Option<PathBuf>,
    /// `allowed_origins` (sipjet's, for `ws` and `wss`): the origins of
    /// the web pages that may open a WebSocket; unset, any.
    pub allowed_origins: Option<Vec<String>>,
    /// `external_signaling_address`: the address written in Via, Contact
    /// and Record-Route for peers outside `local_net` (an address: a host
    /// name is an error, it would be resolved once and go stale).
    pub external_signaling_address: Option<IpAddr>,
    /// `external_signaling_port` (default: the bound port).
    pub external_signaling_port: Option<u16>,
    /// `local_net`: the networks reached without the NAT.
    pub local_net: Vec<IpNet>,
}

/// Reads `protocol =`: the transport's own names, without regard to case.
fn protocol(v: &str) -> Result<Protocol, String> {
    Protocol::from_via_name(v).ok_or_else(|| format!("{v:?} is not udp, tcp, tls, ws or wss"))
}

/// The port a transport binds when `bind` names none: 5061 for the
/// protocols over TLS, 5060 for the others, as Asterisk binds. Not
/// [`Protocol::default_port`], the port a URI without one means, which
/// for WebSocket is HTTP's 80 or 443: a SIP server binding port 80 by
/// default would surprise whoever configured it.
fn bind_port(protocol: Protocol) -> u16 {
    if protocol.is_secure() { 5061 } else { 5060 }
}

pub(super) fn transport(r: &mut Reader, s: &RawSection) -> Option<TransportConf> {
    let mut protocol = Protocol::Udp;
    if let Some(o) = s.options.iter().rev().find(|o| o.key == "protocol") {
        protocol = r.value(s, o, self::protocol)?;
    }
    let mut t = TransportConf {
        name: s.name.clone(),
        at: s.at.clone(),
        protocol,
        bind: SocketAddr::from(([0, 0, 0, 0], bind_port(protocol))),
        cert_file: None,
        priv_key_file: None,
        ca_list_file: None,
        allowed_origins: None,
        external_signaling_address: None,
        external_signaling_port: None,
        local_net: Vec::new(),
    };
    for o in &s.options {
        if !r.known("transport", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" | "protocol" => {}
            "bind" => {
                if let Some(b) = r.value(s, o, |v| value::bind_address(v, bind_port(protocol))) {
                    t.bind = b;
                }
            }
            "cert_file" => t.cert_file = Some(PathBuf::from(&o.value)),
            "priv_key_file" => t.priv_key_file = Some(PathBuf::from(&o.value)),
            "ca_list_file" => t.ca_list_file = Some(PathBuf::from(&o.value)),
            "allowed_origins" => {
                if let Some(origins) = r.value(s, o, value::origins) {
                    t.allowed_origins = Some(origins);
                }
            }
            "verify_server" => {
                // Checked; the table warns when it asks for no checking.
                let _ = r.value(s, o, value::boolean);
            }
            "external_signaling_address" => {
                t.external_signaling_address = r
                    .value(s, o, |v| {
                        v.trim_matches(['[', ']']).parse::<IpAddr>().map_err(|_| {
                            format!("{v:?} is not an address (sipjet takes no host name here)")
                        })
                    })
                    .or(t.external_signaling_address);
            }
            "local_net" => {
                let nets = r.value(s, o, |v| {
                    value::list(v)
                        .iter()
                        .map(|n| match MatchItem::parse(n)? {
                            MatchItem::Net(net) => Ok(net),
                            MatchItem::Host(h) => Err(format!("{h:?} is not a network")),
                        })
                        .collect::<Result<Vec<_>, String>>()
                });
                t.local_net.extend(nets.unwrap_or_default());
            }
            "external_signaling_port" => {
                t.external_signaling_port = r
                    .value(s, o, |v| value::number(v, 1, 65535))
                    .map(|p| p as u16);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if t.allowed_origins.is_some() && !protocol.is_websocket() {
        r.warn(
            &s.at,
            format!(
                "[{}] option allowed_origins takes no effect: only WebSocket transports (ws, wss) have origins",
                s.name
            ),
        );
    }
    if t.external_signaling_address.is_none()
        && (t.external_signaling_port.is_some() || !t.local_net.is_empty())
    {
        r.warn(
            &s.at,
            format!(
                "[{}] external_signaling_port and local_net take no effect without external_signaling_address",
                s.name
            ),
        );
    }
    if protocol.is_secure() && (t.cert_file.is_none() || t.priv_key_file.is_none()) {
        r.error(
            &s.at,
            format!(
                "[{}] a {protocol:?} transport needs cert_file and priv_key_file",
                s.name
            ),
        );
    }
    Some(t)
}
