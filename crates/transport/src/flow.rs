//! Flows and destinations: where a message came from, and where one goes.

use std::fmt;
use std::net::SocketAddr;

use crate::protocol::Protocol;

/// Names one connection (TCP, TLS, WS or WSS) for as long as it is open.
/// Identifiers are never reused within one [`crate::Transports`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl ConnectionId {
    /// The number behind the identifier (for logs and metrics).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a message came from or went: RFC 5626 calls it a flow. A
/// response to a request received on a connection goes back on that
/// connection (RFC 3261 §18.2.2), which is why the flow names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport.
    pub protocol: Protocol,
    /// This side's address: the listener's, or the local end of a
    /// connection.
    pub local: SocketAddr,
    /// The peer's address: a datagram's source, or the remote end of a
    /// connection.
    pub remote: SocketAddr,
    /// The connection, for connection-oriented transports.
    pub connection: Option<ConnectionId>,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.protocol, self.remote, self.local)?;
        if let Some(id) = self.connection {
            write!(f, " {id}")?;
        }
        Ok(())
    }
}

/// Where to send: protocol and address, optionally a connection to reuse
/// and the name a TLS server must prove it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The transport.
    pub protocol: Protocol,
    /// The address to send to, or to connect to when `connection` is
    /// closed or absent.
    pub addr: SocketAddr,
    /// A connection to send on while it is open (RFC 3261 §18.2.2,
    /// RFC 5626 flows).
    pub connection: Option<ConnectionId>,
    /// The server name for TLS (SNI and certificate check). Without it the
    /// certificate must be issued for the IP address.
    pub server_name: Option<String>,
}

impl Destination {
    /// A destination without a connection to reuse or a server name.
    pub fn new(protocol: Protocol, addr: SocketAddr) -> Destination {
        Destination {
            protocol,
            addr,
            connection: None,
            server_name: None,
        }
    }

    /// The same destination, preferring this connection while it is open.
    pub fn with_connection(mut self, connection: ConnectionId) -> Destination {
        self.connection = Some(connection);
        self
    }

    /// The same destination, with the name a TLS server must prove.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Destination {
        self.server_name = Some(name.into());
        self
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.protocol, self.addr)?;
        if let Some(id) = self.connection {
            write!(f, " {id}")?;
        }
        if let Some(name) = &self.server_name {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}
