//! Calls through the server between SIPp user agents, over the wire. Both
//! agents register first: the callee (bob) registers its own address and
//! answers what reaches it with an out-of-call scenario; the caller
//! (alice) registers, then calls from the same port and answers the
//! INVITE's challenge. The tests read what each side received from
//! SIPp's message logs, and the server's call log.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use sipjet_core::Protocol;
use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::modules::calls::{Call, CallState};
use sipjet_server::server::Server;
use sipjet_testkit::{free_port, wait_until};
use support::sipp::{Agent, Background, Run, transcript};
use support::sipp_log::{Direction, Logged};
use support::{start, wait_for_bindings};

/// The server of these tests: users with MD5-only challenges (all SIPp
/// knows), UDP and TCP, and `system` lines added to `[system]`.
fn conf(system: &str) -> String {
    format!(
        "\
[system]
type = system
{system}

[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[tcp]
type = transport
protocol = tcp
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
"
    )
}

/// Timer C of the test of a call nobody answers: a second instead of
/// three minutes.
const SHORT_TIMER_C: &str = "timer_c = 1000";

/// How long a phone may take, once alice's agent has ended, to receive
/// the last message of its call: the messages are on their way on
/// loopback by then. Shorter than `wait_until`'s patience, so that a
/// failure reports what the phone logged.
const AFTERMATH: Duration = Duration::from_secs(10);

/// One of bob's phones: a SIPp agent registered from its own port, which
/// answers every INVITE that reaches it with `scenario`.
struct Callee {
    agent: Background,
    port: u16,
}

impl Callee {
    /// Registers a SIPp agent as bob over UDP (`extra` more SIPp
    /// arguments); returns once the server holds `bindings` bindings for
    /// bob.
    async fn register(
        server: &Server,
        udp: SocketAddr,
        scenario: &str,
        extra: &[&str],
        bindings: usize,
    ) -> Callee {
        let port = free_port();
        let agent = Agent::on_port("msg_register_and_wait.xml", udp, port)
            .user("bob", "bob-pass")
            .out_of_call(scenario)
            .args(extra.iter().copied())
            .spawn();
        if !wait_for_bindings(server, "bob", bindings).await {
            panic!("bob did not register\n{}", transcript(&agent.stop()));
        }
        Callee { agent, port }
    }

    /// Waits until this phone has received a request of `method` (the
    /// last of its call), then stops it and returns what it logged.
    async fn finish_on(self, method: Method, alice: &Run) -> Vec<Logged> {
        let what = format!("bob received {method}");
        self.finish_when(&what, alice, |log| {
            received_requests(log).contains(&method.to_string())
        })
        .await
    }

    /// Waits until what this phone logged satisfies `done` (the last
    /// message of its call came), then stops it and returns the log; the
    /// failure report shows `alice`'s run too.
    async fn finish_when(
        self,
        what: &str,
        alice: &Run,
        done: impl Fn(&[Logged]) -> bool,
    ) -> Vec<Logged> {
        let agent = self.agent;
        let waited =
            tokio::time::timeout(AFTERMATH, wait_until(what, || done(&agent.messages()))).await;
        let log = agent.stop();
        assert!(
            waited.is_ok(),
            "waited in vain: {what}\n{}",
            both(alice, &log)
        );
        log
    }
}

/// What SIPp needs to play alice over `transport`.
fn transport_args(protocol: Protocol) -> [&'static str; 2] {
    match protocol {
        Protocol::Tcp => ["-t", "t1"],
        _ => ["-t", "u1"],
    }
}

/// alice registers over `protocol` to the server at `server`, then calls
/// bob from the same port with `scenario` (`calls` calls, `extra` more
/// SIPp arguments).
async fn alice_calls(
    server: SocketAddr,
    protocol: Protocol,
    scenario: &str,
    calls: u64,
    extra: &[&str],
) -> Run {
    alice_dials(server, protocol, scenario, "bob", calls, extra).await
}

/// [`alice_calls`], to `callee` (a user, or a number of the dialplan).
async fn alice_dials(
    server: SocketAddr,
    protocol: Protocol,
    scenario: &str,
    callee: &str,
    calls: u64,
    extra: &[&str],
) -> Run {
    let port = free_port();
    let registered = Agent::on_port("call_register.xml", server, port)
        .user("alice", "alice-pass")
        .args(transport_args(protocol))
        .run()
        .await;
    registered.assert_success();
    // SIPp computes the digest over the Request-URI without its user part
    // unless told the URI (which it prefixes with `sip:`); the server
    // checks that it is the Request-URI.
    Agent::on_port(scenario, server, port)
        .user("alice", "alice-pass")
        .key("to", callee)
        .args(["-auth_uri".to_string(), format!("{callee}@{server}")])
        .args(transport_args(protocol))
        .args(extra.iter().copied())
        .calls(calls, 10)
        .run()
        .await
}

/// The requests an agent received, each once (a retransmission is left
/// out), by method: `["INVITE", "ACK", "BYE"]`.
fn received_requests(log: &[Logged]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for l in log {
        if l.direction != Direction::Received {
            continue;
        }
        let Some(method) = l.message.method() else {
            continue;
        };
        let key = (
            method.to_string(),
            l.message.cseq().map(|c| c.seq).unwrap_or(0),
            l.message.call_id().unwrap_or_default().to_string(),
            l.message
                .via()
                .ok()
                .and_then(|v| v.branch().map(str::to_string)),
        );
        if !seen.contains(&key) {
            out.push(key.0.clone());
            seen.push(key);
        }
    }
    out
}

/// The status of each answer to a BYE an agent received.
fn bye_answers(log: &[Logged]) -> Vec<u16> {
    support::sipp_log::responses_received(log)
        .into_iter()
        .filter(|r| r.cseq().is_ok_and(|c| c.method == "BYE"))
        .filter_map(Message::status)
        .collect()
}

/// The first request of `method` an agent received.
fn first_received<'a>(log: &'a [Logged], method: &Method) -> &'a Message {
    support::sipp_log::requests(log, Direction::Received, method)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {method} received\n{}", transcript(log)))
}

