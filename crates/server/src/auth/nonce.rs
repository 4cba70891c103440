//! Stateless nonces (as Asterisk issues them): the nonce carries its own
//! issue time, a serial number and a keyed hash of both, the client's
//! source address and the realm, under a secret made when the process
//! starts. The serial makes every challenge's nonce unique: two clients
//! behind one address challenged in the same second must not share a
//! nonce, or the second one's `nc=00000001` would look like a replay. Any nonce
//! can be checked without remembering it; a nonce minted for another
//! address or realm, or by another process, does not verify; an old one is
//! stale (RFC 7616 §3.3: the client retries with the same credentials and
//! the fresh nonce, without asking its user).
//!
//! What must be remembered is the highest nonce-count seen per nonce, to
//! refuse a replayed request (RFC 7616 §3.4); that memory only lasts as
//! long as the nonce is fresh.
//!
//! Nodes that share a location database share the secret too (derived
//! from `cluster_secret`), so that a challenge one node sends is answered
//! at any other; and they share the nonce-counts ([`SharedNonceCounts`]:
//! one upsert in the database per authenticated request), so that a
//! request replayed at another node is refused there as well.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::digest::hex;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the keyed hash kept in a nonce (128 bits).
const MAC_LEN: usize = 16;

/// What a received nonce turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued here, for this address and realm, and still fresh.
    Fresh,
    /// Issued here for this address and realm, but older than the lifetime.
    Stale,
    /// Not a nonce of this process for this address and realm.
    Invalid,
}

/// Nonce-counts are kept in this many independently locked shards, so
/// that concurrent authentications rarely wait for each other.
const COUNT_SHARDS: usize = 16;

/// Nonce-counts kept where every node sees them.
pub trait SharedNonceCounts: Send + Sync {
    /// Records nonce-count `nc` of `nonce`, remembered until
    /// `forget_after`: `Some(false)` when a count this high was seen
    /// already, at any node (a replay); `None` when it cannot tell now
    /// (the database is away).
    fn accept(&self, nonce: &str, nc: u32, forget_after: SystemTime) -> Option<bool>;
}

/// Issues and checks nonces; tracks nonce-counts.
pub struct Nonces {
    secret: [u8; 32],
    next_serial: AtomicU64,
    counts: [Mutex<NonceCounts>; COUNT_SHARDS],
    shared: Option<Arc<dyn SharedNonceCounts>>,
}

/// The nonce-counts of one shard, by the second their nonces were
/// issued in, oldest first: each second's are forgotten together once
/// none of its nonces can be fresh, so memory holds the nonces of the
/// last two lifetimes and no more. (Nodes sharing a secret number their
/// nonces apart, so a serial names a nonce only with its second.)
struct NonceCounts {
    /// (issue second, serial → highest nc seen), in order of second.
    by_second: VecDeque<(u64, HashMap<u64, u32>)>,
    /// The longest nonce lifetime in use.
    horizon: Duration,
}

impl NonceCounts {
    /// Forgets the counts of nonces issued before `now` less twice the
    /// horizon: a nonce is stale one horizon after its issue, and a
    /// stale nonce authenticates nothing, so its count no longer
    /// matters; the second horizon is room for a clock stepped back.
    fn forget_old(&mut self, now: u64) {
        let keep = 2 * self.horizon.as_secs().max(1);
        while self
            .by_second
            .front()
            .is_some_and(|(issued, _)| now.saturating_sub(*issued) > keep)
        {
            self.by_second.pop_front();
        }
    }

    /// The counts of nonces issued in second `issued`.
    fn of_second(&mut self, issued: u64) -> &mut HashMap<u64, u32> {
        let at = self.by_second.partition_point(|(s, _)| *s < issued);
        if self.by_second.get(at).is_none_or(|(s, _)| *s != issued) {
            self.by_second.insert(at, (issued, HashMap::new()));
        }
        &mut self.by_second[at].1
    }

