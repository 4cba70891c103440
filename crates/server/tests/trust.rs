//! What a request must prove before the server acts on it, tried as an
//! attacker tries it: over UDP, TCP and WebSocket, from loopback addresses
//! of its own (127.0.0.66), with tags, users and credentials of its
//! choosing. Each test checks the refusal on the wire and that nothing was
//! stored, removed or delivered.

mod support;

use std::time::SystemTime;

use sipjet_server::server::Server;
use support::{Request, Transport, Wire, start, to_tag};

/// alice and bob with passwords, over UDP, TCP and WebSocket; endpoints
/// identified by From user and by Authorization username, as in the
/// built-in default.
const CONF: &str = "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username,auth_username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5060

[ws]
type = transport
protocol = ws
bind = 127.0.0.1:8080

[phone](!)
type = endpoint
identify_by = username,auth_username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5

[inbox](!)
type = aor
max_contacts = 3

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
";

/// The contacts bound to `aor`, sorted.
fn contacts(server: &Server, aor: &str) -> Vec<String> {
    let mut c: Vec<String> = server
        .location
        .bindings(aor, SystemTime::now())
        .into_iter()
        .map(|b| b.contact)
        .collect();
    c.sort();
    c
}

/// A REGISTER for `user`'s AOR (To and Request-URI name it) binding
/// `contact`.
fn register(wire: &Wire, user: &str, contact: &str) -> Request {
    Request::new("REGISTER", &wire.uri(Some(user)), user).with(format!("Contact: {contact}"))
}

/// Registers `user` properly from `wire`, with the wire's own address as
/// contact; returns that contact.
async fn register_properly(wire: &mut Wire, user: &str, password: &str) -> String {
    let contact = format!("sip:{user}@{}", wire.addr);
    let request = register(wire, user, &format!("<{contact}>"));
    let (ok, _) = wire.ask_as(&request, user, password).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    contact
}

/// RFC 3261 §10.2: a REGISTER never belongs to a dialog. A To tag made up
/// by the sender once replaced credentials: it bound an attacker's
/// contact to alice, removed all of her bindings with `Contact: *`, and
/// with a junk Authorization bound to bob. Each is challenged now, and
/// nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_to_tag_on_a_register_replaces_no_credentials() {
    let (server, _) = start(CONF).await;
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let alice_contact = register_properly(&mut alice, "alice", "alice-pass").await;
    for transport in Transport::ALL {
        let mut evil = Wire::connect(transport, "127.0.0.66", &server).await;
        let take_over = register(&evil, "alice", "<sip:evil@127.0.0.66:7777>").tagged("forged");
        let r = evil.ask(&take_over).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");

        let remove_all = register(&evil, "alice", "*")
            .tagged("forged")
            .with("Expires: 0");
        let r = evil.ask(&remove_all).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");

        let as_bob = Request::new("REGISTER", &evil.uri(Some("bob")), "nobody")
            .tagged("forged")
            .with("Contact: <sip:evil@127.0.0.66:7777>")
            .with(format!(
                "Authorization: Digest username=\"bob\", realm=\"sipjet.test\", nonce=\"x\", uri=\"{}\", response=\"00000000000000000000000000000000\"",
                evil.uri(None)
            ));
        let r = evil.ask(&as_bob).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");

        // The same answer for an AOR that exists and one that does not.
        let nobody = register(&evil, "nobody", "<sip:evil@127.0.0.66:7777>").tagged("forged");
        let r = evil.ask(&nobody).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");
    }
    assert_eq!(contacts(&server, "alice"), [alice_contact]);
    assert!(contacts(&server, "bob").is_empty());
}

