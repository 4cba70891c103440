//! Security events: every authentication failure and every source that
//! keeps sending requests nobody can be identified for, logged as one line
//! in one stable format, so that a log watcher (fail2ban and the like) can
//! match it. The format follows Asterisk's security events:
//!
//! ```text
//! SecurityEvent="ChallengeResponseFailed",EventTV="2026-11-26T12:00:00.123Z",Service="SIP",RemoteAddress="IPV4/UDP/192.0.2.7/5060",AccountID="alice",Reason="wrong password"
//! ```
//!
//! A fail2ban filter for it: `^.*SecurityEvent="[A-Za-z]+",.*RemoteAddress="IPV[46]/[A-Z]+/<HOST>/\d+".*$`.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::date::rfc3339;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityEventKind {
    /// Credentials were sent and were wrong (or for an unknown user).
    ChallengeResponseFailed,
    /// The nonce was forged, for another address, or its count replayed.
    InvalidNonce,
    /// A source sent `unidentified_request_count` requests within the
    /// period that matched no endpoint.
    UnidentifiedSource,
    /// A request came from an endpoint that is not allowed to do it
    /// (registering to someone else's AOR).
    RequestNotAllowed,
    /// A request came from a source, or a REGISTER named a contact, that
    /// a `type=acl` section denies.
    FailedAcl,
}

impl SecurityEventKind {
    fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::ChallengeResponseFailed => "ChallengeResponseFailed",
            SecurityEventKind::InvalidNonce => "InvalidNonce",
            SecurityEventKind::UnidentifiedSource => "UnidentifiedSource",
            SecurityEventKind::RequestNotAllowed => "RequestNotAllowed",
            SecurityEventKind::FailedAcl => "FailedACL",
        }
    }
}

/// One security event.
#[derive(Clone, Debug)]
pub struct SecurityEvent<'a> {
    /// What happened.
    pub kind: SecurityEventKind,
    /// When.
    pub time: SystemTime,
    /// The transport name (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
    pub transport: &'a str,
    /// The source address.
    pub remote: SocketAddr,
    /// The endpoint or user tried (empty when none).
    pub account: &'a str,
    /// Why, in words.
    pub reason: &'a str,
}

/// `"` and `\` in values are escaped and control characters dropped, so a
/// crafted user name cannot forge fields or lines.
fn clean(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for SecurityEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = if self.remote.is_ipv4() {
            "IPV4"
        } else {
            "IPV6"
        };
        write!(
            f,
            "SecurityEvent=\"{}\",EventTV=\"{}\",Service=\"SIP\",RemoteAddress=\"{family}/{}/{}/{}\",AccountID=\"{}\",Reason=\"{}\"",
            self.kind.as_str(),
            rfc3339(self.time),
            clean(self.transport),
            self.remote.ip(),
            self.remote.port(),
            clean(self.account),
            clean(self.reason),
        )
    }
}

impl SecurityEvent<'_> {
    /// Writes the event to the log, under the `security` target, and
    /// counts it.
    pub fn log(&self) {
        EVENT_COUNTS[self.kind.index()].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: "security", "{self}");
    }
}

// ---- Security event counters (the admin interface's metrics) ----

/// Events logged since the process started, by kind. Process-wide because
/// the events are logged from wherever they happen, with no handle to a
/// server; a process runs one server.
static EVENT_COUNTS: [AtomicU64; SecurityEventKind::ALL.len()] =
    [const { AtomicU64::new(0) }; SecurityEventKind::ALL.len()];

impl SecurityEventKind {
    /// Every kind.
    pub const ALL: [SecurityEventKind; 5] = [
        SecurityEventKind::ChallengeResponseFailed,
        SecurityEventKind::InvalidNonce,
        SecurityEventKind::UnidentifiedSource,
        SecurityEventKind::RequestNotAllowed,
        SecurityEventKind::FailedAcl,
    ];

    fn index(self) -> usize {
        match self {
            SecurityEventKind::ChallengeResponseFailed => 0,
            SecurityEventKind::InvalidNonce => 1,
            SecurityEventKind::UnidentifiedSource => 2,
            SecurityEventKind::RequestNotAllowed => 3,
            SecurityEventKind::FailedAcl => 4,
        }
    }

    /// The name written in the event (`SecurityEvent="..."`).
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// How many events of this kind were logged since the process started.
    pub fn count(self) -> u64 {
        EVENT_COUNTS[self.index()].load(Ordering::Relaxed)
    }
}

// ---- end of the security event counters ----

