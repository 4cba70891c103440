//! How the server reaches a registered contact: over the flow its
//! REGISTER came on (so that a client behind NAT, or on a connection it
//! opened, is reached), else at the address its URI names. What the
//! registrar stored decides it, and every module that sends to contacts
//! (messaging, qualify) asks here.

use std::net::SocketAddr;

use sipjet_core::{Destination, Protocol, literal_destination};

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
