//! One whole non-INVITE server transaction as a server runs it: parse the
//! datagram, match it (a new transaction), hand the request to the TU,
//! build the 200, respond, serialize what goes on the wire. Every request
//! has its own branch; the clock jumps past Timer J now and then so that
//! finished transactions leave, as they would.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sipjet_message::Message;
use sipjet_transaction::{Event, TimerConfig, Transactions};

const DISTINCT: usize = 10_000;

fn options(i: usize) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:service@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5061;branch=z9hG4bK-bench-{i};rport=5061;received=192.0.2.20\r\n\
From: sipp <sip:sipp@192.0.2.20:5061>;tag={i}SIPpTag00{i}\r\n\
To: <sip:service@192.0.2.10:5060>\r\n\
Call-ID: {i}-12345@192.0.2.20\r\n\
CSeq: 1 OPTIONS\r\n\
Contact: <sip:sipp@192.0.2.20:5061>\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

fn bench(c: &mut Criterion) {
    let datagrams: Vec<Bytes> = (0..DISTINCT).map(options).collect();
    // Shared, as a transport's receive buffer is.
    let _shared: Vec<Bytes> = datagrams.to_vec();
    let mut layer: Transactions<u32> = Transactions::new(TimerConfig::default());
    let mut now = Instant::now();
    let mut i = 0;
    let mut g = c.benchmark_group("server non-INVITE transaction");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse, match, respond, serialize", |b| {
        b.iter(|| {
            let request = Message::parse(datagrams[i].clone()).unwrap();
            layer.handle_incoming(request, 0, false, now);
            let Some(Event::Request { id, request, .. }) = layer.poll_event() else {
                panic!("a new server transaction")
            };
            let ok = Message::response_to(&request, 200).unwrap();
            layer.respond(id, ok, now).unwrap();
            let sent = layer.poll_transmit().unwrap();
            black_box(sent.message.to_bytes());
            i += 1;
            if i == DISTINCT {
                i = 0;
                now += Duration::from_secs(40);
                layer.handle_timeout(now);
                while layer.poll_event().is_some() {}
                assert!(layer.is_empty());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
