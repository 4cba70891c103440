//! Matching of received messages to transactions: branch, sent-by and
//! method (§17.1.3, §17.2.3), ACK and CANCEL, the RFC 2543 fallback,
//! stray responses and unreadable messages; and what `send_request`
//! refuses.

mod common;

use common::{Harness, PEER, ack, request, request_from, response, statuses};
use sipjet_message::{Message, Method};
use sipjet_transaction::{Event, State, TransactionError, TransactionKey};

#[test]
fn cancel_is_matched_to_its_invite() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKm1", "UDP");
    let invite_id = h.receive_new(&invite, false);
    h.respond(invite_id, &response(&invite, 180, "uas"));
    let cancel = request(Method::Cancel, "z9hG4bKm1", "UDP");
    h.receive(&cancel, false);
    let cancel_id = match &h.events()[..] {
        [
            Event::Cancel {
                id,
                cancel: c,
                source: PEER,
                invite: Some(i),
            },
        ] => {
            assert_eq!(*i, invite_id);
            assert_eq!(c.method(), Some(&Method::Cancel));
            *id
        }
        other => panic!("expected a matched Cancel, got {other:?}"),
    };
    assert_ne!(cancel_id, invite_id);
    assert_eq!(h.layer.state(invite_id), Some(State::Proceeding));

    // The TU answers both; the CANCEL's retransmission gets its 200.
    h.respond(cancel_id, &response(&cancel, 200, "uas"));
    h.respond(invite_id, &response(&invite, 487, "uas"));
    h.receive(&cancel, false);
    assert_eq!(
        statuses(&h.transmits()),
        [Some(180), Some(200), Some(487), Some(200)]
    );
    assert!(h.events().is_empty());
    h.receive(&ack("z9hG4bKm1", "UDP", "uas"), false);
    assert_eq!(h.layer.state(invite_id), Some(State::Confirmed));
}

#[test]
fn cancel_without_its_invite_is_reported_unmatched() {
    let mut h = Harness::new();
    let invite = request_from(Method::Invite, "z9hG4bKm2", "UDP", "192.0.2.1:5060");
    h.receive_new(&invite, false);
    // Same branch from another sent-by, and another branch: no match.
    for cancel in [
        request_from(Method::Cancel, "z9hG4bKm2", "UDP", "192.0.2.2:5060"),
        request(Method::Cancel, "z9hG4bKother", "UDP"),
    ] {
        h.receive(&cancel, false);
        assert!(matches!(
            h.events()[..],
            [Event::Cancel { invite: None, .. }]
        ));
    }
}

#[test]
fn server_transactions_are_told_apart_by_sent_by_and_method() {
    let mut h = Harness::new();
    let a = request_from(Method::Options, "z9hG4bKm3", "UDP", "192.0.2.1:5060");
    let b = request_from(Method::Options, "z9hG4bKm3", "UDP", "192.0.2.1:5070");
    let c = request_from(Method::Info, "z9hG4bKm3", "UDP", "192.0.2.1:5060");
    let ids = [
        h.receive_new(&a, false),
        h.receive_new(&b, false),
        h.receive_new(&c, false),
    ];
    assert_eq!(h.layer.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    assert_eq!(
        h.layer.find(&TransactionKey::of_request(&b).unwrap()),
        Some(ids[1])
    );
}

#[test]
fn responses_are_matched_by_branch_and_cseq_method() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKm4", "UDP");
    let cancel = request(Method::Cancel, "z9hG4bKm4", "UDP");
    let invite_id = h.send(&invite, false);
    h.receive(&response(&invite, 180, "uas"), false);
    let cancel_id = h.send(&cancel, false);
    h.events();
    h.receive(&response(&invite, 487, "uas"), false);
    h.receive(&response(&cancel, 200, "uas"), false);
    let events = h.events();
    assert!(
        matches!(&events[..], [
            Event::Response { id: a, response: r1 },
            Event::Response { id: b, response: r2 },
        ] if *a == invite_id && r1.status() == Some(487) && *b == cancel_id && r2.status() == Some(200)),
        "{events:?}"
    );
    assert_eq!(
        h.layer
            .find(&TransactionKey::of_response(&response(&invite, 487, "uas")).unwrap()),
        Some(invite_id)
    );
}

#[test]
fn unknown_and_late_responses_are_stray() {
    let mut h = Harness::new();
    let options = request(Method::Options, "z9hG4bKm5", "UDP");
    h.receive(&response(&options, 200, "x"), false);
    let no_branch = request(Method::Options, "", "UDP");
    h.receive(&response(&no_branch, 200, "x"), false);
    let events = h.events();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Event::StrayResponse { source: PEER, .. }))
    );
    assert!(h.transmits().is_empty());
}

#[test]
fn ack_without_a_transaction_goes_to_the_tu() {
    let mut h = Harness::new();
    let the_ack = ack("z9hG4bKm6", "UDP", "uas");
    h.receive(&the_ack, false);
    assert!(matches!(
        &h.events()[..],
        [Event::Ack { request, source: PEER }] if request.to_bytes() == the_ack.to_bytes()
    ));
    assert!(h.layer.is_empty());
}

