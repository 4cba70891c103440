//! The task that does all of a node's database work, one step at a time:
//! group commits of the updates queued while it was busy, re-reads of the
//! AORs other nodes changed, full resyncs, and expiry.
//!
//! Doing it all in one task keeps the index in the order of the database:
//! a re-read can never land after a newer commit of this node and undo it
//! in memory. Each batch locks its AORs (advisory locks, in one order on
//! every node), reads their bindings from the database and checks the
//! updates against those, not against memory, so that two nodes writing
//! the same AOR are serialised and neither overwrites what it has not
//! seen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Object, Pool};
use futures_util::future::{join3, join4, try_join4};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, error, warn};

use super::super::entry::{Entry, unix_nanos_clamped};
use super::super::error::StoreError;
use super::super::memory::MemoryStore;
use super::super::node::{NodeBeat, NodeRecord};
use super::super::update::PreparedUpdate;
use super::super::writer::{Completions, Reply, Waiter};
use super::backoff::Backoff;
use super::listener::Heard;
use super::{describe, sql};

/// Most updates written in one transaction.
const MAX_BATCH: usize = 1024;

/// How long a batch, a re-read or a prune may take before the connection
/// is taken for dead (and dropped, which rolls back whatever it had not
/// committed).
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a full resync may take.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Work for the worker.
pub(crate) enum Job {
    /// Store an update; the outcome goes to `done`.
    Apply {
        update: PreparedUpdate,
        done: Waiter,
    },
    /// Remove the bindings expired at `now`; their number goes to `done`.
    Prune { now: SystemTime, done: Reply<usize> },
    /// Record a nonce-count; whether it is new goes to `done`.
    NonceCount {
        nonce: String,
        nc: u32,
        forget_after: SystemTime,
        done: Reply<bool>,
    },
    /// Record a node's heartbeat; every node goes to `done`.
    Heartbeat {
        beat: NodeBeat,
        done: Reply<Vec<NodeRecord>>,
    },
    /// Finish what is queued before, then stop.
    Stop,
}

/// What the worker has done, for the store's statistics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) updates: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) rereads: AtomicU64,
    /// Whether the last attempt to use the database succeeded.
    pub(crate) reachable: AtomicBool,
}

/// The worker's state; [`run`](Worker::run) consumes it.
pub(crate) struct Worker {
    pub(crate) pool: Pool,
    pub(crate) index: Arc<MemoryStore>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) jobs: UnboundedReceiver<Job>,
    pub(crate) heard: UnboundedReceiver<Heard>,
    /// Where callbacks go once their batch is committed, to run off this
    /// task (a registrar sends its answers from them).
    pub(crate) completions: std::sync::mpsc::Sender<Completions>,
    /// This store's name in notifications.
    pub(crate) origin: String,
    pub(crate) backoff: Backoff,
    /// AORs another node changed, to read again.
    pub(crate) stale: HashSet<String>,
    /// Whether every binding must be read again (changes went unheard).
    pub(crate) resync: bool,
}

type Applies = Vec<(PreparedUpdate, Option<Waiter>)>;

