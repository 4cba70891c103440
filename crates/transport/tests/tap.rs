//! The tap sees every valid message received, as it was on the wire, and
//! every message sent, with the flow each went on; nothing while it is
//! not active.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use sipjet_message::Message;
use sipjet_transport::{
    Destination, Direction, Flow, ListenerConfig, Protocol, Tap, TapSlot, Tapped,
};

#[derive(Default)]
struct Recorder {
    on: AtomicBool,
    seen: Mutex<Vec<(Direction, Vec<u8>, Flow)>>,
}

impl Tap for Recorder {
    fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
    fn on_message(&self, t: Tapped<'_>) {
        self.seen
            .lock()
            .unwrap()
            .push((t.direction, t.wire.to_vec(), *t.flow));
    }
}

#[tokio::test]
async fn the_tap_sees_what_goes_in_and_out_while_active() {
    let recorder = Arc::new(Recorder::default());
    let mut cfg = config(vec![ListenerConfig::udp(any_port())], Default::default());
    cfg.tap = TapSlot(Some(Arc::clone(&recorder) as Arc<dyn Tap>));
    let (t, mut inbox) = start(cfg).await;
    let server = addr_of(&t, Protocol::Udp);
    let peer = UdpSocket::bind(any_port()).unwrap();
    let peer_addr = peer.local_addr().unwrap();

    // Inactive: nothing is handed over.
    peer.send_to(options("UDP", peer_addr, "off").as_bytes(), server)
        .unwrap();
    inbox.next().await;
    assert!(recorder.seen.lock().unwrap().is_empty());

    recorder.on.store(true, Ordering::Relaxed);
    let wire = options("UDP", peer_addr, "on");
    peer.send_to(wire.as_bytes(), server).unwrap();
    let got = inbox.next().await;
    // The handler's copy has received/rport; the tap's is the wire's.
    let answer = Message::response_to(&got.message, 200).unwrap();
    let dest = Destination::new(Protocol::Udp, peer_addr);
    t.send(&answer, &dest).await.unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, Direction::Received);
    assert_eq!(seen[0].1, wire.as_bytes());
    assert_eq!((seen[0].2.local, seen[0].2.remote), (server, peer_addr));
    assert_eq!(seen[1].0, Direction::Sent);
    assert_eq!(seen[1].1, answer.to_bytes().to_vec());
    assert_eq!((seen[1].2.local, seen[1].2.remote), (server, peer_addr));
    // The try_send path (responses and retransmissions) is tapped too.
    t.try_send(&answer, &dest).unwrap().unwrap();
    assert_eq!(recorder.seen.lock().unwrap().len(), 3);
}
