//! The transports of one SIP stack: the listeners, the open connections,
//! and sending.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use sipjet_message::Message;
use tokio::task::JoinHandle;

use crate::config::TransportConfig;
use crate::connection::{Connection, ConnectionTable, Payload};
use crate::error::TransportError;
use crate::flow::{Destination, Flow};
use crate::handler::Handler;
use crate::protocol::Protocol;
use crate::shared::Shared;
use crate::tap::{Direction, Tapped};
use crate::udp::UdpSender;

/// The running transports: listeners, connections, and the way out.
/// Cheap to clone; every clone drives the same transports.
#[derive(Clone)]
pub struct Transports {
    inner: Arc<Inner>,
}

type ConnectGates = HashMap<(Protocol, SocketAddr), Arc<tokio::sync::Mutex<()>>>;

struct Inner {
    shared: Arc<Shared>,
    listeners: Vec<(Protocol, SocketAddr)>,
    udp: RwLock<Vec<Arc<UdpSender>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// One connect at a time per destination, so that concurrent sends
    /// share one new connection instead of opening several.
    connecting: Mutex<ConnectGates>,
    shut_down: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Transports {
    /// Binds every listener, then starts receiving. Nothing runs when a
    /// listener cannot be bound. Must be called within a tokio runtime.
    pub async fn start(
        config: TransportConfig,
        handler: Arc<dyn Handler>,
    ) -> Result<Transports, TransportError> {
        let shared = Arc::new(Shared {
            handler,
            connections: ConnectionTable::new(&config.limits),
            keepalive_interval: config.keepalive_interval,
            tls_client: config.tls_client.clone(),
            ws_config: crate::ws::config(&config.limits),
            limits: config.limits.clone(),
            tap: config.tap.clone(),
        });
        let mut udp_sockets = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut listeners = Vec::new();
        for l in &config.listeners {
            if l.protocol == Protocol::Udp {
                let count = config.udp.sockets_per_listener.max(1);
                let first = crate::udp::bind(l.addr, &config.udp, count > 1)?;
                let local = first.local_addr().map_err(|source| TransportError::Bind {
                    protocol: l.protocol,
                    addr: l.addr,
                    source,
                })?;
                let mut others = Vec::with_capacity(count - 1);
                for _ in 1..count {
                    others.push(Arc::new(crate::udp::bind(local, &config.udp, true)?));
                }
                udp_sockets.push((local, Arc::new(first), others));
                listeners.push((l.protocol, local));
                continue;
            }
            let tls = match (&l.tls, l.protocol.is_secure()) {
                (Some(tls), true) => Some(tls.clone()),
                (None, true) => {
                    return Err(TransportError::MissingTlsServerConfig {
                        protocol: l.protocol,
                        addr: l.addr,
                    });
                }
                (Some(_), false) => {
                    tracing::warn!(protocol = %l.protocol, addr = %l.addr,
                        "ignoring the TLS configuration of a listener without TLS");
                    None
                }
                (None, false) => None,
            };
            let listener = crate::tcp::bind(l.protocol, l.addr)?;
            let local = listener
                .local_addr()
                .map_err(|source| TransportError::Bind {
                    protocol: l.protocol,
                    addr: l.addr,
                    source,
                })?;
            let admission = crate::tcp::Admission {
                tls,
                allowed_origins: l.allowed_origins.clone().map(Arc::from),
            };
            tcp_listeners.push((l.protocol, local, listener, admission));
            listeners.push((l.protocol, local));
        }

        let mut tasks = Vec::new();
        let mut senders = Vec::new();
        for (local, first, others) in udp_sockets {
            senders.push(Arc::new(UdpSender {
                socket: Arc::clone(&first),
                local,
            }));
            for socket in std::iter::once(first).chain(others) {
                for _ in 0..config.udp.receivers_per_socket.max(1) {
                    tasks.push(tokio::spawn(crate::udp::receive_loop(
                        Arc::clone(&shared),
                        Arc::clone(&socket),
                        local,
                    )));
                }
            }
        }
        for (protocol, local, listener, admission) in tcp_listeners {
            tasks.push(tokio::spawn(crate::tcp::accept_loop(
                Arc::clone(&shared),
                listener,
                protocol,
                local,
                admission,
            )));
        }
        for (protocol, local) in &listeners {
            tracing::info!(%protocol, %local, "listening");
        }
        Ok(Transports {
            inner: Arc::new(Inner {
                shared,
                listeners,
                udp: RwLock::new(senders),
                tasks: Mutex::new(tasks),
                connecting: Mutex::new(HashMap::new()),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// The bound address of every listener (port 0 resolved), in the
    /// order they were configured.
    pub fn local_addrs(&self) -> Vec<(Protocol, SocketAddr)> {
        self.inner.listeners.clone()
    }

    /// The sent-by for the Via of an outgoing request over `protocol`:
    /// the first listener of that protocol. A wildcard listener
    /// (`0.0.0.0`) yields the wildcard: the caller then chooses the
    /// address it advertises.
    pub fn sent_by(&self, protocol: Protocol) -> Option<SocketAddr> {
        self.inner
            .listeners
            .iter()
            .find(|(p, _)| *p == protocol)
            .map(|(_, addr)| *addr)
    }

    /// Sends a message and returns the flow it went on.
    ///
    /// UDP goes out of a listener socket of the destination's address
    /// family. Connection-oriented protocols use `dest.connection` while
    /// it is open, else an open connection to the same protocol and
    /// address, else a new one (TLS with SNI `dest.server_name`,
    /// WebSocket with the `sip` subprotocol), which is read like an
    /// accepted one. When a reused connection turns out to be closed, the
    /// message goes over a new connection to `dest.addr`.
    pub async fn send(
        &self,
        message: &Message,
        dest: &Destination,
    ) -> Result<Flow, TransportError> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(TransportError::ShutDown);
        }
        let data = message.to_bytes();
        let tapped = self.inner.shared.tap.active().map(|_| SystemTime::now());
        let sent = match dest.protocol {
            Protocol::Udp => self.send_udp(&data, dest.addr).await,
            _ => self.send_stream(data.clone(), dest).await,
        };
        if let (Some(at), Ok(flow)) = (tapped, &sent) {
            self.tap_sent(&data, message, flow, at);
        }
        sent
    }

    fn tap_sent(&self, wire: &[u8], message: &Message, flow: &Flow, at: SystemTime) {
        if let Some(tap) = &self.inner.shared.tap.0 {
            tap.on_message(Tapped {
                direction: Direction::Sent,
                wire,
                message,
                flow,
                at,
            });
        }
    }

    /// Sends a UDP message at once, from any thread, without an async
    /// context: the path of every response and retransmission on UDP.
    /// `None` means it could not be done without waiting (not UDP, or the
    /// socket's buffer is full): use [`Transports::send`].
    pub fn try_send(
        &self,
        message: &Message,
        dest: &Destination,
    ) -> Option<Result<Flow, TransportError>> {
        if dest.protocol != Protocol::Udp {
            return None;
        }
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Some(Err(TransportError::ShutDown));
        }
        let sender = {
            let senders = self
                .inner
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            pick_udp_sender(&senders, dest.addr)
        };
        let Some(sender) = sender else {
            return Some(Err(TransportError::NoListener {
                protocol: Protocol::Udp,
                family: if dest.addr.is_ipv4() { "IPv4" } else { "IPv6" },
            }));
        };
        let data = message.to_bytes();
        let tapped = self.inner.shared.tap.active().map(|_| SystemTime::now());
        let sent = sender.try_send(&data, dest.addr, self.inner.shared.limits.max_datagram);
        if let (Some(at), Some(Ok(flow))) = (tapped, &sent) {
            self.tap_sent(&data, message, flow, at);
        }
        sent
    }

    async fn send_udp(&self, data: &[u8], to: SocketAddr) -> Result<Flow, TransportError> {
        let sender = {
            let senders = self
                .inner
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            pick_udp_sender(&senders, to)
        };
        let Some(sender) = sender else {
            return Err(TransportError::NoListener {
                protocol: Protocol::Udp,
                family: if to.is_ipv4() { "IPv4" } else { "IPv6" },
            });
        };
        sender
            .send(data, to, self.inner.shared.limits.max_datagram)
            .await
    }

    async fn send_stream(&self, data: Bytes, dest: &Destination) -> Result<Flow, TransportError> {
        let timeout = self.inner.shared.limits.message_timeout;
        if let Some(conn) = self.open_connection(dest) {
            match conn.send(Payload::Sip(data.clone()), timeout).await {
                Ok(()) => return Ok(conn.flow()),
                Err(e) => {
                    tracing::debug!(connection = %conn.id, error = %e,
                        "sending on an open connection failed; connecting anew");
                }
            }
        }
        let conn = self.connect(dest).await?;
        conn.send(Payload::Sip(data), timeout).await?;
        Ok(conn.flow())
    }

    fn open_connection(&self, dest: &Destination) -> Option<Arc<Connection>> {
        let table = &self.inner.shared.connections;
        dest.connection
            .and_then(|id| table.get(id))
            .filter(|c| c.protocol == dest.protocol)
            .or_else(|| table.find(dest.protocol, dest.addr))
    }

    async fn connect(&self, dest: &Destination) -> Result<Arc<Connection>, TransportError> {
        let key = (dest.protocol, dest.addr);
        let gate = Arc::clone(lock(&self.inner.connecting).entry(key).or_default());
        let result = {
            let _turn = gate.lock().await;
            match self.inner.shared.connections.find(dest.protocol, dest.addr) {
                Some(conn) => Ok(conn),
                None => crate::tcp::open(&self.inner.shared, dest).await,
            }
        };
        let mut gates = lock(&self.inner.connecting);
        // Nobody else holds the gate (the map and this call do): forget it.
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(&key);
        }
        result
    }

    /// Stops accepting and receiving, closes the listeners and every
    /// connection. Sending afterwards fails with
    /// [`TransportError::ShutDown`].
    pub async fn shutdown(&self) {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        self.inner
            .udp
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let connections = self.inner.shared.connections.drain();
        for conn in &connections {
            conn.abort_reader();
        }
        futures_util::future::join_all(connections.iter().map(|c| c.close())).await;
        tracing::info!("transports shut down");
    }
}

/// Dropping the last handle stops the transports like
/// [`Transports::shutdown`], without waiting for connections to close
/// cleanly.
impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).iter() {
            task.abort();
        }
        for conn in self.shared.connections.drain() {
            conn.abort_reader();
        }
    }
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("listeners", &self.inner.listeners)
            .field("shut_down", &self.inner.shut_down.load(Ordering::Relaxed))
            .finish()
    }
}

/// The UDP socket to send to `to` from: one of its address family,
/// preferring one whose address can reach it (a loopback listener cannot
/// send off the host).
fn pick_udp_sender(senders: &[Arc<UdpSender>], to: SocketAddr) -> Option<Arc<UdpSender>> {
    let same_family = senders.iter().filter(|s| s.local.is_ipv4() == to.is_ipv4());
    let fits = |s: &&Arc<UdpSender>| {
        let ip = s.local.ip();
        ip.is_unspecified() || ip.is_loopback() == to.ip().is_loopback()
    };
    same_family
        .clone()
        .find(fits)
        .or_else(|| same_family.clone().next())
        .cloned()
}
