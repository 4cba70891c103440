//! Limits that keep a hostile or broken peer from exhausting memory,
//! connections or tasks, and the connection counter that enforces the
//! connection caps.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sipjet_message::ParseOptions;
use sipjet_message::framing::FrameLimits;

/// Resource limits of the transports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest datagram accepted or sent over UDP.
    pub max_datagram: usize,
    /// Largest header section of a message (and longest header line).
    pub max_header_bytes: usize,
    /// Largest body; a request with a larger one is answered `413`.
    pub max_body_bytes: usize,
    /// Most header fields in one message (`513` beyond).
    pub max_headers: usize,
    /// Most connections open at once, accepted and opened together.
    pub max_connections: usize,
    /// The share of `max_connections`, in per cent (rounded up to whole
    /// connections), that accepted connections may not take: it is kept
    /// for the connections this side opens, so that peers filling every
    /// place cannot stop requests and responses from reaching contacts
    /// that need a new connection. Values above 100 count as 100.
    pub outbound_reserve_percent: u8,
    /// Most connections accepted from one IPv4 address, or from one IPv6
    /// /64: a subscriber usually holds a whole /64, so counting single
    /// IPv6 addresses would let one host pose as countless peers.
    pub max_connections_per_ip: usize,
    /// A connection on which nothing was received or sent for this long
    /// is closed.
    pub idle_timeout: Duration,
    /// An accepted connection must deliver a whole SIP message within
    /// this time of being accepted (its TLS and WebSocket handshakes
    /// included), else it is closed: a connection that says nothing
    /// would otherwise hold its place for the whole `idle_timeout`.
    /// Keep-alive pings do not count as messages. Connections this side
    /// opens are not subject to it.
    pub first_message_timeout: Duration,
    /// Once the first byte of a message (or of a TLS or WebSocket
    /// handshake, or a connect) is seen, the rest must follow within this
    /// time; a peer that trickles bytes is cut off. It also bounds how long
    /// a write may wait for a peer that does not read.
    pub message_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_datagram: 65_535,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            max_headers: 256,
            max_connections: 10_000,
            outbound_reserve_percent: 10,
            max_connections_per_ip: 256,
            idle_timeout: Duration::from_secs(300),
            // A client connects when it has something to send; 10 s
            // leaves room for a slow TLS handshake on a poor link.
            first_message_timeout: Duration::from_secs(10),
            message_timeout: Duration::from_secs(10),
        }
    }
}

/// `from + after`, or a far future when a configured duration is too
/// large to add (a limit of `Duration::MAX` means no limit).
pub(crate) fn deadline(from: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    from.checked_add(after)
        .unwrap_or_else(|| from + Duration::from_secs(30 * 365 * 86_400))
}

impl Limits {
    pub(crate) fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// Parse options for one message; `stream` makes Content-Length
    /// mandatory (TCP, TLS), datagrams and WebSocket messages are whole.
    pub(crate) fn parse_options(&self, stream: bool) -> ParseOptions {
        ParseOptions {
            max_headers: self.max_headers,
            max_line: self.max_header_bytes,
            stream,
        }
    }
}

/// Which connection cap refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections`.
    Total(usize),
    /// The share of `max_connections` accepted connections may take.
    Inbound {
        /// Accepted connections allowed.
        share: usize,
        /// `outbound_reserve_percent`.
        reserve_percent: u8,
    },
    /// `max_connections_per_ip`.
    PerIp(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Total(n) => write!(f, "max_connections = {n}"),
            Refusal::Inbound {
                share,
                reserve_percent,
            } => write!(
                f,
                "{share} accepted connections (max_connections less outbound_reserve_percent = {reserve_percent})"
            ),
            Refusal::PerIp(n) => write!(f, "max_connections_per_ip = {n}"),
        }
    }
}

