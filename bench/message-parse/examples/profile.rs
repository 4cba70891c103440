//! A fixed workload for profilers: parse the benchmark's INVITE and read
//! the same six fields, `N` times (default 10,000). Instruction counts from
//! `valgrind --tool=callgrind target/release/examples/profile` are
//! repeatable on a noisy machine, which timings are not.

use std::hint::black_box;

use bytes::Bytes;
use sipjet_message::Message;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let data = Bytes::copy_from_slice(sipjet_message_bench::INVITE.as_bytes());
    let _shared = data.clone();
    for _ in 0..n {
        let m = Message::parse(black_box(&data).clone()).unwrap();
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
}