/// A To tag names a dialog only when the server holds that dialog. Any
/// method with a tag it made up is authenticated first (401), and once
/// authenticated gets 481: no dialog, and nobody serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_method_with_a_made_up_to_tag_is_challenged_then_481() {
    let (server, _) = start(CONF).await;
    for transport in Transport::ALL {
        let mut evil = Wire::connect(transport, "127.0.0.66", &server).await;
        for method in [
            "INVITE",
            "BYE",
            "MESSAGE",
            "OPTIONS",
            "INFO",
            "UPDATE",
            "REFER",
            "NOTIFY",
            "SUBSCRIBE",
            "PUBLISH",
            "PRACK",
            "FOO",
        ] {
            let request = Request::new(method, &evil.uri(Some("bob")), "alice").tagged("forged");
            let (r, _) = evil.ask_as(&request, "alice", "alice-pass").await;
            assert_eq!(r.status(), Some(481), "{transport:?} {method}: {r:?}");
        }
    }
}

/// A MESSAGE with a made-up To tag is not routed to the AOR it names,
/// with or without credentials; the next proper MESSAGE is the first one
/// bob receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_tag_on_a_message_delivers_nothing() {
    let (server, _) = start(CONF).await;
    let mut bob = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    register_properly(&mut bob, "bob", "bob-pass").await;
    for transport in Transport::ALL {
        let mut evil = Wire::connect(transport, "127.0.0.66", &server).await;
        let forged = Request::new("MESSAGE", &evil.uri(Some("bob")), "alice")
            .tagged("forged")
            .with("Content-Type: text/plain");
        let r = evil.ask(&forged).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");
        let (r, _) = evil.ask_as(&forged.next(), "alice", "alice-pass").await;
        assert_eq!(r.status(), Some(481), "{transport:?}: {r:?}");

        let mut alice = Wire::connect(transport, "127.0.0.1", &server).await;
        let proper = Request::new("MESSAGE", &alice.uri(Some("bob")), "alice")
            .with("Content-Type: text/plain");
        let request = alice.ask(&proper).await;
        assert_eq!(request.status(), Some(401));
        let offer = support::offers(&request).remove(0);
        let next = proper.next().with("Content-Type: text/plain");
        let digest = support::Digest::answer(&offer, "alice", "alice-pass", &next);
        let next = next.with(digest.header());
        let text = alice.text(&next);
        alice.send_text(&text).await;
        let delivered = bob.next_request().await;
        assert_eq!(
            delivered.call_id().unwrap(),
            proper.call_id,
            "{transport:?}: bob got {delivered:?}"
        );
        bob.answer(&delivered, 200).await;
        let r = alice.final_response().await;
        assert_eq!(r.status(), Some(200), "{r:?}");
    }
}

/// A nonce is bound to the address it was issued to: alice's credentials
/// replayed from another address are challenged, and her bindings stay as
/// they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_from_a_second_source_address_needs_its_own_credentials() {
    let (server, _) = start(CONF).await;
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let contact = format!("<sip:alice@{}>", alice.addr);
    let (ok, sent) = alice
        .ask_as(&register(&alice, "alice", &contact), "alice", "alice-pass")
        .await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let authorization = sent
        .extra
        .iter()
        .find(|l| l.starts_with("Authorization:"))
        .unwrap()
        .clone();
    for transport in Transport::ALL {
        let mut evil = Wire::connect(transport, "127.0.0.66", &server).await;
        let mut replay =
            register(&evil, "alice", "<sip:evil@127.0.0.66:7777>").with(authorization.clone());
        replay.uri = alice.uri(Some("alice"));
        let r = evil.ask(&replay).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");
        assert!(to_tag(&r).is_some());
        let tagged = replay.next().tagged("forged").with(authorization.clone());
        let r = evil.ask(&tagged).await;
        assert_eq!(r.status(), Some(401), "{transport:?}: {r:?}");
    }
    assert_eq!(
        contacts(&server, "alice"),
        [format!("sip:alice@{}", alice.addr)]
    );
}

