//! The registrar end to end: SIPp, a client we did not write, registers,
//! refreshes and removes bindings over UDP with digest authentication, and
//! the tests read both what SIPp was answered and what the location store
//! holds (RFC 3261 §10.3).

mod support;

use sipjet_core::{HeaderName, Method};
use sipjet_server::digest::DigestAlgorithm;
use sipjet_testkit::free_port;
use support::sipp::{Agent, Run};
use support::{
    Client, Digest, Request, bindings, bound_contacts, listed_contacts, offer_of, seconds_left,
    start,
};

/// Users with MD5-only challenges (all SIPp knows), and AORs with the
/// limits the tests probe.
const CONF: &str = "\
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

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 3
minimum_expiration = 60
maximum_expiration = 7200
default_expiration = 1800

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 3

; max_contacts reached: refused.
[carol](phone)
auth = carol
aors = carol
[carol](md5)
username = carol
password = carol-pass
[carol]
type = aor
max_contacts = 2

; max_contacts reached: the binding closest to expiring makes room.
[dave](phone)
auth = dave
aors = dave
[dave](md5)
username = dave
password = dave-pass
[dave]
type = aor
max_contacts = 2
remove_existing = yes

; Many contacts, or few, for the runs of many calls.
[crowd](phone)
auth = crowd
aors = crowd
[crowd](md5)
username = crowd
password = crowd-pass
[crowd]
type = aor
max_contacts = 100

[few](phone)
auth = few
aors = few
[few](md5)
username = few
password = few-pass
[few]
type = aor
max_contacts = 5
";

/// `sip:user@127.0.0.1:port;line=n`, as the scenarios write contacts.
fn line(user: &str, port: u16, n: u32) -> String {
    format!("sip:{user}@127.0.0.1:{port};line={n}")
}

