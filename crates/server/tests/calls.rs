//! Calls between the server's users, over the wire: raw user agents
//! register, one calls the other, the server forwards the INVITE to the
//! contact the callee registered, stays on the route (Record-Route), and
//! the ACK and the BYE go along it — over UDP, TCP and WebSocket, and
//! from one transport to another.

mod support;

use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::admin::AdminOptions;
use sipjet_server::admin::client::AdminClient;
use sipjet_server::admin::views::View;
use sipjet_server::modules::calls::CallState;
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

[ws]
type = transport
protocol = ws
bind = 127.0.0.1:8080

[phone](!)
type = endpoint
identify_by = username

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

[carol](phone)
auth = carol
aors = carol
[carol](md5)
username = carol
password = carol-pass
[carol](inbox)
";

/// A user agent: its wire and its own address as Contact.
struct Phone {
    wire: Wire,
    user: &'static str,
}

impl Phone {
    /// A phone of `user` over `transport`, registered.
    async fn registered(server: &Server, transport: Transport, user: &'static str) -> Phone {
        let mut wire = Wire::connect(transport, "127.0.0.1", server).await;
        let contact = format!("Contact: {}", contact_of(&wire, user));
        let register = Request::new("REGISTER", &wire.uri(Some(user)), user).with(contact);
        let (ok, _) = wire.ask_as(&register, user, &format!("{user}-pass")).await;
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        Phone { wire, user }
    }

    /// Calls `callee`: the INVITE, its challenge answered. Returns the
    /// INVITE sent with credentials.
    async fn call(&mut self, callee: &str) -> Request {
        self.call_with(callee, &[]).await
    }

