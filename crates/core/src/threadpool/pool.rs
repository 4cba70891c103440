//! The shared pool of threads, and the queue of serializers ready to run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::serializer::{Serializer, SerializerInner};

/// Most tasks a thread runs from one serializer before it gives the others
/// a turn. Large enough that a busy serializer pays one hand-off per batch,
/// small enough that no serializer waits long behind it.
const BATCH: usize = 32;

/// Pool sizing, as Asterisk's `pjsip.conf` `[system]` section sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads started with the pool (`threadpool_initial_size`); they
    /// never exit for being idle.
    pub initial_size: usize,
    /// Threads added at once when work waits and none is idle
    /// (`threadpool_auto_increment`).
    pub auto_increment: usize,
    /// How long a thread beyond the initial size may sit idle before it
    /// exits (`threadpool_idle_timeout`).
    pub idle_timeout: Duration,
    /// Most threads the pool ever runs (`threadpool_max_size`).
    pub max_size: usize,
}

impl Default for PoolConfig {
    /// Asterisk's defaults: 0 initial threads, 5 added at a time, 60 s idle
    /// timeout, at most 50 threads.
    fn default() -> Self {
        PoolConfig {
            initial_size: 0,
            auto_increment: 5,
            idle_timeout: Duration::from_secs(60),
            max_size: 50,
        }
    }
}

/// A snapshot of the pool, for metrics and the overload check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Threads alive.
    pub threads: usize,
    /// Threads waiting for work.
    pub idle: usize,
    /// Tasks pushed and not yet started, over all serializers.
    pub queued_tasks: usize,
    /// Serializers with work waiting for a thread.
    pub ready_serializers: usize,
}

struct State {
    ready: VecDeque<Arc<SerializerInner>>,
    threads: usize,
    idle: usize,
    running: usize,
    next_thread: usize,
}

pub(crate) struct PoolInner {
    config: PoolConfig,
    state: Mutex<State>,
    work_ready: Condvar,
    drained: Condvar,
    queued: AtomicUsize,
    shutting_down: AtomicBool,
    next_serializer: AtomicU64,
}

/// The SIP threadpool. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<PoolInner>,
}