/// Runs `scenario` as `user` (password `user-pass`) from `port`.
async fn register(scenario: &str, server: std::net::SocketAddr, user: &str, port: u16) -> Run {
    Agent::on_port(scenario, server, port)
        .user(user, &format!("{user}-pass"))
        .run()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_refresh_and_unregister() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = register("reg_lifecycle.xml", udp, "alice", port).await;
    run.assert_success();
    let log = run.transcript();
    let finals = run.finals();
    assert_eq!(run.final_codes(), [401, 200, 200, 200, 200], "{log}");
    let l = |n| line("alice", port, n);

    // Three contacts, each granted the hour asked for.
    assert_eq!(
        listed_contacts(finals[1]),
        [(l(1), Some(3600)), (l(2), Some(3600)), (l(3), Some(3600))],
        "{log}"
    );
    // A second later line=1 is refreshed with ;expires=3600: it is granted
    // 3600 again, not 3599, and the others show what they have left.
    let refreshed = listed_contacts(finals[2]);
    assert_eq!(refreshed[0], (l(1), Some(3600)), "{log}");
    for (contact, expires) in &refreshed[1..] {
        assert!(
            matches!(expires, Some(3500..=3599)),
            "{contact} not refreshed but shown with {expires:?}\n{log}"
        );
    }
    // ;expires=0 removes line=1, Expires: 0 removes line=2; every 200
    // lists every binding left.
    let contacts = |i: usize| -> Vec<String> {
        listed_contacts(finals[i])
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    };
    assert_eq!(contacts(3), [l(2), l(3)], "{log}");
    assert_eq!(contacts(4), [l(3)], "{log}");

    // The store holds line=3 as the second REGISTER made it.
    let register = run.sent_with_cseq(&Method::Register, 2);
    let stored = bindings(&server, "alice");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let b = &stored[0];
    assert_eq!(b.contact, l(3));
    assert_eq!(
        Some(b.call_id.as_str()),
        register.header(HeaderName::CallId)
    );
    assert_eq!(b.cseq, 2);
    assert_eq!(b.endpoint.as_deref(), Some("alice"));
    assert_eq!(
        b.received.as_deref(),
        Some(format!("UDP:127.0.0.1:{port}").as_str())
    );
    assert!((3500..=3600).contains(&seconds_left(b)), "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_star_removes_everything_only_with_expires_zero_alone() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = register("reg_wildcard.xml", udp, "alice", port).await;
    run.assert_success();
    let log = run.transcript();
    let finals = run.finals();
    assert_eq!(
        run.final_codes(),
        [401, 200, 400, 400, 400, 200, 200],
        "{log}"
    );
    let both = [
        (line("alice", port, 1), Some(3600)),
        (line("alice", port, 2), Some(3600)),
    ];
    assert_eq!(listed_contacts(finals[1]), both, "{log}");
    // The refused wildcards removed nothing: a REGISTER without Contact
    // lists both bindings.
    let listed: Vec<String> = listed_contacts(finals[5])
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(listed, [both[0].0.clone(), both[1].0.clone()], "{log}");
    // Contact: * with Expires: 0 removed them all.
    assert!(listed_contacts(finals[6]).is_empty(), "{log}");
    assert!(bound_contacts(&server, "alice").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intervals_below_the_minimum_are_refused_above_the_maximum_capped() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = register("reg_intervals.xml", udp, "alice", port).await;
    run.assert_success();
    let log = run.transcript();
    let finals = run.finals();
    assert_eq!(run.final_codes(), [401, 423, 423, 200, 200, 200], "{log}");
    let l = |n| line("alice", port, n);
    // 30 s (Expires) and 59 s (;expires) are too brief: Min-Expires says
    // what the AOR accepts.
    for brief in &finals[1..3] {
        assert_eq!(brief.min_expires().unwrap(), Some(60), "{brief:?}");
    }
    // The minimum itself is granted.
    assert_eq!(listed_contacts(finals[3]), [(l(1), Some(60))], "{log}");
    // 99999 s is capped at maximum_expiration.
    let capped = listed_contacts(finals[4]);
    assert_eq!(capped[1], (l(2), Some(7200)), "{log}");
    // No interval at all: default_expiration.
    let defaulted = listed_contacts(finals[5]);
    assert_eq!(defaulted[2], (l(3), Some(1800)), "{log}");

    let stored = bindings(&server, "alice");
    let left: Vec<u64> = stored.iter().map(seconds_left).collect();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(left[0] <= 60, "{stored:?}");
    assert!((7100..=7200).contains(&left[1]), "{stored:?}");
    assert!((1700..=1800).contains(&left[2]), "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_contacts_refuses_a_new_contact_or_replaces_the_oldest() {
    let (server, udp) = start(CONF).await;
    let (carol_port, dave_port) = (free_port(), free_port());
    let (carol, dave) = tokio::join!(
        register("reg_max_contacts.xml", udp, "carol", carol_port),
        register("reg_max_contacts.xml", udp, "dave", dave_port),
    );
    carol.assert_success();
    dave.assert_success();

    // carol (no remove_existing): line=3 is refused, line=2 can still be
    // refreshed, and the store keeps line=1 and line=2.
    let log = carol.transcript();
    assert_eq!(carol.final_codes(), [401, 200, 200, 403, 200], "{log}");
    assert_eq!(
        bound_contacts(&server, "carol"),
        [line("carol", carol_port, 1), line("carol", carol_port, 2)]
    );

    // dave (remove_existing): line=3 takes the place of line=1, which was
    // registered first and for the shortest time.
    let log = dave.transcript();
    assert_eq!(dave.final_codes(), [401, 200, 200, 200, 200], "{log}");
    let l = |n| line("dave", dave_port, n);
    let listed: Vec<String> = listed_contacts(dave.finals()[3])
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(listed, [l(2), l(3)], "{log}");
    assert_eq!(bound_contacts(&server, "dave"), [l(2), l(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_cseq_of_the_same_call_id_does_not_overwrite() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = register("reg_stale_cseq.xml", udp, "alice", port).await;
    run.assert_success();
    let log = run.transcript();
    assert_eq!(run.final_codes(), [401, 200, 500, 200], "{log}");
    let listed = listed_contacts(run.finals()[3]);
    assert_eq!(listed.len(), 1, "{log}");
    assert!(
        matches!(listed[0].1, Some(500..=600)),
        "the refused REGISTER changed the interval: {listed:?}\n{log}"
    );
    let stored = bindings(&server, "alice");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].cseq, 11);
    assert!(seconds_left(&stored[0]) <= 600, "{stored:?}");
}

/// RFC 3261 §10.3 steps 6 and 7: a removal (`;expires=0`, or `Contact: *`
/// with `Expires: 0`) in the Call-ID of a binding with a CSeq that is not
/// higher than the binding's must fail and leave the binding alone, as an
/// update does. A REGISTER delayed in the network would otherwise undo a
/// later registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_cseq_of_the_same_call_id_does_not_remove() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = register("reg_stale_cseq_removal.xml", udp, "alice", port).await;
    assert_eq!(
        bound_contacts(&server, "alice"),
        [line("alice", port, 1), line("alice", port, 2)],
        "{}",
        run.transcript()
    );
    run.assert_success();
    assert_eq!(run.final_codes(), [401, 200, 500, 500, 200]);
}

/// Someone else's AOR and an AOR that does not exist get the same 403, so
/// that an authenticated user cannot learn which AORs exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_someone_elses_aor_or_an_unknown_one_is_forbidden_alike() {
    let (server, udp) = start(CONF).await;
    let as_alice = |aor: &'static str| {
        Agent::new("reg_other_aor.xml", udp)
            .user("alice", "alice-pass")
            .key("aor", aor)
            .run()
    };
    let (to_bob, to_nobody) = tokio::join!(as_alice("bob"), as_alice("nobody"));
    to_bob.assert_success();
    to_nobody.assert_success();
    assert_eq!(to_bob.final_codes(), [401, 403], "{}", to_bob.transcript());
    assert_eq!(
        to_nobody.final_codes(),
        [401, 403],
        "{}",
        to_nobody.transcript()
    );
    assert!(bound_contacts(&server, "bob").is_empty());
    assert!(bound_contacts(&server, "alice").is_empty());
}

/// A REGISTER whose Contact is not a URI (`*Digest` once made a binding
/// named `*Digest` that counted toward max_contacts) is answered 400,
/// credentials and all, and stores nothing; a proper Contact afterwards
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_that_is_not_a_uri_is_400_and_stores_nothing() {
    let (server, udp) = start(CONF).await;
    let alice = Client::new(udp).await;
    let register = |contact: &str| {
        Request::new("REGISTER", &alice.uri(Some("alice")), "alice")
            .with(format!("Contact: {contact}"))
            .with("Expires: 600")
    };
    let signed = |request: Request, offers: &[support::Offer]| {
        let answer = Digest::answer(
            offer_of(offers, DigestAlgorithm::Md5),
            "alice",
            "alice-pass",
            &request,
        );
        request.with(answer.header())
    };
    // A clean REGISTER gets the challenge the others answer.
    let probe = Request::new("REGISTER", &alice.uri(Some("alice")), "alice");
    let offers = alice.challenged(&probe).await;
    for (contact, fault) in [
        (
            "*Digest",
            "\"*Digest\" is neither a lone \"*\" nor an address",
        ),
        ("*;expires=600", "is neither a lone \"*\" nor an address"),
        ("<>", "empty <>"),
        ("garbage", "\"garbage\" has no URI scheme"),
        ("<garbage>", "\"garbage\" has no URI scheme"),
        (
            &format!("<sip:alice@{}>, nonsense", alice.addr),
            "\"nonsense\" has no URI scheme",
        ),
    ] {
        let r = alice.ask(&signed(register(contact), &offers)).await;
        assert_eq!(r.status(), Some(400), "Contact: {contact}: {r:?}");
        let reason = r.reason().unwrap();
        assert!(
            reason.starts_with("Contact header: ") && reason.contains(fault),
            "Contact: {contact}: {reason}"
        );
        assert!(
            bound_contacts(&server, "alice").is_empty(),
            "Contact: {contact}"
        );
    }
    let good = format!("sip:alice@{}", alice.addr);
    let r = alice
        .ask(&signed(register(&format!("<{good}>")), &offers))
        .await;
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert_eq!(bound_contacts(&server, "alice"), [good]);
}

/// A REGISTER sent again byte for byte over UDP (its 200 was lost) gets
/// the same 200 again, from the completed transaction, without being
/// processed anew (RFC 3261 §17.2.2). A request with the same transaction
/// key but other bytes (another Contact) is no retransmission: it gets
/// nothing back, neither that 200 nor one of its own, and binds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_sent_again_gets_its_200_again_and_a_forged_one_nothing() {
    let (server, udp) = start(CONF).await;
    let alice = Client::new(udp).await;
    let contact = format!("sip:alice@{}", alice.addr);
    let register = Request::new("REGISTER", &alice.uri(Some("alice")), "alice")
        .with(format!("Contact: <{contact}>"))
        .with("Expires: 600");
    let offers = alice.challenged(&register).await;
    let answer = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        "alice",
        "alice-pass",
        &register,
    );
    let text = register
        .next()
        .with(format!("Contact: <{contact}>"))
        .with("Expires: 600");
    let text = text.with(answer.header()).text(alice.addr);
    alice.send_text(&text).await;
    let first = alice.final_response().await;
    assert_eq!(first.status(), Some(200), "{first:?}");
    alice.send_text(&text).await;
    let again = alice.final_response().await;
    assert_eq!(again.to_bytes(), first.to_bytes());

    let forged = text.replace(
        &format!("Contact: <{contact}>"),
        "Contact: <sip:mallory@127.0.0.9:5999>",
    );
    assert_ne!(forged, text);
    alice.send_text(&forged).await;
    // What comes back next answers the request sent after the forgery.
    let probe = Request::new("OPTIONS", &alice.uri(None), "alice");
    let next = alice.ask(&probe).await;
    assert_eq!(
        next.header(HeaderName::CallId),
        Some(probe.call_id.as_str()),
        "{next:?}"
    );
    assert_eq!(bound_contacts(&server, "alice"), [contact]);
}

