//! The embedded, persistent location store: SQLite on disk, the
//! [`MemoryStore`] index in front of it for reads.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use rusqlite::Connection;
use tracing::{error, info};

use super::binding::{AorUpdate, Binding};
use super::checkpoint::Checkpointer;
use super::error::StoreError;
use super::memory::MemoryStore;
use super::schema;
use super::update::PreparedUpdate;
use super::writer::{Counters, Job, Reply, Waiter, Writer, run_completions};
use super::{ApplyDone, LocationStore};

/// Bindings in a SQLite database (WAL, `synchronous=FULL`), served from
/// memory.
///
/// [`apply`](LocationStore::apply) returns once the update is committed to
/// disk, so a binding acknowledged with a 200 survives `kill -9` and a power
/// cut. Concurrent `apply` calls share commits (group commit): a single
/// writer thread owns the connection and commits whatever was queued while it
/// was busy in one transaction. `apply` blocks the calling thread until then.
///
/// Reads never touch the disk. Only one store may have a database open at a
/// time: a second one, in this process or another, fails to open it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sipjet_server::location::{AorUpdate, Binding, LocationStore, SqliteStore};
///
/// let path = std::env::temp_dir().join(format!("sipjet-doc-{}.db", std::process::id()));
/// let now = SystemTime::now();
/// let binding = Binding {
///     aor: "alice".into(),
///     contact: "sip:alice@192.0.2.10:5060".into(),
///     expires_at: now + Duration::from_secs(3600),
///     q: None,
///     call_id: "reg-1@192.0.2.10".into(),
///     cseq: 1,
///     path: Vec::new(),
///     instance_id: None,
///     reg_id: None,
///     received: Some("udp:192.0.2.10:5060".into()),
///     user_agent: None,
///     endpoint: Some("alice".into()),
///     node: Some("node-a".into()),
/// };
/// {
///     let store = SqliteStore::open(&path)?;
///     store.apply(AorUpdate { aor: "alice".into(), upserts: vec![binding.clone()], ..Default::default() })?;
/// }
/// let reopened = SqliteStore::open(&path)?;
/// assert_eq!(reopened.bindings("alice", now), vec![binding]);
/// # drop(reopened);
/// # for suffix in ["", "-wal", "-shm", ".lock"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok::<(), sipjet_server::location::StoreError>(())
/// ```
pub struct SqliteStore {
    index: Arc<MemoryStore>,
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<Checkpointer>,
    /// Held open for as long as the store: see [`schema::lock`].
    _lock: std::fs::File,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("bindings", &self.index.len())
            .field("commits", &self.commit_stats())
            .finish_non_exhaustive()
    }
}

/// How much the writer has committed since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// SQLite transactions committed (one per batch, one per prune that removed something).
    pub commits: u64,
    /// Updates stored by those commits.
    pub updates: u64,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it and its tables if absent;
    /// deletes the expired bindings and loads the others into memory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let started = Instant::now();
        let lock = schema::lock(path)?;
        let mut conn = Connection::open(path).map_err(|e| schema::open_error(path, e))?;
        schema::configure(&conn, path)?;
        schema::create(&mut conn)?;
        let index = Arc::new(MemoryStore::new());
        let loaded = schema::load(&mut conn, &index, SystemTime::now())?;
        info!(
            path = %path.display(),
            bindings = loaded.bindings,
            expired = loaded.expired,
            unreadable = loaded.unreadable,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "location database opened"
        );
        let checkpointer = Checkpointer::start(path)?;
        let (jobs, queue) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let (completions, batches) = mpsc::channel();
        std::thread::Builder::new()
            .name("sipjet-location-done".into())
            .spawn(move || run_completions(batches))
            .map_err(StoreError::Spawn)?;
        let writer = Writer {
            conn,
            index: Arc::clone(&index),
            counters: Arc::clone(&counters),
            jobs: queue,
            completions: Some(completions),
        };
        let writer = std::thread::Builder::new()
            .name("sipjet-location".into())
            .spawn(move || writer.run())
            .map_err(StoreError::Spawn)?;
        Ok(Self {
            index,
            jobs,
            counters,
            writer: Some(writer),
            checkpointer: Some(checkpointer),
            _lock: lock,
        })
    }

    /// What the writer has committed so far.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            updates: self.counters.updates.load(Ordering::Relaxed),
        }
    }

    /// Log frames the checkpoint thread has copied into the database file.
    pub fn checkpointed_frames(&self) -> u64 {
        self.checkpointer
            .as_ref()
            .map_or(0, |c| c.frames.load(Ordering::Relaxed))
    }

    /// Hands a job to the writer and waits for its answer.
    fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (done, outcome) = mpsc::sync_channel(1);
        self.jobs
            .send(job(done))
            .map_err(|_| StoreError::WriterStopped)?;
        outcome.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