/// What the per-address cap counts under: an IPv4 address, or the /64 an
/// IPv6 address belongs to (its interface identifier zeroed). An
/// IPv4-mapped IPv6 address counts as the IPv4 address.
pub(crate) fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(a) => IpAddr::V4(a),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & !u128::from(u64::MAX))),
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    accepted: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// Counts open connections in total, accepted ones, and accepted ones
/// per peer address ([`peer_key`]). A connection holds a
/// [`ConnectionPermit`] from before its first handshake byte to its
/// close, so that a flood of half-open TLS handshakes is capped too.
pub(crate) struct ConnectionCounter {
    max_total: usize,
    /// `max_total` less the outbound reserve.
    max_accepted: usize,
    reserve_percent: u8,
    max_per_peer: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCounter {
    pub(crate) fn new(limits: &Limits) -> Arc<ConnectionCounter> {
        let percent = limits.outbound_reserve_percent.min(100);
        let reserve = (limits.max_connections as u128 * u128::from(percent)).div_ceil(100);
        let max_accepted = limits
            .max_connections
            .saturating_sub(usize::try_from(reserve).unwrap_or(usize::MAX));
        Arc::new(ConnectionCounter {
            max_total: limits.max_connections,
            max_accepted,
            reserve_percent: percent,
            max_per_peer: limits.max_connections_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits one more connection: accepted ones (`Some(peer address)`)
    /// count against the accepted share and their peer's address, the
    /// ones this side opens only against the total.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
    ) -> Result<ConnectionPermit, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        let key = peer.map(peer_key);
        if let Some(key) = key {
            if counts.accepted >= self.max_accepted {
                return Err(Refusal::Inbound {
                    share: self.max_accepted,
                    reserve_percent: self.reserve_percent,
                });
            }
            let n = counts.per_peer.entry(key).or_insert(0);
            if *n >= self.max_per_peer {
                return Err(Refusal::PerIp(self.max_per_peer));
            }
            *n += 1;
            counts.accepted += 1;
        }
        counts.total += 1;
        Ok(ConnectionPermit {
            counter: Arc::clone(self),
            peer: key,
        })
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// One admitted connection; dropping it frees its place.
pub(crate) struct ConnectionPermit {
    counter: Arc<ConnectionCounter>,
    /// The [`peer_key`] of an accepted connection.
    peer: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self
            .counter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total -= 1;
        if let Some(key) = self.peer {
            counts.accepted -= 1;
            if let Some(n) = counts.per_peer.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    counts.per_peer.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(total: usize, per_ip: usize) -> Arc<ConnectionCounter> {
        ConnectionCounter::new(&Limits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            outbound_reserve_percent: 0,
            ..Limits::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_cap_counts_each_address_apart() {
        let c = counter(10, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = c.admit(Some(a)).unwrap();
        let _p2 = c.admit(Some(a)).unwrap();
        assert_eq!(c.admit(Some(a)).err(), Some(Refusal::PerIp(2)));
        let _p3 = c.admit(Some(b)).unwrap();
        drop(p1);
        let _p4 = c.admit(Some(a)).unwrap();
        assert_eq!(c.open(), 3);
    }

    #[test]
    fn total_cap_includes_outgoing_connections() {
        let c = counter(2, 5);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let out = c.admit(None).unwrap();
        let _in = c.admit(Some(a)).unwrap();
        assert_eq!(c.admit(Some(a)).err(), Some(Refusal::Total(2)));
        assert_eq!(c.admit(None).err(), Some(Refusal::Total(2)));
        drop(out);
        assert!(c.admit(None).is_ok());
        assert_eq!(Refusal::PerIp(3).to_string(), "max_connections_per_ip = 3");
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        assert_eq!(peer_key(ip("2001:db8:1:2:a:b:c:d")), ip("2001:db8:1:2::"));
        assert_eq!(
            peer_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(peer_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(peer_key(ip("::1")), ip("::"));
        assert_eq!(peer_key(ip("192.0.2.77")), ip("192.0.2.77"));
        assert_eq!(peer_key(ip("::ffff:192.0.2.77")), ip("192.0.2.77"));

        let c = counter(100, 2);
        let _a = c.admit(Some(ip("2001:db8:1:2::1"))).unwrap();
        let _b = c.admit(Some(ip("2001:db8:1:2:ffff::9"))).unwrap();
        // A third address of the same /64 is the same peer.
        assert_eq!(
            c.admit(Some(ip("2001:db8:1:2::3"))).err(),
            Some(Refusal::PerIp(2))
        );
        let _c = c.admit(Some(ip("2001:db8:1:3::1"))).unwrap();
        // IPv4 addresses next to each other are different peers.
        let _d = c.admit(Some(ip("192.0.2.1"))).unwrap();
        let _e = c.admit(Some(ip("192.0.2.1"))).unwrap();
        assert!(c.admit(Some(ip("192.0.2.1"))).is_err());
        let _f = c.admit(Some(ip("192.0.2.2"))).unwrap();
    }

    #[test]
    fn accepted_connections_leave_the_outbound_reserve() {
        let c = ConnectionCounter::new(&Limits {
            max_connections: 10,
            outbound_reserve_percent: 25,
            max_connections_per_ip: 100,
            ..Limits::default()
        });
        // 25 % of 10 rounded up: 3 places kept, 7 for accepted ones.
        let accepted: Vec<_> = (0..7)
            .map(|_| c.admit(Some(ip("192.0.2.1"))).unwrap())
            .collect();
        let refusal = c.admit(Some(ip("192.0.2.2"))).err().unwrap();
        assert_eq!(
            refusal,
            Refusal::Inbound {
                share: 7,
                reserve_percent: 25
            }
        );
        assert_eq!(
            refusal.to_string(),
            "7 accepted connections (max_connections less outbound_reserve_percent = 25)"
        );
        let opened: Vec<_> = (0..3).map(|_| c.admit(None).unwrap()).collect();
        assert_eq!(c.admit(None).err(), Some(Refusal::Total(10)));
        drop(accepted);
        // Opened connections may take any place.
        let more: Vec<_> = (0..7).map(|_| c.admit(None).unwrap()).collect();
        assert_eq!(c.open(), 10);
        assert!(c.admit(Some(ip("192.0.2.1"))).is_err());
        drop((opened, more));
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn reserve_shares_round_up_and_saturate() {
        let share = |max, percent| {
            ConnectionCounter::new(&Limits {
                max_connections: max,
                outbound_reserve_percent: percent,
                ..Limits::default()
            })
            .max_accepted
        };
        assert_eq!(Limits::default().outbound_reserve_percent, 10);
        assert_eq!(share(10_000, 10), 9_000);
        assert_eq!(share(2, 10), 1);
        assert_eq!(share(2, 0), 2);
        assert_eq!(share(2, 100), 0);
        assert_eq!(share(2, 255), 0);
        assert_eq!(share(usize::MAX, 10), usize::MAX - usize::MAX / 10 - 1);
    }

    #[tokio::test]
    async fn extreme_durations_do_not_overflow() {
        let now = tokio::time::Instant::now();
        assert!(deadline(now, Duration::MAX) > deadline(now, Duration::from_secs(86_400)));
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn released_permits_leave_no_trace() {
        let c = counter(4, 4);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let permits: Vec<_> = (0..4).map(|_| c.admit(Some(a)).unwrap()).collect();
        drop(permits);
        assert_eq!(c.open(), 0);
        assert!(
            c.counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .per_peer
                .is_empty()
        );
    }
}