/// Counts requests from sources no endpoint was identified for, as
/// Asterisk's `unidentified_request_*` options do: a source that sends
/// `count` such requests within `period` is reported once, and listed
/// until it has been quiet for `prune_interval`.
///
/// Anyone can send such requests, from as many spoofed addresses as UDP
/// lets them, so the table is bounded and each request costs O(1): the
/// sources are spread over [`SHARDS`] maps by a keyed hash (one lock
/// each), each map holds at most [`MAX_SOURCES`]` / SHARDS` sources and
/// makes room by forgetting the longest-quiet of a few, the account kept
/// is cut to [`MAX_ACCOUNT_BYTES`], and quiet sources are removed by
/// [`UnidentifiedSources::prune`], which the server calls on a timer,
/// never on the request path. IPv6 sources count per /64, the block one
/// host usually has.
pub struct UnidentifiedSources {
    count: u32,
    period: Duration,
    prune_interval: Duration,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<IpAddr, Unidentified>>>,
}

/// Sources kept at most, over all shards.
pub const MAX_SOURCES: usize = 16_384;

/// The maps the sources are spread over.
pub const SHARDS: usize = 16;

/// The longest account (From user) kept per source, in bytes.
pub const MAX_ACCOUNT_BYTES: usize = 64;

/// How many entries a full shard looks at to choose the one it forgets.
const EVICTION_SAMPLE: usize = 8;

/// What is known about one unidentified source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unidentified {
    /// Requests counted in the current period.
    pub in_period: u32,
    /// Requests counted in all.
    pub total: u64,
    /// Start of the current period.
    pub period_start: Instant,
    /// Latest request.
    pub last_seen: Instant,
    /// The latest account (From user) it tried, cut to
    /// [`MAX_ACCOUNT_BYTES`].
    pub last_account: String,
    /// True once it was reported.
    pub reported: bool,
}

/// The address a source is counted under: IPv4 (and IPv4-mapped IPv6) as
/// it is, other IPv6 by its /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// `account` cut to at most [`MAX_ACCOUNT_BYTES`], on a character
/// boundary.
fn cut(account: &str) -> &str {
    if account.len() <= MAX_ACCOUNT_BYTES {
        return account;
    }
    let mut end = MAX_ACCOUNT_BYTES;
    while !account.is_char_boundary(end) {
        end -= 1;
    }
    &account[..end]
}

