//! A service written only against sipjet-core's public API: it answers
//! MESSAGE with 200 and logs the body.
//!
//! ```text
//! cargo run -p sipjet-core --example message_service -- 127.0.0.1:5080
//! ```

use std::sync::Arc;

use sipjet_core::{
    Handled, IncomingRequest, ListenerConfig, Method, Protocol, Service, SipStack, StackConfig,
};

/// Answers MESSAGE and hands `from: body` to `log`.
pub struct MessageLogger {
    pub log: fn(&str),
}

impl Service for MessageLogger {
    fn name(&self) -> &str {
        "message-logger"
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() != &Method::Message {
            return Handled::No;
        }
        let from = request.from_user().unwrap_or_default();
        let body = String::from_utf8_lossy(request.message.body());
        (self.log)(&format!("{from}: {}", body.trim_end()));
        let _ = request.reply(200);
        Handled::Yes
    }
}

/// Starts a stack on `addr` (UDP and TCP) with the service.
pub async fn serve(addr: std::net::SocketAddr, service: MessageLogger) -> SipStack {
    let mut config = StackConfig::default();
    config.transport.listeners = vec![
        ListenerConfig::new(Protocol::Udp, addr),
        ListenerConfig::new(Protocol::Tcp, addr),
    ];
    let stack = SipStack::new(config);
    stack
        .register_service(Arc::new(service))
        .expect("the only service");
    stack.start().await.expect("listen");
    stack
}

#[allow(dead_code)] // the test that includes this file has its own main
#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5080".into());
    let _stack = serve(
        addr.parse().expect("an address"),
        MessageLogger {
            log: |line| println!("{line}"),
        },
    )
    .await;
    tokio::signal::ctrl_c().await.expect("wait for ^C");
}
