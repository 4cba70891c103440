//! TLS, WebSocket and secure WebSocket end to end on loopback, with
//! certificates made for the test.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use sipjet_message::Message;
use sipjet_transport::{
    Destination, Limits, ListenerConfig, Protocol, TlsClientConfig, TransportConfig,
    TransportError, Transports, response_destination,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

fn request_from(t: &Transports, protocol: Protocol, call_id: &str) -> Message {
    let sent_by = t.sent_by(protocol).unwrap_or_else(|| loopback(5060));
    parse(&options(protocol.via_name(), sent_by, call_id))
}

/// A sends a request to B over `protocol`, B answers on the same
/// connection, A receives the answer.
async fn round_trip(
    a: &Transports,
    a_inbox: &mut Inbox,
    b: &Transports,
    b_inbox: &mut Inbox,
    dest: Destination,
) {
    let protocol = dest.protocol;
    let sent = a
        .send(&request_from(a, protocol, "rt"), &dest)
        .await
        .unwrap();
    assert_eq!(sent.protocol, protocol);
    let got = b_inbox.next().await;
    assert_eq!(got.flow.protocol, protocol);
    assert_eq!(got.flow.remote, sent.local);
    assert_eq!(got.message.call_id().unwrap(), "rt");
    let ok = Message::response_to(&got.message, 200).unwrap();
    b.send(
        &ok,
        &response_destination(&got.message.via().unwrap(), &got.flow),
    )
    .await
    .unwrap();
    let resp = a_inbox.next().await;
    assert_eq!(resp.message.status(), Some(200));
    assert_eq!(resp.flow.connection, sent.connection);
}

fn client_config(tls: Option<TlsClientConfig>) -> TransportConfig {
    TransportConfig {
        tls_client: tls,
        ..config(Vec::new(), Limits::default())
    }
}

#[tokio::test]
async fn tls_end_to_end() {
    let pki = pki();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::tls(any_port(), pki.server.clone())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Tls);
    let (a, mut a_inbox) = start(client_config(Some(pki.client.clone()))).await;
    // By name (SNI) and by IP address.
    round_trip(
        &a,
        &mut a_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Tls, b_addr).with_server_name("localhost"),
    )
    .await;
    let (a2, mut a2_inbox) = start(client_config(Some(pki.client.clone()))).await;
    round_trip(
        &a2,
        &mut a2_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Tls, b_addr),
    )
    .await;

    // A name the certificate does not hold is refused.
    let (a3, _a3_inbox) = start(client_config(Some(pki.client.clone()))).await;
    let err = a3
        .send(
            &request_from(&a3, Protocol::Tls, "x"),
            &Destination::new(Protocol::Tls, b_addr).with_server_name("other.example.com"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Handshake { .. }), "{err:?}");

    // A client trusting another CA is refused.
    let (a4, _a4_inbox) = start(client_config(Some(common::pki().client))).await;
    let err = a4
        .send(
            &request_from(&a4, Protocol::Tls, "x"),
            &Destination::new(Protocol::Tls, b_addr),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("handshake"), "{err}");
    // No handshake completed, so nothing was sent to B.
    b_inbox.nothing_delivered();

    // Without trust roots there is no TLS.
    let (a5, _a5_inbox) = start(client_config(None)).await;
    let err = a5
        .send(
            &request_from(&a5, Protocol::Tls, "x"),
            &Destination::new(Protocol::Tls, b_addr),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TransportError::MissingTlsClientConfig(Protocol::Tls)
    ));
    for t in [a, a2, a3, a4, a5, b] {
        t.shutdown().await;
    }
}

async fn tls_client_stream(
    pki: &Pki,
    to: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    roots.add(ca).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(to).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

use rustls::pki_types::pem::PemObject;

#[tokio::test]
async fn tls_keepalive_and_framing_from_a_plain_client() {
    let pki = pki();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::tls(any_port(), pki.server.clone())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Tls);
    let mut c = RawStream::new(tls_client_stream(&pki, b_addr).await);
    c.write(b"\r\n\r\n").await;
    assert_eq!(c.read_frame().await.as_deref(), Some(&b"\r\n"[..]));
    let me = c.io.get_ref().0.local_addr().unwrap();
    c.write(options("TLS", me, "tls-raw").as_bytes()).await;
    let got = b_inbox.next().await;
    assert_eq!(got.flow.protocol, Protocol::Tls);
    assert_eq!(got.message.call_id().unwrap(), "tls-raw");
    b.shutdown().await;
}

