//! INVITE client transactions through the public API: Calling (Timers A
//! and B), Proceeding, Completed (the ACK, Timer D), Accepted (Timer M),
//! the §9.1 wait after a CANCEL, transport errors.

mod common;

use common::{Harness, PEER, request, response};
use sipjet_message::{HeaderName, Message, Method};
use sipjet_transaction::{Event, Kind, State};

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa1", "UDP");
    let id = h.send(&invite, false);
    assert_eq!(h.layer.kind(id), Some(Kind::ClientInvite));
    assert_eq!(h.layer.state(id), Some(State::Calling));
    let first = h.transmits();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, Some(id));
    assert_eq!(first[0].dest, PEER);
    assert_eq!(first[0].message.to_bytes(), invite.to_bytes());

    let sent = h.run_until(31_999);
    let times: Vec<u64> = sent.iter().map(|(at, _)| *at).collect();
    assert_eq!(times, [500, 1500, 3500, 7500, 15500, 31500]);
    for (_, t) in &sent {
        assert_eq!(t.message.to_bytes(), invite.to_bytes());
    }
    assert!(h.events().is_empty());

    assert!(h.run_until(32_000).is_empty());
    assert!(matches!(
        h.events()[..],
        [Event::Timeout { id: a }, Event::Terminated { id: b }] if a == id && b == id
    ));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn reliable_transport_sends_once_and_timer_b_still_applies() {
    let mut h = Harness::new();
    let id = h.send(&request(Method::Invite, "z9hG4bKa2", "TCP"), true);
    assert_eq!(h.transmits().len(), 1);
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + common::ms(32_000)));
    assert!(h.run_until(40_000).is_empty());
    assert!(
        matches!(h.events()[..], [Event::Timeout { .. }, Event::Terminated { id: t }] if t == id)
    );
}

#[test]
fn provisional_stops_retransmission_and_timer_b() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa3", "UDP");
    let id = h.send(&invite, false);
    h.transmits();
    h.run_until(600);
    h.transmits();
    h.receive(&response(&invite, 100, ""), false);
    h.set(700);
    h.receive(&response(&invite, 180, "uas"), false);
    let events = h.events();
    let codes: Vec<u16> = events
        .iter()
        .map(|e| match e {
            Event::Response { id: i, response } if *i == id => response.status().unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(codes, [100, 180]);
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    // RFC 3261: no retransmission and no Timer B in Proceeding; a
    // Proceeding INVITE waits for its final response (or a CANCEL).
    assert_eq!(h.layer.poll_timeout(), None);
    assert!(h.run_until(300_000).is_empty());
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
}

#[test]
fn non_2xx_is_acknowledged_by_the_transaction_and_timer_d_ends_completed() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa4", "UDP");
    let id = h.send(&invite, false);
    h.transmits();
    h.set(100);
    h.receive(&response(&invite, 180, "uas"), false);
    h.set(200);
    let busy = response(&invite, 486, "uas");
    h.receive(&busy, false);
    let events = h.events();
    assert_eq!(events.len(), 2);
    assert!(
        matches!(&events[1], Event::Response { response, .. } if response.status() == Some(486))
    );
    assert_eq!(h.layer.state(id), Some(State::Completed));

    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dest, PEER);
    let ack = Message::parse(sent[0].message.to_bytes()).unwrap();
    ack.validate().unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(ack.vias().count(), 1);
    assert_eq!(ack.via().unwrap().as_str(), invite.via().unwrap().as_str());
    assert_eq!(
        ack.header(HeaderName::From),
        invite.header(HeaderName::From)
    );
    assert_eq!(ack.header(HeaderName::To), busy.header(HeaderName::To));
    assert_eq!(ack.call_id().unwrap(), invite.call_id().unwrap());
    assert_eq!(ack.header(HeaderName::CSeq), Some("10 ACK"));
    assert_eq!(
        ack.header(HeaderName::Route),
        invite.header(HeaderName::Route)
    );
    assert_eq!(ack.max_forwards().unwrap(), Some(70));

    // Retransmissions of the final response: the same ACK again, no event.
    for at in [1_000, 3_000] {
        h.set(at);
        h.receive(&busy, false);
        let again = h.transmits();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].message.to_bytes(), sent[0].message.to_bytes());
    }
    // A late provisional response is absorbed too.
    h.receive(&response(&invite, 183, "uas"), false);
    assert!(h.transmits().is_empty());
    assert!(h.events().is_empty());

    assert!(h.run_until(32_199).is_empty());
    assert_eq!(h.layer.state(id), Some(State::Completed));
    h.run_until(32_200);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));

    // After Timer D the response matches nothing.
    h.receive(&busy, false);
    assert!(matches!(
        &h.events()[..],
        [Event::StrayResponse { response, source: PEER }] if response.status() == Some(486)
    ));
    assert!(h.transmits().is_empty());
}

#[test]
fn non_2xx_on_reliable_transport_terminates_at_once() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa5", "TCP");
    let id = h.send(&invite, true);
    h.transmits();
    h.receive(&response(&invite, 503, "uas"), true);
    assert_eq!(h.transmits().len(), 1, "the ACK");
    assert!(matches!(
        h.events()[..],
        [Event::Response { .. }, Event::Terminated { id: t }] if t == id
    ));
    assert!(h.layer.is_empty());
}

