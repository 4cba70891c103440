//! Open connections (TCP, TLS, WS, WSS): the write side that every sender
//! shares, the table that finds a connection by id or by peer, and the
//! registration that starts a connection's receive task.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sipjet_message::{ParseError, ParseOptions};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tracing::Instrument;

use crate::error::TransportError;
use crate::flow::{ConnectionId, Flow};
use crate::handler::Incoming;
use crate::inbound::{self, Received};
use crate::limits::{ConnectionCounter, ConnectionPermit, Limits, Refusal};
use crate::liveness::Liveness;
use crate::protocol::Protocol;
use crate::shared::Shared;

/// A byte stream a connection runs on: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T> Io for T where T: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

/// Boxed so that one receive loop serves TCP and both TLS sides.
pub(crate) type BoxIo = Box<dyn Io>;
pub(crate) type WsStream = WebSocketStream<BoxIo>;

/// A connection once its TLS and WebSocket handshakes are done.
pub(crate) enum Link {
    /// SIP framed by Content-Length (TCP, TLS).
    Stream(BoxIo),
    /// One SIP message per WebSocket message (WS, WSS); boxed, as the
    /// WebSocket state is large.
    WebSocket(Box<WsStream>),
}

/// The receive side of a [`Link`].
pub(crate) enum Reader {
    Stream(ReadHalf<BoxIo>),
    WebSocket(SplitStream<WsStream>),
}

/// What is written on a connection.
#[derive(Debug)]
pub(crate) enum Payload {
    /// A serialized SIP message.
    Sip(Bytes),
    /// A keep-alive ping: CRLF CRLF on streams (RFC 5626 §4.4.1), a ping
    /// frame on WebSocket.
    Ping,
    /// The answer to a CRLF CRLF ping: one CRLF.
    Pong,
}

enum Writer {
    Stream(WriteHalf<BoxIo>),
    WebSocket(SplitSink<WsStream, WsMessage>),
}

impl Writer {
    async fn write(&mut self, payload: Payload) -> io::Result<()> {
        match self {
            Writer::Stream(w) => {
                let bytes: &[u8] = match &payload {
                    Payload::Sip(b) => b,
                    Payload::Ping => b"\r\n\r\n",
                    Payload::Pong => b"\r\n",
                };
                w.write_all(bytes).await?;
                w.flush().await
            }
            Writer::WebSocket(sink) => {
                // RFC 7118 §5.2: text frames for UTF-8 messages, binary
                // frames for the others.
                let msg = match payload {
                    Payload::Sip(b) => match Utf8Bytes::try_from(b.clone()) {
                        Ok(text) => WsMessage::Text(text),
                        Err(_) => WsMessage::Binary(b),
                    },
                    Payload::Ping => WsMessage::Ping(Bytes::new()),
                    Payload::Pong => WsMessage::Text(Utf8Bytes::from_static("\r\n")),
                };
                sink.send(msg).await.map_err(ws_io_error)
            }
        }
    }

    async fn shutdown(&mut self) {
        let result = match self {
            Writer::Stream(w) => w.shutdown().await,
            Writer::WebSocket(sink) => sink.close().await.map_err(ws_io_error),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "closing the write side failed");
        }
    }
}

pub(crate) fn ws_io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// How long closing waits for the peer: a close must not hang on a peer
/// that neither reads nor closes.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// One open connection.
pub(crate) struct Connection {
    pub(crate) id: ConnectionId,
    pub(crate) protocol: Protocol,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// `None` once closed; the lock keeps messages whole on the wire.
    writer: tokio::sync::Mutex<Option<Writer>>,
    opened: Instant,
    /// Milliseconds from `opened` to the last write, for the idle timer.
    last_sent_ms: AtomicU64,
    reader: Mutex<Option<AbortHandle>>,
    _permit: ConnectionPermit,
}

impl Connection {
    pub(crate) fn flow(&self) -> Flow {
        Flow {
            protocol: self.protocol,
            local: self.local,
            remote: self.remote,
            connection: Some(self.id),
        }
    }

