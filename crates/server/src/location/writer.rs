//! Group commit: one thread owns the database connection and writes every
//! update queued while it was busy in one transaction, so that one fsync
//! covers many REGISTERs. A caller blocks until the commit that holds its
//! update is on disk and in the index.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use tracing::{debug, error};

use super::entry::Entry;
use super::error::StoreError;
use super::memory::MemoryStore;
use super::schema;
use super::update::PreparedUpdate;

/// Most updates written in one transaction, so that the callers of a huge
/// backlog are answered in steps rather than all after one long commit.
const MAX_BATCH: usize = 1024;

/// How long the writer lets a batch gather after its first update before
/// committing it. Each commit is an fsync, and on a virtual disk an fsync
/// costs tens of microseconds of CPU in the kernel: without a window, a
/// moderate load commits in batches of one or two and pays that for nearly
/// every REGISTER. A millisecond is small beside a REGISTER's round trip;
/// the writer sleeps through it rather than waking for each update, so the
/// callers' queueing costs no wake-ups either.
const GATHER: Duration = Duration::from_millis(1);

/// Where the writer sends a caller its outcome.
pub(crate) type Reply<T> = SyncSender<Result<T, StoreError>>;

/// Who waits for an update: a blocked caller, or a callback.
pub(crate) enum Waiter {
    Blocked(Reply<()>),
    Callback(super::ApplyDone),
}

impl Waiter {
    /// Answers now: a blocked caller through its channel, a callback on
    /// this thread.
    pub(crate) fn send(self, outcome: Result<(), StoreError>) {
        match self {
            // A caller that stopped waiting still has its update stored.
            Waiter::Blocked(reply) => {
                let _ = reply.send(outcome);
            }
            Waiter::Callback(done) => done(outcome),
        }
    }

    /// Answers a blocked caller now; keeps a callback in `later`, for the
    /// completion thread.
    pub(crate) fn send_or_defer(self, outcome: Result<(), StoreError>, later: &mut Completions) {
        match self {
            Waiter::Callback(done) => later.push((done, outcome)),
            blocked => blocked.send(outcome),
        }
    }
}

/// Callbacks with their outcomes, run together off the writer thread.
pub(crate) type Completions = Vec<(super::ApplyDone, Result<(), StoreError>)>;

/// Runs the callbacks of committed batches (a registrar building and
/// sending its 200s), so that the writer starts the next commit while the
/// last one's answers go out. Ends when the writer does.
pub(crate) fn run_completions(batches: Receiver<Completions>) {
    while let Ok(batch) = batches.recv() {
        for (done, outcome) in batch {
            done(outcome);
        }
    }
}

/// Work for the writer thread.
pub(crate) enum Job {
    /// Store an update; the outcome goes to `done`.
    Apply {
        update: PreparedUpdate,
        done: Waiter,
    },
    /// Remove the bindings expired at `now`; their number goes to `done`.
    Prune { now: SystemTime, done: Reply<usize> },
    /// Finish what is queued before, then close the connection.
    Stop,
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) updates: AtomicU64,
}

/// The thread that owns the connection.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) index: Arc<MemoryStore>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) jobs: Receiver<Job>,
    /// Where callbacks go once their batch is committed; `None` runs them
    /// on the writer thread.
    pub(crate) completions: Option<std::sync::mpsc::Sender<Completions>>,
}

/// Why a batch was not stored: shared by all its callers.
enum BatchFault {
    Write(Arc<rusqlite::Error>),
    Commit(Arc<rusqlite::Error>),
}

impl BatchFault {
    fn to_error(&self) -> StoreError {
        match self {
            Self::Write(source) => StoreError::Write(Arc::clone(source)),
            Self::Commit(source) => StoreError::Commit(Arc::clone(source)),
        }
    }
}

impl Writer {
    /// Serves jobs until told to stop or until every sender is gone.
    pub(crate) fn run(mut self) {
        let mut applies = Vec::new();
        let mut prunes = Vec::new();
        while let Ok(first) = self.jobs.recv() {
            if matches!(first, Job::Apply { .. }) {
                std::thread::sleep(GATHER);
            }
            let mut stop = false;
            let queued =
                std::iter::once(first).chain(std::iter::from_fn(|| self.jobs.try_recv().ok()));
            for job in queued.take(MAX_BATCH) {
                match job {
                    Job::Apply { update, done } => applies.push((update, Some(done))),
                    Job::Prune { now, done } => prunes.push((now, done)),
                    Job::Stop => {
                        stop = true;
                        break;
                    }
                }
            }
            if !applies.is_empty() {
                self.commit_batch(&mut applies);
            }
            for (now, done) in prunes.drain(..) {
                // A caller that stopped waiting does not need the count.
                let _ = done.send(self.prune(now));
            }
            if stop {
                break;
            }
        }
        debug!("location writer stopped");
    }

