//! Every dialog of a stack instance, by ID: where the distributor looks
//! up the dialog an incoming message belongs to.

use std::collections::HashMap;

use super::id::DialogId;
use super::state::Dialog;

/// The dialogs of one stack instance, keyed by their [`DialogId`].
#[derive(Debug, Default)]
pub struct Dialogs {
    by_id: HashMap<DialogId, Dialog>,
}

impl Dialogs {
    /// No dialogs.
    pub fn new() -> Dialogs {
        Dialogs::default()
    }

    /// Adds a dialog under its ID; returns the dialog it replaces, if one
    /// had the same ID.
    pub fn insert(&mut self, dialog: Dialog) -> Option<Dialog> {
        self.by_id.insert(dialog.id().clone(), dialog)
    }

    /// The dialog with this ID.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.by_id.get(id)
    }

    /// The dialog with this ID, to give it a message or build a request.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.by_id.get_mut(id)
    }

    /// Takes the dialog with this ID out, once it has terminated.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.by_id.remove(id)
    }

    /// How many dialogs there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::id::{id_of_request, id_of_response};
    use super::super::testing::*;
    use super::*;
    use sipjet_message::Method;

    #[test]
    fn dialogs_are_found_by_the_ids_of_their_messages() {
        let mut dialogs = Dialogs::new();
        assert!(dialogs.is_empty());
        assert!(dialogs.insert(alice_dialog_early()).is_none());
        // The 2xx's dialog has the same ID: it replaces the early one.
        let replaced = dialogs.insert(alice_dialog_confirmed()).unwrap();
        assert_eq!(replaced.local_seq(), Some(2));
        // Bob's end of the same call is another dialog (tags swapped).
        dialogs.insert(bob_dialog_confirmed());
        assert_eq!(dialogs.len(), 2);

        let bye = parse(BYE_AT_ALICE);
        let alice = dialogs.get_mut(&id_of_request(&bye).unwrap()).unwrap();
        alice.receive_request(&bye).unwrap();
        let ok = parse(OK_AT_ALICE);
        let alice = dialogs.get(&id_of_response(&ok).unwrap()).unwrap();
        assert_eq!(alice.remote_seq(), Some(1));

        let ack = parse(ACK_AT_BOB);
        let bob = dialogs.get_mut(&id_of_request(&ack).unwrap()).unwrap();
        assert_eq!(bob.request(Method::Bye).unwrap().cseq().unwrap().seq, 1);

        let id = id_of_request(&bye).unwrap();
        assert!(dialogs.remove(&id).is_some());
        assert!(dialogs.get(&id).is_none());
        assert!(dialogs.remove(&id).is_none());
        assert_eq!(dialogs.len(), 1);
    }
}
