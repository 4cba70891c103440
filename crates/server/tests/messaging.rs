//! MESSAGE routing end to end (RFC 3428): SIPp agents register as bob and
//! answer (or not) what reaches them; another SIPp sends bob a MESSAGE as
//! alice with digest authentication. The tests read what alice was
//! answered and what bob's agents received.

mod support;

use std::net::SocketAddr;

use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::digest::DigestAlgorithm;
use sipjet_server::server::Server;
use sipjet_testkit::free_port;
use support::sipp::{Agent, Background, Run, transcript};
use support::sipp_log::{self, Direction, Logged};
use support::{Digest, Request, Transport, Wire, offer_of, start, wait_for_bindings};

/// Users with MD5-only challenges (all SIPp knows); carol never registers.
/// T1 is short so that a contact that never answers times out in 64 × T1
/// = 6.4 s.
const CONF: &str = "\
[system]
type = system
timer_t1 = 100

[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5

[inbox](!)
type = aor
max_contacts = 2

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice](inbox)

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob](inbox)

[carol](phone)
auth = carol
aors = carol
[carol](md5)
username = carol
password = carol-pass
[carol](inbox)
";

/// How one of bob's agents treats a MESSAGE that reaches it.
#[derive(Clone, Copy)]
enum Bob {
    /// Answers 200 at once.
    Accepts,
    /// Answers 200 after 400 ms (the server retransmits meanwhile).
    AcceptsLate,
    /// Answers 486 at once.
    Busy,
    /// Never answers.
    Silent,
}

/// One of bob's registered contacts: a SIPp agent on its own port.
struct BobAgent {
    agent: Background,
    port: u16,
}

/// Registers a SIPp agent as bob; returns once the server holds
/// `bindings` bindings for bob.
async fn register_bob(server: &Server, udp: SocketAddr, how: Bob, bindings: usize) -> BobAgent {
    let port = free_port();
    let agent = Agent::on_port("msg_register_and_wait.xml", udp, port).user("bob", "bob-pass");
    let agent = match how {
        Bob::Accepts => agent.out_of_call("msg_answer_ok.xml"),
        Bob::AcceptsLate => agent.out_of_call("msg_answer_ok.xml").args(["-d", "400"]),
        Bob::Busy => agent.out_of_call("msg_answer_busy.xml"),
        Bob::Silent => agent,
    };
    let agent = agent.spawn();
    if !wait_for_bindings(server, "bob", bindings).await {
        let run = agent.finish(std::time::Duration::from_secs(1)).await;
        panic!(
            "bob did not register\n{}\n{}",
            run.outcome.output,
            run.transcript()
        );
    }
    BobAgent { agent, port }
}

/// alice sends `to` the MESSAGE of `scenario` (`msg_send.xml`, or
/// `msg_send_routed.xml` with a Route to the server).
async fn alice_sends(udp: SocketAddr, scenario: &str, to: &str) -> Run {
    // SIPp computes the digest over the Request-URI without its user
    // part unless told the URI (which it prefixes with `sip:`); the
    // server checks that it is the Request-URI.
    let run = Agent::new(scenario, udp)
        .user("alice", "alice-pass")
        .key("to", to)
        .args(["-auth_uri".to_string(), format!("{to}@{udp}")])
        .run()
        .await;
    run.assert_success();
    run
}

/// The MESSAGE requests an agent received.
fn messages_received(log: &[Logged]) -> Vec<&Message> {
    sipp_log::requests(log, Direction::Received, &Method::Message)
}

