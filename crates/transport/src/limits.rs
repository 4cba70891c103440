//! Limits that keep a hostile or broken peer from exhausting memory,
//! connections or tasks, and the connection counter that enforces the
//! connection caps.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
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
    /// Most connections accepted from one IP address.
    pub max_connections_per_ip: usize,
    /// A connection on which nothing was received or sent for this long
    /// is closed.
    pub idle_timeout: Duration,
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
            max_connections_per_ip: 256,
            idle_timeout: Duration::from_secs(300),
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

/// A keep-alive timer, or none when the interval is absent or zero.
pub(crate) fn keepalive_timer(period: Option<Duration>) -> Option<tokio::time::Interval> {
    let period = period.filter(|p| !p.is_zero())?;
    let now = tokio::time::Instant::now();
    let mut timer = tokio::time::interval_at(deadline(now, period), period);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Some(timer)
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
    /// `max_connections_per_ip`.
    PerIp(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Total(n) => write!(f, "max_connections = {n}"),
            Refusal::PerIp(n) => write!(f, "max_connections_per_ip = {n}"),
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts open connections in total and per peer address. A connection
/// holds a [`ConnectionPermit`] from before its first handshake byte to
/// its close, so that a flood of half-open TLS handshakes is capped too.
pub(crate) struct ConnectionCounter {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCounter {
    pub(crate) fn new(limits: &Limits) -> Arc<ConnectionCounter> {
        Arc::new(ConnectionCounter {
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits one more connection: accepted ones count against their
    /// peer's address (`Some(ip)`), the ones this side opens only against
    /// the total.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
    ) -> Result<ConnectionPermit, Refusal> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        if let Some(ip) = peer {
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(Refusal::PerIp(self.max_per_ip));
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(ConnectionPermit {
            counter: Arc::clone(self),
            peer,
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
        if let Some(ip) = self.peer
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
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
            ..Limits::default()
        })
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

    #[tokio::test]
    async fn extreme_durations_do_not_overflow() {
        let now = tokio::time::Instant::now();
        assert!(deadline(now, Duration::MAX) > deadline(now, Duration::from_secs(86_400)));
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(keepalive_timer(Some(Duration::ZERO)).is_none());
        assert!(keepalive_timer(None).is_none());
        assert!(keepalive_timer(Some(Duration::MAX)).is_some());
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
                .per_ip
                .is_empty()
        );
    }
}
