//! What the server's flow tests share: a server started on loopback from a
//! pjsip.conf text; a SIP client on a raw UDP socket (bound to any loopback
//! address, so that tests can come from 127.0.0.2 as well as 127.0.0.1)
//! and one on any transport ([`Wire`]); the challenges of a 401 read back,
//! and digest answers computed the way a phone computes them; scratch
//! folders; views of the location store and of REGISTER answers; and, in
//! [`sipp`], SIPp agents whose every message is logged and read back.
//!
//! Every wait is bounded by the testkit's one patience, which only a
//! failing test spends.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod kamailio;
pub mod postgres;
pub mod sipp;
pub mod sipp_log;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use sipjet_core::message::{Contact, generate};
use sipjet_core::{Message, Protocol};
use sipjet_server::config::pjsip;
use sipjet_server::digest::{DigestAlgorithm, ResponseInput, ha1, response};
use sipjet_server::location::Binding;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};
use sipjet_testkit::{PATIENCE, within_patience};
use tokio::net::UdpSocket;

/// A server running `conf` (a pjsip.conf text) in this process, every
/// transport on an ephemeral port of 127.0.0.1, bindings in memory; and
/// its UDP address.
pub async fn start(conf: &str) -> (Server, SocketAddr) {
    start_with(conf, ServerOptions::default()).await
}

