//! The in-memory location index: a store of its own (bindings lost at exit)
//! and the cache that [`SqliteStore`](super::SqliteStore) serves reads from.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use super::LocationStore;
use super::binding::{AorUpdate, Binding};
use super::entry::{Entry, unix_nanos_clamped};
use super::error::StoreError;
use super::update::PreparedUpdate;

/// Number of independently locked parts of the index: REGISTERs and lookups
/// of AORs in different shards never wait for each other.
const SHARDS: usize = 16;

type Shard = HashMap<Box<str>, Vec<Entry>>;

/// Bindings by AOR, in memory, split into shards by a hash of the AOR.
///
/// Its `apply` is atomic but not durable: the bindings end with the process.
/// On its own it serves tests and a server run without a location database.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sipjet_server::location::{AorUpdate, Binding, LocationStore, MemoryStore};
///
/// let store = MemoryStore::new();
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
///     received: None,
///     user_agent: None,
///     endpoint: Some("alice".into()),
///     node: Some("node-a".into()),
/// };
/// store.apply(AorUpdate { aor: "alice".into(), upserts: vec![binding.clone()], ..Default::default() })?;
/// assert_eq!(store.bindings("alice", now), vec![binding]);
/// assert!(store.bindings("alice", now + Duration::from_secs(3600)).is_empty());
/// # Ok::<(), sipjet_server::location::StoreError>(())
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    shards: [RwLock<Shard>; SHARDS],
    hasher: RandomState,
    len: AtomicUsize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
        }
    }

    fn shard_of(&self, aor: &str) -> &RwLock<Shard> {
        &self.shards[self.shard_index(aor)]
    }

    fn shard_index(&self, aor: &str) -> usize {
        // The low bits of a SipHash are as good as any; the modulo keeps it in range.
        (self.hasher.hash_one(aor) % SHARDS as u64) as usize
    }

    /// A lock is only poisoned by a panic inside it, and no code here panics
    /// while it holds one with the index half changed, so the data is sound.
    fn read(shard: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
        shard.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
        shard.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the AOR's entries, expired ones included (for checking an
    /// update against them before it is written).
    pub(crate) fn entries_of(&self, aor: &str) -> Vec<Entry> {
        Self::read(self.shard_of(aor))
            .get(aor)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the AOR's entries to `entries` (all of them removed when empty).
    pub(crate) fn replace(&self, aor: String, entries: Vec<Entry>) {
        let new_len = entries.len();
        let mut shard = Self::write(self.shard_of(&aor));
        let old = if entries.is_empty() {
            shard.remove(aor.as_str())
        } else {
            shard.insert(aor.into_boxed_str(), entries)
        };
        drop(shard);
        self.account(old.map_or(0, |old| old.len()), new_len);
    }

    /// Replaces every entry with `entries` (a full reload from storage).
    /// Readers see each shard change at once, not the whole index.
    pub(crate) fn reset(&self, entries: HashMap<String, Vec<Entry>>) {
        let mut shards: [Shard; SHARDS] = std::array::from_fn(|_| HashMap::new());
        let mut total = 0;
        for (aor, entries) in entries {
            if entries.is_empty() {
                continue;
            }
            total += entries.len();
            shards[self.shard_index(&aor)].insert(aor.into_boxed_str(), entries);
        }
        for (shard, new) in self.shards.iter().zip(shards) {
            let old = std::mem::replace(&mut *Self::write(shard), new);
            drop(old);
        }
        self.len.store(total, Ordering::Relaxed);
    }

    /// Adds an entry read from storage.
    pub(crate) fn insert_loaded(&self, aor: &str, entry: Entry) {
        let mut shard = Self::write(self.shard_of(aor));
        match shard.get_mut(aor) {
            Some(entries) => entries.push(entry),
            None => {
                shard.insert(aor.into(), vec![entry]);
            }
        }
        drop(shard);
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// The (AOR, contact) keys of the entries expired at `now`.
    pub(crate) fn expired_keys(&self, now: SystemTime) -> Vec<(String, String)> {
        let now = unix_nanos_clamped(now);
        let mut keys = Vec::new();
        for shard in &self.shards {
            for (aor, entries) in Self::read(shard).iter() {
                let expired = entries.iter().filter(|entry| entry.is_expired(now));
                keys.extend(expired.map(|entry| (aor.to_string(), entry.contact().to_owned())));
            }
        }
        keys
    }

    /// Keeps `len` equal to the number of entries when an AOR goes from
    /// `old` entries to `new`.
    fn account(&self, old: usize, new: usize) {
        if new >= old {
            self.len.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.len.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    /// Removes the entries expired at `now`, one shard at a time, taking a
    /// shard's write lock only when a read of it found something to remove.
    pub(crate) fn prune_index(&self, now: SystemTime) -> usize {
        let now = unix_nanos_clamped(now);
        let mut removed = 0;
        for shard in &self.shards {
            let any_expired = Self::read(shard)
                .values()
                .any(|entries| entries.iter().any(|entry| entry.is_expired(now)));
            if !any_expired {
                continue;
            }
            let mut shard = Self::write(shard);
            shard.retain(|_, entries| {
                let before = entries.len();
                entries.retain(|entry| !entry.is_expired(now));
                removed += before - entries.len();
                !entries.is_empty()
            });
        }
        self.len.fetch_sub(removed, Ordering::Relaxed);
        removed
    }
}

impl LocationStore for MemoryStore {
    fn apply(&self, update: AorUpdate) -> Result<(), StoreError> {
        let mut update = PreparedUpdate::new(update)?;
        let mut shard = Self::write(self.shard_of(&update.aor));
        let current = shard
            .get(update.aor.as_str())
            .map_or(&[][..], Vec::as_slice);
        update.check(current)?;
        let aor = std::mem::take(&mut update.aor);
        let (old, new) = match shard.get_mut(aor.as_str()) {
            Some(entries) => {
                let old = entries.len();
                update.apply_to(entries);
                (old, entries.len())
            }
            None => {
                let mut entries = Vec::new();
                update.apply_to(&mut entries);
                let new = entries.len();
                if new > 0 {
                    shard.insert(aor.clone().into_boxed_str(), entries);
                }
                (0, new)
            }
        };
        if new == 0 {
            shard.remove(aor.as_str());
        }
        drop(shard);
        self.account(old, new);
        Ok(())
    }

    fn bindings(&self, aor: &str, now: SystemTime) -> Vec<Binding> {
        let now = unix_nanos_clamped(now);
        let shard = Self::read(self.shard_of(aor));
        let Some(entries) = shard.get(aor) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|entry| !entry.is_expired(now))
            .map(|entry| entry.to_binding(aor))
            .collect()
    }

    fn all(&self, now: SystemTime) -> Vec<Binding> {
        let now = unix_nanos_clamped(now);
        let mut all = Vec::new();
        for shard in &self.shards {
            for (aor, entries) in Self::read(shard).iter() {
                let valid = entries.iter().filter(|entry| !entry.is_expired(now));
                all.extend(valid.map(|entry| entry.to_binding(aor)));
            }
        }
        all
    }

    fn prune(&self, now: SystemTime) -> Result<usize, StoreError> {
        Ok(self.prune_index(now))
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}
