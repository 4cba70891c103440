//! Several sipjet nodes sharing one PostgreSQL location store: they hear
//! of each other (heartbeats, `sipjet show nodes`), reach the contacts
//! that registered through another node over that node's flows, refuse
//! to relay for anyone without a node's token, answer a challenge another
//! node sent, and keep serving when one of them dies.

mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, SystemTime};

use sipjet_core::{Destination, HeaderName, Message, Method, Protocol};
use sipjet_server::admin::{AdminListener, AdminOptions, TOKEN_ENV};
use sipjet_server::cluster::hop::HopKey;
use sipjet_server::server::{Server, ServerOptions};
use sipjet_testkit::{free_port, wait_until};
use support::postgres::Schema;
use support::{Request, Transport, Wire, start_with};

/// The users of the tests: each case registers a user of its own.
const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

/// The shared secret of the test nodes.
const SECRET: &str = "a cluster secret for the tests";

/// A node's configuration: the users, UDP, TCP and WebSocket.
fn conf(node: &str) -> String {
    let mut conf = format!(
        "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username
node_id = {node}
node_heartbeat_interval = 1
cluster_secret = {SECRET}

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
bind = 127.0.0.1:8088

[phone](!)
type = endpoint
identify_by = username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5
"
    );
    for user in USERS {
        conf.push_str(&format!(
            "\n[{user}](phone)\nauth = {user}\naors = {user}\n\
             [{user}](md5)\nusername = {user}\npassword = {user}-pass\n\
             [{user}]\ntype = aor\nmax_contacts = 10\n"
        ));
    }
    conf
}

/// A node in this process, on `schema`.
async fn node(name: &str, schema: &Schema) -> (Server, SocketAddr) {
    start_with(
        &conf(name),
        ServerOptions {
            location_db: Some(schema.location_db()),
            ..ServerOptions::default()
        },
    )
    .await
}

