//! How the server reaches the users it serves: which AORs a Request-URI
//! names, their contacts as targets, and each contact over the flow its
//! REGISTER came on (so that a client behind NAT, or on a connection it
//! opened, is reached), else at the address its URI names. What the
//! registrar stored decides it, and every module that sends to contacts
//! (messaging, calls, qualify) asks here.

use std::net::SocketAddr;
use std::time::SystemTime;

use sipjet_core::{Destination, Protocol, Target, literal_destination};

use crate::location::LocationStore;
use crate::model::Model;

/// The AORs a Request-URI user (at `host`) stands for: an AOR named
/// `user@host` or `user`, or the AORs of an endpoint of that name.
pub fn target_aors(model: &Model, user: &str, host: &str) -> Option<Vec<String>> {
    for name in [format!("{user}@{host}"), user.to_string()] {
        if model.aor(&name).is_some() {
            return Some(vec![name]);
        }
        if let Some(e) = model.endpoint(&name) {
            return Some(e.aors.clone());
        }
    }
    None
}

/// The contacts of `aors` as targets: the registered ones (reached over
/// their flow, through their Path, with their `q`) and the configured
/// ones of each AOR (`contact =`), as far as they can be reached.
pub fn targets(model: &Model, store: &dyn LocationStore, aors: &[String]) -> Vec<Target> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for aor in aors {
        let first = out.len();
        for b in store.bindings(aor, now) {
            if let Some(d) = destination(b.received.as_deref(), &b.contact) {
                out.push(Target {
                    uri: b.contact,
                    path: b.path,
                    q: b.q,
                    destination: Some(d),
                });
            }
        }
        for c in model
            .aor(aor)
            .map(|a| a.contacts.clone())
            .unwrap_or_default()
        {
            if let Some(d) = literal_destination(&c) {
                out.push(Target {
                    uri: c,
                    destination: Some(d),
                    ..Target::default()
                });
            }
        }
        if let Some(proxy) = outbound_proxy_of(model, aor) {
            for t in &mut out[first..] {
                through_proxy(t, proxy);
            }
        }
    }
    out
}

/// The `outbound_proxy` of the endpoint `aor` belongs to, if it has one.
fn outbound_proxy_of<'a>(model: &'a Model, aor: &str) -> Option<&'a str> {
    model
        .config
        .endpoints
        .iter()
        .find(|e| e.aors.iter().any(|a| a == aor))
        .and_then(|e| e.outbound_proxy.as_deref())
}

/// Routes `target` through `proxy` (Asterisk's endpoint `outbound_proxy`):
/// the proxy first in its route, and sent to the proxy rather than the
/// contact's own flow (resolved by DNS when the proxy is a name).
fn through_proxy(target: &mut Target, proxy: &str) {
    target.path.insert(0, format!("<{proxy}>"));
    target.destination = literal_destination(proxy);
}

/// Where requests to a contact go: `received` (`proto:ip:port`, the flow
/// its REGISTER came on) when there is one, else its URI.
pub fn destination(received: Option<&str>, contact: &str) -> Option<Destination> {
    if let Some((proto, addr)) = received.and_then(|r| r.split_once(':'))
        && let (Some(protocol), Ok(addr)) =
            (Protocol::from_via_name(proto), addr.parse::<SocketAddr>())
    {
        return Some(Destination::new(protocol, addr));
    }
    literal_destination(contact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbound_proxy_comes_first_and_is_where_the_request_goes() {
        let mut t = Target {
            uri: "sip:bob@192.0.2.7:5062".into(),
            path: vec!["<sip:edge.example.com;lr>".into()],
            destination: destination(None, "sip:bob@192.0.2.7:5062"),
            ..Target::default()
        };
        through_proxy(&mut t, "sip:198.51.100.1:5070;lr");
        assert_eq!(
            t.path,
            ["<sip:198.51.100.1:5070;lr>", "<sip:edge.example.com;lr>"]
        );
        assert_eq!(
            t.destination.as_ref().unwrap().addr,
            "198.51.100.1:5070".parse().unwrap()
        );
        through_proxy(&mut t, "sip:proxy.example.com;lr");
        assert!(t.destination.is_none(), "a name is resolved");
    }

    #[test]
    fn the_flow_first_then_the_uri() {
        let d = destination(Some("TCP:192.0.2.7:40000"), "sip:a@10.0.0.1").unwrap();
        assert_eq!(
            (d.protocol, d.addr),
            (Protocol::Tcp, "192.0.2.7:40000".parse().unwrap())
        );
        let d = destination(None, "sip:a@10.0.0.1:5070").unwrap();
        assert_eq!(d.addr, "10.0.0.1:5070".parse().unwrap());
        let d = destination(Some("UDP:[2001:db8::1]:5060"), "sip:a@h").unwrap();
        assert_eq!(d.addr, "[2001:db8::1]:5060".parse().unwrap());
        assert!(destination(Some("junk"), "sip:a@example.com").is_none());
    }
}
