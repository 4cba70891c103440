//! Trunks against a real provider on loopback: Kamailio as the
//! provider's registrar and proxy (its own users and realm), sipjet
//! registering to it with digest authentication, keeping the binding
//! fresh, and retrying a refusal as `forbidden_retry_interval` says; and
//! calls from a local phone (SIPp) bridged by sipjet through the provider
//! to a SIPp UAS behind it, the outside world, as the office's
//! extensions.conf says ([`PLAN`]); and calls the provider delivers to
//! the office's number, routed by the trunk endpoint's context.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sipjet_core::session::SessionSupplement;
use sipjet_core::{HeaderName, Method};
use sipjet_server::admin::views;
use sipjet_server::dialplan;
use sipjet_server::modules::trunk::RegistrationStatus;
use sipjet_server::modules::trunk::registration::State;
use sipjet_server::server::Server;
use sipjet_server::server::ServerOptions;
use sipjet_testkit::free_port;
use sipjet_testkit::{eventually, wait_until};
use support::kamailio::{Provider, REALM};
use support::sipp::{Agent, Run};
use support::sipp_log::{self, Direction};
use support::{start, start_with};

fn trunk_conf(provider: &Provider, password: &str, extra: &str) -> String {
    format!(
        "[t]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\
[provider-auth]\ntype=auth\nusername=office\npassword={password}\nrealm={REALM}\n\
[provider]\ntype=registration\nserver_uri=sip:{p}\nclient_uri=sip:office@{p}\n\
contact_user=office\noutbound_auth=provider-auth\nmax_random_initial_delay=0\n{extra}",
        p = provider.addr
    )
}

