//! The top Via of requests and responses: `received` and `rport` on a
//! request received (RFC 3261 §18.2.1, RFC 3581 §4), and where a response
//! is sent (RFC 3261 §18.2.2, RFC 3581 §4).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use sipjet_message::{Message, Via};

use crate::flow::{Destination, Flow};

/// Records where a request really came from in its top Via: `received`
/// when the sent-by host is a name or another address than the source
/// (and always when `rport` is present), and the source port in an `rport`
/// the client left empty. A stale `received` is replaced. The message is
/// left untouched (and so zero-copy) when nothing needs recording, or
/// when its top Via does not parse: validation then refuses it.
pub(crate) fn stamp_request(message: &mut Message, source: SocketAddr) {
    let Some(value) = message.via().ok().and_then(|via| stamped_via(&via, source)) else {
        return;
    };
    // The value is built without CR or LF, the only thing refused here.
    if let Err(e) = message.set_top_via(&value) {
        tracing::warn!(%source, error = %e, "cannot record received/rport in the top Via");
    }
}

/// The new top Via value, or `None` when the received one is right as is.
fn stamped_via(via: &Via<'_>, source: SocketAddr) -> Option<String> {
    let ip = source.ip();
    let rport = via.rport();
    let wants_rport = rport == Some(None);
    let needs_received = rport.is_some() || via.host.ip() != Some(ip);
    let received = via.received();
    let received_right = if needs_received {
        received == Some(ip)
    } else {
        received.is_none_or(|r| r == ip)
    };
    if !wants_rport && received_right {
        return None;
    }
    let raw = via.as_str();
    let head = raw.strip_suffix(via.params.as_str())?;
    let mut out = String::with_capacity(raw.len() + 48);
    push_unfolded(&mut out, head.trim_end());
    for p in via.params.iter() {
        if p.name.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        push_unfolded(&mut out, p.name);
        if wants_rport && p.name.eq_ignore_ascii_case("rport") {
            let _ = write!(out, "={}", source.port());
        } else if let Some(v) = p.value {
            out.push('=');
            push_unfolded(&mut out, v);
        }
    }
    if needs_received {
        // Bracketed for IPv6, the form `Via::received` and the parameter
        // grammar of the message layer accept.
        match ip {
            IpAddr::V4(a) => write!(out, ";received={a}"),
            IpAddr::V6(a) => write!(out, ";received={a}"),
        }
        .ok()?;
    }
    Some(out)
}

/// Copies `s` without CR and LF. A header line break is always followed
/// by white space (RFC 3261 §7.3.1), which stays, so the value means the
/// same on one line.
fn push_unfolded(out: &mut String, s: &str) {
    out.extend(s.chars().filter(|&c| c != '\r' && c != '\n'));
}

/// Where a response goes (RFC 3261 §18.2.2 with RFC 3581 §4), from the
/// top Via of the response (which is the request's, with `received` and
/// `rport` recorded) and the flow the request came on.
///
/// - Reliable transports: the connection the request came on, while it is
///   open; `addr` is where to reconnect otherwise: `received` (or the
///   sent-by address) and the sent-by port (or the protocol's default).
/// - Unreliable transports: `maddr` when it is the IP address the request
///   came from, with the sent-by port (the response is sent to it
///   unicast: multicast and `ttl` are not supported); else `received`
///   with `rport` when both are there; else `received` with the sent-by
///   port; else the sent-by address and port.
///
/// RFC 3261 §18.2.2 sends to any `maddr`, which lets anyone who can send
/// one datagram aim the response, larger than the request, at a third
/// party: a free reflector for amplification attacks. Another `maddr`
/// is therefore ignored, as if it were absent.
///
/// A sent-by host that is a domain name needs RFC 3263 §5 resolution,
/// which this function does not do: without `received` it answers the
/// flow's source address with the sent-by port. Requests received by
/// these transports always carry `received` when their sent-by is a
/// name, so their responses never need that.
pub fn response_destination(top_via: &Via<'_>, flow: &Flow) -> Destination {
    let protocol = flow.protocol;
    let port = top_via.port.unwrap_or(protocol.default_port());
    let sent_by_ip = top_via.host.ip();
    let received = top_via.received();
    let fallback_ip = received.or(sent_by_ip).unwrap_or(flow.remote.ip());
    if protocol.is_reliable() {
        return Destination {
            protocol,
            addr: SocketAddr::new(fallback_ip, port),
            connection: flow.connection,
            server_name: None,
        };
    }
    let maddr = top_via
        .maddr()
        .and_then(|m| sipjet_message::Host::parse(m).ok())
        .and_then(|h| h.ip())
        .filter(|m| m.to_canonical() == flow.remote.ip().to_canonical());
    let addr = match (maddr, received, top_via.rport()) {
        (Some(maddr), _, _) => SocketAddr::new(maddr, port),
        (None, Some(ip), Some(Some(rport))) => SocketAddr::new(ip, rport),
        (None, _, _) => SocketAddr::new(fallback_ip, port),
    };
    Destination::new(protocol, addr)
}

