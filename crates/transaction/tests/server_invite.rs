//! INVITE server transactions through the public API: Proceeding (the
//! 100 Trying delay), Completed (Timers G and H), Confirmed (Timer I),
//! Accepted (Timer L), the TU's mistakes, transport errors.

mod common;

use common::{Harness, PEER, ack, ms, request, response, statuses};
use sipjet_message::{HeaderName, Method};
use sipjet_transaction::{Event, Kind, State, TimerConfig, TransactionError};

#[test]
fn trying_goes_out_when_the_tu_is_slower_than_the_delay() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs1", "UDP");
    let id = h.receive_new(&invite, false);
    assert_eq!(h.layer.kind(id), Some(Kind::ServerInvite));
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    assert!(h.transmits().is_empty());
    assert!(h.run_until(199).is_empty());
    let sent = h.run_until(200);
    assert_eq!(sent.len(), 1);
    let (at, trying) = &sent[0];
    assert_eq!(*at, 200);
    assert_eq!(trying.id, Some(id));
    assert_eq!(trying.dest, PEER);
    assert_eq!(trying.message.status(), Some(100));
    assert_eq!(trying.message.to_header().unwrap().tag(), None);
    assert_eq!(trying.message.vias().count(), 2);
    assert_eq!(trying.message.header(HeaderName::CSeq), Some("10 INVITE"));
    assert_eq!(h.layer.poll_timeout(), None);

    // A retransmitted INVITE gets the 100 again.
    h.set(500);
    h.receive(&invite, false);
    assert_eq!(statuses(&h.transmits()), [Some(100)]);
    assert!(h.events().is_empty());
}

#[test]
fn a_quick_provisional_replaces_trying_and_is_resent_for_retransmissions() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs2", "UDP");
    let id = h.receive_new(&invite, false);
    h.set(50);
    h.respond(id, &response(&invite, 180, "uas"));
    assert_eq!(statuses(&h.transmits()), [Some(180)]);
    assert_eq!(h.layer.poll_timeout(), None, "no 100 after a 180");
    h.receive(&invite, false);
    h.respond(id, &response(&invite, 183, "uas"));
    h.receive(&invite, false);
    assert_eq!(statuses(&h.transmits()), [Some(180), Some(183), Some(183)]);
}

#[test]
fn retransmitted_invite_before_the_delay_gets_trying_at_once() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs3", "UDP");
    h.receive_new(&invite, false);
    h.set(100);
    h.receive(&invite, false);
    assert_eq!(statuses(&h.transmits()), [Some(100)]);
    assert!(
        h.run_until(1_000).is_empty(),
        "the delayed 100 is not sent again"
    );
}

#[test]
fn zero_delay_sends_trying_with_the_request() {
    let mut h = Harness::with(TimerConfig {
        trying_delay: ms(0),
        ..TimerConfig::default()
    });
    let invite = request(Method::Invite, "z9hG4bKs4", "UDP");
    h.receive_new(&invite, false);
    assert_eq!(statuses(&h.transmits()), [Some(100)]);
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn timer_g_retransmits_the_final_response_and_timer_h_times_out() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs5", "UDP");
    let id = h.receive_new(&invite, false);
    h.set(100);
    let busy = response(&invite, 486, "uas");
    h.respond(id, &busy);
    assert_eq!(h.layer.state(id), Some(State::Completed));
    assert_eq!(statuses(&h.transmits()), [Some(486)]);
    let sent = h.run_until(32_099);
    let times: Vec<u64> = sent.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        times,
        [
            600, 1600, 3600, 7600, 11600, 15600, 19600, 23600, 27600, 31600
        ]
    );
    assert!(
        sent.iter()
            .all(|(_, t)| t.message.to_bytes() == busy.to_bytes())
    );
    // A retransmitted INVITE in Completed gets the final response too.
    h.receive(&invite, false);
    assert_eq!(statuses(&h.transmits()), [Some(486)]);
    assert!(h.events().is_empty());
    h.run_until(32_100);
    assert!(matches!(
        h.events()[..],
        [Event::Timeout { id: a }, Event::Terminated { id: b }] if a == id && b == id
    ));
    assert!(h.layer.is_empty());
}

#[test]
fn ack_confirms_and_timer_i_absorbs_ack_retransmissions() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs6", "UDP");
    let id = h.receive_new(&invite, false);
    h.respond(id, &response(&invite, 404, "uas"));
    h.transmits();
    assert_eq!(h.run_until(500).len(), 1, "Timer G");
    h.set(700);
    let the_ack = ack("z9hG4bKs6", "UDP", "uas");
    h.receive(&the_ack, false);
    assert_eq!(h.layer.state(id), Some(State::Confirmed));
    assert!(
        h.events().is_empty(),
        "the ACK for a non-2xx stays in the transaction"
    );
    // Duplicate ACKs and INVITEs are absorbed; Timer G stopped.
    h.set(800);
    h.receive(&the_ack, false);
    h.receive(&invite, false);
    assert!(h.events().is_empty());
    assert!(h.run_until(5_699).is_empty());
    assert_eq!(h.layer.state(id), Some(State::Confirmed));
    h.run_until(5_700);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
}

#[test]
fn reliable_transport_has_no_timer_g_and_a_zero_timer_i() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs7", "TCP");
    let id = h.receive_new(&invite, true);
    h.respond(id, &response(&invite, 600, "uas"));
    assert_eq!(statuses(&h.transmits()), [Some(600)]);
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + ms(32_000)));
    h.set(300);
    h.receive(&ack("z9hG4bKs7", "TCP", "uas"), true);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    assert!(h.layer.is_empty());
}