impl UnidentifiedSources {
    /// A counter with Asterisk's options.
    pub fn new(count: u32, period: Duration, prune_interval: Duration) -> UnidentifiedSources {
        UnidentifiedSources {
            count: count.max(1),
            period,
            prune_interval,
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_capacity(MAX_SOURCES / SHARDS)))
                .collect(),
        }
    }

    /// How often [`UnidentifiedSources::prune`] should run.
    pub fn prune_interval(&self) -> Duration {
        self.prune_interval
    }

    fn shard(&self, key: &IpAddr) -> &Mutex<HashMap<IpAddr, Unidentified>> {
        use std::hash::BuildHasher;
        &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize]
    }

    /// Counts a request from `ip`; true when this request makes the source
    /// cross the threshold (the caller logs the security event then).
    pub fn record(&self, ip: IpAddr, account: &str, now: Instant) -> bool {
        let key = source_key(ip);
        let mut map = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&key) && map.len() >= MAX_SOURCES / SHARDS {
            // Full: forget the longest-quiet of a few entries. A source
            // forgotten early is counted afresh if it comes back.
            let oldest = map
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let s = map.entry(key).or_insert_with(|| Unidentified {
            in_period: 0,
            total: 0,
            period_start: now,
            last_seen: now,
            last_account: String::new(),
            reported: false,
        });
        if now.saturating_duration_since(s.period_start) > self.period {
            s.period_start = now;
            s.in_period = 0;
        }
        s.in_period = s.in_period.saturating_add(1);
        s.total += 1;
        s.last_seen = now;
        let account = cut(account);
        if s.last_account != account {
            s.last_account.clear();
            s.last_account.push_str(account);
        }
        if s.in_period >= self.count && !s.reported {
            s.reported = true;
            return true;
        }
        false
    }

    /// Forgets the sources quiet for `prune_interval`, one shard at a
    /// time; returns how many it forgot.
    pub fn prune(&self, now: Instant) -> usize {
        let prune = self.prune_interval;
        self.shards
            .iter()
            .map(|shard| {
                let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
                let before = map.len();
                map.retain(|_, s| now.saturating_duration_since(s.last_seen) < prune);
                before - map.len()
            })
            .sum()
    }

    /// The sources counted, busiest first (`sipjet show unidentified`).
    pub fn list(&self) -> Vec<(IpAddr, Unidentified)> {
        let mut v: Vec<_> = self
            .shards
            .iter()
            .flat_map(|shard| {
                let map = shard.lock().unwrap_or_else(|e| e.into_inner());
                map.iter()
                    .map(|(ip, s)| (*ip, s.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn one_stable_line_that_cannot_be_forged() {
        let e = SecurityEvent {
            kind: SecurityEventKind::ChallengeResponseFailed,
            time: UNIX_EPOCH + Duration::from_millis(1_795_000_000_123),
            transport: "UDP",
            remote: "192.0.2.7:5060".parse().unwrap(),
            account: "ali\"ce\n,Reason=\"x",
            reason: "wrong password",
        };
        assert_eq!(
            e.to_string(),
            "SecurityEvent=\"ChallengeResponseFailed\",EventTV=\"2026-11-18T11:06:40.123Z\",Service=\"SIP\",\
RemoteAddress=\"IPV4/UDP/192.0.2.7/5060\",AccountID=\"ali\\\"ce,Reason=\\\"x\",Reason=\"wrong password\""
        );
        let v6 = SecurityEvent {
            remote: "[2001:db8::1]:5070".parse().unwrap(),
            ..e
        };
        assert!(
            v6.to_string()
                .contains("RemoteAddress=\"IPV6/UDP/2001:db8::1/5070\"")
        );
    }

    #[test]
    fn logged_events_are_counted_by_kind() {
        for kind in SecurityEventKind::ALL {
            let before = kind.count();
            SecurityEvent {
                kind,
                time: UNIX_EPOCH,
                transport: "UDP",
                remote: "192.0.2.7:5060".parse().unwrap(),
                account: "",
                reason: "test",
            }
            .log();
            // Other tests of this process may log events too, never fewer.
            assert!(kind.count() > before, "{kind:?}");
        }
        assert_eq!(
            SecurityEventKind::ALL.map(|k| k.index()),
            [0, 1, 2, 3, 4],
            "every kind has its own counter"
        );
    }

    #[test]
    fn unidentified_sources_are_reported_once_and_pruned() {
        let u = UnidentifiedSources::new(3, Duration::from_secs(5), Duration::from_secs(30));
        let t0 = Instant::now();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(!u.record(ip, "100", t0));
        assert!(!u.record(ip, "101", t0 + Duration::from_secs(1)));
        assert!(u.record(ip, "102", t0 + Duration::from_secs(2)));
        assert!(!u.record(ip, "103", t0 + Duration::from_secs(3)));
        // Slow sources never cross the threshold within a period.
        let slow: IpAddr = "203.0.113.10".parse().unwrap();
        for i in 0..6 {
            assert!(!u.record(slow, "x", t0 + Duration::from_secs(i * 6)));
        }
        let list = u.list();
        assert_eq!(list[0].0, slow);
        assert_eq!(list[1].0, ip);
        assert_eq!(
            (list[1].1.total, list[1].1.last_account.as_str()),
            (4, "103")
        );
        // Quiet for the prune interval: forgotten when the pruning runs.
        u.record(slow, "x", t0 + Duration::from_secs(100));
        assert_eq!(u.list().len(), 2);
        assert_eq!(u.prune(t0 + Duration::from_secs(100)), 1);
        assert_eq!(u.list().len(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_short_accounts() {
        let u = UnidentifiedSources::new(5, Duration::from_secs(5), Duration::from_secs(30));
        let t0 = Instant::now();
        let long = "é".repeat(8 * 1024);
        for i in 0..(MAX_SOURCES as u32 * 3) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            u.record(ip, &long, t0 + Duration::from_micros(u64::from(i)));
        }
        let list = u.list();
        assert!(list.len() <= MAX_SOURCES, "{}", list.len());
        assert!(list.len() > MAX_SOURCES / 2, "{}", list.len());
        for (_, s) in &list {
            assert!(s.last_account.len() <= MAX_ACCOUNT_BYTES);
            assert!(s.last_account.chars().all(|c| c == 'é'));
        }
        // The most recent sources are the ones kept.
        let newest = IpAddr::V4(std::net::Ipv4Addr::from(
            0x0a00_0000 + MAX_SOURCES as u32 * 3 - 1,
        ));
        assert!(list.iter().any(|(ip, _)| *ip == newest));
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let u = UnidentifiedSources::new(3, Duration::from_secs(5), Duration::from_secs(30));
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(!u.record(a, "x", t0));
        assert!(!u.record(other, "x", t0));
        assert!(!u.record(b, "x", t0));
        assert!(
            u.record(a, "x", t0),
            "a and b are one /64: the third request"
        );
        assert_eq!(
            source_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(u.list()[0].0, "2001:db8:1:2::".parse::<IpAddr>().unwrap());
    }
}
