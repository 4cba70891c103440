//! What the console reads besides the `sipjet show` views: the overview
//! (uptime, transports, counters, charts), the captured flows and one
//! flow's ladder, the recent security events; and the query strings of
//! the flow search. Pure functions of what they show, tested without a
//! server.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::capture::ring::{FlowQuery, FlowSummary, Ring};
use crate::security::RecentEvent;

use super::metrics::Snapshot;
use super::series::{METHODS, Point};
use super::views::TransportView;

/// Flows a search answers at most, and by default.
pub const MAX_FLOWS: usize = 1000;
const DEFAULT_FLOWS: usize = 200;
/// Messages of one flow shown at most (the first ones).
pub const MAX_FLOW_MESSAGES: usize = 2000;

/// The capture ring's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureView {
    /// False when `capture_buffer_mib = 0`.
    pub on: bool,
    /// Bytes held, overhead included.
    pub bytes: usize,
    /// The budget.
    pub budget: usize,
    /// Messages held.
    pub messages: usize,
    /// Flows held.
    pub flows: usize,
    /// Messages captured since start.
    pub captured: u64,
}

impl CaptureView {
    /// The figures of `ring` (none: capture is off).
    pub fn of(ring: Option<&Ring>) -> CaptureView {
        ring.map_or_else(CaptureView::default, |r| CaptureView {
            on: true,
            bytes: r.used(),
            budget: r.budget(),
            messages: r.len(),
            flows: r.flow_count(),
            captured: r.captured(),
        })
    }
}

/// `GET /api/overview`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverviewView {
    /// The server's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// Its transports.
    pub transports: Vec<TransportView>,
    /// Requests received in all.
    pub requests_received: u64,
    /// Responses sent in all.
    pub responses_sent: u64,
    /// Live transactions.
    pub transactions: usize,
    /// Bindings held.
    pub registrations: usize,
    /// Calls in progress.
    pub active_calls: usize,
    /// Security events since start.
    pub auth_failures: u64,
    /// Tasks queued.
    pub queue_depth: usize,
    /// The capture ring.
    pub capture: CaptureView,
    /// The names of the request chart's series.
    pub methods: Vec<String>,
    /// The charts, oldest point first.
    pub series: Vec<Point>,
}

/// The overview of a server started `uptime` ago.
pub fn overview(
    s: &Snapshot,
    uptime: Duration,
    transports: Vec<TransportView>,
    capture: CaptureView,
    series: Vec<Point>,
) -> OverviewView {
    OverviewView {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: uptime.as_secs(),
        transports,
        requests_received: s
            .received
            .iter()
            .filter(|c| c.status.is_none())
            .map(|c| c.count)
            .sum(),
        responses_sent: s
            .sent
            .iter()
            .filter(|c| c.status.is_some())
            .map(|c| c.count)
            .sum(),
        transactions: s.transactions,
        registrations: s.bindings,
        active_calls: s.calls.active,
        auth_failures: s.auth_failures.iter().map(|(_, n)| n).sum(),
        queue_depth: s.queue_depth,
        capture,
        methods: METHODS.iter().map(|m| m.to_string()).collect(),
        series,
    }
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A flow in the search results (`GET /api/flows`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowView {
    /// Its Call-ID.
    pub call_id: String,
    /// The method of its first request.
    pub method: Option<String>,
    /// The From user of its first message.
    pub from_user: Option<String>,
    /// The To user.
    pub to_user: Option<String>,
    /// Its first message, in seconds since the Unix epoch.
    pub first_at: f64,
    /// Its latest.
    pub last_at: f64,
    /// Its messages in the ring.
    pub messages: usize,
    /// The methods seen.
    pub methods: Vec<String>,
    /// The statuses seen.
    pub statuses: Vec<u16>,
    /// The peers (`udp:127.0.0.1:5062`).
    pub peers: Vec<String>,
}

/// The search results.
pub fn flows(found: Vec<FlowSummary>) -> Vec<FlowView> {
    found
        .into_iter()
        .map(|f| FlowView {
            messages: f.messages(),
            peers: f.peer_names(),
            call_id: f.call_id.to_string(),
            method: f.method.map(String::from),
            from_user: f.from_user,
            to_user: f.to_user,
            first_at: unix(f.first_at),
            last_at: unix(f.last_at),
            methods: f.methods.into_iter().map(String::from).collect(),
            statuses: f.statuses,
        })
        .collect()
}

/// A security event (`GET /api/security`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityEventView {
    /// `ChallengeResponseFailed` and the like.
    pub kind: String,
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// The transport.
    pub transport: String,
    /// The source's IP address.
    pub source: String,
    /// The source's port.
    pub port: u16,
    /// The account tried.
    pub account: String,
    /// Why.
    pub reason: String,
}

/// The recent events, newest first.
pub fn security(events: Vec<RecentEvent>) -> Vec<SecurityEventView> {
    events
        .into_iter()
        .rev()
        .map(|e| SecurityEventView {
            kind: e.kind.name().to_string(),
            time: unix(e.time),
            transport: e.transport,
            source: e.remote.ip().to_string(),
            port: e.remote.port(),
            account: e.account,
            reason: e.reason,
        })
        .collect()
}

/// `%XX` and `+` decoded; `None` for a broken escape or bytes that are
/// not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A search's query string (`call_id`, `user`, `address`, `method`,
/// `status`, `limit`); empty values count as absent.
pub fn flow_query(query: Option<&str>) -> Result<(FlowQuery, usize), String> {
    let mut q = FlowQuery::default();
    let mut limit = DEFAULT_FLOWS;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value, true)
            .ok_or_else(|| format!("the value of {key:?} is not well encoded"))?;
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        match key {
            "call_id" => q.call_id = Some(value),
            "user" => q.user = Some(value),
            "address" => q.address = Some(value),
            "method" => q.method = Some(value),
            "status" => {
                q.status = Some(
                    value
                        .parse()
                        .map_err(|_| format!("status {value:?} is not a status code"))?,
                )
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .map_err(|_| format!("limit {value:?} is not a number"))?
                    .min(MAX_FLOWS)
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: call_id, user, address, method, status and limit are"
                ));
            }
        }
    }
    Ok((q, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_refuse_what_they_do_not_know() {
        let (q, limit) = flow_query(Some(
            "call_id=a%40b&user=al+ice&status=401&method=&limit=5000",
        ))
        .unwrap();
        assert_eq!(q.call_id.as_deref(), Some("a@b"));
        assert_eq!(q.user.as_deref(), Some("al ice"));
        assert_eq!(q.status, Some(401));
        assert_eq!(q.method, None);
        assert_eq!(limit, MAX_FLOWS);
        assert_eq!(flow_query(None).unwrap(), (FlowQuery::default(), 200));
        assert!(flow_query(Some("status=abc")).is_err());
        assert!(flow_query(Some("call_id=%4")).is_err());
        assert!(flow_query(Some("call_id=%ff")).is_err());
        assert!(flow_query(Some("colour=red")).is_err());
        assert_eq!(percent_decode("a+b%2Fc", false).as_deref(), Some("a+b/c"));
    }
}