#[tokio::test]
async fn tls_from_pem_files() {
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("sipjet-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert, &pki.leaf_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let server = sipjet_transport::TlsServerConfig::from_pem_files(&cert, &key).unwrap();
    let client = TlsClientConfig::from_pem_files(&[&ca]).unwrap();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::tls(any_port(), server)],
        Limits::default(),
    ))
    .await;
    let (a, mut a_inbox) = start(client_config(Some(client))).await;
    round_trip(
        &a,
        &mut a_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Tls, addr_of(&b, Protocol::Tls)),
    )
    .await;

    let missing = sipjet_transport::TlsServerConfig::from_pem_files(dir.join("none.pem"), &key)
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("cannot read certificate chain from"),
        "{missing}"
    );
    let not_pem = TlsClientConfig::from_pem(b"hello").unwrap_err().to_string();
    assert_eq!(not_pem, "PEM CA certificates: no CERTIFICATE section found");
    std::fs::remove_dir_all(&dir).unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn system_roots_with_a_private_ca_file() {
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("sipjet-tls-system-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::tls(any_port(), pki.server.clone())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Tls);

    // The private CA's file added to the system's roots: trusted.
    let trusting = TlsClientConfig::with_system_roots(&[&ca]).unwrap();
    let (a, mut a_inbox) = start(client_config(Some(trusting))).await;
    round_trip(
        &a,
        &mut a_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Tls, b_addr),
    )
    .await;

    // The system's roots alone do not know the private CA.
    let no_files: &[&std::path::Path] = &[];
    let system_only = TlsClientConfig::with_system_roots(no_files).unwrap();
    let (a2, _a2_inbox) = start(client_config(Some(system_only))).await;
    let err = a2
        .send(
            &request_from(&a2, Protocol::Tls, "x"),
            &Destination::new(Protocol::Tls, b_addr),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Handshake { .. }), "{err:?}");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // No handshake completed, so nothing was sent to B.
    b_inbox.nothing_delivered();

    // Files that cannot serve are errors that name them.
    let missing = dir.join("none.pem");
    let err = TlsClientConfig::with_system_roots(&[&missing])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "cannot read CA certificates from {}",
            missing.display()
        )),
        "{err}"
    );
    let err = TlsClientConfig::with_system_roots(&[&not_pem])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "cannot read CA certificates from {}: PEM CA certificates: no CERTIFICATE section found",
            not_pem.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
    for t in [a, a2, b] {
        t.shutdown().await;
    }
}

#[tokio::test]
async fn tls_listener_without_certificate_does_not_start() {
    let (_inbox, handler) = Inbox::new();
    let cfg = config(
        vec![ListenerConfig::new(Protocol::Tls, any_port())],
        Limits::default(),
    );
    let err = Transports::start(cfg, handler).await.expect_err("refused");
    assert!(matches!(err, TransportError::MissingTlsServerConfig { .. }));
}

fn ws_request(
    url: &str,
    subprotocol: bool,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    if subprotocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    }
    req
}

async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a WebSocket message within the patience")
            .expect("the WebSocket is open")
            .expect("a WebSocket message");
        if let WsMessage::Text(t) = msg {
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn websocket_end_to_end_with_a_tungstenite_client() {
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::ws(any_port())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Ws);
    let tcp = TcpStream::connect(b_addr).await.unwrap();
    let (mut ws, resp) =
        tokio_tungstenite::client_async(ws_request(&format!("ws://{b_addr}/"), true), tcp)
            .await
            .unwrap();
    assert_eq!(resp.headers().get("Sec-WebSocket-Protocol").unwrap(), "sip");

    // RFC 7118: a Via with a .invalid host; Content-Length may be absent.
    let req = options_with_via(
        "SIP/2.0/WS df7jal23ls0d.invalid;rport;branch=z9hG4bKws1",
        "ws1",
    )
    .replace("Content-Length: 0\r\n", "");
    ws.send(WsMessage::Text(req.into())).await.unwrap();
    let got = b_inbox.next().await;
    assert_eq!(got.flow.protocol, Protocol::Ws);
    assert!(got.flow.connection.is_some());
    let via = got.message.via().unwrap();
    assert_eq!(via.received(), Some(got.flow.remote.ip()));
    let ok = Message::response_to(&got.message, 200).unwrap();
    b.send(&ok, &response_destination(&via, &got.flow))
        .await
        .unwrap();
    let text = next_text(&mut ws).await;
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");

    // The CRLF keep-alive of SIP stacks on WebSocket.
    ws.send(WsMessage::Text(Utf8Bytes::from_static("\r\n\r\n")))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "\r\n");

    // An invalid request is answered on the WebSocket.
    let bad = options_with_via("SIP/2.0/WS h.invalid;branch=z9hG4bKws2", "ws2")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 INFO");
    ws.send(WsMessage::Text(bad.into())).await.unwrap();
    let text = next_text(&mut ws).await;
    assert!(
        text.starts_with("SIP/2.0 400 CSeq method \"INFO\""),
        "{text}"
    );
    // Answered instead of delivered.
    b_inbox.nothing_delivered();
    b.shutdown().await;
}

