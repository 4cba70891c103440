//! The console's API over real HTTP on loopback: captured flows found by
//! Call-ID, user, method, status and address, one flow as a ladder, the
//! overview, the event stream, and the capture ring staying within its
//! budget whatever a stranger sends.

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use sipjet_server::admin::client::AdminClient;
use sipjet_server::admin::{AdminListener, AdminOptions};
use sipjet_server::digest::DigestAlgorithm;
use sipjet_server::server::Server;
use sipjet_testkit::{PATIENCE, eventually_async};
use support::{Client, Digest, Request, offer_of, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn conf(capture_mib: u32) -> String {
    format!(
        "\
[global]
type = global
default_realm = console.test
endpoint_identifier_order = username
capture_buffer_mib = {capture_mib}

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[alice]
type = endpoint
aors = alice
auth = alice-auth

[alice-auth]
type = auth
username = alice
password = alice-pass

[alice]
type = aor
max_contacts = 1
"
    )
}

async fn running(capture_mib: u32) -> (Server, SocketAddr, AdminListener, AdminClient) {
    let (server, sip) = start(&conf(capture_mib)).await;
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let http = AdminClient::new(admin.local_addr(), None);
    (server, sip, admin, http)
}

async fn get_json(http: &AdminClient, path: &str) -> Value {
    let reply = http.get(path).await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    serde_json::from_slice(&reply.body).unwrap()
}

/// Registers alice with digest authentication; the REGISTER's Call-ID.
async fn register_alice(client: &Client) -> String {
    let uri = client.uri(Some("alice"));
    let contact = format!("Contact: <sip:alice@{}>", client.addr);
    let first = Request::new("REGISTER", &uri, "alice").with(contact.clone());
    let offers = client.challenged(&first).await;
    let offer = offer_of(&offers, DigestAlgorithm::Md5);
    let again = first.next().with(contact);
    let answer = Digest::answer(offer, "alice", "alice-pass", &again);
    let r = client.ask(&again.with(answer.header())).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
    first.call_id
}

fn call_ids(found: &Value) -> Vec<String> {
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["call_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_flow_is_found_and_drawn_as_a_ladder() {
    let (_server, sip, _admin, http) = running(64).await;
    let client = Client::new(sip).await;
    let call_id = register_alice(&client).await;
    let ping = Request::new("OPTIONS", &client.uri(None), "monitor");
    assert_eq!(client.ask(&ping).await.status(), Some(200));

    // A message sent is captured once it is out, so the 200 may reach
    // the phone just before it is in the ring.
    let by_id = eventually_async("the REGISTER flow has its four messages", async || {
        let found = get_json(&http, &format!("/api/flows?call_id={call_id}")).await;
        (found[0]["messages"] == 4).then_some(found)
    })
    .await;
    assert_eq!(call_ids(&by_id), [call_id.as_str()]);
    let flow = &by_id[0];
    assert_eq!(flow["method"], "REGISTER");
    assert_eq!(flow["from_user"], "alice");
    assert_eq!(flow["messages"], 4);
    assert_eq!(flow["statuses"], serde_json::json!([401, 200]));
    assert_eq!(
        flow["peers"],
        serde_json::json!([format!("udp:{}", client.addr)])
    );
    for query in ["user=alice", "method=register", "status=401"] {
        let found = get_json(&http, &format!("/api/flows?{query}")).await;
        assert_eq!(call_ids(&found), [call_id.as_str()], "{query}");
    }
    let by_address = get_json(&http, &format!("/api/flows?address={}", client.addr)).await;
    assert_eq!(call_ids(&by_address).len(), 2);
    assert!(call_ids(&get_json(&http, "/api/flows?method=INVITE").await).is_empty());
    let bad = http.get("/api/flows?status=abc").await.unwrap();
    assert_eq!(bad.status, 400);

    // The ladder: the phone's column and the server's, four arrows in
    // order, each with the whole message.
    let id = call_id.replace('@', "%40");
    let ladder = get_json(&http, &format!("/api/flows/{id}")).await;
    let columns: Vec<&str> = ladder["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [format!("{sip}/UDP"), format!("{}/UDP", client.addr)]
    );
    let arrows: Vec<(u64, u64, &str)> = ladder["arrows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["from"].as_u64().unwrap(),
                a["to"].as_u64().unwrap(),
                a["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        arrows,
        [
            (1, 0, "REGISTER"),
            (0, 1, "401 Unauthorized"),
            (1, 0, "REGISTER"),
            (0, 1, "200 OK"),
        ]
    );
    let second = ladder["arrows"][2]["message"].as_str().unwrap();
    assert!(second.starts_with("REGISTER sip:alice@"), "{second}");
    assert!(second.contains("Authorization: Digest"), "{second}");
    assert_eq!(ladder["arrows"][0]["retransmission"], false);
    let missing = http.get("/api/flows/no-such-call").await.unwrap();
    assert_eq!(missing.status, 404);

    let overview = get_json(&http, "/api/overview").await;
    assert_eq!(overview["registrations"], 1);
    assert_eq!(overview["capture"]["on"], true);
    assert_eq!(overview["capture"]["messages"], 6);
    assert_eq!(overview["capture"]["flows"], 2);
    assert!(overview["requests_received"].as_u64().unwrap() >= 3);
    assert_eq!(overview["transports"][0]["bound"], sip.to_string());
    // The ring's bytes count in the memory figures.
    let metrics = String::from_utf8(http.get("/metrics").await.unwrap().body.to_vec()).unwrap();
    assert!(
        metrics.lines().any(|l| l == "sipjet_capture_messages 6"),
        "{metrics}"
    );
    let bytes = format!("sipjet_capture_bytes {}", overview["capture"]["bytes"]);
    assert!(metrics.lines().any(|l| l == bytes), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmitted_request_is_marked_in_the_ladder() {
    let (_server, sip, _admin, http) = running(64).await;
    let client = Client::new(sip).await;
    let ping = Request::new("OPTIONS", &client.uri(None), "monitor");
    let text = ping.text(client.addr);
    client.send_text(&text).await;
    assert_eq!(client.final_response().await.status(), Some(200));
    // The same request again. The server answers OPTIONS to itself
    // without keeping a transaction, so its answer is a new one (another
    // To tag), not a retransmission.
    client.send_text(&text).await;
    assert_eq!(client.final_response().await.status(), Some(200));
    // A message sent is recorded once the socket has taken it, which may
    // be after the client has read it: wait for the four.
    let path = format!("/api/flows/{}", ping.call_id.replace('@', "%40"));
    let ladder = eventually_async("the ladder has its four arrows", async || {
        let ladder = get_json(&http, &path).await;
        (ladder["arrows"].as_array().map(Vec::len) >= Some(4)).then_some(ladder)
    })
    .await;
    let marks: Vec<(&str, bool)> = ladder["arrows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["label"].as_str().unwrap(),
                a["retransmission"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            ("OPTIONS", false),
            ("200 OK", false),
            ("OPTIONS", true),
            ("200 OK", false)
        ]
    );
}

/// Reads the stream until `want` has come.
async fn read_until(seen: &mut String, stream: &mut tokio::net::TcpStream, want: &str) {
    let mut buf = [0u8; 4096];
    let read = async {
        while !seen.contains(want) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .unwrap_or_else(|_| panic!("no {want} in the stream: {seen}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_tells_of_new_messages() {
    let (_server, sip, admin, _http) = running(64).await;
    let mut stream = tokio::net::TcpStream::connect(admin.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut seen, &mut stream, "\"captured\":0").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    let client = Client::new(sip).await;
    let ping = Request::new("OPTIONS", &client.uri(None), "monitor");
    assert_eq!(client.ask(&ping).await.status(), Some(200));
    read_until(&mut seen, &mut stream, "\"captured\":2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ring_stays_within_its_budget() {
    let (_server, sip, _admin, http) = running(1).await;
    let client = Client::new(sip).await;
    let pad = format!("X-Pad: {}", "p".repeat(1000));
    let mut first = None;
    for _ in 0..1000 {
        let ping = Request::new("OPTIONS", &client.uri(None), "flood").with(pad.clone());
        first.get_or_insert_with(|| ping.call_id.clone());
        assert_eq!(client.ask(&ping).await.status(), Some(200));
    }
    let capture = get_json(&http, "/api/overview").await["capture"].clone();
    assert_eq!(capture["budget"], 1 << 20);
    assert!(capture["bytes"].as_u64().unwrap() <= 1 << 20, "{capture}");
    assert_eq!(capture["captured"], 2000);
    let held = capture["messages"].as_u64().unwrap();
    assert!(held < 2000 && held > 100, "{capture}");
    // The oldest flows are gone with their messages.
    let gone = http
        .get(&format!(
            "/api/flows/{}",
            first.unwrap().replace('@', "%40")
        ))
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
    // Each flow is a request and its answer; the oldest may have lost its
    // request only.
    assert_eq!(capture["flows"].as_u64().unwrap(), held.div_ceil(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_capture_off_nothing_is_kept() {
    let (_server, sip, _admin, http) = running(0).await;
    let client = Client::new(sip).await;
    let ping = Request::new("OPTIONS", &client.uri(None), "monitor");
    assert_eq!(client.ask(&ping).await.status(), Some(200));
    let overview = get_json(&http, "/api/overview").await;
    assert_eq!(overview["capture"]["on"], false);
    assert_eq!(overview["capture"]["captured"], 0);
    assert!(call_ids(&get_json(&http, "/api/flows").await).is_empty());
}

/// Sends `request` as is and reads the whole answer (the listener closes
/// after it: `Connection: close`).
async fn raw(admin: &AdminListener, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(admin.local_addr())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_to_its_own_origin_only() {
    let (_server, _sip, admin, _http) = running(64).await;
    let page = raw(
        &admin,
        "GET / HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: none\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("content-type: text/html"), "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert!(page.contains("<script src=\"/console.js\""), "{page}");
    let script = raw(
        &admin,
        "GET /console.js HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(script.starts_with("HTTP/1.1 200"), "{script}");
    assert!(script.contains("EventSource(\"/api/events\")"));
    // A page of another site cannot load it, nor read the flows; nor can
    // a DNS name rebound to loopback.
    for (path, headers, status) in [
        (
            "/",
            "Host: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n",
            "403",
        ),
        (
            "/api/flows",
            "Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n",
            "403",
        ),
        ("/api/events", "Host: evil.example\r\n", "421"),
    ] {
        let answer = raw(
            &admin,
            &format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"),
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_are_listed_with_their_source() {
    let (_server, sip, _admin, http) = running(64).await;
    let client = Client::on("127.0.0.77", sip).await;
    let uri = client.uri(Some("alice"));
    let first = Request::new("REGISTER", &uri, "alice");
    let offers = client.challenged(&first).await;
    let again = first.next();
    let wrong = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        "alice",
        "not-her-password",
        &again,
    );
    let refused = client.ask(&again.with(wrong.header())).await;
    assert_eq!(refused.status(), Some(401), "{refused:?}");
    let events = get_json(&http, "/api/security").await;
    let ours: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "127.0.0.77")
        .collect();
    assert_eq!(ours.len(), 1, "{events}");
    assert_eq!(ours[0]["kind"], "ChallengeResponseFailed");
    assert_eq!(ours[0]["account"], "alice");
    assert_eq!(ours[0]["port"], client.addr.port());
    assert_eq!(ours[0]["transport"], "UDP");
}
