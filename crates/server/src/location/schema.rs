//! The SQLite form of the location store: connection settings, tables,
//! and reading and writing bindings.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{Connection, Row, Transaction, params};
use tracing::{info, warn};

use super::binding::Binding;
use super::entry::{Entry, unix_nanos_clamped};
use super::error::StoreError;
use super::memory::MemoryStore;
use super::path_blob::{decode_path, encode_path};
use super::update::PreparedUpdate;

/// The version of the tables below. A database of an older version is
/// migrated when opened (see [`MIGRATIONS`]); one of a newer version is
/// refused rather than misread.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// What takes a database from version N to N + 1, at index N - 1.
const MIGRATIONS: [&str; (SCHEMA_VERSION - 1) as usize] = [
    // 1 -> 2: the node that holds each binding's flow; unknown for the
    // bindings stored before.
    "ALTER TABLE bindings ADD COLUMN node TEXT",
];

const CREATE: &str = "
    CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS bindings (
        aor TEXT NOT NULL,
        contact TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        q INTEGER,
        call_id TEXT NOT NULL,
        cseq INTEGER NOT NULL,
        path BLOB NOT NULL,
        instance_id TEXT,
        reg_id INTEGER,
        received TEXT,
        user_agent TEXT,
        endpoint TEXT,
        node TEXT,
        PRIMARY KEY (aor, contact)
    ) WITHOUT ROWID;
";

const UPSERT: &str = "INSERT OR REPLACE INTO bindings
    (aor, contact, expires_at, q, call_id, cseq, path, instance_id, reg_id, received, user_agent, endpoint, node)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
const SELECT_ALL: &str =
    "SELECT aor, contact, expires_at, q, call_id, cseq, path, instance_id, reg_id,
    received, user_agent, endpoint, node FROM bindings";
const DELETE_ONE: &str = "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2";
const DELETE_AOR: &str = "DELETE FROM bindings WHERE aor = ?1";
const DELETE_EXPIRED: &str = "DELETE FROM bindings WHERE expires_at <= ?1";

/// Sets up the writer's connection.
///
/// - a busy timeout: the checkpoint connection holds a lock for moments at a
///   time, and a commit should wait those out, not fail. (A second store on
///   the same file is kept out by [`lock`] instead.)
/// - `journal_mode=WAL`: a commit appends to the log instead of rewriting pages.
/// - `synchronous=FULL`: every commit is fsynced, so a binding acknowledged by
///   a 200 survives a crash of the process *and* of the machine. NORMAL would
///   survive `kill -9` too (a committed WAL frame is in the OS page cache) but
///   not a power cut; group commit makes FULL cheap enough.
/// - `wal_autocheckpoint` high: checkpoints are the checkpoint thread's job
///   (see `checkpoint.rs`); the writer's own is a backstop should that
///   thread fall behind.
pub(crate) fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    configure_both(conn, path, BACKSTOP_CHECKPOINT_PAGES)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|source| open_error(path, source))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Sets up the checkpoint thread's connection: it fsyncs what it copies
/// (`synchronous=FULL`) and never checkpoints on its own.
pub(crate) fn configure_checkpointer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    configure_both(conn, path, 0)
}

/// What both connections share: the busy timeout, FULL synchronous, and
/// the log size at which the connection checkpoints by itself (0: never).
fn configure_both(conn: &Connection, path: &Path, autocheckpoint: i64) -> Result<(), StoreError> {
    let open = |source| open_error(path, source);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open)?;
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)
        .map_err(open)
}

/// Opening or configuring the database at `path` failed.
pub(crate) fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: path.to_owned(),
        source,
    }
}

/// How long a connection waits for a lock the other holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The log size (in pages of 4 KiB: 64 MiB) at which the writer
/// checkpoints by itself.
const BACKSTOP_CHECKPOINT_PAGES: i64 = 16_384;

/// Takes the lock that keeps a second store, in this process or another,
/// from opening the same database: the store's memory is the truth for
/// reads, so a second writer of the file would go unseen. An advisory lock
/// on a file beside the database, held for as long as the returned file is
/// open; the operating system drops it when the process dies.
pub(crate) fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let lock_path = {
        let mut p = path.as_os_str().to_owned();
        p.push(".lock");
        std::path::PathBuf::from(p)
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| StoreError::Lock {
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Lock {
            path: lock_path,
            source,
        }),
    }
}

/// Creates the tables when absent, or migrates them from an older
/// version, in one transaction; refuses a newer version.
pub(crate) fn create(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(StoreError::Schema)?;
    let versioned: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::Schema)?;
    let found: Option<i64> = if versioned {
        tx.query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .map_err(StoreError::Schema)?
    } else {
        None
    };
    match found {
        None => {
            tx.execute_batch(CREATE).map_err(StoreError::Schema)?;
            tx.execute("DELETE FROM schema_version", [])
                .map_err(StoreError::Schema)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )
            .map_err(StoreError::Schema)?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
            for step in &MIGRATIONS[(found - 1) as usize..] {
                tx.execute_batch(step).map_err(StoreError::Schema)?;
            }
            tx.execute("UPDATE schema_version SET version = ?1", [SCHEMA_VERSION])
                .map_err(StoreError::Schema)?;
            info!(
                from = found,
                to = SCHEMA_VERSION,
                "location database migrated"
            );
        }
        Some(found) => {
            return Err(StoreError::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
    }
    tx.commit().map_err(StoreError::Schema)
}