impl LocationStore for SqliteStore {
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
        if let Err(mpsc::SendError(Job::Apply { done, .. })) = self.jobs.send(job) {
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
}

impl Drop for SqliteStore {
    /// Lets the writer finish and close the database, so that the file can be
    /// opened again as soon as the store is gone. Nothing depends on this for
    /// durability: every acknowledged update is already committed.
    fn drop(&mut self) {
        // The writer is gone already if this fails; the join says why.
        let _ = self.jobs.send(Job::Stop);
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            error!("the location writer thread panicked");
        }
        // Both connections are closed before the lock is let go.
        drop(self.checkpointer.take());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, UNIX_EPOCH};

    use rusqlite::params;
    use sipjet_testkit::within_patience_blocking;

    use super::*;
    use crate::location::testing::{TempDir, binding, now, sorted, upsert};

    const HOUR: Duration = Duration::from_secs(3600);

    fn rows(db: &Path) -> i64 {
        let conn = Connection::open(db).expect("open raw");
        conn.query_row("SELECT count(*) FROM bindings", [], |row| row.get(0))
            .expect("count")
    }

    #[test]
    fn reopening_restores_acknowledged_updates_and_drops_expired_ones() {
        let dir = TempDir::new("reopen");
        let kept = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
        let mut removed = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
        removed.path = vec![
            "<sip:a.example.com;lr>".into(),
            "<sip:b.example.com;lr>".into(),
        ];
        let expired = binding("bob", "sip:bob@192.0.2.3:5060", UNIX_EPOCH + HOUR, "c3", 1);
        {
            let store = SqliteStore::open(&dir.db()).expect("open");
            store
                .apply(upsert("alice", vec![kept.clone(), removed.clone()]))
                .expect("stored");
            store.apply(upsert("bob", vec![expired])).expect("stored");
            let removal = AorUpdate {
                aor: "alice".into(),
                removals: vec![removed.contact],
                ..Default::default()
            };
            store.apply(removal).expect("removed");
            assert_eq!(store.len(), 2);
        }
        assert_eq!(rows(&dir.db()), 2, "the expired binding is still on disk");
        let store = SqliteStore::open(&dir.db()).expect("reopen");
        assert_eq!(store.all(now()), vec![kept]);
        assert_eq!(store.len(), 1);
        drop(store);
        assert_eq!(rows(&dir.db()), 1, "opening deleted the expired binding");
    }

    #[test]
    fn the_log_is_checkpointed_beside_the_writer() {
        let dir = TempDir::new("checkpoint");
        let store = SqliteStore::open(&dir.db()).expect("open");
        for n in 0..50 {
            let b = binding(
                "alice",
                &format!("sip:alice@192.0.2.{n}:5060"),
                now() + HOUR,
                "c1",
                n + 1,
            );
            store
                .apply(AorUpdate {
                    aor: "alice".into(),
                    upserts: vec![b],
                    ..Default::default()
                })
                .expect("apply");
        }
        // Far below the writer's own checkpoint size: only the thread copies.
        let copied = within_patience_blocking(|| (store.checkpointed_frames() > 0).then_some(()));
        assert!(copied.is_some(), "nothing was checkpointed");
        // While the store is open, a reader sees every committed row.
        assert_eq!(rows(&dir.db()), 50);
    }

    #[test]
    fn a_second_store_cannot_open_an_open_database() {
        let dir = TempDir::new("exclusive");
        let store = SqliteStore::open(&dir.db()).expect("open");
        let err = SqliteStore::open(&dir.db()).expect_err("the file is in use");
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        drop(store);
        SqliteStore::open(&dir.db()).expect("free again once closed");
    }