/// RFC 3261 §8.2.7, §26.3.2.4: an INVITE nobody authenticated is
/// challenged statelessly, so a flood of them leaves no transaction and
/// no Timer G retransmissions behind; a CANCEL that matches nothing is
/// answered the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_invites_leave_no_transaction_behind() {
    let (server, _) = start(CONF).await;
    let mut evil = Wire::connect(Transport::Udp, "127.0.0.66", &server).await;
    let mut codes = std::collections::BTreeMap::new();
    // In rounds of 50 pairs, each round's answers read before the next:
    // the server answers as fast as they come, and 400 answers unread
    // would be more than this socket's default receive buffer holds.
    for round in 0..4 {
        for i in round * 50..(round + 1) * 50 {
            let invite = Request::new("INVITE", &evil.uri(Some("bob")), &format!("user{i}"));
            let text = evil.text(&invite);
            evil.send_text(&text).await;
            let cancel = Request::new("CANCEL", &evil.uri(Some("bob")), &format!("user{i}"));
            let text = evil.text(&cancel);
            evil.send_text(&text).await;
        }
        for _ in 0..100 {
            let r = evil.final_response().await;
            *codes.entry(r.status().unwrap()).or_insert(0) += 1;
        }
    }
    assert_eq!(codes, [(401, 200), (481, 200)].into_iter().collect());
    assert_eq!(server.stack.transaction_count(), 0);
}

/// What a stranger makes the server remember about it is bounded: an
/// unidentified source is counted with at most a short prefix of the user
/// it claimed, however long the From user it sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unidentified_sources_leave_little_behind() {
    let (server, _) = start(CONF).await;
    let long_user = "z".repeat(8 * 1024);
    for i in 1..=40 {
        let mut evil = Wire::connect(Transport::Udp, &format!("127.0.1.{i}"), &server).await;
        let probe = Request::new("OPTIONS", &evil.uri(Some("alice")), &long_user);
        let r = evil.ask(&probe).await;
        assert_eq!(r.status(), Some(401), "{r:?}");
    }
    let kept = server.unidentified.list();
    assert_eq!(kept.len(), 40);
    for (ip, source) in &kept {
        assert!(ip.to_string().starts_with("127.0.1."), "{ip}");
        assert_eq!(
            source.last_account.len(),
            sipjet_server::security::MAX_ACCOUNT_BYTES
        );
    }
}

/// [`CONF`] with endpoints found by the Authorization username first, and
/// two more: carol, who may also send as `sales`, and dave, whose asserted
/// identities are believed.
fn identity_conf() -> String {
    CONF.replace(
        "endpoint_identifier_order = username,auth_username",
        "endpoint_identifier_order = auth_username,username",
    ) + "
[carol](phone)
auth = carol
aors = carol
from_user = sales
[carol](md5)
username = carol
password = carol-pass
[carol](inbox)

[dave](phone)
auth = dave
aors = dave
trust_id_inbound = yes
[dave](md5)
username = dave
password = dave-pass
[dave](inbox)
"
}

/// `from` sends alice a MESSAGE over `wire` with `extra` header lines,
/// and after its challenge sends it again with `user`'s credentials;
/// returns that second request (its answer is left to the caller).
async fn message_to_alice(
    wire: &mut Wire,
    from: &str,
    (user, password): (&str, &str),
    extra: &[&str],
) -> Request {
    let mut request =
        Request::new("MESSAGE", &wire.uri(Some("alice")), from).with("Content-Type: text/plain");
    for line in extra {
        request = request.with(*line);
    }
    let first = wire.ask(&request).await;
    assert_eq!(first.status(), Some(401), "{first:?}");
    let offer = support::offers(&first).remove(0);
    let mut next = request.next();
    next.extra = request.extra.clone();
    let digest = support::Digest::answer(&offer, user, password, &next);
    let next = next.with(digest.header());
    let text = wire.text(&next);
    wire.send_text(&text).await;
    next
}

