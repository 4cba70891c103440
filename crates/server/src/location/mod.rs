//! The registrar's location service (RFC 3261 §10.3): for each
//! address-of-record, the contacts registered to it ("bindings").
//!
//! The registrar talks to a [`LocationStore`], so that where bindings live
//! can change without touching it:
//!
//! - [`SqliteStore`], the default: bindings survive a restart and a `kill -9`,
//!   reads are served from memory, concurrent updates share one commit;
//! - [`MemoryStore`]: bindings live as long as the process (and it is the
//!   index in front of the SQLite store);
//! - [`PgStore`]: bindings in a PostgreSQL database shared by several sipjet
//!   nodes, each serving reads from memory and hearing of the others'
//!   changes at once.
//!
//! [`LocationDb`] tells which from what the operator wrote: a path or a
//! `postgres://` URL.

mod binding;
mod checkpoint;
mod entry;
mod error;
mod memory;
mod node;
mod path_blob;
mod postgres;
mod schema;
mod sqlite;
mod target;
mod update;
mod writer;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod testing;

use std::time::SystemTime;

pub use binding::{AorUpdate, Binding};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use node::{NodeBeat, NodeRecord};
pub use postgres::{PgStats, PgStore};
pub use sqlite::{CommitStats, SqliteStore};
pub use target::{BadLocationDb, LocationDb, PgTarget, RootCerts, SslMode};

/// What [`LocationStore::apply_then`] calls with the outcome.
pub type ApplyDone = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Where the registrar keeps bindings.
///
/// `apply` may block the calling thread (on disk or network I/O);
/// `apply_then` must not. Reads are meant to be answered from memory.
pub trait LocationStore: Send + Sync + 'static {
    /// Applies an update atomically and durably: when it returns `Ok`, the
    /// change survives a crash (`kill -9` of the process) and a restart (the
    /// [`MemoryStore`] alone excepted). When it returns an error, nothing of
    /// the update was applied.
    fn apply(&self, update: AorUpdate) -> Result<(), StoreError>;

    /// As [`apply`](Self::apply), without waiting: `done` gets the outcome
    /// once the update is durable (or refused), perhaps on another thread.
    /// A registrar answers from `done`, so that no thread sits blocked on
    /// a commit. The default applies at once and calls `done` here.
    fn apply_then(&self, update: AorUpdate, done: ApplyDone) {
        done(self.apply(update));
    }

    /// The bindings of an AOR that are valid at `now` (never an expired one,
    /// pruned or not), in no particular order, without touching the disk.
    fn bindings(&self, aor: &str, now: SystemTime) -> Vec<Binding>;

    /// Every binding valid at `now`, of every AOR (for `sipjet show
    /// contacts` and qualify).
    fn all(&self, now: SystemTime) -> Vec<Binding>;

    /// Removes the bindings expired at `now`, from memory and from storage;
    /// returns how many.
    fn prune(&self, now: SystemTime) -> Result<usize, StoreError>;

    /// How many bindings the store holds, counting expired ones that
    /// [`prune`](Self::prune) has not removed yet.
    fn len(&self) -> usize;

    /// Whether the store holds no binding at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that the node `beat` names is alive and where it is
    /// reached, and returns every node that shares the store, this one
    /// included, as last heard of. A store only one node uses knows of
    /// that node alone, which is what the default says.
    fn heartbeat(&self, beat: &NodeBeat) -> Result<Vec<NodeRecord>, StoreError> {
        Ok(vec![NodeRecord::from(beat)])
    }
}
