//! SIP over TCP on loopback: framing, keep-alive, refusals, limits.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use sipjet_message::Message;
use sipjet_testkit::eventually_async;
use sipjet_transport::{Limits, ListenerConfig, Protocol, response_destination};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn tcp_server(limits: Limits) -> (sipjet_transport::Transports, Inbox, SocketAddr) {
    let (t, inbox) = start(config(vec![ListenerConfig::tcp(any_port())], limits)).await;
    let addr = addr_of(&t, Protocol::Tcp);
    (t, inbox, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_messages_in_one_write() {
    let (t, mut inbox, server) = tcp_server(Limits::default()).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let mut batch = String::new();
    for i in 0..5 {
        batch.push_str(&message_with_body(
            "TCP",
            me,
            &format!("m{i}"),
            &format!("body {i}"),
        ));
    }
    c.write(batch.as_bytes()).await;
    let mut connection = None;
    for i in 0..5 {
        let got = inbox.next().await;
        assert_eq!(got.message.call_id().unwrap(), format!("m{i}"));
        assert_eq!(got.message.body().as_ref(), format!("body {i}").as_bytes());
        assert_eq!(got.flow.protocol, Protocol::Tcp);
        assert_eq!(got.flow.remote, me);
        assert!(got.flow.connection.is_some());
        if let Some(id) = connection {
            assert_eq!(got.flow.connection, Some(id), "one connection, one id");
        }
        connection = got.flow.connection;
    }
    t.shutdown().await;
}

#[tokio::test]
async fn one_message_in_many_writes_and_the_answer_on_the_same_connection() {
    let (t, mut inbox, server) = tcp_server(Limits::default()).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let text = message_with_body("TCP", me, "split", "a body in pieces");
    for piece in text.as_bytes().chunks(7) {
        c.write(piece).await;
        tokio::task::yield_now().await;
    }
    let got = inbox.next().await;
    assert_eq!(got.message.body().as_ref(), b"a body in pieces");
    let ok = Message::response_to(&got.message, 200).unwrap();
    let dest = response_destination(&got.message.via().unwrap(), &got.flow);
    assert_eq!(dest.connection, got.flow.connection);
    let flow = t.send(&ok, &dest).await.unwrap();
    assert_eq!(flow.connection, got.flow.connection);
    let resp = c.read_message().await;
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.call_id().unwrap(), "split");
    t.shutdown().await;
}

#[tokio::test]
async fn crlf_ping_gets_a_pong() {
    let (t, mut inbox, server) = tcp_server(Limits::default()).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    c.write(b"\r\n\r\n").await;
    assert_eq!(c.read_frame().await.as_deref(), Some(&b"\r\n"[..]));
    // A pong from the client is taken quietly, and messages still flow.
    c.write(b"\r\n").await;
    c.write(options("TCP", me, "after-ping").as_bytes()).await;
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "after-ping");
    t.shutdown().await;
}

#[tokio::test]
async fn invalid_request_is_answered_and_the_connection_stays() {
    let (t, mut inbox, server) = tcp_server(Limits::default()).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let bad = options("TCP", me, "bad").replace("CSeq: 1 OPTIONS", "CSeq: 1 BYE");
    c.write(bad.as_bytes()).await;
    let resp = c.read_message().await;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.reason(),
        Some("CSeq method \"BYE\" does not match request method \"OPTIONS\"")
    );
    c.write(options("TCP", me, "good").as_bytes()).await;
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "good");
    t.shutdown().await;
}

#[tokio::test]
async fn oversize_header_section_is_answered_513_and_closed() {
    let limits = Limits {
        max_header_bytes: 1024,
        ..Limits::default()
    };
    let (t, mut inbox, server) = tcp_server(limits).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let big = options("TCP", me, "hdr").replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nX-Padding: {}\r\n", "p".repeat(1500)),
    );
    c.write(big.as_bytes()).await;
    let resp = c.read_message().await;
    assert_eq!(resp.status(), Some(513));
    assert_eq!(
        resp.reason(),
        Some("header section is larger than 1024 bytes")
    );
    assert!(c.closed().await);
    inbox.nothing_delivered();
    t.shutdown().await;
}