/// alice's MESSAGE (of `scenario`) to bob through the server: alice's
/// run, what bob's agent logged, bob's port and the server's address.
async fn deliver_to_bob(scenario: &str) -> (Run, Vec<Logged>, u16, SocketAddr) {
    let (server, udp) = start(CONF).await;
    let bob = register_bob(&server, udp, Bob::Accepts, 1).await;
    let alice = alice_sends(udp, scenario, "bob").await;
    let received = bob.agent.stop();
    (alice, received, bob.port, udp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_a_registered_user_unchanged() {
    let (alice, bob_log, bob_port, udp) = deliver_to_bob("msg_send.xml").await;
    let log = format!(
        "alice:\n{}\nbob:\n{}",
        alice.transcript(),
        transcript(&bob_log)
    );
    assert_eq!(alice.final_codes(), [401, 200], "{log}");

    let sent = alice.sent_with_cseq(&Method::Message, 2);
    let delivered = messages_received(&bob_log);
    assert!(!delivered.is_empty(), "bob received no MESSAGE\n{log}");
    let got = delivered[0];
    // To bob's registered contact, the body and its type untouched.
    assert_eq!(
        got.request_uri(),
        Some(format!("sip:bob@127.0.0.1:{bob_port}").as_str()),
        "{log}"
    );
    assert_eq!(got.body(), sent.body(), "{log}");
    assert!(
        std::str::from_utf8(got.body()).is_ok_and(|b| b.contains("Café")),
        "{log}"
    );
    assert_eq!(
        got.header(HeaderName::ContentType),
        sent.header(HeaderName::ContentType),
        "{log}"
    );
    // The same request, one hop further: From, To, Call-ID and CSeq kept,
    // Max-Forwards one less, the server's Via on top of alice's.
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        assert_eq!(got.header(name), sent.header(name), "{name:?}\n{log}");
    }
    assert_eq!(got.max_forwards().unwrap(), Some(69), "{log}");
    let vias = got.vias().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(vias.len(), 2, "{log}");
    assert_eq!(vias[0].sent_by().to_string(), udp.to_string(), "{log}");
    assert_eq!(
        vias[1].branch(),
        sent.via().unwrap().branch(),
        "alice's Via is not second\n{log}"
    );
}

/// alice's credentials answer the server's challenge, not bob's: a proxy
/// removes the credentials it consumed (RFC 3261 §22.3 for
/// Proxy-Authorization; the same reasoning holds for the Authorization the
/// server challenged for). Forwarded, they hand bob what an offline
/// dictionary attack on alice's password needs (realm, nonce, cnonce, nc,
/// uri and response).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_message_carries_no_credentials_of_the_sender() {
    let (alice, bob_log, _, _) = deliver_to_bob("msg_send.xml").await;
    assert_eq!(alice.final_codes(), [401, 200], "{}", alice.transcript());
    let delivered = messages_received(&bob_log);
    assert!(!delivered.is_empty(), "{}", transcript(&bob_log));
    for m in delivered {
        assert_eq!(m.header(HeaderName::Authorization), None, "{m:?}");
        assert_eq!(m.header(HeaderName::ProxyAuthorization), None, "{m:?}");
    }
}