impl Worker {
    /// Serves jobs until told to stop or until every sender is gone.
    pub(crate) async fn run(mut self) {
        let mut applies = Applies::new();
        let mut prunes = Vec::new();
        let mut beats = Vec::new();
        let mut counts = Counts::new();
        let mut listening = true;
        loop {
            let behind = self.resync || !self.stale.is_empty();
            let retry = tokio::time::sleep_until(self.backoff.next_attempt().into());
            let mut stop = false;
            tokio::select! {
                job = self.jobs.recv() => match job {
                    Some(job) => stop = take(job, &mut applies, &mut prunes, &mut beats, &mut counts),
                    None => stop = true,
                },
                heard = self.heard.recv(), if listening => match heard {
                    Some(heard) => self.hear(heard),
                    None => listening = false,
                },
                () = retry, if behind => {}
            }
            while !stop && applies.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => stop = take(job, &mut applies, &mut prunes, &mut beats, &mut counts),
                    Err(_) => break,
                }
            }
            while let Ok(heard) = self.heard.try_recv() {
                self.hear(heard);
            }
            self.catch_up().await;
            if !applies.is_empty() {
                self.commit_batch(&mut applies).await;
            }
            for (now, done) in prunes.drain(..) {
                // A caller that stopped waiting does not need the count.
                let _ = done.send(self.prune(now).await);
            }
            if !counts.is_empty() {
                self.count_nonces(&mut counts).await;
            }
            for (beat, done) in beats.drain(..) {
                let _ = done.send(self.heartbeat(&beat).await);
            }
            if stop {
                break;
            }
        }
        debug!("location worker stopped");
    }

    fn hear(&mut self, heard: Heard) {
        match heard {
            Heard::Changed(aor) => {
                self.stale.insert(aor);
            }
            Heard::Everything | Heard::Listening => self.resync = true,
            Heard::Lost => {}
        }
    }

    /// A connection from the pool; a failure starts a pause.
    async fn client(&mut self, during: &'static str) -> Result<Object, StoreError> {
        if let Some(left) = self.backoff.remaining() {
            return Err(StoreError::Unavailable {
                during,
                reason: format!(
                    "it could not be reached moments ago; the next attempt is in {} ms",
                    left.as_millis().max(1)
                ),
            });
        }
        match self.pool.get().await {
            Ok(client) => Ok(client),
            Err(e) => {
                self.unreachable();
                Err(StoreError::Unavailable {
                    during,
                    reason: describe(&e),
                })
            }
        }
    }

    fn unreachable(&mut self) {
        self.backoff.failed();
        if self.counters.reachable.swap(false, Ordering::Relaxed) {
            warn!(retry_in = ?self.backoff.delay(), "the location database cannot be reached; REGISTERs are answered 503 until it can");
        }
    }

    fn reached(&mut self) {
        self.backoff.succeeded();
        if !self.counters.reachable.swap(true, Ordering::Relaxed) {
            warn!("the location database can be reached again");
        }
    }

    /// After a failure on `client`: the connection is dropped rather than
    /// returned to the pool (it may be in the middle of a transaction, which
    /// the database rolls back when it goes), and a connection that is
    /// dead or silent starts a pause.
    fn failed(&mut self, client: Object, silent: bool) {
        let dead = silent || client.is_closed();
        drop(Object::take(client));
        if dead {
            self.unreachable();
        }
    }

    /// Reads again what other nodes changed: everything after a lost
    /// notification, else the AORs they named.
    async fn catch_up(&mut self) {
        let behind = self.resync || !self.stale.is_empty();
        if !behind || self.backoff.remaining().is_some() {
            return;
        }
        let Ok(client) = self.client("reading the other nodes' changes").await else {
            return;
        };
        if self.resync {
            let now = unix_nanos_clamped(SystemTime::now());
            let mut all = sql::ByAor::new();
            let mut collect = |aor, entry| all.entry(aor).or_default().push(entry);
            let read = sql::load_valid(&client, now, &mut collect);
            match tokio::time::timeout(RESYNC_TIMEOUT, read).await {
                Ok(Ok(())) => {
                    let bindings: usize = all.values().map(Vec::len).sum();
                    self.index.reset(all);
                    self.resync = false;
                    self.stale.clear();
                    self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                    self.reached();
                    debug!(bindings, "location index read again in full");
                }
                Ok(Err(e)) => {
                    warn!(error = %describe(&e), "cannot read the location database again");
                    self.failed(client, false);
                }
                Err(_) => self.failed(client, true),
            }
            return;
        }
        let aors: Vec<String> = self.stale.drain().collect();
        match tokio::time::timeout(STEP_TIMEOUT, reread(&client, &aors)).await {
            Ok(Ok(mut current)) => {
                for aor in aors {
                    let entries = current.remove(&aor).unwrap_or_default();
                    self.index.replace(aor, entries);
                }
                self.counters.rereads.fetch_add(1, Ordering::Relaxed);
                self.reached();
            }
            outcome => {
                if let Ok(Err(e)) = &outcome {
                    warn!(error = %describe(e), "cannot read the AORs other nodes changed");
                }
                self.stale.extend(aors);
                self.failed(client, outcome.is_err());
            }
        }
    }

    /// Writes the batch in one transaction and answers every caller: a
    /// refused update at once, the others after the commit (and after the
    /// index shows the change) or with the fault that lost the batch.
    async fn commit_batch(&mut self, applies: &mut Applies) {
        let mut later = Completions::new();
        let during = "storing a registration";
        let outcome = match self.client(during).await {
            Err(e) => Err(e),
            Ok(client) => {
                let written = tokio::time::timeout(
                    STEP_TIMEOUT,
                    write_batch(&client, applies, &self.origin, &mut later),
                )
                .await;
                match written {
                    Ok(Ok(written)) => {
                        self.reached();
                        Ok(written)
                    }
                    outcome => {
                        let reason = match &outcome {
                            Ok(Err(e)) => describe(e),
                            _ => format!("no answer within {STEP_TIMEOUT:?}"),
                        };
                        // Committed or not, the index must learn which.
                        self.stale
                            .extend(applies.iter().map(|(update, _)| update.aor.clone()));
                        self.failed(client, outcome.is_err());
                        Err(StoreError::Unavailable { during, reason })
                    }
                }
            }
        };
        let waiting = applies.drain(..).filter_map(|(_, done)| done);
        match outcome {
            Ok(written) => {
                for (aor, entries) in written.aors {
                    self.index.replace(aor, entries);
                }
                if written.stored > 0 {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .updates
                        .fetch_add(written.stored, Ordering::Relaxed);
                }
                for done in waiting {
                    done.send_or_defer(Ok(()), &mut later);
                }
            }
            Err(err) => {
                // While the database is known to be away, the refusals are
                // expected: the change of state was logged once.
                if self.backoff.remaining().is_some()
                    && !self.counters.reachable.load(Ordering::Relaxed)
                {
                    debug!(%err, "location batch not stored");
                } else {
                    error!(%err, "location batch not stored");
                }
                for done in waiting {
                    done.send_or_defer(Err(copy_unavailable(&err)), &mut later);
                }
            }
        }
        if later.is_empty() {
            return;
        }
        if let Err(unsent) = self.completions.send(later) {
            for (done, outcome) in unsent.0 {
                done(outcome);
            }
        }
    }

    /// Records the nonce-counts queued, one statement each, all sent at
    /// once (one round trip), each in a transaction of its own so that
    /// one refused does not undo the others.
    async fn count_nonces(&mut self, counts: &mut Counts) {
        let during = "recording nonce-counts";
        let pending = std::mem::take(counts);
        let client = match self.client(during).await {
            Ok(c) => c,
            Err(e) => {
                for (.., done) in pending {
                    let _ = done.send(Err(copy_unavailable(&e)));
                }
                return;
            }
        };
        let done = tokio::time::timeout(STEP_TIMEOUT, async {
            let statement = client.prepare_cached(sql::COUNT_NONCE).await?;
            let client = &client;
            let rows = pending.iter().map(|(nonce, nc, forget_after, _)| {
                let statement = &statement;
                let (nc, forget_after) = (i64::from(*nc), nanos(*forget_after));
                async move {
                    client
                        .execute(statement, &[nonce, &nc, &forget_after])
                        .await
                }
            });
            futures_util::future::join_all(rows)
                .await
                .into_iter()
                .collect::<Result<Vec<u64>, _>>()
        })
        .await;
        match done {
            Ok(Ok(changed)) => {
                self.reached();
                for ((.., done), changed) in pending.into_iter().zip(changed) {
                    let _ = done.send(Ok(changed == 1));
                }
            }
            outcome => {
                let reason = match &outcome {
                    Ok(Err(e)) => describe(e),
                    _ => format!("no answer within {STEP_TIMEOUT:?}"),
                };
                self.failed(client, outcome.is_err());
                for (.., done) in pending {
                    let _ = done.send(Err(StoreError::Unavailable {
                        during,
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }

    /// Writes this node's heartbeat and reads every node's, in one round
    /// trip.
    async fn heartbeat(&mut self, beat: &NodeBeat) -> Result<Vec<NodeRecord>, StoreError> {
        let during = "recording this node's heartbeat";
        let client = self.client(during).await?;
        let done = tokio::time::timeout(STEP_TIMEOUT, async {
            let (write, read) = futures_util::future::try_join(
                client.prepare_cached(sql::BEAT),
                client.prepare_cached(sql::NODES),
            )
            .await?;
            let (started, now) = (nanos(beat.started), nanos(beat.now));
            let (_, rows) = futures_util::future::try_join(
                client.execute(&write, &[&beat.id, &beat.address, &started, &now]),
                client.query(&read, &[]),
            )
            .await?;
            Ok::<_, tokio_postgres::Error>(rows.iter().filter_map(sql::read_node).collect())
        })
        .await;
        match done {
            Ok(Ok(nodes)) => {
                self.reached();
                Ok(nodes)
            }
            outcome => {
                let reason = match &outcome {
                    Ok(Err(e)) => describe(e),
                    _ => format!("no answer within {STEP_TIMEOUT:?}"),
                };
                self.failed(client, outcome.is_err());
                Err(StoreError::Unavailable { during, reason })
            }
        }
    }

    /// Deletes the expired bindings from the database (telling the other
    /// nodes), then from the index.
    async fn prune(&mut self, now: SystemTime) -> Result<usize, StoreError> {
        let during = "removing expired bindings";
        let client = self.client(during).await?;
        let pruned = tokio::time::timeout(STEP_TIMEOUT, async {
            let statement = client.prepare_cached(sql::PRUNE).await?;
            let limit = i32::try_from(sql::MAX_PAYLOAD).unwrap_or(i32::MAX);
            let rows = client
                .query(
                    &statement,
                    &[
                        &unix_nanos_clamped(now),
                        &sql::CHANNEL,
                        &self.origin,
                        &limit,
                    ],
                )
                .await?;
            client
                .execute(sql::FORGET_NONCES, &[&unix_nanos_clamped(now)])
                .await?;
            rows.iter()
                .map(|row| row.try_get::<_, i64>(0))
                .sum::<Result<i64, _>>()
        })
        .await;
        match pruned {
            Ok(Ok(removed)) => {
                self.reached();
                if removed > 0 {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                    debug!(
                        removed,
                        "expired bindings deleted from the location database"
                    );
                }
                Ok(self.index.prune_index(now))
            }
            outcome => {
                let reason = match &outcome {
                    Ok(Err(e)) => describe(e),
                    _ => format!("no answer within {STEP_TIMEOUT:?}"),
                };
                self.failed(client, outcome.is_err());
                Err(StoreError::Unavailable { during, reason })
            }
        }
    }
}

type Beats = Vec<(NodeBeat, Reply<Vec<NodeRecord>>)>;
type Counts = Vec<(String, u32, SystemTime, Reply<bool>)>;

/// Nanoseconds since the epoch, as the tables keep times.
fn nanos(t: SystemTime) -> i64 {
    unix_nanos_clamped(t)
}

/// Sorts a job into the batch; true for [`Job::Stop`].
fn take(
    job: Job,
    applies: &mut Applies,
    prunes: &mut Vec<(SystemTime, Reply<usize>)>,
    beats: &mut Beats,
    counts: &mut Counts,
) -> bool {
    match job {
        Job::Apply { update, done } => applies.push((update, Some(done))),
        Job::Prune { now, done } => prunes.push((now, done)),
        Job::Heartbeat { beat, done } => beats.push((beat, done)),
        Job::NonceCount {
            nonce,
            nc,
            forget_after,
            done,
        } => counts.push((nonce, nc, forget_after, done)),
        Job::Stop => return true,
    }
    false
}

/// The same fault for each caller of a batch.
fn copy_unavailable(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable { during, reason } => StoreError::Unavailable {
            during,
            reason: reason.clone(),
        },
        other => StoreError::Unavailable {
            during: "storing a registration",
            reason: other.to_string(),
        },
    }
}

/// The current bindings of `aors`, expired ones included.
async fn reread(
    client: &Object,
    aors: &[String],
) -> Result<HashMap<String, Vec<Entry>>, tokio_postgres::Error> {
    let select = client.prepare_cached(&sql::select_aors()).await?;
    let rows = client.query(&select, &[&aors]).await?;
    let mut current: HashMap<String, Vec<Entry>> = HashMap::new();
    for row in &rows {
        if let Some((aor, entry)) = sql::read_entry(row) {
            current.entry(aor).or_default().push(entry);
        }
    }
    Ok(current)
}

/// What a committed batch leaves.
struct Written {
    /// The bindings of every AOR the batch touched, as committed.
    aors: HashMap<String, Vec<Entry>>,
    /// How many updates it stored.
    stored: u64,
}

/// One transaction, in two round trips: `BEGIN`, the AORs' locks and
/// their bindings; then the checked changes, the notification and
/// `COMMIT`. Every statement's outcome is checked: `COMMIT` in a
/// transaction that a failed statement aborted only rolls back.
async fn write_batch(
    client: &Object,
    applies: &mut Applies,
    origin: &str,
    later: &mut Completions,
) -> Result<Written, tokio_postgres::Error> {
    let mut aors: Vec<String> = Vec::new();
    for (update, _) in applies.iter() {
        if !aors.contains(&update.aor) {
            aors.push(update.aor.clone());
        }
    }
    let mut keys: Vec<i32> = aors.iter().map(|aor| sql::lock_key(aor)).collect();
    keys.sort_unstable();
    keys.dedup();
    let select_aors = sql::select_aors();
    let (lock, select, delete, upsert) = try_join4(
        client.prepare_cached(sql::LOCK_AORS),
        client.prepare_cached(&select_aors),
        client.prepare_cached(sql::DELETE_KEYS),
        client.prepare_cached(sql::UPSERT),
    )
    .await?;
    let notify = client.prepare_cached(sql::NOTIFY).await?;
    let class = sql::lock_class();
    // Futures joined are first polled in order, which is the order the
    // requests go out in: one round trip for the three.
    let (began, locked, rows) = join3(
        client.batch_execute("BEGIN"),
        client.query(&lock, &[&class, &keys]),
        client.query(&select, &[&aors]),
    )
    .await;
    began?;
    locked?;
    let rows = rows?;

    let mut current: HashMap<String, Vec<Entry>> =
        aors.iter().map(|aor| (aor.clone(), Vec::new())).collect();
    for row in &rows {
        if let Some((aor, entry)) = sql::read_entry(row) {
            current.entry(aor).or_default().push(entry);
        }
    }
    let before = current.clone();
    let mut stored = 0;
    for (update, done) in applies.iter_mut() {
        let entries = current.entry(update.aor.clone()).or_default();
        if let Err(refused) = update.check(entries) {
            if let Some(done) = done.take() {
                done.send_or_defer(Err(refused), later);
            }
            continue;
        }
        update.apply_to(entries);
        stored += 1;
    }

    let mut gone = (Vec::new(), Vec::new());
    let mut columns = sql::Columns::default();
    let mut payloads = Vec::new();
    for (aor, after) in &current {
        let was = &before[aor];
        let mut changed = false;
        for old in was {
            if !after.iter().any(|e| e.contact() == old.contact()) {
                gone.0.push(aor.as_str());
                gone.1.push(old.contact());
                changed = true;
            }
        }
        for new in after {
            if !was.contains(new) {
                columns.push(aor, new);
                changed = true;
            }
        }
        if changed {
            let payload = if aor.len() < sql::MAX_PAYLOAD - origin.len() {
                format!("{origin} {aor}")
            } else {
                origin.to_owned()
            };
            if !payloads.contains(&payload) {
                payloads.push(payload);
            }
        }
    }
    let upsert_params = columns.params();
    let (deleted, upserted, notified, committed) = join4(
        async {
            if gone.0.is_empty() {
                return Ok(0);
            }
            client.execute(&delete, &[&gone.0, &gone.1]).await
        },
        async {
            if columns.is_empty() {
                return Ok(0);
            }
            client.execute(&upsert, &upsert_params).await
        },
        async {
            if payloads.is_empty() {
                return Ok(0);
            }
            client.execute(&notify, &[&sql::CHANNEL, &payloads]).await
        },
        client.batch_execute("COMMIT"),
    )
    .await;
    deleted?;
    upserted?;
    notified?;
    committed?;
    Ok(Written {
        aors: current,
        stored,
    })
}
