//! Interop with a real peer: SIPp calls a small UAS built on the
//! transaction layer, and a small UAC on the layer calls SIPp's UAS, over
//! UDP and TCP; with SIPp losing 10% of packets on purpose every call
//! still completes through retransmission.
//!
//! The UA logic here (answering, the 2xx retransmission of RFC 3261
//! §13.3.1.4, the ACK for a 2xx, BYE) is the minimum a call needs; the
//! core's dialog layer does this properly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipjet_message::{Message, Method, generate};
use sipjet_testkit::{Sipp, free_port, loopback, wait_until};
use sipjet_transaction::{Driver, Event, Peer, TimerConfig, TransactionId, TransactionUser};
use sipjet_transport::{Destination, ListenerConfig, Protocol, TransportConfig, Transports};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(120);

async fn start(
    protocol: Protocol,
    port: u16,
    user: Arc<dyn TransactionUser>,
) -> (Driver, Transports) {
    let driver = Driver::new(TimerConfig::default(), user);
    let config = TransportConfig {
        listeners: vec![ListenerConfig::new(protocol, loopback(port))],
        ..TransportConfig::default()
    };
    let transports = Transports::start(config, driver.handler()).await.unwrap();
    driver.attach(transports.clone());
    (driver, transports)
}

/// True when a socket on this machine listens on `port` for `protocol`
/// (bound, for UDP), read from Linux's socket tables: SIPp is ready for
/// calls. Looking does not disturb SIPp as a probe connection or a probe
/// bind would.
fn listening(protocol: Protocol, port: u16) -> bool {
    let (tables, listen_state) = match protocol {
        Protocol::Udp => (["/proc/net/udp", "/proc/net/udp6"], None),
        _ => (["/proc/net/tcp", "/proc/net/tcp6"], Some("0A")),
    };
    let port = format!(":{port:04X}");
    tables
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .any(|table| {
            table.lines().skip(1).any(|line| {
                // sl, local_address, rem_address, st, ...
                let mut columns = line.split_whitespace();
                let local = columns.nth(1).unwrap_or("");
                let state = columns.nth(1);
                local.ends_with(&port) && listen_state.is_none_or(|s| state == Some(s))
            })
        })
}

fn sipp_transport(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "u1",
        _ => "t1",
    }
}

// ---------------------------------------------------------------- the UAS

/// Answers INVITE with 180 and 200 and retransmits the 200 until the ACK
/// comes (RFC 3261 §13.3.1.4: T1 doubling up to T2); answers everything
/// else with 200.
struct TestUas {
    contact: String,
    /// Call-IDs of INVITEs whose 200 is not yet acknowledged.
    unacked: Arc<Mutex<HashSet<String>>>,
}

impl TransactionUser for TestUas {
    fn on_event(&self, driver: &Driver, event: Event<Peer>) {
        match event {
            Event::Request { id, request, .. } if request.method() == Some(&Method::Invite) => {
                let tag = generate::tag();
                let ringing = Message::response_to_with(&request, 180, None, Some(&tag)).unwrap();
                let _ = driver.respond(id, ringing);
                let mut ok = Message::response_to_with(&request, 200, None, Some(&tag)).unwrap();
                ok.add_header("Contact", &self.contact).unwrap();
                let call_id = request.call_id().unwrap().to_string();
                self.unacked.lock().unwrap().insert(call_id.clone());
                let _ = driver.respond(id, ok.clone());
                retransmit_2xx(driver.clone(), Arc::clone(&self.unacked), call_id, id, ok);
            }
            Event::Request { id, request, .. } => {
                let _ = driver.respond(id, Message::response_to(&request, 200).unwrap());
            }
            Event::Ack { request, .. } => {
                if let Ok(call_id) = request.call_id() {
                    self.unacked.lock().unwrap().remove(call_id);
                }
            }
            _ => {}
        }
    }
}

fn retransmit_2xx(
    driver: Driver,
    unacked: Arc<Mutex<HashSet<String>>>,
    call_id: String,
    id: TransactionId,
    ok: Message,
) {
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        while driver.state(id).is_some() {
            tokio::time::sleep(wait).await;
            if !unacked.lock().unwrap().contains(&call_id) {
                return;
            }
            let _ = driver.respond(id, ok.clone());
            wait = (wait * 2).min(Duration::from_secs(4));
        }
    });
}