    /// Writes the batch in one transaction and answers every caller: a
    /// refused update at once, the others after the commit (and after the
    /// index shows the change) or with the fault that lost the batch.
    fn commit_batch(&mut self, applies: &mut Vec<(PreparedUpdate, Option<Waiter>)>) {
        let mut later = Completions::new();
        self.commit_batch_into(applies, &mut later);
        if later.is_empty() {
            return;
        }
        let unsent = match &self.completions {
            Some(to) => to.send(later).err().map(|e| e.0),
            None => Some(later),
        };
        for (done, outcome) in unsent.into_iter().flatten() {
            done(outcome);
        }
    }

    fn commit_batch_into(
        &mut self,
        applies: &mut Vec<(PreparedUpdate, Option<Waiter>)>,
        later: &mut Completions,
    ) {
        let mut changed = HashMap::new();
        let outcome = self.write_batch(applies, &mut changed, later);
        let waiting = applies.drain(..).filter_map(|(_, done)| done);
        match outcome {
            Ok(stored) => {
                for (aor, entries) in changed {
                    self.index.replace(aor, entries);
                }
                if stored > 0 {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                    self.counters.updates.fetch_add(stored, Ordering::Relaxed);
                }
                for done in waiting {
                    done.send_or_defer(Ok(()), later);
                }
            }
            Err(fault) => {
                let err = fault.to_error();
                error!(%err, "location batch lost");
                for done in waiting {
                    done.send_or_defer(Err(fault.to_error()), later);
                }
            }
        }
    }

    /// Checks each update against the AOR as the batch has left it so far,
    /// writes the accepted ones and commits. `changed` receives the new
    /// entries of every AOR the batch touched. Returns how many were stored.
    fn write_batch(
        &mut self,
        applies: &mut [(PreparedUpdate, Option<Waiter>)],
        changed: &mut HashMap<String, Vec<Entry>>,
        later: &mut Completions,
    ) -> Result<u64, BatchFault> {
        let write = |source| BatchFault::Write(Arc::new(source));
        let tx = self.conn.transaction().map_err(write)?;
        let mut stored = 0;
        for (update, done) in applies.iter_mut() {
            let entries = changed
                .entry(update.aor.clone())
                .or_insert_with(|| self.index.entries_of(&update.aor));
            if let Err(refused) = update.check(entries) {
                if let Some(done) = done.take() {
                    done.send_or_defer(Err(refused), later);
                }
                continue;
            }
            schema::write_update(&tx, update).map_err(write)?;
            update.apply_to(entries);
            stored += 1;
        }
        tx.commit()
            .map_err(|source| BatchFault::Commit(Arc::new(source)))?;
        Ok(stored)
    }