/// The Retrans column of SIPp's final scenario screen, summed.
fn retransmissions(sipp_output: &str) -> u64 {
    let last_screen = sipp_output
        .rfind("Scenario Screen")
        .map_or(sipp_output, |i| &sipp_output[i..]);
    last_screen
        .lines()
        .filter(|l| l.contains("---------->"))
        .filter_map(|l| l.split("---------->").nth(1))
        .filter_map(|counts| counts.split_whitespace().nth(1))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_registrations_all_succeed_through_ten_percent_loss() {
    let (server, udp) = start(CONF).await;
    let port = free_port();
    let run = Agent::on_port("reg_crowd.xml", udp, port)
        .user("crowd", "crowd-pass")
        .calls(50, 25)
        .args(["-lost", "10"])
        .run()
        .await;
    run.assert_success();
    assert!(
        retransmissions(&run.outcome.output) > 0,
        "SIPp lost nothing, so this run shows nothing:\n{}",
        run.outcome.output
    );
    let mut expected: Vec<String> = (1..=50)
        .map(|n| format!("sip:crowd-{n}@127.0.0.1:{port}"))
        .collect();
    expected.sort();
    assert_eq!(bound_contacts(&server, "crowd"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_contacts_holds_when_registrations_arrive_together() {
    let (server, udp) = start(CONF).await;
    let run = Agent::new("reg_crowd.xml", udp)
        .user("few", "few-pass")
        .calls(40, 200)
        .run()
        .await;
    run.assert_success();
    let codes = run.final_codes();
    let accepted = codes.iter().filter(|&&c| c == 200).count();
    let stored = bound_contacts(&server, "few");
    assert!(
        stored.len() <= 5,
        "max_contacts = 5, yet {} bindings: {stored:?}",
        stored.len()
    );
    assert_eq!(accepted, 5, "{codes:?}");
}

#[test]
fn reads_retransmissions_from_sipps_screen() {
    let screen = "------------------------------ Scenario Screen -------- [1-9]: Change Screen --
                                 Messages  Retrans   Timeout   Unexpected-Msg
    REGISTER ---------->         50        7         0
         401 <----------         50        0         0         0
    REGISTER ---------->         50        3         0
         200 <----------         50        0         0         0
";
    assert_eq!(retransmissions(screen), 10);
}