/// What opening found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// Bindings now in the index.
    pub(crate) bindings: usize,
    /// Expired bindings deleted.
    pub(crate) expired: usize,
    /// Unreadable rows deleted.
    pub(crate) unreadable: usize,
}

/// Deletes the bindings expired at `now`, then loads the others into `index`.
///
/// A row that cannot be read back (written by hand, or damaged) is logged and
/// deleted instead of stopping the server: a binding is soft state that its
/// user agent refreshes anyway.
pub(crate) fn load(
    conn: &mut Connection,
    index: &MemoryStore,
    now: SystemTime,
) -> Result<Loaded, StoreError> {
    let tx = conn.transaction().map_err(StoreError::Load)?;
    let expired = tx
        .execute(DELETE_EXPIRED, [unix_nanos_clamped(now)])
        .map_err(StoreError::Load)?;
    let mut bindings = 0;
    let mut unreadable = Vec::new();
    {
        let mut select = tx.prepare(SELECT_ALL).map_err(StoreError::Load)?;
        let mut rows = select.query([]).map_err(StoreError::Load)?;
        while let Some(row) = rows.next().map_err(StoreError::Load)? {
            match read_binding(row) {
                Some(binding) => match Entry::new(&binding) {
                    Some(entry) => {
                        index.insert_loaded(&binding.aor, entry);
                        bindings += 1;
                    }
                    None => unreadable.push(row_key(row)),
                },
                None => unreadable.push(row_key(row)),
            }
        }
    }
    for (aor, contact) in &unreadable {
        warn!(
            ?aor,
            ?contact,
            "deleting an unreadable binding from the location database"
        );
        tx.execute(DELETE_ONE, params![aor, contact])
            .map_err(StoreError::Load)?;
    }
    tx.commit().map_err(StoreError::Load)?;
    Ok(Loaded {
        bindings,
        expired,
        unreadable: unreadable.len(),
    })
}

/// The key of a row as stored, whatever its type, to delete it.
fn row_key(row: &Row<'_>) -> (Value, Value) {
    let value = |index| row.get::<_, Value>(index).unwrap_or(Value::Null);
    (value(0), value(1))
}

/// The binding of a row, or `None` when a column does not hold what it should.
fn read_binding(row: &Row<'_>) -> Option<Binding> {
    let expires_at: i64 = row.get(2).ok()?;
    if expires_at < 0 {
        return None;
    }
    Some(Binding {
        aor: row.get(0).ok()?,
        contact: row.get(1).ok()?,
        expires_at: UNIX_EPOCH + Duration::from_nanos(expires_at.unsigned_abs()),
        q: row.get(3).ok()?,
        call_id: row.get(4).ok()?,
        cseq: row.get(5).ok()?,
        path: decode_path(row.get_ref(6).ok()?.as_blob().ok()?)?,
        instance_id: row.get(7).ok()?,
        reg_id: row.get(8).ok()?,
        received: row.get(9).ok()?,
        user_agent: row.get(10).ok()?,
        endpoint: row.get(11).ok()?,
        node: row.get(12).ok()?,
    })
}

/// Writes one checked update inside the batch's transaction.
pub(crate) fn write_update(tx: &Transaction<'_>, update: &PreparedUpdate) -> rusqlite::Result<()> {
    if update.remove_all {
        tx.prepare_cached(DELETE_AOR)?.execute([&update.aor])?;
    }
    if !update.removals.is_empty() {
        let mut delete = tx.prepare_cached(DELETE_ONE)?;
        for contact in &update.removals {
            delete.execute(params![update.aor, contact])?;
        }
    }
    if !update.upserts.is_empty() {
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for entry in &update.upserts {
            upsert.execute(params![
                update.aor,
                entry.contact(),
                entry.expires_at(),
                entry.q(),
                entry.call_id(),
                entry.cseq(),
                encode_path(entry.path()),
                entry.instance_id(),
                entry.reg_id(),
                entry.received(),
                entry.user_agent(),
                entry.endpoint(),
                entry.node(),
            ])?;
        }
    }
    Ok(())
}

/// Deletes the given bindings inside a transaction.
pub(crate) fn delete_bindings(
    tx: &Transaction<'_>,
    keys: &[(String, String)],
) -> rusqlite::Result<()> {
    let mut delete = tx.prepare_cached(DELETE_ONE)?;
    for (aor, contact) in keys {
        delete.execute(params![aor, contact])?;
    }
    Ok(())
}
