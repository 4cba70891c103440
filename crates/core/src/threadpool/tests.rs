//! Order, mutual exclusion, parallelism, panics, sizing and shutdown of the
//! threadpool. Channels with long timeouts guard against a bug hanging the
//! test run; they are not speed assertions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipjet_testkit::wait_until;

use super::*;

const GUARD: Duration = Duration::from_secs(30);

fn pool(initial: usize, increment: usize, max: usize) -> ThreadPool {
    ThreadPool::new(PoolConfig {
        initial_size: initial,
        auto_increment: increment,
        idle_timeout: Duration::from_secs(60),
        max_size: max,
    })
}

/// Pushes `tasks` tasks to each of `works` serializers from `pushers`
/// threads (each serializer always from the same thread, so its order is
/// defined) and checks every serializer ran its tasks in order and never
/// two at once. With `inline`, every other task goes through
/// [`Serializer::run_or_push`], which runs it on the pushing thread when
/// the serializer is idle.
fn order_and_exclusion(p: &ThreadPool, works: usize, tasks: usize, pushers: usize, inline: bool) {
    struct Work {
        serializer: Serializer,
        running: AtomicBool,
        log: Mutex<Vec<usize>>,
    }
    let all: Arc<Vec<Work>> = Arc::new(
        (0..works)
            .map(|i| Work {
                serializer: p.create_work(&format!("work-{i}")),
                running: AtomicBool::new(false),
                log: Mutex::new(Vec::with_capacity(tasks)),
            })
            .collect(),
    );
    let remaining = Arc::new(AtomicUsize::new(works * tasks));
    let (done_tx, done_rx) = mpsc::channel();
    let threads: Vec<_> = (0..pushers)
        .map(|t| {
            let all = Arc::clone(&all);
            let remaining = Arc::clone(&remaining);
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                for seq in 0..tasks {
                    for w in (t..all.len()).step_by(pushers) {
                        let all2 = Arc::clone(&all);
                        let remaining = Arc::clone(&remaining);
                        let done_tx = done_tx.clone();
                        let task = move || {
                            let work = &all2[w];
                            assert!(
                                !work.running.swap(true, Ordering::SeqCst),
                                "two tasks of one serializer ran at once"
                            );
                            work.log.lock().unwrap().push(seq);
                            std::hint::spin_loop();
                            work.running.store(false, Ordering::SeqCst);
                            if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                                done_tx.send(()).unwrap();
                            }
                        };
                        let serializer = &all[w].serializer;
                        if inline && seq % 2 == 1 {
                            serializer.run_or_push(task).unwrap();
                        } else {
                            serializer.push(task).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done_rx.recv_timeout(GUARD).expect("all tasks ran");
    for (i, w) in all.iter().enumerate() {
        let log = w.log.lock().unwrap();
        assert!(
            log.iter().copied().eq(0..tasks),
            "serializer {i} ran out of order: {log:?}"
        );
    }
    assert_eq!(p.queued_tasks(), 0);
}

#[test]
fn thousands_of_serializers_keep_order_and_exclusion() {
    let p = pool(4, 2, 8);
    order_and_exclusion(&p, 2_000, 50, 4, false);
    assert!(p.shutdown(GUARD));
}

#[test]
fn running_on_the_callers_thread_keeps_order_and_exclusion() {
    let p = pool(2, 1, 4);
    order_and_exclusion(&p, 500, 100, 4, true);
    assert!(p.shutdown(GUARD));
}

#[tokio::test]
async fn run_or_push_runs_here_only_when_idle() {
    let p = pool(1, 1, 1);
    let s = p.create_work("here");
    let me = std::thread::current().id();
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    assert_eq!(
        s.run_or_push(move || t.send(std::thread::current().id()).unwrap()),
        Ok(true)
    );
    assert_eq!(rx.recv_timeout(GUARD).unwrap(), me);
    // Busy: a task holds the serializer until released, so the next one
    // queues behind it and runs on the pool.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    s.push(move || release_rx.recv_timeout(GUARD).unwrap())
        .unwrap();
    let t = tx.clone();
    assert_eq!(
        s.run_or_push(move || t.send(std::thread::current().id()).unwrap()),
        Ok(false)
    );
    release_tx.send(()).unwrap();
    assert_ne!(rx.recv_timeout(GUARD).unwrap(), me);
    // The pool thread lets go of the serializer just after the task
    // returns; wait for that (a no-op that ran here says it is idle).
    wait_until("the serializer idle again", || {
        s.run_or_push(|| {}) == Ok(true)
    })
    .await;
    // A task run here that pushes to its own serializer hands the new task
    // to the pool when it is done.
    let inner = s.clone();
    assert_eq!(
        s.run_or_push(move || {
            inner
                .push(move || tx.send(std::thread::current().id()).unwrap())
                .unwrap();
        }),
        Ok(true)
    );
    assert_ne!(rx.recv_timeout(GUARD).unwrap(), me);
    assert!(p.shutdown(GUARD));
}

#[test]
fn different_serializers_run_in_parallel() {
    let p = pool(2, 1, 2);
    let (a_tx, a_rx) = mpsc::channel();
    let (b_tx, b_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let done_a = done_tx.clone();
    // Each task waits for the other to have started: only possible when
    // both run at the same time.
    p.create_work("a")
        .push(move || {
            a_tx.send(()).unwrap();
            done_a.send(b_rx.recv_timeout(GUARD).is_ok()).unwrap();
        })
        .unwrap();
    p.create_work("b")
        .push(move || {
            b_tx.send(()).unwrap();
            done_tx.send(a_rx.recv_timeout(GUARD).is_ok()).unwrap();
        })
        .unwrap();
    assert!(done_rx.recv_timeout(GUARD).unwrap());
    assert!(done_rx.recv_timeout(GUARD).unwrap());
}

#[test]
fn a_panicking_task_is_contained() {
    let p = pool(1, 1, 1);
    let s = p.create_work("panics");
    s.push(|| panic!("task failure on purpose")).unwrap();
    assert_eq!(s.push_sync(|| 7).unwrap(), 7);
    assert_eq!(
        s.push_sync(|| -> u32 { panic!("on purpose") }),
        Err(PushError::Panicked)
    );
    assert_eq!(s.push_sync(|| "still serving").unwrap(), "still serving");
}

#[test]
fn push_sync_from_its_own_task_runs_inline() {
    let p = pool(1, 1, 1);
    let s = p.create_work("self");
    let inner = s.clone();
    let got = s
        .push_sync(move || inner.push_sync(|| 41).unwrap() + 1)
        .unwrap();
    assert_eq!(got, 42);
}

#[test]
fn dropping_the_handle_runs_what_was_queued() {
    let p = pool(1, 1, 1);
    let s = p.create_work("dropped");
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    s.push(move || {
        gate_rx.recv_timeout(GUARD).unwrap();
    })
    .unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for i in 0..100 {
        let count = Arc::clone(&count);
        let done_tx = done_tx.clone();
        s.push(move || {
            count.fetch_add(1, Ordering::SeqCst);
            if i == 99 {
                done_tx.send(()).unwrap();
            }
        })
        .unwrap();
    }
    drop(s);
    gate_tx.send(()).unwrap();
    done_rx.recv_timeout(GUARD).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn the_pool_grows_by_increments_up_to_its_maximum_and_shrinks_when_idle() {
    let p = ThreadPool::new(PoolConfig {
        initial_size: 1,
        auto_increment: 2,
        idle_timeout: Duration::from_millis(50),
        max_size: 4,
    });
    assert_eq!(p.stats().threads, 1);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (started_tx, started_rx) = mpsc::channel();
    // Six blocking tasks on six serializers: only four threads may exist.
    for i in 0..6 {
        let release_rx = Arc::clone(&release_rx);
        let started_tx = started_tx.clone();
        p.create_work(&format!("block-{i}"))
            .push(move || {
                started_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv_timeout(GUARD).unwrap();
            })
            .unwrap();
    }
    for _ in 0..4 {
        started_rx.recv_timeout(GUARD).unwrap();
    }
    let stats = p.stats();
    assert_eq!(stats.threads, 4);
    assert_eq!(stats.queued_tasks, 2);
    for _ in 0..6 {
        release_tx.send(()).unwrap();
    }
    for _ in 0..2 {
        started_rx.recv_timeout(GUARD).unwrap();
    }
    // Threads above the initial size leave after the idle timeout.
    wait_until("the pool back to its initial size", || {
        p.stats().threads == 1
    })
    .await;
}

#[test]
fn shutdown_drains_then_refuses_work() {
    let p = pool(0, 1, 2);
    let s = p.create_work("drain");
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..1_000 {
        let count = Arc::clone(&count);
        s.push(move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert!(p.shutdown(GUARD));
    assert_eq!(count.load(Ordering::SeqCst), 1_000);
    assert_eq!(s.push(|| ()), Err(PushError::ShuttingDown));
}

#[test]
fn shutdown_that_runs_out_of_time_drops_the_rest() {
    let p = pool(1, 1, 1);
    let s = p.create_work("slow");
    let (release_tx, release_rx) = mpsc::channel::<()>();
    s.push(move || {
        release_rx.recv_timeout(GUARD).unwrap();
    })
    .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = Arc::clone(&ran);
    p.create_work("queued")
        .push(move || ran2.store(true, Ordering::SeqCst))
        .unwrap();
    assert!(!p.shutdown(Duration::from_millis(20)));
    release_tx.send(()).unwrap();
    assert_eq!(p.queued_tasks(), 0);
    assert!(!ran.load(Ordering::SeqCst));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any pool shape and any mix of serializer and task counts keeps
    /// order and exclusion.
    #[test]
    fn order_and_exclusion_for_any_shape(
        initial in 0usize..3,
        increment in 1usize..4,
        max in 1usize..6,
        works in 1usize..200,
        tasks in 1usize..40,
        pushers in 1usize..4,
        inline in proptest::bool::ANY,
    ) {
        let p = pool(initial, increment, max);
        order_and_exclusion(&p, works, tasks, pushers, inline);
        proptest::prop_assert!(p.shutdown(GUARD));
    }
}
