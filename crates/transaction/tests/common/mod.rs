//! A fake clock and message builders for driving [`Transactions`] through
//! whole flows.

#![allow(dead_code)] // each test file uses a different part of this

use std::time::{Duration, Instant};

use sipjet_message::{Message, Method};
use sipjet_transaction::{Event, TimerConfig, TransactionId, Transactions, Transmit};

/// The peer every message of these tests goes to or comes from.
pub const PEER: u32 = 7;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A transaction layer and a clock that only moves when told.
pub struct Harness {
    pub layer: Transactions<u32>,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(TimerConfig::default())
    }

    pub fn with(timers: TimerConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            layer: Transactions::new(timers),
            t0,
            now: t0,
        }
    }

    /// Milliseconds since the start.
    pub fn elapsed(&self) -> u64 {
        (self.now - self.t0).as_millis() as u64
    }

    /// Moves the clock to `t0 + at_ms` without firing timers.
    pub fn set(&mut self, at_ms: u64) {
        self.now = self.t0 + ms(at_ms);
    }

    /// Fires every timer up to `t0 + until_ms`, one deadline at a time,
    /// and returns the transmits with the millisecond each happened at.
    pub fn run_until(&mut self, until_ms: u64) -> Vec<(u64, Transmit<u32>)> {
        let end = self.t0 + ms(until_ms);
        let mut sent = Vec::new();
        while let Some(at) = self.layer.poll_timeout().filter(|&at| at <= end) {
            assert!(at >= self.now, "a deadline went back in time");
            self.now = at;
            self.layer.handle_timeout(at);
            while let Some(t) = self.layer.poll_transmit() {
                sent.push((self.elapsed(), t));
            }
        }
        self.now = end;
        sent
    }

    pub fn send(&mut self, request: &Message, reliable: bool) -> TransactionId {
        self.layer
            .send_request(request.clone(), PEER, reliable, self.now)
            .expect("request accepted")
    }

    pub fn receive(&mut self, message: &Message, reliable: bool) {
        self.layer
            .handle_incoming(message.clone(), PEER, reliable, self.now);
    }

    pub fn respond(&mut self, id: TransactionId, response: &Message) {
        self.layer
            .respond(id, response.clone(), self.now)
            .expect("response accepted");
    }

    pub fn transmits(&mut self) -> Vec<Transmit<u32>> {
        std::iter::from_fn(|| self.layer.poll_transmit()).collect()
    }

    pub fn events(&mut self) -> Vec<Event<u32>> {
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }

    /// Receives a new request and returns the server transaction the
    /// layer reported for it.
    pub fn receive_new(&mut self, request: &Message, reliable: bool) -> TransactionId {
        self.receive(request, reliable);
        match self.events().as_slice() {
            [
                Event::Request {
                    id,
                    request: r,
                    source,
                },
            ] => {
                assert_eq!(*source, PEER);
                assert_eq!(r.to_bytes(), request.to_bytes());
                *id
            }
            other => panic!("expected one Request event, got {other:?}"),
        }
    }
}

/// A request with `branch` in its top Via (none when empty), sent over
/// `transport`.
pub fn request(method: Method, branch: &str, transport: &str) -> Message {
    build(method, branch, transport, "192.0.2.1:5060", None)
}

/// A request with the given sent-by.
pub fn request_from(method: Method, branch: &str, transport: &str, sent_by: &str) -> Message {
    build(method, branch, transport, sent_by, None)
}

/// An ACK with `branch` and the To tag of the response it acknowledges:
/// with the INVITE's branch, the ACK for a non-2xx; with a new one, the
/// ACK for a 2xx.
pub fn ack(branch: &str, transport: &str, to_tag: &str) -> Message {
    build(
        Method::Ack,
        branch,
        transport,
        "192.0.2.1:5060",
        Some(to_tag),
    )
}

fn build(
    method: Method,
    branch: &str,
    transport: &str,
    sent_by: &str,
    to_tag: Option<&str>,
) -> Message {
    let branch = if branch.is_empty() {
        String::new()
    } else {
        format!(";branch={branch}")
    };
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "{m} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/{transport} {sent_by}{branch}\r\n\
Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKupstream\r\n\
Route: <sip:proxy.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=from1\r\n\
To: Bob <sip:bob@example.com>{to_tag}\r\n\
Call-ID: call1@192.0.2.1\r\n\
CSeq: 10 {m}\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Length: 0\r\n\r\n",
        m = method.as_str()
    );
    Message::parse(text.into_bytes()).expect("test request parses")
}

/// A response to `request` with To tag `to_tag` (none for 100), parsed
/// as a received one would be.
pub fn response(request: &Message, code: u16, to_tag: &str) -> Message {
    let r = Message::response_to_with(request, code, None, Some(to_tag)).expect("response builds");
    Message::parse(r.to_bytes()).expect("response parses")
}

/// The status codes of transmitted messages.
pub fn statuses(sent: &[Transmit<u32>]) -> Vec<Option<u16>> {
    sent.iter().map(|t| t.message.status()).collect()
}
