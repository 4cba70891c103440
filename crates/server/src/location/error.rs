//! What can go wrong in a location store, named by the step that failed.

use std::path::PathBuf;
use std::sync::Arc;

/// An error of a [`LocationStore`](super::LocationStore).
///
/// The rejections (`StaleCSeq`, `AorMismatch`, `ExpiryOutOfRange`) concern
/// one update and leave the store unchanged; the registrar answers them as a
/// failed REGISTER. The others are faults of the storage itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open the location database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Another store, in this process or another, has the database open.
    #[error(
        "the location database {path} is in use by another sipjet (or another store in this one)"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The lock file beside the database could not be created or locked.
    #[error("cannot lock the location database with {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused write-ahead logging for the file, without which a
    /// commit per batch would be too slow.
    #[error("cannot use write-ahead logging for {path}: the journal mode stays {mode}")]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// The schema could not be created or read.
    #[error("cannot create or read the location schema: {0}")]
    Schema(#[source] rusqlite::Error),
    /// The database was written by another version of sipjet.
    #[error(
        "the location database has schema version {found}; this sipjet supports version {supported}"
    )]
    UnsupportedSchema {
        /// The version the file has.
        found: i64,
        /// The version this sipjet reads and writes.
        supported: i64,
    },
    /// The stored bindings could not be read when opening.
    #[error("cannot load the stored bindings: {0}")]
    Load(#[source] rusqlite::Error),
    /// Writing the changes of a batch failed; nothing of the batch was kept.
    #[error("cannot write the location update: {0}")]
    Write(#[source] Arc<rusqlite::Error>),
    /// Committing a batch failed; nothing of the batch was kept.
    #[error("cannot commit the location update: {0}")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// The thread that writes the database could not be started.
    #[error("cannot start the location writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The thread that writes the database has stopped, so nothing more can be stored.
    #[error("the location writer thread has stopped")]
    WriterStopped,
    /// The PostgreSQL database could not be reached, or failed the work.
    /// Nothing of the update was stored, or (the connection lost during
    /// the commit) whether it was is unknown: either way no caller is told
    /// it was. The database coming back ends it; a registrar answers 503.
    #[error("the location database is unavailable while {during}: {reason}")]
    Unavailable {
        /// What the store was doing.
        during: &'static str,
        /// What went wrong, as the client library or the database said.
        reason: String,
    },
    /// TLS to the PostgreSQL database cannot be set up as its URL asks
    /// (a CA file that cannot be read, say).
    #[error("cannot set up TLS to the location database: {0}")]
    Tls(String),
    /// RFC 3261 §10.3 step 7: for the same Call-ID, a CSeq that is not higher
    /// than the stored one must not update the binding.
    #[error(
        "binding {contact} of {aor}: CSeq {offered} is not higher than the stored {stored} for Call-ID {call_id}"
    )]
    StaleCSeq {
        /// The AOR.
        aor: String,
        /// The contact URI of the binding.
        contact: String,
        /// The Call-ID both REGISTERs share.
        call_id: String,
        /// The CSeq stored with the binding.
        stored: u32,
        /// The CSeq of the update.
        offered: u32,
    },
    /// An upserted binding names another AOR than the update it is part of.
    #[error("binding {contact} names AOR {binding_aor} inside an update of AOR {update_aor}")]
    AorMismatch {
        /// The AOR the update is for.
        update_aor: String,
        /// The AOR the binding names.
        binding_aor: String,
        /// The contact URI of the binding.
        contact: String,
    },
    /// The expiry cannot be stored: before 1970 or after 2262.
    #[error("binding {contact} of {aor}: expiry time out of the storable range (1970..2262)")]
    ExpiryOutOfRange {
        /// The AOR.
        aor: String,
        /// The contact URI of the binding.
        contact: String,
    },
}

impl StoreError {
    /// Whether the fault is the database's being out of reach for now,
    /// so that the same update may succeed later (a registrar answers
    /// `503` with `Retry-After` rather than `500`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
