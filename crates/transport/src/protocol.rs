//! The SIP transport protocols, named as they appear in a Via header's
//! sent-protocol and in a URI's `transport` parameter.

use std::fmt;

/// A SIP transport ("transport" in RFC 3261 terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// SIP over UDP (RFC 3261 §18).
    Udp,
    /// SIP over TCP (RFC 3261 §18).
    Tcp,
    /// SIP over TLS over TCP (RFC 3261 §26.2).
    Tls,
    /// SIP over WebSocket (RFC 7118).
    Ws,
    /// SIP over secure WebSocket (RFC 7118).
    Wss,
}

impl Protocol {
    /// Every protocol, in the order RFC 3263 lists them for a SIP URI.
    pub const ALL: [Protocol; 5] = [
        Protocol::Udp,
        Protocol::Tcp,
        Protocol::Tls,
        Protocol::Ws,
        Protocol::Wss,
    ];

    /// True for the protocols that deliver bytes in order without loss,
    /// so that RFC 3261 timers A and E need not retransmit.
    pub fn is_reliable(self) -> bool {
        self != Protocol::Udp
    }

    /// True for the protocols that run over TLS.
    pub fn is_secure(self) -> bool {
        matches!(self, Protocol::Tls | Protocol::Wss)
    }

    /// True for the connection-oriented protocols.
    pub fn is_stream(self) -> bool {
        self != Protocol::Udp
    }

    /// True for WebSocket (RFC 7118) protocols.
    pub fn is_websocket(self) -> bool {
        matches!(self, Protocol::Ws | Protocol::Wss)
    }

    /// The transport token of a Via header (`SIP/2.0/UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Ws => "WS",
            Protocol::Wss => "WSS",
        }
    }

    /// Reads a Via transport token or a URI `transport` parameter; tokens
    /// are case-insensitive (RFC 3261 §7.3.1). `None` for transports this
    /// crate does not carry (SCTP, ...).
    pub fn from_via_name(name: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.via_name().eq_ignore_ascii_case(name))
    }

    /// The port used when a URI or Via names none: 5060 for UDP and TCP,
    /// 5061 for TLS (RFC 3261 §19.1.2), 80 and 443 for WebSocket (RFC 7118
    /// follows HTTP).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Udp | Protocol::Tcp => 5060,
            Protocol::Tls => 5061,
            Protocol::Ws => 80,
            Protocol::Wss => 443,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_without_regard_to_case() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_via_name(p.via_name()), Some(p));
            assert_eq!(
                Protocol::from_via_name(&p.via_name().to_ascii_lowercase()),
                Some(p)
            );
        }
        assert_eq!(Protocol::from_via_name("Tls"), Some(Protocol::Tls));
        assert_eq!(Protocol::from_via_name("SCTP"), None);
        assert_eq!(Protocol::from_via_name(""), None);
    }

    #[test]
    fn properties() {
        assert!(!Protocol::Udp.is_reliable());
        assert!(Protocol::Tcp.is_reliable() && Protocol::Ws.is_reliable());
        assert!(Protocol::Tls.is_secure() && Protocol::Wss.is_secure());
        assert!(!Protocol::Tcp.is_secure() && !Protocol::Ws.is_secure());
        assert!(Protocol::Ws.is_websocket() && !Protocol::Tls.is_websocket());
        let ports: Vec<u16> = Protocol::ALL.iter().map(|p| p.default_port()).collect();
        assert_eq!(ports, [5060, 5060, 5061, 80, 443]);
        assert_eq!(Protocol::Wss.to_string(), "WSS");
    }
}