async fn sipp_calls_our_uas(protocol: Protocol, lost: Option<u32>) {
    let (port, sipp_port) = (free_port(), free_port());
    let uas = Arc::new(TestUas {
        contact: format!(
            "<sip:uas@127.0.0.1:{port};transport={}>",
            protocol.via_name().to_lowercase()
        ),
        unacked: Arc::default(),
    });
    let (_driver, _transports) = start(protocol, port, uas).await;
    let mut sipp = Sipp::builtin("uac")
        .target(loopback(port))
        .local_port(sipp_port)
        .args(["-t", sipp_transport(protocol)])
        .calls(30, 10);
    if let Some(l) = lost {
        sipp = sipp.args(["-lost".to_string(), l.to_string()]);
    }
    let outcome = tokio::task::spawn_blocking(move || sipp.run(LIMIT))
        .await
        .unwrap();
    outcome.assert_success(30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_our_uas_over_udp() {
    sipp_calls_our_uas(Protocol::Udp, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_our_uas_over_udp_losing_ten_percent() {
    sipp_calls_our_uas(Protocol::Udp, Some(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_our_uas_over_tcp() {
    sipp_calls_our_uas(Protocol::Tcp, None).await;
}

// ---------------------------------------------------------------- the UAC

/// What a client transaction tells whoever waits for it.
enum Outcome {
    Response(Message),
    /// No final response will come: Timer B or F fired, the transport
    /// failed, or the transaction is gone.
    Ended,
}

/// Hands every response, and the end of a transaction, to whoever waits
/// for the transaction, and answers a retransmitted 2xx to an INVITE with
/// the ACK again.
#[derive(Default)]
struct TestUac {
    /// Client transaction → who waits for its outcome.
    waiting: Mutex<HashMap<TransactionId, mpsc::UnboundedSender<Outcome>>>,
    /// Call-ID → the ACK sent for it, resent on every 2xx retransmission.
    acks: Mutex<HashMap<String, (Message, Destination)>>,
}

impl TransactionUser for TestUac {
    fn on_event(&self, driver: &Driver, event: Event<Peer>) {
        let (id, outcome) = match event {
            Event::Response { id, response } => {
                let call_id = response.call_id().unwrap_or_default();
                let to_invite = response.cseq().is_ok_and(|c| c.method == "INVITE");
                if response.status() == Some(200)
                    && to_invite
                    && let Some((ack, dest)) = self.acks.lock().unwrap().get(call_id)
                {
                    driver.send_stateless(ack.clone(), Peer::Sent(dest.clone()));
                }
                (id, Outcome::Response(response))
            }
            Event::Timeout { id } | Event::TransportError { id } | Event::Terminated { id } => {
                (id, Outcome::Ended)
            }
            _ => return,
        };
        if let Some(tx) = self.waiting.lock().unwrap().get(&id) {
            let _ = tx.send(outcome);
        }
    }
}

struct Caller {
    uac: Arc<TestUac>,
    driver: Driver,
    protocol: Protocol,
    me: std::net::SocketAddr,
    peer: std::net::SocketAddr,
}

impl Caller {
    fn request(
        &self,
        method: Method,
        call_id: &str,
        from_tag: &str,
        to: &str,
        cseq: u32,
    ) -> Message {
        let target = format!("sip:service@{}", self.peer);
        let mut m = Message::new_request(method.clone(), &target).unwrap();
        let via = format!(
            "SIP/2.0/{} {};branch={};rport",
            self.protocol.via_name(),
            self.me,
            generate::branch()
        );
        m.add_header("Via", &via).unwrap();
        m.add_header("Max-Forwards", "70").unwrap();
        m.add_header("From", &format!("<sip:caller@{}>;tag={from_tag}", self.me))
            .unwrap();
        m.add_header("To", to).unwrap();
        m.add_header("Call-ID", call_id).unwrap();
        m.add_header("CSeq", &format!("{cseq} {method}")).unwrap();
        m.add_header("Contact", &format!("<sip:caller@{}>", self.me))
            .unwrap();
        m
    }

    /// Sends a request and waits for its final response; `None` when the
    /// transaction ends without one (its own timers decide when).
    async fn transact(&self, request: Message) -> Option<Message> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let dest = Destination::new(self.protocol, self.peer);
        let waiting = &self.uac.waiting;
        let id = self
            .driver
            .send_request_then(request, dest, |id| {
                waiting.lock().unwrap().insert(id, tx);
            })
            .ok()?;
        let result = loop {
            match rx.recv().await {
                Some(Outcome::Response(r)) if r.status().is_some_and(|s| s >= 200) => {
                    break Some(r);
                }
                Some(Outcome::Response(_)) => continue,
                Some(Outcome::Ended) | None => break None,
            }
        };
        waiting.lock().unwrap().remove(&id);
        result
    }

    /// INVITE, ACK, BYE.
    async fn call(&self) -> CallEnd {
        let call_id = generate::call_id(Some("sipjet.test"));
        let tag = generate::tag();
        let to = format!("<sip:service@{}>", self.peer);
        let Some(ok) = self
            .transact(self.request(Method::Invite, &call_id, &tag, &to, 1))
            .await
        else {
            return CallEnd::InviteUnanswered;
        };
        if ok.status() != Some(200) {
            return CallEnd::Failed;
        }
        let to_with_tag = ok
            .header(sipjet_message::HeaderName::To)
            .unwrap()
            .to_string();
        let ack = self.request(Method::Ack, &call_id, &tag, &to_with_tag, 1);
        let dest = Destination::new(self.protocol, self.peer);
        self.uac
            .acks
            .lock()
            .unwrap()
            .insert(call_id.clone(), (ack.clone(), dest.clone()));
        self.driver.send_stateless(ack, Peer::Sent(dest));
        let bye = self.request(Method::Bye, &call_id, &tag, &to_with_tag, 2);
        // RFC 3261 §15.1.1: a BYE answered 200, 481 or not at all (SIPp
        // may have forgotten the call when a lost 200 makes us retransmit)
        // ends the dialog all the same.
        let ended = self
            .transact(bye)
            .await
            .is_none_or(|r| matches!(r.status(), Some(200 | 481)));
        self.uac.acks.lock().unwrap().remove(&call_id);
        if ended {
            CallEnd::Completed
        } else {
            CallEnd::Failed
        }
    }
}

/// How one call of [`Caller::call`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallEnd {
    Completed,
    /// No response at all to the INVITE or any of its retransmissions.
    InviteUnanswered,
    Failed,
}

async fn our_uac_calls_sipp(protocol: Protocol, lost: Option<u32>) {
    let (port, sipp_port) = (free_port(), free_port());
    let calls = 20;
    let mut sipp = Sipp::builtin("uas")
        .local_port(sipp_port)
        .args(["-t", sipp_transport(protocol)])
        .args(["-m".to_string(), calls.to_string()]);
    if let Some(l) = lost {
        sipp = sipp.args(["-lost".to_string(), l.to_string()]);
    }
    let sipp = sipp.spawn();
    wait_until("SIPp listening", || listening(protocol, sipp_port)).await;
    let uac = Arc::new(TestUac::default());
    let (driver, transports) = start(protocol, port, uac.clone()).await;
    let caller = Arc::new(Caller {
        uac,
        driver,
        protocol,
        me: transports.sent_by(protocol).unwrap(),
        peer: loopback(sipp_port),
    });
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let caller = Arc::clone(&caller);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50 * i)).await;
                caller.call().await
            })
        })
        .collect();
    let mut ends = Vec::new();
    for t in tasks {
        // Each call ends by its transactions' own timers; the limit only
        // keeps a bug from hanging the run.
        ends.push(tokio::time::timeout(LIMIT, t).await.unwrap().unwrap());
    }
    let count = |e| ends.iter().filter(|&&x| x == e).count() as u64;
    let (completed, unanswered) = (count(CallEnd::Completed), count(CallEnd::InviteUnanswered));
    let outcome = tokio::task::spawn_blocking(move || sipp.wait(LIMIT))
        .await
        .unwrap();
    if lost.is_none() {
        assert_eq!(completed, calls, "calls completed: {ends:?}");
        outcome.assert_success(calls);
        return;
    }
    // With -lost, SIPp sometimes aborts a call whose first INVITE it
    // dropped, and then discards every retransmission of it as a message
    // of a dead call: such a call fails on SIPp's side before any answer.
    // Every other call completes through retransmissions, and the only
    // calls that did not are exactly the ones SIPp counts as failed.
    assert_eq!(
        completed + unanswered,
        calls,
        "no call may fail once SIPp has answered its INVITE: {ends:?}"
    );
    assert!(unanswered <= 3, "{unanswered} INVITEs were never answered");
    assert_eq!(
        (outcome.successful, outcome.failed),
        (completed, unanswered),
        "our unanswered calls are SIPp's failed ones\n{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_uac_calls_sipp_uas_over_udp() {
    our_uac_calls_sipp(Protocol::Udp, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_uac_calls_sipp_uas_over_udp_losing_ten_percent() {
    our_uac_calls_sipp(Protocol::Udp, Some(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_uac_calls_sipp_uas_over_tcp() {
    our_uac_calls_sipp(Protocol::Tcp, None).await;
}
