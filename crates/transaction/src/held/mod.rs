//! Completed non-INVITE server transactions over an unreliable transport,
//! kept compactly while Timer J runs (RFC 3261 §17.2.2).
//!
//! All such a transaction still does is send its final response again
//! when the request is retransmitted, without the TU, and end when Timer J
//! fires. At thousands of REGISTERs a second over UDP hundreds of
//! thousands are held at once, so each keeps only that: its id, where the
//! response goes (a number: each peer is kept once, [`peers`]), its
//! deadline, hashes of its key and of its request, and the response packed
//! against the request and a recent response ([`pack`]), in one byte queue
//! shared by all, in order of deadline.
//!
//! A held transaction is found by a keyed hash of its key (SipHash with
//! keys drawn at random for the process, so that a stranger cannot choose
//! keys that collide), and a second, independently keyed hash of the key
//! confirms the find: a request whose key merely hashes alike is not a
//! retransmission and never gets another transaction's response. When a
//! second completed transaction's key hashes like a held one's, the table
//! refuses it and the caller keeps it as before, so a collision costs
//! memory, never correctness. The place a key is found by is 32 bits of
//! its hash, as are the sequence numbers the maps lead to, so that an
//! entry of either map is 8 bytes: with half a million held, two keys
//! share a place in about one hold of 8,600, and that one is kept as a
//! whole transaction instead.
//!
//! A retransmission is the same bytes as the request it repeats (RFC 3261
//! §17.1.2.2), and the packed response needs those bytes to unpack. A
//! request with the key of a held transaction but other bytes (a keyed
//! hash of the request tells) is absorbed without an answer: it is no
//! client's retransmission, and what it would get back is made of another
//! request's text.
//!
//! Timer J is the same for every transaction of a layer and time only
//! moves forward, so deadlines arrive in order and a FIFO expires them,
//! with no timer queue. Should a caller's clock step back, an entry still
//! ends no earlier than its deadline, only behind the one before it.

mod chunked;
mod pack;
mod peers;

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sipjet_message::Message;

use crate::event::Transmit;
use crate::id::TransactionId;
use crate::key::TransactionKey;
use chunked::Chunked;
use pack::Packer;
use peers::Peers;

/// The completed non-INVITE server transactions waiting for Timer J.
#[derive(Debug)]
pub(crate) struct HeldResponses<D> {
    hasher: KeyHasher,
    /// The key's place (32 bits of its keyed hash) → sequence number
    /// (modulo 2^32: far fewer than that are held at once).
    by_key: HashMap<u32, u32, Mixed>,
    /// The transaction id's low 32 bits → sequence number; the slot's id
    /// confirms it (ids are given in order, and two 2^32 apart are never
    /// held together).
    by_id: HashMap<u32, u32, Mixed>,
    /// In order of deadline; `None` where a transaction left early
    /// (abandoned, or its transport failed).
    fifo: Chunked<Option<Held>>,
    /// The sequence number of `fifo[0]`.
    first: u64,
    /// The packed responses, in the order of `fifo`.
    packed: Chunked<u8>,
    /// The position of `packed[0]` in all bytes ever packed.
    packed_first: u64,
    /// The responses packed ones may refer to, oldest first: a new one
    /// each second, as the Date header changes. Each held deadline counts
    /// from its template's.
    templates: VecDeque<Template>,
    packer: Packer,
    peers: Peers<D>,
}

/// One held transaction: 48 bytes, however long its response.
#[derive(Clone, Copy, Debug)]
struct Held {
    id: TransactionId,
    /// The key's second hash, which confirms a find.
    check: u64,
    /// Keyed hash of the request's bytes.
    request: u64,
    /// The key's place in `by_key`.
    place: u32,
    /// Its deadline, in nanoseconds after its template's (under a
    /// second: a later deadline takes a template of its own).
    after_template: u32,
    /// Where in all bytes ever packed the response starts, modulo 2^32
    /// (the bytes kept at once are far fewer), and its length packed.
    at: u32,
    len: NonZeroU16,
    /// Its number in `peers`.
    peer: u32,
}

const _: () = assert!(std::mem::size_of::<Option<Held>>() == 48);
const _: () = assert!(TEMPLATE_EVERY.as_nanos() < u32::MAX as u128);

/// A response as sent, which the responses held after it, until the next
/// template, are packed against.
#[derive(Debug)]
struct Template {
    /// The sequence number of the first transaction packed against it.
    first: u64,
    /// The deadline of that transaction.
    made: Instant,
    dictionary: pack::Template,
}

/// How often a new template is taken: responses sent in the same second
/// share their Date.
const TEMPLATE_EVERY: Duration = Duration::from_secs(1);

