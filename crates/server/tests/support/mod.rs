//! What the server's flow tests share: a server started on loopback from a
//! pjsip.conf text, a SIP client on a raw UDP socket (bound to any loopback
//! address, so that tests can come from 127.0.0.2 as well as 127.0.0.1) or
//! on a TCP connection, the challenges of a 401 read back, and digest
//! answers computed the way a phone computes them.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sipjet_message::framing::{Frame, FrameLimits, frame};
use sipjet_message::{Message, generate};
use sipjet_server::auth::digest::{DigestAlgorithm, ResponseInput, ha1, response};
use sipjet_server::config::pjsip;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};
use sipjet_transport::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

/// How long a test waits for an answer before it fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server running `conf` (a pjsip.conf text) on loopback, every
/// transport on an ephemeral port; and its UDP address.
pub async fn start(conf: &str) -> (Server, SocketAddr) {
    let report = pjsip::from_str("test.conf", conf);
    assert!(report.is_ok(), "{:?}", report.errors);
    let model = Arc::new(Model::new(report.config));
    let server = Server::start(
        model,
        ServerOptions {
            bind_override: Some("127.0.0.1:0".parse().unwrap()),
            location_db: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let udp = server
        .stack
        .transports()
        .unwrap()
        .sent_by(Protocol::Udp)
        .unwrap();
    (server, udp)
}

/// One out-of-dialog request, kept so that it can be sent again with
/// credentials (same Call-ID, From tag, next CSeq, new branch).
#[derive(Clone, Debug)]
pub struct Request {
    /// `OPTIONS`, `MESSAGE`, ...
    pub method: String,
    /// The Request-URI, also the To URI.
    pub uri: String,
    /// The user part of the From URI.
    pub from_user: String,
    /// Call-ID.
    pub call_id: String,
    /// From tag.
    pub from_tag: String,
    /// Via branch.
    pub branch: String,
    /// CSeq number.
    pub cseq: u32,
    /// More header lines, each without its CRLF.
    pub extra: Vec<String>,
}

impl Request {
    /// A new request (fresh Call-ID, tag and branch, CSeq 1).
    pub fn new(method: &str, uri: &str, from_user: &str) -> Request {
        Request {
            method: method.into(),
            uri: uri.into(),
            from_user: from_user.into(),
            call_id: generate::call_id(None),
            from_tag: generate::tag(),
            branch: generate::branch(),
            cseq: 1,
            extra: Vec::new(),
        }
    }

    /// The same request sent again as a new transaction: new branch, next
    /// CSeq, no extra headers.
    pub fn next(&self) -> Request {
        Request {
            branch: generate::branch(),
            cseq: self.cseq + 1,
            extra: Vec::new(),
            ..self.clone()
        }
    }

    /// The request with one more header line.
    pub fn with(mut self, line: impl Into<String>) -> Request {
        self.extra.push(line.into());
        self
    }

    /// The wire form, as sent from `me` over UDP.
    pub fn text(&self, me: SocketAddr) -> String {
        self.text_over(me, Protocol::Udp)
    }

    /// The wire form, as sent from `me` over `protocol`.
    pub fn text_over(&self, me: SocketAddr, protocol: Protocol) -> String {
        let mut extra = String::new();
        for line in &self.extra {
            extra.push_str(line);
            extra.push_str("\r\n");
        }
        format!(
            "{method} {uri} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {me};branch={branch};rport\r\n\
From: <sip:{from}@{host}>;tag={tag}\r\n\
To: <{uri}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Max-Forwards: 70\r\n\
{extra}Content-Length: 0\r\n\r\n",
            method = self.method,
            transport = protocol.via_name(),
            uri = self.uri,
            branch = self.branch,
            from = self.from_user,
            host = me.ip(),
            tag = self.from_tag,
            call_id = self.call_id,
            cseq = self.cseq,
        )
    }
}

/// A SIP client on a raw UDP socket or a TCP connection.
pub struct Client {
    link: Link,
    /// Its own address.
    pub addr: SocketAddr,
    /// The server's address (UDP or TCP, as the client is).
    pub server: SocketAddr,
}

enum Link {
    Udp(UdpSocket),
    /// The connection and what was read of it but not yet framed.
    Tcp(Mutex<(TcpStream, Vec<u8>)>),
}

impl Client {
    /// A client on 127.0.0.1.
    pub async fn new(server: SocketAddr) -> Client {
        Client::on("127.0.0.1", server).await
    }

    /// A client on loopback address `ip` (any 127.x.y.z on Linux).
    ///
    /// These tests send one request at a time and wait for its answer, so
    /// the default receive buffer is ample.
    pub async fn on(ip: &str, server: SocketAddr) -> Client {
        let sock = UdpSocket::bind((ip, 0)).await.unwrap();
        let addr = sock.local_addr().unwrap();
        Client {
            link: Link::Udp(sock),
            addr,
            server,
        }
    }

    /// A client on a TCP connection to the server's TCP address.
    pub async fn tcp(server: SocketAddr) -> Client {
        let stream = TcpStream::connect(server).await.unwrap();
        let addr = stream.local_addr().unwrap();
        Client {
            link: Link::Tcp(Mutex::new((stream, Vec::new()))),
            addr,
            server,
        }
    }

    /// The transport the client speaks.
    pub fn protocol(&self) -> Protocol {
        match self.link {
            Link::Udp(_) => Protocol::Udp,
            Link::Tcp(_) => Protocol::Tcp,
        }
    }

    /// `sip:user@server`, or `sip:server` for the server itself.
    pub fn uri(&self, user: Option<&str>) -> String {
        match user {
            Some(u) => format!("sip:{u}@{}", self.server),
            None => format!("sip:{}", self.server),
        }
    }

    /// Sends `request` and waits for its final response.
    pub async fn ask(&self, request: &Request) -> Message {
        self.send_text(&request.text_over(self.addr, self.protocol()))
            .await;
        self.final_response().await
    }

    /// Sends raw text.
    pub async fn send_text(&self, text: &str) {
        match &self.link {
            Link::Udp(sock) => {
                sock.send_to(text.as_bytes(), self.server).await.unwrap();
            }
            Link::Tcp(tcp) => tcp.lock().await.0.write_all(text.as_bytes()).await.unwrap(),
        }
    }

    /// The next message received, whatever it is.
    pub async fn receive(&self) -> Message {
        tokio::time::timeout(PATIENCE, self.next_message())
            .await
            .expect("a message in time")
    }

    async fn next_message(&self) -> Message {
        match &self.link {
            Link::Udp(sock) => {
                let mut buf = vec![0u8; 65_536];
                let (n, _) = sock.recv_from(&mut buf).await.unwrap();
                Message::parse(buf[..n].to_vec()).unwrap()
            }
            Link::Tcp(tcp) => {
                let mut tcp = tcp.lock().await;
                let (stream, pending) = &mut *tcp;
                loop {
                    match frame(pending, &FrameLimits::default()).unwrap() {
                        Frame::Message { len, .. } => {
                            let bytes: Vec<u8> = pending.drain(..len).collect();
                            return Message::parse(bytes).unwrap();
                        }
                        Frame::Ping(n) | Frame::Pong(n) => {
                            pending.drain(..n);
                        }
                        Frame::NeedMore => {
                            let mut chunk = [0u8; 4096];
                            let n = stream.read(&mut chunk).await.unwrap();
                            assert!(n > 0, "the server closed the connection");
                            pending.extend_from_slice(&chunk[..n]);
                        }
                    }
                }
            }
        }
    }

    /// The next final response (provisional ones skipped).
    pub async fn final_response(&self) -> Message {
        loop {
            let m = self.receive().await;
            if m.status().is_some_and(|s| s >= 200) {
                return m;
            }
        }
    }

    /// Sends `request` without credentials, expects a 401 and returns its
    /// challenges.
    pub async fn challenged(&self, request: &Request) -> Vec<Offer> {
        let r = self.ask(request).await;
        assert_eq!(r.status(), Some(401), "{r:?}");
        offers(&r)
    }
}

/// One WWW-Authenticate of a 401, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`.
    pub opaque: Option<String>,
    /// `algorithm` (MD5 when absent).
    pub algorithm: DigestAlgorithm,
    /// `algorithm` as written, when present.
    pub algorithm_name: Option<String>,
    /// `qop`.
    pub qop: Option<String>,
    /// `stale`.
    pub stale: Option<String>,
}

/// The Digest challenges of a response, in order.
pub fn offers(response: &Message) -> Vec<Offer> {
    response
        .www_authenticates()
        .map(|c| {
            let c = c.unwrap();
            assert!(c.is_digest(), "{c:?}");
            let p = |n: &str| c.param(n).map(|v| v.into_owned());
            Offer {
                realm: p("realm").expect("realm"),
                nonce: p("nonce").expect("nonce"),
                opaque: p("opaque"),
                algorithm: p("algorithm")
                    .map(|a| DigestAlgorithm::parse(&a).unwrap())
                    .unwrap_or(DigestAlgorithm::Md5),
                algorithm_name: p("algorithm"),
                qop: p("qop"),
                stale: p("stale"),
            }
        })
        .collect()
}

/// The offer of one algorithm.
pub fn offer_of(offers: &[Offer], alg: DigestAlgorithm) -> &Offer {
    offers
        .iter()
        .find(|o| o.algorithm == alg)
        .unwrap_or_else(|| panic!("no {alg:?} challenge in {offers:?}"))
}

/// Digest credentials a client sends, computed from a password.
#[derive(Clone, Debug)]
pub struct Digest {
    /// `username`.
    pub username: String,
    /// The password the client knows.
    pub password: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed.
    pub opaque: Option<String>,
    /// The algorithm the answer is computed in (and named in).
    pub algorithm: DigestAlgorithm,
    /// The request method.
    pub method: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `Some(nc)`: `qop=auth` with this nonce-count; `None`: the RFC 2069
    /// form without qop, nc and cnonce.
    pub nc: Option<u32>,
    /// `cnonce` (with qop).
    pub cnonce: String,
}

impl Digest {
    /// The answer to `offer` for `request`, with `qop=auth` and `nc=1`.
    pub fn answer(offer: &Offer, username: &str, password: &str, request: &Request) -> Digest {
        Digest {
            username: username.into(),
            password: password.into(),
            realm: offer.realm.clone(),
            nonce: offer.nonce.clone(),
            opaque: offer.opaque.clone(),
            algorithm: offer.algorithm,
            method: request.method.clone(),
            uri: request.uri.clone(),
            nc: Some(1),
            cnonce: generate::tag(),
        }
    }

    /// `response=`.
    pub fn response(&self) -> String {
        let nc = self.nc.map(|n| format!("{n:08x}"));
        let h = ha1(self.algorithm, &self.username, &self.realm, &self.password);
        response(
            self.algorithm,
            &h,
            &ResponseInput {
                nonce: &self.nonce,
                nc: nc.as_deref(),
                cnonce: nc.as_ref().map(|_| self.cnonce.as_str()),
                qop: nc.as_ref().map(|_| "auth"),
                method: &self.method,
                uri: &self.uri,
            },
        )
    }

    /// The `Authorization:` header line.
    pub fn header(&self) -> String {
        let mut v = format!(
            "Authorization: Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.response(),
            self.algorithm.as_str(),
        );
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        if let Some(nc) = self.nc {
            v.push_str(&format!(
                ", qop=auth, nc={nc:08x}, cnonce=\"{}\"",
                self.cnonce
            ));
        }
        v
    }
}

/// The form of a random value: each hexadecimal digit becomes `h`, other
/// characters stay. Two values of the same form differ only in digits.
pub fn form(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_ascii_hexdigit() { 'h' } else { c })
        .collect()
}

/// The To tag of a response.
pub fn to_tag(response: &Message) -> Option<String> {
    response
        .to_header()
        .ok()
        .and_then(|t| t.tag().map(str::to_string))
}