/// [`start`] with `options` (but the bind address).
pub async fn start_with(conf: &str, options: ServerOptions) -> (Server, SocketAddr) {
    let report = pjsip::from_str("test.conf", conf);
    assert!(report.is_ok(), "{:?}", report.errors);
    let server = Server::start(
        Arc::new(Model::new(report.config)),
        ServerOptions {
            bind_override: Some("127.0.0.1:0".parse().unwrap()),
            ..options
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

/// A folder of its own under the system's temporary folder, removed when
/// dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new, empty folder whose name starts with `label`.
    pub fn new(label: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "sipjet-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A file of the folder, written with `text`.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The Contacts of a REGISTER answer: each URI with its `expires`, sorted
/// by URI.
pub fn listed_contacts(response: &Message) -> Vec<(String, Option<u32>)> {
    let mut out: Vec<(String, Option<u32>)> = response
        .contacts()
        .map(|c| {
            let c =
                c.unwrap_or_else(|e| panic!("a Contact that does not parse ({e}): {response:?}"));
            let Contact::Addr(addr) = c else {
                panic!("Contact: * in an answer: {response:?}");
            };
            (addr.uri_str().to_string(), c.expires())
        })
        .collect();
    out.sort();
    out
}

/// The bindings the server keeps for `aor`, sorted by contact.
pub fn bindings(server: &Server, aor: &str) -> Vec<Binding> {
    let mut b = server.location.bindings(aor, SystemTime::now());
    b.sort_by(|x, y| x.contact.cmp(&y.contact));
    b
}

/// The contacts of [`bindings`].
pub fn bound_contacts(server: &Server, aor: &str) -> Vec<String> {
    bindings(server, aor)
        .into_iter()
        .map(|b| b.contact)
        .collect()
}

/// Seconds from now until `binding` expires (rounded down).
pub fn seconds_left(binding: &Binding) -> u64 {
    binding
        .expires_at
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs())
}

/// Waits until `aor` has `count` bindings; false if it does not within
/// the patience (the caller says what went wrong).
pub async fn wait_for_bindings(server: &Server, aor: &str, count: usize) -> bool {
    within_patience(|| {
        (server.location.bindings(aor, SystemTime::now()).len() == count).then_some(())
    })
    .await
    .is_some()
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
    /// A To tag, claiming a dialog.
    pub to_tag: Option<String>,
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
            to_tag: None,
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

    /// The request with a To tag.
    pub fn tagged(mut self, tag: &str) -> Request {
        self.to_tag = Some(tag.into());
        self
    }

    /// The request with one more header line.
    pub fn with(mut self, line: impl Into<String>) -> Request {
        self.extra.push(line.into());
        self
    }

    /// The wire form, as sent from `me` over UDP.
    pub fn text(&self, me: SocketAddr) -> String {
        self.text_over("UDP", me)
    }

    /// The wire form, as sent from `me` over the transport named
    /// `transport` in the Via.
    pub fn text_over(&self, transport: &str, me: SocketAddr) -> String {
        let mut extra = String::new();
        for line in &self.extra {
            extra.push_str(line);
            extra.push_str("\r\n");
        }
        format!(
            "{method} {uri} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {me};branch={branch};rport\r\n\
From: <sip:{from}@{host}>;tag={tag}\r\n\
To: <{uri}>{to_tag}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Max-Forwards: 70\r\n\
{extra}Content-Length: 0\r\n\r\n",
            method = self.method,
            uri = self.uri,
            branch = self.branch,
            from = self.from_user,
            host = me.ip(),
            tag = self.from_tag,
            call_id = self.call_id,
            cseq = self.cseq,
            to_tag = self
                .to_tag
                .as_ref()
                .map(|t| format!(";tag={t}"))
                .unwrap_or_default(),
        )
    }
}

/// A SIP client on a raw UDP socket.
pub struct Client {
    sock: UdpSocket,
    /// Its own address.
    pub addr: SocketAddr,
    /// The server's UDP address.
    pub server: SocketAddr,
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
        Client { sock, addr, server }
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
        self.send_text(&request.text(self.addr)).await;
        self.final_response().await
    }

    /// Sends raw text.
    pub async fn send_text(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The next final response (provisional ones skipped).
    pub async fn final_response(&self) -> Message {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = tokio::time::timeout(PATIENCE, self.sock.recv_from(&mut buf))
                .await
                .expect("an answer in time")
                .unwrap();
            let m = Message::parse(buf[..n].to_vec()).unwrap();
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

/// The transports a [`Wire`] client can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A UDP socket.
    Udp,
    /// One TCP connection, messages framed by Content-Length.
    Tcp,
    /// One WebSocket connection (RFC 7118), one message per text frame.
    Ws,
}

impl Transport {
    /// Every transport, for tests that try each.
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Ws];

    /// The name in a Via header.
    pub fn via_name(self) -> &'static str {
        self.protocol().via_name()
    }

    fn protocol(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
            Transport::Ws => Protocol::Ws,
        }
    }
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

enum Link {
    Udp(UdpSocket),
    Tcp(tokio::net::TcpStream, Vec<u8>),
    Ws(Box<WsStream>),
}

/// A SIP client on any transport, from any loopback address: what an
/// attacker (or a phone) on the network can send.
pub struct Wire {
    link: Link,
    /// The transport it speaks.
    pub transport: Transport,
    /// Its own address.
    pub addr: SocketAddr,
    /// The server's address on that transport.
    pub server: SocketAddr,
}

impl Wire {
    /// A client of `server` over `transport`, from loopback address `ip`.
    pub async fn connect(transport: Transport, ip: &str, server: &Server) -> Wire {
        let server_addr = server
            .stack
            .transports()
            .unwrap()
            .sent_by(transport.protocol())
            .unwrap_or_else(|| panic!("the server listens on {transport:?}"));
        Wire::connect_to(transport, ip, server_addr).await
    }

    /// A client of the server at `server_addr` (one in another process)
    /// over `transport`, from loopback address `ip`.
    pub async fn connect_to(transport: Transport, ip: &str, server_addr: SocketAddr) -> Wire {
        let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
        let (link, addr) = match transport {
            Transport::Udp => {
                let sock = UdpSocket::bind(bind).await.unwrap();
                let addr = sock.local_addr().unwrap();
                (Link::Udp(sock), addr)
            }
            Transport::Tcp | Transport::Ws => {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind(bind).unwrap();
                let tcp = sock.connect(server_addr).await.unwrap();
                let addr = tcp.local_addr().unwrap();
                if transport == Transport::Tcp {
                    (Link::Tcp(tcp, Vec::new()), addr)
                } else {
                    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                    let mut req = format!("ws://{server_addr}/")
                        .into_client_request()
                        .unwrap();
                    req.headers_mut()
                        .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
                    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
                    (Link::Ws(Box::new(ws)), addr)
                }
            }
        };
        Wire {
            link,
            transport,
            addr,
            server: server_addr,
        }
    }

    /// `sip:user@server`, or `sip:server` for the server itself.
    pub fn uri(&self, user: Option<&str>) -> String {
        match user {
            Some(u) => format!("sip:{u}@{}", self.server),
            None => format!("sip:{}", self.server),
        }
    }

    /// The wire form of `request` from this client.
    pub fn text(&self, request: &Request) -> String {
        request.text_over(self.transport.via_name(), self.addr)
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        use tokio::io::AsyncWriteExt;
        match &mut self.link {
            Link::Udp(sock) => {
                sock.send_to(text.as_bytes(), self.server).await.unwrap();
            }
            Link::Tcp(tcp, _) => tcp.write_all(text.as_bytes()).await.unwrap(),
            Link::Ws(ws) => ws
                .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
                .await
                .unwrap(),
        }
    }

    /// Sends raw text over UDP to `to` rather than to the server: a
    /// response to a request that came from elsewhere (another node).
    pub async fn send_text_to(&mut self, text: &str, to: SocketAddr) {
        match &mut self.link {
            Link::Udp(sock) => {
                sock.send_to(text.as_bytes(), to).await.unwrap();
            }
            _ => panic!("only a UDP wire sends elsewhere than to its server"),
        }
    }

    /// Sends `request` and waits for its final response.
    pub async fn ask(&mut self, request: &Request) -> Message {
        let text = self.text(request);
        self.send_text(&text).await;
        self.final_response().await
    }

    /// The next message received, within the patience.
    pub async fn next_message(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.receive())
            .await
            .expect("a message in time")
    }

    async fn receive(&mut self) -> Message {
        use futures_util::StreamExt;
        use sipjet_core::message::framing::{self, Frame, FrameLimits};
        use tokio::io::AsyncReadExt;
        match &mut self.link {
            Link::Udp(sock) => {
                let mut buf = vec![0u8; 65_536];
                let (n, _) = sock.recv_from(&mut buf).await.unwrap();
                Message::parse(buf[..n].to_vec()).unwrap()
            }
            Link::Tcp(tcp, pending) => loop {
                let limits = FrameLimits::default();
                match framing::frame(pending, &limits).unwrap() {
                    Frame::Message { len, .. } => {
                        let rest = pending.split_off(len);
                        let whole = std::mem::replace(pending, rest);
                        return Message::parse(whole).unwrap();
                    }
                    Frame::Ping(n) | Frame::Pong(n) => {
                        pending.drain(..n);
                    }
                    Frame::NeedMore => {
                        let mut buf = [0u8; 4096];
                        let n = tcp.read(&mut buf).await.unwrap();
                        assert!(n > 0, "the server closed the connection");
                        pending.extend_from_slice(&buf[..n]);
                    }
                }
            },
            Link::Ws(ws) => loop {
                let frame = ws
                    .next()
                    .await
                    .expect("the WebSocket is open")
                    .expect("a WebSocket frame");
                if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
                    return Message::parse(t.as_bytes().to_vec()).unwrap();
                }
            },
        }
    }

    /// The next final response (provisional ones skipped).
    pub async fn final_response(&mut self) -> Message {
        loop {
            let m = self.next_message().await;
            if m.status().is_some_and(|s| s >= 200) {
                return m;
            }
        }
    }

    /// The next request received (responses skipped).
    pub async fn next_request(&mut self) -> Message {
        loop {
            let m = self.next_message().await;
            if m.is_request() {
                return m;
            }
        }
    }

    /// Answers a received request with `code` (To tag added for a final
    /// answer).
    pub async fn answer(&mut self, request: &Message, code: u16) {
        let mut r = Message::response_to(request, code).unwrap();
        if code >= 200 && to_tag(&r).is_none() {
            r = Message::response_to_with(request, code, None, Some(&generate::tag())).unwrap();
        }
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        self.send_text(&text).await;
    }

    /// Sends `request` without credentials, expects a 401 and returns its
    /// challenges.
    pub async fn challenged(&mut self, request: &Request) -> Vec<Offer> {
        let r = self.ask(request).await;
        assert_eq!(r.status(), Some(401), "{r:?}");
        offers(&r)
    }

    /// Sends `request`, answers the 401 with `user`'s credentials, and
    /// returns the final response to the authorised request (the one sent
    /// with credentials is returned too).
    pub async fn ask_as(
        &mut self,
        request: &Request,
        user: &str,
        password: &str,
    ) -> (Message, Request) {
        let first = self.ask(request).await;
        assert_eq!(first.status(), Some(401), "{first:?}");
        let offer = offers(&first).remove(0);
        let mut next = request.next();
        next.extra = request.extra.clone();
        let digest = Digest::answer(&offer, user, password, &next);
        let next = next.with(digest.header());
        (self.ask(&next).await, next)
    }
}