/// Where the transport sends a response it builds itself (a `400` for an
/// invalid request): as [`response_destination`] says, or back to the
/// source when the top Via is beyond reading.
pub(crate) fn reply_destination(response: &Message, flow: &Flow) -> Destination {
    match response.via() {
        Ok(via) => response_destination(&via, flow),
        Err(_) => Destination {
            protocol: flow.protocol,
            addr: flow.remote,
            connection: flow.connection,
            server_name: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::ConnectionId;
    use crate::protocol::Protocol;
    use bytes::Bytes;

    fn request(via: &str) -> Message {
        Message::parse(Bytes::from(format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:b@example.com>;tag=1\r\n\
To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )))
        .unwrap()
    }

    fn stamped(via: &str, source: &str) -> (Message, String) {
        let mut m = request(via);
        stamp_request(&mut m, source.parse().unwrap());
        let back = Message::parse(m.to_bytes()).unwrap();
        back.validate().unwrap();
        let top = back.via().unwrap().as_str().to_string();
        (m, top)
    }

    #[test]
    fn same_address_without_rport_is_left_alone() {
        let (m, top) = stamped(
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
            "192.0.2.1:5060",
        );
        assert!(!m.is_modified());
        assert_eq!(top, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        // The port does not matter to received (RFC 3261 §18.2.1).
        let (m, _) = stamped(
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
            "192.0.2.1:40000",
        );
        assert!(!m.is_modified());
    }

    #[test]
    fn other_address_or_name_gets_received() {
        let (_, top) = stamped(
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
            "198.51.100.7:5060",
        );
        assert_eq!(
            top,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;received=198.51.100.7"
        );
        let (_, top) = stamped(
            "SIP/2.0/TCP pc33.example.com;branch=z9hG4bK2",
            "192.0.2.1:5060",
        );
        assert_eq!(
            top,
            "SIP/2.0/TCP pc33.example.com;branch=z9hG4bK2;received=192.0.2.1"
        );
    }

    #[test]
    fn empty_rport_is_filled_and_received_always_added() {
        // RFC 3581 §4: received even when it equals sent-by.
        let (_, top) = stamped(
            "SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK3",
            "192.0.2.1:9988",
        );
        assert_eq!(
            top,
            "SIP/2.0/UDP 192.0.2.1:5060;rport=9988;branch=z9hG4bK3;received=192.0.2.1"
        );
    }

    #[test]
    fn rport_with_a_value_is_kept() {
        let (_, top) = stamped(
            "SIP/2.0/UDP 10.1.1.1:4540;rport=4540;branch=z9hG4bK4",
            "192.0.2.1:9988",
        );
        assert_eq!(
            top,
            "SIP/2.0/UDP 10.1.1.1:4540;rport=4540;branch=z9hG4bK4;received=192.0.2.1"
        );
    }

    #[test]
    fn stale_received_is_replaced_or_removed() {
        let (_, top) = stamped(
            "SIP/2.0/UDP h.example.com;received=203.0.113.9;branch=z9hG4bK5",
            "192.0.2.1:5060",
        );
        assert_eq!(
            top,
            "SIP/2.0/UDP h.example.com;branch=z9hG4bK5;received=192.0.2.1"
        );
        let (_, top) = stamped(
            "SIP/2.0/UDP 192.0.2.1;received=203.0.113.9;branch=z9hG4bK5",
            "192.0.2.1:5060",
        );
        assert_eq!(top, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK5");
        let (m, _) = stamped(
            "SIP/2.0/UDP h.example.com;received=192.0.2.1;branch=z9hG4bK5",
            "192.0.2.1:5060",
        );
        assert!(!m.is_modified());
    }

    #[test]
    fn folded_value_and_other_vias_on_the_line() {
        let (m, top) = stamped(
            "SIP/2.0/UDP\r\n  h.example.com ;rport\r\n ;branch=z9hG4bK6, SIP/2.0/UDP proxy;branch=z9hG4bK7",
            "192.0.2.1:5070",
        );
        assert_eq!(
            top,
            "SIP/2.0/UDP  h.example.com;rport=5070;branch=z9hG4bK6;received=192.0.2.1"
        );
        assert_eq!(m.vias().count(), 2);
        assert_eq!(m.vias().nth(1).unwrap().unwrap().branch(), Some("z9hG4bK7"));
    }

    #[test]
    fn ipv6_source() {
        let (_, top) = stamped("SIP/2.0/UDP [::1]:5060;rport;branch=z9hG4bK8", "[::1]:5099");
        assert_eq!(
            top,
            "SIP/2.0/UDP [::1]:5060;rport=5099;branch=z9hG4bK8;received=::1"
        );
        let (m, _) = stamped("SIP/2.0/UDP [::1]:5060;branch=z9hG4bK8", "[::1]:5099");
        assert!(!m.is_modified());
    }

    #[test]
    fn unreadable_via_is_left_for_validation() {
        let mut m = request("garbage");
        stamp_request(&mut m, "192.0.2.1:5060".parse().unwrap());
        assert!(!m.is_modified());
        assert!(m.validate().is_err());
    }

    fn flow(protocol: Protocol, remote: &str, connection: Option<u64>) -> Flow {
        Flow {
            protocol,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
            connection: connection.map(ConnectionId),
        }
    }

    fn dest(via: &str, flow: &Flow) -> Destination {
        response_destination(&Via::parse(via).unwrap(), flow)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reliable_prefers_the_connection_and_reconnects_to_sent_by_port() {
        let f = flow(Protocol::Tcp, "192.0.2.1:40001", Some(7));
        let d = dest(
            "SIP/2.0/TCP h.example.com:5062;branch=z9hG4bK1;received=192.0.2.1",
            &f,
        );
        assert_eq!(d.connection, Some(ConnectionId(7)));
        assert_eq!(d.addr, addr("192.0.2.1:5062"));
        assert_eq!(d.protocol, Protocol::Tcp);

        let f = flow(Protocol::Tls, "192.0.2.1:40001", None);
        let d = dest("SIP/2.0/TLS 192.0.2.9;branch=z9hG4bK1", &f);
        assert_eq!((d.addr, d.connection), (addr("192.0.2.9:5061"), None));

        // rport is for unreliable transports only.
        let f = flow(Protocol::Tcp, "192.0.2.1:40001", None);
        let d = dest(
            "SIP/2.0/TCP 192.0.2.9;rport=40001;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5060"));
    }

    #[test]
    fn unreliable_maddr_of_the_source_wins() {
        let f = flow(Protocol::Udp, "198.51.100.3:5060", None);
        let d = dest(
            "SIP/2.0/UDP 192.0.2.1:5070;maddr=198.51.100.3;ttl=1;received=198.51.100.3;rport=1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("198.51.100.3:5070"));
        let f = flow(Protocol::Udp, "[2001:db8::3]:5060", None);
        let d = dest(
            "SIP/2.0/UDP h.example.com:5070;maddr=[2001:db8::3];received=[2001:db8::3];branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("[2001:db8::3]:5070"));
    }

    #[test]
    fn unreliable_maddr_of_another_address_is_ignored() {
        // The request came from 192.0.2.1 and names 198.51.100.3: the
        // response goes where it would without maddr, never to a third
        // party.
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        let d = dest(
            "SIP/2.0/UDP 192.0.2.1:5070;maddr=198.51.100.3;ttl=1;received=192.0.2.1;rport=9988;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:9988"));
        let d = dest(
            "SIP/2.0/UDP 192.0.2.1:5070;maddr=198.51.100.3;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5070"));
        // Sent-by itself may name the third party; received corrects it.
        let d = dest(
            "SIP/2.0/UDP 198.51.100.3:5070;maddr=198.51.100.3;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5070"));
        // A maddr that is a name cannot be used without DNS: ignored.
        let d = dest(
            "SIP/2.0/UDP 192.0.2.1:5070;maddr=mc.example.com;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5070"));
    }

    #[test]
    fn unreliable_received_with_rport() {
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        let d = dest(
            "SIP/2.0/UDP 10.1.1.1:4540;rport=9988;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:9988"));
        assert_eq!(d.connection, None);
    }

    #[test]
    fn unreliable_received_without_rport_uses_sent_by_port() {
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        let d = dest(
            "SIP/2.0/UDP h.example.com:5070;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5070"));
        let d = dest(
            "SIP/2.0/UDP h.example.com;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5060"));
        // rport asked for but never filled: no port to use but sent-by's.
        let d = dest(
            "SIP/2.0/UDP h.example.com;rport;received=192.0.2.1;branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("192.0.2.1:5060"));
    }

    #[test]
    fn unreliable_plain_sent_by() {
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        let d = dest("SIP/2.0/UDP 203.0.113.4:5080;branch=z9hG4bK1", &f);
        assert_eq!(d.addr, addr("203.0.113.4:5080"));
        let d = dest("SIP/2.0/UDP [2001:db8::4];branch=z9hG4bK1", &f);
        assert_eq!(d.addr, addr("[2001:db8::4]:5060"));
    }

    #[test]
    fn name_without_received_falls_back_to_the_source_address() {
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        let d = dest("SIP/2.0/UDP h.example.com:5070;branch=z9hG4bK1", &f);
        assert_eq!(d.addr, addr("192.0.2.1:5070"));
    }

    #[test]
    fn ipv6_received_and_rport() {
        let f = flow(Protocol::Udp, "[2001:db8::1]:9988", None);
        let d = dest(
            "SIP/2.0/UDP h.example.com;rport=9988;received=[2001:db8::1];branch=z9hG4bK1",
            &f,
        );
        assert_eq!(d.addr, addr("[2001:db8::1]:9988"));
    }

    #[test]
    fn reply_destination_falls_back_to_the_source() {
        let resp = Message::parse(&b"SIP/2.0 400 Bad\r\nVia: nonsense\r\n\r\n"[..]).unwrap();
        let f = flow(Protocol::Udp, "192.0.2.1:9988", None);
        assert_eq!(reply_destination(&resp, &f).addr, addr("192.0.2.1:9988"));
    }
}
