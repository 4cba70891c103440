//! What the transports are started with: listeners, limits, TLS trust,
//! keep-alive and UDP socket options.

use std::net::SocketAddr;
use std::time::Duration;

use crate::limits::Limits;
use crate::protocol::Protocol;
use crate::tls::{TlsClientConfig, TlsServerConfig};

/// One listening socket.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// The protocol served.
    pub protocol: Protocol,
    /// The address to bind; port 0 picks a free port (see
    /// [`crate::Transports::local_addrs`]).
    pub addr: SocketAddr,
    /// Certificate and key, required for TLS and WSS.
    pub tls: Option<TlsServerConfig>,
    /// WebSocket only: the `Origin`s (`https://phone.example.com`) whose
    /// pages may open a connection. A browser always names the page's
    /// origin, so any page a user visits could otherwise make the user's
    /// browser talk SIP to this listener; clients that are not browsers
    /// send no Origin and are not affected. `None` allows every origin.
    pub allowed_origins: Option<Vec<String>>,
}

impl ListenerConfig {
    /// A listener without TLS (UDP, TCP or WS).
    pub fn new(protocol: Protocol, addr: SocketAddr) -> ListenerConfig {
        ListenerConfig {
            protocol,
            addr,
            tls: None,
            allowed_origins: None,
        }
    }

    /// A UDP listener.
    pub fn udp(addr: SocketAddr) -> ListenerConfig {
        ListenerConfig::new(Protocol::Udp, addr)
    }

    /// A TCP listener.
    pub fn tcp(addr: SocketAddr) -> ListenerConfig {
        ListenerConfig::new(Protocol::Tcp, addr)
    }

    /// A TLS listener.
    pub fn tls(addr: SocketAddr, tls: TlsServerConfig) -> ListenerConfig {
        ListenerConfig {
            protocol: Protocol::Tls,
            addr,
            tls: Some(tls),
            allowed_origins: None,
        }
    }

    /// A WebSocket listener.
    pub fn ws(addr: SocketAddr) -> ListenerConfig {
        ListenerConfig::new(Protocol::Ws, addr)
    }

    /// A secure WebSocket listener.
    pub fn wss(addr: SocketAddr, tls: TlsServerConfig) -> ListenerConfig {
        ListenerConfig {
            protocol: Protocol::Wss,
            addr,
            tls: Some(tls),
            allowed_origins: None,
        }
    }
}

/// Socket options of UDP listeners. Bursts of datagrams are absorbed by
/// the kernel's receive buffer while the receive task is busy, so a
/// server wants it large (the kernel caps it at `net.core.rmem_max`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpOptions {
    /// SO_RCVBUF in bytes; `None` keeps the system default.
    pub recv_buffer_size: Option<usize>,
    /// SO_SNDBUF in bytes; `None` keeps the system default.
    pub send_buffer_size: Option<usize>,
    /// Sockets bound to each UDP address with SO_REUSEPORT, each with its
    /// own receive task, so that several cores share the receiving. The
    /// kernel spreads datagrams over them by source address and port.
    pub sockets_per_listener: usize,
    /// Receive tasks reading each socket. A receive task handles what it
    /// reads before it reads again (the handler runs on it), so one task
    /// is one core; several share one socket as Kamailio's UDP workers
    /// do, whatever the peers' addresses. Datagrams from one peer may
    /// then be handled in another order than they came, which UDP never
    /// promised (RFC 3261 absorbs it: CSeq, transactions, retransmission).
    pub receivers_per_socket: usize,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            recv_buffer_size: Some(4 * 1024 * 1024),
            send_buffer_size: Some(4 * 1024 * 1024),
            sockets_per_listener: 1,
            receivers_per_socket: 1,
        }
    }
}

/// Everything [`crate::Transports::start`] needs.
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// The listeners to open.
    pub listeners: Vec<ListenerConfig>,
    /// Resource limits.
    pub limits: Limits,
    /// Trust roots for TLS and WSS connections this side opens.
    pub tls_client: Option<TlsClientConfig>,
    /// When set, connections this side opened get a keep-alive ping
    /// (CRLF CRLF, or a WebSocket ping) at this interval (RFC 5626
    /// §4.4.1), and a missing pong is logged.
    pub keepalive_interval: Option<Duration>,
    /// UDP socket options.
    pub udp: UdpOptions,
    /// Who gets a copy of every valid message received and every message
    /// sent.
    pub tap: crate::tap::TapSlot,
}
