//! Measures the location stores: REGISTERs stored per second, and the
//! slowest hundredth of them, with 1, 8 and 64 concurrent callers; the
//! memory that 100,000 bindings take, and how long reopening a database of
//! 100,000 bindings takes. SQLite always; PostgreSQL (one node) too when
//! given a database URL, in the same run.
//!
//! ```text
//! cargo run --release -p sipjet --example location_load [SECONDS_PER_LEVEL] [--postgres URL]
//! ```
//!
//! With PostgreSQL, each measurement runs in a schema of its own
//! (`sipjet_load_*`, dropped at the end), so any database will do.
//!
//! The memory and reopen figures come from a fresh process (this program run
//! again with `reopen DB`), so that nothing left over from writing counts.
//! `location_load fill DB` only writes the 100,000 bindings, for timing a
//! server that starts on them (`sipjet run --location-db DB`; DB is a path
//! or a `postgres://` URL).
//! `location_load contacts DB USERS PER_USER HOST:PORT` writes PER_USER
//! contacts at one address for each of USERS users.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sipjet_server::location::{
    AorUpdate, Binding, LocationDb, LocationStore, PgStore, SqliteStore,
};

type Store = Arc<dyn LocationStore>;

/// The database (path or URL) of a measurement, given its name.
type DbFor<'a> = Box<dyn Fn(&str) -> Result<String, Box<dyn std::error::Error>> + 'a>;

/// Opens the store `db` names (a path or a `postgres://` URL).
fn open(db: &str) -> Result<Store, Box<dyn std::error::Error>> {
    Ok(match db.parse::<LocationDb>()? {
        LocationDb::Sqlite(path) => Arc::new(SqliteStore::open(&path)?),
        LocationDb::Postgres(target) => Arc::new(PgStore::open(&target)?),
    })
}

const BINDINGS: usize = 100_000;
const CALLER_LEVELS: [usize; 3] = [1, 8, 64];
/// AORs each caller keeps refreshing in the throughput runs.
const AORS_PER_CALLER: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, db] = args.as_slice() {
        match mode.as_str() {
            "reopen" => return reopen(db),
            // A database of 100,000 bindings to start a server on.
            "fill" => return fill(db),
            _ => {}
        }
    }
    if let [_, mode, db, users, per_user, at] = args.as_slice()
        && mode == "contacts"
    {
        return fill_contacts(db, users.parse()?, per_user.parse()?, at);
    }
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .map(|at| args.get(at + 1).cloned().ok_or("--postgres needs a URL"))
        .transpose()?;
    let seconds = match args.get(1) {
        Some(s) if !s.starts_with("--") => s.parse()?,
        _ => 3,
    };
    let dir = ScratchDir::new()?;
    let schemas = postgres.as_deref().map(Schemas::new);
    let mut backends: Vec<(&str, DbFor)> = vec![(
        "SQLite",
        Box::new(|name: &str| Ok(dir.0.join(format!("{name}.db")).display().to_string())),
    )];
    if let Some(schemas) = &schemas {
        backends.push(("PostgreSQL", Box::new(|name: &str| schemas.fresh(name))));
    }

    for (backend, db_for) in &backends {
        println!(
            "{backend}: applies per second ({seconds} s per level, every apply committed before it returns):"
        );
        for callers in CALLER_LEVELS {
            let store = open(&db_for(&format!("throughput_{callers}"))?)?;
            let (applies, elapsed, p99) =
                run_callers(&store, callers, Duration::from_secs(seconds));
            println!(
                "  {callers:>2} callers: {:>8.0} applies/s, p99 {:.2} ms  ({applies} applies, {:.2} ms per apply)",
                applies as f64 / elapsed.as_secs_f64(),
                p99.as_secs_f64() * 1000.0,
                elapsed.as_secs_f64() * 1000.0 * callers as f64 / applies.max(1) as f64,
            );
        }

        let db = db_for("fill")?;
        let started = Instant::now();
        fill(&db)?;
        println!(
            "  stored {BINDINGS} bindings with 64 callers in {:.2} s",
            started.elapsed().as_secs_f64()
        );

        let output = Command::new(std::env::current_exe()?)
            .arg("reopen")
            .arg(&db)
            .output()?;
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            return Err(format!(
                "the reopen run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
    }
    Ok(())
}

/// Schemas of a PostgreSQL database, one per measurement, dropped at the end.
struct Schemas {
    url: String,
    made: std::sync::Mutex<Vec<String>>,
    runtime: tokio::runtime::Runtime,
}

impl Schemas {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            made: Default::default(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
        }
    }

    fn execute(&self, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
        self.runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(connection);
            client.batch_execute(sql).await?;
            driver.abort();
            Ok(())
        })
    }

    /// The URL of a store in a new, empty schema.
    fn fresh(&self, name: &str) -> Result<String, Box<dyn std::error::Error>> {
        let schema = format!("sipjet_load_{}_{name}", std::process::id());
        self.execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))?;
        self.made.lock().expect("not poisoned").push(schema.clone());
        let join = if self.url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{}{join}options=-c%20search_path%3D{schema}",
            self.url
        ))
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let made = std::mem::take(&mut *self.made.lock().expect("not poisoned"));
        for schema in made {
            if let Err(e) = self.execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")) {
                eprintln!("cannot drop schema {schema}: {e}");
            }
        }
    }
}

