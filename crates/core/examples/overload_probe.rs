//! A deliberately slow server (1 ms of work per request on one pool
//! thread, so about 1,000 requests/s) for measuring how the overload
//! policies protect it: run it, offer more than it can take with SIPp, and
//! compare what gets served and what it costs.
//!
//! ```text
//! cargo run --release -p sipjet-core --example overload_probe -- 127.0.0.1:5090 answer|drop
//! ```

use std::sync::Arc;
use std::time::Duration;

use sipjet_core::{
    Handled, IncomingRequest, OverloadConfig, PoolConfig, Service, SipStack, StackConfig,
    UdpOverloadAction,
};
use sipjet_transport::{ListenerConfig, Protocol};

struct Slow;

impl Service for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        std::thread::sleep(Duration::from_millis(1));
        let _ = request.reply(200);
        Handled::Yes
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:5090".into())
        .parse()
        .expect("an address");
    let udp = match args.next().as_deref() {
        Some("drop") => UdpOverloadAction::Drop,
        _ => UdpOverloadAction::Answer,
    };
    let mut config = StackConfig::default();
    config.transport.listeners = vec![ListenerConfig::new(Protocol::Udp, addr)];
    config.pool = PoolConfig {
        initial_size: 1,
        auto_increment: 1,
        idle_timeout: Duration::from_secs(60),
        max_size: 1,
    };
    config.overload = OverloadConfig {
        udp,
        ..OverloadConfig::default()
    };
    let stack = SipStack::new(config);
    stack.register_service(Arc::new(Slow)).expect("one service");
    stack.start().await.expect("listen");
    eprintln!("slow server on {addr}, UDP overload policy {udp:?}");
    if std::env::var_os("PROBE_STATS").is_some() {
        let s2 = stack.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                eprintln!(
                    "{:?} transactions={} refused={}",
                    s2.pool().stats(),
                    s2.transaction_count(),
                    s2.refused_requests()
                );
            }
        });
    }
    tokio::signal::ctrl_c().await.expect("wait");
}
