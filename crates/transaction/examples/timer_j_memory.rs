//! What a completed non-INVITE server transaction costs while it waits for
//! Timer J over UDP (RFC 3261 §17.2.2): drives N REGISTER-like server
//! transactions to Completed, as the server does (parse the datagram,
//! match it, hand it to the TU, build the 200, respond), and reports the
//! memory still held per transaction and the time each took. Then it
//! retransmits some requests (each must get its 200 again, the same
//! bytes) and lets Timer J expire them all.
//!
//! ```text
//! cargo run --release -p sipjet-transaction --example timer_j_memory -- 200000
//! ```
//!
//! Memory is counted two ways: bytes the allocator has handed out and not
//! got back (exact, from a counting global allocator), and the growth of
//! the resident set (`/proc/self/statm`, which also sees the allocator's
//! own overhead and fragmentation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use sipjet_message::Message;
use sipjet_transaction::{Event, Peer, TimerConfig, Transactions};
use sipjet_transport::{Flow, Protocol};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Resident set size in bytes.
fn resident() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: isize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A digest REGISTER as a UA behind its own address sends it, with the
/// `received`/`rport` the transport adds.
fn register(i: u32) -> Vec<u8> {
    let (a, b) = (i >> 8 & 0xff, i & 0xff);
    let user = 1000 + i % 5000;
    format!(
        "REGISTER sip:registrar.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.20.{a}.{b}:5060;rport=5060;branch=z9hG4bK-{i:08x}-7f3c1a9e2b;received=10.20.{a}.{b}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@registrar.example.net>;tag=a73kszlfl{i:x}\r\n\
To: <sip:{user}@registrar.example.net>\r\n\
Call-ID: 1j9FpLxk3uxtm8tn{i:x}@10.20.{a}.{b}\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:{user}@10.20.{a}.{b}:5060;transport=udp>\r\n\
Expires: 3600\r\n\
Authorization: Digest username=\"{user}\", realm=\"registrar.example.net\", \
nonce=\"8c1d2bc5e6f7a8b90c1d2e3f4a5b6c7d\", uri=\"sip:registrar.example.net\", \
response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5\r\n\
User-Agent: Softphone/2.1\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The registrar's 200: the request's Via, From, To (tagged), Call-ID and
/// CSeq, the binding, and a Date, as a registrar sends it (~450 bytes).
fn ok(request: &Message, i: u32) -> Message {
    let (a, b) = (i >> 8 & 0xff, i & 0xff);
    let user = 1000 + i % 5000;
    let mut ok = Message::response_to(request, 200).expect("a REGISTER");
    let contact = format!("<sip:{user}@10.20.{a}.{b}:5060;transport=udp>;expires=3600");
    ok.add_header("Contact", &contact).expect("a header");
    ok.add_header("Date", "Thu, 03 Dec 2026 20:24:21 GMT")
        .expect("a header");
    ok.add_header("Server", "sipjet/0.1").expect("a header");
    ok
}

fn flow(i: u32) -> Flow {
    let (a, b) = (i >> 8 & 0xff, i & 0xff);
    Flow {
        protocol: Protocol::Udp,
        local: SocketAddr::from(([192, 0, 2, 10], 5060)),
        remote: SocketAddr::from(([10, 20, a as u8, b as u8], 5060)),
        connection: None,
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of transactions"))
        .unwrap_or(200_000);
    let timers = TimerConfig::default();
    let timer_j = timers.timer_j;
    let mut layer: Transactions<Peer> = Transactions::new(timers);
    let t0 = Instant::now();

    let (bytes0, blocks0, rss0) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
        resident(),
    );
    let mut response_bytes = 0usize;
    let started = Instant::now();
    for i in 0..n {
        // The clock advances as at 14,000 requests a second.
        let now = t0 + Duration::from_nanos(u64::from(i) * 71_428);
        let request = Message::parse(register(i)).expect("a REGISTER");
        layer.handle_incoming(request, Peer::Received(flow(i)), false, now);
        let Some(Event::Request { id, request, .. }) = layer.poll_event() else {
            panic!("a new server transaction");
        };
        layer.respond(id, ok(&request, i), now).expect("respond");
        let sent = layer.poll_transmit().expect("the 200 goes out");
        response_bytes += sent.message.to_bytes().len();
    }
    let elapsed = started.elapsed();
    let (bytes1, blocks1, rss1) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
        resident(),
    );
    assert_eq!(layer.len(), n as usize, "every transaction held");
    let per = |x: isize| x as f64 / f64::from(n);
    println!("{n} completed non-INVITE server transactions held for Timer J over UDP");
    println!(
        "  response size:  {:.0} bytes on average",
        response_bytes as f64 / f64::from(n)
    );
    println!(
        "  allocated:      {:.0} bytes per held transaction in {:.2} blocks",
        per(bytes1 - bytes0),
        per(blocks1 - blocks0)
    );
    println!(
        "  resident (RSS): {:.0} bytes per held transaction ({:.1} MiB in all)",
        per(rss1 - rss0),
        (rss1 - rss0) as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  time:           {:.2} µs per transaction (parse, match, respond, build the 200)",
        elapsed.as_secs_f64() * 1e6 / f64::from(n)
    );

    // Retransmissions are answered with the very bytes first sent.
    let retransmitted = n.min(10_000);
    let last = t0 + Duration::from_nanos(u64::from(n) * 71_428);
    let started = Instant::now();
    for i in 0..retransmitted {
        let request = Message::parse(register(i)).expect("a REGISTER");
        layer.handle_incoming(request, Peer::Received(flow(i)), false, last);
        let again = layer.poll_transmit().expect("the 200 again");
        assert_eq!(again.message.status(), Some(200));
        assert!(layer.poll_event().is_none(), "no TU involvement");
    }
    println!(
        "  retransmission: {:.2} µs each ({retransmitted} answered from the held response)",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(retransmitted)
    );

    // Timer J ends them all.
    let started = Instant::now();
    layer.handle_timeout(last + timer_j);
    let mut ended = 0usize;
    while let Some(event) = layer.poll_event() {
        if matches!(event, Event::Terminated { .. }) {
            ended += 1;
        }
    }
    assert_eq!(ended, n as usize);
    assert!(layer.is_empty());
    println!(
        "  Timer J:        {:.2} µs per expired transaction",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}