    fn len(&self) -> usize {
        self.by_second.iter().map(|(_, counts)| counts.len()).sum()
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Nonces {
    /// A new secret from the operating system's generator. `horizon` bounds
    /// how long nonce-counts are remembered: the longest nonce lifetime in
    /// use.
    pub fn new(horizon: Duration) -> Nonces {
        Self::keyed(horizon, rand::random())
    }

    /// Nonces under the secret the nodes of a cluster share (derived from
    /// `cluster_secret`), their counts kept in `shared` as well as here.
    pub fn shared(
        horizon: Duration,
        cluster_secret: &str,
        shared: Option<Arc<dyn SharedNonceCounts>>,
    ) -> Nonces {
        let mut nonces = Self::keyed(
            horizon,
            crate::cluster::hop::derive(cluster_secret, b"sipjet nonce v1"),
        );
        nonces.shared = shared;
        nonces
    }

    /// Whether nonce-counts are checked in a shared store (which may
    /// wait on the network).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn keyed(horizon: Duration, secret: [u8; 32]) -> Nonces {
        Nonces {
            shared: None,
            secret,
            // 48 random bits: two nodes issuing in the same second do not
            // start their serials at the same place.
            next_serial: AtomicU64::new(rand::random::<u64>() >> 16),
            counts: std::array::from_fn(|_| {
                Mutex::new(NonceCounts {
                    by_second: VecDeque::new(),
                    horizon,
                })
            }),
        }
    }

    fn mac(&self, issued: u64, serial: u64, source: IpAddr, realm: &str) -> [u8; MAC_LEN] {
        let mut m = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        m.update(&issued.to_be_bytes());
        m.update(&serial.to_be_bytes());
        match source {
            IpAddr::V4(a) => m.update(&a.octets()),
            IpAddr::V6(a) => m.update(&a.octets()),
        }
        m.update(realm.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A nonce for a challenge sent to `source` in `realm`.
    pub fn issue(&self, now: SystemTime, source: IpAddr, realm: &str) -> String {
        let issued = unix_seconds(now);
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        format!(
            "{issued:x}.{serial:x}/{}",
            hex(&self.mac(issued, serial, source, realm))
        )
    }

    /// Checks a nonce received from `source` in `realm`.
    pub fn check(
        &self,
        nonce: &str,
        now: SystemTime,
        source: IpAddr,
        realm: &str,
        lifetime: Duration,
    ) -> NonceCheck {
        let Some((issued, serial, mac)) = split_nonce(nonce) else {
            return NonceCheck::Invalid;
        };
        let Some(mac) = unhex::<MAC_LEN>(mac) else {
            return NonceCheck::Invalid;
        };
        if !bool::from(mac.ct_eq(&self.mac(issued, serial, source, realm))) {
            return NonceCheck::Invalid;
        }
        let now = unix_seconds(now);
        if issued > now.saturating_add(1) {
            return NonceCheck::Invalid;
        }
        if now - issued.min(now) > lifetime.as_secs() {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }

    /// Records nonce-count `nc` for a fresh nonce (one [`Nonces::check`]
    /// found fresh); false when a count this high was already seen for it
    /// (a replay), or when the text is not a nonce of this form.
    pub fn accept_count(&self, nonce: &str, nc: u32, now: SystemTime) -> bool {
        if !self.accept_here(nonce, nc, now) {
            return false;
        }
        let Some(shared) = &self.shared else {
            return true;
        };
        let horizon = self.counts[0]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .horizon;
        // Remembered as long as here: twice the longest lifetime.
        let forget_after = now + horizon * 2;
        // When the database is away, this node's own memory is all there
        // is: a replay at this node is still refused.
        shared.accept(nonce, nc, forget_after).unwrap_or(true)
    }

    /// [`Nonces::accept_count`] in this node's memory only.
    fn accept_here(&self, nonce: &str, nc: u32, now: SystemTime) -> bool {
        let Some((issued, serial, _)) = split_nonce(nonce) else {
            return false;
        };
        let shard = &self.counts[(serial % COUNT_SHARDS as u64) as usize];
        let mut c = shard.lock().unwrap_or_else(|e| e.into_inner());
        c.forget_old(unix_seconds(now));
        match c.of_second(issued).entry(serial) {
            Entry::Occupied(seen) if nc <= *seen.get() => false,
            Entry::Occupied(mut seen) => {
                seen.insert(nc);
                true
            }
            Entry::Vacant(first) => {
                first.insert(nc);
                true
            }
        }
    }

    /// Nonces whose counts are remembered (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.counts
            .iter()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// The wall clock nonces are issued and checked by: the system's, unless
/// a test gives another, so that a nonce can grow stale without the test
/// waiting for it to.
#[derive(Clone)]
pub struct NonceClock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl NonceClock {
    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> NonceClock {
        NonceClock(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for NonceClock {
    /// The system's clock.
    fn default() -> NonceClock {
        NonceClock::new(SystemTime::now)
    }
}

impl fmt::Debug for NonceClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NonceClock").field(&self.now()).finish()
    }
}

/// `issued.serial/mac` → its three parts (the first two hexadecimal).
fn split_nonce(nonce: &str) -> Option<(u64, u64, &str)> {
    let (payload, mac) = nonce.split_once('/')?;
    let (issued, serial) = payload.split_once('.')?;
    Some((
        u64::from_str_radix(issued, 16).ok()?,
        u64::from_str_radix(serial, 16).ok()?,
        mac,
    ))
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts as a database keeps them, for every node at once.
    #[derive(Default)]
    struct Table(Mutex<HashMap<String, u32>>, std::sync::atomic::AtomicBool);

    impl SharedNonceCounts for Table {
        fn accept(&self, nonce: &str, nc: u32, _: SystemTime) -> Option<bool> {
            if self.1.load(Ordering::Relaxed) {
                return None;
            }
            let mut seen = self.0.lock().unwrap();
            let highest = seen.entry(nonce.to_string()).or_default();
            let fresh = nc > *highest;
            *highest = (*highest).max(nc);
            Some(fresh)
        }
    }

    #[test]
    fn nodes_sharing_the_secret_and_counts_answer_each_others_challenges_once() {
        let table: Arc<Table> = Arc::default();
        let shared = || Some(Arc::clone(&table) as Arc<dyn SharedNonceCounts>);
        let one = Nonces::shared(LIFE, "the secret of the cluster", shared());
        let two = Nonces::shared(LIFE, "the secret of the cluster", shared());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let nonce = one.issue(t(0), ip, "r");
        assert_eq!(two.check(&nonce, t(1), ip, "r", LIFE), NonceCheck::Fresh);
        assert!(two.accept_count(&nonce, 1, t(1)));
        assert!(
            !one.accept_count(&nonce, 1, t(1)),
            "replayed at the other node"
        );
        assert!(one.accept_count(&nonce, 2, t(2)));
        // The database away: each node's own memory still refuses its replays.
        table.1.store(true, Ordering::Relaxed);
        assert!(two.accept_count(&nonce, 3, t(3)));
        assert!(!two.accept_count(&nonce, 3, t(3)));
        let stranger = Nonces::shared(LIFE, "another cluster's secret", None);
        assert_eq!(
            stranger.check(&nonce, t(1), ip, "r", LIFE),
            NonceCheck::Invalid
        );
    }

    const LIFE: Duration = Duration::from_secs(32);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn fresh_stale_and_bound_to_address_and_realm() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let nonce = n.issue(t(0), ip, "example.com");
        assert_eq!(
            n.check(&nonce, t(10), ip, "example.com", LIFE),
            NonceCheck::Fresh
        );
        assert_eq!(
            n.check(&nonce, t(32), ip, "example.com", LIFE),
            NonceCheck::Fresh
        );
        assert_eq!(
            n.check(&nonce, t(33), ip, "example.com", LIFE),
            NonceCheck::Stale
        );
        assert_eq!(
            n.check(
                &nonce,
                t(1),
                "192.0.2.2".parse().unwrap(),
                "example.com",
                LIFE
            ),
            NonceCheck::Invalid
        );
        assert_eq!(
            n.check(&nonce, t(1), ip, "other.com", LIFE),
            NonceCheck::Invalid
        );
        let other_process = Nonces::new(LIFE);
        assert_eq!(
            other_process.check(&nonce, t(1), ip, "example.com", LIFE),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn forged_and_malformed_nonces_are_invalid() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let nonce = n.issue(t(0), ip, "r");
        let (payload, mac) = nonce.split_once('/').unwrap();
        let (ts, serial) = payload.split_once('.').unwrap();
        // Neither the time nor the serial can be changed without the key.
        let later = u64::from_str_radix(ts, 16).unwrap() + 100;
        assert_eq!(
            n.check(&format!("{later:x}.{serial}/{mac}"), t(100), ip, "r", LIFE),
            NonceCheck::Invalid
        );
        let next = u64::from_str_radix(serial, 16).unwrap() + 1;
        assert_eq!(
            n.check(&format!("{ts}.{next:x}/{mac}"), t(1), ip, "r", LIFE),
            NonceCheck::Invalid
        );
        for bad in [
            "",
            "abc",
            "zz/00",
            "1/xyz",
            "1.zz/00",
            &format!("{ts}/{mac}"),
            &format!("{payload}/{}", &mac[2..]),
        ] {
            assert_eq!(
                n.check(bad, t(0), ip, "r", LIFE),
                NonceCheck::Invalid,
                "{bad:?}"
            );
        }
        // A nonce from the future is not accepted.
        let future = n.issue(t(1000), ip, "r");
        assert_eq!(n.check(&future, t(0), ip, "r", LIFE), NonceCheck::Invalid);
    }

    #[test]
    fn every_challenge_gets_its_own_nonce() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = n.issue(t(0), ip, "r");
        let second = n.issue(t(0), ip, "r");
        assert_ne!(first, second);
        // Two clients answering their own challenge with nc=1 are no replay.
        assert!(n.accept_count(&first, 1, t(0)));
        assert!(n.accept_count(&second, 1, t(0)));
    }

    #[test]
    fn nonce_counts_must_grow() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let [a, b, c] = [0, 1, 200].map(|s| n.issue(t(s), ip, "r"));
        assert!(n.accept_count(&a, 1, t(0)));
        assert!(!n.accept_count(&a, 1, t(0)));
        assert!(n.accept_count(&a, 2, t(1)));
        assert!(!n.accept_count(&a, 1, t(1)));
        assert!(n.accept_count(&b, 1, t(1)));
        assert!(!n.accept_count("not a nonce", 1, t(1)));
        // Old counts are forgotten once their nonce cannot be fresh: each
        // shard sweeps when it is next used after the horizon.
        for s in 0..COUNT_SHARDS as u32 {
            let d = n.issue(t(200), ip, "r");
            assert!(n.accept_count(&d, 1, t(200 + u64::from(s))));
        }
        assert!(n.accept_count(&c, 1, t(300)));
        assert!(n.tracked() <= COUNT_SHARDS + 1, "{}", n.tracked());
    }

    #[test]
    fn counts_last_two_lifetimes_from_the_nonces_issue_not_from_its_use() {
        let n = Nonces::new(LIFE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let late = n.issue(t(0), ip, "r");
        // Used at the end of its life, it is still remembered while it
        // could be fresh, and a replay refused.
        assert!(n.accept_count(&late, 1, t(30)));
        assert!(!n.accept_count(&late, 1, t(60)));
        // Two lifetimes after its issue it is gone, whenever it was used:
        // every shard is touched by sixteen new nonces.
        for _ in 0..COUNT_SHARDS {
            let new = n.issue(t(65), ip, "r");
            assert!(n.accept_count(&new, 1, t(65)));
        }
        assert_eq!(n.tracked(), COUNT_SHARDS);
    }
}