/// The longest template kept; a longer response is cut.
const TEMPLATE_MAX: usize = 4096;

/// The low 32 bits of an id, its key in `by_id`.
fn low_bits(id: TransactionId) -> u32 {
    id.0 as u32
}

/// Below this many slots the table's storage is not worth shrinking.
const MIN_CAPACITY: usize = 1024;

impl<D: Clone + Eq + Hash> HeldResponses<D> {
    pub(crate) fn new() -> Self {
        HeldResponses::with_hasher(KeyHasher::keyed())
    }

    /// A table under which every key hashes alike, for tests of what a
    /// collision does.
    #[cfg(test)]
    pub(crate) fn colliding() -> Self {
        HeldResponses::with_hasher(KeyHasher {
            place: Keyed::colliding(),
            ..KeyHasher::keyed()
        })
    }

    fn with_hasher(hasher: KeyHasher) -> Self {
        HeldResponses {
            hasher,
            by_key: HashMap::default(),
            by_id: HashMap::default(),
            fifo: Chunked::new(),
            first: 0,
            packed: Chunked::new(),
            packed_first: 0,
            templates: VecDeque::new(),
            packer: Packer::new(),
            peers: Peers::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, id: TransactionId) -> bool {
        self.index_of(id).is_some()
    }

    /// Where in `fifo` the held transaction `id` is.
    fn index_of(&self, id: TransactionId) -> Option<usize> {
        let i = self.slot(*self.by_id.get(&low_bits(id))?)?;
        let held = self.fifo.get(i)?.as_ref()?;
        (held.id == id).then_some(i)
    }

    /// Takes in a completed transaction that answered `request` (its bytes
    /// as received) with `response`. False, and nothing kept, when a held
    /// transaction's key hashes like this one: the caller then keeps the
    /// transaction as it was.
    pub(crate) fn hold(
        &mut self,
        id: TransactionId,
        key: &TransactionKey,
        peer: D,
        deadline: Instant,
        response: &[u8],
        request: &[u8],
    ) -> bool {
        let place = self.hasher.place(key);
        if self.by_key.contains_key(&place)
            || self.by_id.contains_key(&low_bits(id))
            || self.fifo.len() >= u32::MAX as usize
        {
            return false;
        }
        let seq = self.first + self.fifo.len() as u64;
        let stale = self
            .templates
            .back()
            .is_none_or(|t| deadline < t.made || deadline.duration_since(t.made) >= TEMPLATE_EVERY);
        if stale {
            self.templates.push_back(Template {
                first: seq,
                made: deadline,
                dictionary: pack::Template::new(&response[..response.len().min(TEMPLATE_MAX)]),
            });
        }
        let Some(template) = self.templates.back() else {
            return false;
        };
        // Taken when this deadline was under a second after it.
        let after_template =
            u32::try_from(deadline.saturating_duration_since(template.made).as_nanos())
                .unwrap_or(u32::MAX);
        let packed = self.packer.pack(&template.dictionary, request, response);
        let Some(len) = u16::try_from(packed.len()).ok().and_then(NonZeroU16::new) else {
            return false;
        };
        if self.packed.len() + packed.len() > u32::MAX as usize {
            return false;
        }
        let Some(peer) = self.peers.add(peer) else {
            return false;
        };
        let at = (self.packed_first + self.packed.len() as u64) as u32;
        self.packed.extend_from_slice(packed);
        self.fifo.push_back(Some(Held {
            id,
            check: self.hasher.check(key),
            request: self.hasher.bytes(request),
            place,
            after_template,
            at,
            len,
            peer,
        }));
        self.by_key.insert(place, seq as u32);
        self.by_id.insert(low_bits(id), seq as u32);
        true
    }

    /// The held transaction with this key.
    pub(crate) fn find(&self, key: &TransactionKey) -> Option<TransactionId> {
        self.lookup(key).map(|(_, held)| held.id)
    }

    /// For a request with this key and these bytes (as received): the
    /// response again, the very bytes first sent, to where the first went,
    /// when it is the held request once more.
    pub(crate) fn resend(&self, key: &TransactionKey, request: &[u8]) -> Resend<D> {
        let Some((seq, held)) = self.lookup(key) else {
            return Resend::NotHeld;
        };
        if held.request != self.hasher.bytes(request) {
            tracing::debug!(id = %held.id, "a request with a held transaction's key but other bytes absorbed");
            return Resend::Absorbed;
        }
        let Some(text) = self.unpack(seq, held, request) else {
            // It was packed here against these very bytes.
            tracing::error!(id = %held.id, "a held response does not unpack");
            return Resend::Absorbed;
        };
        let Some(peer) = self.peers.get(held.peer) else {
            tracing::error!(id = %held.id, "a held transaction's peer is gone");
            return Resend::Absorbed;
        };
        match Message::parse(Bytes::from(text)) {
            Ok(message) => Resend::Again(Box::new(Transmit {
                id: Some(held.id),
                message,
                dest: peer.clone(),
            })),
            Err(e) => {
                // It was serialized from a valid message before it was held.
                tracing::error!(id = %held.id, error = %e, "a held response does not parse");
                Resend::Absorbed
            }
        }
    }

    fn unpack(&self, seq: u64, held: &Held, request: &[u8]) -> Option<Vec<u8>> {
        let from = self.packed_offset(held.at);
        let mut packed = Vec::with_capacity(usize::from(held.len.get()));
        if !self
            .packed
            .copy_range(from, usize::from(held.len.get()), &mut packed)
        {
            return None;
        }
        let template = self.template_of(seq)?;
        pack::unpack(&packed, template.dictionary.text(), request)
    }

    /// The template the transaction of sequence number `seq` was packed
    /// against, and its deadline counts from.
    fn template_of(&self, seq: u64) -> Option<&Template> {
        let newer = self.templates.partition_point(|t| t.first <= seq);
        self.templates.get(newer.checked_sub(1)?)
    }

    fn deadline(&self, seq: u64, held: &Held) -> Option<Instant> {
        let made = self.template_of(seq)?.made;
        Some(made + Duration::from_nanos(u64::from(held.after_template)))
    }

    /// Ends a held transaction before Timer J; false when it is not held.
    pub(crate) fn remove(&mut self, id: TransactionId) -> bool {
        let Some(i) = self.index_of(id) else {
            return false;
        };
        self.by_id.remove(&low_bits(id));
        if let Some(held) = self.fifo.get_mut(i).and_then(Option::take) {
            self.by_key.remove(&held.place);
            self.peers.release(held.peer);
        }
        self.trim();
        true
    }

    /// When the first held transaction's Timer J fires.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let held = self.fifo.front()?.as_ref()?;
        self.deadline(self.first, held)
    }

