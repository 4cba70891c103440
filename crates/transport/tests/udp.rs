//! SIP over UDP on loopback: receiving, RFC 3581, answering invalid
//! requests, surviving garbage, sending.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use sipjet_message::Message;
use sipjet_transport::{
    Destination, Limits, ListenerConfig, Protocol, TransportError, response_destination,
};
use tokio::net::UdpSocket;

async fn client(bind: &str) -> (UdpSocket, SocketAddr) {
    let sock = UdpSocket::bind(bind).await.unwrap();
    let addr = sock.local_addr().unwrap();
    (sock, addr)
}

/// Transports with one UDP listener on a free loopback port, and its
/// address.
async fn udp_server(limits: Limits) -> (sipjet_transport::Transports, Inbox, SocketAddr) {
    let (t, inbox) = start(config(vec![ListenerConfig::udp(any_port())], limits)).await;
    let addr = addr_of(&t, Protocol::Udp);
    (t, inbox, addr)
}

async fn recv(sock: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(PATIENCE, sock.recv_from(&mut buf))
        .await
        .expect("a datagram within the patience")
        .unwrap();
    Message::parse(buf[..n].to_vec()).expect("a valid SIP message")
}

/// Asserts that no datagram waits on `sock`, without waiting: call it once
/// a request sent after what is checked has been delivered. The listener
/// takes a peer's datagrams in order and sends any answer before it reads
/// the next one, and loopback delivers at once.
fn no_datagram_waiting(sock: &UdpSocket) {
    let mut buf = vec![0u8; 65_536];
    if let Ok((n, _)) = sock.try_recv_from(&mut buf) {
        panic!(
            "unexpected datagram: {}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reaches_the_handler_with_its_flow_and_rfc3581_stamps() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;

    // rport without a value: filled with the source port, and received
    // added although sent-by is the source address (RFC 3581 §4).
    let text = options_with_via(&format!("SIP/2.0/UDP {me};rport;branch=z9hG4bK1"), "c1");
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    assert_eq!(got.flow.protocol, Protocol::Udp);
    assert_eq!(got.flow.remote, me);
    assert_eq!(got.flow.local, server);
    assert_eq!(got.flow.connection, None);
    let via = got.message.via().unwrap();
    assert_eq!(via.rport(), Some(Some(me.port())));
    assert_eq!(via.received(), Some(me.ip()));

    // rport with a value is kept; a sent-by name gets received.
    let text = options_with_via(
        "SIP/2.0/UDP pc.example.com:5070;rport=5070;branch=z9hG4bK2",
        "c2",
    );
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let via_text = inbox
        .next()
        .await
        .message
        .via()
        .unwrap()
        .as_str()
        .to_string();
    assert_eq!(
        via_text,
        "SIP/2.0/UDP pc.example.com:5070;rport=5070;branch=z9hG4bK2;received=127.0.0.1"
    );

    // Sent-by equal to the source and no rport: the message is untouched.
    let text = options_with_via(&format!("SIP/2.0/UDP {me};branch=z9hG4bK3"), "c3");
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    assert!(!got.message.is_modified());
    assert_eq!(got.message.to_bytes().as_ref(), text.as_bytes());
    t.shutdown().await;
}

#[tokio::test]
async fn response_goes_to_the_source_port_by_rport() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;
    // The Via names a port nobody listens on, as behind a NAT.
    let text = options_with_via("SIP/2.0/UDP 10.0.0.99:5099;rport;branch=z9hG4bK9", "nat");
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    let ok = Message::response_to(&got.message, 200).unwrap();
    let dest = response_destination(&got.message.via().unwrap(), &got.flow);
    assert_eq!(dest.addr, me);
    let flow = t.send(&ok, &dest).await.unwrap();
    assert_eq!(flow.local, server, "sent from the listening socket");
    let resp = recv(&sock).await;
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.call_id().unwrap(), "nat");
    t.shutdown().await;
}

