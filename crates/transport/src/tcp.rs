//! TCP underneath every connection-oriented transport: the accept loop of
//! TCP, TLS, WS and WSS listeners, and the connections this side opens to
//! send. Both run the TLS and WebSocket handshakes the protocol needs
//! within `message_timeout` (and an accepted connection within its
//! `first_message_timeout`), then register the connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::connection::{self, BoxIo, Connection, Link, Origin};
use crate::error::TransportError;
use crate::flow::Destination;
use crate::limits::{ConnectionPermit, deadline};
use crate::protocol::Protocol;
use crate::shared::Shared;
use crate::tls::{self, TlsServerConfig};

/// Pause after a failed accept (out of file descriptors, ...), so that a
/// persistent failure does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A peer's address as the rest of the stack should see it: an
/// IPv4-mapped IPv6 address is the IPv4 address.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

pub(crate) fn bind(protocol: Protocol, addr: SocketAddr) -> Result<TcpListener, TransportError> {
    let bind_error = |source| TransportError::Bind {
        protocol,
        addr,
        source,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(bind_error)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    // A restarted server must be able to listen again while connections
    // of its predecessor sit in TIME_WAIT.
    socket.set_reuse_address(true).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&addr.into()).map_err(bind_error)?;
    socket.listen(1024).map_err(bind_error)?;
    TcpListener::from_std(socket.into()).map_err(bind_error)
}

/// What a stream listener asks of the connections it accepts.
#[derive(Clone)]
pub(crate) struct Admission {
    /// Its certificate and key (TLS and WSS).
    pub(crate) tls: Option<TlsServerConfig>,
    /// The origins whose pages may open a WebSocket (`None`: any).
    pub(crate) allowed_origins: Option<Arc<[String]>>,
}

/// Accepts connections until the task is aborted. A connection over the
/// caps is closed at once, before any handshake.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    protocol: Protocol,
    local: SocketAddr,
    admission: Admission,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%protocol, %local, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let accepted = Instant::now();
        let peer = canonical(peer);
        let permit = match shared.connections.admit(Some(peer.ip())) {
            Ok(permit) => permit,
            Err(refusal) => {
                tracing::warn!(%peer, %protocol, limit = %refusal,
                    "refusing a connection: connection limit reached");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let admission = admission.clone();
        tokio::spawn(async move {
            if let Err(e) =
                accept_one(&shared, tcp, protocol, peer, admission, permit, accepted).await
            {
                tracing::info!(%peer, %protocol, error = %e, "connection refused during handshake");
            }
        });
    }
}

async fn accept_one(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    protocol: Protocol,
    peer: SocketAddr,
    admission: Admission,
    permit: ConnectionPermit,
    accepted: Instant,
) -> Result<(), TransportError> {
    let local = tcp
        .local_addr()
        .map(canonical)
        .map_err(|source| TransportError::Connect {
            protocol,
            addr: peer,
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let handshake_failed = |reason: String| TransportError::Handshake {
        protocol,
        addr: peer,
        reason,
    };
    let handshakes = async {
        let io: BoxIo = match (&admission.tls, protocol.is_secure()) {
            (Some(cfg), true) => Box::new(
                tls::accept(cfg, tcp)
                    .await
                    .map_err(|e| handshake_failed(e.to_string()))?,
            ),
            _ => Box::new(tcp),
        };
        Ok::<_, TransportError>(if protocol.is_websocket() {
            Link::WebSocket(Box::new(
                crate::ws::accept(io, shared.ws_config, admission.allowed_origins.as_deref())
                    .await
                    .map_err(|e| handshake_failed(e.to_string()))?,
            ))
        } else {
            Link::Stream(io)
        })
    };
    // The handshakes count toward the first message's deadline.
    let limits = &shared.limits;
    let first_message_by = deadline(accepted, limits.first_message_timeout);
    let handshake_by = deadline(accepted, limits.message_timeout);
    let link = match tokio::time::timeout_at(handshake_by.min(first_message_by), handshakes).await {
        Ok(link) => link?,
        Err(_) => {
            let (limit, value) = if first_message_by < handshake_by {
                ("first_message_timeout", limits.first_message_timeout)
            } else {
                ("message_timeout", limits.message_timeout)
            };
            tracing::warn!(%peer, %protocol, limit, value = ?value,
                "closing a connection whose handshake did not complete");
            return Err(handshake_failed("timed out".into()));
        }
    };
    connection::register(
        shared,
        link,
        protocol,
        local,
        peer,
        permit,
        Origin::Accepted { first_message_by },
    )?;
    Ok(())
}

/// Opens a connection to `dest`, runs its handshakes and registers it;
/// responses and requests that come back on it reach the handler like
/// those on accepted connections.
pub(crate) async fn open(
    shared: &Arc<Shared>,
    dest: &Destination,
) -> Result<Arc<Connection>, TransportError> {
    let protocol = dest.protocol;
    let addr = dest.addr;
    let permit = shared.connections.admit(None).map_err(|_| {
        tracing::warn!(peer = %addr, %protocol, limit = "max_connections",
            value = shared.limits.max_connections, "cannot open a connection: connection limit reached");
        TransportError::ConnectionLimit {
            protocol,
            addr,
            limit: shared.limits.max_connections,
        }
    })?;
    let tls_config = match (protocol.is_secure(), &shared.tls_client) {
        (false, _) => None,
        (true, Some(cfg)) => Some((cfg, tls::server_name(dest.server_name.as_deref(), addr)?)),
        (true, None) => return Err(TransportError::MissingTlsClientConfig(protocol)),
    };
    let connect_error = |source| TransportError::Connect {
        protocol,
        addr,
        source,
    };
    let handshakes = async {
        let tcp = TcpStream::connect(addr).await.map_err(connect_error)?;
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().map(canonical).map_err(connect_error)?;
        let io: BoxIo = match tls_config {
            Some((cfg, name)) => Box::new(tls::connect(cfg, protocol, addr, name, tcp).await?),
            None => Box::new(tcp),
        };
        let link = if protocol.is_websocket() {
            Link::WebSocket(Box::new(
                crate::ws::connect(
                    io,
                    protocol,
                    addr,
                    dest.server_name.as_deref(),
                    shared.ws_config,
                )
                .await?,
            ))
        } else {
            Link::Stream(io)
        };
        Ok::<_, TransportError>((link, local))
    };
    let (link, local) = tokio::time::timeout(shared.limits.message_timeout, handshakes)
        .await
        .map_err(|_| {
            connect_error(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
        })??;
    connection::register(
        shared,
        link,
        protocol,
        local,
        canonical(addr),
        permit,
        Origin::Opened,
    )
}
