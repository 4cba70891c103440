//! Connections between two stacks on loopback: reuse, the connection a
//! destination names, keep-alive on connections this side opens.

mod common;

use std::time::Duration;

use common::*;
use sipjet_message::Message;
use sipjet_testkit::eventually_async;
use sipjet_transport::{
    ConnectionId, Destination, Limits, ListenerConfig, Protocol, TransportConfig, TransportError,
    Transports, response_destination,
};
use tokio::net::TcpListener;

fn request_from(t: &Transports, protocol: Protocol, call_id: &str) -> Message {
    let sent_by = t.sent_by(protocol).expect("a listener to name in Via");
    parse(&options(protocol.via_name(), sent_by, call_id))
}

async fn tcp_stack() -> (Transports, Inbox) {
    start(config(
        vec![ListenerConfig::tcp(any_port())],
        Limits::default(),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_share_one_connection() {
    let (a, mut a_inbox) = tcp_stack().await;
    let (b, mut b_inbox) = tcp_stack().await;
    let b_addr = addr_of(&b, Protocol::Tcp);

    let sent = a
        .send(
            &request_from(&a, Protocol::Tcp, "r1"),
            &Destination::new(Protocol::Tcp, b_addr),
        )
        .await
        .unwrap();
    assert_eq!(sent.protocol, Protocol::Tcp);
    assert_eq!(sent.remote, b_addr);
    let a_conn = sent.connection.expect("a connection was opened");

    let got = b_inbox.next().await;
    assert_eq!(got.flow.remote, sent.local);
    let ok = Message::response_to(&got.message, 200).unwrap();
    let back = b
        .send(
            &ok,
            &response_destination(&got.message.via().unwrap(), &got.flow),
        )
        .await
        .unwrap();
    assert_eq!(back.connection, got.flow.connection);

    let resp = a_inbox.next().await;
    assert_eq!(resp.message.status(), Some(200));
    assert_eq!(
        resp.flow.connection,
        Some(a_conn),
        "the response came back on it"
    );

    // The next request to the same place reuses the connection.
    let again = a
        .send(
            &request_from(&a, Protocol::Tcp, "r2"),
            &Destination::new(Protocol::Tcp, b_addr),
        )
        .await
        .unwrap();
    assert_eq!(again.connection, Some(a_conn));
    let got2 = b_inbox.next().await;
    assert_eq!(got2.flow.connection, got.flow.connection);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn destination_connection_is_honoured_while_open() {
    let (b, mut b_inbox) = tcp_stack().await;
    let b_addr = addr_of(&b, Protocol::Tcp);
    let (fallback, mut fallback_inbox) = tcp_stack().await;
    let fallback_addr = addr_of(&fallback, Protocol::Tcp);

    let mut c1 = raw_tcp(b_addr).await;
    let mut c2 = raw_tcp(b_addr).await;
    let c1_addr = c1.io.local_addr().unwrap();
    let c2_addr = c2.io.local_addr().unwrap();
    c1.write(options("TCP", c1_addr, "from-c1").as_bytes())
        .await;
    let f1 = b_inbox.next().await.flow;
    c2.write(options("TCP", c2_addr, "from-c2").as_bytes())
        .await;
    let f2 = b_inbox.next().await.flow;
    assert_ne!(f1.connection, f2.connection);

    // Named connection c2, address of c1: the connection wins.
    let req = request_from(&b, Protocol::Tcp, "to-c2");
    let dest = Destination::new(Protocol::Tcp, c1_addr).with_connection(f2.connection.unwrap());
    let flow = b.send(&req, &dest).await.unwrap();
    assert_eq!(flow.connection, f2.connection);
    assert_eq!(c2.read_message().await.call_id().unwrap(), "to-c2");

    // Once c2 is gone, the address is used: a new connection.
    drop(c2);
    let req = request_from(&b, Protocol::Tcp, "after-close");
    let dest =
        Destination::new(Protocol::Tcp, fallback_addr).with_connection(f2.connection.unwrap());
    // The close may not have been seen yet: a write can still succeed
    // into the dead socket, so send until one goes another way.
    let flow = eventually_async("a new connection after the named one closed", async || {
        let flow = b.send(&req, &dest).await.unwrap();
        (flow.connection != f2.connection).then_some(flow)
    })
    .await;
    assert_eq!(flow.remote, fallback_addr);
    assert_eq!(
        fallback_inbox.next().await.message.call_id().unwrap(),
        "after-close"
    );
    // c1 got nothing but what it asked for.
    assert!(c1.io.try_read(&mut [0u8; 16]).is_err());
    b.shutdown().await;
    fallback.shutdown().await;
}

#[tokio::test]
async fn unknown_connection_id_falls_back_to_the_address() {
    let (a, _a_inbox) = tcp_stack().await;
    let (b, mut b_inbox) = tcp_stack().await;
    let b_addr = addr_of(&b, Protocol::Tcp);
    // An id of b's is unknown to a, which has no connection yet.
    let mut c = raw_tcp(b_addr).await;
    let c_addr = c.io.local_addr().unwrap();
    c.write(options("TCP", c_addr, "c").as_bytes()).await;
    let foreign: ConnectionId = b_inbox.next().await.flow.connection.unwrap();
    let dest = Destination::new(Protocol::Tcp, b_addr).with_connection(foreign);
    let flow = a
        .send(&request_from(&a, Protocol::Tcp, "x"), &dest)
        .await
        .unwrap();
    assert_eq!(flow.remote, b_addr);
    assert_eq!(b_inbox.next().await.message.call_id().unwrap(), "x");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn connect_refused_is_reported() {
    let (a, _inbox) = tcp_stack().await;
    let free = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let err = a
        .send(
            &request_from(&a, Protocol::Tcp, "x"),
            &Destination::new(Protocol::Tcp, free),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot connect TCP to {free}")),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    a.shutdown().await;
}

#[tokio::test]
async fn opened_connections_send_keepalive_pings() {
    let cfg = TransportConfig {
        keepalive_interval: Some(Duration::from_millis(100)),
        ..config(vec![ListenerConfig::tcp(any_port())], Limits::default())
    };
    let (a, _inbox) = start(cfg).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    a.send(
        &request_from(&a, Protocol::Tcp, "ka"),
        &Destination::new(Protocol::Tcp, peer_addr),
    )
    .await
    .unwrap();
    let (stream, _) = peer.accept().await.unwrap();
    let mut s = RawStream::new(stream);
    assert_eq!(s.read_message().await.call_id().unwrap(), "ka");
    for _ in 0..2 {
        assert_eq!(s.read_frame().await.as_deref(), Some(&b"\r\n\r\n"[..]));
        s.write(b"\r\n").await;
    }
    a.shutdown().await;
}

#[tokio::test]
async fn connection_cap_applies_to_opened_connections() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let (a, _inbox) = start(config(vec![ListenerConfig::tcp(any_port())], limits)).await;
    let (b, _b_inbox) = tcp_stack().await;
    let (c, _c_inbox) = tcp_stack().await;
    a.send(
        &request_from(&a, Protocol::Tcp, "1"),
        &Destination::new(Protocol::Tcp, addr_of(&b, Protocol::Tcp)),
    )
    .await
    .unwrap();
    let err = a
        .send(
            &request_from(&a, Protocol::Tcp, "2"),
            &Destination::new(Protocol::Tcp, addr_of(&c, Protocol::Tcp)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::ConnectionLimit { limit: 1, .. }),
        "{err:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn accepted_connections_leave_room_for_opened_ones() {
    // 4 places, half kept for connections this side opens.
    let limits = Limits {
        max_connections: 4,
        outbound_reserve_percent: 50,
        ..Limits::default()
    };
    let (a, _inbox) = start(config(vec![ListenerConfig::tcp(any_port())], limits)).await;
    let a_addr = addr_of(&a, Protocol::Tcp);
    // Strangers fill the accepted share; one more is refused.
    let (s1, _s1) = served(connect_from("127.0.0.1", a_addr).await).await;
    let (s2, _s2) = served(connect_from("127.0.0.2", a_addr).await).await;
    let (s3, _s3) = served(connect_from("127.0.0.3", a_addr).await).await;
    assert_eq!((s1, s2, s3), (true, true, false));

    // A still reaches its contacts over new connections, up to the total.
    let (b, mut b_inbox) = tcp_stack().await;
    let (c, mut c_inbox) = tcp_stack().await;
    let (d, _d_inbox) = tcp_stack().await;
    for (peer, inbox, id) in [(&b, &mut b_inbox, "to-b"), (&c, &mut c_inbox, "to-c")] {
        a.send(
            &request_from(&a, Protocol::Tcp, id),
            &Destination::new(Protocol::Tcp, addr_of(peer, Protocol::Tcp)),
        )
        .await
        .unwrap();
        assert_eq!(inbox.next().await.message.call_id().unwrap(), id);
    }
    let err = a
        .send(
            &request_from(&a, Protocol::Tcp, "to-d"),
            &Destination::new(Protocol::Tcp, addr_of(&d, Protocol::Tcp)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::ConnectionLimit { limit: 4, .. }),
        "{err:?}"
    );
    for t in [a, b, c, d] {
        t.shutdown().await;
    }
}
