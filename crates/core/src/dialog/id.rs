//! The dialog ID (RFC 3261 §12): the Call-ID and the two tags, named from
//! the point of view of the side that holds the dialog.

use sipjet_message::{Message, NameAddr};

/// Identifies a dialog at one of its two ends. The peer holds the same
/// Call-ID with the tags swapped: this side's local tag is the peer's
/// remote tag. Call-IDs and tags compare byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID of every request and response of the dialog.
    pub call_id: String,
    /// The tag this side put in From (as UAC) or To (as UAS).
    pub local_tag: String,
    /// The tag the peer put in the other header; empty when an RFC 2543
    /// peer sent a request without a From tag (§12.1.1 calls it null).
    pub remote_tag: String,
}

/// The part this side plays in one transaction, which decides whether
/// its tag is in From (client) or in To (server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Uac,
    Uas,
}

/// The dialog a received request belongs to, seen by its receiver: the
/// local tag is the To tag, the remote tag the From tag (empty when an
/// RFC 2543 peer left it out). `None` for a request without a To tag,
/// which is outside any dialog (§12.2.2), and for a message without a
/// usable Call-ID, From or To.
pub fn id_of_request(request: &Message) -> Option<DialogId> {
    if request.is_request() {
        id_of(request, Role::Uas)
    } else {
        None
    }
}

/// The dialog a response to a request this side sent belongs to: the
/// local tag is the From tag, the remote tag the To tag. A response
/// without To tag gets an empty remote tag (the null tag of §12.1.2),
/// which only a dialog with an RFC 2543 peer has; `None` for a message
/// without a usable Call-ID, From tag or To.
pub fn id_of_response(response: &Message) -> Option<DialogId> {
    if response.is_response() {
        id_of(response, Role::Uac)
    } else {
        None
    }
}

/// The ID of any message of a transaction in which this side plays
/// `role`. The local tag must be there; a missing remote tag is the null
/// tag of an RFC 2543 peer (§12.1.1, §12.1.2).
pub(super) fn id_of(message: &Message, role: Role) -> Option<DialogId> {
    let call_id = message.call_id().ok()?.to_string();
    let to_tag = tag_of(&message.to_header().ok()?);
    let from_tag = tag_of(&message.from_header().ok()?);
    let (local_tag, remote_tag) = match role {
        Role::Uas => (to_tag?, from_tag),
        Role::Uac => (from_tag?, to_tag),
    };
    Some(DialogId {
        call_id,
        local_tag,
        remote_tag: remote_tag.unwrap_or_default(),
    })
}

/// A non-empty tag parameter.
pub(super) fn tag_of(address: &NameAddr<'_>) -> Option<String> {
    address.tag().filter(|t| !t.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn swapped(id: &DialogId) -> DialogId {
        DialogId {
            call_id: id.call_id.clone(),
            local_tag: id.remote_tag.clone(),
            remote_tag: id.local_tag.clone(),
        }
    }

    #[test]
    fn both_ends_compute_the_same_dialog_with_tags_swapped() {
        let alice = alice_dialog_confirmed();
        let bob = bob_dialog_confirmed();
        assert_eq!(
            alice.id(),
            &DialogId {
                call_id: CALL_ID.to_string(),
                local_tag: ALICE_TAG.to_string(),
                remote_tag: BOB_TAG.to_string(),
            }
        );
        assert_eq!(bob.id(), &swapped(alice.id()));
    }

    #[test]
    fn ids_of_messages_match_the_dialogs_they_belong_to() {
        let alice = alice_dialog_confirmed();
        let bob = bob_dialog_confirmed();
        // Alice reads Bob's 200 as a response to her request, Bob reads
        // Alice's ACK as a request he received, and the other way round.
        assert_eq!(
            id_of_response(&parse(OK_AT_ALICE)).as_ref(),
            Some(alice.id())
        );
        assert_eq!(id_of_request(&parse(ACK_AT_BOB)).as_ref(), Some(bob.id()));
        assert_eq!(
            id_of_request(&parse(BYE_AT_ALICE)).as_ref(),
            Some(alice.id())
        );
        assert_eq!(id_of_response(&response_to_bye()).as_ref(), Some(bob.id()));
    }

    #[test]
    fn messages_outside_a_dialog_have_no_id() {
        assert_eq!(id_of_request(&parse(INVITE_AT_BOB)), None);
        assert_eq!(id_of_request(&parse(OK_AT_ALICE)), None);
        assert_eq!(id_of_response(&parse(ACK_AT_BOB)), None);
        let no_call_id = BYE_AT_ALICE.replace(&format!("Call-ID: {CALL_ID}\n"), "");
        assert_eq!(id_of_request(&parse(&no_call_id)), None);
    }

    #[test]
    fn a_missing_remote_tag_is_null_and_a_missing_local_tag_is_no_id() {
        let rfc2543 = BYE_AT_ALICE.replace(";tag=314159", "");
        let id = id_of_request(&parse(&rfc2543)).unwrap();
        assert_eq!(
            (id.local_tag.as_str(), id.remote_tag.as_str()),
            (ALICE_TAG, "")
        );
        let id = id_of_response(&trying()).unwrap();
        assert_eq!(
            (id.local_tag.as_str(), id.remote_tag.as_str()),
            (ALICE_TAG, "")
        );
        assert_ne!(Some(&id), Some(alice_dialog_confirmed().id()));
        let no_from_tag = OK_AT_ALICE.replace(";tag=9fxced76sl", "");
        assert_eq!(id_of_response(&parse(&no_from_tag)), None);
    }
}
