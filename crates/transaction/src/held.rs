//! Completed non-INVITE server transactions over an unreliable transport,
//! kept compactly while Timer J runs (RFC 3261 §17.2.2).
//!
//! All such a transaction still does is send its final response again
//! when the request is retransmitted, without the TU, and end when Timer J
//! fires. At thousands of REGISTERs a second over UDP hundreds of
//! thousands are held at once, so each keeps only that: its id, where the
//! response goes, its deadline, and one allocation with its key (encoded)
//! and the response as sent.
//!
//! A held transaction is found by a keyed hash of its key (SipHash with
//! keys drawn at random for the process, so that a stranger cannot choose
//! keys that collide), and the encoded key confirms the find: a request
//! whose key merely hashes alike is not a retransmission and never gets
//! another transaction's response. When a second completed transaction's
//! key hashes like a held one's, the table refuses it and the caller keeps
//! it as before, so a collision costs memory, never correctness.
//!
//! Timer J is the same for every transaction of a layer and time only
//! moves forward, so deadlines arrive in order and a FIFO expires them,
//! with no timer queue. Should a caller's clock step back, an entry still
//! ends no earlier than its deadline, only behind the one before it.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Instant;

use bytes::Bytes;
use sipjet_message::Message;

use crate::event::Transmit;
use crate::id::TransactionId;
use crate::key::TransactionKey;

/// The completed non-INVITE server transactions waiting for Timer J.
#[derive(Debug)]
pub(crate) struct HeldResponses<D> {
    hasher: KeyHasher,
    /// Keyed hash of the transaction key → sequence number.
    by_key: HashMap<u64, u64, Mixed>,
    /// Transaction id → sequence number.
    by_id: HashMap<u64, u64, Mixed>,
    /// In order of deadline; `None` where a transaction left early
    /// (abandoned, or its transport failed).
    fifo: VecDeque<Option<Held<D>>>,
    /// The sequence number of `fifo[0]`.
    first: u64,
}

#[derive(Debug)]
struct Held<D> {
    id: TransactionId,
    hash: u64,
    deadline: Instant,
    peer: D,
    /// How many bytes of `data` the encoded key takes.
    key_len: u32,
    /// The encoded key, then the response as it was sent.
    data: Box<[u8]>,
}

/// Below this many slots the table's storage is not worth shrinking.
const MIN_CAPACITY: usize = 1024;

impl<D: Clone> HeldResponses<D> {
    pub(crate) fn new() -> Self {
        HeldResponses::with_hasher(KeyHasher::keyed())
    }

    /// A table under which every key hashes alike, for tests of what a
    /// collision does.
    #[cfg(test)]
    pub(crate) fn colliding() -> Self {
        HeldResponses::with_hasher(KeyHasher {
            colliding: true,
            ..KeyHasher::keyed()
        })
    }

    fn with_hasher(hasher: KeyHasher) -> Self {
        HeldResponses {
            hasher,
            by_key: HashMap::default(),
            by_id: HashMap::default(),
            fifo: VecDeque::new(),
            first: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, id: TransactionId) -> bool {
        self.by_id.contains_key(&id.0)
    }

    /// Takes in a completed transaction that answered with `response`.
    /// False, and nothing kept, when a held transaction's key hashes like
    /// this one: the caller then keeps the transaction as it was.
    pub(crate) fn hold(
        &mut self,
        id: TransactionId,
        key: &TransactionKey,
        peer: D,
        deadline: Instant,
        response: &[u8],
    ) -> bool {
        let hash = self.hasher.hash(key);
        if self.by_key.contains_key(&hash) || self.contains(id) {
            return false;
        }
        let mut data = Vec::new();
        key.encode(&mut data);
        let Ok(key_len) = u32::try_from(data.len()) else {
            return false;
        };
        data.reserve_exact(response.len());
        data.extend_from_slice(response);
        let seq = self.first + self.fifo.len() as u64;
        self.fifo.push_back(Some(Held {
            id,
            hash,
            deadline,
            peer,
            key_len,
            data: data.into_boxed_slice(),
        }));
        self.by_key.insert(hash, seq);
        self.by_id.insert(id.0, seq);
        true
    }

    /// The held transaction with this key.
    pub(crate) fn find(&self, key: &TransactionKey) -> Option<TransactionId> {
        self.lookup(key).map(|held| held.id)
    }

    /// For a retransmitted request with this key: the response again, the
    /// very bytes first sent, to where the first went.
    pub(crate) fn resend(&self, key: &TransactionKey) -> Option<Transmit<D>> {
        let held = self.lookup(key)?;
        let bytes = Bytes::copy_from_slice(&held.data[held.key_len as usize..]);
        match Message::parse(bytes) {
            Ok(message) => Some(Transmit {
                id: Some(held.id),
                message,
                dest: held.peer.clone(),
            }),
            Err(e) => {
                // It was serialized from a valid message before it was held.
                tracing::error!(id = %held.id, error = %e, "a held response does not parse");
                None
            }
        }
    }

    /// Ends a held transaction before Timer J; false when it is not held.
    pub(crate) fn remove(&mut self, id: TransactionId) -> bool {
        let Some(seq) = self.by_id.remove(&id.0) else {
            return false;
        };
        let taken = self
            .slot(seq)
            .and_then(|i| self.fifo.get_mut(i))
            .and_then(Option::take);
        if let Some(held) = taken {
            self.by_key.remove(&held.hash);
        }
        self.trim();
        true
    }

    /// When the first held transaction's Timer J fires.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.fifo
            .front()
            .and_then(Option::as_ref)
            .map(|h| h.deadline)
    }

