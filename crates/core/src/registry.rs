//! Copy-on-write lists for what registers with the stack at run time
//! (services, endpoint identifiers): readers take a snapshot and walk it
//! with no lock held, writers replace the list. Traffic never waits on a
//! registration, and a callback may register or unregister without
//! deadlocking on the list it is being called from.

use std::sync::{Arc, RwLock};

pub(crate) struct CowList<T: ?Sized> {
    items: RwLock<Arc<Vec<Arc<T>>>>,
}

impl<T: ?Sized> Default for CowList<T> {
    fn default() -> Self {
        CowList {
            items: RwLock::new(Arc::new(Vec::new())),
        }
    }
}

impl<T: ?Sized> CowList<T> {
    /// The current list; later changes do not affect it.
    pub(crate) fn snapshot(&self) -> Arc<Vec<Arc<T>>> {
        Arc::clone(&self.items.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the list by `change(current)`, or leaves it when `change`
    /// returns an error.
    pub(crate) fn update<E>(
        &self,
        change: impl FnOnce(&[Arc<T>]) -> Result<Vec<Arc<T>>, E>,
    ) -> Result<(), E> {
        let mut guard = self.items.write().unwrap_or_else(|e| e.into_inner());
        let next = change(&guard)?;
        *guard = Arc::new(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_do_not_see_later_changes() {
        let list: CowList<str> = CowList::default();
        list.update(|cur| Ok::<_, ()>(cur.iter().cloned().chain([Arc::from("a")]).collect()))
            .unwrap();
        let before = list.snapshot();
        list.update(|cur| Ok::<_, ()>(cur.iter().cloned().chain([Arc::from("b")]).collect()))
            .unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(list.snapshot().len(), 2);
        assert_eq!(list.update(|_| Err("refused")), Err("refused"));
        assert_eq!(list.snapshot().len(), 2);
    }
}