fn status(server: &Server) -> RegistrationStatus {
    server.registrations.list().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_digest_and_refreshes_before_expiry() {
    let provider = Provider::start(&[("office", "s3cret")], "");
    let (server, udp) = start(&trunk_conf(&provider, "s3cret", "expiration=4\n")).await;
    let contact = format!("sip:office@{udp}");

    // The provider holds the binding sipjet registered, with its Contact.
    let first = eventually("the provider to hold sipjet's binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, _)| *c == contact)
    })
    .await;
    // Kamailio keeps the binding before it answers: sipjet's status
    // follows the 200.
    let s = eventually("sipjet to show the registration", || {
        Some(status(&server)).filter(|s| s.state == State::Registered)
    })
    .await;
    assert_eq!(s.last_code, Some(200));
    assert!(s.expires_at.is_some());
    // As /api/registrations and `sipjet show registrations` show it.
    let view = views::registrations(server.registrations.list(), std::time::SystemTime::now());
    assert_eq!(view[0].name, "provider");
    assert_eq!(view[0].state, "registered");
    assert!(view[0].expires_in_seconds.is_some_and(|s| s <= 4));
    assert_eq!(view[0].last_code, Some(200));

    // Granted 4 s, it is refreshed (same Call-ID, a higher CSeq) before
    // it runs out: the provider's binding shows a later CSeq.
    eventually("a refresh of the binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, cseq)| *c == contact && *cseq > first.1)
    })
    .await;
    assert_eq!(status(&server).state, State::Registered);
    assert!(
        !provider.log().contains("PROVIDER:"),
        "the provider refused something:\n{}",
        provider.log()
    );

    // Shut down, sipjet removes its binding.
    server.shutdown().await;
    wait_until("the binding to be removed", || {
        provider.bindings("office").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_retry_at_forbidden_retry_interval_then_stop() {
    let provider = Provider::start(&[("office", "s3cret")], "");
    let (server, _) = start(&trunk_conf(
        &provider,
        "wrong",
        "forbidden_retry_interval=1\nmax_retries=2\n",
    ))
    .await;

    // Refused: retried at forbidden_retry_interval, twice, then stopped.
    let retrying = eventually("a first retry", || {
        Some(status(&server)).filter(|s| s.retries >= 1)
    })
    .await;
    assert_eq!(retrying.last_code, Some(403), "{retrying:?}");
    assert!(retrying.next_attempt_at.is_some() || retrying.state == State::Rejected);
    let stopped = eventually("the registration to stop", || {
        Some(status(&server)).filter(|s| s.state == State::Rejected)
    })
    .await;
    assert_eq!(stopped.retries, 3, "{stopped:?}");
    assert_eq!(stopped.next_attempt_at, None);
    let reason = stopped.reason.unwrap_or_default();
    assert!(
        reason.contains("403") && reason.contains("giving up after 2 retries"),
        "{reason}"
    );
    // The provider saw the wrong password three times: the first attempt
    // and two retries, no more.
    let refused = provider
        .log()
        .matches("PROVIDER: wrong password for office")
        .count();
    assert_eq!(refused, 3, "{}", provider.log());
    assert!(provider.bindings("office").is_empty());
}

/// The office's number at the provider.
const OFFICE_NUMBER: &str = "4930123";

/// The provider's proxy: an INVITE to the office's number goes to where
/// the office registered; an INVITE from one of its users is challenged
/// (407), then relayed, record-routed, to the SIPp UAS at `uas`, the
/// outside world; requests in a dialog follow their route.
fn proxy_route(uas: SocketAddr) -> String {
    format!(
        r#"
  if (has_totag()) {{
    if (loose_route()) {{ t_relay(); exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    sl_send_reply("404", "Not Here");
    exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  if (is_method("INVITE") && $rU == "{OFFICE_NUMBER}") {{
    xlog("L_NOTICE", "PROVIDER: call for the office from $fu\n");
    record_route();
    $ru = "sip:office@{REALM}";
    if (!lookup("location")) {{ sl_send_reply("480", "Not Registered"); exit; }}
    t_relay();
    exit;
  }}
  if (is_method("INVITE")) {{
    if (!is_present_hf("Proxy-Authorization")) {{ auth_challenge("{REALM}", "1"); exit; }}
    $var(pw) = $sht(users=>$au);
    if ($var(pw) == $null) {{ sl_send_reply("403", "Forbidden"); exit; }}
    if (!pv_auth_check("{REALM}", "$var(pw)", "0", "1")) {{ auth_challenge("{REALM}", "1"); exit; }}
    consume_credentials();
    xlog("L_NOTICE", "PROVIDER: call from $fu to $rU\n");
    record_route();
    $du = "sip:{uas}";
    t_relay();
    exit;
  }}
"#
    )
}

/// sipjet for the call tests: the office's phone alice, and the trunk
/// endpoint `provider` with its identity and credentials.
fn office_conf(provider: &Provider) -> String {
    format!(
        "{}[global]
type=global
default_realm=sipjet.test
endpoint_identifier_order=username
[alice]
type=endpoint
auth=alice
aors=alice
identify_by=username
context=office
[alice]
type=auth
username=alice
password=alice-pass
supported_algorithms_uas=MD5
[alice]
type=aor
max_contacts=1
[provider]
type=endpoint
context=from-provider
aors=provider
outbound_auth=provider-auth
from_user=office
from_domain={REALM}
callerid=\"Office Berlin\" <4930123>
[provider]
type=aor
contact=sip:{p}
",
        trunk_conf(provider, "s3cret", "expiration=60\n"),
        p = provider.addr
    )
}

/// A session supplement: `X-Office: berlin` on outgoing INVITEs, and a
/// count of incoming BYEs.
struct Stamp(Arc<AtomicUsize>);

impl SessionSupplement for Stamp {
    fn name(&self) -> &str {
        "stamp"
    }
    fn outgoing_request(&self, request: &mut sipjet_core::Message) {
        if request.method() == Some(&Method::Invite) {
            request.add_header("X-Office", "berlin").unwrap();
        }
    }
    fn incoming_request(&self, request: &sipjet_core::Message) {
        if request.method() == Some(&Method::Bye) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The office's dialplan: 9 and a number go out through the provider,
/// ringing at most `{ring}` seconds; 7 and a number too, with a caller ID
/// of its own, and the status of a failed call decides what follows; the
/// office's number rings the desk phone.
const PLAN: &str = "\
[office]
exten => _9.,1,Dial(PJSIP/${EXTEN:1}@provider,{ring})
exten => _7.,1,Set(CALLERID(num)=4930777)
 same => n,Dial(PJSIP/${EXTEN:1}@provider,{ring})
 same => n,Goto(${DIALSTATUS})
 same => n(BUSY),Hangup(21)
 same => n(CHANUNAVAIL),Congestion

[from-provider]
exten => 4930123,1,Dial(PJSIP/desk,20)
";

/// The server's options: routed by [`PLAN`], ringing at most `ring`
/// seconds.
fn routed(ring: u64) -> ServerOptions {
    let report = dialplan::from_str(
        "extensions.conf",
        &PLAN.replace("{ring}", &ring.to_string()),
    );
    assert!(report.is_ok(), "{:?}", report.errors);
    ServerOptions {
        dialplan: Some(Arc::new(report.plan)),
        ..ServerOptions::default()
    }
}

fn route() -> ServerOptions {
    routed(30)
}

/// alice dials `to` through sipjet at `server` with `scenario`.
async fn alice_dials(server: SocketAddr, scenario: &str, to: &str) -> Run {
    Agent::new(scenario, server)
        .user("alice", "alice-pass")
        .key("to", to)
        .args(["-auth_uri".to_string(), format!("{to}@{server}")])
        .run()
        .await
}

/// alice dials 9555 and hangs up once answered; waits until the outside
/// world got the BYE, and fails the test with the report when it does
/// not. Returns alice's run, what the outside world received, and a
/// report of all three sides.
async fn alice_calls_out_and_hangs_up(
    server: SocketAddr,
    outside: support::sipp::Background,
    provider: &Provider,
) -> (Run, Vec<sipp_log::Logged>, String) {
    let alice = alice_dials(server, "call_hang_up.xml", "9555").await;
    let (done, outside_log) = stopped_after_bye(outside).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}\nprovider:\n{}",
        alice.transcript(),
        support::sipp::transcript(&outside_log),
        provider.log()
    );
    assert!(done, "the outside world got no BYE\n{report}");
    (alice, outside_log, report)
}

/// Waits for the SIPp running in the background to receive a BYE, then
/// stops it: whether the BYE came, and what it logged.
async fn stopped_after_bye(agent: support::sipp::Background) -> (bool, Vec<sipp_log::Logged>) {
    let done = sipjet_testkit::within_patience(|| {
        let log = agent.messages();
        (!received(&log, &Method::Bye).is_empty()).then_some(())
    })
    .await;
    (done.is_some(), agent.stop())
}

fn received(log: &[sipp_log::Logged], method: &Method) -> Vec<sipjet_core::Message> {
    sipp_log::requests(log, Direction::Received, method)
        .into_iter()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_out_through_the_provider_and_the_caller_hangs_up() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;
    // A supplement of a service's: a header on every INVITE the sessions
    // send, and a count of the BYEs they receive.
    let byes = Arc::new(AtomicUsize::new(0));
    assert!(
        server
            .stack
            .session_supplements()
            .register(Arc::new(Stamp(Arc::clone(&byes))))
    );

    let (alice, outside_log, report) = alice_calls_out_and_hangs_up(udp, outside, &provider).await;
    alice.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 200], "{report}");

    // It reached the outside world through the provider, which
    // challenged it and took the trunk's credentials, with the trunk's
    // identity: From office@provider.test as "Office Berlin", the
    // asserted identity 4930123, the number without the prefix.
    assert!(
        provider
            .log()
            .contains("PROVIDER: call from sip:office@provider.test to 555"),
        "{report}"
    );
    let invites = received(&outside_log, &Method::Invite);
    let invite = &invites[0];
    assert!(
        invite.request_uri().unwrap().starts_with("sip:555@"),
        "{report}"
    );
    let from = invite.header(HeaderName::From).unwrap();
    assert!(
        from.contains("\"Office Berlin\"") && from.contains("sip:office@provider.test"),
        "{from}"
    );
    assert_eq!(
        invite.headers_named("P-Asserted-Identity").next(),
        Some("\"Office Berlin\" <sip:4930123@provider.test>"),
        "{report}"
    );
    // Nothing of alice's leaks: her credentials, her Call-ID.
    let sent = alice.sent_with_cseq(&Method::Invite, 2);
    assert_eq!(invite.header(HeaderName::Authorization), None);
    assert_ne!(invite.call_id().unwrap(), sent.call_id().unwrap());
    // The SDP is carried across both ways.
    assert_eq!(invite.body(), sent.body(), "{report}");
    let answer = alice.finals()[1];
    assert!(
        String::from_utf8_lossy(answer.body()).contains(" 2 1 IN IP4"),
        "the outside world's answer reaches alice\n{report}"
    );
    // The hang-up went along: the outside world got ACK and BYE.
    assert_eq!(received(&outside_log, &Method::Ack).len(), 1, "{report}");
    // The supplement stamped the provider's INVITE (only the INVITE) and
    // saw alice's BYE.
    assert_eq!(
        invite.headers_named("X-Office").collect::<Vec<_>>(),
        ["berlin"],
        "{report}"
    );
    let bye = &received(&outside_log, &Method::Bye)[0];
    assert_eq!(bye.headers_named("X-Office").next(), None, "{report}");
    assert_eq!(byes.load(Ordering::SeqCst), 1);
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

/// A provider whose proxy record-routes by name (`localhost`): the ACK
/// and the BYE of its dialog go where the name resolves (RFC 3263), and
/// reach the outside world through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_record_routing_by_name_gets_the_ack_and_the_bye() {
    let uas_port = free_port();
    // Kamailio does not take the name for its own in a Route (its
    // aliases are not matched there), so the proxy drops its Route itself
    // and relays to the Request-URI.
    let by_name = proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port)))
        .replace(
            "    record_route();\n    $du = ",
            "    record_route_preset(\"localhost:$Rp\");\n    $du = ",
        )
        .replace(
            "    if (loose_route()) { t_relay(); exit; }",
            "    if (is_present_hf(\"Route\")) { remove_hf(\"Route\"); t_relay(); exit; }",
        );
    assert!(by_name.contains("record_route_preset") && by_name.contains("remove_hf"));
    let provider = Provider::start(&[("office", "s3cret")], &by_name);
    let outside = Agent::on_port("call_answer.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let (alice, outside_log, report) = alice_calls_out_and_hangs_up(udp, outside, &provider).await;
    let invite = &received(&outside_log, &Method::Invite)[0];
    let record_route = invite.header(HeaderName::RecordRoute).unwrap_or_default();
    assert!(
        record_route.starts_with(&format!("<sip:localhost:{};", provider.addr.port()))
            && record_route.contains(";lr"),
        "the provider record-routes by name: {record_route}\n{report}"
    );
    alice.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 200], "{report}");
    assert_eq!(received(&outside_log, &Method::Ack).len(), 1, "{report}");
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outside_world_hangs_up_a_call_through_the_provider() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer_hang_up.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let alice = alice_dials(udp, "call_be_hung_up.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}\nprovider:\n{}",
        alice.transcript(),
        outside.transcript(),
        provider.log()
    );
    alice.assert_success();
    outside.assert_success();
    assert!(
        !received(&alice.messages, &Method::Bye).is_empty(),
        "{report}"
    );
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_refusing_the_trunks_credentials_fails_the_call_with_503() {
    let uas_port = free_port();
    // The provider knows the office under another password.
    let provider = Provider::start(
        &[("office", "other")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let (server, udp) = start_with(&office_conf(&provider), route()).await;
    let alice = Agent::new("call_refused.xml", udp)
        .user("alice", "alice-pass")
        .key("to", "9555")
        .args(["-auth_uri".to_string(), format!("9555@{udp}")])
        .run()
        .await;
    let finals = alice.final_codes();
    assert_eq!(
        finals.last(),
        Some(&503),
        "{}\n{}",
        alice.transcript(),
        provider.log()
    );
    // Challenged once, answered once, then refused: no loop.
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

/// The requests `log` received, by method, each once (retransmissions
/// left out).
fn methods_received(log: &[sipp_log::Logged]) -> Vec<String> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for l in log.iter().filter(|l| l.direction == Direction::Received) {
        let Some(m) = l.message.method() else {
            continue;
        };
        let key = (
            m.to_string(),
            l.message.cseq().map(|c| c.seq).unwrap_or(0),
            l.message
                .via()
                .ok()
                .and_then(|v| v.branch().map(str::to_string)),
        );
        if !seen.contains(&key) {
            seen.push(key);
            out.push(m.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_cancel_cancels_the_providers_leg() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("trunk_ring.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let alice = alice_dials(udp, "call_cancel.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}\nprovider:\n{}",
        alice.transcript(),
        outside.transcript(),
        provider.log()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 487], "{report}");
    assert_eq!(
        methods_received(&outside.messages),
        ["INVITE", "CANCEL", "ACK"],
        "{report}"
    );
    let forgotten =
        sipjet_testkit::within_patience(|| (server.trunks.active() == 0).then_some(())).await;
    assert!(
        forgotten.is_some(),
        "the bridge still holds the call\n{report}\n{}",
        provider.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_answers_is_cancelled_at_the_ring_timeout() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("trunk_ring.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), routed(1)).await;

    let alice = Agent::new("call_refused.xml", udp)
        .user("alice", "alice-pass")
        .key("to", "9555")
        .args(["-auth_uri".to_string(), format!("9555@{udp}")])
        .run()
        .await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}",
        alice.transcript(),
        outside.transcript()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 480], "{report}");
    assert_eq!(
        methods_received(&outside.messages),
        ["INVITE", "CANCEL", "ACK"],
        "{report}"
    );
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_of_the_caller_is_sent_on_the_providers_leg() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer_reinvite.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let alice = alice_dials(udp, "call_reinvite.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}",
        alice.transcript(),
        outside.transcript()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 200, 200], "{report}");
    assert_eq!(
        methods_received(&outside.messages),
        ["INVITE", "ACK", "INVITE", "ACK", "BYE"],
        "{report}"
    );
    // The re-INVITE on the provider's leg is sipjet's, in that dialog,
    // with alice's new offer; the answer comes back to her.
    let invites = received(&outside.messages, &Method::Invite);
    let (first, reinvite) = (&invites[0], invites.last().unwrap());
    assert_eq!(reinvite.call_id().unwrap(), first.call_id().unwrap());
    assert!(reinvite.cseq().unwrap().seq > first.cseq().unwrap().seq);
    assert_eq!(
        reinvite.body(),
        alice.sent_with_cseq(&Method::Invite, 3).body(),
        "{report}"
    );
    let answer = alice.finals()[2];
    assert_eq!(answer.cseq().unwrap().seq, 3, "{report}");
    assert!(!answer.body().is_empty(), "{report}");
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_requires_reliable_provisionals_is_refused_with_420() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let (server, udp) = start_with(&office_conf(&provider), route()).await;
    let phone = support::Client::new(udp).await;
    let invite = support::Request::new("INVITE", &phone.uri(Some("9555")), "alice")
        .with(format!("Contact: <sip:alice@{}>", phone.addr))
        .with("Require: 100rel, timer");
    // Session timers are carried across; reliable provisionals are not
    // implemented.
    let first = phone.ask(&invite).await;
    assert_eq!(first.status(), Some(401), "{first:?}");
    let offer = support::offers(&first).remove(0);
    let mut again = invite.next();
    again.extra = invite.extra.clone();
    let digest = support::Digest::answer(&offer, "alice", "alice-pass", &again);
    let again = again.with(digest.header());
    let refused = phone.ask(&again).await;
    assert_eq!(refused.status(), Some(420), "{refused:?}");
    assert_eq!(refused.headers_named("Unsupported").next(), Some("100rel"));
    // Nothing went to the provider, nothing is kept.
    assert!(
        !provider.log().contains("PROVIDER: call"),
        "{}",
        provider.log()
    );
    assert_eq!(server.trunks.active(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_never_acknowledged_is_retransmitted_then_both_legs_end() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer.xml", provider.addr, uas_port).spawn();
    // T1 of 100 ms: the answer is given up on after 6.4 s, not 32.
    let conf = format!(
        "{}[system]\ntype=system\ntimer_t1=100\n",
        office_conf(&provider)
    );
    let (server, udp) = start_with(&conf, route()).await;

    let alice = alice_dials(udp, "call_no_ack.xml", "9555").await;
    let (done, outside_log) = stopped_after_bye(outside).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}",
        alice.transcript(),
        support::sipp::transcript(&outside_log)
    );
    assert!(done, "the outside world was not hung up\n{report}");
    alice.assert_success();
    // The 200 came again and again while alice did not acknowledge it.
    let answers = sipp_log::responses_received(&alice.messages)
        .into_iter()
        .filter(|r| r.status() == Some(200) && r.cseq().is_ok_and(|c| c.method == "INVITE"))
        .count();
    assert!(answers > 1, "the answer was not retransmitted\n{report}");
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_session_timer_reaches_the_caller() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("trunk_answer_timer.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();

    let alice = alice_dials(udp, "call_hang_up.xml", "9555").await;
    alice.assert_success();
    let answer = alice.finals()[1];
    let report = alice.transcript();
    assert_eq!(answer.status(), Some(200), "{report}");
    assert_eq!(
        answer.headers_named("Session-Expires").next(),
        Some("1800;refresher=uac"),
        "{report}"
    );
    assert_eq!(
        answer.headers_named("Require").next(),
        Some("timer"),
        "{report}"
    );
    drop(outside);
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
    // Its timers went with it: the session's expiry (30 minutes away) and
    // the ring timeout leave no task behind.
    wait_until("the call's timer tasks to end", || {
        metrics.num_alive_tasks() <= before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reliable_provisional_of_the_provider_is_pracked() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("trunk_answer_100rel.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let alice = alice_dials(udp, "call_hang_up.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}",
        alice.transcript(),
        outside.transcript()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 200], "{report}");
    assert_eq!(
        methods_received(&outside.messages),
        ["INVITE", "PRACK", "ACK", "BYE"],
        "{report}"
    );
    // sipjet offered 100rel to the provider, PRACKed the 183 in its early
    // dialog, and the dialog's CSeq went on from the PRACK.
    let invite = &received(&outside.messages, &Method::Invite)[0];
    assert!(
        invite
            .headers(HeaderName::Supported)
            .any(|v| v.contains("100rel")),
        "{report}"
    );
    let prack = &received(&outside.messages, &Method::Prack)[0];
    let seq = invite.cseq().unwrap().seq;
    assert_eq!(
        prack.headers_named("RAck").next(),
        Some(format!("1 {seq} INVITE").as_str()),
        "{report}"
    );
    let bye = &received(&outside.messages, &Method::Bye)[0];
    assert!(
        bye.cseq().unwrap().seq > prack.cseq().unwrap().seq,
        "{report}"
    );
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_through_an_outbound_proxy() {
    let provider = Provider::start(&[("office", "s3cret")], "");
    // The registrar's name resolves nowhere: only the outbound proxy (the
    // provider's address) gets the REGISTER there, with a Route to it.
    let conf = format!(
        "[t]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\
[provider-auth]\ntype=auth\nusername=office\npassword=s3cret\nrealm={REALM}\n\
[provider]\ntype=registration\nserver_uri=sip:{REALM}\nclient_uri=sip:office@{REALM}\n\
contact_user=office\noutbound_auth=provider-auth\nmax_random_initial_delay=0\n\
outbound_proxy=sip:{p}\n",
        p = provider.addr
    );
    let (server, udp) = start(&conf).await;
    let contact = format!("sip:office@{udp}");
    eventually("the provider to hold sipjet's binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, _)| *c == contact)
    })
    .await;
    eventually("sipjet to show the registration", || {
        Some(status(&server)).filter(|s| s.state == State::Registered)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_the_caller_is_sent_on_the_providers_leg() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("trunk_answer_update.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    let alice = alice_dials(udp, "call_update.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}",
        alice.transcript(),
        outside.transcript()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 200, 200, 200], "{report}");
    assert_eq!(
        methods_received(&outside.messages),
        ["INVITE", "ACK", "UPDATE", "BYE"],
        "{report}"
    );
    let update = &received(&outside.messages, &Method::Update)[0];
    assert_eq!(
        update.body(),
        alice.sent_with_cseq(&Method::Update, 3).body(),
        "{report}"
    );
    assert!(!alice.finals()[2].body().is_empty(), "{report}");
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_through_the_trunks_outbound_proxy_found_by_name() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer_hang_up.xml", provider.addr, uas_port).spawn();
    // The AOR names the provider's domain, which resolves nowhere; the
    // outbound proxy is a name (resolved before the INVITE leaves) for the
    // provider's address.
    let conf = office_conf(&provider)
        .replace(
            &format!("contact=sip:{}", provider.addr),
            &format!("contact=sip:{REALM}"),
        )
        .replace(
            "from_user=office\n",
            &format!(
                "from_user=office\noutbound_proxy=sip:localhost:{}\\;lr\n",
                provider.addr.port()
            ),
        );
    let (server, udp) = start_with(&conf, route()).await;

    let alice = alice_dials(udp, "call_be_hung_up.xml", "9555").await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}\nprovider:\n{}",
        alice.transcript(),
        outside.transcript(),
        provider.log()
    );
    alice.assert_success();
    outside.assert_success();
    let invite = &received(&outside.messages, &Method::Invite)[0];
    assert!(
        invite
            .request_uri()
            .unwrap()
            .starts_with(&format!("sip:555@{REALM}")),
        "{report}"
    );
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_outside_number_lets_the_dialplan_go_on() {
    let uas_port = free_port();
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_busy.xml", provider.addr, uas_port).spawn();
    let (server, udp) = start_with(&office_conf(&provider), route()).await;

    // 7555: the caller ID 4930777, then the Dial; busy, the dialplan goes
    // on to BUSY: Hangup(21), which is 403.
    let alice = Agent::new("call_refused.xml", udp)
        .user("alice", "alice-pass")
        .key("to", "7555")
        .args(["-auth_uri".to_string(), format!("7555@{udp}")])
        .run()
        .await;
    let outside = outside.finish(Duration::from_secs(30)).await;
    let report = format!(
        "alice:\n{}\noutside:\n{}\nprovider:\n{}",
        alice.transcript(),
        outside.transcript(),
        provider.log()
    );
    alice.assert_success();
    outside.assert_success();
    assert_eq!(alice.final_codes(), [401, 403], "{report}");
    // The provider heard the caller ID the dialplan set, under the
    // trunk's name, from the trunk's account.
    let invite = &received(&outside.messages, &Method::Invite)[0];
    assert_eq!(
        invite.headers_named("P-Asserted-Identity").next(),
        Some("\"Office Berlin\" <sip:4930777@provider.test>"),
        "{report}"
    );
    assert!(
        invite
            .header(HeaderName::From)
            .unwrap()
            .contains("sip:office@provider.test"),
        "{report}"
    );
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_provider_delivers_rings_the_phone_the_dialplan_names() {
    let provider = Provider::start(
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], free_port()))),
    );
    let desk_port = free_port();
    // The office registers as its number; the provider's calls are told
    // by its address, and start in [from-provider], which rings the desk.
    let conf = format!(
        "{}[provider-ip]\ntype=identify\nendpoint=provider\nmatch=127.0.0.1\n\
[desk]\ntype=endpoint\naors=desk\ncontext=office\n\
[desk]\ntype=aor\ncontact=sip:desk@127.0.0.1:{desk_port}\n",
        office_conf(&provider)
            .replace(
                "contact_user=office",
                &format!("contact_user={OFFICE_NUMBER}")
            )
            .replace(
                "endpoint_identifier_order=username",
                "endpoint_identifier_order=username,ip"
            )
    );
    let (_server, udp) = start_with(&conf, route()).await;
    let desk = Agent::on_port("call_answer.xml", udp, desk_port).spawn();
    let contact = format!("sip:{OFFICE_NUMBER}@{udp}");
    eventually("the provider to hold the office's binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, _)| *c == contact)
    })
    .await;

    let outside = Agent::new("trunk_call_in.xml", provider.addr)
        .key("to", OFFICE_NUMBER)
        .run()
        .await;
    let (done, desk_log) = stopped_after_bye(desk).await;
    let report = format!(
        "outside:\n{}\ndesk:\n{}\nprovider:\n{}",
        outside.transcript(),
        support::sipp::transcript(&desk_log),
        provider.log()
    );
    outside.assert_success();
    assert!(done, "the desk phone got no BYE\n{report}");
    assert!(
        provider.log().contains("PROVIDER: call for the office"),
        "{report}"
    );
    let invite = &received(&desk_log, &Method::Invite)[0];
    assert!(
        invite
            .request_uri()
            .unwrap()
            .starts_with(&format!("sip:desk@127.0.0.1:{desk_port}")),
        "{report}"
    );
    assert!(
        invite
            .header(HeaderName::From)
            .unwrap()
            .contains("0301234567"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_nat_the_provider_is_given_the_external_address() {
    let uas_port = free_port();
    // The provider at another address than the office's own network.
    let provider = Provider::start_on(
        std::net::Ipv4Addr::new(127, 0, 0, 3),
        &[("office", "s3cret")],
        &proxy_route(SocketAddr::from(([127, 0, 0, 1], uas_port))),
    );
    let outside = Agent::on_port("call_answer.xml", provider.addr, uas_port).spawn();
    let conf = office_conf(&provider).replace(
        "bind=127.0.0.1:5060\n",
        "bind=127.0.0.1:5060\nexternal_signaling_address=192.0.2.10\nlocal_net=127.0.0.1/32\n",
    );
    let (server, udp) = start_with(&conf, route()).await;
    // The binding names the external address.
    eventually("the provider to hold the external contact", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, _)| c.starts_with("sip:office@192.0.2.10:"))
    })
    .await;

    let (alice, outside_log, report) = alice_calls_out_and_hangs_up(udp, outside, &provider).await;
    alice.assert_success();
    // The provider's leg: Contact and Via by the external address...
    let invite = &received(&outside_log, &Method::Invite)[0];
    assert!(
        invite
            .header(HeaderName::Contact)
            .unwrap()
            .contains("@192.0.2.10:"),
        "{report}"
    );
    let vias: Vec<&str> = invite.headers(HeaderName::Via).collect();
    assert!(
        vias.iter().any(|v| v.contains(" 192.0.2.10:")),
        "{vias:?}\n{report}"
    );
    // ...the phone's, inside local_net, by the bound one.
    let answer = alice.finals()[1];
    let contact = answer.header(HeaderName::Contact).unwrap();
    assert!(contact.contains(&format!("@{udp}")), "{contact}\n{report}");
    wait_until("the bridge to forget the call", || {
        server.trunks.active() == 0
    })
    .await;
}