    /// Removes and returns a held transaction whose Timer J has fired at
    /// `now`, oldest first.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TransactionId> {
        let held = self.fifo.front()?.as_ref()?;
        if held.deadline > now {
            return None;
        }
        let held = self.fifo.pop_front().flatten()?;
        self.first += 1;
        self.by_key.remove(&held.hash);
        self.by_id.remove(&held.id.0);
        self.trim();
        Some(held.id)
    }

    fn lookup(&self, key: &TransactionKey) -> Option<&Held<D>> {
        let seq = *self.by_key.get(&self.hasher.hash(key))?;
        let held = self.fifo.get(self.slot(seq)?)?.as_ref()?;
        let mut encoded = Vec::with_capacity(held.key_len as usize);
        key.encode(&mut encoded);
        (held.data.get(..held.key_len as usize) == Some(&encoded[..])).then_some(held)
    }

    fn slot(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.first)?).ok()
    }

    /// Drops the slots of transactions that left early from the front, so
    /// that the front is the next deadline, and gives back storage a burst
    /// left behind once the table holds a quarter of it.
    fn trim(&mut self) {
        while matches!(self.fifo.front(), Some(None)) {
            self.fifo.pop_front();
            self.first += 1;
        }
        let len = self.fifo.len();
        if self.fifo.capacity() > MIN_CAPACITY.max(len * 4) {
            self.fifo.shrink_to(len * 2);
        }
        // Maps grow in powers of two: a wider margin keeps a map near a
        // boundary from being rebuilt again and again.
        for map in [&mut self.by_key, &mut self.by_id] {
            if map.capacity() > MIN_CAPACITY.max(map.len() * 8) {
                map.shrink_to(map.len() * 2);
            }
        }
    }
}

/// Hashes transaction keys, with keys of its own: SipHash-1-3 as the
/// standard library's `RandomState` draws them, at random for each
/// process.
#[derive(Debug)]
struct KeyHasher {
    keys: RandomState,
    /// Every key hashes alike: for tests of what a collision does.
    #[cfg(test)]
    colliding: bool,
}

impl KeyHasher {
    fn keyed() -> Self {
        KeyHasher {
            keys: RandomState::new(),
            #[cfg(test)]
            colliding: false,
        }
    }

    fn hash(&self, key: &TransactionKey) -> u64 {
        #[cfg(test)]
        if self.colliding {
            return 7;
        }
        self.keys.hash_one(key)
    }
}

/// For the table's own maps, whose keys are already keyed hashes or are
/// ids this layer allocated in sequence, neither of which a stranger
/// chooses: one multiplication spreads them over the map's buckets.
type Mixed = BuildHasherDefault<MixHasher>;

#[derive(Default)]
struct MixHasher(u64);