    /// When this side last wrote on the connection.
    pub(crate) fn last_sent(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_sent_ms.load(Ordering::Relaxed))
    }

    fn closed_error(&self) -> TransportError {
        TransportError::ConnectionClosed {
            protocol: self.protocol,
            id: self.id,
            addr: self.remote,
        }
    }

    /// Writes one payload, waiting at most `timeout` for the peer to take
    /// it. A failed or timed-out write closes the connection: a partial
    /// message has desynchronised the stream.
    pub(crate) async fn send(
        &self,
        payload: Payload,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let result = self.write(payload, timeout).await;
        match &result {
            Ok(()) => {
                let ms = self.opened.elapsed().as_millis();
                self.last_sent_ms
                    .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
            Err(_) => self.abort_reader(),
        }
        result
    }

    async fn write(&self, payload: Payload, timeout: Duration) -> Result<(), TransportError> {
        let send_error = |source| TransportError::Send {
            protocol: self.protocol,
            addr: self.remote,
            source,
        };
        let timed_out = || {
            tracing::warn!(peer = %self.remote, connection = %self.id, limit = "message_timeout",
                value = ?timeout, "closing the connection: the peer does not take what is written");
            send_error(io::Error::new(io::ErrorKind::TimedOut, "write timed out"))
        };
        let mut writer = tokio::time::timeout(timeout, self.writer.lock())
            .await
            .map_err(|_| timed_out())?;
        let Some(w) = writer.as_mut() else {
            return Err(self.closed_error());
        };
        let outcome = tokio::time::timeout(timeout, w.write(payload)).await;
        if !matches!(outcome, Ok(Ok(()))) {
            // Part of a message may be on the wire: nothing more may follow.
            *writer = None;
        }
        match outcome {
            Ok(result) => result.map_err(send_error),
            Err(_) => Err(timed_out()),
        }
    }

    /// Hands one received message to the handler, or answers it.
    pub(crate) async fn receive(
        &self,
        shared: &Shared,
        data: Bytes,
        opts: &ParseOptions,
    ) -> Result<(), TransportError> {
        let flow = self.flow();
        let wire = shared
            .tap
            .active()
            .map(|_| (data.clone(), std::time::SystemTime::now()));
        match inbound::message(data, &flow, opts, shared.limits.max_body_bytes) {
            Received::Deliver(message) => {
                if let Some((wire, at)) = &wire {
                    shared.tap_received(wire, &message, &flow, *at);
                }
                shared.handler.on_message(Incoming { message, flow })
            }
            Received::Answer(response) => {
                self.send(
                    Payload::Sip(response.to_bytes()),
                    shared.limits.message_timeout,
                )
                .await?;
            }
            Received::Ignore => {}
        }
        Ok(())
    }

    /// Closes the write side (FIN, TLS close_notify or WebSocket close).
    pub(crate) async fn close(&self) {
        let taken = match tokio::time::timeout(CLOSE_WAIT, self.writer.lock()).await {
            Ok(mut writer) => writer.take(),
            Err(_) => None,
        };
        if let Some(mut w) = taken {
            let _ = tokio::time::timeout(CLOSE_WAIT, w.shutdown()).await;
        }
    }

    fn set_reader(&self, handle: AbortHandle) {
        *self.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
    }

    /// Stops the receive task, which takes the connection out of the
    /// table as it ends.
    pub(crate) fn abort_reader(&self) {
        if let Some(h) = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            h.abort();
        }
    }
}

/// Why a connection's receive loop ended.
#[derive(Debug)]
pub(crate) enum Closed {
    /// The peer closed it.
    ByPeer,
    /// Reading failed.
    ReadFailed(io::Error),
    /// Writing failed.
    WriteFailed(TransportError),
    /// Nothing was received or sent for `idle_timeout`.
    Idle,
    /// A message did not complete within `message_timeout`.
    MessageTimeout,
    /// An accepted connection delivered no message within
    /// `first_message_timeout`.
    FirstMessageTimeout,
    /// The bytes received cannot be framed; the stream is desynchronised.
    Unframable(ParseError),
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closed::ByPeer => f.write_str("closed by the peer"),
            Closed::ReadFailed(e) => write!(f, "read failed: {e}"),
            Closed::WriteFailed(e) => write!(f, "{e}"),
            Closed::Idle => f.write_str("idle timeout"),
            Closed::MessageTimeout => f.write_str("message timeout"),
            Closed::FirstMessageTimeout => {
                f.write_str("no message within the first message timeout")
            }
            Closed::Unframable(e) => write!(f, "cannot frame the stream: {e}"),
        }
    }
}

impl From<TransportError> for Closed {
    fn from(e: TransportError) -> Self {
        Closed::WriteFailed(e)
    }
}

#[derive(Default)]
struct Table {
    by_id: HashMap<ConnectionId, Arc<Connection>>,
    by_peer: HashMap<(Protocol, SocketAddr), ConnectionId>,
    closed: bool,
}

/// Every open connection, by id and by (protocol, peer address).
pub(crate) struct ConnectionTable {
    counter: Arc<ConnectionCounter>,
    next_id: AtomicU64,
    table: Mutex<Table>,
}

