//! Threadpool throughput and latency: tasks per second through many
//! serializers, and the round trip of a synchronous push (queue, wake a
//! thread, run, hand the result back).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sipjet_core::{PoolConfig, ThreadPool};

fn pool() -> ThreadPool {
    ThreadPool::new(PoolConfig {
        initial_size: 2,
        auto_increment: 1,
        idle_timeout: Duration::from_secs(60),
        max_size: 2,
    })
}

fn throughput(c: &mut Criterion) {
    let p = pool();
    let mut g = c.benchmark_group("tasks");
    const TASKS: usize = 10_000;
    g.throughput(Throughput::Elements(TASKS as u64));
    for works in [1usize, 100, 1_000] {
        let serializers: Vec<_> = (0..works).map(|i| p.create_work(&i.to_string())).collect();
        g.bench_with_input(BenchmarkId::new("serializers", works), &works, |b, _| {
            b.iter(|| {
                let left = Arc::new(AtomicUsize::new(TASKS));
                let (tx, rx) = mpsc::sync_channel(1);
                for i in 0..TASKS {
                    let left = Arc::clone(&left);
                    let tx = tx.clone();
                    serializers[i % works]
                        .push(move || {
                            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                                tx.send(()).unwrap();
                            }
                        })
                        .unwrap();
                }
                rx.recv().unwrap();
            })
        });
    }
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let p = pool();
    let s = p.create_work("latency");
    c.bench_function("push_sync round trip", |b| {
        b.iter(|| s.push_sync(|| black_box(1)).unwrap())
    });
}

criterion_group!(benches, throughput, round_trip);
criterion_main!(benches);