/// The final responses alice received, as (status, CSeq method), each once.
fn finals(run: &Run) -> Vec<(u16, String)> {
    run.finals()
        .iter()
        .map(|r| {
            (
                r.status().unwrap_or(0),
                r.cseq().map(|c| c.method.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// `(status, method)` pairs, for comparisons.
fn answers(list: &[(u16, &str)]) -> Vec<(u16, String)> {
    list.iter().map(|(c, m)| (*c, m.to_string())).collect()
}

/// Both sides' messages, for failure reports.
fn both(alice: &Run, bob: &[Logged]) -> String {
    format!(
        "--- alice:\n{}\n{}\n--- bob:\n{}",
        alice.outcome.output,
        alice.transcript(),
        transcript(bob)
    )
}

/// The one call the server's log holds, once it has ended.
async fn the_ended_call(server: &Server) -> Call {
    wait_until("the call to end in the server's log", || {
        server.calls.list().0.is_empty()
    })
    .await;
    let (_, recent) = server.calls.list();
    assert_eq!(recent.len(), 1, "{recent:?}");
    recent[0].clone()
}

/// The server's TCP address.
fn tcp_of(server: &Server) -> SocketAddr {
    server
        .stack
        .transports()
        .unwrap()
        .sent_by(Protocol::Tcp)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_answered_and_the_caller_hangs_up() {
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_answer.xml", &[], 1).await;
    let bob_port = bob.port;
    let alice = alice_calls(udp, Protocol::Udp, "call_hang_up.xml", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Bye, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (200, "INVITE"), (200, "BYE")]),
        "{log}"
    );
    assert_eq!(
        received_requests(&bob_log),
        ["INVITE", "ACK", "BYE"],
        "{log}"
    );
    // The INVITE reached bob's registered contact with alice's offer
    // untouched, the server in its Record-Route and alice's credentials
    // left behind.
    let sent = alice.sent_with_cseq(&Method::Invite, 2);
    let invite = first_received(&bob_log, &Method::Invite);
    assert_eq!(
        invite.request_uri(),
        Some(format!("sip:bob@127.0.0.1:{bob_port}").as_str()),
        "{log}"
    );
    assert_eq!(invite.body(), sent.body(), "{log}");
    assert_eq!(invite.header(HeaderName::Authorization), None, "{log}");
    let record_route: Vec<&str> = invite.headers(HeaderName::RecordRoute).collect();
    assert_eq!(record_route.len(), 1, "{log}");
    assert!(record_route[0].contains(&udp.to_string()), "{log}");
    // The ACK and the BYE are alice's, come along the route.
    assert_eq!(
        first_received(&bob_log, &Method::Ack).cseq().unwrap().seq,
        2,
        "{log}"
    );
    assert_eq!(
        first_received(&bob_log, &Method::Bye).cseq().unwrap().seq,
        3,
        "{log}"
    );

    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.caller.as_str(), call.callee.as_str(), call.state),
        ("alice", "bob", CallState::Ended),
        "{call:?}"
    );
    assert_eq!(call.final_code, Some(200), "{call:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_callee_refuses_with_486() {
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_busy.xml", &[], 1).await;
    let alice = alice_calls(udp, Protocol::Udp, "call_refused.xml", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Ack, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (486, "INVITE")]),
        "{log}"
    );
    assert_eq!(received_requests(&bob_log), ["INVITE", "ACK"], "{log}");
    // The ACK of the 486 is the server's (it ends the server's
    // transaction with bob), not alice's.
    let invite = first_received(&bob_log, &Method::Invite);
    let ack = first_received(&bob_log, &Method::Ack);
    assert_eq!(
        ack.via().unwrap().branch(),
        invite.via().unwrap().branch(),
        "{log}"
    );
    assert_eq!(ack.vias().count(), 1, "{log}");

    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.state, call.final_code),
        (CallState::Failed, Some(486)),
        "{call:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_cancels_a_ringing_call() {
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_ring.xml", &[], 1).await;
    let alice = alice_calls(udp, Protocol::Udp, "call_cancel.xml", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Ack, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (200, "CANCEL"), (487, "INVITE")]),
        "{log}"
    );
    // The server cancelled its branch to bob and acknowledged bob's 487.
    assert_eq!(
        received_requests(&bob_log),
        ["INVITE", "CANCEL", "ACK"],
        "{log}"
    );
    let invite = first_received(&bob_log, &Method::Invite);
    let cancel = first_received(&bob_log, &Method::Cancel);
    assert_eq!(
        cancel.via().unwrap().branch(),
        invite.via().unwrap().branch(),
        "{log}"
    );

    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.state, call.final_code),
        (CallState::Failed, Some(487)),
        "{call:?}"
    );
}

