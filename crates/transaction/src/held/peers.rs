//! Where held responses go, each kept once however many use it.
//!
//! A peer (a flow: transport and both addresses) is larger than the rest
//! of a held transaction together, and at the rates where hundreds of
//! thousands are held most share a few peers: an edge proxy or a load
//! balancer in front, or a client that registers many lines. So held
//! transactions refer to a peer by number and the peer is counted.

use std::collections::HashMap;
use std::hash::Hash;

use super::{Keyed, Mixed};

#[derive(Debug)]
pub(crate) struct Peers<D> {
    keys: Keyed,
    /// Keyed hash of a peer → its number. Keeping the hash rather than the
    /// peer keeps each peer once; two peers that hash alike (which a
    /// stranger cannot arrange) just get a number each.
    numbers: HashMap<u64, u32, Mixed>,
    /// By number: the peer and how many use it; `None` when free.
    slots: Vec<Option<(D, u32)>>,
    free: Vec<u32>,
}

impl<D: Eq + Hash> Peers<D> {
    pub(crate) fn new() -> Self {
        Peers {
            keys: Keyed::new(),
            numbers: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The number of `peer`, counting one more use; `None` when four
    /// billion peers are in use.
    pub(crate) fn add(&mut self, peer: D) -> Option<u32> {
        let hash = self.keys.hash(&peer);
        let known = self.numbers.get(&hash).copied();
        if let Some(n) = known
            && let Some(Some((same, uses))) = self.slots.get_mut(n as usize)
            && *same == peer
        {
            *uses += 1;
            return Some(n);
        }
        let n = match self.free.pop() {
            Some(n) => n,
            None => {
                let n = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                n
            }
        };
        self.slots[n as usize] = Some((peer, 1));
        if known.is_none() {
            self.numbers.insert(hash, n);
        }
        Some(n)
    }

    pub(crate) fn get(&self, n: u32) -> Option<&D> {
        self.slots.get(n as usize)?.as_ref().map(|(peer, _)| peer)
    }

    /// One use of `n` fewer; the last frees it.
    pub(crate) fn release(&mut self, n: u32) {
        let Some(slot) = self.slots.get_mut(n as usize) else {
            return;
        };
        let Some((_, uses)) = slot else {
            return;
        };
        *uses -= 1;
        if *uses > 0 {
            return;
        }
        if let Some((peer, _)) = slot.take() {
            let hash = self.keys.hash(&peer);
            if self.numbers.get(&hash) == Some(&n) {
                self.numbers.remove(&hash);
            }
        }
        self.free.push(n);
        if self.free.len() == self.slots.len() {
            self.slots = Vec::new();
            self.free = Vec::new();
            self.numbers = HashMap::default();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_kept_once_while_anyone_uses_it() {
        let mut peers: Peers<&str> = Peers::new();
        let a = peers.add("a").unwrap();
        assert_eq!(peers.add("a"), Some(a));
        let b = peers.add("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(peers.len(), 2);
        peers.release(a);
        assert_eq!(peers.get(a), Some(&"a"));
        peers.release(a);
        assert_eq!((peers.get(a), peers.len()), (None, 1));
        // A freed number is used again.
        assert_eq!(peers.add("c"), Some(a));
        assert_eq!(peers.get(b), Some(&"b"));
        peers.release(b);
        peers.release(a);
        assert_eq!(peers.len(), 0);
        assert!(peers.slots.is_empty() && peers.free.is_empty());
    }

    #[test]
    fn peers_that_hash_alike_each_get_a_number_and_their_own_count() {
        let mut peers: Peers<&str> = Peers {
            keys: Keyed::colliding(),
            ..Peers::new()
        };
        let a = peers.add("a").unwrap();
        let b = peers.add("b").unwrap();
        assert_ne!(a, b);
        assert_eq!((peers.get(a), peers.get(b)), (Some(&"a"), Some(&"b")));
        // The first keeps the hash: it is found again; the second is not,
        // and gets a number of its own each time.
        assert_eq!(peers.add("a"), Some(a));
        let b2 = peers.add("b").unwrap();
        assert_ne!(b2, b);
        // Releasing the second leaves the first findable.
        peers.release(b);
        peers.release(b2);
        assert_eq!(peers.add("a"), Some(a));
        for _ in 0..3 {
            peers.release(a);
        }
        assert_eq!(peers.len(), 0);
    }
}
