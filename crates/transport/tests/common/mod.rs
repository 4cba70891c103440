//! What the flow tests share: a handler that collects messages, SIP
//! messages to send, raw clients, and certificates.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sipjet_message::Message;
use sipjet_message::framing::{self, Frame, FrameLimits};
use sipjet_transport::{
    Incoming, Limits, ListenerConfig, TlsClientConfig, TlsServerConfig, TransportConfig, Transports,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long a test waits for something that should happen; reaching it
/// fails the test rather than hanging it.
pub use sipjet_testkit::PATIENCE;

/// A handler that forwards every message to a channel.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Incoming>,
}

impl Inbox {
    pub fn new() -> (Inbox, Arc<dyn sipjet_transport::Handler>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = Arc::new(move |m: Incoming| {
            let _ = tx.send(m);
        });
        (Inbox { rx }, handler)
    }

    pub async fn next(&mut self) -> Incoming {
        tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .expect("a message within the patience")
            .expect("the handler is alive")
    }

    /// Asserts that nothing has been delivered. It looks without waiting,
    /// so call it once something shows that the transports are done with
    /// what they could have delivered: the connection it would have come
    /// on is closed, or answered the attack, or a message sent after it
    /// on the same path has arrived, or the transports are shut down.
    pub fn nothing_delivered(&mut self) {
        if let Ok(m) = self.rx.try_recv() {
            panic!("unexpected message: {:?}", m.message);
        }
    }
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub fn any_port() -> SocketAddr {
    loopback(0)
}

pub fn config(listeners: Vec<ListenerConfig>, limits: Limits) -> TransportConfig {
    TransportConfig {
        listeners,
        limits,
        ..TransportConfig::default()
    }
}

pub async fn start(config: TransportConfig) -> (Transports, Inbox) {
    let (inbox, handler) = Inbox::new();
    let t = Transports::start(config, handler)
        .await
        .expect("transports start");
    (t, inbox)
}

/// The bound address of the first listener of this protocol.
pub fn addr_of(t: &Transports, protocol: sipjet_transport::Protocol) -> SocketAddr {
    t.local_addrs()
        .into_iter()
        .find(|(p, _)| *p == protocol)
        .map(|(_, a)| a)
        .expect("a listener of the protocol")
}

/// An OPTIONS request with the given top Via.
pub fn options_with_via(via: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:service@example.com SIP/2.0\r\n\
Via: {via}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:service@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// An OPTIONS request sent from `from` over `transport`.
pub fn options(transport: &str, from: SocketAddr, call_id: &str) -> String {
    options_with_via(
        &format!("SIP/2.0/{transport} {from};branch=z9hG4bK{call_id}"),
        call_id,
    )
}

/// A MESSAGE request with a body.
pub fn message_with_body(transport: &str, from: SocketAddr, call_id: &str, body: &str) -> String {
    format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/{transport} {from};branch=z9hG4bK{call_id}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 MESSAGE\r\n\
Content-Type: text/plain\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub fn parse(text: &str) -> Message {
    Message::parse(Bytes::from(text.to_string())).expect("test message parses")
}

/// A raw TCP (or TLS) SIP peer that frames what it reads.
pub struct RawStream<S> {
    pub io: S,
    buf: BytesMut,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> RawStream<S> {
    pub fn new(io: S) -> RawStream<S> {
        RawStream {
            io,
            buf: BytesMut::new(),
        }
    }

    pub async fn write(&mut self, data: &[u8]) {
        self.io.write_all(data).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// The next frame: a message, or `None` at end of stream. Keep-alive
    /// pongs are returned as the message `"\r\n"`.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match framing::frame(&self.buf, &FrameLimits::default()).expect("server frames") {
                    Frame::Message { len, .. } => return Some(self.buf.split_to(len).freeze()),
                    Frame::Pong(n) | Frame::Ping(n) => return Some(self.buf.split_to(n).freeze()),
                    Frame::NeedMore => {}
                }
                match self.io.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("a frame or the end within the patience")
    }

    pub async fn read_message(&mut self) -> Message {
        let frame = self.read_frame().await.expect("a message before the end");
        Message::parse(frame).expect("the server sends valid messages")
    }

    /// Waits for the server to close: end of stream or reset, with no
    /// bytes before it.
    pub async fn closed(&mut self) -> bool {
        tokio::time::timeout(PATIENCE, async {
            let mut scratch = [0u8; 1024];
            loop {
                match self.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

pub async fn raw_tcp(to: SocketAddr) -> RawStream<TcpStream> {
    RawStream::new(TcpStream::connect(to).await.expect("connect"))
}

/// A TCP connection from a chosen local address (any of 127.0.0.0/8, or
/// ::1).
pub async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let ip: std::net::IpAddr = source.parse().expect("an IP address");
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4().unwrap()
    } else {
        tokio::net::TcpSocket::new_v6().unwrap()
    };
    socket.bind(SocketAddr::new(ip, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// True when the server serves the connection (answers a ping), false
/// when it closed it.
pub async fn served(stream: TcpStream) -> (bool, RawStream<TcpStream>) {
    let mut c = RawStream::new(stream);
    c.write(b"\r\n\r\n").await;
    let ok = c.read_frame().await.as_deref() == Some(&b"\r\n"[..]);
    (ok, c)
}

/// A CA and a leaf certificate for localhost, 127.0.0.1 and ::1, made
/// fresh for each test.
pub struct Pki {
    pub ca_pem: String,
    pub server: TlsServerConfig,
    pub client: TlsClientConfig,
    pub leaf_pem: String,
    pub key_pem: String,
}

pub fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sipjet test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf certificate");

    let ca_pem = ca.pem();
    let leaf_pem = leaf.pem();
    let key_pem = leaf_key.serialize_pem();
    Pki {
        server: TlsServerConfig::from_pem(leaf_pem.as_bytes(), key_pem.as_bytes())
            .expect("server TLS config"),
        client: TlsClientConfig::from_pem(ca_pem.as_bytes()).expect("client TLS config"),
        ca_pem,
        leaf_pem,
        key_pem,
    }
}
