//! A started stack on loopback and a raw UDP peer to talk to it.

#![allow(dead_code)]

use std::net::SocketAddr;

use sipjet_core::{SipStack, StackConfig};
use sipjet_message::Message;
use sipjet_transport::{ListenerConfig, Protocol, TransportConfig};
use tokio::net::UdpSocket;

pub use sipjet_testkit::PATIENCE;

/// A stack listening on UDP and TCP on 127.0.0.1 (ephemeral ports), not yet
/// started.
pub fn stack() -> SipStack {
    stack_with(|_| {})
}

pub fn stack_with(adjust: impl FnOnce(&mut StackConfig)) -> SipStack {
    let mut config = StackConfig {
        transport: TransportConfig {
            listeners: vec![
                ListenerConfig::new(Protocol::Udp, "127.0.0.1:0".parse().unwrap()),
                ListenerConfig::new(Protocol::Tcp, "127.0.0.1:0".parse().unwrap()),
            ],
            ..TransportConfig::default()
        },
        name_servers: Some(vec![]),
        ..StackConfig::default()
    };
    adjust(&mut config);
    SipStack::new(config)
}

pub fn udp_addr(stack: &SipStack) -> SocketAddr {
    stack.transports().unwrap().sent_by(Protocol::Udp).unwrap()
}

/// A SIP peer on a raw UDP socket.
pub struct Peer {
    pub sock: UdpSocket,
    pub addr: SocketAddr,
    pub server: SocketAddr,
}

impl Peer {
    pub async fn new(server: SocketAddr) -> Peer {
        // Bursts of hundreds of answers overflow the default receive
        // buffer (each datagram costs the kernel far more than its size).
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&std_sock)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        std_sock.set_nonblocking(true).unwrap();
        let sock = UdpSocket::from_std(std_sock).unwrap();
        let addr = sock.local_addr().unwrap();
        Peer { sock, addr, server }
    }

    /// A request from this peer (`extra` are more header lines).
    pub fn request(&self, method: &str, call_id: &str, extra: &str) -> String {
        format!(
            "{method} sip:service@{server} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}-{method};rport\r\n\
From: <sip:alice@{me}>;tag=a-{call_id}\r\n\
To: <sip:service@{server}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 {method}\r\n\
Max-Forwards: 70\r\n\
{extra}Content-Length: 0\r\n\r\n",
            server = self.server,
            me = self.addr,
        )
    }

    pub async fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The next message received.
    pub async fn recv(&self) -> Message {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(PATIENCE, self.sock.recv_from(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        Message::parse(buf[..n].to_vec()).unwrap()
    }

    /// The next final response (provisional ones skipped).
    pub async fn final_response(&self) -> Message {
        loop {
            let m = self.recv().await;
            if m.status().is_some_and(|s| s >= 200) {
                return m;
            }
        }
    }

    /// Sends a request and waits for its final response.
    pub async fn ask(&self, method: &str, call_id: &str, extra: &str) -> Message {
        self.send(&self.request(method, call_id, extra)).await;
        self.final_response().await
    }
}