    /// [`Phone::call`] with more header lines.
    async fn call_with(&mut self, callee: &str, extra: &[&str]) -> Request {
        let mut invite = Request::new("INVITE", &self.wire.uri(Some(callee)), self.user)
            .with(format!("Contact: {}", contact_of(&self.wire, self.user)));
        for line in extra {
            invite = invite.with(*line);
        }
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

    /// The next message but 100 Trying.
    async fn next(&mut self) -> Message {
        loop {
            let m = self.wire.next_message().await;
            if m.status() != Some(100) {
                return m;
            }
        }
    }

    /// Answers `request` as a UAS: To tagged `tag`, Record-Route copied
    /// and its own Contact for a 1xx or 2xx.
    async fn answer(&mut self, request: &Message, code: u16, tag: &str) {
        let mut r = Message::response_to_with(request, code, None, Some(tag)).unwrap();
        if (101..300).contains(&code) {
            for rr in request.headers(HeaderName::RecordRoute) {
                r.add_header("Record-Route", rr).unwrap();
            }
            r.add_header("Contact", &contact_of(&self.wire, self.user))
                .unwrap();
        }
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        self.wire.send_text(&text).await;
    }

    /// Sends a request in the dialog: to `target` along `route`, with
    /// `from` and `to` as the dialog has them.
    async fn in_dialog(
        &mut self,
        method: &str,
        target: &str,
        route: &[String],
        (from, to, call_id): (&str, &str, &str),
        cseq: u32,
    ) {
        let mut text = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{t} {me};branch=z9hG4bK{method}{cseq}{user};rport\r\n\
Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
            t = self.wire.transport.via_name(),
            me = self.wire.addr,
            user = self.user,
        );
        for r in route {
            text.push_str(&format!("Route: {r}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.wire.send_text(&text).await;
    }
}

/// A phone's Contact on its wire.
fn contact_of(wire: &Wire, user: &str) -> String {
    match wire.transport {
        Transport::Udp => format!("<sip:{user}@{}>", wire.addr),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", wire.addr),
        Transport::Ws => format!("<sip:{user}@df7jal23ls0d.invalid;transport=ws>"),
    }
}

/// The Contact URI of a message.
fn contact_uri(m: &Message) -> String {
    m.contacts()
        .next()
        .unwrap()
        .unwrap()
        .addr()
        .unwrap()
        .uri_str()
        .to_string()
}

/// A whole call from a caller on `from` to a callee on `to`: ringing,
/// answered, acknowledged, hung up by the callee; what each side sees.
async fn call_across(from: Transport, to: Transport) {
    let (server, _) = start(CONF).await;
    let mut alice = Phone::registered(&server, from, "alice").await;
    let mut bob = Phone::registered(&server, to, "bob").await;
    let sent = alice.call("bob").await;

    let invite = bob.next().await;
    assert_eq!(invite.method(), Some(&Method::Invite), "{from:?}→{to:?}");
    assert_eq!(invite.call_id().unwrap(), sent.call_id);
    let record_route: Vec<String> = invite
        .headers(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    // Across transports, the server records itself on both sides.
    assert_eq!(
        record_route.len(),
        if from == to { 1 } else { 2 },
        "{record_route:?}"
    );
    assert!(
        !invite.has(HeaderName::Authorization),
        "credentials stay here"
    );

    bob.answer(&invite, 180, "bob-tag").await;
    assert_eq!(alice.next().await.status(), Some(180));
    bob.answer(&invite, 200, "bob-tag").await;
    let ok = alice.next().await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(server.calls.list().0[0].state, CallState::Answered);

    // The ACK, end to end along the route (the Record-Route reversed).
    let mut caller_route: Vec<String> = ok
        .headers(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    caller_route.reverse();
    let dialog = (
        ok.header(HeaderName::From).unwrap().to_string(),
        ok.header(HeaderName::To).unwrap().to_string(),
        sent.call_id.clone(),
    );
    alice
        .in_dialog(
            "ACK",
            &contact_uri(&ok),
            &caller_route,
            (&dialog.0, &dialog.1, &dialog.2),
            sent.cseq,
        )
        .await;
    let ack = bob.next().await;
    assert_eq!(ack.method(), Some(&Method::Ack), "{ack:?}");

    // bob hangs up: his BYE follows the route, unchallenged.
    bob.in_dialog(
        "BYE",
        &contact_uri(&invite),
        &record_route,
        (&dialog.1, &dialog.0, &dialog.2),
        1,
    )
    .await;
    let bye = alice.next().await;
    assert_eq!(bye.method(), Some(&Method::Bye), "{bye:?}");
    alice.answer(&bye, 200, "unused").await;
    let bye_ok = bob.next().await;
    assert_eq!(bye_ok.status(), Some(200), "{bye_ok:?}");
    let (active, recent) = server.calls.list();
    assert!(active.is_empty());
    assert_eq!(
        (
            recent[0].caller.as_str(),
            recent[0].callee.as_str(),
            recent[0].state
        ),
        ("alice", "bob", CallState::Ended)
    );

    // What the operator sees: `sipjet show calls` and the metrics.
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let http = AdminClient::new(admin.local_addr(), None);
    let table = http.show(View::Calls, false).await.unwrap();
    let row = table.lines().nth(1).unwrap_or_default().to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], ["alice", "bob", "ended"], "{table}");
    let metrics = String::from_utf8(http.get("/metrics").await.unwrap().body.to_vec()).unwrap();
    for sample in [
        "sipjet_calls_attempted_total 1",
        "sipjet_calls_answered_total 1",
        "sipjet_calls_active 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == sample),
            "{sample} in {metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_udp() {
    call_across(Transport::Udp, Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_tcp_to_udp() {
    call_across(Transport::Tcp, Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_websocket_to_udp() {
    call_across(Transport::Ws, Transport::Udp).await;
}

/// Who may not be called: an unknown user (404), one with no contact
/// (480), a user at another host (403: no open relay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_unregistered_and_foreign_callees() {
    let (server, _) = start(CONF).await;
    let mut alice = Phone::registered(&server, Transport::Udp, "alice").await;
    for (callee, code) in [("nobody", 404), ("carol", 480)] {
        alice.call(callee).await;
        let r = alice.next().await;
        assert_eq!(r.status(), Some(code), "{callee}: {r:?}");
    }
    let foreign = Request::new("INVITE", "sip:bob@192.0.2.99:5060", "alice")
        .with(format!("Contact: {}", contact_of(&alice.wire, "alice")));
    let (r, _) = alice.wire.ask_as(&foreign, "alice", "alice-pass").await;
    assert_eq!(r.status(), Some(403), "{r:?}");
}

/// A request with a made-up To tag and no Route of the server's is not a
/// free relay: challenged, then 481.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bye_that_names_no_dialog_of_ours_is_challenged() {
    let (server, _) = start(CONF).await;
    let mut alice = Phone::registered(&server, Transport::Udp, "alice").await;
    let bye = Request::new("BYE", &alice.wire.uri(Some("bob")), "alice")
        .tagged("made-up")
        .with("Route: <sip:127.0.0.1:9;lr;sjr=0000000000000000>");
    let (r, _) = alice.wire.ask_as(&bye, "alice", "alice-pass").await;
    assert_eq!(r.status(), Some(481), "{r:?}");
}

/// RFC 3261 §22.3: the credentials that answered the server's challenge
/// are not passed on; credentials for another realm (the callee's own
/// challenge) are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_credentials_for_another_realm_reach_the_callee() {
    let (server, _) = start(CONF).await;
    let mut alice = Phone::registered(&server, Transport::Udp, "alice").await;
    let mut bob = Phone::registered(&server, Transport::Udp, "bob").await;
    let theirs = "Authorization: Digest username=\"alice\", realm=\"bob.example\", \
nonce=\"n\", uri=\"sip:bob@bob.example\", response=\"00000000000000000000000000000000\"";
    alice.call_with("bob", &[theirs]).await;
    let invite = bob.next().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    let credentials: Vec<&str> = invite.headers(HeaderName::Authorization).collect();
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert!(
        credentials[0].contains("realm=\"bob.example\""),
        "{credentials:?}"
    );
}