/// A request names a third party in its Via `maddr`: neither the
/// response of the layer above nor the transport's own `400` goes there
/// (no reflection); both go back to where the request came from. A
/// `maddr` that is the source address is still honoured.
#[tokio::test]
async fn maddr_of_another_address_does_not_redirect_responses() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (victim, victim_addr) = client("127.0.0.99:0").await;
    let (sock, me) = client("127.0.0.77:0").await;
    // Honouring maddr would send to 127.0.0.99 at the sent-by port, where
    // the victim listens.
    let via = format!(
        "SIP/2.0/UDP 127.0.0.77:{};rport;maddr=127.0.0.99;branch=z9hG4bKrefl",
        victim_addr.port()
    );

    let text = options_with_via(&via, "reflect");
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    let ok = Message::response_to(&got.message, 200).unwrap();
    let dest = response_destination(&got.message.via().unwrap(), &got.flow);
    assert_eq!(dest.addr, me);
    t.send(&ok, &dest).await.unwrap();
    let resp = recv(&sock).await;
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.call_id().unwrap(), "reflect");

    // The transport answers an invalid request itself, by the same rule.
    let bad = options_with_via(&via, "reflect400").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    sock.send_to(bad.as_bytes(), server).await.unwrap();
    let resp = recv(&sock).await;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(resp.call_id().unwrap(), "reflect400");
    // Each answer went out once, and came here.
    no_datagram_waiting(&victim);

    // maddr naming the source itself is honoured, with the sent-by port.
    let (other, other_addr) = client("127.0.0.77:0").await;
    let own = options_with_via(
        &format!(
            "SIP/2.0/UDP 127.0.0.77:{};maddr=127.0.0.77;branch=z9hG4bKown",
            other_addr.port()
        ),
        "own",
    );
    sock.send_to(own.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    let ok = Message::response_to(&got.message, 200).unwrap();
    let dest = response_destination(&got.message.via().unwrap(), &got.flow);
    assert_eq!(dest.addr, other_addr);
    t.send(&ok, &dest).await.unwrap();
    assert_eq!(recv(&other).await.call_id().unwrap(), "own");
    no_datagram_waiting(&victim);
    t.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_answered_garbage_dropped_and_the_listener_keeps_serving() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;

    for garbage in [
        &b"\x00\x01\x02\xff\xfe"[..],
        b"hello world",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"INVITE",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKq\r\n\r\n",
        &[b'A'; 60_000],
    ] {
        sock.send_to(garbage, server).await.unwrap();
    }
    // A request sent after the garbage is delivered first: the garbage
    // was neither delivered nor answered.
    sock.send_to(options("UDP", me, "after-garbage").as_bytes(), server)
        .await
        .unwrap();
    assert_eq!(
        inbox.next().await.message.call_id().unwrap(),
        "after-garbage"
    );
    no_datagram_waiting(&sock);

    // A Content-Length beyond the datagram.
    let bad_length = options("UDP", me, "len").replace("Content-Length: 0", "Content-Length: 50");
    sock.send_to(bad_length.as_bytes(), server).await.unwrap();
    let resp = recv(&sock).await;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.reason(),
        Some("Content-Length 50 exceeds the 0 bytes received")
    );
    assert_eq!(resp.call_id().unwrap(), "len");

    // A CSeq method that is not the request's.
    let mismatch = options("UDP", me, "cseq").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    sock.send_to(mismatch.as_bytes(), server).await.unwrap();
    let resp = recv(&sock).await;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.reason(),
        Some("CSeq method \"INVITE\" does not match request method \"OPTIONS\"")
    );
    // Answered instead of delivered.
    inbox.nothing_delivered();

    // Another SIP version gets 505.
    let version = options("UDP", me, "ver").replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    sock.send_to(version.as_bytes(), server).await.unwrap();
    assert_eq!(recv(&sock).await.status(), Some(505));

    // And the listener still serves a good request.
    sock.send_to(options("UDP", me, "good").as_bytes(), server)
        .await
        .unwrap();
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "good");
    t.shutdown().await;
}

#[tokio::test]
async fn crlf_keepalive_is_ignored_silently() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;
    sock.send_to(b"\r\n\r\n", server).await.unwrap();
    sock.send_to(b"\r\n", server).await.unwrap();
    sock.send_to(options("UDP", me, "after").as_bytes(), server)
        .await
        .unwrap();
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "after");
    // No pong over UDP.
    no_datagram_waiting(&sock);
    t.shutdown().await;
}

#[tokio::test]
async fn oversized_datagrams_are_dropped_and_not_sent() {
    let limits = Limits {
        max_datagram: 600,
        ..Limits::default()
    };
    let (t, mut inbox, server) = udp_server(limits).await;
    let (sock, me) = client("127.0.0.1:0").await;
    let big = message_with_body("UDP", me, "big", &"x".repeat(700));
    sock.send_to(big.as_bytes(), server).await.unwrap();
    // A request sent after it is the first delivered: the oversized one
    // was dropped without an answer.
    sock.send_to(options("UDP", me, "small").as_bytes(), server)
        .await
        .unwrap();
    assert_eq!(inbox.next().await.message.call_id().unwrap(), "small");
    no_datagram_waiting(&sock);

    let err = t
        .send(&parse(&big), &Destination::new(Protocol::Udp, me))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TransportError::TooLargeForUdp {
            size: _,
            limit: 600
        }
    ));
    assert!(err.to_string().contains("too large for UDP"), "{err}");
    t.shutdown().await;
}

