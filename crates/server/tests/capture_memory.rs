//! The capture ring's budget is the memory it takes: with every block the
//! process allocates counted, a ring filled with a server's traffic
//! (OPTIONS, each its own flow; REGISTER flows of four messages) holds no
//! more than its budget, and no more than it says it holds, and reading
//! its flows back leaves nothing behind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use sipjet_core::Protocol;
use sipjet_core::transport::Direction;
use sipjet_server::capture::ring::{FlowQuery, NewRecord, Ring};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One message of the traffic: its Call-ID and bytes.
struct Sample {
    call_id: String,
    wire: Vec<u8>,
}

/// `start` and padding up to `size` bytes.
fn message(start: &str, size: usize) -> Vec<u8> {
    let mut w = format!("{start}\r\n").into_bytes();
    w.resize(size, b'x');
    w
}

fn traffic(n: usize) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        let options = format!("{i:016x}-options@192.0.2.10");
        out.push(Sample {
            call_id: options.clone(),
            wire: message("OPTIONS sip:192.0.2.1 SIP/2.0", 380 + i % 40),
        });
        out.push(Sample {
            call_id: options,
            wire: message("SIP/2.0 200 OK", 330 + i % 40),
        });
        let register = format!("{i:016x}-register@192.0.2.10");
        for (start, size) in [
            ("REGISTER sip:example.com SIP/2.0", 420),
            ("SIP/2.0 401 Unauthorized", 380),
            ("REGISTER sip:example.com SIP/2.0", 640),
            ("SIP/2.0 200 OK", 420),
        ] {
            out.push(Sample {
                call_id: register.clone(),
                wire: message(start, size),
            });
        }
        i += 1;
    }
    out
}

#[test]
fn a_full_ring_takes_no_more_than_its_budget() {
    let samples = traffic(60_000);
    let budget = 8 << 20;
    let before = LIVE.load(Ordering::Relaxed);
    let mut ring = Ring::new(budget);
    let mut peak = 0;
    for (k, s) in samples.iter().enumerate() {
        ring.push(NewRecord {
            at: SystemTime::now(),
            direction: if k % 2 == 0 {
                Direction::Received
            } else {
                Direction::Sent
            },
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "192.0.2.10:5062".parse().unwrap(),
            call_id: &s.call_id,
            wire: &s.wire,
        });
        let live = LIVE.load(Ordering::Relaxed) - before;
        peak = peak.max(live);
        assert!(
            live <= ring.used(),
            "after {k} messages the ring holds {live} bytes but counts {}",
            ring.used()
        );
    }
    // It filled, forgot the oldest, and stayed within its budget.
    assert!(ring.captured() > ring.len() as u64);
    assert!(peak <= budget, "peak {peak} of {budget}");
    // Its count is not far above what it holds either: the budget is
    // spent on messages.
    let live = LIVE.load(Ordering::Relaxed) - before;
    assert!(
        live * 10 >= ring.used() * 7,
        "holds {live}, counts {}",
        ring.used()
    );
    // Most of it is the messages' own bytes.
    let held: usize = samples[samples.len() - ring.len()..]
        .iter()
        .map(|s| s.wire.len())
        .sum();
    assert!(
        held * 10 >= budget * 7,
        "{held} bytes of messages in {budget}"
    );
    // Reading it back allocates only what it returns.
    let flows = ring.search(&FlowQuery::default(), 1000);
    assert_eq!(flows.len(), 1000);
    let newest = &samples[samples.len() - 1].call_id;
    let records = ring.flow(newest, 100).expect("the newest flow is held");
    assert_eq!(records.len(), 4);
    drop((flows, records));
    assert_eq!(LIVE.load(Ordering::Relaxed) - before, live);
}