    #[test]
    fn a_database_of_another_schema_version_is_refused() {
        let dir = TempDir::new("schema");
        drop(SqliteStore::open(&dir.db()).expect("create"));
        let conn = Connection::open(dir.db()).expect("open raw");
        conn.execute("UPDATE schema_version SET version = 99", [])
            .expect("update");
        drop(conn);
        let err = SqliteStore::open(&dir.db()).expect_err("unknown schema");
        assert!(
            matches!(
                err,
                StoreError::UnsupportedSchema {
                    found: 99,
                    supported: 2
                }
            ),
            "{err}"
        );
    }

    /// A database written before bindings named their node opens with
    /// its bindings intact (their node unknown) and stores nodes from then on.
    #[test]
    fn a_version_1_database_is_migrated() {
        let dir = TempDir::new("migrate");
        let conn = Connection::open(dir.db()).expect("open raw");
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE bindings (
                aor TEXT NOT NULL, contact TEXT NOT NULL, expires_at INTEGER NOT NULL,
                q INTEGER, call_id TEXT NOT NULL, cseq INTEGER NOT NULL, path BLOB NOT NULL,
                instance_id TEXT, reg_id INTEGER, received TEXT, user_agent TEXT,
                endpoint TEXT, PRIMARY KEY (aor, contact)
            ) WITHOUT ROWID;",
        )
        .expect("a version 1 database");
        let far = 5_000_000_000_000_000_000i64;
        let empty_path: &[u8] = &[];
        conn.execute(
            "INSERT INTO bindings (aor, contact, expires_at, call_id, cseq, path, endpoint) VALUES ('alice', 'sip:alice@192.0.2.1', ?1, 'c1', 3, ?2, 'alice')",
            params![far, empty_path],
        )
        .expect("a version 1 binding");
        drop(conn);

