//! Qualify: contacts with a qualify_frequency get OPTIONS and their status
//! is kept: reachable with a round-trip time when they answer,
//! unreachable when they do not.

use std::sync::Arc;

use sipjet_core::Message;
use sipjet_server::config::pjsip;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};
use sipjet_testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_qualified() {
    // A peer that answers OPTIONS, and an address where nobody does.
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let answering = peer.local_addr().unwrap();
    let silent_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = silent_sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = peer.recv_from(&mut buf).await.unwrap();
            if let Ok(req) = Message::parse(buf[..n].to_vec()) {
                let ok = Message::response_to(&req, 200).unwrap();
                peer.send_to(&ok.to_bytes(), from).await.unwrap();
            }
        }
    });
    let text = format!(
        "[t]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:0\n\
[up]\ntype=aor\ncontact=sip:up@{answering}\nqualify_frequency=1\n\
[down]\ntype=aor\ncontact=sip:down@{silent}\nqualify_frequency=1\nqualify_timeout=0.3\n"
    );
    let report = pjsip::from_str("qualify.conf", &text);
    assert!(report.is_ok(), "{:?}", report.errors);
    let server = Server::start(
        Arc::new(Model::new(report.config)),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let up = format!("sip:up@{answering}");
    let down = format!("sip:down@{silent}");
    let (up_status, down_status) = eventually("both contacts to be checked", || {
        Some((
            server.contact_status.get("up", &up)?,
            server.contact_status.get("down", &down)?,
        ))
    })
    .await;
    assert!(up_status.reachable);
    assert!(up_status.rtt.is_some());
    assert!(!down_status.reachable);
    assert!(down_status.rtt.is_none());
    drop(silent_sock);
}
