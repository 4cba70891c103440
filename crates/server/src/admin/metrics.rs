//! `GET /metrics`: the Prometheus text exposition format, version 0.0.4.
//!
//! Every label value written here is one of a fixed set of names (methods,
//! status codes, security event kinds), so none needs escaping.

use std::fmt::Write as _;

use crate::modules::calls::CallCounts;
use crate::modules::metrics::{Direction, MessageCount};
use crate::security::SecurityEventKind;

use crate::server::Server;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The numbers one scrape shows.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Messages received that are counted.
    pub received: Vec<MessageCount>,
    /// Messages sent that are counted.
    pub sent: Vec<MessageCount>,
    /// Live transactions.
    pub transactions: usize,
    /// Security events by kind.
    pub auth_failures: Vec<(&'static str, u64)>,
    /// Tasks queued on the pool.
    pub queue_depth: usize,
    /// Threads of the pool.
    pub pool_threads: usize,
    /// Bindings in the location store.
    pub bindings: usize,
    /// New requests refused for overload or shutdown.
    pub requests_refused: u64,
    /// Unidentified sources listed.
    pub unidentified_sources: usize,
    /// Calls attempted, answered, failed by code, in progress.
    pub calls: CallCounts,
    /// Bytes held by the capture ring (messages and their overhead).
    pub capture_bytes: usize,
    /// Messages held by the capture ring.
    pub capture_messages: usize,
}

