//! The receive loop of byte-stream connections (TCP, TLS): frames
//! messages by Content-Length (RFC 3261 §18.3), answers keep-alive pings
//! (RFC 5626 §4.4.1), and enforces the size limits, and the time limits
//! that `liveness` keeps.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use sipjet_message::framing::{self, Frame};
use sipjet_message::{ParseError, ParseOptions};
use tokio::io::{AsyncReadExt, ReadHalf};

use crate::connection::{BoxIo, Closed, Connection, Payload};
use crate::inbound::{self, Received};
use crate::liveness::{self, Liveness};
use crate::shared::Shared;

/// Spare room kept in the receive buffer for each read.
const READ_RESERVE: usize = 16 * 1024;

/// The most bytes read and discarded while waiting for a refused peer to
/// close, so that it sees the answer rather than a reset.
const LINGER_BYTES: usize = 256 * 1024;

/// Reads and dispatches until the connection ends, within the time
/// limits `liveness` keeps; says why it ended.
pub(crate) async fn serve(
    shared: &Shared,
    conn: &Connection,
    mut reader: ReadHalf<BoxIo>,
    mut liveness: Liveness,
) -> Closed {
    let limits = &shared.limits;
    let frame_limits = limits.frame_limits();
    let opts = limits.parse_options(true);
    let mut buf = BytesMut::with_capacity(READ_RESERVE);
    loop {
        let mut framed = false;
        loop {
            let frame = framing::frame(&buf, &frame_limits);
            framed |= matches!(
                frame,
                Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Message { .. })
            );
            match frame {
                Ok(Frame::NeedMore) => break,
                Ok(Frame::Ping(n)) => {
                    buf.advance(n);
                    if let Err(e) = conn.send(Payload::Pong, limits.message_timeout).await {
                        return e.into();
                    }
                }
                Ok(Frame::Pong(n)) => {
                    buf.advance(n);
                    liveness.pong();
                }
                Ok(Frame::Message { len, .. }) => {
                    liveness.message();
                    // A copy of its own size, so that a message kept
                    // for long does not keep the read buffer (and every
                    // message read into it) alive; see the UDP receiver.
                    let data = Bytes::copy_from_slice(&buf[..len]);
                    buf.advance(len);
                    if let Err(e) = conn.receive(shared, data, &opts).await {
                        return e.into();
                    }
                }
                Err(e) => {
                    refuse_unframable(shared, conn, buf, &e).await;
                    linger(&mut reader).await;
                    return Closed::Unframable(e);
                }
            }
        }
        liveness.framed(!buf.is_empty(), framed);
        if buf.capacity() - buf.len() < READ_RESERVE / 4 {
            buf.reserve(READ_RESERVE);
        }
        let read = reader.read_buf(&mut buf);
        match liveness::within_limits(read, &mut liveness, shared, conn).await {
            Err(closed) => return closed,
            Ok(Ok(0)) => return Closed::ByPeer,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Closed::ReadFailed(e),
        }
    }
}

/// Answers a request that cannot be framed when its head is readable
/// (`413` for a body over the limit, `400` without Content-Length), and
/// closes the write side.
async fn refuse_unframable(shared: &Shared, conn: &Connection, buf: BytesMut, error: &ParseError) {
    let limits = &shared.limits;
    match error {
        ParseError::HeadersTooLarge { .. } => {
            tracing::warn!(peer = %conn.remote, connection = %conn.id, limit = "max_header_bytes",
                value = limits.max_header_bytes, "closing the connection: header section too large");
        }
        ParseError::BodyTooLarge { size, .. } => {
            tracing::warn!(peer = %conn.remote, connection = %conn.id, limit = "max_body_bytes",
                value = limits.max_body_bytes, size, "closing the connection: body too large");
        }
        other => {
            tracing::warn!(peer = %conn.remote, connection = %conn.id, error = %other,
                "closing the connection: the stream cannot be framed");
        }
    }
    // The head may break the very limits being reported; what it may
    // hold is bounded by the buffer, which framing kept near the limits.
    let opts = ParseOptions {
        max_headers: buf.len(),
        max_line: buf.len(),
        stream: true,
    };
    if let Received::Answer(response) =
        inbound::unparsable(buf.freeze(), error, &conn.flow(), &opts)
    {
        let _ = conn
            .send(Payload::Sip(response.to_bytes()), limits.message_timeout)
            .await;
    }
    conn.close().await;
}

/// Reads and discards what the peer still sends until it closes (for a
/// short while), so that closing does not reset the connection before
/// the peer has read the answer.
async fn linger(reader: &mut ReadHalf<BoxIo>) {
    let mut sink = [0u8; 4096];
    let mut discarded = 0;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while discarded < LINGER_BYTES {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}
