//! The driver over real transports on loopback: a request and its
//! response between two stack instances, retransmissions on a lossy
//! peer, and a transport failure surfacing as a transaction failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipjet_message::{Message, Method, generate};
use sipjet_testkit::PATIENCE;
use sipjet_transaction::{Driver, Event, Peer, TimerConfig, TransactionUser};
use sipjet_transport::{Destination, ListenerConfig, Protocol, TransportConfig, Transports};
use tokio::sync::mpsc;

/// Records events; answers every request with 200 when `answer` is set.
struct Recorder {
    events: mpsc::UnboundedSender<Event<Peer>>,
    answer: bool,
}

impl TransactionUser for Recorder {
    fn on_event(&self, driver: &Driver, event: Event<Peer>) {
        let answer = match (&event, self.answer) {
            (Event::Request { id, request, .. }, true) => {
                Some((*id, Message::response_to(request, 200).unwrap()))
            }
            _ => None,
        };
        let _ = self.events.send(event);
        if let Some((id, ok)) = answer {
            driver.respond(id, ok).unwrap();
        }
    }
}

async fn stack(
    protocol: Protocol,
    answer: bool,
) -> (Driver, Transports, mpsc::UnboundedReceiver<Event<Peer>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let timers = TimerConfig::with_t1(Duration::from_millis(50));
    let driver = Driver::new(timers, Arc::new(Recorder { events: tx, answer }));
    let listener = ListenerConfig::new(protocol, "127.0.0.1:0".parse().unwrap());
    let config = TransportConfig {
        listeners: vec![listener],
        ..TransportConfig::default()
    };
    let transports = Transports::start(config, driver.handler()).await.unwrap();
    driver.attach(transports.clone());
    (driver, transports, rx)
}

fn options(from: &Transports, protocol: Protocol, to: std::net::SocketAddr) -> Message {
    let me = from.sent_by(protocol).unwrap();
    let mut m = Message::new_request(Method::Options, &format!("sip:test@{to}")).unwrap();
    m.add_header(
        "Via",
        &format!(
            "SIP/2.0/{} {me};branch={};rport",
            protocol.via_name(),
            generate::branch()
        ),
    )
    .unwrap();
    m.add_header(
        "From",
        &format!("<sip:driver@{me}>;tag={}", generate::tag()),
    )
    .unwrap();
    m.add_header("To", &format!("<sip:test@{to}>")).unwrap();
    m.add_header("Call-ID", &generate::call_id(None)).unwrap();
    m.add_header("CSeq", "1 OPTIONS").unwrap();
    m.add_header("Max-Forwards", "70").unwrap();
    m
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event<Peer>>) -> Event<Peer> {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("an event")
        .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_and_its_response_between_two_stacks() {
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let (server, server_t, mut server_events) = stack(protocol, true).await;
        let (client, client_t, mut client_events) = stack(protocol, false).await;
        let to = server_t.sent_by(protocol).unwrap();
        let id = client
            .send_request(
                options(&client_t, protocol, to),
                Destination::new(protocol, to),
            )
            .unwrap();
        match next(&mut server_events).await {
            Event::Request {
                request, source, ..
            } => {
                assert_eq!(request.method(), Some(&Method::Options));
                assert_eq!(source.flow().unwrap().protocol, protocol);
            }
            other => panic!("{other:?}"),
        }
        match next(&mut client_events).await {
            Event::Response { id: got, response } => {
                assert_eq!(got, id);
                assert_eq!(response.status(), Some(200));
            }
            other => panic!("{other:?}"),
        }
        drop(server);
    }
}

/// A peer that drops the first copies of every request: the client
/// transaction's retransmissions (Timer E) get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_overcome_loss() {
    let (client, client_t, mut events) = stack(Protocol::Udp, false).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer = sock.local_addr().unwrap();
    let copies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = Arc::clone(&copies);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            let count = {
                let mut c = seen.lock().unwrap();
                c.push(buf[..n].to_vec());
                c.len()
            };
            if count < 3 {
                continue;
            }
            let req = Message::parse(buf[..n].to_vec()).unwrap();
            let ok = Message::response_to(&req, 200).unwrap();
            sock.send_to(&ok.to_bytes(), from).await.unwrap();
        }
    });
    let id = client
        .send_request(
            options(&client_t, Protocol::Udp, peer),
            Destination::new(Protocol::Udp, peer),
        )
        .unwrap();
    match next(&mut events).await {
        Event::Response { id: got, response } => {
            assert_eq!((got, response.status()), (id, Some(200)))
        }
        other => panic!("{other:?}"),
    }
    // Only a third copy is answered, so the response shows that the
    // retransmissions went out; more may have left while it was on its
    // way. Each is the request again, byte for byte.
    let copies = copies.lock().unwrap();
    assert!(copies.len() >= 3, "{} copies", copies.len());
    assert!(copies.iter().all(|c| c == &copies[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_the_transaction() {
    let (client, client_t, mut events) = stack(Protocol::Tcp, false).await;
    // A port with no listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let id = client
        .send_request(
            options(&client_t, Protocol::Tcp, closed),
            Destination::new(Protocol::Tcp, closed),
        )
        .unwrap();
    match next(&mut events).await {
        Event::TransportError { id: got } => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut events).await, Event::Terminated { id: got } if got == id));
}
