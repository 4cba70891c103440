//! Measures the SQLite location store: REGISTERs stored per second with 1, 8
//! and 64 concurrent callers, the memory that 100,000 bindings take, and how
//! long reopening a database of 100,000 bindings takes.
//!
//! ```text
//! cargo run --release -p sipjet --example location_load [SECONDS_PER_LEVEL]
//! ```
//!
//! The memory and reopen figures come from a fresh process (this program run
//! again with `reopen DB`), so that nothing left over from writing counts.
//! `location_load fill DB` only writes the 100,000 bindings, for timing a
//! server that starts on them (`sipjet run --location-db DB`).
//! `location_load contacts DB USERS PER_USER HOST:PORT` writes PER_USER
//! contacts at one address for each of USERS users.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sipjet_server::location::{AorUpdate, Binding, LocationStore, SqliteStore};

const BINDINGS: usize = 100_000;
const CALLER_LEVELS: [usize; 3] = [1, 8, 64];
/// AORs each caller keeps refreshing in the throughput runs.
const AORS_PER_CALLER: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, db] = args.as_slice() {
        match mode.as_str() {
            "reopen" => return reopen(Path::new(db)),
            // A database of 100,000 bindings to start a server on.
            "fill" => return fill(Path::new(db)),
            _ => {}
        }
    }
    if let [_, mode, db, users, per_user, at] = args.as_slice()
        && mode == "contacts"
    {
        return fill_contacts(Path::new(db), users.parse()?, per_user.parse()?, at);
    }
    let seconds = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = ScratchDir::new()?;

    println!(
        "applies per second ({seconds} s per level, every apply committed before it returns):"
    );
    for (level, callers) in CALLER_LEVELS.into_iter().enumerate() {
        let db = dir.0.join(format!("throughput-{level}.db"));
        let store = Arc::new(SqliteStore::open(&db)?);
        let (applies, elapsed) = run_callers(&store, callers, Duration::from_secs(seconds));
        let stats = store.commit_stats();
        println!(
            "  {callers:>2} callers: {:>8.0} applies/s  ({applies} applies, {} commits, {:.1} updates per commit, {:.2} ms per apply)",
            applies as f64 / elapsed.as_secs_f64(),
            stats.commits,
            stats.updates as f64 / stats.commits.max(1) as f64,
            elapsed.as_secs_f64() * 1000.0 * callers as f64 / applies.max(1) as f64,
        );
    }

    let db = dir.0.join("fill.db");
    let started = Instant::now();
    fill(&db)?;
    println!(
        "stored {BINDINGS} bindings with 64 callers in {:.2} s",
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
    Ok(())
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
/// how many applies returned and the time they took.
fn run_callers(store: &Arc<SqliteStore>, callers: usize, length: Duration) -> (u64, Duration) {
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
                while !done.load(Ordering::Relaxed) {
                    cseq += 1;
                    let n = caller * AORS_PER_CALLER + cseq as usize % AORS_PER_CALLER;
                    let aor = format!("user{n}");
                    if let Err(err) = store.apply(register(&aor, n, cseq, expires_at)) {
                        eprintln!("apply failed: {err}");
                        return;
                    }
                    applies.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(length);
    done.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    (applies.load(Ordering::Relaxed), started.elapsed())
}

/// Stores `BINDINGS` bindings, one per AOR, from 64 callers.
fn fill(db: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open(db)?);
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
    db: &Path,
    users: usize,
    per_user: usize,
    at: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = SqliteStore::open(db)?;
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
fn reopen(db: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let idle = vm_rss_kib()?;
    let started = Instant::now();
    let store = SqliteStore::open(db)?;
    let elapsed = started.elapsed();
    let loaded = vm_rss_kib()?;
    let valid = store.all(SystemTime::now()).len();
    println!(
        "reopened {} bindings ({valid} valid) in {:.0} ms",
        store.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    let above = loaded.saturating_sub(idle);
    println!(
        "VmRSS: {idle} KiB before opening, {loaded} KiB after: {:.1} MiB above idle, {} bytes per binding",
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