async fn admin(server: &Server) -> AdminListener {
    sipjet_server::admin::start(
        server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap()
}

async fn sipjet(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipjet"));
    command
        .args(args)
        .env_remove(TOKEN_ENV)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("sipjet finishes in time")
        .unwrap()
}

/// What node `server` thinks of node `id`: alive or not, when known.
fn judged(server: &Server, id: &str) -> Option<bool> {
    server
        .cluster
        .nodes(SystemTime::now())
        .into_iter()
        .find(|n| n.record.id == id)
        .map(|n| n.alive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_hear_each_other_and_a_silent_one_is_listed_dead() {
    let schema = Schema::new("nodes").await;
    let (one, _) = node("node-1", &schema).await;
    let (two, two_sip) = node("node-2", &schema).await;
    wait_until("each node hears of the other", || {
        judged(&one, "node-2") == Some(true) && judged(&two, "node-1") == Some(true)
    })
    .await;
    let listed = two.cluster.nodes(SystemTime::now());
    assert_eq!(listed[0].record.id, "node-2", "this node first");
    assert_eq!(
        listed[0].record.address.as_deref(),
        Some(format!("sip:{two_sip}").as_str()),
        "the UDP transport, where the others reach it"
    );

    let console = admin(&one).await;
    let addr = console.local_addr().to_string();
    let out = sipjet(&["show", "nodes", "--admin", &addr]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .to_string()
    };
    assert!(table.starts_with("NODE"), "{table}");
    assert!(row("node-1").contains("this node"), "{table}");
    assert!(row("node-2").contains("alive"), "{table}");

    // node-2 stops beating (its process gone, as far as the others see).
    drop(two);
    wait_until("node-2 is taken for dead", || {
        judged(&one, "node-2") == Some(false)
    })
    .await;
    let out = sipjet(&["show", "nodes", "--admin", &addr, "--json"]).await;
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let two = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "node-2")
        .unwrap();
    assert_eq!(two["alive"], false, "{nodes}");
    assert!(
        two["last_heartbeat_seconds_ago"].as_u64().unwrap() >= 3,
        "{nodes}"
    );
    drop(one);
    schema.drop_now().await;
}

/// A user agent: its wire and the Contact it registers.
struct Phone {
    wire: Wire,
    user: &'static str,
    contact: String,
}

impl Phone {
    /// A phone of `user` over `transport`, registered at `server` with
    /// its own address as Contact (over UDP, `nat` names another port,
    /// as a phone behind a NAT does).
    async fn registered(
        server: &Server,
        transport: Transport,
        user: &'static str,
        nat: bool,
    ) -> Phone {
        let wire = Wire::connect(transport, "127.0.0.1", server).await;
        Phone::registered_over(wire, user, nat).await
    }

    /// [`Phone::registered`] over `wire`.
    async fn registered_over(wire: Wire, user: &'static str, nat: bool) -> Phone {
        let contact = match (wire.transport, nat) {
            (Transport::Udp, false) => format!("<sip:{user}@{}>", wire.addr),
            (Transport::Udp, true) => format!("<sip:{user}@{}:9>", wire.addr.ip()),
            (Transport::Tcp, _) => format!("<sip:{user}@{};transport=tcp>", wire.addr),
            (Transport::Ws, _) => format!("<sip:{user}@df7jal23ls0d.invalid;transport=ws>"),
        };
        let mut phone = Phone {
            wire,
            user,
            contact,
        };
        phone.register().await;
        phone
    }

    /// Registers (again), answering the challenge.
    async fn register(&mut self) {
        let register = Request::new("REGISTER", &self.wire.uri(Some(self.user)), self.user)
            .with(format!("Contact: {}", self.contact))
            .with("Expires: 300");
        let (ok, _) = self
            .wire
            .ask_as(&register, self.user, &format!("{}-pass", self.user))
            .await;
        assert_eq!(ok.status(), Some(200), "{ok:?}");
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
        if (101..300).contains(&code) && request.method() == Some(&Method::Invite) {
            for rr in request.headers(HeaderName::RecordRoute) {
                r.add_header("Record-Route", rr).unwrap();
            }
            r.add_header("Contact", &self.contact).unwrap();
        }
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        // Over UDP the answer goes where the top Via says: the node that
        // sent the request, which need not be the one registered at.
        let via = request.via().unwrap();
        let to: SocketAddr = format!("{}:{}", via.host, via.port.unwrap_or(5060))
            .parse()
            .unwrap();
        if self.wire.transport == Transport::Udp && to != self.wire.server {
            self.wire.send_text_to(&text, to).await;
        } else {
            self.wire.send_text(&text).await;
        }
    }

    /// Sends `request` with `user`'s answer to its challenge, without
    /// waiting for the outcome. Returns what was sent.
    async fn send_authorised(&mut self, request: Request) -> Request {
        let first = self.wire.ask(&request).await;
        assert_eq!(first.status(), Some(401), "{first:?}");
        let offer = support::offers(&first).remove(0);
        let mut next = request.next();
        next.extra = request.extra.clone();
        let digest =
            support::Digest::answer(&offer, self.user, &format!("{}-pass", self.user), &next);
        let next = next.with(digest.header());
        let text = self.wire.text(&next);
        self.wire.send_text(&text).await;
        next
    }

    /// Sends a request of a dialog: to `target` along `route`.
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

/// Waits until `server` holds a binding of `user` registered at `node`.
async fn sees(server: &Server, user: &str, node: &str) {
    wait_until(&format!("{user}'s binding at {node} is seen"), || {
        support::bindings(server, user)
            .iter()
            .any(|b| b.node.as_deref() == Some(node))
    })
    .await;
}

/// `from` sends a MESSAGE to `to` at its server; `to` (registered at
/// another node) answers 200 when it gets it. Returns what `to` got and
/// the status `from` got.
async fn message(from: &mut Phone, to: &mut Phone) -> (Message, u16) {
    let request = Request::new("MESSAGE", &from.wire.uri(Some(to.user)), from.user);
    let sent = from.send_authorised(request).await;
    let got = to.next().await;
    assert_eq!(got.method(), Some(&Method::Message), "{got:?}");
    assert_eq!(got.call_id().unwrap(), sent.call_id);
    to.answer(&got, 200, "to-tag").await;
    let answer = from.next().await;
    (got, answer.status().unwrap())
}

/// The number of Vias of a request: its sender's and one per proxy.
fn vias(m: &Message) -> usize {
    m.vias().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_registered_at_one_node_are_reached_from_another() {
    let schema = Schema::new("reach").await;
    let (one, _) = node("node-1", &schema).await;
    let (two, _) = node("node-2", &schema).await;
    let mut sender = Phone::registered(&two, Transport::Udp, "alice", false).await;

    // Over UDP from the address its Contact names: sent to directly.
    let mut public = Phone::registered(&one, Transport::Udp, "bob", false).await;
    // Behind a NAT, over TCP, over WebSocket: through node 1, the only
    // one that can reach the flow.
    let mut nat = Phone::registered(&one, Transport::Udp, "carol", true).await;
    let mut tcp = Phone::registered(&one, Transport::Tcp, "dave", false).await;
    let mut ws = Phone::registered(&one, Transport::Ws, "erin", false).await;
    for user in ["bob", "carol", "dave", "erin"] {
        sees(&two, user, "node-1").await;
    }
    let (got, status) = message(&mut sender, &mut public).await;
    assert_eq!((status, vias(&got)), (200, 2), "node 2 alone: {got:?}");
    for phone in [&mut nat, &mut tcp, &mut ws] {
        let (got, status) = message(&mut sender, phone).await;
        assert_eq!((status, vias(&got)), (200, 3), "through node 1: {got:?}");
        assert!(!got.has(HeaderName::Route), "{got:?}");
    }

    // A call from node 2 to the TCP phone at node 1, and its dialog.
    let invite = Request::new("INVITE", &sender.wire.uri(Some("dave")), "alice")
        .with(format!("Contact: {}", sender.contact));
    let sent = sender.send_authorised(invite).await;
    let got = tcp.next().await;
    assert_eq!(got.method(), Some(&Method::Invite), "{got:?}");
    assert_eq!(vias(&got), 3, "{got:?}");
    let record_route: Vec<String> = got
        .headers(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    tcp.answer(&got, 200, "dave-tag").await;
    let ok = sender.next().await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let mut route: Vec<String> = ok
        .headers(HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    route.reverse();
    let dialog = (
        ok.header(HeaderName::From).unwrap().to_string(),
        ok.header(HeaderName::To).unwrap().to_string(),
        sent.call_id.clone(),
    );
    sender
        .in_dialog(
            "ACK",
            &contact_uri(&ok),
            &route,
            (&dialog.0, &dialog.1, &dialog.2),
            sent.cseq,
        )
        .await;
    let ack = tcp.next().await;
    assert_eq!(ack.method(), Some(&Method::Ack), "{ack:?}");
    // The callee hangs up over its connection; the BYE goes back through
    // both nodes.
    tcp.in_dialog(
        "BYE",
        &contact_uri(&got),
        &record_route,
        (&dialog.1, &dialog.0, &dialog.2),
        1,
    )
    .await;
    let bye = sender.next().await;
    assert_eq!(bye.method(), Some(&Method::Bye), "{bye:?}");
    sender.answer(&bye, 200, "unused").await;
    assert_eq!(tcp.next().await.status(), Some(200));
    drop((one, two));
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_relays_over_its_flows_only_for_a_valid_token() {
    let schema = Schema::new("relay").await;
    let (one, one_sip) = node("node-1", &schema).await;
    let (two, _) = node("node-2", &schema).await;
    let mut victim = Phone::registered(&one, Transport::Tcp, "frank", false).await;
    let flow = Destination::new(Protocol::Tcp, victim.wire.addr);
    let mut attacker = Wire::connect(Transport::Udp, "127.0.0.2", &one).await;
    let address = format!("sip:{one_sip}");
    let now = SystemTime::now();
    let right = HopKey::new(SECRET);
    let wrong = HopKey::new("not the secret of this cluster");
    for method in ["MESSAGE", "INVITE"] {
        let request = Request::new(
            method,
            &format!("sip:frank@{}", victim.wire.addr),
            "mallory",
        );
        let id = request.call_id.clone();
        let forged = [
            wrong.route("node-1", &address, &flow, &id, now),
            right.route("node-1", &address, &flow, "another call", now),
            right.route("node-2", &address, &flow, &id, now),
            right.route(
                "node-1",
                &address,
                &flow,
                &id,
                now - Duration::from_secs(3_600),
            ),
            format!(
                "<{address};lr;sjn=node-1;sjf=tcp-{}-{}>",
                flow.addr.ip(),
                flow.addr.port()
            ),
        ];
        for route in forged {
            let attack = Request {
                branch: sipjet_core::message::generate::branch(),
                ..request.clone()
            }
            .with(format!("Route: {route}"));
            let answer = attacker.ask(&attack).await;
            assert_eq!(answer.status(), Some(403), "{route}: {answer:?}");
        }
    }
    // Nothing reached the victim: the next request it gets is the one a
    // user sends through node 2.
    let mut sender = Phone::registered(&two, Transport::Udp, "grace", false).await;
    sees(&two, "frank", "node-1").await;
    let (got, status) = message(&mut sender, &mut victim).await;
    assert_eq!(status, 200);
    assert!(
        got.header(HeaderName::From).unwrap().contains("grace"),
        "{got:?}"
    );

    // With the cluster's key, for this node, this call and in time, the
    // same request is relayed: the token is what the refusals were about.
    let request = Request::new(
        "MESSAGE",
        &format!("sip:frank@{}", victim.wire.addr),
        "mallory",
    );
    let route = right.route("node-1", &address, &flow, &request.call_id, now);
    attacker
        .send_text(&attacker.text(&request.clone().with(format!("Route: {route}"))))
        .await;
    let relayed = victim.next().await;
    assert_eq!(relayed.call_id().unwrap(), request.call_id, "{relayed:?}");
    drop((one, two));
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_is_answered_at_another_node_and_a_replay_refused_at_any() {
    let schema = Schema::new("nonces").await;
    let (one, _) = node("node-1", &schema).await;
    let (two, _) = node("node-2", &schema).await;
    let mut at_one = Wire::connect(Transport::Udp, "127.0.0.1", &one).await;
    let mut at_two = Wire::connect(Transport::Udp, "127.0.0.1", &two).await;
    let user = "heidi";
    let contact = |port: u16| format!("Contact: <sip:{user}@127.0.0.1:{port}>");
    // Node 1 challenges; the answer goes to node 2, which takes it.
    let register =
        Request::new("REGISTER", &format!("sip:{user}@sipjet.test"), user).with(contact(5001));
    let offers = at_one.challenged(&register).await;
    let mut answer = register.next();
    let digest = support::Digest::answer(&offers[0], user, "heidi-pass", &answer);
    let authorization = digest.header();
    answer = answer.with(contact(5001)).with(authorization.clone());
    let ok = at_two.ask(&answer).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");

    // The same credentials (nonce-count 1) replayed at node 1, to bind
    // another contact: refused, nothing stored.
    let mut replay = answer.next();
    replay.extra = vec![contact(6666), authorization.clone()];
    let refused = at_one.ask(&replay).await;
    assert_eq!(refused.status(), Some(401), "{refused:?}");
    // And at node 2, where it was first used.
    let mut again = replay.next();
    again.extra = replay.extra.clone();
    assert_eq!(at_two.ask(&again).await.status(), Some(401));
    let stored: Vec<String> = schema
        .bindings()
        .await
        .into_iter()
        .filter(|(aor, ..)| aor == user)
        .map(|(_, c, _)| c)
        .collect();
    assert_eq!(stored, [format!("sip:{user}@127.0.0.1:5001")]);

    // The next count of the same nonce is good at node 1.
    let next = again.next();
    let mut digest = support::Digest::answer(&offers[0], user, "heidi-pass", &next);
    digest.nc = Some(2);
    let next = next.with(contact(5002)).with(digest.header());
    let ok = at_one.ask(&next).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    drop((one, two));
    schema.drop_now().await;
}

/// A node in a process of its own, so that it can be killed.
struct Process {
    child: std::process::Child,
    /// Its UDP and TCP port (the same number), and its WebSocket port.
    port: u16,
}

impl Process {
    /// Starts node `name` on `schema`, on free loopback ports.
    fn start(name: &str, schema: &Schema, scratch: &support::Scratch) -> Process {
        let port = free_port();
        let ws = free_port();
        let conf = conf(name)
            .replace("bind = 127.0.0.1:5060", &format!("bind = 127.0.0.1:{port}"))
            .replace("bind = 127.0.0.1:8088", &format!("bind = 127.0.0.1:{ws}"));
        let file = scratch.file(&format!("{name}.conf"), &conf);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sipjet"))
            .args(["run", "--no-admin", "--config"])
            .arg(&file)
            .arg("--location-db")
            .arg(schema.url())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start sipjet");
        Process { child, port }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `kill -9`.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_keep_serving_when_one_is_killed() {
    let schema = Schema::new("kill").await;
    let scratch = support::Scratch::new("cluster-kill");
    let mut one = Process::start("node-1", &schema, &scratch);
    let (two, _) = node("node-2", &schema).await;
    let (three, _) = node("node-3", &schema).await;
    wait_until("node 1 is up and heard of", || {
        judged(&two, "node-1") == Some(true) && judged(&three, "node-1") == Some(true)
    })
    .await;

    // At node 1: a phone over UDP on its own address, one over TCP.
    let udp = Wire::connect_to(Transport::Udp, "127.0.0.1", one.addr()).await;
    let mut public = Phone::registered_over(udp, "alice", false).await;
    let tcp = Wire::connect_to(Transport::Tcp, "127.0.0.1", one.addr()).await;
    let mut bob = Phone::registered_over(tcp, "bob", false).await;
    let mut sender = Phone::registered(&two, Transport::Udp, "carol", false).await;
    let mut other = Phone::registered(&three, Transport::Udp, "dave", false).await;
    for node in [&two, &three] {
        sees(node, "alice", "node-1").await;
        sees(node, "bob", "node-1").await;
    }
    // Reached from node 2 while node 1 lives: the TCP one through it.
    assert_eq!(message(&mut sender, &mut public).await.1, 200);
    let (got, status) = message(&mut sender, &mut bob).await;
    assert_eq!((status, vias(&got)), (200, 3), "{got:?}");

    one.kill();
    wait_until("nodes 2 and 3 take node 1 for dead", || {
        judged(&two, "node-1") == Some(false) && judged(&three, "node-1") == Some(false)
    })
    .await;
    // Its UDP contact on a public address is still served, from either.
    assert_eq!(message(&mut sender, &mut public).await.1, 200);
    assert_eq!(message(&mut other, &mut public).await.1, 200);
    // Its TCP contact went with it: 480 until it registers again.
    for phone in [&mut sender, &mut other] {
        let request = Request::new("MESSAGE", &phone.wire.uri(Some("bob")), phone.user);
        phone.send_authorised(request).await;
        let answer = phone.next().await;
        assert_eq!(answer.status(), Some(480), "{answer:?}");
    }
    // New registrations are taken: bob again, at node 3, reached from node 2.
    let tcp = Wire::connect(Transport::Tcp, "127.0.0.1", &three).await;
    let mut bob = Phone::registered_over(tcp, "bob", false).await;
    sees(&two, "bob", "node-3").await;
    let (got, status) = message(&mut sender, &mut bob).await;
    assert_eq!((status, vias(&got)), (200, 3), "through node 3: {got:?}");
    drop((two, three));
    schema.drop_now().await;
}
