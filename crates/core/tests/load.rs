//! The stack under load: a flood past the high-water mark is refused with
//! 503 (or dropped) while in-dialog traffic passes, and the stack recovers
//! when the flood stops; services registered and unregistered while
//! traffic flows lose nothing; shutdown drains and stops.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use sipjet_core::{
    Handled, IncomingRequest, OverloadConfig, PoolConfig, Service, UdpOverloadAction,
};
use sipjet_message::Method;
use sipjet_testkit::wait_until;

/// Holds whoever passes until it is opened (or the patience runs out,
/// so that a failing test ends).
#[derive(Default)]
struct Gate {
    /// Open, and how many wait.
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |s| !s.0)
            .unwrap();
        state.1 -= 1;
    }

    fn waiting(&self) -> usize {
        self.state.lock().unwrap().1
    }

    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.changed.notify_all();
    }
}

/// Answers MESSAGE once through the gate, so that the test decides when
/// the work piles up and when it drains; INFO at once.
struct Gated(Arc<Gate>);

impl Service for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() == &Method::Message {
            self.0.pass();
        }
        request.reply(200).unwrap();
        Handled::Yes
    }
}

/// A stack of one pool thread, overloaded past 40 queued tasks, whose
/// MESSAGEs wait at `gate`.
fn overloadable(udp: UdpOverloadAction, gate: &Arc<Gate>) -> sipjet_core::SipStack {
    let s = stack_with(|c| {
        c.pool = PoolConfig {
            initial_size: 1,
            auto_increment: 1,
            idle_timeout: Duration::from_secs(60),
            max_size: 1,
        };
        c.overload = OverloadConfig {
            high_water: 40,
            low_water: 30,
            retry_after: 7,
            udp,
            ..OverloadConfig::default()
        };
    });
    s.register_service(Arc::new(Gated(Arc::clone(gate))))
        .unwrap();
    s
}

/// Holds the only pool thread: a MESSAGE from a peer of its own, waiting
/// at the gate. Its 200 comes once the gate opens.
async fn hold_the_thread(stack: &sipjet_core::SipStack, gate: &Gate) -> Peer {
    let holder = Peer::new(udp_addr(stack)).await;
    holder.send(&holder.request("MESSAGE", "holder", "")).await;
    wait_until("the pool thread held at the gate", || gate.waiting() == 1).await;
    holder
}

