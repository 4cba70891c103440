//! What the capture ring costs per message: a REGISTER flow's messages
//! handed to the capture as the transports hand them (the tap), timed
//! while the ring fills and once it is full and forgets a message for
//! each one it keeps; parsing the same message is timed beside it for
//! scale. Also the bytes each message takes in the ring.
//!
//! ```text
//! cargo run --release -p sipjet --example capture_cost [MESSAGES]
//! ```

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use sipjet_core::transport::{Direction, Flow, Tap, Tapped};
use sipjet_core::{Message, Protocol};
use sipjet_server::capture::Capture;

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

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    let distinct = 10_000;
    let wires: Vec<Vec<u8>> = (0..distinct).flat_map(flow).collect();
    let messages: Vec<Message> = wires
        .iter()
        .map(|w| Message::parse(w.clone()).expect("valid"))
        .collect();
    let flow = Flow {
        protocol: Protocol::Udp,
        local: "192.0.2.1:5060".parse().unwrap(),
        remote: "192.0.2.10:5062".parse().unwrap(),
        connection: None,
    };
    let mean: usize = wires.iter().map(Vec::len).sum::<usize>() / wires.len();
    println!("messages of {mean} bytes on average");

    let capture = Capture::new(64 << 20, None);
    let tap = |i: usize| {
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
    };
    // Filling: until the ring first forgets a message.
    let started = Instant::now();
    let mut i = 0;
    let forgot_none = || {
        let ring = capture.ring().unwrap();
        ring.captured() == ring.len() as u64
    };
    while i < total && forgot_none() {
        tap(i);
        i += 1;
    }
    let filling = started.elapsed();
    println!(
        "filling 64 MiB: {i} messages, {:.0} ns/message",
        filling.as_nanos() as f64 / i as f64
    );
    let full = Instant::now();
    for j in i..i + total {
        tap(j);
    }
    let steady = full.elapsed();
    let ring = capture.ring().unwrap();
    println!(
        "full ring: {total} messages, {:.0} ns/message; holds {} messages in {} of {} bytes \
         ({} bytes each), {} flows",
        steady.as_nanos() as f64 / total as f64,
        ring.len(),
        ring.used(),
        ring.budget(),
        ring.used() / ring.len().max(1),
        ring.flow_count()
    );
    drop(ring);

    let started = Instant::now();
    for j in 0..total {
        black_box(Message::parse(wires[j % wires.len()].clone()).ok());
    }
    println!(
        "for scale, parsing the same messages: {:.0} ns/message",
        started.elapsed().as_nanos() as f64 / total as f64
    );
}
