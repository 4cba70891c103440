//! How the server reaches the users it serves: which AORs a Request-URI
//! names, their contacts as targets, and each contact over the flow its
//! REGISTER came on (so that a client behind NAT, or on a connection it
//! opened, is reached), else at the address its URI names. What the
//! registrar stored decides it, and every module that sends to contacts
//! (messaging, calls, qualify) asks here.
//!
//! With several nodes sharing the location store, a flow belongs to the
//! node the contact registered through. A contact reached over its flow
//! (a connection, or a NAT binding: its REGISTER came from elsewhere than
//! its Contact names) that another node holds is reached through that
//! node, with a hop Route ([`crate::cluster::hop`]); while that node is
//! dead, it cannot be reached at all (RFC 5626 §5.3: the flow is gone
//! until the contact registers again). A contact that registered from
//! the very address its Contact names, over UDP, is sent to directly.

use std::net::SocketAddr;
use std::time::SystemTime;

use sipjet_core::{Destination, Protocol, Target, literal_destination};

use crate::cluster::Cluster;
use crate::location::{Binding, LocationStore};
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

/// The contacts of `aors` as targets for a request of `call_id`: the
/// registered ones (reached over their flow, through their Path, with
/// their `q`, through the node that holds the flow when it is another)
/// and the configured ones of each AOR (`contact =`), as far as they can
/// be reached.
pub fn targets(
    model: &Model,
    store: &dyn LocationStore,
    cluster: &Cluster,
    aors: &[String],
    call_id: &str,
) -> Vec<Target> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for aor in aors {
        let first = out.len();
        for b in store.bindings(aor, now) {
            if let Some(t) = target(b, cluster, call_id, now) {
                out.push(t);
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
        if let Some(proxy) = model.outbound_proxy_of(aor) {
            for t in &mut out[first..] {
                through_proxy(t, proxy);
            }
        }
    }
    out
}

/// Routes `target` through `proxy` (Asterisk's endpoint `outbound_proxy`):
/// the proxy first in its route, and sent to the proxy rather than the
/// contact's own flow (resolved by DNS when the proxy is a name).
fn through_proxy(target: &mut Target, proxy: &str) {
    target.path.insert(0, format!("<{proxy}>"));
    target.destination = literal_destination(proxy);
}

/// How binding `b` is reached from this node, if it can be.
fn target(b: Binding, cluster: &Cluster, call_id: &str, now: SystemTime) -> Option<Target> {
    let dest = destination(b.received.as_deref(), &b.contact)?;
    let holder = b.node.as_deref().filter(|n| **n != *cluster.node_id);
    let Some(holder) = holder.filter(|_| needs_its_flow(&b, &dest)) else {
        return Some(Target {
            uri: b.contact,
            path: b.path,
            q: b.q,
            destination: Some(dest),
        });
    };
    let key = cluster.hop_key.as_ref()?;
    let address = cluster.alive(holder, now)??;
    let hop = literal_destination(&address)?;
    let mut path = vec![key.route(holder, &address, &dest, call_id, now)];
    path.extend(b.path);
    Some(Target {
        uri: b.contact,
        path,
        q: b.q,
        destination: Some(hop),
    })
}

/// True when binding `b` is reached at `dest` only over the flow its
/// REGISTER came on: a connection (TCP, TLS, WebSocket), or a UDP source
/// other than its Contact's address (a NAT binding, which only the node
/// it came to can send through: the NAT lets in only what comes from
/// there).
fn needs_its_flow(b: &Binding, dest: &Destination) -> bool {
    if b.received.is_none() {
        return false;
    }
    if dest.protocol != Protocol::Udp {
        return true;
    }
    literal_destination(&b.contact).is_none_or(|d| d.addr != dest.addr)
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
    use crate::location::NodeRecord;
    use std::time::Duration;

    fn binding(contact: &str, received: &str, node: &str) -> Binding {
        Binding {
            aor: "alice".into(),
            contact: contact.into(),
            expires_at: SystemTime::now() + Duration::from_secs(60),
            q: None,
            call_id: "c".into(),
            cseq: 1,
            path: vec![],
            instance_id: None,
            reg_id: None,
            received: Some(received.into()),
            user_agent: None,
            endpoint: None,
            node: Some(node.into()),
        }
    }

    #[test]
    fn another_nodes_flow_is_reached_through_it_while_it_lives() {
        let cluster = Cluster::new(
            "b".into(),
            Duration::from_secs(5),
            Some("sixteen characters+"),
        );
        let now = SystemTime::now();
        let record = |id: &str, heartbeat| NodeRecord {
            id: id.into(),
            address: Some("sip:192.0.2.1:5060".into()),
            started: heartbeat,
            heartbeat,
        };
        cluster.heard(vec![record("a", now)], now);
        // Registered over TCP at node a: through a.
        let tcp = binding(
            "sip:alice@198.51.100.7:5060;transport=tcp",
            "TCP:198.51.100.7:40000",
            "a",
        );
        let t = target(tcp.clone(), &cluster, "call", now).unwrap();
        assert_eq!(
            t.destination.unwrap().addr,
            "192.0.2.1:5060".parse().unwrap()
        );
        assert!(
            t.path[0].contains("sjf=tcp-198.51.100.7-40000"),
            "{:?}",
            t.path
        );
        assert_eq!(t.uri, tcp.contact);
        // Behind a NAT (UDP from another address than the Contact's): through a.
        let nat = binding("sip:alice@10.0.0.5:5060", "UDP:198.51.100.7:61000", "a");
        assert_eq!(
            target(nat.clone(), &cluster, "call", now)
                .unwrap()
                .path
                .len(),
            1
        );
        // On a public address, over UDP: directly.
        let public = binding("sip:alice@198.51.100.7:5060", "UDP:198.51.100.7:5060", "a");
        let t = target(public.clone(), &cluster, "call", now).unwrap();
        assert!(t.path.is_empty());
        assert_eq!(
            t.destination.unwrap().addr,
            "198.51.100.7:5060".parse().unwrap()
        );
        // Registered here: directly, over the flow.
        let mine = binding("sip:alice@10.0.0.5:5060", "UDP:198.51.100.7:61000", "b");
        assert!(target(mine, &cluster, "call", now).unwrap().path.is_empty());
        // Node a dead: its flows are gone, the public contact is not.
        let later = now + Duration::from_secs(16);
        cluster.heard(vec![record("a", now)], later);
        assert!(target(tcp, &cluster, "call", later).is_none());
        assert!(target(nat, &cluster, "call", later).is_none());
        assert!(target(public, &cluster, "call", later).is_some());
    }

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