fn in_dialog(peer: &Peer, method: &str, call_id: &str) -> String {
    peer.request(method, call_id, "")
        .replace(">\r\nCall-ID", ">;tag=established\r\nCall-ID")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_while_dialogs_pass_and_then_it_recovers() {
    let gate = Arc::new(Gate::default());
    let stack = overloadable(UdpOverloadAction::Answer, &gate);
    stack.start().await.unwrap();
    let flood = Peer::new(udp_addr(&stack)).await;
    let dialog = Peer::new(udp_addr(&stack)).await;
    let forged = Peer::new(udp_addr(&stack)).await;
    let dialog_work = stack.create_work("dialog-1");
    stack.register_dialog(
        sipjet_core::dialog::DialogId {
            call_id: "dialog-1".into(),
            local_tag: "established".into(),
            remote_tag: "a-dialog-1".into(),
        },
        dialog_work.clone(),
    );
    let holder = hold_the_thread(&stack, &gate).await;
    // 400 new requests while nothing runs: the queue grows past the
    // high-water mark, and what comes after is refused at once.
    for i in 0..400 {
        flood
            .send(&flood.request("MESSAGE", &format!("flood-{i}"), ""))
            .await;
    }
    let first = flood.final_response().await;
    assert_eq!(first.status(), Some(503));
    assert_eq!(
        first.header(sipjet_message::HeaderName::RetryAfter),
        Some("7")
    );
    // In-dialog traffic during the flood is queued, not refused; a To tag
    // that names no dialog of the stack does not get the same pass.
    forged.send(&in_dialog(&forged, "INFO", "forged-1")).await;
    assert_eq!(forged.final_response().await.status(), Some(503));
    dialog.send(&in_dialog(&dialog, "INFO", "dialog-1")).await;
    wait_until(
        "the in-dialog request queued on its dialog's serializer",
        || dialog_work.queued() == 1,
    )
    .await;
    gate.open();
    let mut busy: u64 = 1;
    let mut ok = 0;
    for _ in 1..400 {
        let r = flood.final_response().await;
        match r.status() {
            Some(503) => {
                busy += 1;
                assert_eq!(r.header(sipjet_message::HeaderName::RetryAfter), Some("7"));
            }
            Some(200) => ok += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(busy > 0 && ok > 0, "refused {busy}, served {ok}");
    assert_eq!(
        stack.refused_requests(),
        busy + 1,
        "the flood and the forged"
    );
    assert_eq!(holder.final_response().await.status(), Some(200));
    assert_eq!(dialog.final_response().await.status(), Some(200));
    // The flood is over and the queue drained: new requests are served.
    let r = flood.ask("MESSAGE", "after", "").await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.call_id().unwrap(), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_udp_a_flood_may_be_dropped_instead() {
    let gate = Arc::new(Gate::default());
    let stack = overloadable(UdpOverloadAction::Drop, &gate);
    stack.start().await.unwrap();
    let holder = hold_the_thread(&stack, &gate).await;
    let flood = Peer::new(udp_addr(&stack)).await;
    for i in 0..400 {
        flood
            .send(&flood.request("MESSAGE", &format!("drop-{i}"), ""))
            .await;
    }
    // Each request of the flood is queued or dropped before anything runs.
    wait_until("every request of the flood queued or dropped", || {
        stack.refused_requests() + stack.pool().queued_tasks() as u64 == 400
    })
    .await;
    let dropped = stack.refused_requests();
    assert!(dropped > 0 && dropped < 400, "{dropped} dropped");
    gate.open();
    // The queued ones are answered, and only they: the next answer after
    // them is the one to a later request.
    for _ in 0..400 - dropped {
        assert_eq!(flood.final_response().await.status(), Some(200));
    }
    assert_eq!(holder.final_response().await.status(), Some(200));
    let after = flood.ask("MESSAGE", "after-drop", "").await;
    assert_eq!(after.status(), Some(200));
    assert_eq!(after.call_id().unwrap(), "after-drop");
}

/// Answers OPTIONS.
struct Options;

impl Service for Options {
    fn name(&self) -> &str {
        "options"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        request.reply(200).unwrap();
        Handled::Yes
    }
}

struct Passive(&'static str);

impl Service for Passive {
    fn name(&self) -> &str {
        self.0
    }
    fn priority(&self) -> i32 {
        1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_while_traffic_flows_loses_nothing() {
    let stack = stack();
    stack.register_service(Arc::new(Options)).unwrap();
    stack.start().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stack, stop) = (stack.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                stack.register_service(Arc::new(Passive("churn"))).unwrap();
                assert!(stack.unregister_service("churn"));
                rounds += 1;
            }
            rounds
        })
    };
    let peer = Peer::new(udp_addr(&stack)).await;
    for i in 0..300 {
        peer.send(&peer.request("OPTIONS", &format!("churn-{i}"), ""))
            .await;
    }
    for _ in 0..300 {
        assert_eq!(peer.final_response().await.status(), Some(200));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_queued_work_then_stops_listening() {
    let stack = stack();
    stack.register_service(Arc::new(Options)).unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    assert_eq!(peer.ask("OPTIONS", "before", "").await.status(), Some(200));
    // A task queued behind one held at a gate is still queued when the
    // shutdown begins.
    let gate = Arc::new(Gate::default());
    let work = stack.create_work("pending");
    let g = Arc::clone(&gate);
    work.push(move || g.pass()).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&ran);
    work.push(move || r2.store(true, Ordering::SeqCst)).unwrap();
    let shutdown = tokio::spawn({
        let stack = stack.clone();
        async move { stack.shutdown(PATIENCE).await }
    });
    wait_until("the pool to refuse new work", || {
        stack.pool().create_work("probe").push(|| ()).is_err()
    })
    .await;
    gate.open();
    shutdown.await.unwrap();
    assert!(
        ran.load(Ordering::SeqCst),
        "queued work ran before the stack stopped"
    );
    assert!(!stack.is_running());
    // Nothing listens on the port any more.
    std::net::UdpSocket::bind(peer.server).expect("the stack released its UDP port");
    assert!(work.push(|| ()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_creates_no_transaction() {
    let stack = stack_with(|c| {
        c.pool = PoolConfig {
            initial_size: 1,
            auto_increment: 1,
            idle_timeout: Duration::from_secs(60),
            max_size: 1,
        };
        c.overload = OverloadConfig {
            high_water: 0,
            low_water: 0,
            ..OverloadConfig::default()
        };
    });
    stack.register_service(Arc::new(Options)).unwrap();
    stack.start().await.unwrap();
    // Block the only thread and queue one task behind it: overloaded.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let work = stack.create_work("blocker");
    work.push(move || {
        let _ = wait.recv_timeout(Duration::from_secs(10));
    })
    .unwrap();
    work.push(|| ()).unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    for i in 0..5 {
        assert_eq!(
            peer.ask("OPTIONS", &format!("refused-{i}"), "")
                .await
                .status(),
            Some(503)
        );
    }
    assert_eq!(stack.refused_requests(), 5);
    assert_eq!(
        stack.transaction_count(),
        0,
        "a refused request leaves no transaction"
    );
    release.send(()).unwrap();
}

/// Takes every INVITE's server transaction and never answers it.
struct Holds(std::sync::Mutex<Vec<sipjet_core::ServerTransaction>>);

impl Service for Holds {
    fn name(&self) -> &str {
        "holds"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() == &Method::Invite {
            self.0.lock().unwrap().push(request.server_transaction());
            return Handled::Yes;
        }
        Handled::No
    }
}

/// The transactions a sender can make the stack keep are bounded: past
/// `max_transactions`, new requests get 503 and leave no state, while
/// the requests of live transactions (a retransmission, a CANCEL) pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_transactions_are_capped() {
    let stack = stack_with(|c| {
        c.overload = OverloadConfig {
            max_transactions: 10,
            ..OverloadConfig::default()
        };
    });
    stack
        .register_service(Arc::new(Holds(Default::default())))
        .unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    for i in 0..10 {
        peer.send(&peer.request("INVITE", &format!("held-{i}"), ""))
            .await;
    }
    // Each held INVITE gets its 100 Trying once it is a transaction.
    for _ in 0..10 {
        assert_eq!(peer.recv().await.status(), Some(100));
    }
    assert_eq!(stack.transaction_count(), 10);
    for i in 0..5 {
        let r = peer.ask("INVITE", &format!("over-{i}"), "").await;
        assert_eq!(r.status(), Some(503), "{r:?}");
        assert!(r.header(sipjet_message::HeaderName::RetryAfter).is_some());
    }
    assert_eq!(stack.transaction_count(), 10);
    // A retransmission of a held INVITE is not new work: its 100 again.
    peer.send(&peer.request("INVITE", "held-3", "")).await;
    assert_eq!(peer.recv().await.status(), Some(100));
    // A CANCEL of a held INVITE is served.
    let cancel = peer
        .request("CANCEL", "held-4", "")
        .replace("branch=z9hG4bKheld-4-CANCEL", "branch=z9hG4bKheld-4-INVITE");
    peer.send(&cancel).await;
    assert_eq!(peer.final_response().await.status(), Some(200));
}