impl Snapshot {
    /// Reads the numbers off a running server.
    pub fn of(server: &Server) -> Snapshot {
        let (capture_bytes, capture_messages) = server
            .capture
            .ring()
            .map_or((0, 0), |r| (r.used(), r.len()));
        Snapshot {
            received: server.messages.counts(Direction::Received),
            sent: server.messages.counts(Direction::Sent),
            transactions: server.stack.transaction_count(),
            auth_failures: SecurityEventKind::ALL
                .iter()
                .map(|k| (k.name(), k.count()))
                .collect(),
            queue_depth: server.stack.pool().queued_tasks(),
            pool_threads: server.stack.pool().stats().threads,
            bindings: server.location.len(),
            requests_refused: server.stack.refused_requests(),
            unidentified_sources: server.unidentified.list().len(),
            calls: server.calls.counts(),
            capture_bytes,
            capture_messages,
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn messages(out: &mut String, name: &str, help: &str, counts: &[MessageCount]) {
    family(out, name, "counter", help);
    for c in counts {
        match c.status {
            None => {
                let _ = writeln!(out, "{name}{{method=\"{}\"}} {}", c.method, c.count);
            }
            Some(status) => {
                let _ = writeln!(
                    out,
                    "{name}{{method=\"{}\",status=\"{status}\"}} {}",
                    c.method, c.count
                );
            }
        }
    }
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The exposition of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    messages(
        &mut out,
        "sipjet_messages_received_total",
        "SIP messages received: requests by method, responses by status code and CSeq method.",
        &s.received,
    );
    messages(
        &mut out,
        "sipjet_messages_sent_total",
        "SIP messages sent: requests by method, responses by status code and CSeq method.",
        &s.sent,
    );
    single(
        &mut out,
        "sipjet_transactions",
        "gauge",
        "Live SIP transactions.",
        s.transactions,
    );
    family(
        &mut out,
        "sipjet_auth_failures_total",
        "counter",
        "Security events (failed authentication, bad nonces, unidentified sources, forbidden requests) by kind.",
    );
    for (kind, n) in &s.auth_failures {
        let _ = writeln!(out, "sipjet_auth_failures_total{{kind=\"{kind}\"}} {n}");
    }
    single(
        &mut out,
        "sipjet_queue_depth",
        "gauge",
        "Tasks queued on the threadpool and not yet started.",
        s.queue_depth,
    );
    single(
        &mut out,
        "sipjet_pool_threads",
        "gauge",
        "Threads of the threadpool.",
        s.pool_threads,
    );
    single(
        &mut out,
        "sipjet_bindings",
        "gauge",
        "Registered contacts held, counting expired ones not pruned yet.",
        s.bindings,
    );
    single(
        &mut out,
        "sipjet_requests_refused_total",
        "counter",
        "New requests refused for overload or shutdown.",
        s.requests_refused,
    );
    single(
        &mut out,
        "sipjet_unidentified_sources",
        "gauge",
        "Sources listed for sending requests no endpoint was identified for.",
        s.unidentified_sources,
    );
    single(
        &mut out,
        "sipjet_calls_attempted_total",
        "counter",
        "Calls (INVITEs out of dialog) forwarded to a callee's contacts.",
        s.calls.attempted,
    );
    single(
        &mut out,
        "sipjet_calls_answered_total",
        "counter",
        "Calls answered with a 2xx.",
        s.calls.answered,
    );
    family(
        &mut out,
        "sipjet_calls_failed_total",
        "counter",
        "Calls that ended without a 2xx, by the final status the caller got.",
    );
    for (code, n) in &s.calls.failed {
        let _ = writeln!(out, "sipjet_calls_failed_total{{status=\"{code}\"}} {n}");
    }
    single(
        &mut out,
        "sipjet_calls_active",
        "gauge",
        "Calls in progress.",
        s.calls.active,
    );
    single(
        &mut out,
        "sipjet_capture_bytes",
        "gauge",
        "Bytes held by the capture ring of the console: messages and their bookkeeping.",
        s.capture_bytes,
    );
    single(
        &mut out,
        "sipjet_capture_messages",
        "gauge",
        "Messages held by the capture ring.",
        s.capture_messages,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition() {
        let s = Snapshot {
            received: vec![
                MessageCount {
                    method: "OPTIONS",
                    status: None,
                    count: 3,
                },
                MessageCount {
                    method: "OPTIONS",
                    status: Some(200),
                    count: 1,
                },
            ],
            sent: vec![MessageCount {
                method: "REGISTER",
                status: Some(401),
                count: 2,
            }],
            transactions: 4,
            auth_failures: vec![("ChallengeResponseFailed", 5), ("InvalidNonce", 0)],
            queue_depth: 6,
            pool_threads: 7,
            bindings: 8,
            requests_refused: 9,
            unidentified_sources: 10,
            calls: CallCounts {
                attempted: 11,
                answered: 12,
                failed: vec![(486, 13)],
                active: 14,
            },
            capture_bytes: 15,
            capture_messages: 16,
        };
        let text = render(&s);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "sipjet_messages_received_total{method=\"OPTIONS\"} 3",
                "sipjet_messages_received_total{method=\"OPTIONS\",status=\"200\"} 1",
                "sipjet_messages_sent_total{method=\"REGISTER\",status=\"401\"} 2",
                "sipjet_transactions 4",
                "sipjet_auth_failures_total{kind=\"ChallengeResponseFailed\"} 5",
                "sipjet_auth_failures_total{kind=\"InvalidNonce\"} 0",
                "sipjet_queue_depth 6",
                "sipjet_pool_threads 7",
                "sipjet_bindings 8",
                "sipjet_requests_refused_total 9",
                "sipjet_unidentified_sources 10",
                "sipjet_calls_attempted_total 11",
                "sipjet_calls_answered_total 12",
                "sipjet_calls_failed_total{status=\"486\"} 13",
                "sipjet_calls_active 14",
                "sipjet_capture_bytes 15",
                "sipjet_capture_messages 16",
            ]
        );
        assert!(text.contains("# TYPE sipjet_messages_received_total counter\n"));
        assert!(text.contains("# TYPE sipjet_transactions gauge\n"));
        assert!(text.contains("# TYPE sipjet_requests_refused_total counter\n"));
        // Every family is announced once, before its samples.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types, 15);
        assert!(text.ends_with('\n'));
    }
}