/// bob's phone rings and nobody answers: Timer C (shortened to a second)
/// ends the branch with a CANCEL, and alice is told 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_c_cancels_a_call_nobody_answers() {
    let (server, udp) = start(&conf(SHORT_TIMER_C)).await;
    let bob = Callee::register(&server, udp, "call_ring.xml", &[], 1).await;
    let alice = alice_calls(udp, Protocol::Udp, "call_refused.xml", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Ack, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (408, "INVITE")]),
        "{log}"
    );
    assert!(alice.sent(&Method::Cancel).is_empty(), "{log}");
    assert_eq!(
        received_requests(&bob_log),
        ["INVITE", "CANCEL", "ACK"],
        "{log}"
    );

    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.state, call.final_code),
        (CallState::Failed, Some(408)),
        "{call:?}"
    );
}

/// bob has two phones: both ring, one answers, the other is cancelled;
/// the dialog's ACK and BYE reach only the one that answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_call_is_answered_by_one_phone_and_cancelled_on_the_other() {
    let (server, udp) = start(&conf("")).await;
    let ringing = Callee::register(&server, udp, "call_ring.xml", &[], 1).await;
    let answering = Callee::register(&server, udp, "call_answer.xml", &[], 2).await;
    let alice = alice_calls(udp, Protocol::Udp, "call_hang_up.xml", 1, &[]).await;
    let (ringing_log, answering_log) = (
        ringing.finish_on(Method::Ack, &alice).await,
        answering.finish_on(Method::Bye, &alice).await,
    );
    let log = format!(
        "{}\n--- bob's other phone:\n{}",
        both(&alice, &answering_log),
        transcript(&ringing_log)
    );
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (200, "INVITE"), (200, "BYE")]),
        "{log}"
    );
    assert_eq!(
        received_requests(&answering_log),
        ["INVITE", "ACK", "BYE"],
        "{log}"
    );
    assert_eq!(
        received_requests(&ringing_log),
        ["INVITE", "CANCEL", "ACK"],
        "{log}"
    );
    // One dialog: every 2xx alice received to her INVITE came from the
    // phone that answered.
    let mut to_tags: Vec<String> = support::sipp_log::responses_received(&alice.messages)
        .into_iter()
        .filter(|r| r.status() == Some(200) && r.cseq().is_ok_and(|c| c.method == "INVITE"))
        .filter_map(|r| r.to_header().ok().and_then(|t| t.tag().map(str::to_string)))
        .collect();
    to_tags.dedup();
    assert_eq!(to_tags.len(), 1, "{log}");

    let call = the_ended_call(&server).await;
    assert_eq!(call.state, CallState::Ended, "{call:?}");
}

