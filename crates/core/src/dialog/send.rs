//! Building the requests this side sends inside a dialog (§12.2.1.1) and
//! the ACK for a 2xx (§13.2.2.4).

use sipjet_message::{MAX_CSEQ, Message, Method};

use super::error::DialogError;
use super::routing::destination;
use super::state::{Dialog, DialogState};
use super::target_refresh::is_target_refresh;

/// The Max-Forwards a UA puts on the requests it originates (§8.1.1.6).
const MAX_FORWARDS: &str = "70";

impl Dialog {
    /// The next request of this side in the dialog (§12.2.1.1):
    /// Request-URI and Route from the remote target and the route set
    /// (see [`Dialog::route_set`]), From and To with the local and remote
    /// URIs and tags, the Call-ID, the next local CSeq, Max-Forwards 70,
    /// and the local contact when `method` is a target refresh.
    ///
    /// The caller adds the Via, whose branch names the client transaction
    /// and whose sent-by the transport chooses, and any body. The CSeq
    /// counts from 1 when this side has sent nothing yet (§8.1.1.5 leaves
    /// the start open; 1 keeps the furthest from the 2**31 limit).
    ///
    /// ACK and CANCEL are refused: the ACK for a 2xx reuses the INVITE's
    /// CSeq ([`Dialog::ack`]), and a CANCEL copies the request it cancels.
    pub fn request(&mut self, method: Method) -> Result<Message, DialogError> {
        match method {
            Method::Ack => return Err(DialogError::AckNeedsInviteCSeq),
            Method::Cancel => return Err(DialogError::CancelIsNotInDialog),
            _ => {}
        }
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        let seq = match self.local_seq {
            None => 1,
            Some(seq) if seq >= MAX_CSEQ => return Err(DialogError::CSeqExhausted),
            Some(seq) => seq + 1,
        };
        let refresh = is_target_refresh(&method);
        let mut request = self.build(method, seq)?;
        if refresh {
            request.add_header("Contact", &self.local_contact)?;
        }
        self.local_seq = Some(seq);
        Ok(request)
    }

    /// The ACK for a 2xx to the INVITE (initial or re-INVITE) with CSeq
    /// number `invite_cseq` (§13.2.2.4): routed like any request of the
    /// dialog, with the INVITE's CSeq number and method ACK, and without
    /// Contact. Credentials the INVITE carried are the caller's to copy,
    /// and so is an SDP answer. Built in any state, since every 2xx
    /// retransmission is owed an ACK, even after a BYE.
    pub fn ack(&self, invite_cseq: u32) -> Result<Message, DialogError> {
        if invite_cseq > MAX_CSEQ {
            return Err(DialogError::CSeqOutOfRange(invite_cseq));
        }
        self.build(Method::Ack, invite_cseq)
    }

