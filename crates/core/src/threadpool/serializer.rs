//! Serializers: FIFO queues of tasks that run one at a time on the pool.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};

use super::PushError;
use super::pool::PoolInner;

type Task = Box<dyn FnOnce() + Send + 'static>;

thread_local! {
    /// The serializer whose task this thread is running (0: none), so that
    /// a synchronous push to it from its own task runs inline instead of
    /// waiting for itself.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

struct Queue {
    tasks: VecDeque<Task>,
    /// On the pool's ready queue or being run by a thread. Read and written
    /// only under the queue lock, which is what makes a push and a thread
    /// finding the queue empty agree on who schedules next.
    scheduled: bool,
}

pub(crate) struct SerializerInner {
    id: u64,
    name: Box<str>,
    queue: Mutex<Queue>,
}

/// A group of tasks that run one at a time, in the order pushed: the seed's
/// "SIP work" (`struct ast_sip_work`). Cloning gives another handle to the
/// same serializer. Dropping the last handle (`ast_sip_destroy_work`) lets
/// the tasks already pushed run, then the serializer ends.
#[derive(Clone)]
pub struct Serializer {
    inner: Arc<SerializerInner>,
    pool: Arc<PoolInner>,
}

impl Serializer {
    pub(crate) fn new(id: u64, name: &str, pool: Arc<PoolInner>) -> Serializer {
        Serializer {
            inner: Arc::new(SerializerInner {
                id,
                name: name.into(),
                queue: Mutex::new(Queue {
                    tasks: VecDeque::new(),
                    scheduled: false,
                }),
            }),
            pool,
        }
    }

    /// Queues a task (`ast_sip_push_task`). It runs after every task pushed
    /// to this serializer before it, and never at the same time as another
    /// of them.
    pub fn push(&self, task: impl FnOnce() + Send + 'static) -> Result<(), PushError> {
        if self.pool.is_shutting_down() {
            return Err(PushError::ShuttingDown);
        }
        // Counted before it can start, so the count never dips below zero.
        self.pool.task_queued();
        let schedule = {
            let mut q = self.inner.lock();
            q.tasks.push_back(Box::new(task));
            !std::mem::replace(&mut q.scheduled, true)
        };
        if schedule {
            self.pool.schedule(Arc::clone(&self.inner));
        }
        Ok(())
    }

    /// Runs the task at once on the calling thread when the serializer is
    /// idle (nothing queued, nothing running); otherwise queues it as
    /// [`Serializer::push`] does. Either way it runs after every task
    /// pushed before it and never beside another of this serializer's.
    ///
    /// This saves the hand-off to a pool thread (a wake-up and a context
    /// switch, which cost more than answering an OPTIONS) when the caller
    /// may do the work itself: it is for tasks that never wait on I/O or on
    /// another serializer, run from a thread that can afford them, such as
    /// the one that received the request. Returns true when it ran here.
    pub fn run_or_push(&self, task: impl FnOnce() + Send + 'static) -> Result<bool, PushError> {
        if self.pool.is_shutting_down() {
            return Err(PushError::ShuttingDown);
        }
        let claimed = {
            let mut q = self.inner.lock();
            if q.scheduled || !q.tasks.is_empty() {
                false
            } else {
                q.scheduled = true;
                true
            }
        };
        if !claimed {
            return self.push(task).map(|()| false);
        }
        let previous = CURRENT.with(|c| c.replace(self.inner.id));
        if catch_unwind(AssertUnwindSafe(task)).is_err() {
            tracing::error!(serializer = %self.inner.name, "a task panicked; the serializer goes on with the next");
        }
        CURRENT.with(|c| c.set(previous));
        // Tasks pushed meanwhile found it scheduled and left the
        // scheduling to whoever runs it: this thread.
        let more = {
            let mut q = self.inner.lock();
            if q.tasks.is_empty() {
                q.scheduled = false;
                false
            } else {
                true
            }
        };
        if more {
            self.pool.schedule(Arc::clone(&self.inner));
        }
        Ok(true)
    }

    /// Queues a task and waits for its result. From a task of this same
    /// serializer it runs at once, inline, since waiting for a task queued
    /// behind the current one would never end. Two serializers waiting on
    /// each other synchronously still deadlock: don't.
    pub fn push_sync<R: Send + 'static>(
        &self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PushError> {
        if CURRENT.with(Cell::get) == self.inner.id {
            return catch_unwind(AssertUnwindSafe(task)).map_err(|_| PushError::Panicked);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.push(move || {
            // The receiver may have given up; nothing to do about it.
            let _ = tx.send(task());
        })?;
        // A panicking task drops the sender without sending.
        rx.recv().map_err(|_| PushError::Panicked)
    }

    /// Tasks queued and not yet started.
    pub fn queued(&self) -> usize {
        self.inner.lock().tasks.len()
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// True when both handles name the same serializer.
    pub fn same_as(&self, other: &Serializer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serializer")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .finish()
    }
}

impl SerializerInner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Tasks run outside the lock, so a panic cannot poison it midway.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs up to `batch` tasks. Returns true when tasks remain (the
    /// serializer stays scheduled and goes back on the ready queue); false
    /// when the queue ran dry (it is no longer scheduled).
    pub(crate) fn run_batch(&self, pool: &PoolInner, batch: usize) -> bool {
        let previous = CURRENT.with(|c| c.replace(self.id));
        let mut more = true;
        for _ in 0..batch {
            let task = {
                let mut q = self.lock();
                match q.tasks.pop_front() {
                    Some(t) => t,
                    None => {
                        q.scheduled = false;
                        more = false;
                        break;
                    }
                }
            };
            pool.task_started();
            if catch_unwind(AssertUnwindSafe(task)).is_err() {
                tracing::error!(serializer = %self.name, "a task panicked; the serializer goes on with the next");
            }
        }
        if more {
            let mut q = self.lock();
            if q.tasks.is_empty() {
                q.scheduled = false;
                more = false;
            }
        }
        CURRENT.with(|c| c.set(previous));
        more
    }

    /// Drops the queued tasks without running them (a shutdown that ran out
    /// of time); returns how many there were.
    pub(crate) fn discard(&self) -> usize {
        let tasks = {
            let mut q = self.lock();
            q.scheduled = false;
            std::mem::take(&mut q.tasks)
        };
        // Dropped outside the lock: a task's captures may do anything when
        // dropped, even push to this serializer.
        tasks.len()
    }
}
