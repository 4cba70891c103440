//! Many deadlines on one task: what the stack's proxied calls use for
//! Timer C instead of a sleeping task each.
//!
//! A task per deadline costs a spawn, a timer entry and, when the call is
//! answered first (nearly always: Timer C is three minutes), a wake-up to
//! cancel it, which on a multi-threaded runtime is another thread's
//! wake-up. Here setting a deadline later than the one the task sleeps
//! towards, and cancelling any, only touch an ordered map under a lock;
//! the task is woken only for a deadline earlier than its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

type Callback = Box<dyn FnOnce() + Send>;

/// The deadlines set and not yet fired or cancelled, each calling back
/// once when due. Cloning gives another handle to the same deadlines.
#[derive(Clone)]
pub(crate) struct Alarms {
    inner: Arc<Inner>,
}

/// One deadline set, to cancel it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Alarm {
    at: Instant,
    id: u64,
}

impl Alarm {
    /// When it is due.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }
}

struct Inner {
    queue: Mutex<BTreeMap<(Instant, u64), Callback>>,
    next_id: AtomicU64,
    /// Wakes the task for a deadline earlier than the one it sleeps
    /// towards.
    wake: Notify,
    /// That deadline, in nanoseconds after `epoch`; `u64::MAX` while the
    /// task is awake.
    sleeping_until: AtomicU64,
    epoch: Instant,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Instant, u64), Callback>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
    }
}

impl Alarms {
    /// No deadlines yet; their task runs on `runtime` until every handle
    /// is dropped.
    pub(crate) fn new(runtime: &tokio::runtime::Handle) -> Alarms {
        let inner = Arc::new(Inner {
            queue: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            wake: Notify::new(),
            sleeping_until: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
        });
        runtime.spawn(run(Arc::downgrade(&inner)));
        Alarms { inner }
    }

    /// Calls `then` at `at` (at once when it is past), on the alarms'
    /// task: it should only hand the work on (to a serializer, say).
    pub(crate) fn set(&self, at: Instant, then: impl FnOnce() + Send + 'static) -> Alarm {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.lock().insert((at, id), Box::new(then));
        // Read after the insert: a task that went to sleep before it has
        // stored its deadline, and one going to sleep after it will see
        // the new entry.
        if self.inner.nanos(at) < self.inner.sleeping_until.load(Ordering::Acquire) {
            self.inner.wake.notify_one();
        }
        Alarm { at, id }
    }

    /// Takes back `alarm`: it will not call back. True when it had not
    /// fired yet.
    pub(crate) fn cancel(&self, alarm: Alarm) -> bool {
        self.inner.lock().remove(&(alarm.at, alarm.id)).is_some()
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.inner.lock().len()
    }
}

/// Sleeps until the earliest deadline (or until woken by an earlier
/// one), then calls back every deadline due. Ends once every [`Alarms`]
/// handle is gone.
async fn run(inner: Weak<Inner>) {
    /// Longest sleep without a deadline, so that dropped handles are
    /// noticed.
    const IDLE: Duration = Duration::from_secs(1);
    loop {
        let Some(alarms) = inner.upgrade() else {
            return;
        };
        let now = Instant::now();
        let next = alarms.lock().first_key_value().map(|(&(at, _), _)| at);
        let until = next.unwrap_or(now + IDLE).min(now + IDLE);
        alarms
            .sleeping_until
            .store(alarms.nanos(until), Ordering::Release);
        tokio::select! {
            () = tokio::time::sleep_until(until.into()) => {}
            () = alarms.wake.notified() => {}
        }
        alarms.sleeping_until.store(u64::MAX, Ordering::Release);
        let now = Instant::now();
        let due: Vec<Callback> = {
            let mut queue = alarms.lock();
            let later = queue.split_off(&(now, u64::MAX));
            std::mem::replace(&mut *queue, later)
                .into_values()
                .collect()
        };
        drop(alarms);
        for then in due {
            then();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A maker of callbacks that report their name, and where they do.
    fn recorder() -> (
        impl Fn(&'static str) -> Callback,
        mpsc::Receiver<&'static str>,
    ) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let make = move |name: &'static str| {
            let tx = tx.lock().unwrap().clone();
            Box::new(move || {
                let _ = tx.send(name);
            }) as Callback
        };
        (make, rx)
    }

    async fn next(rx: &mpsc::Receiver<&'static str>) -> &'static str {
        sipjet_testkit::eventually("an alarm", || rx.try_recv().ok()).await
    }

    #[tokio::test]
    async fn alarms_call_back_in_deadline_order() {
        let alarms = Alarms::new(&tokio::runtime::Handle::current());
        let (make, rx) = recorder();
        let now = Instant::now();
        alarms.set(now + Duration::from_millis(60), make("third"));
        alarms.set(now + Duration::from_millis(20), make("first"));
        alarms.set(now + Duration::from_millis(40), make("second"));
        assert_eq!(next(&rx).await, "first");
        assert_eq!(next(&rx).await, "second");
        assert_eq!(next(&rx).await, "third");
        assert_eq!(alarms.pending(), 0);
    }

    #[tokio::test]
    async fn an_earlier_deadline_wakes_a_task_asleep_towards_a_later_one() {
        let alarms = Alarms::new(&tokio::runtime::Handle::current());
        let (make, rx) = recorder();
        alarms.set(Instant::now() + Duration::from_secs(3600), make("late"));
        // Let the task go to sleep towards the hour.
        sipjet_testkit::wait_until("the task to sleep", || {
            alarms.inner.sleeping_until.load(Ordering::Acquire) != u64::MAX
        })
        .await;
        alarms.set(Instant::now() + Duration::from_millis(10), make("soon"));
        assert_eq!(next(&rx).await, "soon");
        assert_eq!(alarms.pending(), 1);
    }

    #[tokio::test]
    async fn a_cancelled_alarm_never_calls_back() {
        let alarms = Alarms::new(&tokio::runtime::Handle::current());
        let (make, rx) = recorder();
        let now = Instant::now();
        let cancelled = alarms.set(now + Duration::from_millis(10), make("cancelled"));
        alarms.set(now + Duration::from_millis(30), make("kept"));
        assert!(alarms.cancel(cancelled));
        assert!(!alarms.cancel(cancelled), "cancelled once only");
        assert_eq!(next(&rx).await, "kept");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_past_deadline_calls_back_at_once() {
        let alarms = Alarms::new(&tokio::runtime::Handle::current());
        let (make, rx) = recorder();
        alarms.set(Instant::now() - Duration::from_secs(1), make("past"));
        assert_eq!(next(&rx).await, "past");
    }

    #[tokio::test]
    async fn the_task_ends_with_the_last_handle() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let alarms = Alarms::new(&tokio::runtime::Handle::current());
        assert_eq!(metrics.num_alive_tasks(), before + 1);
        drop(alarms);
        sipjet_testkit::wait_until("the alarms' task to end", || {
            metrics.num_alive_tasks() == before
        })
        .await;
    }
}
