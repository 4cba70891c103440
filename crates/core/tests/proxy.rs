//! The stateful proxy over real sockets: a service that forwards every new
//! request to the targets a test sets, and the dialog's later requests
//! along the route it recorded; raw UDP user agents play caller and
//! callees and check each message that reaches them.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sipjet_core::proxy::ContextTimers;
use sipjet_core::{
    Handled, HeaderName, IncomingRequest, Message, Method, ProxyOptions, Service, SipStack, Target,
};
use tokio::net::UdpSocket;

/// Forwards new requests to `targets`, in-dialog ones by their Route.
struct Forward {
    targets: Mutex<Vec<Target>>,
    options: ProxyOptions,
    /// What it says of itself in [`Service::runs_inline`].
    inline: bool,
}

impl Service for Forward {
    fn name(&self) -> &str {
        "forward"
    }
    fn runs_inline(&self) -> bool {
        self.inline
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.is_routed_by_us() {
            let _ = request
                .stack()
                .proxy_in_dialog(request, self.options.timers);
            return Handled::Yes;
        }
        if request.has_to_tag() || request.method() == &Method::Ack {
            return Handled::No;
        }
        let targets = self.targets.lock().unwrap().clone();
        let _ = request.stack().proxy(request, targets, &self.options);
        Handled::Yes
    }
}

async fn proxy_with(options: ProxyOptions) -> (SipStack, Arc<Forward>, SocketAddr) {
    proxy_running(options, false, &[]).await
}

/// A proxy whose forwarding service says it runs inline or not, with
/// `others` registered beside it.
async fn proxy_running(
    options: ProxyOptions,
    inline: bool,
    others: &[Arc<dyn Service>],
) -> (SipStack, Arc<Forward>, SocketAddr) {
    let stack = stack();
    for other in others {
        stack.register_service(Arc::clone(other)).unwrap();
    }
    let forward = Arc::new(Forward {
        targets: Mutex::new(Vec::new()),
        options,
        inline,
    });
    stack.register_service(forward.clone()).unwrap();
    stack.start().await.unwrap();
    let addr = udp_addr(&stack);
    (stack, forward, addr)
}

/// A user agent on a raw UDP socket.
struct Ua {
    sock: UdpSocket,
    addr: SocketAddr,
    proxy: SocketAddr,
}

impl Ua {
    async fn new(proxy: SocketAddr) -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        Ua { sock, addr, proxy }
    }

    fn target(&self) -> Target {
        Target::new(format!("sip:ua@{}", self.addr))
    }

    async fn send(&self, m: &Message) {
        self.send_to(m, self.proxy).await;
    }

    async fn send_to(&self, m: &Message, to: SocketAddr) {
        self.sock.send_to(&m.to_bytes(), to).await.unwrap();
    }

    async fn recv(&self) -> Message {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(PATIENCE, self.sock.recv_from(&mut buf))
            .await
            .expect("a message in time")
            .unwrap();
        Message::parse(buf[..n].to_vec()).unwrap()
    }

    /// The next message that is not a 100 Trying.
    async fn next(&self) -> Message {
        loop {
            let m = self.recv().await;
            if m.status() != Some(100) {
                return m;
            }
        }
    }

    /// An INVITE (or another method) to `sip:bob@proxy` from this UA.
    fn request(&self, method: &str, call_id: &str, extra: &str) -> Message {
        let text = format!(
            "{method} sip:bob@{proxy} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}{method};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@{me}>;tag=a-{call_id}\r\n\
To: <sip:bob@{proxy}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 {method}\r\n\
Contact: <sip:alice@{me}>\r\n\
{extra}Content-Length: 0\r\n\r\n",
            proxy = self.proxy,
            me = self.addr,
        );
        Message::parse(text.into_bytes()).unwrap()
    }

    /// Answers `request` with `code`, tagging To with `tag`, as a UAS
    /// does: Record-Route copied, a Contact of its own.
    async fn answer(&self, request: &Message, code: u16, tag: &str) {
        let mut r = Message::response_to_with(request, code, None, Some(tag)).unwrap();
        if (101..300).contains(&code) {
            for rr in request.headers(HeaderName::RecordRoute) {
                r.add_header("Record-Route", rr).unwrap();
            }
            r.add_header("Contact", &format!("<sip:ua@{}>", self.addr))
                .unwrap();
        }
        self.send_to(&r, reply_address(request)).await;
    }
}

