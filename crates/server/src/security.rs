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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
}

impl SecurityEventKind {
    fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::ChallengeResponseFailed => "ChallengeResponseFailed",
            SecurityEventKind::InvalidNonce => "InvalidNonce",
            SecurityEventKind::UnidentifiedSource => "UnidentifiedSource",
            SecurityEventKind::RequestNotAllowed => "RequestNotAllowed",
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

/// RFC 3339 UTC time with milliseconds, computed without a date crate.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
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
    pub const ALL: [SecurityEventKind; 4] = [
        SecurityEventKind::ChallengeResponseFailed,
        SecurityEventKind::InvalidNonce,
        SecurityEventKind::UnidentifiedSource,
        SecurityEventKind::RequestNotAllowed,
    ];

    fn index(self) -> usize {
        match self {
            SecurityEventKind::ChallengeResponseFailed => 0,
            SecurityEventKind::InvalidNonce => 1,
            SecurityEventKind::UnidentifiedSource => 2,
            SecurityEventKind::RequestNotAllowed => 3,
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
pub struct UnidentifiedSources {
    count: u32,
    period: Duration,
    prune_interval: Duration,
    sources: Mutex<HashMap<IpAddr, Unidentified>>,
}

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
    /// The latest account (From user) it tried.
    pub last_account: String,
    /// True once it was reported.
    pub reported: bool,
}

impl UnidentifiedSources {
    /// A counter with Asterisk's options.
    pub fn new(count: u32, period: Duration, prune_interval: Duration) -> UnidentifiedSources {
        UnidentifiedSources {
            count: count.max(1),
            period,
            prune_interval,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `ip`; true when this request makes the source
    /// cross the threshold (the caller logs the security event then).
    pub fn record(&self, ip: IpAddr, account: &str, now: Instant) -> bool {
        let mut map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let prune = self.prune_interval;
        map.retain(|_, s| now.saturating_duration_since(s.last_seen) < prune);
        let s = map.entry(ip).or_insert_with(|| Unidentified {
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
        s.in_period += 1;
        s.total += 1;
        s.last_seen = now;
        account.clone_into(&mut s.last_account);
        if s.in_period >= self.count && !s.reported {
            s.reported = true;
            return true;
        }
        false
    }

    /// The sources counted, busiest first (`sipjet show unidentified`).
    pub fn list(&self) -> Vec<(IpAddr, Unidentified)> {
        let map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(ip, s)| (*ip, s.clone())).collect();
        v.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
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
            [0, 1, 2, 3],
            "every kind has its own counter"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(4_102_444_799)),
            "2099-12-31T23:59:59.000Z"
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
        // Quiet for the prune interval: forgotten.
        u.record(slow, "x", t0 + Duration::from_secs(100));
        assert_eq!(u.list().len(), 1);
    }
}
