//! What unauthenticated INVITEs cost the server and whom its answers
//! reach: sends INVITEs from 127.0.0.77 whose Via names another address
//! (`maddr=127.0.0.99`, the sender's port), then for 40 s (longer than Timer H) counts the
//! bytes that come back to the sender and to the named address, and the
//! live transactions the server holds.
//!
//! ```sh
//! cargo run --release -p sipjet --example invite_flood -- 2000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use sipjet_core::Protocol;
use sipjet_server::config::pjsip;
use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};
use tokio::net::UdpSocket;

/// How long answers are counted after the last INVITE.
const WATCH: Duration = Duration::from_secs(40);

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let report = pjsip::from_str("<built-in>", DEFAULT_CONFIG);
    let server = Server::start(
        Arc::new(Model::new(report.config)),
        ServerOptions {
            bind_override: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("the server starts");
    let target = server
        .stack
        .transports()
        .unwrap()
        .sent_by(Protocol::Udp)
        .unwrap();
    let sender = Arc::new(UdpSocket::bind("127.0.0.77:0").await.unwrap());
    let me = sender.local_addr().unwrap();
    // The address the Via names: maddr's host, sent-by's port.
    let victim = Arc::new(UdpSocket::bind(("127.0.0.99", me.port())).await.unwrap());
    let counter = |sock: Arc<UdpSocket>| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            let (mut bytes, mut datagrams) = (0usize, 0usize);
            let end = Instant::now() + WATCH + Duration::from_secs(5);
            while let Ok(Ok((n, _))) =
                tokio::time::timeout_at(end.into(), sock.recv_from(&mut buf)).await
            {
                bytes += n;
                datagrams += 1;
            }
            (bytes, datagrams)
        })
    };
    let to_sender = counter(Arc::clone(&sender));
    let to_victim = counter(Arc::clone(&victim));
    let mut sent = 0usize;
    for i in 0..count {
        let invite = format!(
            "INVITE sip:bob@{target} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch=z9hG4bKflood{i};maddr=127.0.0.99\r\n\
From: <sip:user{i}@{ip}>;tag=f{i}\r\n\
To: <sip:bob@{target}>\r\n\
Call-ID: flood-{i}@{ip}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:user{i}@{me}>\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
            ip = me.ip(),
        );
        sent += sender.send_to(invite.as_bytes(), target).await.unwrap();
    }
    let started = Instant::now();
    let mut peak = 0usize;
    while started.elapsed() < WATCH {
        peak = peak.max(server.stack.transaction_count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (back, back_n) = to_sender.await.unwrap();
    let (reflected, reflected_n) = to_victim.await.unwrap();
    println!("INVITEs sent:                 {count} ({sent} bytes)");
    println!("peak live transactions:       {peak}");
    println!(
        "live transactions after {}s:  {}",
        WATCH.as_secs(),
        server.stack.transaction_count()
    );
    println!("to the sender (127.0.0.77):   {back} bytes in {back_n} datagrams");
    println!("to the maddr (127.0.0.99):    {reflected} bytes in {reflected_n} datagrams");
    println!(
        "bytes out per byte in:        {:.2}",
        (back + reflected) as f64 / sent as f64
    );
}