impl ThreadPool {
    /// Starts a pool with `config.initial_size` threads (the first step of
    /// the seed's startup: the threadpool exists before the stack).
    pub fn new(mut config: PoolConfig) -> ThreadPool {
        config.max_size = config.max_size.max(1);
        config.auto_increment = config.auto_increment.max(1);
        config.initial_size = config.initial_size.min(config.max_size);
        let inner = Arc::new(PoolInner {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                threads: 0,
                idle: 0,
                running: 0,
                next_thread: 0,
            }),
            config,
            work_ready: Condvar::new(),
            drained: Condvar::new(),
            queued: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            next_serializer: AtomicU64::new(1),
        });
        {
            let mut st = inner.lock();
            let n = inner.config.initial_size;
            inner.spawn(&mut st, n);
        }
        ThreadPool { inner }
    }

    /// A new serializer on this pool (`ast_sip_create_work`). `name` shows
    /// in logs, for example the Call-ID of the dialog it serves.
    ///
    /// The same operation as [`crate::SipStack::create_work`] on a pool of
    /// one's own, so it has the same name, the seed's: a [`Serializer`] is
    /// the seed's "work".
    pub fn create_work(&self, name: &str) -> Serializer {
        let id = self.inner.next_serializer.fetch_add(1, Ordering::Relaxed);
        Serializer::new(id, name, Arc::clone(&self.inner))
    }

    /// Current counts.
    pub fn stats(&self) -> PoolStats {
        let st = self.inner.lock();
        PoolStats {
            threads: st.threads,
            idle: st.idle,
            queued_tasks: self.inner.queued.load(Ordering::Relaxed),
            ready_serializers: st.ready.len(),
        }
    }

    /// Tasks pushed and not yet started: the distributor's measure of
    /// overload, read without taking a lock.
    pub fn queued_tasks(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    /// Stops taking new work, runs what is queued for at most `timeout`,
    /// then lets the threads exit. Returns true when everything queued ran.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.lock();
        let drained = loop {
            if st.ready.is_empty() && st.running == 0 {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            st = self
                .inner
                .drained
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        if !drained {
            // What could not run in time is dropped, not run later.
            for s in st.ready.drain(..) {
                let dropped = s.discard();
                self.inner.queued.fetch_sub(dropped, Ordering::Relaxed);
            }
        }
        self.inner.work_ready.notify_all();
        drained
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave it inconsistent:
        // tasks run outside it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub(crate) fn task_queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn task_started(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// Puts a serializer that has work on the ready queue and makes sure a
    /// thread will take it: an idle one, or new ones while below the cap.
    /// An idle thread counts once: woken, it stays idle until it gets the
    /// lock back, and a burst of pushes meanwhile must not all count on it.
    pub(crate) fn schedule(self: &Arc<Self>, serializer: Arc<SerializerInner>) {
        let mut st = self.lock();
        st.ready.push_back(serializer);
        if st.idle > 0 {
            self.work_ready.notify_one();
        }
        let n = threads_to_add(&self.config, st.threads, st.idle, st.ready.len());
        self.spawn(&mut st, n);
    }

    fn spawn(self: &Arc<Self>, st: &mut State, n: usize) {
        for _ in 0..n {
            let pool = Arc::clone(self);
            let name = format!("sip-pool-{}", st.next_thread);
            st.next_thread += 1;
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || pool.worker())
            {
                Ok(_) => st.threads += 1,
                Err(e) => {
                    tracing::error!(error = %e, threads = st.threads, "cannot start a threadpool thread");
                    break;
                }
            }
        }
    }

    fn worker(self: Arc<Self>) {
        loop {
            let Some(serializer) = self.next_ready() else {
                return;
            };
            let more = serializer.run_batch(&self, BATCH);
            let mut st = self.lock();
            st.running -= 1;
            if more {
                st.ready.push_back(serializer);
            }
            if st.ready.is_empty() && st.running == 0 {
                self.drained.notify_all();
            }
        }
    }

    /// Waits for a ready serializer; `None` when this thread should exit.
    fn next_ready(&self) -> Option<Arc<SerializerInner>> {
        let mut st = self.lock();
        loop {
            if let Some(s) = st.ready.pop_front() {
                st.running += 1;
                return Some(s);
            }
            if self.is_shutting_down() {
                st.threads -= 1;
                return None;
            }
            st.idle += 1;
            let (guard, wait) = self
                .work_ready
                .wait_timeout(st, self.config.idle_timeout)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if wait.timed_out() && st.ready.is_empty() && st.threads > self.config.initial_size {
                st.threads -= 1;
                return None;
            }
        }
    }
}

/// How many threads to start when `ready` serializers wait, `idle` of the
/// `threads` are waiting for work: none while the idle ones suffice (each
/// takes one), else the increment, up to the cap.
fn threads_to_add(config: &PoolConfig, threads: usize, idle: usize, ready: usize) -> usize {
    if ready <= idle {
        return 0;
    }
    config
        .auto_increment
        .min(config.max_size.saturating_sub(threads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_thread_is_counted_for_one_serializer_only() {
        let config = PoolConfig {
            initial_size: 1,
            auto_increment: 2,
            idle_timeout: Duration::from_secs(60),
            max_size: 4,
        };
        // One idle thread takes the one ready serializer.
        assert_eq!(threads_to_add(&config, 1, 1, 1), 0);
        // A second push before it wakes: it cannot take both.
        assert_eq!(threads_to_add(&config, 1, 1, 2), 2);
        // None idle: the increment, up to the cap.
        assert_eq!(threads_to_add(&config, 1, 0, 1), 2);
        assert_eq!(threads_to_add(&config, 3, 0, 1), 1);
        assert_eq!(threads_to_add(&config, 4, 0, 5), 0);
    }
}
