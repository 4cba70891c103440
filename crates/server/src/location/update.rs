//! What applying an [`AorUpdate`] means, shared by every store: checked
//! first against the AOR's current bindings, then applied as a whole or not
//! at all.

use super::binding::AorUpdate;
use super::entry::Entry;
use super::error::StoreError;

/// An update whose bindings are in their stored form and known storable.
#[derive(Debug)]
pub(crate) struct PreparedUpdate {
    pub(crate) aor: String,
    pub(crate) remove_all: bool,
    pub(crate) removals: Vec<String>,
    pub(crate) removed_by: Option<(String, u32)>,
    pub(crate) upserts: Vec<Entry>,
}

impl PreparedUpdate {
    /// Checks what can be checked without the AOR's current bindings.
    pub(crate) fn new(update: AorUpdate) -> Result<Self, StoreError> {
        let mut upserts = Vec::with_capacity(update.upserts.len());
        for binding in &update.upserts {
            if binding.aor != update.aor {
                return Err(StoreError::AorMismatch {
                    update_aor: update.aor,
                    binding_aor: binding.aor.clone(),
                    contact: binding.contact.clone(),
                });
            }
            let entry = Entry::new(binding).ok_or_else(|| StoreError::ExpiryOutOfRange {
                aor: update.aor.clone(),
                contact: binding.contact.clone(),
            })?;
            upserts.push(entry);
        }
        Ok(Self {
            aor: update.aor,
            remove_all: update.remove_all,
            removals: update.removals,
            removed_by: update.removed_by,
            upserts,
        })
    }

    /// Refuses the update when it would overwrite a binding made by the same
    /// Call-ID with a CSeq that is not higher (RFC 3261 §10.3 step 7). A
    /// binding the update removes first is not overwritten. Removals are
    /// checked the same way against `removed_by` (steps 6 and 7).
    pub(crate) fn check(&self, current: &[Entry]) -> Result<(), StoreError> {
        if let Some((call_id, cseq)) = &self.removed_by {
            let removed = current.iter().filter(|entry| {
                self.remove_all || self.removals.iter().any(|r| r == entry.contact())
            });
            for stored in removed {
                if stored.call_id() == call_id && *cseq <= stored.cseq() {
                    return Err(StoreError::StaleCSeq {
                        aor: self.aor.clone(),
                        contact: stored.contact().to_owned(),
                        call_id: call_id.clone(),
                        stored: stored.cseq(),
                        offered: *cseq,
                    });
                }
            }
        }
        if self.remove_all {
            return Ok(());
        }
        for upsert in &self.upserts {
            if self
                .removals
                .iter()
                .any(|removed| removed == upsert.contact())
            {
                continue;
            }
            let stored = current
                .iter()
                .find(|entry| entry.contact() == upsert.contact());
            if let Some(stored) = stored
                && stored.call_id() == upsert.call_id()
                && upsert.cseq() <= stored.cseq()
            {
                return Err(StoreError::StaleCSeq {
                    aor: self.aor.clone(),
                    contact: upsert.contact().to_owned(),
                    call_id: upsert.call_id().to_owned(),
                    stored: stored.cseq(),
                    offered: upsert.cseq(),
                });
            }
        }
        Ok(())
    }

