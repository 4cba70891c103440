//! A stateful OPTIONS responder on the transaction layer, for load tests:
//! every request gets a server transaction and a 200.
//!
//! ```text
//! cargo run --release -p sipjet-transaction --example options_responder -- 127.0.0.1:5070
//! ```

use std::sync::Arc;

use sipjet_message::Message;
use sipjet_transaction::{Driver, Event, Peer, TimerConfig, TransactionUser};
use sipjet_transport::{ListenerConfig, Protocol, TransportConfig, Transports};

struct Answer;

impl TransactionUser for Answer {
    fn on_event(&self, driver: &Driver, event: Event<Peer>) {
        if let Event::Request { id, request, .. } = event
            && let Ok(ok) = Message::response_to(&request, 200)
        {
            let _ = driver.respond(id, ok);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5070".into());
    let addr = addr.parse().expect("an address such as 127.0.0.1:5070");
    let driver = Driver::new(TimerConfig::default(), Arc::new(Answer));
    let config = TransportConfig {
        listeners: vec![
            ListenerConfig::new(Protocol::Udp, addr),
            ListenerConfig::new(Protocol::Tcp, addr),
        ],
        ..TransportConfig::default()
    };
    let transports = Transports::start(config, driver.handler())
        .await
        .expect("listen");
    driver.attach(transports);
    eprintln!("answering OPTIONS on {addr} (UDP and TCP)");
    tokio::signal::ctrl_c().await.expect("wait for ^C");
}