#[tokio::test]
async fn oversize_body_is_answered_413_and_closed() {
    let limits = Limits {
        max_body_bytes: 100,
        ..Limits::default()
    };
    let (t, mut inbox, server) = tcp_server(limits).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    // Only the head is sent: the refusal does not wait for the body.
    let text = message_with_body("TCP", me, "body", &"b".repeat(5000));
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    c.write(&text.as_bytes()[..head_end]).await;
    let resp = c.read_message().await;
    assert_eq!(resp.status(), Some(413));
    assert_eq!(
        resp.reason(),
        Some("body of 5000 bytes exceeds the limit of 100 bytes")
    );
    assert!(c.closed().await);
    inbox.nothing_delivered();
    t.shutdown().await;
}

#[tokio::test]
async fn missing_content_length_is_answered_and_closed() {
    let (t, mut inbox, server) = tcp_server(Limits::default()).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let text = options("TCP", me, "nolen").replace("Content-Length: 0\r\n", "");
    c.write(text.as_bytes()).await;
    let resp = c.read_message().await;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.reason(),
        Some("Content-Length is mandatory on stream transports")
    );
    assert!(c.closed().await);
    inbox.nothing_delivered();

    // Garbage that has no readable head is closed without an answer.
    let mut c = raw_tcp(server).await;
    c.write(b"this is not SIP\r\n\r\n").await;
    assert!(c.closed().await);
    t.shutdown().await;
}

/// A peer that keeps sending, a byte at a time, but never completes its
/// message is cut off. The header section never ends, so the message
/// cannot complete however slowly the test runs; what closes the
/// connection within the patience is the message timeout (the idle
/// timeout is longer than the patience). That a peer whose reads end
/// halfway through messages but keeps completing them is not cut off is
/// a matter of clocks alone, tested with explicit instants in the
/// transport's `liveness` module.
#[tokio::test]
async fn trickling_peer_is_cut_off_by_the_message_timeout() {
    let limits = Limits {
        message_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let (t, mut inbox, server) = tcp_server(limits).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    let request = options("TCP", me, "slow");
    let head = &request[..request.find("Content-Length").unwrap()];
    c.write(format!("{head}X-Slow: ").as_bytes()).await;
    let (mut from_server, mut to_server) = c.io.split();
    let trickle = async {
        // A deliberately slow peer: the pace is its nature, not a wait.
        while to_server.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let closed = async {
        let mut scratch = [0u8; 1024];
        while matches!(from_server.read(&mut scratch).await, Ok(n) if n > 0) {}
    };
    tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            () = trickle => {},
            () = closed => {},
        }
    })
    .await
    .expect("the trickling connection is closed");
    inbox.nothing_delivered();
    t.shutdown().await;
}

#[tokio::test]
async fn idle_connection_is_closed() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (t, mut inbox, server) = tcp_server(limits).await;
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    c.write(options("TCP", me, "once").as_bytes()).await;
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "once");
    assert!(c.closed().await, "closed after being idle");
    t.shutdown().await;
}

#[tokio::test]
async fn per_ip_connection_cap() {
    let limits = Limits {
        max_connections_per_ip: 2,
        max_connections: 100,
        ..Limits::default()
    };
    let (t, _inbox, server) = tcp_server(limits).await;
    let (a, _a) = served(connect_from("127.0.0.1", server).await).await;
    let (b, _b) = served(connect_from("127.0.0.1", server).await).await;
    let (c, _c) = served(connect_from("127.0.0.1", server).await).await;
    let (d, _d) = served(connect_from("127.0.0.2", server).await).await;
    assert_eq!((a, b, c, d), (true, true, false, true));
    // A closed connection frees its place, once the server has seen it
    // close.
    drop(_a);
    eventually_async("a place freed by the closed connection", async || {
        let (ok, c) = served(connect_from("127.0.0.1", server).await).await;
        ok.then_some(c)
    })
    .await;
    t.shutdown().await;
}