    /// Applies the update to the AOR's bindings, moving its upserted entries
    /// there; call [`check`](Self::check) first.
    pub(crate) fn apply_to(&mut self, entries: &mut Vec<Entry>) {
        if self.remove_all {
            entries.clear();
        }
        if !self.removals.is_empty() {
            entries.retain(|entry| {
                !self
                    .removals
                    .iter()
                    .any(|removed| removed == entry.contact())
            });
        }
        for upsert in self.upserts.drain(..) {
            match entries
                .iter_mut()
                .find(|entry| entry.contact() == upsert.contact())
            {
                Some(stored) => *stored = upsert,
                None => entries.push(upsert),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::location::Binding;

    fn binding(contact: &str, call_id: &str, cseq: u32) -> Binding {
        Binding {
            aor: "bob".into(),
            contact: contact.into(),
            expires_at: UNIX_EPOCH + Duration::from_secs(2_000_000_000),
            q: None,
            call_id: call_id.into(),
            cseq,
            path: Vec::new(),
            instance_id: None,
            reg_id: None,
            received: None,
            user_agent: None,
            endpoint: None,
            node: None,
        }
    }

    fn upsert(bindings: Vec<Binding>) -> PreparedUpdate {
        PreparedUpdate::new(AorUpdate {
            aor: "bob".into(),
            upserts: bindings,
            ..Default::default()
        })
        .expect("valid update")
    }

    fn stored(bindings: &[Binding]) -> Vec<Entry> {
        bindings
            .iter()
            .map(|b| Entry::new(b).expect("storable"))
            .collect()
    }

    #[test]
    fn refuses_a_binding_of_another_aor() {
        let mut foreign = binding("sip:bob@192.0.2.1", "c1", 1);
        foreign.aor = "carol".into();
        let err = PreparedUpdate::new(AorUpdate {
            aor: "bob".into(),
            upserts: vec![foreign],
            ..Default::default()
        })
        .expect_err("binding of another AOR");
        assert!(matches!(err, StoreError::AorMismatch { .. }), "{err}");
    }

    #[test]
    fn refuses_a_stale_cseq_of_the_same_call_id() {
        let current = stored(&[binding("sip:bob@192.0.2.1", "c1", 5)]);
        for cseq in [4, 5] {
            let err = upsert(vec![binding("sip:bob@192.0.2.1", "c1", cseq)])
                .check(&current)
                .expect_err("not higher");
            assert!(
                matches!(err, StoreError::StaleCSeq { stored: 5, offered, .. } if offered == cseq)
            );
        }
        upsert(vec![binding("sip:bob@192.0.2.1", "c1", 6)])
            .check(&current)
            .expect("higher CSeq");
    }

    #[test]
    fn removals_of_the_same_call_id_need_a_higher_cseq() {
        let current = stored(&[
            binding("sip:bob@192.0.2.1", "c1", 5),
            binding("sip:bob@192.0.2.2", "c2", 9),
        ]);
        let removal = |remove_all, contact: &str, call_id: &str, cseq| {
            PreparedUpdate::new(AorUpdate {
                aor: "bob".into(),
                remove_all,
                removals: vec![contact.into()],
                removed_by: Some((call_id.into(), cseq)),
                ..Default::default()
            })
            .expect("valid update")
        };
        for (remove_all, cseq) in [(false, 5), (false, 4), (true, 5)] {
            let err = removal(remove_all, "sip:bob@192.0.2.1", "c1", cseq)
                .check(&current)
                .expect_err("an older or equal CSeq removes nothing");
            assert!(
                matches!(err, StoreError::StaleCSeq { stored: 5, .. }),
                "{err}"
            );
        }
        removal(false, "sip:bob@192.0.2.1", "c1", 6)
            .check(&current)
            .expect("a higher CSeq removes");
        // Another Call-ID removes whatever its CSeq; the wildcard is
        // refused when any binding of its Call-ID is newer.
        removal(false, "sip:bob@192.0.2.2", "c1", 1)
            .check(&current)
            .expect("other Call-ID");
        removal(true, "sip:bob@192.0.2.9", "c2", 9)
            .check(&current)
            .expect_err("c2's binding has CSeq 9");
        removal(true, "sip:bob@192.0.2.9", "c3", 1)
            .check(&current)
            .expect("no binding of c3");
    }

    #[test]
    fn another_call_id_may_overwrite_with_any_cseq() {
        let current = stored(&[binding("sip:bob@192.0.2.1", "c1", 5)]);
        upsert(vec![binding("sip:bob@192.0.2.1", "c2", 1)])
            .check(&current)
            .expect("other Call-ID");
    }

    #[test]
    fn a_removed_binding_is_not_overwritten() {
        let current = stored(&[binding("sip:bob@192.0.2.1", "c1", 5)]);
        let mut update = upsert(vec![binding("sip:bob@192.0.2.1", "c1", 1)]);
        update.removals.push("sip:bob@192.0.2.1".into());
        update.check(&current).expect("removed first");
        update.removals.clear();
        update.remove_all = true;
        update.check(&current).expect("all removed first");
    }

    #[test]
    fn applies_remove_all_then_removals_then_upserts() {
        let mut entries = stored(&[
            binding("sip:bob@192.0.2.1", "c1", 1),
            binding("sip:bob@192.0.2.2", "c1", 1),
            binding("sip:bob@192.0.2.3", "c1", 1),
        ]);
        let mut update = upsert(vec![
            binding("sip:bob@192.0.2.2", "c1", 2),
            binding("sip:bob@192.0.2.4", "c1", 2),
        ]);
        update.removals.push("sip:bob@192.0.2.1".into());
        update.apply_to(&mut entries);
        let contacts: Vec<_> = entries.iter().map(|e| (e.contact(), e.cseq())).collect();
        assert_eq!(
            contacts,
            [
                ("sip:bob@192.0.2.2", 2),
                ("sip:bob@192.0.2.3", 1),
                ("sip:bob@192.0.2.4", 2)
            ]
        );

        let mut update = upsert(vec![binding("sip:bob@192.0.2.9", "c9", 1)]);
        update.remove_all = true;
        update.apply_to(&mut entries);
        let contacts: Vec<_> = entries.iter().map(Entry::contact).collect();
        assert_eq!(contacts, ["sip:bob@192.0.2.9"]);
    }

    #[test]
    fn the_last_upsert_of_a_contact_wins() {
        let mut entries = Vec::new();
        upsert(vec![
            binding("sip:bob@192.0.2.1", "c1", 1),
            binding("sip:bob@192.0.2.1", "c1", 2),
        ])
        .apply_to(&mut entries);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].cseq(), 2);
    }
}