/// Where a response to `request` goes: its top Via's sent-by.
fn reply_address(request: &Message) -> SocketAddr {
    let via = request.via().unwrap();
    let port = via.rport().flatten().or(via.port).unwrap_or(5060);
    SocketAddr::new(via.received().unwrap_or(via.host.ip().unwrap()), port)
}

/// A request in the dialog a 2xx set up, as the side that got `ok` (the
/// caller) builds it: its Request-URI the remote Contact, its Route the
/// Record-Route reversed.
fn in_dialog(from: &Ua, method: &str, ok: &Message, cseq: u32) -> Message {
    let contact = ok.contacts().next().unwrap().unwrap();
    let target = contact.addr().unwrap().uri_str().to_string();
    let mut routes: Vec<String> = ok
        .record_routes()
        .map(|r| r.unwrap().as_str().to_string())
        .collect();
    routes.reverse();
    let mut text = format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq};rport\r\n\
Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
        me = from.addr,
        from = ok.header(HeaderName::From).unwrap(),
        to = ok.header(HeaderName::To).unwrap(),
        call_id = ok.call_id().unwrap(),
    );
    for r in routes {
        text.push_str(&format!("Route: {r}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    Message::parse(text.into_bytes()).unwrap()
}

/// The callee's view of the same dialog: From and To swapped, the route
/// set the Record-Route in order.
fn in_dialog_from_callee(callee: &Ua, method: &str, invite: &Message, tag: &str) -> Message {
    let text = format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKcallee{method};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\n\
CSeq: 1 {method}\r\n{routes}Content-Length: 0\r\n\r\n",
        target = invite
            .contacts()
            .next()
            .unwrap()
            .unwrap()
            .addr()
            .unwrap()
            .uri_str(),
        me = callee.addr,
        from = invite.header(HeaderName::From).unwrap(),
        call_id = invite.call_id().unwrap(),
        routes = invite
            .headers(HeaderName::RecordRoute)
            .map(|r| format!("Route: {r}\r\n"))
            .collect::<String>(),
    );
    Message::parse(text.into_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_set_up_acknowledged_and_ended_through_the_proxy() {
    let (_stack, forward, proxy) = proxy_with(ProxyOptions::default()).await;
    let (caller, callee) = (Ua::new(proxy).await, Ua::new(proxy).await);
    *forward.targets.lock().unwrap() = vec![callee.target()];
    caller.send(&caller.request("INVITE", "call-1", "")).await;

    let invite = callee.next().await;
    assert_eq!(
        invite.request_uri(),
        Some(format!("sip:ua@{}", callee.addr).as_str())
    );
    assert_eq!(invite.max_forwards().unwrap(), Some(69));
    assert_eq!(invite.vias().count(), 2);
    let rr: Vec<_> = invite.headers(HeaderName::RecordRoute).collect();
    assert_eq!(rr.len(), 1, "{rr:?}");
    assert!(
        rr[0].starts_with(&format!("<sip:{proxy};lr;sjr=")),
        "{rr:?}"
    );

    callee.answer(&invite, 180, "b1").await;
    let ringing = caller.next().await;
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.vias().count(), 1, "the proxy's Via is gone");
    callee.answer(&invite, 200, "b1").await;
    let ok = caller.next().await;
    assert_eq!(ok.status(), Some(200));

    // The ACK for the 2xx goes end to end along the recorded route.
    caller.send(&in_dialog(&caller, "ACK", &ok, 1)).await;
    let ack = callee.next().await;
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(
        ack.request_uri(),
        Some(format!("sip:ua@{}", callee.addr).as_str())
    );
    assert!(!ack.has(HeaderName::Route));
    assert_eq!(ack.vias().count(), 2);

    // The callee hangs up: the BYE comes through the proxy, with no
    // credentials asked, and its 200 goes back.
    callee
        .send(&in_dialog_from_callee(&callee, "BYE", &invite, "b1"))
        .await;
    let bye = caller.next().await;
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.request_uri(),
        Some(format!("sip:alice@{}", caller.addr).as_str())
    );
    caller.answer(&bye, 200, "a-call-1").await;
    let bye_ok = callee.next().await;
    assert_eq!(bye_ok.status(), Some(200));
    assert_eq!(bye_ok.cseq().unwrap().method, "BYE");
}

/// Notes the thread each response it sees is handled on; runs inline.
#[derive(Default)]
struct ResponseThreads(Mutex<Vec<String>>);

impl Service for ResponseThreads {
    fn name(&self) -> &str {
        "response-threads"
    }
    fn runs_inline(&self) -> bool {
        true
    }
    fn on_rx_response(&self, _response: &sipjet_core::IncomingResponse) -> Handled {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.0.lock().unwrap().push(name);
        Handled::No
    }
}

/// The responses to a proxy's branch are handled on the thread that
/// received them when everything they meet runs inline, and handed to a
/// pool thread when a service may wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branchs_responses_are_handled_where_they_arrive_when_nothing_waits() {
    for inline in [true, false] {
        let threads = Arc::new(ResponseThreads::default());
        let (_stack, forward, proxy) = proxy_running(
            ProxyOptions::default(),
            inline,
            &[threads.clone() as Arc<dyn Service>],
        )
        .await;
        let (caller, callee) = (Ua::new(proxy).await, Ua::new(proxy).await);
        *forward.targets.lock().unwrap() = vec![callee.target()];
        let call_id = format!("threads-{inline}");
        caller.send(&caller.request("INVITE", &call_id, "")).await;
        let invite = callee.next().await;
        callee.answer(&invite, 180, "b1").await;
        assert_eq!(caller.next().await.status(), Some(180));
        callee.answer(&invite, 486, "b1").await;
        assert_eq!(caller.next().await.status(), Some(486));
        let seen = threads.0.lock().unwrap().clone();
        assert!(seen.len() >= 2, "{seen:?}");
        let on_pool = seen.iter().filter(|t| t.starts_with("sip-pool")).count();
        if inline {
            assert_eq!(on_pool, 0, "handled where they arrived: {seen:?}");
        } else {
            assert_eq!(on_pool, seen.len(), "handed to the pool: {seen:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_forks_one_answers_the_other_is_cancelled() {
    let (_stack, forward, proxy) = proxy_with(ProxyOptions::default()).await;
    let caller = Ua::new(proxy).await;
    let (first, second) = (Ua::new(proxy).await, Ua::new(proxy).await);
    *forward.targets.lock().unwrap() = vec![first.target(), second.target()];
    caller.send(&caller.request("INVITE", "fork-1", "")).await;
    let (a, b) = (first.next().await, second.next().await);
    first.answer(&a, 180, "f1").await;
    second.answer(&b, 180, "f2").await;
    assert_eq!(caller.next().await.status(), Some(180));
    assert_eq!(caller.next().await.status(), Some(180));
    first.answer(&a, 200, "f1").await;
    assert_eq!(caller.next().await.status(), Some(200));
    // The second fork is cancelled: same branch as its INVITE.
    let cancel = second.next().await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.via().unwrap().branch(), b.via().unwrap().branch());
    second.answer(&cancel, 200, "f2").await;
    second.answer(&b, 487, "f2").await;
    // Its 487 is absorbed (and acknowledged by the proxy's transaction).
    let ack = second.next().await;
    assert_eq!(ack.method(), Some(&Method::Ack));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_cancel_reaches_the_callee_and_ends_in_487() {
    let (_stack, forward, proxy) = proxy_with(ProxyOptions::default()).await;
    let (caller, callee) = (Ua::new(proxy).await, Ua::new(proxy).await);
    *forward.targets.lock().unwrap() = vec![callee.target()];
    let invite = caller.request("INVITE", "cancel-1", "");
    caller.send(&invite).await;
    let got = callee.next().await;
    callee.answer(&got, 180, "c1").await;
    assert_eq!(caller.next().await.status(), Some(180));
    let cancel = Message::parse(
        String::from_utf8(invite.to_bytes().to_vec())
            .unwrap()
            .replace("INVITE sip:", "CANCEL sip:")
            .replace("1 INVITE", "1 CANCEL")
            .into_bytes(),
    )
    .unwrap();
    caller.send(&cancel).await;
    // 200 to the CANCEL from the proxy; the callee gets one of its own.
    let to_cancel = caller.next().await;
    assert_eq!(
        (to_cancel.status(), to_cancel.cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    let their_cancel = callee.next().await;
    assert_eq!(their_cancel.method(), Some(&Method::Cancel));
    callee.answer(&their_cancel, 200, "c1").await;
    callee.answer(&got, 487, "c1").await;
    let terminated = caller.next().await;
    assert_eq!(terminated.status(), Some(487));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_c_cancels_a_branch_that_rings_too_long() {
    let options = ProxyOptions {
        record_route: true,
        timers: ContextTimers {
            timer_c: Duration::from_millis(400),
            cancel_wait: Duration::from_secs(5),
        },
    };
    let (_stack, forward, proxy) = proxy_with(options).await;
    let (caller, callee) = (Ua::new(proxy).await, Ua::new(proxy).await);
    *forward.targets.lock().unwrap() = vec![callee.target()];
    caller
        .send(&caller.request("INVITE", "timer-c-1", ""))
        .await;
    let got = callee.next().await;
    callee.answer(&got, 180, "t1").await;
    assert_eq!(caller.next().await.status(), Some(180));
    // Nobody answers: Timer C cancels the branch.
    let cancel = callee.next().await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    callee.answer(&cancel, 200, "t1").await;
    callee.answer(&got, 487, "t1").await;
    assert_eq!(caller.next().await.status(), Some(408));
}

/// A proxied call's Timer C is no task of its own, and an answered call
/// leaves nothing behind for it: a busy proxy does not keep a sleeping
/// task (and the call's allocation) for every call of the last three
/// minutes, nor wake a thread to start and stop one per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_leaves_no_timer_task_behind() {
    let (_stack, forward, proxy) = proxy_with(ProxyOptions::default()).await;
    let (caller, callee) = (Ua::new(proxy).await, Ua::new(proxy).await);
    *forward.targets.lock().unwrap() = vec![callee.target()];
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    caller
        .send(&caller.request("INVITE", "timer-c-2", ""))
        .await;
    let invite = callee.next().await;
    callee.answer(&invite, 180, "t2").await;
    assert_eq!(caller.next().await.status(), Some(180));
    assert!(metrics.num_alive_tasks() <= before, "ringing");
    callee.answer(&invite, 200, "t2").await;
    assert_eq!(caller.next().await.status(), Some(200));
    assert!(metrics.num_alive_tasks() <= before, "answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hops_run_out_and_loops_are_caught() {
    let (_stack, forward, proxy) = proxy_with(ProxyOptions::default()).await;
    let caller = Ua::new(proxy).await;
    caller
        .send(
            &Message::parse(
                String::from_utf8(caller.request("MESSAGE", "mf-1", "").to_bytes().to_vec())
                    .unwrap()
                    .replace("Max-Forwards: 70", "Max-Forwards: 0")
                    .into_bytes(),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(caller.next().await.status(), Some(483));
    // The proxy's own address as the target: the request comes back,
    // unchanged, and is refused as a loop.
    *forward.targets.lock().unwrap() = vec![Target::new(format!("sip:bob@{proxy}"))];
    caller.send(&caller.request("MESSAGE", "loop-1", "")).await;
    assert_eq!(caller.next().await.status(), Some(482));
}