    fn build(&self, method: Method, seq: u32) -> Result<Message, DialogError> {
        let destination = destination(&self.remote_target, &self.route_set)?;
        let cseq = format!("{seq} {method}");
        let mut request = Message::new_request(method, &destination.request_uri)?;
        request.add_header("Max-Forwards", MAX_FORWARDS)?;
        if !destination.route.is_empty() {
            request.add_header("Route", &destination.route.join(", "))?;
        }
        request.add_header("From", &self.local.header_value(&self.id.local_tag))?;
        request.add_header("To", &self.remote.header_value(&self.id.remote_tag))?;
        request.add_header("Call-ID", &self.id.call_id)?;
        request.add_header("CSeq", &cseq)?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use sipjet_message::HeaderName;

    fn route_values(request: &Message) -> Vec<String> {
        request
            .routes()
            .map(|r| r.unwrap().as_str().to_string())
            .collect()
    }

    /// Bob's BYE, as RFC 3665 writes it but with the transport parameter
    /// of Alice's Contact kept in the Request-URI.
    #[test]
    fn the_uas_builds_the_bye_of_rfc_3665() {
        let mut bob = bob_dialog_confirmed();
        let bye = bob.request(Method::Bye).unwrap();
        let want = format!(
            "BYE sip:alice@client.atlanta.example.com;transport=tcp SIP/2.0\r\n\
             Max-Forwards: 70\r\n\
             Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r\n\
             From: Bob <sip:bob@biloxi.example.com>;tag=314159\r\n\
             To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
             Call-ID: {CALL_ID}\r\n\
             CSeq: 1 BYE\r\n\
             Content-Length: 0\r\n\r\n"
        );
        assert_eq!(std::str::from_utf8(&bye.to_bytes()).unwrap(), want);
        assert_eq!(bob.local_seq(), Some(1));
        on_the_wire(bye);
    }

    #[test]
    fn the_uac_builds_the_ack_for_the_2xx() {
        let alice = alice_dialog_confirmed();
        let ack = on_the_wire(alice.ack(2).unwrap());
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), Some(BOB_CONTACT));
        assert_eq!(
            route_values(&ack),
            [
                "<sip:ss1.atlanta.example.com;lr>",
                "<sip:ss2.biloxi.example.com;lr>"
            ]
        );
        assert_eq!(
            ack.header(HeaderName::From),
            Some("Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl")
        );
        assert_eq!(
            ack.header(HeaderName::To),
            Some("Bob <sip:bob@biloxi.example.com>;tag=314159")
        );
        assert_eq!(ack.header(HeaderName::CSeq), Some("2 ACK"));
        assert_eq!(ack.max_forwards().unwrap(), Some(70));
        assert!(!ack.has(HeaderName::Contact));
        assert_eq!(alice.local_seq(), Some(2));
    }

    #[test]
    fn cseq_grows_by_one_per_request_but_not_for_ack_or_cancel() {
        let mut alice = alice_dialog_confirmed();
        let sent: Vec<(Method, &str, bool)> = vec![
            (Method::Info, "3 INFO", false),
            (Method::Invite, "4 INVITE", true),
            (Method::Update, "5 UPDATE", true),
            (Method::Refer, "6 REFER", true),
            (Method::Bye, "7 BYE", false),
        ];
        for (method, cseq, with_contact) in sent {
            let request = on_the_wire(alice.request(method.clone()).unwrap());
            assert_eq!(request.header(HeaderName::CSeq), Some(cseq));
            let contact = request.header(HeaderName::Contact);
            if with_contact {
                assert_eq!(contact, Some(format!("<{ALICE_CONTACT}>").as_str()));
            } else {
                assert_eq!(contact, None, "{method}");
            }
            if method == Method::Invite {
                let ack = on_the_wire(alice.ack(4).unwrap());
                assert_eq!(ack.header(HeaderName::CSeq), Some("4 ACK"));
                assert_eq!(alice.local_seq(), Some(4));
            }
        }
        assert_eq!(
            alice.request(Method::Ack).unwrap_err().to_string(),
            "the ACK for a 2xx is built by Dialog::ack, from the INVITE's CSeq"
        );
        assert_eq!(
            alice.request(Method::Cancel).err(),
            Some(DialogError::CancelIsNotInDialog)
        );
        assert_eq!(alice.local_seq(), Some(7));
    }

    #[test]
    fn an_early_dialog_takes_requests() {
        let mut alice = alice_dialog_early();
        let prack = on_the_wire(alice.request(Method::Prack).unwrap());
        assert_eq!(prack.header(HeaderName::CSeq), Some("3 PRACK"));
        assert_eq!(prack.request_uri(), Some(BOB_CONTACT));
    }

    /// The example of §12.2.1.1, from a dialog whose route set it is.
    #[test]
    fn a_strict_router_first_is_the_request_uri() {
        let invite = parse(&INVITE_AT_BOB
            .replace(
                "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>",
                "Record-Route: <sip:proxy1>,<sip:proxy2>\nRecord-Route: <sip:proxy3;lr>,<sip:proxy4>",
            )
            .replace(&format!("<{ALICE_CONTACT}>"), "<sip:user@remoteua>"));
        let mut dialog = super::Dialog::from_uas(&invite, &bob_response(200)).unwrap();
        let bye = on_the_wire(dialog.request(Method::Bye).unwrap());
        assert_eq!(bye.request_uri(), Some("sip:proxy1"));
        assert_eq!(
            route_values(&bye),
            [
                "<sip:proxy2>",
                "<sip:proxy3;lr>",
                "<sip:proxy4>",
                "<sip:user@remoteua>"
            ]
        );
    }

    #[test]
    fn without_route_set_the_request_goes_to_the_remote_target() {
        let invite = parse(&INVITE_AT_BOB.replace(
            "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\n",
            "",
        ));
        let mut response = bob_response(200);
        response.remove_header("Record-Route");
        let mut dialog = super::Dialog::from_uas(&invite, &response).unwrap();
        let bye = on_the_wire(dialog.request(Method::Bye).unwrap());
        assert_eq!(bye.request_uri(), Some(ALICE_CONTACT));
        assert!(!bye.has(HeaderName::Route));
    }

    #[test]
    fn a_null_remote_tag_is_left_out_of_to_and_matches_untagged_answers() {
        let rfc2543 = parse(&INVITE_AT_BOB.replace(";tag=9fxced76sl", ""));
        let mut response = Message::response_to_with(&rfc2543, 200, None, Some(BOB_TAG)).unwrap();
        response
            .add_header("Contact", "<sip:bob@192.0.2.4>")
            .unwrap();
        let mut dialog = super::Dialog::from_uas(&rfc2543, &response).unwrap();
        let bye = on_the_wire(dialog.request(Method::Bye).unwrap());
        assert_eq!(
            bye.header(HeaderName::To),
            Some("Alice <sip:alice@atlanta.example.com>")
        );
        // The RFC 2543 peer answers without a To tag either.
        let ok = Message::response_to_with(&bye, 200, None, Some("added")).unwrap();
        let ok = parse(
            &std::str::from_utf8(&ok.to_bytes())
                .unwrap()
                .replace(";tag=added", "")
                .replace("\r\n", "\n"),
        );
        dialog.receive_response(&bye, &ok).unwrap();
    }

    #[test]
    fn cseq_stays_below_two_to_the_31() {
        let mut alice = alice_dialog_confirmed();
        alice.local_seq = Some(MAX_CSEQ - 1);
        let last = alice.request(Method::Info).unwrap();
        assert_eq!(last.cseq().unwrap().seq, MAX_CSEQ);
        assert_eq!(
            alice.request(Method::Info).unwrap_err().to_string(),
            "the local CSeq has reached 2147483647; no further request can be sent in this dialog"
        );
        assert_eq!(alice.local_seq(), Some(MAX_CSEQ));
        assert!(alice.ack(MAX_CSEQ).is_ok());
        assert_eq!(
            alice.ack(MAX_CSEQ + 1).err(),
            Some(DialogError::CSeqOutOfRange(MAX_CSEQ + 1))
        );
    }

    #[test]
    fn a_terminated_dialog_sends_only_acks() {
        let mut alice = alice_dialog_confirmed();
        alice.terminate();
        assert_eq!(
            alice.request(Method::Bye).err(),
            Some(DialogError::Terminated)
        );
        assert_eq!(alice.local_seq(), Some(2));
        on_the_wire(alice.ack(2).unwrap());
    }
}