#[test]
fn first_2xx_enters_accepted_and_every_2xx_reaches_the_tu_until_timer_m() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa6", "UDP");
    let id = h.send(&invite, false);
    h.transmits();
    h.set(300);
    let ok_a = response(&invite, 200, "fork-a");
    h.receive(&ok_a, false);
    assert_eq!(h.layer.state(id), Some(State::Accepted));
    // The ACK for a 2xx is the TU's: the transaction sends nothing.
    assert!(h.transmits().is_empty());
    h.set(800);
    h.receive(&ok_a, false);
    h.set(900);
    h.receive(&response(&invite, 200, "fork-b"), false);
    // Reordered and late non-2xx responses are absorbed in Accepted.
    h.receive(&response(&invite, 180, "fork-a"), false);
    h.receive(&response(&invite, 486, "fork-c"), false);
    let tags: Vec<String> = h
        .events()
        .iter()
        .map(|e| match e {
            Event::Response { id: i, response } if *i == id => {
                assert_eq!(response.status(), Some(200));
                response.to_header().unwrap().tag().unwrap().to_string()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(tags, ["fork-a", "fork-a", "fork-b"]);
    assert!(h.transmits().is_empty());

    assert!(h.run_until(32_299).is_empty());
    assert!(h.events().is_empty());
    h.run_until(32_300);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    h.receive(&ok_a, false);
    assert!(matches!(h.events()[..], [Event::StrayResponse { .. }]));
}

#[test]
fn two_xx_in_accepted_on_reliable_transport_too() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa7", "TLS");
    let id = h.send(&invite, true);
    h.receive(&response(&invite, 200, "x"), true);
    assert_eq!(h.layer.state(id), Some(State::Accepted));
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + common::ms(32_000)));
}

#[test]
fn cancel_bounds_the_wait_for_the_invite_final_response() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa8", "UDP");
    let invite_id = h.send(&invite, false);
    h.set(100);
    h.receive(&response(&invite, 180, "uas"), false);
    h.transmits();
    h.events();

    h.set(2_000);
    let cancel = request(Method::Cancel, "z9hG4bKa8", "UDP");
    let cancel_id = h.send(&cancel, false);
    assert_eq!(h.layer.kind(cancel_id), Some(Kind::ClientNonInvite));
    assert_eq!(h.transmits()[0].message.method(), Some(&Method::Cancel));
    h.set(2_100);
    h.receive(&response(&cancel, 200, "uas"), false);
    assert!(matches!(
        &h.events()[..],
        [Event::Response { id, response }] if *id == cancel_id && response.status() == Some(200)
    ));

    // The UAS never sends 487: the INVITE gives up 64*T1 after the CANCEL.
    h.run_until(33_999);
    assert_eq!(h.layer.state(invite_id), Some(State::Proceeding));
    // Timer K ended the CANCEL's own transaction meanwhile.
    assert!(matches!(h.events()[..], [Event::Terminated { id }] if id == cancel_id));
    h.run_until(34_000);
    let events = h.events();
    assert!(
        matches!(events[..], [Event::Timeout { id }, Event::Terminated { id: t }] if id == invite_id && t == invite_id)
    );
}

#[test]
fn cancel_answered_by_487_ends_normally() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKa9", "UDP");
    let invite_id = h.send(&invite, false);
    h.receive(&response(&invite, 180, "uas"), false);
    let cancel = request(Method::Cancel, "z9hG4bKa9", "UDP");
    let cancel_id = h.send(&cancel, false);
    h.transmits();
    h.receive(&response(&cancel, 200, "uas"), false);
    h.receive(&response(&invite, 487, "uas"), false);
    let events = h.events();
    assert!(matches!(&events[..], [
        Event::Response { id: a, .. },
        Event::Response { id: b, .. },
        Event::Response { id: c, response },
    ] if *a == invite_id && *b == cancel_id && *c == invite_id && response.status() == Some(487)));
    assert_eq!(h.transmits()[0].message.method(), Some(&Method::Ack));
    assert_eq!(h.layer.state(invite_id), Some(State::Completed));
}

#[test]
fn transport_error_terminates_in_any_state() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKb1", "TCP");
    let calling = h.send(&invite, true);
    h.layer.transport_error(calling);
    assert!(matches!(
        h.events()[..],
        [Event::TransportError { id }, Event::Terminated { id: t }] if id == calling && t == calling
    ));
    // A failure reported after the end is ignored.
    h.layer.transport_error(calling);
    assert!(h.events().is_empty());

    let invite = request(Method::Invite, "z9hG4bKb2", "UDP");
    let accepted = h.send(&invite, false);
    h.receive(&response(&invite, 200, "x"), false);
    h.events();
    h.layer.transport_error(accepted);
    assert!(matches!(
        h.events()[..],
        [Event::TransportError { .. }, Event::Terminated { .. }]
    ));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

/// RFC 3261 §9.1: a TU that cancelled an INVITE and got no final response
/// in 64×T1 destroys the transaction, which Proceeding would otherwise
/// keep for ever; what the UAS sends afterwards is a stray.
#[test]
fn an_abandoned_invite_ends_at_once() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKab1", "UDP");
    let id = h.send(&invite, false);
    h.transmits();
    h.receive(&response(&invite, 180, "uas"), false);
    assert!(matches!(&h.events()[..], [Event::Response { .. }]));
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    h.layer.abandon(id);
    assert!(matches!(&h.events()[..], [Event::Terminated { id: t }] if *t == id));
    assert_eq!(h.layer.len(), 0);
    h.receive(&response(&invite, 200, "uas"), false);
    assert!(matches!(&h.events()[..], [Event::StrayResponse { .. }]));
}