#[test]
fn rfc2543_requests_are_matched_without_a_branch() {
    for branch in ["1", ""] {
        let mut h = Harness::new();
        let invite = request(Method::Invite, branch, "UDP");
        let id = h.receive_new(&invite, false);
        assert!(TransactionKey::of_request(&invite).unwrap().is_rfc2543());
        h.set(100);
        h.receive(&invite, false);
        assert!(h.events().is_empty(), "retransmission, not a new request");
        assert_eq!(statuses(&h.transmits()), [Some(100)]);

        h.respond(id, &response(&invite, 486, "uas"));
        h.transmits();
        // An ACK with another To tag acknowledges something else.
        h.receive(&ack(branch, "UDP", "someone-else"), false);
        assert!(matches!(h.events()[..], [Event::Ack { .. }]));
        assert_eq!(h.layer.state(id), Some(State::Completed));
        // The ACK carrying the tag of our response confirms.
        h.receive(&ack(branch, "UDP", "uas"), false);
        assert!(h.events().is_empty());
        assert_eq!(
            h.layer.state(id),
            Some(State::Confirmed),
            "branch {branch:?}"
        );

        // A CANCEL finds its INVITE the RFC 2543 way too.
        let invite2 = request_from(Method::Invite, branch, "UDP", "192.0.2.50");
        let id2 = h.receive_new(&invite2, false);
        h.receive(
            &request_from(Method::Cancel, branch, "UDP", "192.0.2.50"),
            false,
        );
        assert!(matches!(h.events()[..], [Event::Cancel { invite: Some(i), .. }] if i == id2));
    }
}

#[test]
fn rfc2543_ack_for_a_2xx_passes_through_accepted() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "legacy", "UDP");
    let id = h.receive_new(&invite, false);
    h.respond(id, &response(&invite, 200, "uas"));
    h.receive(&ack("legacy", "UDP", "uas"), false);
    assert!(matches!(h.events()[..], [Event::Ack { .. }]));
    assert_eq!(h.layer.state(id), Some(State::Accepted));
}

#[test]
fn rfc2543_reinvite_with_to_tag_is_matched() {
    let mut h = Harness::new();
    let text = String::from_utf8(request(Method::Invite, "old", "UDP").to_bytes().to_vec())
        .unwrap()
        .replace(
            "To: Bob <sip:bob@example.com>",
            "To: Bob <sip:bob@example.com>;tag=dlg",
        );
    let reinvite = Message::parse(text.into_bytes()).unwrap();
    let id = h.receive_new(&reinvite, false);
    h.receive(&reinvite, false);
    assert!(h.events().is_empty());
    h.respond(id, &response(&reinvite, 491, "ignored"));
    h.receive(&ack("old", "UDP", "dlg"), false);
    assert!(h.events().is_empty());
    assert_eq!(h.layer.state(id), Some(State::Confirmed));
}

#[test]
fn unreadable_messages_are_dropped() {
    let mut h = Harness::new();
    for text in [
        "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n",
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n",
        "OPTIONS sip:a@b SIP/2.0\r\nVia: nonsense\r\nCSeq: 1 OPTIONS\r\n\r\n",
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: x\r\n\r\n",
        // RFC 2543 requests need their Call-ID.
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n",
        "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n",
    ] {
        h.receive(&Message::parse(text.as_bytes().to_vec()).unwrap(), false);
        assert!(h.events().is_empty(), "{text}");
        assert!(h.transmits().is_empty(), "{text}");
    }
    assert!(h.layer.is_empty());
}

#[test]
fn send_request_refuses_what_cannot_be_a_client_transaction() {
    let mut h = Harness::new();
    let now = h.now;
    let ok = response(&request(Method::Options, "z9hG4bKm7", "UDP"), 200, "x");
    let cases: Vec<(Message, TransactionError)> = vec![
        (ok, TransactionError::NotARequest),
        (ack("z9hG4bKm7", "UDP", "x"), TransactionError::Ack),
        (request(Method::Options, "", "UDP"), TransactionError::NoBranch),
        (
            Message::parse(&b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKc\r\nCSeq: 1 INFO\r\n\r\n"[..]).unwrap(),
            TransactionError::CSeqMismatch { method: Method::Options, cseq: "INFO".into() },
        ),
    ];
    for (message, want) in cases {
        assert_eq!(h.layer.send_request(message, PEER, false, now), Err(want));
    }
    let no_via =
        Message::parse(&b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n"[..]).unwrap();
    let err = h.layer.send_request(no_via, PEER, false, now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the request cannot be matched to its responses: missing Via header"
    );

    let options = request(Method::Options, "z9hG4bKm8", "UDP");
    h.send(&options, false);
    assert_eq!(
        h.layer.send_request(options, PEER, false, now),
        Err(TransactionError::Duplicate {
            branch: "z9hG4bKm8".into(),
            method: Method::Options
        })
    );
    assert_eq!(h.layer.len(), 1);
    assert!(h.events().is_empty());
}

#[test]
fn stateless_messages_have_no_transaction() {
    let mut h = Harness::new();
    let the_ack = ack("z9hG4bKm9", "UDP", "uas");
    h.layer.send_stateless(the_ack.clone(), 42);
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].id, sent[0].dest), (None, 42));
    assert_eq!(sent[0].message.to_bytes(), the_ack.to_bytes());
    assert!(h.layer.is_empty());
}