    /// Deletes the expired bindings from disk, then from the index.
    fn prune(&mut self, now: SystemTime) -> Result<usize, StoreError> {
        let expired = self.index.expired_keys(now);
        if expired.is_empty() {
            return Ok(0);
        }
        let write = |source| StoreError::Write(Arc::new(source));
        let tx = self.conn.transaction().map_err(write)?;
        schema::delete_bindings(&tx, &expired).map_err(write)?;
        tx.commit()
            .map_err(|source| StoreError::Commit(Arc::new(source)))?;
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        Ok(self.index.prune_index(now))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::location::LocationStore;
    use crate::location::testing::{TempDir, binding, now, upsert};

    const HOUR: Duration = Duration::from_secs(3600);

    /// A writer over a fresh database, not yet running.
    fn writer(dir: &TempDir) -> (Writer, mpsc::Sender<Job>) {
        let mut conn = Connection::open(dir.db()).expect("open");
        schema::configure(&conn, &dir.db()).expect("configure");
        schema::create(&mut conn).expect("schema");
        let (jobs, queue) = mpsc::channel();
        let writer = Writer {
            conn,
            index: Arc::new(MemoryStore::new()),
            completions: None,
            counters: Arc::new(Counters::default()),
            jobs: queue,
        };
        (writer, jobs)
    }

    fn queue_apply(
        jobs: &mpsc::Sender<Job>,
        update: crate::location::AorUpdate,
    ) -> mpsc::Receiver<Result<(), StoreError>> {
        let (done, outcome) = mpsc::sync_channel(1);
        let update = PreparedUpdate::new(update).expect("valid update");
        jobs.send(Job::Apply {
            update,
            done: Waiter::Blocked(done),
        })
        .expect("queued");
        outcome
    }

    #[test]
    fn updates_queued_together_share_one_commit() {
        let dir = TempDir::new("writer-batch");
        let (writer, jobs) = writer(&dir);
        let outcomes: Vec<_> = (0..100)
            .map(|n| {
                let aor = format!("user{}", n % 10);
                let b = binding(
                    &aor,
                    &format!("sip:{aor}@192.0.2.{n}"),
                    now() + HOUR,
                    "c",
                    1,
                );
                queue_apply(&jobs, upsert(&aor, vec![b]))
            })
            .collect();
        jobs.send(Job::Stop).expect("queued");
        let (index, counters) = (Arc::clone(&writer.index), Arc::clone(&writer.counters));
        writer.run();
        for outcome in outcomes {
            outcome.recv().expect("answered").expect("stored");
        }
        assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
        assert_eq!(counters.updates.load(Ordering::Relaxed), 100);
        assert_eq!(index.len(), 100);
    }

    #[test]
    fn a_backlog_is_committed_in_bounded_batches() {
        let dir = TempDir::new("writer-backlog");
        let (writer, jobs) = writer(&dir);
        let total = MAX_BATCH + 10;
        let outcomes: Vec<_> = (0..total)
            .map(|n| {
                let aor = format!("user{n}");
                let b = binding(&aor, &format!("sip:{aor}@192.0.2.1"), now() + HOUR, "c", 1);
                queue_apply(&jobs, upsert(&aor, vec![b]))
            })
            .collect();
        jobs.send(Job::Stop).expect("queued");
        let counters = Arc::clone(&writer.counters);
        writer.run();
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome.recv(), Ok(Ok(()))))
        );
        assert_eq!(counters.commits.load(Ordering::Relaxed), 2);
        assert_eq!(counters.updates.load(Ordering::Relaxed), total as u64);
    }

    #[test]
    fn an_update_is_checked_against_the_earlier_ones_of_its_batch() {
        let dir = TempDir::new("writer-order");
        let (writer, jobs) = writer(&dir);
        let contact = "sip:alice@192.0.2.1";
        let first = queue_apply(
            &jobs,
            upsert(
                "alice",
                vec![binding("alice", contact, now() + HOUR, "c1", 5)],
            ),
        );
        let stale = queue_apply(
            &jobs,
            upsert(
                "alice",
                vec![binding("alice", contact, now() + HOUR, "c1", 5)],
            ),
        );
        let newer = binding("alice", contact, now() + 2 * HOUR, "c1", 6);
        let third = queue_apply(&jobs, upsert("alice", vec![newer.clone()]));
        let bob = queue_apply(
            &jobs,
            upsert(
                "bob",
                vec![binding("bob", "sip:bob@192.0.2.2", now() + HOUR, "c2", 1)],
            ),
        );
        jobs.send(Job::Stop).expect("queued");
        let (index, counters) = (Arc::clone(&writer.index), Arc::clone(&writer.counters));
        writer.run();

        first.recv().expect("answered").expect("stored");
        let refused = stale
            .recv()
            .expect("answered")
            .expect_err("same CSeq as the first");
        assert!(
            matches!(
                refused,
                StoreError::StaleCSeq {
                    stored: 5,
                    offered: 5,
                    ..
                }
            ),
            "{refused}"
        );
        third.recv().expect("answered").expect("stored");
        bob.recv()
            .expect("answered")
            .expect("a refusal does not fail the batch");
        assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
        assert_eq!(counters.updates.load(Ordering::Relaxed), 3);
        assert_eq!(index.bindings("alice", now()), vec![newer]);
    }

    #[test]
    fn a_failed_commit_answers_every_caller_and_changes_nothing() {
        let dir = TempDir::new("writer-fault");
        let (writer, jobs) = writer(&dir);
        // A read-only connection makes every write of the batch fail.
        writer
            .conn
            .pragma_update(None, "query_only", true)
            .expect("query_only");
        let outcomes: Vec<_> = (0..5)
            .map(|n| {
                let aor = format!("user{n}");
                queue_apply(
                    &jobs,
                    upsert(
                        &aor,
                        vec![binding(&aor, "sip:u@192.0.2.1", now() + HOUR, "c", 1)],
                    ),
                )
            })
            .collect();
        jobs.send(Job::Stop).expect("queued");
        let (index, counters) = (Arc::clone(&writer.index), Arc::clone(&writer.counters));
        writer.run();
        for outcome in outcomes {
            let err = outcome
                .recv()
                .expect("answered")
                .expect_err("the batch failed");
            assert!(matches!(err, StoreError::Write(_)), "{err}");
        }
        assert!(index.is_empty());
        assert_eq!(counters.commits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn prune_deletes_from_disk_then_from_the_index() {
        let dir = TempDir::new("writer-prune");
        let (writer, jobs) = writer(&dir);
        let short = binding(
            "alice",
            "sip:alice@192.0.2.1",
            now() + Duration::from_secs(10),
            "c1",
            1,
        );
        let long = binding("alice", "sip:alice@192.0.2.2", now() + HOUR, "c2", 1);
        let stored = queue_apply(&jobs, upsert("alice", vec![short, long.clone()]));
        let (done, pruned) = mpsc::sync_channel(1);
        jobs.send(Job::Prune {
            now: now() + Duration::from_secs(10),
            done,
        })
        .expect("queued");
        jobs.send(Job::Stop).expect("queued");
        let index = Arc::clone(&writer.index);
        writer.run();
        stored.recv().expect("answered").expect("stored");
        assert_eq!(pruned.recv().expect("answered").expect("pruned"), 1);
        assert_eq!(index.all(now()), vec![long.clone()]);
        let conn = Connection::open(dir.db()).expect("reopen raw");
        let contacts: Vec<String> = conn
            .prepare("SELECT contact FROM bindings")
            .and_then(|mut select| select.query_map([], |row| row.get(0))?.collect())
            .expect("read");
        assert_eq!(contacts, vec![long.contact]);
    }
}