impl ConnectionTable {
    pub(crate) fn new(limits: &Limits) -> ConnectionTable {
        ConnectionTable {
            counter: ConnectionCounter::new(limits),
            next_id: AtomicU64::new(1),
            table: Mutex::new(Table::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection under the caps: accepted ones name their
    /// peer's address, the ones this side opens do not.
    pub(crate) fn admit(&self, peer: Option<IpAddr>) -> Result<ConnectionPermit, Refusal> {
        self.counter.admit(peer)
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<Arc<Connection>> {
        self.lock().by_id.get(&id).cloned()
    }

    /// The latest connection of this protocol with this peer.
    pub(crate) fn find(&self, protocol: Protocol, remote: SocketAddr) -> Option<Arc<Connection>> {
        let table = self.lock();
        let id = table.by_peer.get(&(protocol, remote))?;
        table.by_id.get(id).cloned()
    }

    fn insert(&self, conn: &Arc<Connection>) -> bool {
        let mut table = self.lock();
        if table.closed {
            return false;
        }
        table.by_peer.insert((conn.protocol, conn.remote), conn.id);
        table.by_id.insert(conn.id, Arc::clone(conn));
        true
    }

    fn remove(&self, id: ConnectionId) {
        let mut table = self.lock();
        if let Some(conn) = table.by_id.remove(&id) {
            let key = (conn.protocol, conn.remote);
            if table.by_peer.get(&key) == Some(&id) {
                table.by_peer.remove(&key);
            }
        }
    }

    /// Takes every connection out and refuses new ones (shutdown).
    pub(crate) fn drain(&self) -> Vec<Arc<Connection>> {
        let mut table = self.lock();
        table.closed = true;
        table.by_peer.clear();
        table.by_id.drain().map(|(_, c)| c).collect()
    }
}

/// Takes a connection out of the table when its receive task ends, even
/// when the task is aborted.
struct Registered {
    shared: Arc<Shared>,
    id: ConnectionId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.connections.remove(self.id);
    }
}

/// Where a connection came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Accepted by a listener; closed unless a whole message has arrived
    /// by `first_message_by` (`first_message_timeout` after the accept).
    Accepted { first_message_by: Instant },
    /// Opened by this side to send; gets keep-alive pings when
    /// configured.
    Opened,
}

/// Puts a connection in the table and starts its receive task.
pub(crate) fn register(
    shared: &Arc<Shared>,
    link: Link,
    protocol: Protocol,
    local: SocketAddr,
    remote: SocketAddr,
    permit: ConnectionPermit,
    origin: Origin,
) -> Result<Arc<Connection>, TransportError> {
    let id = ConnectionId(shared.connections.next_id.fetch_add(1, Ordering::Relaxed));
    let (writer, reader) = match link {
        Link::Stream(io) => {
            let (r, w) = tokio::io::split(io);
            (Writer::Stream(w), Reader::Stream(r))
        }
        Link::WebSocket(ws) => {
            let (sink, stream) = (*ws).split();
            (Writer::WebSocket(sink), Reader::WebSocket(stream))
        }
    };
    let conn = Arc::new(Connection {
        id,
        protocol,
        local,
        remote,
        writer: tokio::sync::Mutex::new(Some(writer)),
        opened: Instant::now(),
        last_sent_ms: AtomicU64::new(0),
        reader: Mutex::new(None),
        _permit: permit,
    });
    if !shared.connections.insert(&conn) {
        return Err(TransportError::ShutDown);
    }
    tracing::debug!(%id, %protocol, peer = %remote, ?origin, "connection open");
    let registered = Registered {
        shared: Arc::clone(shared),
        id,
    };
    let span = tracing::info_span!("connection", %id, %protocol, peer = %remote);
    let task = tokio::spawn(serve(registered, Arc::clone(&conn), reader, origin).instrument(span));
    conn.set_reader(task.abort_handle());
    Ok(conn)
}

async fn serve(registered: Registered, conn: Arc<Connection>, reader: Reader, origin: Origin) {
    let shared = Arc::clone(&registered.shared);
    // Pings on connections this side opened; a first message deadline on
    // those it accepted.
    let (keepalive, first_message_by) = match origin {
        Origin::Opened => (shared.keepalive_interval, None),
        Origin::Accepted { first_message_by } => (None, Some(first_message_by)),
    };
    let liveness = Liveness::new(&shared.limits, keepalive, first_message_by, Instant::now());
    let closed = match reader {
        Reader::Stream(r) => crate::stream::serve(&shared, &conn, r, liveness).await,
        Reader::WebSocket(s) => crate::ws::serve(&shared, &conn, s, liveness).await,
    };
    tracing::debug!(reason = %closed, "connection closed");
    conn.close().await;
    drop(registered);
}
