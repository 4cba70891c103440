//! SIP over UDP: listener sockets, the receive loop that hands each
//! datagram to the handler without a task hop or a copy, and sending from
//! the listener socket so that the source port is the listening port
//! (which responses, `rport` and NAT bindings rely on).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;

use crate::config::UdpOptions;
use crate::error::TransportError;
use crate::flow::Flow;
use crate::handler::Incoming;
use crate::inbound::{self, Received};
use crate::protocol::Protocol;
use crate::rfc3581::reply_destination;
use crate::shared::Shared;
use crate::tcp::canonical;

/// RFC 3261 §18.1.1: a request larger than this (or within 200 bytes of
/// the path MTU) must go over a congestion-controlled transport. The
/// transport only reports sizes; choosing TCP is the upper layer's call.
pub const UDP_MTU_THRESHOLD: usize = 1300;

/// The largest payload an IP datagram can carry.
const MAX_UDP_PAYLOAD: usize = 65_535;

/// Binds one UDP socket with the configured buffer sizes. IPv6 sockets
/// are IPv6-only, so that IPv4 and IPv6 listeners can share a port and
/// every address is seen in one form.
pub(crate) fn bind(
    addr: SocketAddr,
    options: &UdpOptions,
    reuse_port: bool,
) -> Result<UdpSocket, TransportError> {
    let bind_error = |source| TransportError::Bind {
        protocol: Protocol::Udp,
        addr,
        source,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(bind_error)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    if reuse_port {
        socket.set_reuse_port(true).map_err(bind_error)?;
    }
    // The kernel caps the sizes at its maximum; a refusal only costs
    // burst tolerance, so it is logged rather than fatal.
    if let Some(size) = options.recv_buffer_size
        && let Err(e) = socket.set_recv_buffer_size(size)
    {
        tracing::warn!(%addr, size, error = %e, "cannot set SO_RCVBUF");
    }
    if let Some(size) = options.send_buffer_size
        && let Err(e) = socket.set_send_buffer_size(size)
    {
        tracing::warn!(%addr, size, error = %e, "cannot set SO_SNDBUF");
    }
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&addr.into()).map_err(bind_error)?;
    UdpSocket::from_std(socket.into()).map_err(bind_error)
}

/// Receives datagrams until the task is aborted; nothing a peer sends
/// ends it.
pub(crate) async fn receive_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>, local: SocketAddr) {
    let limits = &shared.limits;
    let opts = limits.parse_options(false);
    // One byte more than the limit tells an oversized datagram from one
    // of exactly the limit; no datagram exceeds 65,535 bytes.
    let room = limits.max_datagram.min(MAX_UDP_PAYLOAD) + 1;
    let mut buf = BytesMut::with_capacity(room);
    loop {
        buf.clear();
        let (n, source) = match socket.recv_buf_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(%local, error = %e, "UDP receive failed");
                continue;
            }
        };
        // Each message gets an allocation of its own size. Borrowing a
        // shared receive buffer instead saves a copy, but one message
        // held for a transaction's wait state (an INVITE, 32 s) would then
        // keep every datagram received beside it alive: memory that grows
        // with everything received rather than with what is kept.
        let data = Bytes::copy_from_slice(&buf[..n]);
        let source = canonical(source);
        if n > limits.max_datagram {
            tracing::warn!(peer = %source, %local, limit = "max_datagram", value = limits.max_datagram,
                "dropping an oversized datagram");
            continue;
        }
        if inbound::is_keepalive(&data) {
            continue;
        }
        let flow = Flow {
            protocol: Protocol::Udp,
            local,
            remote: source,
            connection: None,
        };
        let wire = shared
            .tap
            .active()
            .map(|_| (data.clone(), std::time::SystemTime::now()));
        match inbound::message(data, &flow, &opts, limits.max_body_bytes) {
            Received::Deliver(message) => {
                if let Some((wire, at)) = &wire {
                    shared.tap_received(wire, &message, &flow, *at);
                }
                shared.handler.on_message(Incoming { message, flow })
            }
            Received::Answer(response) => {
                let dest = reply_destination(&response, &flow);
                if let Err(e) = socket.send_to(&response.to_bytes(), dest.addr).await {
                    tracing::warn!(peer = %dest.addr, error = %e, "cannot send an error response");
                }
            }
            Received::Ignore => {}
        }
    }
}

/// A UDP socket that sends for one listener address.
pub(crate) struct UdpSender {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) local: SocketAddr,
}

impl UdpSender {
    /// Sends one datagram without waiting: `None` when the socket buffer
    /// is full and the caller must fall back to [`UdpSender::send`].
    pub(crate) fn try_send(
        &self,
        data: &[u8],
        to: SocketAddr,
        max_datagram: usize,
    ) -> Option<Result<Flow, TransportError>> {
        if data.len() > max_datagram {
            return Some(Err(TransportError::TooLargeForUdp {
                size: data.len(),
                limit: max_datagram,
            }));
        }
        // Straight to the socket rather than through tokio's readiness
        // flag: a fresh socket is writable before the reactor has said so,
        // and a UDP send either goes out at once or would block.
        match socket2::SockRef::from(&self.socket).send_to(data, &to.into()) {
            Ok(_) => Some(Ok(Flow {
                protocol: Protocol::Udp,
                local: self.local,
                remote: to,
                connection: None,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(source) => Some(Err(TransportError::Send {
                protocol: Protocol::Udp,
                addr: to,
                source,
            })),
        }
    }

    /// Sends one datagram; a message over `max_datagram` is refused
    /// before it reaches the socket.
    pub(crate) async fn send(
        &self,
        data: &[u8],
        to: SocketAddr,
        max_datagram: usize,
    ) -> Result<Flow, TransportError> {
        if data.len() > max_datagram {
            return Err(TransportError::TooLargeForUdp {
                size: data.len(),
                limit: max_datagram,
            });
        }
        match self.socket.send_to(data, to).await {
            Ok(_) => Ok(Flow {
                protocol: Protocol::Udp,
                local: self.local,
                remote: to,
                connection: None,
            }),
            Err(source) => Err(TransportError::Send {
                protocol: Protocol::Udp,
                addr: to,
                source,
            }),
        }
    }
}
