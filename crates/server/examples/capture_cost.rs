//! What the capture ring costs per message: a REGISTER flow's messages
//! handed to the capture as the transports hand them (the tap), timed
//! while the ring fills and once it is full and forgets a message for
//! each one it keeps; parsing the same message is timed beside it for
//! scale. Also the bytes each message takes in the ring, and what the
//! console's reading of a full ring takes.
//!
//! ```text
//! cargo run --release -p sipjet --example capture_cost [MESSAGES]
//! ```

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use sipjet_core::transport::{Direction, Flow, Tap, Tapped};
use sipjet_core::{Message, Protocol};
use sipjet_server::capture::Capture;
use sipjet_server::capture::ring::FlowQuery;

/// A REGISTER of the size phones send, and its 200.
fn flow(i: usize) -> [Vec<u8>; 2] {
    let call_id = format!("{i:08x}-5f1c2b9e@192.0.2.10");
    let register = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{i:x}a;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:user{i}@example.com>;tag={i:x}f\r\n\
To: <sip:user{i}@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:user{i}@192.0.2.10:5062;transport=udp>;expires=3600\r\n\
Authorization: Digest username=\"user{i}\", realm=\"example.com\", nonce=\"0123456789abcdef0123456789abcdef\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abcdef\"\r\n\
User-Agent: phone/1.0\r\n\
Content-Length: 0\r\n\r\n"
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{i:x}a;rport=5062;received=192.0.2.10\r\n\
From: <sip:user{i}@example.com>;tag={i:x}f\r\n\
To: <sip:user{i}@example.com>;tag=srv{i:x}\r\n\
Call-ID: {call_id}\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:user{i}@192.0.2.10:5062;transport=udp>;expires=3600\r\n\
Server: sipjet\r\n\
Content-Length: 0\r\n\r\n"
    );
    [register.into_bytes(), ok.into_bytes()]
}

/// Messages `distinct` flows make, and the same parsed.
fn traffic(distinct: usize) -> (Vec<Vec<u8>>, Vec<Message>) {
    let wires: Vec<Vec<u8>> = (0..distinct).flat_map(flow).collect();
    let messages = wires
        .iter()
        .map(|w| Message::parse(w.clone()).expect("valid"))
        .collect();
    (wires, messages)
}

/// Hands `capture` the messages `from..to` of the traffic, round and
/// round, as the transports would.
fn tap(
    capture: &Capture,
    (wires, messages): &(Vec<Vec<u8>>, Vec<Message>),
    from: usize,
    to: usize,
) {
    let flow = Flow {
        protocol: Protocol::Udp,
        local: "192.0.2.1:5060".parse().unwrap(),
        remote: "192.0.2.10:5062".parse().unwrap(),
        connection: None,
    };
    for i in from..to {
        let k = i % messages.len();
        capture.on_message(Tapped {
            direction: if k.is_multiple_of(2) {
                Direction::Received
            } else {
                Direction::Sent
            },
            wire: &wires[k],
            message: &messages[k],
            flow: &flow,
            at: SystemTime::now(),
        });
    }
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    // The server taps a message it has just parsed or written: a few
    // flows, so that the messages are in the cache as they would be.
    let hot = traffic(16);
    let mean: usize = hot.0.iter().map(Vec::len).sum::<usize>() / hot.0.len();
    println!("messages of {mean} bytes on average");

    let capture = Capture::new(64 << 20, None);
    // Filling: until the ring first forgets a message.
    let started = Instant::now();
    let mut i = 0;
    let forgot_none = || {
        let ring = capture.ring().unwrap();
        ring.captured() == ring.len() as u64
    };
    while i < total && forgot_none() {
        tap(&capture, &hot, i, i + 1);
        i += 1;
    }
    let filling = started.elapsed();
    println!(
        "filling 64 MiB: {i} messages, {:.0} ns/message",
        filling.as_nanos() as f64 / i as f64
    );
    let full = Instant::now();
    tap(&capture, &hot, i, i + total);
    let steady = full.elapsed();
    {
        let ring = capture.ring().unwrap();
        println!(
            "full ring: {total} messages, {:.0} ns/message; holds {} messages in {} of {} bytes \
             ({} bytes each)",
            steady.as_nanos() as f64 / total as f64,
            ring.len(),
            ring.used(),
            ring.budget(),
            ring.used() / ring.len().max(1),
        );
    }

    // What the console's pages cost: reading the whole ring, which holds
    // the SIP path's capture while it runs; 20,000 flows this time.
    let many = traffic(20_000);
    let capture = Capture::new(64 << 20, None);
    tap(&capture, &many, 0, 4 * many.0.len());
    let ring = capture.ring().unwrap();
    // The best of a few, as a console asks again and again.
    let mut search = std::time::Duration::MAX;
    let mut flows = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        flows = ring.search(&FlowQuery::default(), 200);
        search = search.min(started.elapsed());
    }
    let started = Instant::now();
    let one = ring.flow(&flows[0].call_id, 2000).map_or(0, |r| r.len());
    let flow = started.elapsed();
    let started = Instant::now();
    let count = ring.flow_count();
    println!(
        "reading a full ring of {} messages, {count} flows: a search {:.1} ms ({} flows shown), \
         one flow's messages ({one}) {:.2} ms, counting the flows {:.1} ms",
        ring.len(),
        search.as_secs_f64() * 1e3,
        flows.len(),
        flow.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(ring);

    let started = Instant::now();
    for j in 0..total {
        black_box(Message::parse(hot.0[j % hot.0.len()].clone()).ok());
    }
    println!(
        "for scale, parsing the same messages: {:.0} ns/message",
        started.elapsed().as_nanos() as f64 / total as f64
    );
}
