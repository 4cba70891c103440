//! The admin interface over real HTTP on loopback: each route's JSON
//! against a running server with a registered contact, the SIP trace
//! switch, errors, the metrics, the rule that an admin listener off
//! loopback needs a token, and the refusal of what a browser sends on
//! behalf of a web page.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use sipjet_core::Message;
use sipjet_server::admin::client::{AdminClient, ClientError, Reply};
use sipjet_server::admin::views::View;
use sipjet_server::admin::{AdminError, AdminListener, AdminOptions};
use sipjet_server::digest::DigestAlgorithm;
use sipjet_server::server::Server;
use sipjet_testkit::wait_until;
use support::{Client, Digest, Request, offer_of, start};

/// alice registers; gw has a static contact that is qualified every
/// second (`{peer}` answers OPTIONS).
fn conf(peer: SocketAddr) -> String {
    format!(
        "\
[global]
type = global
default_realm = admin.test
endpoint_identifier_order = username
unidentified_request_count = 3

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5070

[alice]
type = endpoint
aors = alice
auth = alice-auth
context = office
identify_by = username

[alice-auth]
type = auth
username = alice
password = alice-pass

[alice]
type = aor
max_contacts = 1

[gw]
type = aor
contact = sip:gw@{peer}
qualify_frequency = 1
"
    )
}

/// A UDP peer that answers every request 200.
async fn answering_peer() -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Ok(req) = Message::parse(buf[..n].to_vec())
                && req.method().is_some()
            {
                let ok = Message::response_to(&req, 200).unwrap();
                let _ = sock.send_to(&ok.to_bytes(), from).await;
            }
        }
    });
    addr
}

struct Running {
    server: Server,
    sip: SocketAddr,
    admin: AdminListener,
    http: AdminClient,
}

async fn running() -> Running {
    let peer = answering_peer().await;
    let (server, sip) = start(&conf(peer)).await;
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let http = AdminClient::new(admin.local_addr(), None);
    Running {
        server,
        sip,
        admin,
        http,
    }
}

/// The JSON of a 200 answer.
fn ok_json(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    serde_json::from_slice(&reply.body).unwrap()
}

async fn get_json(http: &AdminClient, path: &str) -> Value {
    ok_json(&http.get(path).await.unwrap())
}

