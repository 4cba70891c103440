//! Non-INVITE server transactions through the public API: Trying,
//! Proceeding, Completed (Timer J).

mod common;

use common::{Harness, ms, request, response, statuses};
use sipjet_message::Method;
use sipjet_transaction::{Event, Kind, State};

#[test]
fn retransmissions_get_the_last_response_and_timer_j_ends() {
    let mut h = Harness::new();
    let register = request(Method::Register, "z9hG4bKr1", "UDP");
    let id = h.receive_new(&register, false);
    assert_eq!(h.layer.kind(id), Some(Kind::ServerNonInvite));
    assert_eq!(h.layer.state(id), Some(State::Trying));
    assert_eq!(h.layer.poll_timeout(), None);

    // Trying: nothing to re-send, nothing new for the TU.
    h.set(500);
    h.receive(&register, false);
    assert!(h.transmits().is_empty());
    assert!(h.events().is_empty());

    h.respond(id, &response(&register, 100, ""));
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    h.receive(&register, false);
    assert_eq!(statuses(&h.transmits()), [Some(100), Some(100)]);

    h.set(1_000);
    let ok = response(&register, 200, "uas");
    h.respond(id, &ok);
    assert_eq!(h.layer.state(id), Some(State::Completed));
    h.set(1_500);
    h.receive(&register, false);
    h.receive(&register, false);
    let sent = h.transmits();
    assert_eq!(statuses(&sent), [Some(200), Some(200), Some(200)]);
    assert!(sent.iter().all(|t| t.message.to_bytes() == ok.to_bytes()));
    assert!(h.events().is_empty());

    assert!(h.run_until(32_999).is_empty(), "no retransmission timer");
    h.run_until(33_000);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    // After Timer J a copy of the request is a new request.
    h.receive(&register, false);
    assert!(matches!(h.events()[..], [Event::Request { id: new, .. }] if new != id));
}

#[test]
fn reliable_transport_has_a_zero_timer_j() {
    let mut h = Harness::new();
    let options = request(Method::Options, "z9hG4bKr2", "TCP");
    let id = h.receive_new(&options, true);
    h.respond(id, &response(&options, 200, "uas"));
    assert_eq!(statuses(&h.transmits()), [Some(200)]);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    assert!(h.layer.is_empty());
}

#[test]
fn many_transactions_share_one_timer_queue() {
    let mut h = Harness::new();
    let mut ids = Vec::new();
    for i in 0..5_000u64 {
        h.set(i);
        let req = request(Method::Message, &format!("z9hG4bKmany{i}"), "UDP");
        let id = h.receive_new(&req, false);
        h.respond(id, &response(&req, 200, "uas"));
        ids.push(id);
    }
    assert_eq!(h.layer.len(), 5_000);
    assert_eq!(h.transmits().len(), 5_000);
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + ms(32_000)));
    h.run_until(34_499);
    assert_eq!(h.layer.len(), 2_500);
    h.run_until(36_999);
    assert!(h.layer.is_empty());
    let ended: Vec<_> = h
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Terminated { id } => id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ended, ids, "terminated in the order their Timer J fired");
}