#[tokio::test]
async fn ipv6_loopback() {
    let (t, mut inbox) = start(config(
        vec![ListenerConfig::udp("[::1]:0".parse().unwrap())],
        Limits::default(),
    ))
    .await;
    let server = addr_of(&t, Protocol::Udp);
    assert!(server.is_ipv6());
    let (sock, me) = client("[::1]:0").await;
    let text = options_with_via("SIP/2.0/UDP [::1]:5060;rport;branch=z9hG4bK6", "v6");
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let got = inbox.next().await;
    assert_eq!(got.flow.remote, me);
    let via = got.message.via().unwrap();
    assert_eq!(via.received(), Some(me.ip()));
    assert_eq!(via.rport(), Some(Some(me.port())));
    let ok = Message::response_to(&got.message, 200).unwrap();
    t.send(&ok, &response_destination(&via, &got.flow))
        .await
        .unwrap();
    assert_eq!(recv(&sock).await.status(), Some(200));

    // No IPv4 listener: no way to send to an IPv4 address.
    let err = t
        .send(&ok, &Destination::new(Protocol::Udp, loopback(5060)))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no UDP listener for IPv4 to send from");
    t.shutdown().await;
}

#[tokio::test]
async fn several_sockets_share_one_address() {
    let mut cfg = config(vec![ListenerConfig::udp(any_port())], Limits::default());
    cfg.udp.sockets_per_listener = 3;
    let (t, mut inbox) = start(cfg).await;
    let server = addr_of(&t, Protocol::Udp);
    assert_eq!(t.local_addrs().len(), 1);
    for i in 0..6 {
        let (sock, me) = client("127.0.0.1:0").await;
        sock.send_to(options("UDP", me, &format!("s{i}")).as_bytes(), server)
            .await
            .unwrap();
        assert_eq!(inbox.next().await.flow.remote, me);
    }
    t.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    t.shutdown().await;
    let (sock, me) = client("127.0.0.1:0").await;
    sock.send_to(options("UDP", me, "late").as_bytes(), server)
        .await
        .unwrap();
    // Shutdown waited for the receive tasks to end, and the port is free
    // (below): nothing reads the datagram.
    inbox.nothing_delivered();
    let err = t
        .send(
            &parse(&options("UDP", me, "x")),
            &Destination::new(Protocol::Udp, me),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::ShutDown));
    // The port is free again.
    UdpSocket::bind(server).await.expect("port released");
}

/// Dropping the last handle, without a shutdown, ends the receiving on
/// the UDP sockets too: the port comes free.
#[tokio::test]
async fn dropping_the_last_handle_frees_the_udp_port() {
    let (t, mut inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;
    sock.send_to(options("UDP", me, "before").as_bytes(), server)
        .await
        .unwrap();
    inbox.next().await;
    drop(t);
    // The receivers end when the runtime next polls them.
    sipjet_testkit::eventually_async("the UDP port released", async || {
        UdpSocket::bind(server).await.ok().map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_send_sends_udp_at_once_from_a_plain_thread() {
    let (t, _inbox, server) = udp_server(Limits::default()).await;
    let (sock, me) = client("127.0.0.1:0").await;
    let msg = parse(&options("UDP", server, "try-send"));
    let (t2, msg2) = (t.clone(), msg.clone());
    let flow = std::thread::spawn(move || t2.try_send(&msg2, &Destination::new(Protocol::Udp, me)))
        .join()
        .unwrap()
        .expect("UDP completes without waiting")
        .unwrap();
    assert_eq!((flow.local, flow.remote), (server, me));
    assert_eq!(recv(&sock).await.call_id().unwrap(), "try-send");
    // Streams need an async context; try_send says so instead of blocking.
    assert!(
        t.try_send(&msg, &Destination::new(Protocol::Tcp, me))
            .is_none()
    );
}

/// With two receive tasks on one socket, a message whose handling waits
/// does not hold the next one back: the second is handled while the first
/// still waits for it. With one task the first would wait in vain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_receiver_handles_while_the_first_waits() {
    let mut cfg = config(vec![ListenerConfig::udp(any_port())], Limits::default());
    cfg.udp.receivers_per_socket = 2;
    let (second_seen, wait_for_second) = std::sync::mpsc::channel::<()>();
    let wait_for_second = std::sync::Mutex::new(wait_for_second);
    let (done, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let handler = std::sync::Arc::new(move |m: sipjet_transport::Incoming| {
        let id = m.message.call_id().unwrap().to_string();
        let waited = if id == "first" {
            // Blocks its thread, as slow work on the receive task would.
            wait_for_second
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .is_ok()
        } else {
            second_seen.send(()).unwrap();
            true
        };
        done.send((id, waited)).unwrap();
    });
    let t = sipjet_transport::Transports::start(cfg, handler)
        .await
        .unwrap();
    let server = addr_of(&t, Protocol::Udp);
    let (sock, me) = client("127.0.0.1:0").await;
    for id in ["first", "second"] {
        sock.send_to(options("UDP", me, id).as_bytes(), server)
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(handled.recv().await.unwrap());
    }
    // The first saw the second handled while it waited; which of the two
    // reports first after that is up to the scheduler.
    got.sort();
    assert_eq!(
        got,
        [("first".to_string(), true), ("second".to_string(), true)]
    );
    t.shutdown().await;
}
