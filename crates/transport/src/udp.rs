//! SIP over UDP: listener sockets, the threads that receive on them and
//! hand each datagram to the handler without a task hop, and sending from
//! the listener socket so that the source port is the listening port
//! (which responses, `rport` and NAT bindings rely on).
//!
//! Requests are handled where they are received, so one receiver is one
//! core's worth, and several share each socket (as Kamailio's UDP workers
//! do). They are threads blocked in `recvfrom` rather than tasks of the
//! runtime: the kernel wakes one blocked receiver for each datagram,
//! where every task waiting on a socket's readiness is woken, and the
//! runtime hands wake-ups between its workers. Measured with `sipload`
//! on two cores, the same load over UDP took 5% fewer CPU ticks
//! (REGISTER, 8,000/s) and 7% fewer (OPTIONS, 30,000/s) than with
//! receive tasks. So the socket is blocking, and sends on it ask not to
//! wait (`MSG_DONTWAIT`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

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
/// every address is seen in one form. The socket blocks: its receivers
/// wait in `recvfrom`.
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
    socket.bind(&addr.into()).map_err(bind_error)?;
    Ok(socket.into())
}

/// The threads receiving on one socket.
pub(crate) struct Receivers {
    socket: Arc<UdpSocket>,
    stopping: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Receivers {
    /// Starts `count` receivers on `socket`; they run the handler within
    /// `runtime`, as a task would.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        socket: &Arc<UdpSocket>,
        local: SocketAddr,
        count: usize,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Receivers, TransportError> {
        let mut receivers = Receivers {
            socket: Arc::clone(socket),
            stopping: Arc::new(AtomicBool::new(false)),
            threads: Vec::with_capacity(count),
        };
        for _ in 0..count {
            let (shared, socket, stopping, runtime) = (
                Arc::clone(shared),
                Arc::clone(socket),
                Arc::clone(&receivers.stopping),
                runtime.clone(),
            );
            let thread = std::thread::Builder::new()
                .name("sip-udp".into())
                .spawn(move || {
                    let _runtime = runtime.enter();
                    receive_loop(&shared, &socket, local, &stopping);
                });
            match thread {
                Ok(thread) => receivers.threads.push(thread),
                Err(source) => {
                    receivers.stop();
                    return Err(TransportError::Bind {
                        protocol: Protocol::Udp,
                        addr: local,
                        source,
                    });
                }
            }
        }
        Ok(receivers)
    }

    /// Stops the receivers: shutting the socket's receiving side wakes
    /// every one blocked in `recvfrom` (it returns at once from then on),
    /// and they see they are to stop. Waits for them to end, so that the
    /// socket is closed once the last handle to it goes.
    pub(crate) fn stop(&mut self) {
        self.signal();
        for thread in self.threads.drain(..) {
            // A receiver that panicked has ended too.
            let _ = thread.join();
        }
    }

    /// Tells the receivers to stop without waiting for them.
    pub(crate) fn signal(&self) {
        self.stopping.store(true, Ordering::Release);
        // On an unconnected UDP socket Linux answers ENOTCONN, having shut
        // the receiving side and woken its waiters all the same.
        let _ = socket2::SockRef::from(&*self.socket).shutdown(std::net::Shutdown::Read);
    }
}

/// Receives datagrams until told to stop; nothing a peer sends ends it.
fn receive_loop(shared: &Shared, socket: &UdpSocket, local: SocketAddr, stopping: &AtomicBool) {
    let limits = &shared.limits;
    let opts = limits.parse_options(false);
    // One byte more than the limit tells an oversized datagram from one
    // of exactly the limit; no datagram exceeds 65,535 bytes.
    let room = limits.max_datagram.min(MAX_UDP_PAYLOAD) + 1;
    let mut buf = vec![0u8; room];
    loop {
        let received = socket.recv_from(&mut buf);
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let (n, source) = match received {
            Ok(received) => received,
            Err(e) => {
                tracing::warn!(%local, error = %e, "UDP receive failed");
                continue;
            }
        };
        // Each message gets an allocation of its own size: one message
        // held for a transaction's wait state (an INVITE, 32 s) must not
        // keep a larger receive buffer alive.
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
                if let Err(e) = socket.send_to(&response.to_bytes(), dest.addr) {
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
        // The socket blocks (for its receivers): this send must not.
        match socket2::SockRef::from(&*self.socket).send_to_with_flags(
            data,
            &to.into(),
            libc::MSG_DONTWAIT,
        ) {
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
        if let Some(sent) = self.try_send(data, to, max_datagram) {
            return sent;
        }
        // The socket's buffer is full: wait for room on a thread that may
        // block.
        let (socket, data) = (Arc::clone(&self.socket), data.to_vec());
        let sent = tokio::task::spawn_blocking(move || socket.send_to(&data, to)).await;
        match sent.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
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
