//! Behind NAT, over the wire: with `external_signaling_address` and
//! `local_net` on the transport, what the server writes of itself (Via,
//! Record-Route) names the external address to peers outside
//! `local_net` and the listener's own to peers inside, and requests that
//! come back naming the external address are recognised as the
//! server's own.

mod support;

use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::server::Server;
use support::{Request, Transport, Wire, start};

const EXTERNAL: &str = "192.0.2.80:5099";

const CONF: &str = "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060
external_signaling_address = 192.0.2.80
external_signaling_port = 5099
local_net = 127.0.0.1/32

[phone](!)
type = endpoint
identify_by = username

[alice](phone)
auth = alice
aors = alice
[alice]
type = auth
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 1

[bob](phone)
auth = bob
aors = bob
[bob]
type = auth
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 1
";

struct Phone {
    wire: Wire,
    user: &'static str,
}

impl Phone {
    async fn registered(server: &Server, ip: &str, user: &'static str) -> Phone {
        let mut wire = Wire::connect(Transport::Udp, ip, server).await;
        let register = Request::new("REGISTER", &wire.uri(Some(user)), user)
            .with(format!("Contact: <sip:{user}@{}>", wire.addr));
        let (ok, _) = wire.ask_as(&register, user, &format!("{user}-pass")).await;
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        Phone { wire, user }
    }

    async fn call(&mut self, callee: &str) -> Request {
        let invite = Request::new("INVITE", &self.wire.uri(Some(callee)), self.user)
            .with(format!("Contact: <sip:{}@{}>", self.user, self.wire.addr));
        let first = self.wire.ask(&invite).await;
        assert_eq!(first.status(), Some(401), "{first:?}");
        let offer = support::offers(&first).remove(0);
        let mut next = invite.next();
        next.extra = invite.extra.clone();
        let digest =
            support::Digest::answer(&offer, self.user, &format!("{}-pass", self.user), &next);
        let next = next.with(digest.header());
        let text = self.wire.text(&next);
        self.wire.send_text(&text).await;
        next
    }

    async fn incoming(&mut self) -> Message {
        self.wire.next_request().await
    }

    async fn answer_ok(&mut self, request: &Message) {
        let mut r = Message::response_to_with(request, 200, None, Some(self.user)).unwrap();
        for rr in request.headers(HeaderName::RecordRoute) {
            r.add_header("Record-Route", rr).unwrap();
        }
        r.add_header(
            "Contact",
            &format!("<sip:{}@{}>", self.user, self.wire.addr),
        )
        .unwrap();
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        self.wire.send_text(&text).await;
    }
}

fn top_via(m: &Message) -> String {
    m.header(HeaderName::Via).unwrap().to_string()
}

fn record_routes(m: &Message) -> Vec<String> {
    m.headers(HeaderName::RecordRoute)
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .collect()
}

#[tokio::test]
async fn a_peer_outside_local_net_sees_the_external_address_one_inside_the_bound_one() {
    let (server, udp) = start(CONF).await;
    // bob on the local net, alice beyond the NAT.
    let mut bob = Phone::registered(&server, "127.0.0.1", "bob").await;
    let mut alice = Phone::registered(&server, "127.0.0.2", "alice").await;

    // alice calls bob: bob, inside, sees the bound address in Via and
    // on top of the Record-Route; the entry alice's side will use is the
    // external one.
    let sent = alice.call("bob").await;
    let invite = bob.incoming().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert!(top_via(&invite).contains(&udp.to_string()), "{invite:?}");
    let rr = record_routes(&invite);
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(rr[0].contains(&udp.to_string()), "{rr:?}");
    assert!(rr[1].contains(EXTERNAL), "{rr:?}");
    bob.answer_ok(&invite).await;
    let ok = alice.wire.final_response().await;
    assert_eq!(ok.status(), Some(200));

    // alice's BYE along the route names the external address first: it
    // is taken for the server's own and reaches bob.
    let mut routes = record_routes(&ok);
    routes.reverse();
    assert!(routes[0].contains(EXTERNAL), "{routes:?}");
    let mut bye = format!(
        "BYE sip:bob@{bob} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKnatbye;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@sipjet.test>;tag={tag}\r\nTo: <sip:bob@sipjet.test>;tag=bob\r\n\
Call-ID: {call_id}\r\nCSeq: 3 BYE\r\n",
        bob = bob.wire.addr,
        me = alice.wire.addr,
        tag = sent.from_tag,
        call_id = sent.call_id,
    );
    for r in &routes {
        bye.push_str(&format!("Route: {r}\r\n"));
    }
    bye.push_str("Content-Length: 0\r\n\r\n");
    alice.wire.send_text(&bye).await;
    let got = bob.incoming().await;
    assert_eq!(got.method(), Some(&Method::Bye), "{got:?}");
    assert_eq!(got.call_id().unwrap(), sent.call_id);

    // bob calls alice: the INVITE beyond the NAT carries the external
    // address in the server's Via and on top of the Record-Route.
    bob.call("alice").await;
    let invite = alice.incoming().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert!(top_via(&invite).contains(EXTERNAL), "{invite:?}");
    let rr = record_routes(&invite);
    assert!(rr[0].contains(EXTERNAL), "{rr:?}");
    assert!(rr[1].contains(&udp.to_string()), "{rr:?}");
}

/// An endpoint's `outbound_proxy`: calls to its contacts go to the proxy,
/// with the proxy as their first Route and the contact as their
/// Request-URI.
#[tokio::test]
async fn calls_to_an_endpoint_with_an_outbound_proxy_go_through_it() {
    let proxy = tokio::net::UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let conf = CONF
        .replace("external_signaling_address = 192.0.2.80\n", "")
        .replace("external_signaling_port = 5099\n", "")
        .replace("local_net = 127.0.0.1/32\n", "")
        .replace(
            "auth = bob\naors = bob\n",
            // `;` starts a comment: `\;` is the semicolon.
            &format!("auth = bob\naors = bob\noutbound_proxy = sip:{proxy_addr}\\;lr\n"),
        );
    let (server, _) = start(&conf).await;
    let bob = Phone::registered(&server, "127.0.0.1", "bob").await;
    let mut alice = Phone::registered(&server, "127.0.0.1", "alice").await;
    alice.call("bob").await;
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(sipjet_testkit::PATIENCE, proxy.recv_from(&mut buf))
        .await
        .expect("the INVITE reaches the proxy")
        .unwrap();
    let invite = Message::parse(buf[..n].to_vec()).unwrap();
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(
        invite.request_uri().unwrap(),
        format!("sip:bob@{}", bob.wire.addr)
    );
    let route = invite.header(HeaderName::Route).unwrap();
    assert!(route.contains(&format!("sip:{proxy_addr};lr")), "{route}");
}
