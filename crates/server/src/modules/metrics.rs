//! Message counters: every request and response the services see received
//! and every one sent, by method and status code, for the admin
//! interface's Prometheus metrics.
//!
//! The server is meant to take tens of thousands of requests a second, so
//! counting must cost next to nothing: each message is one relaxed atomic
//! increment in a fixed table indexed by method (and status code), with no
//! lock and no allocation.
//!
//! What is counted is what passes through the services. The service
//! stands before the distributor, so it also counts the requests the core
//! then challenges or refuses in authentication. Not counted as received:
//! retransmissions the transaction layer absorbs and requests refused for
//! overload. Not counted as sent: the `100 Trying` and the retransmissions
//! of the transaction layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sipjet_core::{
    Destination, Flow, Handled, IncomingRequest, IncomingResponse, Message, Method, Service,
};

/// The method labels, in table order. Extension methods share the last
/// one, so that a peer inventing method names cannot grow the table.
pub const METHOD_LABELS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
    "other",
];

const OTHER: usize = METHOD_LABELS.len() - 1;
const LOWEST_STATUS: u16 = 100;
/// Status codes 100..=699, the only ones a message can carry.
const STATUS_CODES: usize = 600;

fn method_index(method: &Method) -> usize {
    match method {
        Method::Invite => 0,
        Method::Ack => 1,
        Method::Bye => 2,
        Method::Cancel => 3,
        Method::Options => 4,
        Method::Register => 5,
        Method::Prack => 6,
        Method::Subscribe => 7,
        Method::Notify => 8,
        Method::Publish => 9,
        Method::Info => 10,
        Method::Refer => 11,
        Method::Message => 12,
        Method::Update => 13,
        Method::Other(_) => OTHER,
    }
}

/// The index of a CSeq method, which is text (method names are case
/// sensitive, so `options` is an extension method).
fn method_name_index(name: &str) -> usize {
    METHOD_LABELS[..OTHER]
        .iter()
        .position(|m| *m == name)
        .unwrap_or(OTHER)
}

/// Whether a message came in or went out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    Received,
    /// Sent.
    Sent,
}

/// One direction's table.
struct Table {
    requests: [AtomicU64; METHOD_LABELS.len()],
    /// `method * STATUS_CODES + (code - 100)`.
    responses: Box<[AtomicU64]>,
}

impl Table {
    fn new() -> Table {
        Table {
            requests: [const { AtomicU64::new(0) }; METHOD_LABELS.len()],
            responses: (0..METHOD_LABELS.len() * STATUS_CODES)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn counts(&self) -> Vec<MessageCount> {
        let mut out = Vec::new();
        for (method, c) in METHOD_LABELS.iter().zip(&self.requests) {
            let count = c.load(Ordering::Relaxed);
            if count > 0 {
                out.push(MessageCount {
                    method,
                    status: None,
                    count,
                });
            }
        }
        for (i, c) in self.responses.iter().enumerate() {
            let count = c.load(Ordering::Relaxed);
            if count > 0 {
                out.push(MessageCount {
                    method: METHOD_LABELS[i / STATUS_CODES],
                    // i % STATUS_CODES < 600: the cast cannot truncate.
                    status: Some(LOWEST_STATUS + (i % STATUS_CODES) as u16),
                    count,
                });
            }
        }
        out
    }
}

/// A counter that is not zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageCount {
    /// The method label (the CSeq method for a response).
    pub method: &'static str,
    /// The status code of a response; `None` for a request.
    pub status: Option<u16>,
    /// How many.
    pub count: u64,
}

/// Messages received and sent, by method and status code.
pub struct MessageCounters {
    received: Table,
    sent: Table,
}

impl Default for MessageCounters {
    fn default() -> Self {
        MessageCounters::new()
    }
}

impl MessageCounters {
    /// All counters at zero.
    pub fn new() -> MessageCounters {
        MessageCounters {
            received: Table::new(),
            sent: Table::new(),
        }
    }

    fn table(&self, direction: Direction) -> &Table {
        match direction {
            Direction::Received => &self.received,
            Direction::Sent => &self.sent,
        }
    }

