//! Checkpoints of the location database's write-ahead log, on a thread
//! and a connection of their own.
//!
//! A checkpoint copies the committed log back into the database file and
//! fsyncs that file: with many dirty pages, tens of milliseconds on an
//! ordinary disk. Run by SQLite's automatic checkpoint, it happens inside
//! a commit of the writer, and every registration waiting for that commit
//! waits the whole time (the slowest hundredth of REGISTERs under load
//! took ~100 ms for that alone). A PASSIVE checkpoint from another
//! connection takes no lock a commit needs, so the writer goes on
//! committing meanwhile. The writer keeps SQLite's automatic checkpoint
//! only as a backstop, at a size this thread never lets the log reach.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tracing::warn;

use super::error::StoreError;
use super::schema;

/// How often the log is checkpointed.
const EVERY: Duration = Duration::from_millis(500);

/// The checkpointing thread; dropping this stops it.
pub(crate) struct Checkpointer {
    /// Log frames copied into the database so far.
    pub(crate) frames: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path` and starts checkpointing.
    pub(crate) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| schema::open_error(path, e))?;
        schema::configure_checkpointer(&conn, path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let path = path.to_owned();
        let frames = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&frames);
        let thread = std::thread::Builder::new()
            .name("sipjet-checkpoint".into())
            .spawn(move || run(&conn, &path, &stopped, &counted))
            .map_err(StoreError::Spawn)?;
        Ok(Self {
            frames,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, path: &Path, stopped: &mpsc::Receiver<()>, frames: &AtomicU64) {
    // Frames of the log copied so far; the count restarts with the log.
    let mut copied = 0;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            row.get::<_, i64>(2)
        });
        match done {
            Ok(now) => {
                let now = u64::try_from(now).unwrap_or(0);
                // A smaller count than last time: the log was restarted.
                let new = if now >= copied { now - copied } else { now };
                frames.fetch_add(new, Ordering::Relaxed);
                copied = now;
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "location log checkpoint failed; the writer's own checkpoint takes over");
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the location checkpoint thread panicked");
        }
    }
}