/// An odd constant with bits spread evenly (2^64 / φ).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(MIX);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ms, reply, request};
    use sipjet_message::Method;

    fn key(branch: &str) -> TransactionKey {
        TransactionKey::of_request(&request(Method::Register, branch)).unwrap()
    }

    fn response(branch: &str) -> Bytes {
        reply(&request(Method::Register, branch), 200).to_bytes()
    }

    #[test]
    fn a_retransmission_gets_the_same_bytes_to_the_same_peer() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        let sent = response("z9hG4bKh1");
        assert!(table.hold(TransactionId(1), &key("z9hG4bKh1"), 9, t0, &sent));
        assert!(table.hold(
            TransactionId(2),
            &key("z9hG4bKh2"),
            8,
            t0,
            &response("z9hG4bKh2")
        ));
        let again = table.resend(&key("z9hG4bKh1")).expect("held");
        assert_eq!(again.id, Some(TransactionId(1)));
        assert_eq!(again.dest, 9);
        assert_eq!(again.message.to_bytes(), sent);
        assert_eq!(table.find(&key("z9hG4bKh2")), Some(TransactionId(2)));
        assert_eq!(table.find(&key("z9hG4bKh3")), None);
        assert!(table.resend(&key("z9hG4bKh3")).is_none());
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn timer_j_ends_them_in_order_and_no_earlier() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for (i, at) in [(1, 100), (2, 200), (3, 300)] {
            let branch = format!("z9hG4bKe{i}");
            assert!(table.hold(TransactionId(i), &key(&branch), 1, t0 + ms(at), b"x"));
        }
        assert_eq!(table.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(table.pop_expired(t0 + ms(99)), None);
        assert_eq!(table.pop_expired(t0 + ms(250)), Some(TransactionId(1)));
        assert_eq!(table.pop_expired(t0 + ms(250)), Some(TransactionId(2)));
        assert_eq!(table.pop_expired(t0 + ms(250)), None);
        assert_eq!(table.next_deadline(), Some(t0 + ms(300)));
        assert_eq!(table.find(&key("z9hG4bKe1")), None);
        assert!(!table.contains(TransactionId(2)));
        assert!(table.contains(TransactionId(3)));
        // A clock that stepped back: the late entry waits behind the one
        // before it, never ending before its own deadline.
        assert!(table.hold(TransactionId(4), &key("z9hG4bKe4"), 1, t0 + ms(150), b"x"));
        assert_eq!(table.pop_expired(t0 + ms(200)), None);
        assert_eq!(table.pop_expired(t0 + ms(300)), Some(TransactionId(3)));
        assert_eq!(table.pop_expired(t0 + ms(300)), Some(TransactionId(4)));
        assert_eq!((table.len(), table.next_deadline()), (0, None));
    }

    #[test]
    fn one_removed_early_leaves_nothing_behind() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for i in 1..=3 {
            let branch = format!("z9hG4bKr{i}");
            assert!(table.hold(TransactionId(i), &key(&branch), 1, t0 + ms(i * 10), b"x"));
        }
        assert!(table.remove(TransactionId(2)));
        assert!(!table.remove(TransactionId(2)));
        assert_eq!(table.find(&key("z9hG4bKr2")), None);
        assert!(table.remove(TransactionId(1)));
        // The front is the next live deadline, not a gap.
        assert_eq!(table.next_deadline(), Some(t0 + ms(30)));
        assert_eq!(table.fifo.len(), 1);
        assert_eq!(table.pop_expired(t0 + ms(30)), Some(TransactionId(3)));
        assert!(table.by_key.is_empty() && table.by_id.is_empty() && table.fifo.is_empty());
    }

    #[test]
    fn a_colliding_key_never_gets_another_transactions_response() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::colliding();
        let sent = response("z9hG4bKc1");
        assert!(table.hold(TransactionId(1), &key("z9hG4bKc1"), 1, t0, &sent));
        // Another key that hashes alike is not a retransmission...
        assert_eq!(table.find(&key("z9hG4bKc2")), None);
        assert!(table.resend(&key("z9hG4bKc2")).is_none());
        // ...and is not taken in beside the first: its caller keeps it.
        assert!(!table.hold(
            TransactionId(2),
            &key("z9hG4bKc2"),
            2,
            t0,
            &response("z9hG4bKc2")
        ));
        assert_eq!(table.len(), 1);
        // The first still answers its own retransmissions.
        let again = table.resend(&key("z9hG4bKc1")).expect("held");
        assert_eq!(again.message.to_bytes(), sent);
    }

    #[test]
    fn storage_a_burst_left_is_given_back() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for i in 0..20_000u64 {
            let branch = format!("z9hG4bKb{i}");
            assert!(table.hold(TransactionId(i), &key(&branch), 1, t0, b"x"));
        }
        let peak = table.fifo.capacity();
        while table.len() > 10 {
            table.pop_expired(t0);
        }
        assert!(table.fifo.capacity() < peak / 4);
        assert!(table.by_key.capacity() <= MIN_CAPACITY * 2);
        assert!(table.by_id.capacity() <= MIN_CAPACITY * 2);
    }
}