    /// Counts a request.
    pub fn count_request(&self, direction: Direction, method: &Method) {
        self.table(direction).requests[method_index(method)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a response by its status code and CSeq method. A response
    /// without a readable CSeq counts under `other`.
    pub fn count_response(&self, direction: Direction, response: &Message) {
        let Some(code) = response.status() else {
            return;
        };
        let method = response
            .cseq()
            .map_or(OTHER, |c| method_name_index(c.method));
        let Some(offset) = code
            .checked_sub(LOWEST_STATUS)
            .map(usize::from)
            .filter(|o| *o < STATUS_CODES)
        else {
            return;
        };
        if let Some(c) = self
            .table(direction)
            .responses
            .get(method * STATUS_CODES + offset)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters that are not zero: requests first, in method order,
    /// then responses by method and status code.
    pub fn counts(&self, direction: Direction) -> Vec<MessageCount> {
        self.table(direction).counts()
    }
}

/// The service that counts; it never handles a message.
pub struct MessageMetrics {
    counters: Arc<MessageCounters>,
}

impl MessageMetrics {
    /// A service counting into `counters`.
    pub fn new(counters: Arc<MessageCounters>) -> MessageMetrics {
        MessageMetrics { counters }
    }
}

impl Service for MessageMetrics {
    fn runs_inline(&self) -> bool {
        // Atomic counters.
        true
    }

    fn name(&self) -> &str {
        "metrics"
    }

    fn priority(&self) -> i32 {
        // First of all: a service before it that handles a message would
        // hide the message from it.
        i32::MIN
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        self.counters
            .count_request(Direction::Received, request.method());
        Handled::No
    }

    fn on_rx_response(&self, response: &IncomingResponse) -> Handled {
        self.counters
            .count_response(Direction::Received, &response.message);
        Handled::No
    }

    fn on_tx_request(&self, request: &mut Message, _dest: &Destination) {
        if let Some(method) = request.method() {
            self.counters.count_request(Direction::Sent, method);
        }
    }

    fn on_tx_response(&self, response: &mut Message, _flow: &Flow) {
        self.counters.count_response(Direction::Sent, response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(code: u16, cseq_method: &str) -> Message {
        Message::parse(
            format!(
                "SIP/2.0 {code} Whatever\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 7 {cseq_method}\r\n\
Content-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn requests_by_method_with_extensions_in_one_bucket() {
        let c = MessageCounters::new();
        for _ in 0..3 {
            c.count_request(Direction::Received, &Method::Options);
        }
        c.count_request(Direction::Received, &Method::Register);
        c.count_request(Direction::Received, &Method::parse("FOO").unwrap());
        c.count_request(Direction::Received, &Method::parse("BAR").unwrap());
        c.count_request(Direction::Sent, &Method::Message);
        let count = |method, status, count| MessageCount {
            method,
            status,
            count,
        };
        assert_eq!(
            c.counts(Direction::Received),
            vec![
                count("OPTIONS", None, 3),
                count("REGISTER", None, 1),
                count("other", None, 2),
            ]
        );
        assert_eq!(c.counts(Direction::Sent), vec![count("MESSAGE", None, 1)]);
    }

    #[test]
    fn responses_by_status_and_cseq_method() {
        let c = MessageCounters::new();
        c.count_response(Direction::Sent, &response(200, "OPTIONS"));
        c.count_response(Direction::Sent, &response(200, "OPTIONS"));
        c.count_response(Direction::Sent, &response(401, "REGISTER"));
        c.count_response(Direction::Sent, &response(699, "options"));
        c.count_response(Direction::Received, &response(100, "INVITE"));
        let sent = c.counts(Direction::Sent);
        assert_eq!(
            sent.iter()
                .map(|m| (m.method, m.status, m.count))
                .collect::<Vec<_>>(),
            vec![
                ("OPTIONS", Some(200), 2),
                ("REGISTER", Some(401), 1),
                ("other", Some(699), 1),
            ]
        );
        let received = c.counts(Direction::Received);
        assert_eq!(received.len(), 1);
        assert_eq!(
            (received[0].method, received[0].status),
            ("INVITE", Some(100))
        );
    }

    #[test]
    fn every_method_has_its_own_label() {
        for (i, name) in METHOD_LABELS[..OTHER].iter().enumerate() {
            let m = Method::parse(name).unwrap();
            assert_eq!(method_index(&m), i, "{name}");
            assert_eq!(method_name_index(name), i, "{name}");
        }
    }
}
