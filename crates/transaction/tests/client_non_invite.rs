//! Non-INVITE client transactions through the public API: Trying and
//! Proceeding (Timers E and F), Completed (Timer K).

mod common;

use common::{Harness, request, response};
use sipjet_message::Method;
use sipjet_transaction::{Event, Kind, State};

#[test]
fn timer_e_doubles_up_to_t2_and_timer_f_times_out() {
    let mut h = Harness::new();
    let options = request(Method::Options, "z9hG4bKn1", "UDP");
    let id = h.send(&options, false);
    assert_eq!(h.layer.kind(id), Some(Kind::ClientNonInvite));
    assert_eq!(h.layer.state(id), Some(State::Trying));
    assert_eq!(h.transmits().len(), 1);
    let sent = h.run_until(31_999);
    let times: Vec<u64> = sent.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        times,
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(
        sent.iter()
            .all(|(_, t)| t.message.to_bytes() == options.to_bytes())
    );
    assert!(h.events().is_empty());
    h.run_until(32_000);
    assert!(matches!(
        h.events()[..],
        [Event::Timeout { id: a }, Event::Terminated { id: b }] if a == id && b == id
    ));
    assert!(h.layer.is_empty());
}

#[test]
fn timer_e_fires_every_t2_in_proceeding() {
    let mut h = Harness::new();
    let register = request(Method::Register, "z9hG4bKn2", "UDP");
    let id = h.send(&register, false);
    h.run_until(600);
    h.receive(&response(&register, 100, ""), false);
    assert_eq!(h.layer.state(id), Some(State::Proceeding));
    assert!(
        matches!(&h.events()[..], [Event::Response { response, .. }] if response.status() == Some(100))
    );
    let times: Vec<u64> = h.run_until(20_000).iter().map(|(at, _)| *at).collect();
    assert_eq!(times, [1500, 5500, 9500, 13500, 17500]);
}

#[test]
fn final_response_completes_and_timer_k_absorbs_its_retransmissions() {
    let mut h = Harness::new();
    let message = request(Method::Message, "z9hG4bKn3", "UDP");
    let id = h.send(&message, false);
    h.transmits();
    h.set(1_000);
    let accepted = response(&message, 202, "uas");
    h.receive(&accepted, false);
    assert_eq!(h.layer.state(id), Some(State::Completed));
    assert!(
        matches!(&h.events()[..], [Event::Response { response, .. }] if response.status() == Some(202))
    );
    // Retransmitted final and a reordered provisional: absorbed, and no
    // more retransmission of the request.
    h.set(1_500);
    h.receive(&accepted, false);
    h.receive(&response(&message, 100, ""), false);
    assert!(h.events().is_empty());
    assert!(h.run_until(5_999).is_empty());
    h.run_until(6_000);
    assert!(matches!(h.events()[..], [Event::Terminated { id: t }] if t == id));
    h.receive(&accepted, false);
    assert!(matches!(h.events()[..], [Event::StrayResponse { .. }]));
}

#[test]
fn reliable_transport_has_no_timer_e_and_a_zero_timer_k() {
    let mut h = Harness::new();
    let bye = request(Method::Bye, "z9hG4bKn4", "TCP");
    let id = h.send(&bye, true);
    h.transmits();
    assert_eq!(h.layer.poll_timeout(), Some(h.t0 + common::ms(32_000)));
    assert!(h.run_until(10_000).is_empty());
    h.receive(&response(&bye, 200, "uas"), true);
    assert!(matches!(
        h.events()[..],
        [Event::Response { .. }, Event::Terminated { id: t }] if t == id
    ));
    assert!(h.layer.is_empty());
}

#[test]
fn reliable_timeout_is_timer_f() {
    let mut h = Harness::new();
    let id = h.send(&request(Method::Options, "z9hG4bKn5", "TCP"), true);
    assert_eq!(h.transmits().len(), 1);
    assert!(h.run_until(32_000).is_empty());
    assert!(
        matches!(h.events()[..], [Event::Timeout { id: a }, Event::Terminated { .. }] if a == id)
    );
}

#[test]
fn transport_error_in_trying() {
    let mut h = Harness::new();
    let id = h.send(&request(Method::Options, "z9hG4bKn6", "TCP"), true);
    h.layer.transport_error(id);
    assert!(matches!(
        h.events()[..],
        [Event::TransportError { id: a }, Event::Terminated { id: b }] if a == id && b == id
    ));
    assert_eq!(h.layer.poll_timeout(), None);
}