    /// Removes and returns a held transaction whose Timer J has fired at
    /// `now`, oldest first.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TransactionId> {
        let held = self.fifo.front()?.as_ref()?;
        if self.deadline(self.first, held)? > now {
            return None;
        }
        let held = self.fifo.pop_front().flatten()?;
        self.first += 1;
        self.by_key.remove(&held.place);
        self.by_id.remove(&low_bits(held.id));
        self.peers.release(held.peer);
        self.trim();
        Some(held.id)
    }

    fn lookup(&self, key: &TransactionKey) -> Option<(u64, &Held)> {
        let i = self.slot(*self.by_key.get(&self.hasher.place(key))?)?;
        let held = self.fifo.get(i)?.as_ref()?;
        (held.check == self.hasher.check(key)).then_some((self.first + i as u64, held))
    }

    /// Where in `packed` the bytes at position `at` (modulo 2^32) are.
    fn packed_offset(&self, at: u32) -> usize {
        at.wrapping_sub(self.packed_first as u32) as usize
    }

    /// Where in `fifo` the transaction of sequence number `seq` (modulo
    /// 2^32) is.
    fn slot(&self, seq: u32) -> Option<usize> {
        let i = seq.wrapping_sub(self.first as u32) as usize;
        (i < self.fifo.len()).then_some(i)
    }

    /// Drops the slots of transactions that left early from the front, so
    /// that the front is the next deadline, with the packed bytes and
    /// templates no one left refers to, and gives back the maps' storage
    /// a burst left behind once they hold an eighth of it (the queues
    /// give chunks back as their front passes them).
    fn trim(&mut self) {
        while matches!(self.fifo.front(), Some(None)) {
            self.fifo.pop_front();
            self.first += 1;
        }
        let packed_end = self.packed_first + self.packed.len() as u64;
        let in_use = self
            .fifo
            .front()
            .and_then(Option::as_ref)
            .map_or(packed_end, |h| {
                self.packed_first + self.packed_offset(h.at) as u64
            });
        let unused = (in_use - self.packed_first) as usize;
        self.packed.drain_front(unused);
        self.packed_first = in_use;
        while self.templates.get(1).is_some_and(|t| t.first <= self.first) {
            self.templates.pop_front();
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

/// What a held table does with a request.
#[derive(Debug)]
pub(crate) enum Resend<D> {
    /// No transaction with its key is held: the request is new.
    NotHeld,
    /// It is a retransmission: this goes out again.
    Again(Box<Transmit<D>>),
    /// It has a held transaction's key, but is not its request: nothing
    /// is sent.
    Absorbed,
}

/// SipHash-1-3 with keys of its own, drawn at random for the process as
/// the standard library's `RandomState` draws them, so that a stranger
/// cannot choose what collides. In tests it can hash everything alike, to
/// show what a collision does.
#[derive(Debug)]
struct Keyed {
    keys: RandomState,
    #[cfg(test)]
    colliding: bool,
}

impl Keyed {
    fn new() -> Keyed {
        Keyed {
            keys: RandomState::new(),
            #[cfg(test)]
            colliding: false,
        }
    }

    #[cfg(test)]
    fn colliding() -> Keyed {
        Keyed {
            colliding: true,
            ..Keyed::new()
        }
    }

    fn hash<T: Hash + ?Sized>(&self, value: &T) -> u64 {
        #[cfg(test)]
        if self.colliding {
            return 7;
        }
        self.keys.hash_one(value)
    }
}

/// Hashes transaction keys and requests, one set of keys for each use.
#[derive(Debug)]
struct KeyHasher {
    place: Keyed,
    check: Keyed,
    request: Keyed,
}

impl KeyHasher {
    fn keyed() -> Self {
        KeyHasher {
            place: Keyed::new(),
            check: Keyed::new(),
            request: Keyed::new(),
        }
    }

    /// Where a key is found: 32 bits of its keyed hash.
    fn place(&self, key: &TransactionKey) -> u32 {
        self.place.hash(key) as u32
    }

    /// What confirms a find.
    fn check(&self, key: &TransactionKey) -> u64 {
        self.check.hash(key)
    }

    fn bytes(&self, request: &[u8]) -> u64 {
        self.request.hash(request)
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

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
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

    fn sent(branch: &str) -> Bytes {
        request(Method::Register, branch).received_bytes().clone()
    }

    fn response(branch: &str) -> Bytes {
        reply(&request(Method::Register, branch), 200).to_bytes()
    }

    /// Holds the transaction of `branch`, answered with its 200.
    fn hold(
        table: &mut HeldResponses<u8>,
        id: u64,
        branch: &str,
        peer: u8,
        deadline: Instant,
    ) -> bool {
        let response = response(branch);
        table.hold(
            TransactionId(id),
            &key(branch),
            peer,
            deadline,
            &response,
            &sent(branch),
        )
    }

    fn again(table: &HeldResponses<u8>, branch: &str) -> Option<Transmit<u8>> {
        match table.resend(&key(branch), &sent(branch)) {
            Resend::Again(t) => Some(*t),
            Resend::NotHeld | Resend::Absorbed => None,
        }
    }

    #[test]
    fn a_retransmission_gets_the_same_bytes_to_the_same_peer() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        assert!(hold(&mut table, 1, "z9hG4bKh1", 9, t0));
        assert!(hold(&mut table, 2, "z9hG4bKh2", 8, t0 + ms(1500)));
        assert!(hold(&mut table, 3, "z9hG4bKh3", 7, t0 + ms(1600)));
        for (id, branch, peer) in [
            (1, "z9hG4bKh1", 9),
            (2, "z9hG4bKh2", 8),
            (3, "z9hG4bKh3", 7),
        ] {
            let again = again(&table, branch).expect("held");
            assert_eq!(again.id, Some(TransactionId(id)));
            assert_eq!(again.dest, peer);
            assert_eq!(again.message.to_bytes(), response(branch));
        }
        // Packed against the request and a response of the same second.
        assert_eq!(table.templates.len(), 2);
        assert!(table.packed.len() < 3 * response("z9hG4bKh1").len() / 2);
        assert_eq!(table.find(&key("z9hG4bKh2")), Some(TransactionId(2)));
        assert_eq!(table.find(&key("z9hG4bKh4")), None);
        assert!(matches!(
            table.resend(&key("z9hG4bKh4"), &sent("z9hG4bKh4")),
            Resend::NotHeld
        ));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_request_with_a_held_key_but_other_bytes_gets_nothing() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        assert!(hold(&mut table, 1, "z9hG4bKo1", 1, t0));
        let mut other = sent("z9hG4bKo1").to_vec();
        let at = other.windows(5).position(|w| w == b"alice").unwrap();
        other[at..at + 5].copy_from_slice(b"mally");
        assert!(matches!(
            table.resend(&key("z9hG4bKo1"), &other),
            Resend::Absorbed
        ));
        // The transaction is still held, and its own retransmission answered.
        assert!(again(&table, "z9hG4bKo1").is_some());
    }

    #[test]
    fn timer_j_ends_them_in_order_and_no_earlier() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for (i, at) in [(1, 100), (2, 200), (3, 300)] {
            assert!(hold(&mut table, i, &format!("z9hG4bKe{i}"), 1, t0 + ms(at)));
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
        // before it, never ending before its own deadline, and both still
        // answer (the step back starts a template of its own).
        assert!(hold(&mut table, 4, "z9hG4bKe4", 1, t0 + ms(150)));
        assert!(again(&table, "z9hG4bKe3").is_some());
        assert!(again(&table, "z9hG4bKe4").is_some());
        assert_eq!(table.pop_expired(t0 + ms(200)), None);
        assert_eq!(table.pop_expired(t0 + ms(300)), Some(TransactionId(3)));
        assert_eq!(table.pop_expired(t0 + ms(300)), Some(TransactionId(4)));
        assert_eq!((table.len(), table.next_deadline()), (0, None));
        assert!(table.packed.is_empty());
    }

    #[test]
    fn one_removed_early_leaves_nothing_behind() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for i in 1..=3 {
            assert!(hold(
                &mut table,
                i,
                &format!("z9hG4bKr{i}"),
                1,
                t0 + ms(i * 10)
            ));
        }
        assert!(table.remove(TransactionId(2)));
        assert!(!table.remove(TransactionId(2)));
        assert_eq!(table.find(&key("z9hG4bKr2")), None);
        assert!(table.remove(TransactionId(1)));
        // The front is the next live deadline, not a gap, and its bytes
        // are the first kept.
        assert_eq!(table.next_deadline(), Some(t0 + ms(30)));
        assert_eq!(table.fifo.len(), 1);
        assert_eq!(
            table.packed_first as u32,
            table.fifo.get(0).unwrap().as_ref().unwrap().at
        );
        assert!(again(&table, "z9hG4bKr3").is_some());
        assert_eq!(table.pop_expired(t0 + ms(30)), Some(TransactionId(3)));
        assert!(table.by_key.is_empty() && table.by_id.is_empty() && table.fifo.is_empty());
        assert!(table.packed.is_empty());
        assert_eq!(table.peers.len(), 0);
    }

    #[test]
    fn templates_no_one_refers_to_are_let_go() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for i in 0..5u64 {
            assert!(hold(
                &mut table,
                i,
                &format!("z9hG4bKt{i}"),
                1,
                t0 + ms(i * 1000)
            ));
        }
        assert_eq!(table.templates.len(), 5);
        assert_eq!(table.pop_expired(t0 + ms(2000)), Some(TransactionId(0)));
        assert_eq!(table.pop_expired(t0 + ms(2000)), Some(TransactionId(1)));
        assert_eq!(table.pop_expired(t0 + ms(2000)), Some(TransactionId(2)));
        assert_eq!(table.templates.len(), 2);
        assert!(again(&table, "z9hG4bKt3").is_some());
        assert!(again(&table, "z9hG4bKt4").is_some());
    }

    #[test]
    fn a_colliding_key_never_gets_another_transactions_response() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::colliding();
        assert!(hold(&mut table, 1, "z9hG4bKc1", 1, t0));
        // Another key that hashes alike is not a retransmission...
        assert_eq!(table.find(&key("z9hG4bKc2")), None);
        assert!(matches!(
            table.resend(&key("z9hG4bKc2"), &sent("z9hG4bKc2")),
            Resend::NotHeld
        ));
        // ...and is not taken in beside the first: its caller keeps it.
        assert!(!hold(&mut table, 2, "z9hG4bKc2", 2, t0));
        assert_eq!(table.len(), 1);
        // The first still answers its own retransmissions.
        let again = again(&table, "z9hG4bKc1").expect("held");
        assert_eq!(again.message.to_bytes(), response("z9hG4bKc1"));
    }

    #[test]
    fn storage_a_burst_left_is_given_back() {
        let t0 = Instant::now();
        let mut table: HeldResponses<u8> = HeldResponses::new();
        for i in 0..20_000u64 {
            assert!(hold(&mut table, i, &format!("z9hG4bKb{i}"), 1, t0));
        }
        let peak = table.fifo.capacity();
        let peak_bytes = table.packed.capacity();
        while table.len() > 10 {
            table.pop_expired(t0);
        }
        assert!(table.fifo.capacity() < peak / 4);
        assert!(table.packed.capacity() < peak_bytes / 4);
        assert!(table.by_key.capacity() <= MIN_CAPACITY * 2);
        assert!(table.by_id.capacity() <= MIN_CAPACITY * 2);
    }
}
