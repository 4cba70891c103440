//! The shared location store: bindings in a PostgreSQL database that
//! several sipjet nodes use at once, each serving reads from its own
//! in-memory copy ([`MemoryStore`]) and learning the others' changes by
//! `LISTEN`/`NOTIFY`.

mod backoff;
mod listener;
mod sql;
mod tls;
mod worker;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tracing::{debug, error, info};

use super::binding::{AorUpdate, Binding};
use super::entry::unix_nanos_clamped;
use super::error::StoreError;
use super::memory::MemoryStore;
use super::node::{NodeBeat, NodeRecord};
use super::target::PgTarget;
use super::update::PreparedUpdate;
use super::writer::{Waiter, run_completions};
use super::{ApplyDone, LocationStore};
use backoff::Backoff;
use worker::{Counters, Job, Worker};

/// Connections the pool keeps: the worker uses one at a time; the others
/// are spares for a connection being replaced.
const POOL_SIZE: usize = 4;

/// How long connecting may take when the URL does not say
/// (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole chain of an error's causes, for a log line or a refusal:
/// tokio-postgres says "db error" and keeps what the database said in
/// the source.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Turns a client error into [`StoreError::Unavailable`].
pub(crate) fn fault(during: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Unavailable {
        during,
        reason: describe(&e),
    }
}

/// Bindings in a PostgreSQL database shared by several sipjet nodes,
/// served from memory.
///
/// [`apply`](LocationStore::apply) returns once the update is committed
/// (PostgreSQL's own durability: `synchronous_commit`, replication), so
/// that a binding acknowledged with a 200 is in the database. Concurrent
/// updates share a transaction (group commit). Each batch locks its AORs
/// and checks its updates against the database, not memory, so that two
/// nodes writing the same AOR are serialised.
///
/// Reads never wait on the database: every node keeps every binding in
/// memory, loaded when the store opens, and hears of the others' changes
/// at once (`LISTEN`/`NOTIFY`: the AOR changed, which it then reads
/// again). A lost listening connection is opened again and followed by a
/// full resync. Expiry deletes each binding once, on whichever node runs
/// it first; the others drop it from memory when told, and never return
/// it meanwhile since reads skip expired bindings.
///
/// While the database cannot be reached, updates fail at once with
/// [`StoreError::Unavailable`] (after a first attempt, attempts are paced
/// from 100 ms up to 2 s apart), reads go on from memory, and everything
/// resumes, with a resync, when it is back.
///
/// The store runs its own small runtime on a thread of its own, so that
/// it works the same from any thread, inside an async runtime or not.
pub struct PgStore {
    index: Arc<MemoryStore>,
    jobs: UnboundedSender<Job>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    target: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("bindings", &self.index.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a [`PgStore`] has done since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgStats {
    /// Transactions committed (one per batch that stored something, one per
    /// prune that deleted something).
    pub commits: u64,
    /// Updates stored by those commits.
    pub updates: u64,
    /// Full reads of every binding after changes went unheard.
    pub resyncs: u64,
    /// Reads of AORs other nodes changed.
    pub rereads: u64,
    /// Whether the last attempt to use the database succeeded.
    pub reachable: bool,
}

impl PgStore {
    /// Connects to the database, creates or migrates its tables, starts
    /// listening for other nodes' changes and loads every valid binding
    /// into memory. Fails when the database cannot be reached now: a node
    /// starts only with the bindings it is to serve.
    pub fn open(target: &PgTarget) -> Result<Self, StoreError> {
        let started = Instant::now();
        let index = Arc::new(MemoryStore::new());
        let counters = Arc::new(Counters::default());
        let (jobs, queue) = unbounded_channel();
        let (completions, batches) = mpsc::channel();
        let (opened, outcome) = mpsc::sync_channel(1);
        let origin = origin();
        let setup = Setup {
            target: target.clone(),
            index: Arc::clone(&index),
            counters: Arc::clone(&counters),
            queue,
            completions,
            origin,
        };
        std::thread::Builder::new()
            .name("sipjet-location-done".into())
            .spawn(move || run_completions(batches))
            .map_err(StoreError::Spawn)?;
        let thread = std::thread::Builder::new()
            .name("sipjet-postgres".into())
            .spawn(move || setup.run(opened))
            .map_err(StoreError::Spawn)?;
        match outcome.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(StoreError::WriterStopped);
            }
        }
        info!(
            target = %target,
            bindings = index.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "location database opened"
        );
        Ok(Self {
            index,
            jobs,
            counters,
            thread: Some(thread),
            target: target.to_string(),
        })
    }

    /// What the store has done so far.
    pub fn stats(&self) -> PgStats {
        let c = &self.counters;
        PgStats {
            commits: c.commits.load(Ordering::Relaxed),
            updates: c.updates.load(Ordering::Relaxed),
            resyncs: c.resyncs.load(Ordering::Relaxed),
            rereads: c.rereads.load(Ordering::Relaxed),
            reachable: c.reachable.load(Ordering::Relaxed),
        }
    }