/// alice calls over TCP, bob answers over UDP and hangs up: the server
/// records itself on both sides, and bob's BYE reaches alice over her TCP
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_tcp_to_udp_is_hung_up_by_the_callee() {
    let (server, udp) = start(&conf("")).await;
    let tcp = tcp_of(&server);
    let bob = Callee::register(&server, udp, "call_answer_hang_up.xml", &[], 1).await;
    let alice = alice_calls(tcp, Protocol::Tcp, "call_be_hung_up.xml", 1, &[]).await;
    let bob_log = bob
        .finish_when("bob's BYE answered", &alice, |log| {
            !bye_answers(log).is_empty()
        })
        .await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (200, "INVITE")]),
        "{log}"
    );
    assert_eq!(received_requests(&bob_log), ["INVITE", "ACK"], "{log}");
    let invite = first_received(&bob_log, &Method::Invite);
    let record_route: Vec<&str> = invite.headers(HeaderName::RecordRoute).collect();
    assert_eq!(record_route.len(), 2, "{log}");
    assert_eq!(bye_answers(&bob_log), [200], "{log}");

    // alice received bob's BYE from the server, over TCP.
    let bye = alice
        .messages
        .iter()
        .find(|l| l.direction == Direction::Received && l.message.method() == Some(&Method::Bye))
        .map(|l| &l.message)
        .unwrap_or_else(|| panic!("alice received no BYE\n{log}"));
    let via = bye.via().unwrap();
    assert_eq!(via.transport, "TCP", "{log}");
    assert_eq!(via.sent_by().to_string(), tcp.to_string(), "{log}");

    let call = the_ended_call(&server).await;
    assert_eq!(call.state, CallState::Ended, "{call:?}");
}

/// Once the call is up, alice sends a re-INVITE (a new offer): it follows
/// the route to bob, unchallenged, and bob's answer comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_goes_along_the_route_and_is_answered() {
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_answer_reinvite.xml", &[], 1).await;
    let bob_port = bob.port;
    let alice = alice_calls(udp, Protocol::Udp, "call_reinvite.xml", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Bye, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    assert_eq!(
        finals(&alice),
        answers(&[
            (401, "INVITE"),
            (200, "INVITE"),
            (200, "INVITE"),
            (200, "BYE")
        ]),
        "{log}"
    );
    assert_eq!(
        received_requests(&bob_log),
        ["INVITE", "ACK", "INVITE", "ACK", "BYE"],
        "{log}"
    );
    let reinvite = support::sipp_log::requests(&bob_log, Direction::Received, &Method::Invite)
        .into_iter()
        .find(|m| m.cseq().is_ok_and(|c| c.seq == 3))
        .unwrap_or_else(|| panic!("no re-INVITE reached bob\n{log}"));
    assert_eq!(
        reinvite.request_uri(),
        Some(format!("sip:bob@127.0.0.1:{bob_port}").as_str()),
        "{log}"
    );
    assert_eq!(
        reinvite.body(),
        alice.sent_with_cseq(&Method::Invite, 3).body(),
        "{log}"
    );
    // The server's Route entry was its own and is gone.
    assert_eq!(reinvite.header(HeaderName::Route), None, "{log}");

    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.state, call.final_code),
        (CallState::Ended, Some(200)),
        "{call:?}"
    );
}

/// Some phones (linphone) send their credentials again in every request
/// of the dialog. Those credentials answered the server's challenge: the
/// server keeps them, as it does those of the INVITE. Forwarded, they hand
/// bob what an offline dictionary attack on alice's password needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_credentials_stay_at_the_server_for_the_whole_dialog() {
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_answer.xml", &[], 1).await;
    let alice = alice_calls(
        udp,
        Protocol::Udp,
        "call_hang_up_with_credentials.xml",
        1,
        &[],
    )
    .await;
    let bob_log = bob.finish_on(Method::Bye, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();

    for method in [Method::Invite, Method::Ack, Method::Bye] {
        let sent = alice
            .sent(&method)
            .into_iter()
            .next_back()
            .unwrap_or_else(|| panic!("alice sent no {method}\n{log}"));
        assert!(
            sent.has(HeaderName::Authorization),
            "alice's {method} has no credentials: the test shows nothing\n{log}"
        );
        let received = first_received(&bob_log, &method);
        assert_eq!(
            received.header(HeaderName::Authorization),
            None,
            "{method}\n{log}"
        );
    }
}