#[test]
fn reliable_timer_h_still_waits_for_the_ack() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs8", "TCP");
    let id = h.receive_new(&invite, true);
    h.respond(id, &response(&invite, 486, "uas"));
    assert_eq!(h.transmits().len(), 1);
    assert_eq!(h.run_until(40_000).len(), 0, "no Timer G");
    assert!(
        matches!(h.events()[..], [Event::Timeout { id: a }, Event::Terminated { .. }] if a == id)
    );
}

#[test]
fn two_xx_enters_accepted_where_the_tu_owns_retransmission_and_ack() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKs9", "UDP");
    let id = h.receive_new(&invite, false);
    let ok = response(&invite, 200, "uas");
    h.respond(id, &ok);
    assert_eq!(h.layer.state(id), Some(State::Accepted));
    assert_eq!(statuses(&h.transmits()), [Some(200)]);

    // No Timer G in Accepted: the TU retransmits the 2xx.
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + ms(32_000)));
    h.set(500);
    h.receive(&invite, false);
    assert!(h.transmits().is_empty(), "retransmitted INVITE absorbed");
    h.respond(id, &ok);
    assert_eq!(statuses(&h.transmits()), [Some(200)]);

    // The ACK for the 2xx (new branch) and a duplicate reach the TU.
    h.set(600);
    let ack_2xx = ack("z9hG4bKnew", "UDP", "uas");
    h.receive(&ack_2xx, false);
    h.receive(&ack_2xx, false);
    // An ACK reusing the INVITE's branch matches the transaction and is
    // passed through in Accepted.
    h.receive(&ack("z9hG4bKs9", "UDP", "uas"), false);
    let events = h.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| matches!(e, Event::Ack { source: PEER, request } if request.method() == Some(&Method::Ack))));
    assert_eq!(h.layer.state(id), Some(State::Accepted));

    h.run_until(32_000);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    // After Timer L the INVITE is new again.
    h.receive(&invite, false);
    assert!(matches!(h.events()[..], [Event::Request { .. }]));
}

#[test]
fn the_tu_may_send_several_2xx_but_nothing_after_a_final() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKt1", "UDP");
    let id = h.receive_new(&invite, false);
    h.respond(id, &response(&invite, 200, "fork-a"));
    h.respond(id, &response(&invite, 200, "fork-b"));
    assert_eq!(statuses(&h.transmits()), [Some(200), Some(200)]);
    for code in [180, 486] {
        assert_eq!(
            h.layer.respond(id, response(&invite, code, "x"), h.now),
            Err(TransactionError::FinalResponseSent { id, status: code })
        );
    }

    let invite = request(Method::Invite, "z9hG4bKt2", "UDP");
    let id = h.receive_new(&invite, false);
    h.respond(id, &response(&invite, 486, "uas"));
    let err = h
        .layer
        .respond(id, response(&invite, 200, "uas"), h.now)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("transaction {id} has sent its final response; a 200 cannot follow")
    );
    assert_eq!(
        h.layer.respond(id, invite.clone(), h.now),
        Err(TransactionError::NotAResponse)
    );
}

#[test]
fn responding_to_what_is_not_a_live_server_transaction_fails() {
    let mut h = Harness::new();
    let options = request(Method::Options, "z9hG4bKt3", "UDP");
    let client = h.send(&options, false);
    assert_eq!(
        h.layer.respond(client, response(&options, 200, "x"), h.now),
        Err(TransactionError::NotServer(client))
    );
    h.layer.transport_error(client);
    assert_eq!(
        h.layer.respond(client, response(&options, 200, "x"), h.now),
        Err(TransactionError::UnknownTransaction(client))
    );
}

#[test]
fn transport_error_while_sending_a_response() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKt4", "TCP");
    let id = h.receive_new(&invite, true);
    h.respond(id, &response(&invite, 486, "uas"));
    h.layer.transport_error(id);
    assert!(matches!(
        h.events()[..],
        [Event::TransportError { id: a }, Event::Terminated { id: b }] if a == id && b == id
    ));
    assert_eq!(h.layer.poll_timeout(), None);
}

/// RFC 3261 §8.2.7: a non-2xx answered statelessly leaves once, with no
/// Timer G retransmissions and no Timer H: the transaction is gone at
/// once, its ACK goes to the TU like any ACK without a transaction, and
/// the INVITE sent again is a new request. A 2xx still makes the
/// transaction stateful.
#[test]
fn a_stateless_non_2xx_leaves_once_and_keeps_no_transaction() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "z9hG4bKsl1", "UDP");
    let id = h.receive_new(&invite, false);
    h.layer
        .respond_stateless(id, response(&invite, 401, "uas"), h.now)
        .unwrap();
    assert_eq!(statuses(&h.transmits()), [Some(401)]);
    assert!(matches!(&h.events()[..], [Event::Terminated { id: ended }] if *ended == id));
    assert_eq!(h.layer.len(), 0);
    assert_eq!(h.layer.state(id), None);
    assert!(h.run_until(64_000).is_empty(), "no Timer G retransmission");

    h.receive(&ack("z9hG4bKsl1", "UDP", "uas"), false);
    let events = h.events();
    assert!(
        matches!(&events[..], [Event::Ack { .. }]),
        "the ACK goes up: {events:?}"
    );
    let again = h.receive_new(&invite, false);
    assert_ne!(again, id);

    let ok_invite = request(Method::Invite, "z9hG4bKsl2", "UDP");
    let ok_id = h.receive_new(&ok_invite, false);
    h.layer
        .respond_stateless(ok_id, response(&ok_invite, 200, "uas"), h.now)
        .unwrap();
    assert_eq!(h.layer.state(ok_id), Some(State::Accepted));
}