#[tokio::test]
async fn per_ip_connection_cap_on_ipv6_loopback() {
    // ::1 is the only IPv6 address loopback offers, so this shows the cap
    // at work on IPv6; that it counts whole /64s is a unit test of the
    // limits.
    let limits = Limits {
        max_connections_per_ip: 2,
        max_connections: 100,
        ..Limits::default()
    };
    let (t, _inbox) = start(config(
        vec![ListenerConfig::tcp("[::1]:0".parse().unwrap())],
        limits,
    ))
    .await;
    let server = addr_of(&t, Protocol::Tcp);
    let (a, _a) = served(connect_from("::1", server).await).await;
    let (b, _b) = served(connect_from("::1", server).await).await;
    let (c, _c) = served(connect_from("::1", server).await).await;
    assert_eq!((a, b, c), (true, true, false));
    t.shutdown().await;
}

/// Writes a ping and reads the pong; false once the server has closed.
async fn ping(c: &mut RawStream<TcpStream>) -> bool {
    if c.io.write_all(b"\r\n\r\n").await.is_err() {
        return false;
    }
    c.read_frame().await.as_deref() == Some(&b"\r\n"[..])
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_first_message_timeout() {
    let limits = Limits {
        first_message_timeout: Duration::from_secs(1),
        message_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (t, mut inbox, server) = tcp_server(limits).await;
    // Accepted in this order, so the talker's deadline comes first. Its
    // message is written before the others connect, so the server finds
    // it waiting as soon as it serves the connection.
    let mut talker = raw_tcp(server).await;
    let me = talker.io.local_addr().unwrap();
    talker.write(options("TCP", me, "first").as_bytes()).await;
    let mut silent = raw_tcp(server).await;
    let mut pinger = raw_tcp(server).await;
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "first");

    assert!(silent.closed().await, "a silent connection is closed");
    // Pings are answered, but they are not messages: pinging does not
    // keep a connection that never sends one.
    let pinging = async {
        while ping(&mut pinger).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, pinging)
        .await
        .expect("closed while pinging");

    // Past its own deadline, the connection that sent a message is served.
    assert!(ping(&mut talker).await);
    talker.write(options("TCP", me, "second").as_bytes()).await;
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "second");
    // The other two are closed: nothing more can come from them.
    inbox.nothing_delivered();
    t.shutdown().await;
}

#[tokio::test]
async fn total_connection_cap() {
    let limits = Limits {
        max_connections: 2,
        outbound_reserve_percent: 0,
        ..Limits::default()
    };
    let (t, _inbox, server) = tcp_server(limits).await;
    let (a, _a) = served(connect_from("127.0.0.1", server).await).await;
    let (b, _b) = served(connect_from("127.0.0.2", server).await).await;
    let (c, _c) = served(connect_from("127.0.0.3", server).await).await;
    assert_eq!((a, b, c), (true, true, false));
    t.shutdown().await;
}

#[tokio::test]
async fn ipv6_loopback() {
    let (t, mut inbox) = start(config(
        vec![ListenerConfig::tcp("[::1]:0".parse().unwrap())],
        Limits::default(),
    ))
    .await;
    let server = addr_of(&t, Protocol::Tcp);
    let mut c = raw_tcp(server).await;
    let me = c.io.local_addr().unwrap();
    c.write(options("TCP", me, "v6").as_bytes()).await;
    let got = inbox.next().await;
    assert_eq!(got.flow.remote, me);
    assert_eq!(got.flow.local, server);
    let ok = Message::response_to(&got.message, 200).unwrap();
    t.send(
        &ok,
        &response_destination(&got.message.via().unwrap(), &got.flow),
    )
    .await
    .unwrap();
    assert_eq!(c.read_message().await.status(), Some(200));
    t.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_listeners() {
    let (t, _inbox, server) = tcp_server(Limits::default()).await;
    let (ok, mut c) = served(connect_from("127.0.0.1", server).await).await;
    assert!(ok);
    t.shutdown().await;
    assert!(c.closed().await);
    assert!(TcpStream::connect(server).await.is_err());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_transports() {
    let (t, _inbox, server) = tcp_server(Limits::default()).await;
    let clone = t.clone();
    drop(t);
    let (ok, _c) = served(TcpStream::connect(server).await.unwrap()).await;
    assert!(ok, "a clone keeps the transports running");
    drop(clone);
    // The listener task ends when the runtime next polls it.
    eventually_async("the listener closed", async || {
        TcpStream::connect(server).await.is_err().then_some(())
    })
    .await;
}