/// Credentials prove who sent a request, not who its From says: an
/// endpoint may send only as one of its own identities (its name, AORs,
/// auth username, `from_user`), and identity headers pass only from an
/// endpoint trusted to assert them (RFC 3325). Over UDP, TCP and
/// WebSocket; what is refused reaches nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_sends_only_as_itself() {
    let (server, _) = start(&identity_conf()).await;
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    register_properly(&mut alice, "alice", "alice-pass").await;
    let pai = "P-Asserted-Identity: <sip:ceo@bank.example>";
    let rpid = "Remote-Party-ID: <sip:ceo@bank.example>;party=calling";
    for transport in Transport::ALL {
        let mut bob = Wire::connect(transport, "127.0.0.1", &server).await;
        for claimed in ["ceo", "alice"] {
            message_to_alice(&mut bob, claimed, ("bob", "bob-pass"), &[]).await;
            let r = bob.final_response().await;
            assert_eq!(r.status(), Some(403), "{transport:?} as {claimed}: {r:?}");
        }
        // bob as himself, asserting to be the CEO: delivered, but not the
        // assertion.
        let sent = message_to_alice(&mut bob, "bob", ("bob", "bob-pass"), &[pai, rpid]).await;
        let got = alice.next_request().await;
        assert_eq!(
            got.call_id().unwrap(),
            sent.call_id,
            "{transport:?}: {got:?}"
        );
        assert_eq!(
            got.from_header()
                .unwrap()
                .uri()
                .unwrap()
                .as_sip()
                .unwrap()
                .user,
            Some("bob")
        );
        assert_eq!(
            got.headers_named("P-Asserted-Identity").count(),
            0,
            "{got:?}"
        );
        assert_eq!(got.headers_named("Remote-Party-ID").count(), 0, "{got:?}");
        alice.answer(&got, 200).await;
        assert_eq!(bob.final_response().await.status(), Some(200));

        // from_user widens what carol may claim.
        let mut carol = Wire::connect(transport, "127.0.0.1", &server).await;
        let sent = message_to_alice(&mut carol, "sales", ("carol", "carol-pass"), &[]).await;
        let got = alice.next_request().await;
        assert_eq!(got.call_id().unwrap(), sent.call_id);
        alice.answer(&got, 200).await;
        assert_eq!(carol.final_response().await.status(), Some(200));

        // dave is trusted to assert: his P-Asserted-Identity passes.
        let mut dave = Wire::connect(transport, "127.0.0.1", &server).await;
        let sent = message_to_alice(&mut dave, "dave", ("dave", "dave-pass"), &[pai]).await;
        let got = alice.next_request().await;
        assert_eq!(got.call_id().unwrap(), sent.call_id);
        assert_eq!(
            got.headers_named("P-Asserted-Identity").collect::<Vec<_>>(),
            ["<sip:ceo@bank.example>"]
        );
        alice.answer(&got, 200).await;
        assert_eq!(dave.final_response().await.status(), Some(200));
    }
}

/// A WebSocket transport with allowed_origins lets pages of those origins
/// (and clients that are not browsers, which send no Origin) connect; a
/// page of any other origin is refused at the handshake, before a byte of
/// SIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_of_another_origin_cannot_open_the_websocket() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let conf = CONF.replace(
        "protocol = ws\n",
        "protocol = ws\nallowed_origins = https://phone.example.com\n",
    );
    let (server, _) = start(&conf).await;
    let ws = server
        .stack
        .transports()
        .unwrap()
        .sent_by(sipjet_core::transport::Protocol::Ws)
        .unwrap();
    let open = |origin: Option<&'static str>| async move {
        let mut req = format!("ws://{ws}/").into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        let tcp = tokio::net::TcpStream::connect(ws).await.unwrap();
        tokio_tungstenite::client_async(req, tcp).await.map(|_| ())
    };
    match open(Some("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    open(Some("https://phone.example.com")).await.unwrap();
    open(None).await.unwrap();
    // The Wire client, which names no origin, is served as before.
    let mut client = Wire::connect(Transport::Ws, "127.0.0.1", &server).await;
    let r = client
        .ask(&register(&client, "alice", "<sip:alice@127.0.0.1:9>"))
        .await;
    assert_eq!(r.status(), Some(401));
}
