//! HEP version 3 (the Homer Encapsulation Protocol, what Homer and sngrep
//! ingest): every message the transports see, sent over UDP to a capture
//! server.
//!
//! A HEPv3 packet is `HEP3`, its total length, then chunks: each a vendor
//! (0, generic), a type, its own length (header included) and a value, in
//! network byte order. Sending never waits on the SIP path: packets go
//! through a bounded queue to one task, and when the queue is full they
//! are dropped and counted.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sipjet_core::Protocol;
use sipjet_core::transport::{Direction, Tapped};
use tokio::sync::mpsc;

/// Packets queued for the capture server at most.
const QUEUE: usize = 4096;

/// Chunk types of the generic vendor (HEPv3).
mod chunk {
    pub const IP_FAMILY: u16 = 0x0001;
    pub const IP_PROTOCOL: u16 = 0x0002;
    pub const IPV4_SRC: u16 = 0x0003;
    pub const IPV4_DST: u16 = 0x0004;
    pub const IPV6_SRC: u16 = 0x0005;
    pub const IPV6_DST: u16 = 0x0006;
    pub const SRC_PORT: u16 = 0x0007;
    pub const DST_PORT: u16 = 0x0008;
    pub const TIME_SECONDS: u16 = 0x0009;
    pub const TIME_MICROS: u16 = 0x000a;
    pub const PROTOCOL_TYPE: u16 = 0x000b;
    pub const CAPTURE_ID: u16 = 0x000c;
    pub const PAYLOAD: u16 = 0x000f;
}

/// `AF_INET` and `AF_INET6` as HEP writes them.
const FAMILY_V4: u8 = 2;
const FAMILY_V6: u8 = 10;
/// IP protocol numbers.
const UDP: u8 = 17;
const TCP: u8 = 6;
/// HEP's protocol type for SIP.
const SIP: u8 = 1;

/// What one packet says.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Who sent the message.
    pub src: SocketAddr,
    /// Who it went to.
    pub dst: SocketAddr,
    /// Its transport.
    pub protocol: Protocol,
    /// When it was seen.
    pub at: SystemTime,
    /// The capture agent's id.
    pub capture_id: u32,
    /// The message.
    pub payload: &'a [u8],
}

fn put(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    // Six bytes of chunk header; a payload is at most a SIP message, far
    // below 64 KiB (the encoder refuses larger ones).
    out.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The HEPv3 packet; `None` when the message is too large for one (a
/// HEP length is 16 bits).
pub fn encode(p: &Packet<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(p.payload.len() + 128);
    out.extend_from_slice(b"HEP3");
    out.extend_from_slice(&[0, 0]);
    let (src, dst) = (canonical(p.src.ip()), canonical(p.dst.ip()));
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            put(&mut out, chunk::IP_FAMILY, &[FAMILY_V4]);
            put(&mut out, chunk::IP_PROTOCOL, &[ip_protocol(p.protocol)]);
            put(&mut out, chunk::IPV4_SRC, &s.octets());
            put(&mut out, chunk::IPV4_DST, &d.octets());
        }
        _ => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            put(&mut out, chunk::IP_FAMILY, &[FAMILY_V6]);
            put(&mut out, chunk::IP_PROTOCOL, &[ip_protocol(p.protocol)]);
            put(&mut out, chunk::IPV6_SRC, &v6(src).octets());
            put(&mut out, chunk::IPV6_DST, &v6(dst).octets());
        }
    }
    put(&mut out, chunk::SRC_PORT, &p.src.port().to_be_bytes());
    put(&mut out, chunk::DST_PORT, &p.dst.port().to_be_bytes());
    let since =
        p.at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
    let seconds = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
    put(&mut out, chunk::TIME_SECONDS, &seconds.to_be_bytes());
    put(
        &mut out,
        chunk::TIME_MICROS,
        &since.subsec_micros().to_be_bytes(),
    );
    put(&mut out, chunk::PROTOCOL_TYPE, &[SIP]);
    put(&mut out, chunk::CAPTURE_ID, &p.capture_id.to_be_bytes());
    if p.payload.len() + 6 > usize::from(u16::MAX) - out.len() {
        return None;
    }
    put(&mut out, chunk::PAYLOAD, p.payload);
    let total = u16::try_from(out.len()).ok()?;
    out[4..6].copy_from_slice(&total.to_be_bytes());
    Some(out)
}

