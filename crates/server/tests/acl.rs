//! `type=acl` over the wire: a source a section denies gets 403 before
//! it is identified or challenged, and nothing it sends is stored or
//! delivered; a REGISTER whose Contact a section's contact rules deny is
//! refused the same way. Each refusal is a FailedACL security event.

mod support;

use sipjet_core::Method;
use sipjet_server::security::SecurityEventKind;
use support::{Request, Transport, Wire, bindings, start};

const CONF: &str = "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[office-only]
type = acl
deny = 0.0.0.0/0
permit = 127.0.0.1
contact_deny = 0.0.0.0/0.0.0.0
contact_permit = 127.0.0.0/8

[user](!)
type = endpoint
identify_by = username

[alice](user)
auth = alice
aors = alice
[alice]
type = auth
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 2

[bob](user)
auth = bob
aors = bob
[bob]
type = auth
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 2
";

fn failed_acl() -> u64 {
    SecurityEventKind::FailedAcl.count()
}

#[tokio::test]
async fn a_denied_source_gets_403_before_any_challenge_and_stores_nothing() {
    let (server, _) = start(CONF).await;
    let before = failed_acl();
    let mut outsider = Wire::connect(Transport::Udp, "127.0.0.2", &server).await;
    let register = Request::new("REGISTER", &outsider.uri(Some("alice")), "alice")
        .with(format!("Contact: <sip:alice@{}>", outsider.addr));
    let r = outsider.ask(&register).await;
    assert_eq!(r.status(), Some(403), "{r:?}");
    assert!(bindings(&server, "alice").is_empty());
    assert!(failed_acl() > before);
    // With credentials it fares no better: the ACL comes first.
    let mut insider = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let probe = Request::new("REGISTER", &insider.uri(Some("alice")), "alice")
        .with(format!("Contact: <sip:alice@{}>", insider.addr));
    let offers = insider.challenged(&probe).await;
    let mut again = register.next();
    let digest = support::Digest::answer(&offers[0], "alice", "alice-pass", &again);
    again = again
        .with(format!("Contact: <sip:alice@{}>", outsider.addr))
        .with(digest.header());
    let r = outsider.ask(&again).await;
    assert_eq!(r.status(), Some(403), "{r:?}");
    assert!(bindings(&server, "alice").is_empty());
}

#[tokio::test]
async fn a_denied_sources_message_is_never_delivered() {
    let (server, _) = start(CONF).await;
    let mut bob = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let register = Request::new("REGISTER", &bob.uri(Some("bob")), "bob")
        .with(format!("Contact: <sip:bob@{}>", bob.addr));
    let (ok, _) = bob.ask_as(&register, "bob", "bob-pass").await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");

    let mut outsider = Wire::connect(Transport::Udp, "127.0.0.2", &server).await;
    let refused = Request::new("MESSAGE", &outsider.uri(Some("bob")), "alice");
    let r = outsider.ask(&refused).await;
    assert_eq!(r.status(), Some(403), "{r:?}");

    // The first request bob's contact receives is the one alice sends
    // from the office afterwards.
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let message = Request::new("MESSAGE", &alice.uri(Some("bob")), "alice");
    let bob_answers = async {
        let got = bob.next_request().await;
        bob.answer(&got, 200).await;
        got
    };
    let ((answer, sent), got) =
        tokio::join!(alice.ask_as(&message, "alice", "alice-pass"), bob_answers);
    assert_eq!(answer.status(), Some(200), "{answer:?}");
    assert_eq!(got.method(), Some(&Method::Message));
    assert_eq!(got.call_id().unwrap(), sent.call_id);
    assert_ne!(got.call_id().unwrap(), refused.call_id);
}

#[tokio::test]
async fn a_register_naming_a_denied_contact_is_refused_and_not_stored() {
    let (server, _) = start(CONF).await;
    let before = failed_acl();
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    for contact in ["<sip:alice@10.0.0.1:5060>", "<sip:alice@phone.example.com>"] {
        let register = Request::new("REGISTER", &alice.uri(Some("alice")), "alice")
            .with(format!("Contact: {contact}"));
        let r = alice.ask(&register).await;
        assert_eq!(r.status(), Some(403), "{contact}: {r:?}");
    }
    assert!(bindings(&server, "alice").is_empty());
    assert!(failed_acl() >= before + 2);
    // A contact on the office's network registers as usual.
    let register = Request::new("REGISTER", &alice.uri(Some("alice")), "alice")
        .with(format!("Contact: <sip:alice@{}>", alice.addr));
    let (ok, _) = alice.ask_as(&register, "alice", "alice-pass").await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(bindings(&server, "alice").len(), 1);
}