/// RFC 3261 §16.4: a proxy removes the Route entry that names itself
/// before it forwards. Left in, bob is handed a route back to the server;
/// a proxy in bob's place would send the MESSAGE back to sipjet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_message_loses_the_route_to_the_server() {
    let (alice, bob_log, _, _) = deliver_to_bob("msg_send_routed.xml").await;
    let log = format!(
        "alice:\n{}\nbob:\n{}",
        alice.transcript(),
        transcript(&bob_log)
    );
    assert_eq!(alice.final_codes(), [401, 200], "{log}");
    let delivered = messages_received(&bob_log);
    assert!(!delivered.is_empty(), "{log}");
    for m in delivered {
        assert_eq!(m.header(HeaderName::Route), None, "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_an_unknown_user_is_404_to_an_unregistered_one_480() {
    let (_server, udp) = start(CONF).await;
    let (to_nobody, to_carol) = tokio::join!(
        alice_sends(udp, "msg_send.xml", "nobody"),
        alice_sends(udp, "msg_send.xml", "carol")
    );
    assert_eq!(
        to_nobody.final_codes(),
        [401, 404],
        "{}",
        to_nobody.transcript()
    );
    assert_eq!(
        to_carol.final_codes(),
        [401, 480],
        "{}",
        to_carol.transcript()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_contact_that_never_answers_is_480() {
    let (server, udp) = start(CONF).await;
    let bob = register_bob(&server, udp, Bob::Silent, 1).await;
    let alice = alice_sends(udp, "msg_send.xml", "bob").await;
    let bob_log = bob.agent.stop();
    let log = format!(
        "alice:\n{}\nbob:\n{}",
        alice.transcript(),
        transcript(&bob_log)
    );
    assert_eq!(alice.final_codes(), [401, 480], "{log}");
    // The server did try bob, more than once.
    assert!(messages_received(&bob_log).len() > 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_from_one_of_two_contacts_wins() {
    let (server, udp) = start(CONF).await;
    // One contact refuses at once; the other accepts 400 ms later.
    let busy = register_bob(&server, udp, Bob::Busy, 1).await;
    let late = register_bob(&server, udp, Bob::AcceptsLate, 2).await;
    let alice = alice_sends(udp, "msg_send.xml", "bob").await;
    let (busy_log, late_log) = (busy.agent.stop(), late.agent.stop());
    let log = format!(
        "alice:\n{}\nbusy bob:\n{}\nlate bob:\n{}",
        alice.transcript(),
        transcript(&busy_log),
        transcript(&late_log)
    );
    assert_eq!(alice.final_codes(), [401, 200], "{log}");
    assert!(!messages_received(&busy_log).is_empty(), "{log}");
    assert!(!messages_received(&late_log).is_empty(), "{log}");
}

/// A header that hides a second one behind a bare CR, and one with a NUL:
/// a peer that ends lines at CR would read the first as a
/// P-Asserted-Identity the sender never had the right to assert.
const INJECTIONS: [(&str, &str); 2] = [
    (
        "Subject: hi\rP-Asserted-Identity: <sip:ceo@bank.example>",
        "Subject header: a bare CR (one not followed by LF)",
    ),
    (
        "X-Note: a\u{0}b",
        "X-Note header: the control character NUL (0x00) outside a quoted pair",
    ),
];

/// Registers `bob` (a raw UDP client) with digest authentication.
async fn register_raw(bob: &mut Wire) {
    let contact = format!("Contact: <sip:bob@{}>", bob.addr);
    let first = Request::new("REGISTER", &bob.uri(Some("bob")), "bob").with(contact.clone());
    let offers = bob.challenged(&first).await;
    let again = first.next().with(contact);
    let answer = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        "bob",
        "bob-pass",
        &again,
    );
    let r = bob.ask(&again.with(answer.header())).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
}

/// `request` from alice, with credentials answering a fresh challenge.
async fn authenticated(alice: &mut Wire, request: Request) -> Request {
    let offers = alice.challenged(&request).await;
    let again = request.next();
    let answer = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        "alice",
        "alice-pass",
        &again,
    );
    again.with(answer.header())
}

/// A request with a bare CR or a NUL in a header is answered 400 by the
/// transport, before authentication (an unauthenticated one gets 400, not
/// 401) and before any service: nothing reaches bob. A clean MESSAGE sent
/// afterwards is the first and only request bob's contact receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_a_bare_cr_or_nul_in_a_header_is_400_and_never_forwarded() {
    let conf = format!("{CONF}\n[tcp]\ntype = transport\nprotocol = tcp\nbind = 127.0.0.1:5060\n");
    let (server, _) = start(&conf).await;
    let mut bob = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    register_raw(&mut bob).await;

    for over in [Transport::Udp, Transport::Tcp] {
        let mut alice = Wire::connect(over, "127.0.0.1", &server).await;
        let to_bob = |alice: &Wire| Request::new("MESSAGE", &alice.uri(Some("bob")), "alice");
        let mut refused = Vec::new();
        for (line, reason) in INJECTIONS {
            let anonymous = to_bob(&alice).with(line);
            let request = to_bob(&alice);
            let signed = authenticated(&mut alice, request).await.with(line);
            for request in [anonymous, signed] {
                let r = alice.ask(&request).await;
                assert_eq!(r.status(), Some(400), "over {over:?}: {r:?}");
                assert_eq!(r.reason(), Some(reason), "over {over:?}");
                assert_eq!(r.call_id().unwrap(), request.call_id);
                refused.push(request.call_id);
            }
        }

        // bob answers the one MESSAGE that reaches him.
        let request = to_bob(&alice);
        let clean = authenticated(&mut alice, request).await;
        let bob_answers = async {
            let got = bob.next_request().await;
            bob.answer(&got, 200).await;
            got
        };
        let (answer, got) = tokio::join!(alice.ask(&clean), bob_answers);
        assert_eq!(answer.status(), Some(200), "over {over:?}: {answer:?}");
        assert_eq!(got.method(), Some(&Method::Message), "{got:?}");
        let call_id = got.call_id().unwrap();
        assert_eq!(call_id, clean.call_id, "over {over:?}: bob got {got:?}");
        assert!(!refused.iter().any(|r| r == call_id));
        assert!(!got.has(HeaderName::Subject), "{got:?}");
    }
}
