//! Parse a typical INVITE with SDP and a REGISTER with Authorization, then
//! read the Via branch, From tag, To tag, Call-ID, CSeq and Contact URI:
//! sipjet-message side by side with rsip and rsipstack doing the same work.
//! Allocations per message are counted with a counting global allocator
//! and printed before the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

use sipjet_message_bench::{INVITE, REGISTER};

fn sipjet(data: &Bytes) {
    let m = sipjet_message::Message::parse(data.clone()).unwrap();
    let via = m.via().unwrap();
    let from = m.from_header().unwrap();
    let to = m.to_header().unwrap();
    let contact = m.contact().unwrap().unwrap();
    black_box((
        via.branch().unwrap(),
        from.tag().unwrap(),
        to.tag(),
        m.call_id().unwrap(),
        m.cseq().unwrap().seq,
        contact.addr().unwrap().uri().unwrap(),
    ));
}

fn rsip(data: &[u8]) {
    use rsip::prelude::*;
    let m = rsip::SipMessage::try_from(data).unwrap();
    let via = m.via_header().unwrap().typed().unwrap();
    let from = m.from_header().unwrap().typed().unwrap();
    let to = m.to_header().unwrap().typed().unwrap();
    let contact = m.contact_header().unwrap().typed().unwrap();
    black_box((
        via.branch().cloned().unwrap(),
        from.tag().cloned().unwrap(),
        to.tag().cloned(),
        m.call_id_header().unwrap().value().to_string(),
        m.cseq_header().unwrap().typed().unwrap().seq,
        contact.uri,
    ));
}

fn rsipstack(data: &[u8]) {
    use rsipstack::sip::prelude::*;
    let m = rsipstack::sip::SipMessage::try_from(data).unwrap();
    let via = m.via_header().unwrap().typed().unwrap();
    let from = m.from_header().unwrap().typed().unwrap();
    let to = m.to_header().unwrap().typed().unwrap();
    let contact = m.contact_header().unwrap().typed().unwrap();
    black_box((
        via.branch().cloned().unwrap(),
        from.tag().cloned().unwrap(),
        to.tag().cloned(),
        m.call_id_header().unwrap().value().to_string(),
        m.cseq_header().unwrap().typed().unwrap().seq,
        contact.uri,
    ));
}

fn allocations(f: impl Fn()) -> usize {
    f(); // warm up lazily initialised state
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) / 100
}

fn bench(c: &mut Criterion) {
    for (name, text) in [("invite", INVITE), ("register", REGISTER)] {
        // A buffer as a transport hands it over: already shared.
        let shared = Bytes::copy_from_slice(text.as_bytes());
        let _promote = shared.clone();
        let raw = text.as_bytes();
        println!(
            "{name} ({} bytes): allocations per message: sipjet {}, rsip {}, rsipstack {}",
            raw.len(),
            allocations(|| sipjet(&shared)),
            allocations(|| rsip(raw)),
            allocations(|| rsipstack(raw)),
        );
        let mut g = c.benchmark_group(name);
        g.bench_function("sipjet", |b| b.iter(|| sipjet(black_box(&shared))));
        g.bench_function("rsip", |b| b.iter(|| rsip(black_box(raw))));
        g.bench_function("rsipstack", |b| b.iter(|| rsipstack(black_box(raw))));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