fn ip_protocol(p: Protocol) -> u8 {
    match p {
        Protocol::Udp => UDP,
        _ => TCP,
    }
}

/// Sends HEP packets to one capture server.
#[derive(Debug)]
pub struct HepExporter {
    queue: mpsc::Sender<Vec<u8>>,
    capture_id: u32,
    dropped: AtomicU64,
}

impl HepExporter {
    /// Opens a UDP socket towards `server` and starts the task that
    /// sends; must be called within a tokio runtime.
    pub async fn start(server: SocketAddr, capture_id: u32) -> std::io::Result<HepExporter> {
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(bind).await?;
        socket.connect(server).await?;
        let (queue, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        tokio::spawn(async move {
            while let Some(packet) = rx.recv().await {
                if let Err(e) = socket.send(&packet).await {
                    tracing::debug!(%server, error = %e, "HEP: cannot send");
                }
            }
        });
        tracing::info!(%server, capture_id, "HEP export on");
        Ok(HepExporter {
            queue,
            capture_id,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues the packet of one tapped message.
    pub fn export(&self, t: &Tapped<'_>) {
        let (src, dst) = match t.direction {
            Direction::Received => (t.flow.remote, t.flow.local),
            Direction::Sent => (t.flow.local, t.flow.remote),
        };
        let Some(packet) = encode(&Packet {
            src,
            dst,
            protocol: t.flow.protocol,
            at: t.at,
            capture_id: self.capture_id,
            payload: t.wire,
        }) else {
            return;
        };
        if self.queue.try_send(packet).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The chunks of a packet, as (type, value).
    fn chunks(packet: &[u8]) -> Vec<(u16, Vec<u8>)> {
        assert_eq!(&packet[..4], b"HEP3");
        assert_eq!(
            usize::from(u16::from_be_bytes([packet[4], packet[5]])),
            packet.len()
        );
        let mut out = Vec::new();
        let mut rest = &packet[6..];
        while !rest.is_empty() {
            assert_eq!(&rest[..2], &[0, 0], "generic vendor");
            let kind = u16::from_be_bytes([rest[2], rest[3]]);
            let len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
            out.push((kind, rest[6..len].to_vec()));
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn an_ipv4_udp_message() {
        let p = Packet {
            src: "192.0.2.1:5062".parse().unwrap(),
            dst: "192.0.2.2:5060".parse().unwrap(),
            protocol: Protocol::Udp,
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            capture_id: 2001,
            payload: b"OPTIONS sip:x SIP/2.0\r\n\r\n",
        };
        let c = chunks(&encode(&p).unwrap());
        assert_eq!(
            c,
            vec![
                (1, vec![2]),
                (2, vec![17]),
                (3, vec![192, 0, 2, 1]),
                (4, vec![192, 0, 2, 2]),
                (7, 5062u16.to_be_bytes().to_vec()),
                (8, 5060u16.to_be_bytes().to_vec()),
                (9, 1_700_000_000u32.to_be_bytes().to_vec()),
                (10, 123_456u32.to_be_bytes().to_vec()),
                (11, vec![1]),
                (12, 2001u32.to_be_bytes().to_vec()),
                (15, p.payload.to_vec()),
            ]
        );
    }

    #[test]
    fn ipv6_tcp_and_a_mixed_pair_and_a_message_too_large() {
        let p = Packet {
            src: "[2001:db8::1]:5061".parse().unwrap(),
            dst: "127.0.0.1:5060".parse().unwrap(),
            protocol: Protocol::Tls,
            at: SystemTime::UNIX_EPOCH,
            capture_id: 1,
            payload: b"x",
        };
        let c = chunks(&encode(&p).unwrap());
        assert_eq!(c[0], (1, vec![10]));
        assert_eq!(c[1], (2, vec![6]));
        assert_eq!(c[2].0, 5);
        assert_eq!(c[2].1[0..2], [0x20, 0x01]);
        let mapped: std::net::Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(c[3], (6, mapped.octets().to_vec()));
        let huge = vec![b'x'; 70_000];
        assert!(
            encode(&Packet {
                payload: &huge,
                ..p
            })
            .is_none()
        );
        let big = vec![b'x'; 65_000];
        assert!(encode(&Packet { payload: &big, ..p }).is_some());
        let too_big = vec![b'x'; 65_500];
        assert!(
            encode(&Packet {
                payload: &too_big,
                ..p
            })
            .is_none()
        );
    }
}
