//! SIP extensions, over the wire: the server advertises only what it
//! implements, refuses with 420 a request that requires anything else
//! (RFC 3261 §8.2.2.3, §16.3), and does what it advertises: an AOR with
//! `support_path` is reached through the Path its REGISTER recorded
//! (RFC 3327).

mod support;

use std::time::SystemTime;

use sipjet_core::HeaderName;
use sipjet_server::server::Server;
use support::{Request, Transport, Wire, start};

const CONF: &str = "\
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

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 3
support_path = yes

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 3
";

fn bound(server: &Server, aor: &str) -> usize {
    server.location.bindings(aor, SystemTime::now()).len()
}

/// What a request requires and the server does not implement gets 420
/// with Unsupported naming it, before anything is done: nothing bound,
/// nothing delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requiring_what_is_not_implemented_is_420() {
    let (server, _) = start(CONF).await;
    let mut alice = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let contact = format!("<sip:alice@{}>", alice.addr);
    let register = Request::new("REGISTER", &alice.uri(Some("alice")), "alice")
        .with(format!("Contact: {contact}"));
    let (ok, _) = alice.ask_as(&register, "alice", "alice-pass").await;
    assert_eq!(ok.status(), Some(200));
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut wire = Wire::connect(transport, "127.0.0.1", &server).await;
        // OPTIONS to the server: no authentication, no extension.
        let options =
            Request::new("OPTIONS", &wire.uri(None), "bob").with("Require: outbound, 100rel");
        let r = wire.ask(&options).await;
        assert_eq!(r.status(), Some(420), "{r:?}");
        assert_eq!(r.header(HeaderName::Unsupported), Some("outbound, 100rel"));

        // REGISTER: outbound and gruu are not implemented, path only for
        // the AORs that support it.
        for (user, password, require) in [
            ("bob", "bob-pass", "outbound"),
            ("bob", "bob-pass", "gruu"),
            ("bob", "bob-pass", "path"),
            ("alice", "alice-pass", "outbound"),
        ] {
            let register = Request::new("REGISTER", &wire.uri(Some(user)), user)
                .with(format!("Contact: <sip:{user}@127.0.0.1:7777>"))
                .with(format!("Require: {require}"));
            let (r, _) = wire.ask_as(&register, user, password).await;
            assert_eq!(r.status(), Some(420), "{user} {require}: {r:?}");
            assert_eq!(r.header(HeaderName::Unsupported), Some(require));
        }
        assert_eq!(bound(&server, "bob"), 0);
        assert_eq!(bound(&server, "alice"), 1);

        // MESSAGE, which the server forwards: Proxy-Require.
        let message = Request::new("MESSAGE", &wire.uri(Some("alice")), "bob")
            .with("Proxy-Require: sec-agree")
            .with("Content-Type: text/plain");
        let (r, _) = wire.ask_as(&message, "bob", "bob-pass").await;
        assert_eq!(r.status(), Some(420), "{r:?}");
        assert_eq!(r.header(HeaderName::Unsupported), Some("sec-agree"));
    }
    // Nothing reached alice: the next request she gets is this one.
    let mut bob = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let message =
        Request::new("MESSAGE", &bob.uri(Some("alice")), "bob").with("Content-Type: text/plain");
    let first = bob.ask(&message).await;
    let offer = support::offers(&first).remove(0);
    let next = message.next().with("Content-Type: text/plain");
    let digest = support::Digest::answer(&offer, "bob", "bob-pass", &next);
    let next = next.with(digest.header());
    let text = bob.text(&next);
    bob.send_text(&text).await;
    let got = alice.next_request().await;
    assert_eq!(got.call_id().unwrap(), next.call_id);
}

/// RFC 3327: for an AOR with support_path, the Path of the REGISTER is
/// stored and echoed with `Supported: path`, OPTIONS advertises it, and a
/// MESSAGE to the AOR goes to the first Path hop with the Path as its
/// Route, the contact as its Request-URI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_registered_through_a_proxy_is_reached_through_it() {
    let (server, _) = start(CONF).await;
    let mut edge = Wire::connect(Transport::Udp, "127.0.0.5", &server).await;
    let path = format!("<sip:edge@{};lr>", edge.addr);
    let register = Request::new("REGISTER", &edge.uri(Some("alice")), "alice")
        .with("Contact: <sip:alice@192.0.2.10:5060>")
        .with(format!("Path: {path}"))
        .with("Supported: path");
    let (ok, _) = edge.ask_as(&register, "alice", "alice-pass").await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(ok.header(HeaderName::Path), Some(path.as_str()));
    assert_eq!(ok.header(HeaderName::Supported), Some("path"));

    let mut anyone = Wire::connect(Transport::Udp, "127.0.0.1", &server).await;
    let options = anyone
        .ask(&Request::new("OPTIONS", &anyone.uri(None), "x"))
        .await;
    assert_eq!(options.header(HeaderName::Supported), Some("path"));

    let message =
        Request::new("MESSAGE", &anyone.uri(Some("alice")), "bob").with("Content-Type: text/plain");
    let first = anyone.ask(&message).await;
    let offer = support::offers(&first).remove(0);
    let next = message.next().with("Content-Type: text/plain");
    let digest = support::Digest::answer(&offer, "bob", "bob-pass", &next);
    let next = next.with(digest.header());
    let text = anyone.text(&next);
    anyone.send_text(&text).await;
    let got = edge.next_request().await;
    assert_eq!(got.request_uri(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(
        got.headers_named("Route").collect::<Vec<_>>(),
        [path.as_str()]
    );
    edge.answer(&got, 200).await;
    assert_eq!(anyone.final_response().await.status(), Some(200));
}