#[tokio::test]
async fn websocket_handshake_without_sip_subprotocol_is_refused() {
    let (b, _b_inbox) = start(config(
        vec![ListenerConfig::ws(any_port())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Ws);
    let tcp = TcpStream::connect(b_addr).await.unwrap();
    let err = tokio_tungstenite::client_async(ws_request(&format!("ws://{b_addr}/"), false), tcp)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 400),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    b.shutdown().await;
}

/// A listener with allowed origins refuses (403) a page of any other
/// origin, as RFC 6455 §4.2.2 lets a server, while a page of an allowed
/// origin and a client that names no origin (not a browser) connect.
#[tokio::test]
async fn websocket_pages_of_other_origins_are_refused() {
    let mut listener = ListenerConfig::ws(any_port());
    listener.allowed_origins = Some(vec!["https://phone.example.com".into()]);
    let (b, mut b_inbox) = start(config(vec![listener], Limits::default())).await;
    let b_addr = addr_of(&b, Protocol::Ws);
    let connect = |origin: Option<&'static str>| async move {
        let mut req = ws_request(&format!("ws://{b_addr}/"), true);
        if let Some(o) = origin {
            req.headers_mut()
                .insert("Origin", HeaderValue::from_static(o));
        }
        let tcp = TcpStream::connect(b_addr).await.unwrap();
        tokio_tungstenite::client_async(req, tcp).await
    };
    for evil in [
        "https://evil.example",
        "null",
        "https://phone.example.com.evil.example",
    ] {
        match connect(Some(evil)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 403, "{evil}")
            }
            other => panic!("{evil}: expected a 403, got {other:?}"),
        }
    }
    for fine in [
        Some("https://phone.example.com"),
        Some("HTTPS://Phone.Example.com"),
        None,
    ] {
        let (mut ws, _) = connect(fine)
            .await
            .unwrap_or_else(|e| panic!("{fine:?}: {e}"));
        let req = options_with_via(
            "SIP/2.0/WS df7jal23ls0d.invalid;rport;branch=z9hG4bKorg",
            "org1",
        );
        ws.send(WsMessage::Text(req.into())).await.unwrap();
        assert_eq!(b_inbox.next().await.flow.protocol, Protocol::Ws, "{fine:?}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn secure_websocket_end_to_end_with_a_tungstenite_client() {
    let pki = pki();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::wss(any_port(), pki.server.clone())],
        Limits::default(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Wss);
    let tls = tls_client_stream(&pki, b_addr).await;
    let url = format!("wss://localhost:{}/", b_addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(ws_request(&url, true), tls)
        .await
        .unwrap();
    let req = options_with_via("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKwss", "wss1");
    ws.send(WsMessage::Text(req.into())).await.unwrap();
    let got = b_inbox.next().await;
    assert_eq!(got.flow.protocol, Protocol::Wss);
    let ok = Message::response_to(&got.message, 200).unwrap();
    b.send(
        &ok,
        &response_destination(&got.message.via().unwrap(), &got.flow),
    )
    .await
    .unwrap();
    assert!(next_text(&mut ws).await.starts_with("SIP/2.0 200 OK\r\n"));
    b.shutdown().await;
}

#[tokio::test]
async fn websocket_between_two_stacks() {
    let pki = pki();
    let (b, mut b_inbox) = start(config(
        vec![
            ListenerConfig::ws(any_port()),
            ListenerConfig::wss(any_port(), pki.server.clone()),
        ],
        Limits::default(),
    ))
    .await;
    let (a, mut a_inbox) = start(client_config(Some(pki.client.clone()))).await;
    round_trip(
        &a,
        &mut a_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Ws, addr_of(&b, Protocol::Ws)),
    )
    .await;
    round_trip(
        &a,
        &mut a_inbox,
        &b,
        &mut b_inbox,
        Destination::new(Protocol::Wss, addr_of(&b, Protocol::Wss)).with_server_name("localhost"),
    )
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

/// Limits under which only the first-message deadline can close a
/// connection within a test.
fn first_message_limits() -> Limits {
    Limits {
        first_message_timeout: Duration::from_secs(1),
        message_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    }
}

#[tokio::test]
async fn tls_connections_must_deliver_a_message_before_the_first_message_timeout() {
    let pki = pki();
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::tls(any_port(), pki.server.clone())],
        first_message_limits(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Tls);
    // The handshake counts: a peer that never starts it is closed.
    let mut no_handshake = raw_tcp(b_addr).await;
    // A peer that completes the handshake and then says nothing.
    let mut silent = RawStream::new(tls_client_stream(&pki, b_addr).await);
    assert!(no_handshake.closed().await, "closed without a handshake");
    assert!(silent.closed().await, "closed after a silent handshake");
    b_inbox.nothing_delivered();

    // One that sends a message in time is served past the deadline.
    let mut talker = RawStream::new(tls_client_stream(&pki, b_addr).await);
    let me = talker.io.get_ref().0.local_addr().unwrap();
    talker
        .write(options("TLS", me, "tls-first").as_bytes())
        .await;
    assert_eq!(b_inbox.next().await.message.call_id().unwrap(), "tls-first");
    let mut later = RawStream::new(tls_client_stream(&pki, b_addr).await);
    assert!(later.closed().await);
    talker.write(b"\r\n\r\n").await;
    assert_eq!(talker.read_frame().await.as_deref(), Some(&b"\r\n"[..]));
    b.shutdown().await;
}

