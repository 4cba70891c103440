//! Taking in what the peer sends inside a dialog: its requests (§12.2.2)
//! and its responses to this side's requests (§12.2.1.2).

use sipjet_message::{Message, Method};

use super::error::DialogError;
use super::extract::{check_answers, target_of};
use super::id::{Role, id_of};
use super::state::{Dialog, DialogState};
use super::target_refresh::is_target_refresh;

impl Dialog {
    /// Takes a request the peer sent in this dialog (§12.2.2). A CSeq
    /// lower than the last one received is out of order; otherwise it
    /// becomes the remote CSeq. ACK and CANCEL reuse the CSeq of the
    /// request they follow and are not counted. A target-refresh request
    /// with a Contact moves the remote target there.
    ///
    /// On error nothing changes, and [`DialogError::status_code`] is the
    /// response the request is owed: `500` out of order, `481` for another
    /// or a terminated dialog, `400` for a malformed CSeq or Contact.
    ///
    /// §12.2.2 refuses a *lower* CSeq only: an equal one is a
    /// retransmission the transaction layer absorbs, or an ACK.
    ///
    /// A BYE is taken like any other request: the caller answers it and
    /// then calls [`Dialog::terminate`] (§15.1.2), unless a subscription
    /// shares the dialog and outlives the call (RFC 5057).
    pub fn receive_request(&mut self, request: &Message) -> Result<(), DialogError> {
        let method = request.method().ok_or(DialogError::WrongKind("request"))?;
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if id_of(request, Role::Uas).as_ref() != Some(&self.id) {
            return Err(DialogError::OtherDialog);
        }
        let seq = request.cseq()?.seq;
        let target = if is_target_refresh(method) {
            target_of(request, "request")?
        } else {
            None
        };
        if !matches!(method, Method::Ack | Method::Cancel) {
            match self.remote_seq {
                Some(last) if seq < last => {
                    return Err(DialogError::OutOfOrder { got: seq, last });
                }
                _ => self.remote_seq = Some(seq),
            }
        }
        if let Some(target) = target {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Takes the response to `request`, which this side sent in the dialog
    /// (§12.2.1.2): a 2xx to a target refresh moves the remote target to
    /// the response's Contact, if it has one; a `481` or `408` terminates
    /// the dialog (give a transaction timeout as `408`). Other responses
    /// change nothing. RFC 5057 narrows which failures end which usage of
    /// a dialog shared by an INVITE and subscriptions; that choice is the
    /// caller's, who can keep a copy.
    ///
    /// The 2xx to the request that created an early dialog goes to
    /// [`Dialog::confirm`] instead.
    pub fn receive_response(
        &mut self,
        request: &Message,
        response: &Message,
    ) -> Result<(), DialogError> {
        let method = request.method().ok_or(DialogError::WrongKind("request"))?;
        let status = response
            .status()
            .ok_or(DialogError::WrongKind("response"))?;
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        check_answers(request, response)?;
        if id_of(response, Role::Uac).as_ref() != Some(&self.id) {
            return Err(DialogError::OtherDialog);
        }
        match status {
            408 | 481 => self.state = DialogState::Terminated,
            200..=299 if is_target_refresh(method) => {
                if let Some(target) = target_of(response, "response")? {
                    self.remote_target = target;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    /// A request from Bob to Alice in the dialog, with the given CSeq and
    /// optional Contact.
    fn from_bob(method: &str, seq: u32, contact: Option<&str>) -> Message {
        let mut text = BYE_AT_ALICE
            .replace("BYE sip:", &format!("{method} sip:"))
            .replace("CSeq: 1 BYE", &format!("CSeq: {seq} {method}"));
        if let Some(contact) = contact {
            text = text.replace(
                "Content-Length: 0",
                &format!("Contact: {contact}\nContent-Length: 0"),
            );
        }
        parse(&text)
    }

    #[test]
    fn requests_in_order_advance_the_remote_cseq() {
        let mut alice = alice_dialog_confirmed();
        assert_eq!(alice.remote_seq(), None);
        alice.receive_request(&from_bob("INFO", 1, None)).unwrap();
        assert_eq!(alice.remote_seq(), Some(1));
        // Gaps are allowed: requests the peer sent may have been lost or
        // challenged.
        alice.receive_request(&from_bob("INFO", 5, None)).unwrap();
        assert_eq!(alice.remote_seq(), Some(5));
        alice.receive_request(&from_bob("INFO", 5, None)).unwrap();
        assert_eq!(alice.remote_seq(), Some(5));
    }

    #[test]
    fn a_lower_cseq_is_out_of_order_and_owed_a_500() {
        let mut alice = alice_dialog_confirmed();
        alice.receive_request(&from_bob("INFO", 7, None)).unwrap();
        let err = alice
            .receive_request(&from_bob("INVITE", 4, Some("<sip:bob@192.0.2.99>")))
            .unwrap_err();
        assert_eq!(err, DialogError::OutOfOrder { got: 4, last: 7 });
        assert_eq!(err.to_string(), "CSeq 4 is lower than the last request's 7");
        assert_eq!(err.status_code(), 500);
        assert_eq!(alice.remote_seq(), Some(7));
        assert_eq!(alice.remote_target(), BOB_CONTACT);
    }

    #[test]
    fn ack_and_cancel_are_not_counted() {
        let mut bob = bob_dialog_confirmed();
        assert_eq!(bob.remote_seq(), Some(2));
        bob.receive_request(&parse(ACK_AT_BOB)).unwrap();
        let reinvite = ACK_AT_BOB
            .replace("ACK sip:", "INVITE sip:")
            .replace("CSeq: 2 ACK", "CSeq: 3 INVITE");
        bob.receive_request(&parse(&reinvite)).unwrap();
        // A late ACK for the first INVITE is below the re-INVITE's CSeq.
        bob.receive_request(&parse(ACK_AT_BOB)).unwrap();
        let cancel = ACK_AT_BOB
            .replace("ACK sip:", "CANCEL sip:")
            .replace("CSeq: 2 ACK", "CSeq: 2 CANCEL");
        bob.receive_request(&parse(&cancel)).unwrap();
        assert_eq!(bob.remote_seq(), Some(3));
    }

    #[test]
    fn re_invite_and_update_refresh_the_target_but_bye_and_info_do_not() {
        let mut alice = alice_dialog_confirmed();
        alice
            .receive_request(&from_bob("INVITE", 1, Some("<sip:bob@192.0.2.10>")))
            .unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.10");
        alice
            .receive_request(&from_bob(
                "UPDATE",
                2,
                Some("Bob <sip:bob@192.0.2.11;transport=tcp>;expires=60"),
            ))
            .unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.11;transport=tcp");
        alice.receive_request(&from_bob("INVITE", 3, None)).unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.11;transport=tcp");
        alice
            .receive_request(&from_bob("INFO", 4, Some("<sip:bob@192.0.2.12>")))
            .unwrap();
        alice
            .receive_request(&from_bob("BYE", 5, Some("<sip:bob@192.0.2.12>")))
            .unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.11;transport=tcp");
        assert_eq!(alice.remote_seq(), Some(5));
    }

    #[test]
    fn refused_requests_change_nothing_and_name_their_answer() {
        let mut alice = alice_dialog_confirmed();
        alice.receive_request(&from_bob("INFO", 1, None)).unwrap();
        let other = parse(&BYE_AT_ALICE.replace("tag=314159", "tag=forked"));
        let wildcard = from_bob("INVITE", 2, Some("*"));
        let bad_cseq = parse(&BYE_AT_ALICE.replace("CSeq: 1 BYE", "CSeq: x BYE"));
        for (request, status, text) in [
            (
                other,
                481,
                "the message belongs to another dialog (Call-ID or tags differ)",
            ),
            (
                wildcard,
                400,
                "Contact * in the request cannot be a dialog's target",
            ),
            (
                bad_cseq,
                400,
                "CSeq header: \"x BYE\" is not of the form \"number METHOD\"",
            ),
            (parse(OK_AT_ALICE), 500, "expected a request"),
        ] {
            let err = alice.receive_request(&request).unwrap_err();
            assert_eq!(
                (err.status_code(), err.to_string().as_str()),
                (status, text)
            );
        }
        assert_eq!(alice.remote_seq(), Some(1));
        assert_eq!(alice.remote_target(), BOB_CONTACT);
        alice.terminate();
        let err = alice
            .receive_request(&from_bob("BYE", 2, None))
            .unwrap_err();
        assert_eq!(
            (err, alice.remote_seq()),
            (DialogError::Terminated, Some(1))
        );
    }

    /// Bob's answer to a request Alice built, with an optional Contact.
    fn answer(request: &Message, code: u16, contact: Option<&str>) -> Message {
        let mut response = Message::response_to(request, code).unwrap();
        if let Some(contact) = contact {
            response.add_header("Contact", contact).unwrap();
        }
        response
    }

    #[test]
    fn a_2xx_to_a_target_refresh_moves_the_target() {
        let mut alice = alice_dialog_confirmed();
        let reinvite = on_the_wire(alice.request(Method::Invite).unwrap());
        alice
            .receive_response(
                &reinvite,
                &answer(&reinvite, 180, Some("<sip:bob@192.0.2.20>")),
            )
            .unwrap();
        assert_eq!(alice.remote_target(), BOB_CONTACT);
        alice
            .receive_response(
                &reinvite,
                &answer(&reinvite, 200, Some("<sip:bob@192.0.2.21>")),
            )
            .unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.21");
        let info = on_the_wire(alice.request(Method::Info).unwrap());
        alice
            .receive_response(&info, &answer(&info, 200, Some("<sip:bob@192.0.2.22>")))
            .unwrap();
        let update = on_the_wire(alice.request(Method::Update).unwrap());
        alice
            .receive_response(&update, &answer(&update, 200, None))
            .unwrap();
        assert_eq!(alice.remote_target(), "sip:bob@192.0.2.21");
        assert_eq!(alice.state(), DialogState::Confirmed);
    }

    #[test]
    fn a_481_or_408_ends_the_dialog() {
        for code in [481, 408] {
            let mut alice = alice_dialog_confirmed();
            let info = on_the_wire(alice.request(Method::Info).unwrap());
            alice
                .receive_response(&info, &answer(&info, 487, None))
                .unwrap();
            assert_eq!(alice.state(), DialogState::Confirmed);
            alice
                .receive_response(&info, &answer(&info, code, None))
                .unwrap();
            assert_eq!(alice.state(), DialogState::Terminated, "{code}");
        }
    }

    #[test]
    fn responses_of_other_requests_or_dialogs_are_refused() {
        let mut alice = alice_dialog_confirmed();
        let reinvite = on_the_wire(alice.request(Method::Invite).unwrap());
        let info = on_the_wire(alice.request(Method::Info).unwrap());
        let to_info = answer(&info, 200, Some("<sip:bob@192.0.2.21>"));
        assert_eq!(
            alice.receive_response(&reinvite, &to_info),
            Err(DialogError::Mismatch("CSeq"))
        );
        let other = parse(
            &std::str::from_utf8(&answer(&reinvite, 481, None).to_bytes())
                .unwrap()
                .replace("tag=314159", "tag=forked")
                .replace("\r\n", "\n"),
        );
        assert_eq!(
            alice.receive_response(&reinvite, &other),
            Err(DialogError::OtherDialog)
        );
        assert_eq!(alice.remote_target(), BOB_CONTACT);
        assert_eq!(alice.state(), DialogState::Confirmed);
    }

    /// Both ends driven by each other's messages: Bob's BYE is accepted by
    /// Alice, and her 200 by Bob.
    #[test]
    fn a_bye_built_at_one_end_is_accepted_at_the_other() {
        let mut alice = alice_dialog_confirmed();
        let mut bob = bob_dialog_confirmed();
        let bye = on_the_wire(bob.request(Method::Bye).unwrap());
        alice.receive_request(&bye).unwrap();
        assert_eq!(alice.remote_seq(), Some(1));
        let ok = Message::response_to(&bye, 200).unwrap();
        bob.receive_response(&bye, &ok).unwrap();
        bob.terminate();
        alice.terminate();
        assert_eq!(
            bob.receive_response(&bye, &ok),
            Err(DialogError::Terminated)
        );
    }
}
