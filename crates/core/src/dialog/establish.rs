//! Creating a dialog from the request and response that establish it
//! (§12.1), and confirming an early dialog with a 2xx (§13.2.2.4,
//! §13.3.1.4).

use sipjet_message::{HeaderName, Message};

use super::error::DialogError;
use super::extract::{check_answers, contact_value, party, record_route, sent_securely, target_of};
use super::id::{DialogId, Role, id_of, tag_of};
use super::state::{Dialog, DialogState};

/// Checks that `response` can create a dialog with `request`, and returns
/// its status.
fn check_creating(request: &Message, response: &Message) -> Result<u16, DialogError> {
    if !request.is_request() {
        return Err(DialogError::WrongKind("request"));
    }
    let status = response
        .status()
        .ok_or(DialogError::WrongKind("response"))?;
    if !(101..=299).contains(&status) {
        return Err(DialogError::NotDialogCreating(status));
    }
    check_answers(request, response)?;
    if tag_of(&request.to_header()?).is_some() {
        return Err(DialogError::AlreadyInDialog);
    }
    Ok(status)
}

fn state_after(status: u16) -> DialogState {
    if status < 200 {
        DialogState::Early
    } else {
        DialogState::Confirmed
    }
}

impl Dialog {
    /// The dialog a UAC holds once a response with a To tag (101 to 299)
    /// arrives for a request it sent (INVITE, SUBSCRIBE, REFER...), as
    /// §12.1.2 builds it: route set = the response's Record-Route in
    /// reverse order, remote target = the response's Contact, local CSeq =
    /// the request's; early for a 1xx, confirmed for a 2xx. Which methods
    /// create dialogs is the caller's decision.
    ///
    /// Each To tag of a forked request is a dialog of its own: a response
    /// with another tag creates another dialog rather than confirming this
    /// one.
    pub fn from_uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let status = check_creating(request, response)?;
        let remote_tag = tag_of(&response.to_header()?).ok_or(DialogError::MissingToTag)?;
        let from = request.from_header()?;
        let local_tag = tag_of(&from).ok_or(DialogError::MissingFromTag)?;
        let remote_target =
            target_of(response, "response")?.ok_or(DialogError::MissingContact("response"))?;
        let local_contact =
            contact_value(request, "request")?.ok_or(DialogError::MissingContact("request"))?;
        let mut route_set = record_route(response)?;
        route_set.reverse();
        let cseq = request.cseq()?;
        Ok(Dialog {
            id: DialogId {
                call_id: request.call_id()?.to_string(),
                local_tag,
                remote_tag,
            },
            role: Role::Uac,
            state: state_after(status),
            creating_cseq: (cseq.seq, cseq.method.to_string()),
            local: party(&from, HeaderName::From)?,
            remote: party(&request.to_header()?, HeaderName::To)?,
            local_seq: Some(cseq.seq),
            remote_seq: None,
            remote_target,
            route_set,
            secure: sent_securely(request),
            local_contact,
        })
    }

    /// The dialog a UAS holds once it answers a received request with a
    /// response carrying its To tag (101 to 299), as §12.1.1 builds it:
    /// route set = the request's Record-Route in order, remote target = the
    /// request's Contact, remote CSeq = the request's. A request without a
    /// From tag (RFC 2543) gives an empty remote tag.
    ///
    /// The request counts as sent over TLS when its top Via says `TLS` or
    /// `WSS`; the transport layer does not check that against the
    /// connection, so a core that must be sure refuses a `sips:` request
    /// that arrived on an insecure flow before it gets here.
    pub fn from_uas(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let status = check_creating(request, response)?;
        let local_tag = tag_of(&response.to_header()?).ok_or(DialogError::MissingToTag)?;
        let from = request.from_header()?;
        let remote_target =
            target_of(request, "request")?.ok_or(DialogError::MissingContact("request"))?;
        let local_contact =
            contact_value(response, "response")?.ok_or(DialogError::MissingContact("response"))?;
        let cseq = request.cseq()?;
        Ok(Dialog {
            id: DialogId {
                call_id: request.call_id()?.to_string(),
                local_tag,
                remote_tag: tag_of(&from).unwrap_or_default(),
            },
            role: Role::Uas,
            state: state_after(status),
            creating_cseq: (cseq.seq, cseq.method.to_string()),
            local: party(&request.to_header()?, HeaderName::To)?,
            remote: party(&from, HeaderName::From)?,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            remote_target,
            route_set: record_route(request)?,
            secure: sent_securely(request),
            local_contact,
        })
    }

    /// Confirms an early dialog with a 2xx to the request that created it:
    /// the 2xx a UAC received, or the 2xx a UAS sends. A UAC recomputes the
    /// route set from the 2xx, as RFC 2543 proxies record-route only 2xx
    /// responses (§13.2.2.4), and takes the 2xx's Contact as remote target
    /// (the INVITE is a target refresh, §12.2.1.2); a UAS takes its own
    /// 2xx's Contact as local contact. Past this point the route set is
    /// fixed. A 2xx retransmission to a confirmed dialog changes nothing.
    pub fn confirm(&mut self, response: &Message) -> Result<(), DialogError> {
        let status = response
            .status()
            .ok_or(DialogError::WrongKind("response"))?;
        if !(200..=299).contains(&status) {
            return Err(DialogError::NotSuccess(status));
        }
        if id_of(response, self.role).as_ref() != Some(&self.id) {
            return Err(DialogError::OtherDialog);
        }
        let cseq = response.cseq()?;
        if (cseq.seq, cseq.method) != (self.creating_cseq.0, self.creating_cseq.1.as_str()) {
            return Err(DialogError::Mismatch("CSeq"));
        }
        match self.state {
            DialogState::Terminated => return Err(DialogError::Terminated),
            DialogState::Confirmed => return Ok(()),
            DialogState::Early => {}
        }
        match self.role {
            Role::Uac => {
                let target = target_of(response, "response")?;
                let mut route_set = record_route(response)?;
                route_set.reverse();
                if let Some(target) = target {
                    self.remote_target = target;
                }
                self.route_set = route_set;
            }
            Role::Uas => {
                if let Some(contact) = contact_value(response, "response")? {
                    self.local_contact = contact;
                }
            }
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    const ROUTES_AT_ALICE: [&str; 2] = [
        "<sip:ss1.atlanta.example.com;lr>",
        "<sip:ss2.biloxi.example.com;lr>",
    ];
    const ROUTES_AT_BOB: [&str; 2] = [
        "<sip:ss2.biloxi.example.com;lr>",
        "<sip:ss1.atlanta.example.com;lr>",
    ];

    #[test]
    fn uac_dialog_from_a_180_is_early_with_the_route_set_reversed() {
        let dialog = alice_dialog_early();
        assert_eq!(dialog.state(), DialogState::Early);
        assert_eq!(dialog.id().call_id, CALL_ID);
        assert_eq!(dialog.id().local_tag, ALICE_TAG);
        assert_eq!(dialog.id().remote_tag, BOB_TAG);
        assert_eq!(dialog.route_set(), ROUTES_AT_ALICE);
        assert_eq!(dialog.remote_target(), BOB_CONTACT);
        assert_eq!(dialog.local_uri(), "sip:alice@atlanta.example.com");
        assert_eq!(dialog.remote_uri(), "sip:bob@biloxi.example.com");
        assert_eq!(dialog.local_seq(), Some(2));
        assert_eq!(dialog.remote_seq(), None);
        assert_eq!(dialog.local_contact(), format!("<{ALICE_CONTACT}>"));
        assert!(!dialog.secure());
    }

    #[test]
    fn uac_dialog_from_a_200_is_confirmed() {
        let dialog = alice_dialog_confirmed();
        assert_eq!(dialog.state(), DialogState::Confirmed);
        assert_eq!(dialog.route_set(), ROUTES_AT_ALICE);
    }

    #[test]
    fn uas_dialog_keeps_the_route_set_in_order_and_targets_the_request_contact() {
        let dialog = bob_dialog_confirmed();
        assert_eq!(dialog.state(), DialogState::Confirmed);
        assert_eq!(dialog.id().local_tag, BOB_TAG);
        assert_eq!(dialog.id().remote_tag, ALICE_TAG);
        assert_eq!(dialog.route_set(), ROUTES_AT_BOB);
        assert_eq!(dialog.remote_target(), ALICE_CONTACT);
        assert_eq!(dialog.local_uri(), "sip:bob@biloxi.example.com");
        assert_eq!(dialog.remote_uri(), "sip:alice@atlanta.example.com");
        assert_eq!(dialog.local_seq(), None);
        assert_eq!(dialog.remote_seq(), Some(2));
        assert_eq!(dialog.local_contact(), format!("<{BOB_CONTACT}>"));
        let early = Dialog::from_uas(&parse(INVITE_AT_BOB), &bob_response(180)).unwrap();
        assert_eq!(early.state(), DialogState::Early);
    }

    #[test]
    fn folded_record_route_lines_are_kept_on_one_line() {
        let folded = INVITE_AT_BOB.replace(
            "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>",
            "Record-Route: <sip:ss2.biloxi.example.com;lr>,\n <sip:ss1.atlanta.example.com;lr>\n ;x=1",
        );
        let mut dialog = Dialog::from_uas(&parse(&folded), &bob_response(200)).unwrap();
        assert_eq!(
            dialog.route_set(),
            [
                "<sip:ss2.biloxi.example.com;lr>",
                "<sip:ss1.atlanta.example.com;lr> ;x=1"
            ]
        );
        on_the_wire(dialog.request(sipjet_message::Method::Bye).unwrap());
    }

    /// The call over TLS to `sips:` URIs, or with one of the two missing.
    fn secure_pair(scheme: &str, transport: &str) -> (Message, Message) {
        let invite = INVITE_FROM_ALICE
            .replace("INVITE sip:bob", &format!("INVITE {scheme}:bob"))
            .replace("SIP/2.0/TCP", &format!("SIP/2.0/{transport}"));
        let ok = OK_AT_ALICE.replace("SIP/2.0/TCP", &format!("SIP/2.0/{transport}"));
        (parse(&invite), parse(&ok))
    }

    #[test]
    fn secure_needs_tls_and_a_sips_request_uri_on_both_sides() {
        for (scheme, transport, secure) in [
            ("sips", "TLS", true),
            ("sips", "WSS", true),
            ("sips", "TCP", false),
            ("sip", "TLS", false),
        ] {
            let (invite, ok) = secure_pair(scheme, transport);
            let uac = Dialog::from_uac(&invite, &ok).unwrap();
            assert_eq!(uac.secure(), secure, "UAC {scheme} over {transport}");
            let response = Message::response_to_with(&invite, 200, None, Some(BOB_TAG))
                .and_then(|mut r| r.add_header("Contact", "<sips:bob@192.0.2.4>").map(|()| r))
                .unwrap();
            let uas = Dialog::from_uas(&invite, &response).unwrap();
            assert_eq!(uas.secure(), secure, "UAS {scheme} over {transport}");
        }
    }

    #[test]
    fn a_uac_confirms_with_the_route_set_and_target_of_the_2xx() {
        let mut dialog = alice_dialog_early();
        // RFC 2543 proxies record-route the 2xx only, and Bob's 2xx comes
        // from another contact.
        let ok = OK_AT_ALICE
            .replace(
                "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>",
                "Record-Route: <sip:ss2.biloxi.example.com;lr>\nRecord-Route: <sip:p.example.com;lr>",
            )
            .replace(BOB_CONTACT, "sip:bob@192.0.2.4");
        dialog.confirm(&parse(&ok)).unwrap();
        assert_eq!(dialog.state(), DialogState::Confirmed);
        assert_eq!(dialog.remote_target(), "sip:bob@192.0.2.4");
        assert_eq!(
            dialog.route_set(),
            ["<sip:p.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
        );
        // A retransmission, even one that differs, changes nothing now.
        dialog.confirm(&parse(OK_AT_ALICE)).unwrap();
        assert_eq!(dialog.remote_target(), "sip:bob@192.0.2.4");
        assert_eq!(dialog.route_set().len(), 2);
    }

    #[test]
    fn a_2xx_without_contact_keeps_the_early_target() {
        let mut dialog = alice_dialog_early();
        let ok = OK_AT_ALICE.replace(&format!("Contact: <{BOB_CONTACT}>\n"), "");
        dialog.confirm(&parse(&ok)).unwrap();
        assert_eq!(dialog.state(), DialogState::Confirmed);
        assert_eq!(dialog.remote_target(), BOB_CONTACT);
    }

    #[test]
    fn a_uas_confirms_with_its_own_2xx() {
        let mut dialog = Dialog::from_uas(&parse(INVITE_AT_BOB), &bob_response(183)).unwrap();
        let mut ok = bob_response(200);
        ok.set_header(
            "Contact",
            "<sip:bob@192.0.2.4>;+sip.instance=\"<urn:uuid:1>\"",
        )
        .unwrap();
        dialog.confirm(&ok).unwrap();
        assert_eq!(dialog.state(), DialogState::Confirmed);
        assert_eq!(
            dialog.local_contact(),
            "<sip:bob@192.0.2.4>;+sip.instance=\"<urn:uuid:1>\""
        );
        assert_eq!(dialog.route_set(), ROUTES_AT_BOB);
    }

    #[test]
    fn only_a_2xx_of_this_dialog_to_the_creating_request_confirms() {
        let mut dialog = alice_dialog_early();
        let refusals = [
            (
                parse(RINGING_AT_ALICE),
                "a 180 response cannot confirm a dialog (only 2xx can)",
            ),
            (
                parse(&OK_AT_ALICE.replace("tag=314159", "tag=other")),
                "the message belongs to another dialog (Call-ID or tags differ)",
            ),
            (
                parse(&OK_AT_ALICE.replace("CSeq: 2 INVITE", "CSeq: 3 PRACK")),
                "the response does not answer the request: CSeq differs",
            ),
            (parse(INVITE_FROM_ALICE), "expected a response"),
        ];
        for (response, want) in refusals {
            assert_eq!(dialog.confirm(&response).unwrap_err().to_string(), want);
            assert_eq!(dialog.state(), DialogState::Early);
        }
        dialog.terminate();
        assert_eq!(
            dialog.confirm(&parse(OK_AT_ALICE)),
            Err(DialogError::Terminated)
        );
    }

    #[test]
    fn what_cannot_create_a_dialog_is_refused_by_name() {
        let invite = parse(INVITE_FROM_ALICE);
        let uac = |response: &str| Dialog::from_uac(&invite, &parse(response)).unwrap_err();
        assert_eq!(
            uac(&OK_AT_ALICE.replace(";tag=314159", "")).to_string(),
            "missing To tag in the response"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace(&format!("Contact: <{BOB_CONTACT}>\n"), "")).to_string(),
            "missing Contact in the response"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace(&format!("<{BOB_CONTACT}>"), "*")).to_string(),
            "Contact * in the response cannot be a dialog's target"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace("200 OK", "486 Busy Here")).to_string(),
            "a 486 response cannot create a dialog (only 101 to 299 can)"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace("200 OK", "100 Trying")).to_string(),
            "a 100 response cannot create a dialog (only 101 to 299 can)"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace("Call-ID: 38", "Call-ID: 99")).to_string(),
            "the response does not answer the request: Call-ID differs"
        );
        assert_eq!(
            uac(&OK_AT_ALICE.replace(
                "Record-Route: <sip:ss2.biloxi.example.com;lr>, ",
                "Record-Route: sip:ss2.biloxi.example.com;lr, "
            ))
            .to_string(),
            "Record-Route value \"sip:ss2.biloxi.example.com;lr\" is not enclosed in <>"
        );
        let no_contact =
            parse(&INVITE_FROM_ALICE.replace(&format!("Contact: <{ALICE_CONTACT}>\n"), ""));
        assert_eq!(
            Dialog::from_uac(&no_contact, &parse(OK_AT_ALICE))
                .unwrap_err()
                .to_string(),
            "missing Contact in the request"
        );
        let reinvite = parse(&INVITE_FROM_ALICE.replace(
            "To: Bob <sip:bob@biloxi.example.com>",
            "To: Bob <sip:bob@biloxi.example.com>;tag=314159",
        ));
        assert_eq!(
            Dialog::from_uac(&reinvite, &parse(OK_AT_ALICE)).err(),
            Some(DialogError::AlreadyInDialog)
        );

        let bob_invite = parse(INVITE_AT_BOB);
        let uas = |request: &Message| Dialog::from_uas(request, &bob_response(200)).unwrap_err();
        let no_contact =
            parse(&INVITE_AT_BOB.replace(&format!("Contact: <{ALICE_CONTACT}>\n"), ""));
        assert_eq!(
            uas(&no_contact).to_string(),
            "missing Contact in the request"
        );
        let malformed = parse(&INVITE_AT_BOB.replace(&format!("<{ALICE_CONTACT}>"), "<sip:@>"));
        assert!(uas(&malformed).to_string().starts_with("Contact header: "));
        let mut response = bob_response(200);
        response.remove_header("Contact");
        assert_eq!(
            Dialog::from_uas(&bob_invite, &response)
                .unwrap_err()
                .to_string(),
            "missing Contact in the response"
        );
        assert_eq!(
            Dialog::from_uas(&bob_invite, &trying()).err(),
            Some(DialogError::NotDialogCreating(100))
        );
    }

    #[test]
    fn a_request_without_from_tag_creates_a_dialog_with_a_null_remote_tag() {
        let rfc2543 = parse(&INVITE_AT_BOB.replace(";tag=9fxced76sl", ""));
        let mut response = Message::response_to_with(&rfc2543, 200, None, Some(BOB_TAG)).unwrap();
        response
            .add_header("Contact", "<sip:bob@192.0.2.4>")
            .unwrap();
        let dialog = Dialog::from_uas(&rfc2543, &response).unwrap();
        assert_eq!(dialog.id().remote_tag, "");
        assert_eq!(dialog.id().local_tag, BOB_TAG);
    }
}