/// Reads until the server closes the WebSocket (close frame, end or
/// error); false when it stays open for the whole patience.
async fn ws_closed<S>(ws: &mut S) -> bool
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn websocket_connections_must_deliver_a_message_before_the_first_message_timeout() {
    let (b, mut b_inbox) = start(config(
        vec![ListenerConfig::ws(any_port())],
        first_message_limits(),
    ))
    .await;
    let b_addr = addr_of(&b, Protocol::Ws);
    let url = format!("ws://{b_addr}/");
    let (mut talker, _) = tokio_tungstenite::client_async(
        ws_request(&url, true),
        TcpStream::connect(b_addr).await.unwrap(),
    )
    .await
    .unwrap();
    let req = options_with_via("SIP/2.0/WS h.invalid;branch=z9hG4bKwsf", "ws-first");
    talker.send(WsMessage::Text(req.into())).await.unwrap();
    assert_eq!(b_inbox.next().await.message.call_id().unwrap(), "ws-first");
    let (mut silent, _) = tokio_tungstenite::client_async(
        ws_request(&url, true),
        TcpStream::connect(b_addr).await.unwrap(),
    )
    .await
    .unwrap();
    let (mut pinger, _) = tokio_tungstenite::client_async(
        ws_request(&url, true),
        TcpStream::connect(b_addr).await.unwrap(),
    )
    .await
    .unwrap();
    // Neither a handshake alone nor a keep-alive is a message.
    let mut no_handshake = raw_tcp(b_addr).await;
    pinger
        .send(WsMessage::Text(Utf8Bytes::from_static("\r\n\r\n")))
        .await
        .unwrap();
    assert_eq!(next_text(&mut pinger).await, "\r\n");

    assert!(no_handshake.closed().await, "closed without a handshake");
    assert!(ws_closed(&mut silent).await, "silent WebSocket closed");
    assert!(ws_closed(&mut pinger).await, "ping-only WebSocket closed");
    // The talker, accepted first, is past its deadline and still served.
    talker
        .send(WsMessage::Text(Utf8Bytes::from_static("\r\n\r\n")))
        .await
        .unwrap();
    assert_eq!(next_text(&mut talker).await, "\r\n");
    b.shutdown().await;
}