        let store = SqliteStore::open(&dir.db()).expect("migrated");
        let old = store.bindings("alice", now());
        assert_eq!(old.len(), 1);
        assert_eq!((old[0].cseq, old[0].node.as_deref()), (3, None));
        let new = binding("bob", "sip:bob@192.0.2.2", now() + HOUR, "c2", 1);
        store
            .apply(upsert("bob", vec![new.clone()]))
            .expect("stored");
        drop(store);
        let version: i64 = Connection::open(dir.db())
            .expect("open raw")
            .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, 2);
        let store = SqliteStore::open(&dir.db()).expect("reopen");
        assert_eq!(store.bindings("bob", now()), vec![new]);
        assert_eq!(store.bindings("alice", now()), old);
    }

    #[test]
    fn unreadable_rows_are_deleted_at_open() {
        let dir = TempDir::new("unreadable");
        let good = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
        {
            let store = SqliteStore::open(&dir.db()).expect("open");
            store
                .apply(upsert("alice", vec![good.clone()]))
                .expect("stored");
        }
        let conn = Connection::open(dir.db()).expect("open raw");
        let insert = "INSERT INTO bindings (aor, contact, expires_at, call_id, cseq, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        let far = 5_000_000_000_000_000_000i64;
        let bad_path: &[u8] = &[1, 0, 0];
        let empty_path: &[u8] = &[];
        conn.execute(insert, params!["bob", "sip:bob@h", far, "c", 1, bad_path])
            .expect("bad path");
        conn.execute(
            insert,
            params!["carol", "sip:carol@h", far, "c", "not a number", empty_path],
        )
        .expect("bad cseq");
        conn.execute(
            insert,
            params![b"dave".as_slice(), "sip:dave@h", far, "c", 1, empty_path],
        )
        .expect("AOR not text");
        drop(conn);
        assert_eq!(rows(&dir.db()), 4);
        let store = SqliteStore::open(&dir.db()).expect("reopen");
        assert_eq!(store.all(now()), vec![good]);
        drop(store);
        assert_eq!(rows(&dir.db()), 1);
    }

    #[test]
    fn concurrent_applies_share_commits() {
        const THREADS: usize = 32;
        const EACH: usize = 40;
        let dir = TempDir::new("group");
        let store = Arc::new(SqliteStore::open(&dir.db()).expect("open"));
        let callers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let aor = format!("t{t}");
                        let b = binding(
                            &aor,
                            &format!("sip:{aor}@192.0.2.{i}"),
                            now() + HOUR,
                            "c",
                            1,
                        );
                        store.apply(upsert(&aor, vec![b])).expect("stored");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().expect("caller");
        }
        let stats = store.commit_stats();
        assert_eq!(stats.updates, (THREADS * EACH) as u64);
        assert!(
            stats.commits < stats.updates,
            "no commit was shared: {stats:?}"
        );
        assert_eq!(store.len(), THREADS * EACH);
        let before = sorted(store.all(now()));
        drop(store);
        let reopened = SqliteStore::open(&dir.db()).expect("reopen");
        assert_eq!(sorted(reopened.all(now())), before);
    }

    /// Set in the child process of the SIGKILL test to the database it writes.
    const CRASH_DB: &str = "SIPJET_LOCATION_CRASH_DB";
    const CRASH_THREADS: usize = 4;
    const ACKS_BEFORE_KILL: usize = 300;

    fn crash_binding(thread: usize, n: usize) -> Binding {
        let aor = format!("crash{thread}-{n}");
        let mut b = binding(
            &aor,
            &format!("sip:{aor}@192.0.2.{thread}:5060"),
            now() + HOUR,
            "crash",
            1,
        );
        b.cseq = n as u32;
        b
    }

    /// The child: applies updates from several threads and prints `ack
    /// THREAD N` once each is acknowledged, until it is killed.
    fn crash_child(db: &Path) -> ! {
        // A child that is not killed must not outlive the test.
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(60));
            std::process::exit(3);
        });
        let store = Arc::new(SqliteStore::open(db).expect("child opens the database"));
        let writers: Vec<_> = (0..CRASH_THREADS)
            .map(|thread| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for n in 0.. {
                        let b = crash_binding(thread, n);
                        store
                            .apply(upsert(&b.aor.clone(), vec![b]))
                            .expect("child stores");
                        if writeln!(std::io::stdout().lock(), "ack {thread} {n}").is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            let _ = writer.join();
        }
        std::process::exit(2)
    }

    /// Kills the child if the test fails before it does.
    struct Reaper(Child);

    impl Drop for Reaper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Runs this test binary again as a child that stores updates and prints
    /// each acknowledgement, kills it with SIGKILL while it is writing, then
    /// checks that every acknowledged update is in the database.
    #[test]
    fn acknowledged_updates_survive_sigkill() {
        if let Some(db) = std::env::var_os(CRASH_DB) {
            crash_child(Path::new(&db));
        }
        let dir = TempDir::new("sigkill");
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, module)| module);
        let test = format!("{module}::acknowledged_updates_survive_sigkill");
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", &test, "--nocapture", "--test-threads=1"])
            .env(CRASH_DB, dir.db())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let mut child = Reaper(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        let mut acked = BTreeSet::new();
        let mut killed = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read the child's output");
            let Some(ack) = line.strip_prefix("ack ") else {
                continue;
            };
            let (thread, n) = ack.split_once(' ').expect("ack THREAD N");
            acked.insert((
                thread.parse::<usize>().expect("thread"),
                n.parse::<usize>().expect("n"),
            ));
            if acked.len() == ACKS_BEFORE_KILL {
                child.0.kill().expect("SIGKILL the child");
                killed = true;
            }
        }
        let status = child.0.wait().expect("child status");
        let mut stderr = String::new();
        if let Some(mut pipe) = child.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        assert!(
            killed,
            "the child stopped after {} acks: {status}\n{stderr}",
            acked.len()
        );
        assert_eq!(
            status.signal(),
            Some(9),
            "the child was killed by SIGKILL, not ended: {status}"
        );

        let store = SqliteStore::open(&dir.db()).expect("reopen after the crash");
        for &(thread, n) in &acked {
            let expected = crash_binding(thread, n);
            assert_eq!(
                store.bindings(&expected.aor, now()),
                vec![expected],
                "acknowledged update lost"
            );
        }
        assert!(store.len() >= acked.len());
    }
}
