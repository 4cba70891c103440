//! Transport errors. Each names what failed and where, so that a log line
//! or an upper layer's decision (try the next destination, answer 503)
//! needs nothing else.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::flow::ConnectionId;
use crate::protocol::Protocol;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A listener could not be opened.
    #[error("cannot listen on {protocol} {addr}: {source}")]
    Bind {
        /// The listener's protocol.
        protocol: Protocol,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        source: io::Error,
    },
    /// A TLS or WSS listener was configured without certificate and key.
    #[error("the {protocol} listener on {addr} needs a TLS server configuration")]
    MissingTlsServerConfig {
        /// The listener's protocol.
        protocol: Protocol,
        /// Its address.
        addr: SocketAddr,
    },
    /// A PEM file could not be read.
    #[error("cannot read {what} from {path}: {source}")]
    PemFile {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// PEM text holds no usable item, or a malformed one.
    #[error("PEM {what}: {reason}")]
    Pem {
        /// What the text should hold.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificates or the key.
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
    /// Sending over TLS or WSS without a client configuration.
    #[error("sending over {0} needs a TLS client configuration (trust roots)")]
    MissingTlsClientConfig(Protocol),
    /// A name that cannot be a TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    InvalidServerName(String),
    /// No listener of the protocol and address family to send from.
    #[error("no {protocol} listener for {family} to send from")]
    NoListener {
        /// The protocol asked for.
        protocol: Protocol,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// A message larger than a datagram may be (RFC 3261 §18.1.1 has the
    /// upper layer choose a congestion-controlled transport instead).
    #[error("message of {size} bytes is too large for UDP (limit {limit} bytes)")]
    TooLargeForUdp {
        /// The message size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A connection could not be opened.
    #[error("cannot connect {protocol} to {addr}: {source}")]
    Connect {
        /// The protocol.
        protocol: Protocol,
        /// The peer.
        addr: SocketAddr,
        /// The system's reason (refused, unreachable, timed out, ...).
        source: io::Error,
    },
    /// A TLS or WebSocket handshake failed.
    #[error("{protocol} handshake with {addr} failed: {reason}")]
    Handshake {
        /// The protocol.
        protocol: Protocol,
        /// The peer.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The connection closed before or while the message was written.
    #[error("{protocol} connection {id} to {addr} is closed")]
    ConnectionClosed {
        /// The protocol.
        protocol: Protocol,
        /// The connection.
        id: ConnectionId,
        /// The peer.
        addr: SocketAddr,
    },
    /// Writing or sending failed.
    #[error("cannot send over {protocol} to {addr}: {source}")]
    Send {
        /// The protocol.
        protocol: Protocol,
        /// The peer.
        addr: SocketAddr,
        /// The reason.
        source: io::Error,
    },
    /// The limit on open connections is reached.
    #[error(
        "cannot open a {protocol} connection to {addr}: the limit of {limit} connections is reached"
    )]
    ConnectionLimit {
        /// The protocol.
        protocol: Protocol,
        /// The peer.
        addr: SocketAddr,
        /// The configured limit.
        limit: usize,
    },
    /// The transports were shut down.
    #[error("the transports are shut down")]
    ShutDown,
    /// A URI (or a name it leads to) that RFC 3263 cannot turn into
    /// destinations.
    #[error("cannot resolve {target}: {reason}")]
    Unresolvable {
        /// The URI or the name.
        target: String,
        /// Why.
        reason: String,
    },
    /// A DNS query failed for a reason other than the name having no
    /// such record.
    #[error("DNS {record} query for {name} failed: {reason}")]
    Dns {
        /// The record type (NAPTR, SRV, A/AAAA).
        record: &'static str,
        /// The name queried.
        name: String,
        /// The resolver's reason.
        reason: String,
    },
    /// The system resolver configuration could not be read.
    #[error("cannot read the system DNS configuration: {0}")]
    ResolverConfig(String),
}