/// A binding as a typical phone registers it.
fn binding(aor: &str, n: usize, cseq: u32, expires_at: SystemTime) -> Binding {
    let host = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    Binding {
        aor: aor.to_owned(),
        contact: format!("sip:{aor}@{host}:5060;transport=udp;rinstance=7f3a9c2e{n:08x}"),
        expires_at,
        q: None,
        call_id: format!("{n:016x}a4c2e9f1b3d5@{host}"),
        cseq,
        path: Vec::new(),
        instance_id: Some(format!("<urn:uuid:00000000-0000-1000-8000-{n:012x}>")),
        reg_id: Some(1),
        received: Some(format!("udp:203.0.113.{}:{}", n % 250, 1024 + n % 60_000)),
        user_agent: Some("Yealink SIP-T46S 66.86.0.15".to_owned()),
        endpoint: Some(aor.to_owned()),
        node: Some("node-1".to_owned()),
    }
}

fn register(aor: &str, n: usize, cseq: u32, expires_at: SystemTime) -> AorUpdate {
    AorUpdate {
        aor: aor.to_owned(),
        upserts: vec![binding(aor, n, cseq, expires_at)],
        ..Default::default()
    }
}

/// Runs `callers` threads that refresh registrations for `length`; returns
/// how many applies returned, the time they took, and the 99th percentile
/// of an apply's time.
fn run_callers(store: &Store, callers: usize, length: Duration) -> (u64, Duration, Duration) {
    let done = Arc::new(AtomicBool::new(false));
    let applies = Arc::new(AtomicU64::new(0));
    let expires_at = SystemTime::now() + Duration::from_secs(3600);
    let started = Instant::now();
    let threads: Vec<_> = (0..callers)
        .map(|caller| {
            let (store, done, applies) =
                (Arc::clone(store), Arc::clone(&done), Arc::clone(&applies));
            std::thread::spawn(move || {
                let mut cseq = 0;
                let mut times = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    cseq += 1;
                    let n = caller * AORS_PER_CALLER + cseq as usize % AORS_PER_CALLER;
                    let aor = format!("user{n}");
                    let sent = Instant::now();
                    if let Err(err) = store.apply(register(&aor, n, cseq, expires_at)) {
                        eprintln!("apply failed: {err}");
                        break;
                    }
                    times.push(sent.elapsed());
                    applies.fetch_add(1, Ordering::Relaxed);
                }
                times
            })
        })
        .collect();
    std::thread::sleep(length);
    done.store(true, Ordering::Relaxed);
    let mut times: Vec<Duration> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap_or_default())
        .collect();
    times.sort_unstable();
    let p99 = times
        .get(times.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    (applies.load(Ordering::Relaxed), started.elapsed(), p99)
}

/// Stores `BINDINGS` bindings, one per AOR, from 64 callers.
fn fill(db: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = open(db)?;
    let expires_at = SystemTime::now() + Duration::from_secs(3600);
    let callers = 64;
    let threads: Vec<_> = (0..callers)
        .map(|caller| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (caller..BINDINGS)
                    .step_by(callers)
                    .try_for_each(|n| store.apply(register(&format!("user{n}"), n, 1, expires_at)))
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a filling thread panicked")??;
    }
    if store.len() != BINDINGS {
        return Err(format!("stored {} bindings instead of {BINDINGS}", store.len()).into());
    }
    Ok(())
}

/// Users `user1`..`userN`, each with `per_user` contacts at the address
/// `at` (`sip:userK-J@at`): a store for measuring qualify against one
/// answering peer (`bench/qualify.sh`).
fn fill_contacts(
    db: &str,
    users: usize,
    per_user: usize,
    at: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = open(db)?;
    let expires_at = SystemTime::now() + Duration::from_secs(3600);
    for user in 1..=users {
        let aor = format!("user{user}");
        let upserts = (0..per_user)
            .map(|j| Binding {
                contact: format!("sip:{aor}-{j}@{at}"),
                call_id: format!("fill-{user}-{j}"),
                received: None,
                instance_id: None,
                reg_id: None,
                ..binding(&aor, user, 1, expires_at)
            })
            .collect();
        store.apply(AorUpdate {
            aor,
            upserts,
            ..Default::default()
        })?;
    }
    println!("stored {} bindings", store.len());
    Ok(())
}

/// In a fresh process: how long opening takes and how much memory the
/// opened store holds.
fn reopen(db: &str) -> Result<(), Box<dyn std::error::Error>> {
    let idle = vm_rss_kib()?;
    let started = Instant::now();
    let store = open(db)?;
    let elapsed = started.elapsed();
    let loaded = vm_rss_kib()?;
    let valid = store.all(SystemTime::now()).len();
    println!(
        "  reopened {} bindings ({valid} valid) in {:.0} ms",
        store.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    let above = loaded.saturating_sub(idle);
    println!(
        "  VmRSS: {idle} KiB before opening, {loaded} KiB after: {:.1} MiB above idle, {} bytes per binding",
        above as f64 / 1024.0,
        above * 1024 / store.len().max(1) as u64
    );
    Ok(())
}

/// The process's resident set size, from `/proc/self/status`.
fn vm_rss_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    let kib = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim();
    Ok(kib.parse()?)
}

/// A directory of its own under the temporary directory, removed at the end.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "sipjet-location-load-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