/// Calls through the server when both legs lose a tenth of their packets
/// (SIPp's `-lost 10` on alice's agent and on bob's): the retransmissions
/// of alice, bob and the server carry every call through.
///
/// Under loss, messages come in orders a scenario does not list (an INVITE
/// retransmitted after bob's 200 was lost, an ACK that comes after the
/// BYE). A phone takes them in its stride; SIPp, by default, aborts the
/// call on them and then discards what follows as messages of a dead call,
/// so both agents are told not to (`-default_behaviors none`). The server's
/// T1 stays SIPp's (500 ms): with a shorter one it would forget a
/// transaction (Timer J, 64 × T1) while SIPp still retransmits its request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_complete_when_both_legs_lose_a_tenth_of_their_packets() {
    const CALLS: u64 = 20;
    const LOSSY: [&str; 4] = ["-lost", "10", "-default_behaviors", "none"];
    let (server, udp) = start(&conf("")).await;
    let bob = Callee::register(&server, udp, "call_answer.xml", &LOSSY, 1).await;
    let alice = alice_calls(udp, Protocol::Udp, "call_hang_up.xml", CALLS, &LOSSY).await;
    // Every BYE that reached bob is in his log before he answers it.
    let bob_log = bob.agent.stop();
    let log = both(&alice, &bob_log);
    alice.assert_success();

    let mut placed: Vec<String> = alice
        .sent(&Method::Invite)
        .into_iter()
        .map(|m| m.call_id().unwrap_or_default().to_string())
        .collect();
    placed.sort();
    placed.dedup();
    assert_eq!(placed.len() as u64, CALLS, "{log}");
    let (_, recent) = server.calls.list();
    for id in &placed {
        let of_call = |l: &&Logged| l.message.call_id().is_ok_and(|c| c == id.as_str());
        let bye_answered = alice.messages.iter().filter(of_call).any(|l| {
            l.direction == Direction::Received
                && l.message.status() == Some(200)
                && l.message.cseq().is_ok_and(|c| c.method == "BYE")
        });
        assert!(bye_answered, "{id}: alice's BYE was not answered\n{log}");
        let bob_call: Vec<Logged> = bob_log.iter().filter(of_call).cloned().collect();
        // bob's ACK may be lost for good once the BYE has come.
        assert_eq!(
            received_requests(&bob_call)
                .into_iter()
                .filter(|m| m != "ACK")
                .collect::<Vec<_>>(),
            ["INVITE", "BYE"],
            "{id}\n{log}"
        );
        let call = recent.iter().find(|c| &c.call_id == id);
        assert!(
            call.is_some_and(|c| (c.state, c.final_code) == (CallState::Ended, Some(200))),
            "{id}: {call:?}"
        );
    }
}

/// A number of the dialplan: alice's SIPp dials 200, which the dialplan
/// sends to bob; the call is answered and hung up as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_of_the_dialplan_reaches_the_phone_it_names() {
    let plan = sipjet_server::dialplan::from_str(
        "extensions.conf",
        "[office]\nexten => 200,1,Dial(PJSIP/bob,20)\n same => n,Hangup(19)\n",
    );
    assert!(plan.is_ok(), "{:?}", plan.errors);
    let conf = conf("").replace(
        "identify_by = username\n",
        "identify_by = username\ncontext = office\n",
    );
    let (server, udp) = support::start_with(
        &conf,
        sipjet_server::server::ServerOptions {
            dialplan: Some(std::sync::Arc::new(plan.plan)),
            ..Default::default()
        },
    )
    .await;
    let bob = Callee::register(&server, udp, "call_answer.xml", &[], 1).await;
    let alice = alice_dials(udp, Protocol::Udp, "call_hang_up.xml", "200", 1, &[]).await;
    let bob_log = bob.finish_on(Method::Bye, &alice).await;
    let log = both(&alice, &bob_log);
    alice.assert_success();
    assert_eq!(
        finals(&alice),
        answers(&[(401, "INVITE"), (200, "INVITE"), (200, "BYE")]),
        "{log}"
    );
    assert_eq!(
        received_requests(&bob_log),
        ["INVITE", "ACK", "BYE"],
        "{log}"
    );
    let call = the_ended_call(&server).await;
    assert_eq!(
        (call.caller.as_str(), call.callee.as_str()),
        ("alice", "200")
    );
    assert_eq!(call.state, CallState::Ended);
}
