//! The deadlines of every transaction, ordered, so that the next one is
//! found without looking at the transactions.
//!
//! Each transaction has at most two pending deadlines (see
//! [`Deadlines`]); the queue holds exactly those, keyed by
//! `(when, transaction, slot)`, and each transaction remembers what it
//! queued so that a changed deadline replaces its entry at once instead of
//! leaving a stale one behind.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::id::TransactionId;
use crate::machine::Deadlines;

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    entries: BTreeSet<(Instant, TransactionId, u8)>,
}

impl TimerQueue {
    /// Makes the queue hold `wanted` for `id`; `queued` is what it held
    /// before and becomes `wanted`.
    pub(crate) fn sync(&mut self, id: TransactionId, queued: &mut Deadlines, wanted: Deadlines) {
        for (slot, (old, new)) in queued.iter_mut().zip(wanted).enumerate() {
            if *old == new {
                continue;
            }
            if let Some(at) = old.take() {
                self.entries.remove(&(at, id, slot as u8));
            }
            if let Some(at) = new {
                self.entries.insert((at, id, slot as u8));
            }
            *old = new;
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.entries.first().map(|&(at, _, _)| at)
    }

    /// Removes and returns the earliest entry when it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TransactionId, usize)> {
        let &(at, _, _) = self.entries.first()?;
        if at > now {
            return None;
        }
        self.entries
            .pop_first()
            .map(|(_, id, slot)| (id, usize::from(slot)))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sync_replaces_and_pop_due_orders() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut q = TimerQueue::default();
        let (a, b) = (TransactionId(1), TransactionId(2));
        let (mut qa, mut qb) = ([None; 2], [None; 2]);
        q.sync(a, &mut qa, [Some(t0 + s(1)), Some(t0 + s(32))]);
        q.sync(b, &mut qb, [None, Some(t0 + s(5))]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.next(), Some(t0 + s(1)));
        q.sync(a, &mut qa, [Some(t0 + s(3)), Some(t0 + s(32))]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.next(), Some(t0 + s(3)));
        assert_eq!(q.pop_due(t0 + s(2)), None);
        assert_eq!(q.pop_due(t0 + s(5)), Some((a, 0)));
        assert_eq!(q.pop_due(t0 + s(5)), Some((b, 1)));
        assert_eq!(q.pop_due(t0 + s(5)), None);
        qa[0] = None;
        q.sync(a, &mut qa, [None, None]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.next(), None);
    }
}