    /// Hands a job to the worker and waits for its answer.
    fn ask<T>(&self, job: impl FnOnce(super::writer::Reply<T>) -> Job) -> Result<T, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        self.jobs
            .send(job(done))
            .map_err(|_| StoreError::WriterStopped)?;
        outcome.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

/// A name for this store in notifications: random, so that two stores
/// never take each other's changes for their own, even on one node.
fn origin() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// What the store's thread needs.
struct Setup {
    target: PgTarget,
    index: Arc<MemoryStore>,
    counters: Arc<Counters>,
    queue: tokio::sync::mpsc::UnboundedReceiver<Job>,
    completions: mpsc::Sender<super::writer::Completions>,
    origin: String,
}

impl Setup {
    /// The store's thread: opens, says how that went, then works until
    /// the store is dropped.
    fn run(self, opened: mpsc::SyncSender<Result<(), StoreError>>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = opened.send(Err(StoreError::Spawn(e)));
                return;
            }
        };
        runtime.block_on(async move {
            match self.open().await {
                Ok(worker) => {
                    let _ = opened.send(Ok(()));
                    worker.run().await;
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            }
        });
    }

    async fn open(self) -> Result<Worker, StoreError> {
        let tls = tls::connector(&self.target)?;
        let mut config = self.target.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let wait = config.get_connect_timeout().copied();
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait,
                create: wait,
                recycle: wait,
            })
            .build()
            .map_err(|e| StoreError::Unavailable {
                during: "setting up the connection pool",
                reason: e.to_string(),
            })?;
        let opening = "opening the location database";
        let mut client = pool.get().await.map_err(|e| StoreError::Unavailable {
            during: opening,
            reason: describe(&e),
        })?;
        sql::create(&mut client).await?;
        // Listening before loading: a change committed after the load
        // started is heard of.
        let (heard_tx, heard) = unbounded_channel();
        let listening = listener::connect(&config, &tls, &self.origin, &heard_tx).await?;
        let now = unix_nanos_clamped(SystemTime::now());
        let index = &self.index;
        sql::load_valid(&client, now, &mut |aor, entry| {
            index.insert_loaded(&aor, entry)
        })
        .await
        .map_err(fault("loading the bindings"))?;
        drop(client);
        self.counters.reachable.store(true, Ordering::Relaxed);
        tokio::spawn(listener::keep_listening(
            listening,
            config,
            tls,
            self.origin.clone(),
            heard_tx,
        ));
        Ok(Worker {
            pool,
            index: self.index,
            counters: self.counters,
            jobs: self.queue,
            heard,
            completions: self.completions,
            origin: self.origin,
            backoff: Backoff::default(),
            stale: HashSet::new(),
            resync: false,
        })
    }
}

impl LocationStore for PgStore {
    fn apply(&self, update: AorUpdate) -> Result<(), StoreError> {
        let update = PreparedUpdate::new(update)?;
        self.ask(|done| Job::Apply {
            update,
            done: Waiter::Blocked(done),
        })
    }

    fn apply_then(&self, update: AorUpdate, done: ApplyDone) {
        let update = match PreparedUpdate::new(update) {
            Ok(u) => u,
            Err(e) => return done(Err(e)),
        };
        let job = Job::Apply {
            update,
            done: Waiter::Callback(done),
        };
        if let Err(tokio::sync::mpsc::error::SendError(Job::Apply { done, .. })) =
            self.jobs.send(job)
        {
            done.send(Err(StoreError::WriterStopped));
        }
    }

    fn bindings(&self, aor: &str, now: SystemTime) -> Vec<Binding> {
        self.index.bindings(aor, now)
    }

    fn all(&self, now: SystemTime) -> Vec<Binding> {
        self.index.all(now)
    }

    fn prune(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.ask(|done| Job::Prune { now, done })
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn heartbeat(&self, beat: &NodeBeat) -> Result<Vec<NodeRecord>, StoreError> {
        let beat = beat.clone();
        self.ask(|done| Job::Heartbeat { beat, done })
    }
}

/// How long an authentication waits for the database to say whether a
/// nonce-count is new, before it goes on with what this node knows.
const NONCE_COUNT_WAIT: Duration = Duration::from_secs(1);

impl crate::auth::nonce::SharedNonceCounts for PgStore {
    fn accept(&self, nonce: &str, nc: u32, forget_after: SystemTime) -> Option<bool> {
        let (done, outcome) = mpsc::sync_channel(1);
        let job = Job::NonceCount {
            nonce: nonce.to_owned(),
            nc,
            forget_after,
            done,
        };
        self.jobs.send(job).ok()?;
        match outcome.recv_timeout(NONCE_COUNT_WAIT) {
            Ok(Ok(accepted)) => Some(accepted),
            Ok(Err(e)) => {
                debug!(error = %e, "nonce-count checked at this node only");
                None
            }
            Err(_) => None,
        }
    }
}

impl Drop for PgStore {
    /// Lets the worker finish what is queued, then closes the connections.
    fn drop(&mut self) {
        // The worker is gone already if this fails; the join says why.
        let _ = self.jobs.send(Job::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the location database thread panicked");
        }
    }
}