/// Registers alice's contact (at the client's address) with digest
/// authentication.
async fn register_alice(client: &Client) {
    let uri = client.uri(Some("alice"));
    let headers = [
        format!("Contact: <sip:alice@{}>", client.addr),
        "Expires: 120".to_string(),
        "User-Agent: admin-test/1.0".to_string(),
    ];
    let with_headers = |r: Request| headers.iter().fold(r, |r, h| r.with(h.clone()));
    let first = with_headers(Request::new("REGISTER", &uri, "alice"));
    let offers = client.challenged(&first).await;
    let offer = offer_of(&offers, DigestAlgorithm::Md5);
    let again = with_headers(first.next());
    let answer = Digest::answer(offer, "alice", "alice-pass", &again);
    let r = client.ask(&again.with(answer.header())).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_shows_the_running_server() {
    let r = running().await;
    let client = Client::new(r.sip).await;
    register_alice(&client).await;

    assert_eq!(
        get_json(&r.http, "/api/endpoints").await,
        json!([{
            "name": "alice",
            "aors": ["alice"],
            "auths": ["alice-auth"],
            "transport": null,
            "context": "office",
            "identify_by": ["username"],
        }])
    );

    let auths = r.http.get("/api/auths").await.unwrap();
    assert!(!String::from_utf8_lossy(&auths.body).contains("alice-pass"));
    assert_eq!(
        ok_json(&auths),
        json!([{
            "name": "alice-auth",
            "username": "alice",
            "realm": "admin.test",
            "auth_type": "userpass",
            "algorithms": ["MD5"],
            "nonce_lifetime": 32,
        }])
    );

    let aors = get_json(&r.http, "/api/aors").await;
    assert_eq!(aors[0]["name"], "alice");
    assert_eq!(aors[0]["max_contacts"], 1);
    assert_eq!(aors[0]["registered_contacts"], 1);
    assert_eq!(aors[0]["default_expiration"], 3600);
    assert_eq!(aors[1]["name"], "gw");
    assert_eq!(aors[1]["qualify_frequency"], 1);
    assert_eq!(aors[1]["registered_contacts"], 0);
    assert_eq!(aors[1]["static_contacts"].as_array().unwrap().len(), 1);

    // The static contact is qualified within a second or so.
    let gw_contact = &r.server.model.aor("gw").unwrap().contacts[0];
    wait_until("gw's static contact to answer qualify", || {
        r.server
            .contact_status
            .get("gw", gw_contact)
            .is_some_and(|s| s.reachable)
    })
    .await;
    let contacts = get_json(&r.http, "/api/contacts").await;
    let alice = &contacts[0];
    assert_eq!(alice["aor"], "alice");
    assert_eq!(alice["contact"], format!("sip:alice@{}", client.addr));
    assert_eq!(alice["kind"], "dynamic");
    let expires = alice["expires_in"].as_u64().unwrap();
    assert!((110..=120).contains(&expires), "{expires}");
    assert_eq!(alice["user_agent"], "admin-test/1.0");
    assert_eq!(alice["endpoint"], "alice");
    // No node_id in the configuration: the host name, or sipjet.
    assert_eq!(alice["node"], *r.server.node_id);
    assert_eq!(*r.server.node_id, sipjet_server::server::default_node_id());
    assert!(
        alice["received"]
            .as_str()
            .unwrap()
            .contains(&client.addr.to_string()),
        "{alice}"
    );
    assert_eq!(alice["status"], "unknown");
    let gw = &contacts[1];
    assert_eq!(gw["aor"], "gw");
    assert_eq!(gw["kind"], "static");
    assert_eq!(gw["expires_in"], Value::Null);
    assert_eq!(gw["status"], "reachable", "{gw}");
    assert!(gw["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert!(gw["last_check_seconds_ago"].as_u64().is_some());
    assert_eq!(contacts.as_array().unwrap().len(), 2);

    let bound: Vec<String> = r
        .server
        .stack
        .transports()
        .unwrap()
        .local_addrs()
        .iter()
        .map(|(_, a)| a.to_string())
        .collect();
    assert_eq!(
        get_json(&r.http, "/api/transports").await,
        json!([
            {"name": "udp", "protocol": "udp", "bind": "127.0.0.1:5060", "bound": bound[0]},
            {"name": "tcp", "protocol": "tcp", "bind": "127.0.0.1:5070", "bound": bound[1]},
        ])
    );

    // Three requests from a user nobody knows make the source reported.
    assert_eq!(get_json(&r.http, "/api/unidentified").await, json!([]));
    for _ in 0..3 {
        let m = Request::new("MESSAGE", &client.uri(Some("alice")), "mallory");
        client.ask(&m).await;
    }
    let unidentified = get_json(&r.http, "/api/unidentified").await;
    assert_eq!(unidentified.as_array().unwrap().len(), 1, "{unidentified}");
    assert_eq!(unidentified[0]["address"], "127.0.0.1");
    assert_eq!(unidentified[0]["total"], 3);
    assert_eq!(unidentified[0]["in_period"], 3);
    assert_eq!(unidentified[0]["last_account"], "mallory");
    assert_eq!(unidentified[0]["reported"], true);
    drop(r.admin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sip_trace_switch() {
    let r = running().await;
    assert_eq!(get_json(&r.http, "/api/logger").await, json!({"on": false}));
    let on = r
        .http
        .post_json("/api/logger", br#"{"on": true}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(ok_json(&on), json!({"on": true}));
    assert!(r.server.sip_trace.load(Ordering::Relaxed));
    assert_eq!(get_json(&r.http, "/api/logger").await, json!({"on": true}));
    assert!(!r.http.set_logger(false).await.unwrap());
    assert!(!r.server.sip_trace.load(Ordering::Relaxed));
    assert!(!r.http.logger().await.unwrap());

    for bad in [&b"on"[..], b"{}", br#"{"on": "yes"}"#] {
        let reply = r.http.post_json("/api/logger", bad.to_vec()).await.unwrap();
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(bad));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    // A body far larger than the switch needs is not read.
    let mut huge = br#"{"on": true, "pad": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 10_000));
    huge.extend(br#""}"#);
    let reply = r.http.post_json("/api/logger", huge).await.unwrap();
    assert_eq!(reply.status, 400);
    assert!(!r.server.sip_trace.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods() {
    let r = running().await;
    for path in [
        "/index.html",
        "/api",
        "/api/nothing",
        "/api/endpoints/alice",
    ] {
        let reply = r.http.get(path).await.unwrap();
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.content_type.as_deref(), Some("application/json"));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }
    for path in ["/api/endpoints", "/metrics", "/", "/api/flows"] {
        let reply = r.http.post_json(path, b"{}".to_vec()).await.unwrap();
        assert_eq!(reply.status, 405, "{path}");
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(body["error"].as_str().is_some(), "{body}");
    }
}

/// The value of the sample `series` (name and labels, as written), 0
/// when it is not there yet.
fn sample(exposition: &str, series: &str) -> u64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.parse().unwrap())
}

async fn metrics(http: &AdminClient) -> String {
    let reply = http.get("/metrics").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    String::from_utf8(reply.body.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_server_receives_and_sends() {
    let r = running().await;
    let client = Client::new(r.sip).await;
    let before = metrics(&r.http).await;
    let received = "sipjet_messages_received_total{method=\"OPTIONS\"}";
    // OPTIONS to the server itself are answered without a challenge.
    let answered = "sipjet_messages_sent_total{method=\"OPTIONS\",status=\"200\"}";
    let failures = "sipjet_auth_failures_total{kind=\"ChallengeResponseFailed\"}";
    let (rx0, tx0, failed0) = (
        sample(&before, received),
        sample(&before, answered),
        sample(&before, failures),
    );
    const N: u64 = 4;
    for _ in 0..N {
        let o = Request::new("OPTIONS", &client.uri(None), "alice");
        let answer = client.ask(&o).await;
        assert_eq!(answer.status(), Some(200));
    }
    // A wrong password is a security event.
    let uri = client.uri(Some("alice"));
    let m = Request::new("MESSAGE", &uri, "alice");
    let offers = client.challenged(&m).await;
    let again = m.next();
    let wrong = Digest::answer(offers.first().unwrap(), "alice", "wrong", &again);
    let refused = client.ask(&again.with(wrong.header())).await;
    assert_eq!(refused.status(), Some(401));

    let after = metrics(&r.http).await;
    assert_eq!(sample(&after, received), rx0 + N, "{after}");
    assert_eq!(sample(&after, answered), tx0 + N, "{after}");
    assert_eq!(
        sample(
            &after,
            "sipjet_messages_sent_total{method=\"MESSAGE\",status=\"401\"}"
        ),
        2,
        "{after}"
    );
    assert!(sample(&after, failures) > failed0, "{after}");
    for gauge in [
        "sipjet_transactions",
        "sipjet_queue_depth",
        "sipjet_pool_threads",
        "sipjet_bindings",
        "sipjet_requests_refused_total",
        "sipjet_unidentified_sources",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(&format!("{gauge} "))),
            "{gauge} in {after}"
        );
        assert!(after.contains(&format!("# TYPE {gauge} ")), "{gauge}");
    }
    assert_eq!(sample(&after, "sipjet_bindings"), 0);
    assert_eq!(sample(&after, "sipjet_requests_refused_total"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_listener_off_loopback_needs_a_token() {
    let r = running().await;
    let anywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(
        AdminOptions::new(anywhere, None),
        Err(AdminError::TokenRequired(a)) if a == anywhere
    ));
    assert!(AdminOptions::new(anywhere, Some(String::new())).is_err());
    // Options built by hand are checked again when the listener starts.
    let unchecked = AdminOptions {
        bind: anywhere,
        token: None,
    };
    let refused = sipjet_server::admin::start(&r.server, unchecked).await;
    assert!(
        matches!(refused, Err(AdminError::TokenRequired(_))),
        "refused"
    );
    assert!(AdminOptions::new(anywhere, Some("t0ken".into())).is_ok());
    // A peer on loopback needs no token, even when one is configured.
    let with_token =
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), Some("t0ken".into())).unwrap();
    let listener = sipjet_server::admin::start(&r.server, with_token)
        .await
        .unwrap();
    let local = AdminClient::new(listener.local_addr(), None);
    assert_eq!(local.get("/api/logger").await.unwrap().status, 200);
    // Dropped, it stops listening.
    let addr = listener.local_addr();
    drop(listener);
    wait_until("the dropped admin listener to close", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    assert!(matches!(
        local.get("/api/logger").await,
        Err(ClientError::Unreachable { .. })
    ));
}

/// One HTTP/1.1 exchange written by hand, so that a test can send what a
/// browser sends: `head` is the request line and headers (each line with
/// its CRLF); the answer's status and body.
async fn by_hand(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(sipjet_testkit::PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, body.to_string())
}

/// The `error` of a refusal's JSON body.
fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

/// A page in a browser on the machine rides on loopback: by DNS
/// rebinding (its own name resolved to 127.0.0.1) it could read the
/// contacts; by a cross-origin POST it could switch the SIP trace on. The
/// listener refuses both, and what the `sipjet` commands send still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_cannot_be_made_to_use_the_interface() {
    let r = running().await;
    let client = Client::new(r.sip).await;
    register_alice(&client).await;
    let addr = r.admin.local_addr();
    let port = addr.port();
    let own = format!("127.0.0.1:{port}");
    let alice = format!("sip:alice@{}", client.addr);
    let trace = || r.server.sip_trace.load(Ordering::Relaxed);

    // A name a DNS answer can point anywhere, in the Host header or the
    // request target.
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        for path in ["/api/contacts", "/api/logger", "/metrics", "/nowhere"] {
            let (status, body) = by_hand(
                addr,
                &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n"),
                b"",
            )
            .await;
            assert_eq!(status, 421, "{host} {path}: {body}");
            assert!(error_of(&body).contains(&format!("{host:?}")), "{body}");
            assert!(!body.contains("alice"), "{body}");
        }
    }
    let (status, body) = by_hand(
        addr,
        &format!("GET http://evil.example:{port}/api/contacts HTTP/1.1\r\nHost: {own}\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 421, "{body}");
    assert!(!body.contains("alice"), "{body}");
    let (status, body) = by_hand(addr, "GET /api/contacts HTTP/1.0\r\n", b"").await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("Host"), "{body}");

    // A POST a page may send without asking first: text/plain, a form.
    let on = br#"{"on": true}"#;
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let header = content_type.map_or(String::new(), |c| format!("Content-Type: {c}\r\n"));
        let (status, body) = by_hand(
            addr,
            &format!("POST /api/logger HTTP/1.1\r\nHost: {own}\r\n{header}"),
            on,
        )
        .await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert!(
            error_of(&body).contains("Content-Type: application/json"),
            "{body}"
        );
        assert!(!trace(), "{content_type:?} switched the trace on");
    }

    // A request of a page of another origin, JSON or not.
    for (request, body) in [
        (
            format!(
                "POST /api/logger HTTP/1.1\r\nHost: {own}\r\nContent-Type: application/json\r\nOrigin: http://evil.example\r\n"
            ),
            &on[..],
        ),
        (
            format!(
                "POST /api/logger HTTP/1.1\r\nHost: {own}\r\nContent-Type: application/json\r\nOrigin: null\r\n"
            ),
            &on[..],
        ),
        (
            format!(
                "GET /api/contacts HTTP/1.1\r\nHost: {own}\r\nOrigin: http://127.0.0.1:3000\r\n"
            ),
            &b""[..],
        ),
        (
            format!("GET /api/contacts HTTP/1.1\r\nHost: {own}\r\nSec-Fetch-Site: cross-site\r\n"),
            &b""[..],
        ),
    ] {
        let (status, answer) = by_hand(addr, &request, body).await;
        assert_eq!(status, 403, "{request}: {answer}");
        assert!(error_of(&answer).contains("cross-origin"), "{answer}");
        assert!(!answer.contains("alice"), "{answer}");
    }
    assert!(!trace());
    assert_eq!(get_json(&r.http, "/api/logger").await, json!({"on": false}));

    // What a person or a script on the machine sends.
    for host in [
        own.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".into(),
    ] {
        let (status, body) = by_hand(
            addr,
            &format!("GET /api/contacts HTTP/1.1\r\nHost: {host}\r\n"),
            b"",
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
        assert!(body.contains(&alice), "{body}");
    }
    let (status, body) = by_hand(
        addr,
        &format!("POST /api/logger HTTP/1.1\r\nHost: {own}\r\nContent-Type: application/json\r\nOrigin: http://{own}\r\nSec-Fetch-Site: same-origin\r\n"),
        on,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(trace());
    // And what the sipjet commands send.
    assert!(r.http.logger().await.unwrap());
    assert!(!r.http.set_logger(false).await.unwrap());
    assert!(!trace());
    let table = r.http.show(View::Contacts, false).await.unwrap();
    assert!(table.contains(&alice), "{table}");
}

/// The token's holder is not a page riding on loopback: it may name the
/// host by DNS name and post without declaring JSON. Without the token,
/// the same requests are refused even on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_holder_may_use_a_dns_name() {
    let r = running().await;
    let options = AdminOptions::new("127.0.0.1:0".parse().unwrap(), Some("t0ken".into())).unwrap();
    let listener = sipjet_server::admin::start(&r.server, options)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let named = format!("Host: admin.example:{}\r\n", addr.port());
    let bearer = "Authorization: Bearer t0ken\r\n";

    let (status, body) = by_hand(addr, &format!("GET /api/logger HTTP/1.1\r\n{named}"), b"").await;
    assert_eq!(status, 421, "{body}");
    let (status, body) = by_hand(
        addr,
        &format!("GET /api/logger HTTP/1.1\r\n{named}{bearer}"),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let post = format!("POST /api/logger HTTP/1.1\r\n{named}Content-Type: text/plain\r\n");
    let (status, _) = by_hand(addr, &post, br#"{"on": true}"#).await;
    assert_eq!(status, 421);
    assert!(!r.server.sip_trace.load(Ordering::Relaxed));
    let (status, body) = by_hand(addr, &format!("{post}{bearer}"), br#"{"on": true}"#).await;
    assert_eq!(status, 200, "{body}");
    assert!(r.server.sip_trace.load(Ordering::Relaxed));
    // A page of another origin is refused, token or not.
    let (status, _) = by_hand(
        addr,
        &format!("{post}{bearer}Origin: http://evil.example\r\n"),
        br#"{"on": false}"#,
    )
    .await;
    assert_eq!(status, 403);
    assert!(r.server.sip_trace.load(Ordering::Relaxed));
}
