//! The client side of digest authentication over a real socket: a peer
//! that challenges the stack's request gets it again with credentials,
//! once per challenge, and a peer that keeps challenging gets its last
//! challenge handed back instead of a loop.

mod common;

use std::sync::{Arc, Mutex};

use common::{Peer, stack};
use sipjet_core::digest::{DigestAlgorithm, ResponseInput, ha1, response};
use sipjet_core::message::{AuthValue, HeaderName, Message};
use sipjet_core::{ClientCredential, Destination, DigestClient, Method, OutgoingRequest, Protocol};

fn reply(req: &Message, status: u16, challenge: Option<&str>) -> Vec<u8> {
    let mut r = Message::response_to(req, status).unwrap();
    if let Some(c) = challenge {
        r.add_header("WWW-Authenticate", c).unwrap();
    }
    r.to_bytes().to_vec()
}

fn checks_out(req: &Message, password: &str) -> bool {
    let Some(v) = req.header(HeaderName::Authorization) else {
        return false;
    };
    let c = AuthValue::parse(v).unwrap();
    let alg = DigestAlgorithm::parse(&c.param("algorithm").unwrap()).unwrap();
    let h1 = ha1(
        alg,
        &c.param("username").unwrap(),
        &c.param("realm").unwrap(),
        password,
    );
    let want = response(
        alg,
        &h1,
        &ResponseInput {
            nonce: &c.param("nonce").unwrap(),
            nc: c.param("nc").as_deref(),
            cnonce: c.param("cnonce").as_deref(),
            qop: c.param("qop").as_deref(),
            method: req.method().unwrap().as_str(),
            uri: &c.param("uri").unwrap(),
        },
    );
    c.param("uri").as_deref() == req.request_uri() && c.param("response").unwrap() == want
}

async fn recv_from(peer: &Peer) -> (Message, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(common::PATIENCE, peer.sock.recv_from(&mut buf))
        .await
        .expect("a request in time")
        .unwrap();
    (Message::parse(buf[..n].to_vec()).unwrap(), from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_is_answered_once_and_a_refusal_ends_it() {
    let client = stack();
    client.start().await.unwrap();
    let peer = Peer::new("127.0.0.1:9".parse().unwrap()).await;
    let target = format!("sip:provider@{}", peer.addr);
    let digest = Arc::new(Mutex::new(DigestClient::new(vec![
        ClientCredential::password("office", "s3cret"),
    ])));
    let dest = Destination::new(Protocol::Udp, peer.addr);

    // Answered: 401, then 200 for the request with the right credentials.
    let msg = client
        .build_request(
            &OutgoingRequest::new(Method::Register, &target),
            Protocol::Udp,
        )
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    client.send_message_authenticated(msg, dest.clone(), Arc::clone(&digest), None, move |r| {
        let _ = tx.send(r);
    });
    let (first, from) = recv_from(&peer).await;
    assert!(!first.has(HeaderName::Authorization));
    let ch = "Digest realm=\"provider.test\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"";
    peer.sock
        .send_to(&reply(&first, 401, Some(ch)), from)
        .await
        .unwrap();
    let (second, from) = recv_from(&peer).await;
    assert!(checks_out(&second, "s3cret"), "{second}");
    assert_eq!(second.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    assert_eq!(second.call_id().unwrap(), first.call_id().unwrap());
    assert_ne!(
        second.via().unwrap().branch(),
        first.via().unwrap().branch()
    );
    peer.sock
        .send_to(&reply(&second, 200, None), from)
        .await
        .unwrap();
    let done = tokio::time::timeout(common::PATIENCE, rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.unwrap().status(), Some(200));

    // Refused: the peer challenges the answer again with a fresh nonce.
    // The stack does not answer a second time; the 401 comes back.
    let msg = client
        .build_request(
            &OutgoingRequest::new(Method::Options, &target),
            Protocol::Udp,
        )
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    client.send_message_authenticated(msg, dest, digest, None, move |r| {
        let _ = tx.send(r);
    });
    let mut branches = Vec::new();
    while branches.len() < 2 {
        let (req, from) = recv_from(&peer).await;
        let branch = req.via().unwrap().branch().unwrap().to_string();
        if branches.contains(&branch) {
            // A retransmission of one already challenged.
            continue;
        }
        branches.push(branch);
        let ch = format!(
            "Digest realm=\"provider.test\", nonce=\"n{}\", qop=\"auth\"",
            branches.len()
        );
        peer.sock
            .send_to(&reply(&req, 401, Some(&ch)), from)
            .await
            .unwrap();
    }
    // Had the stack answered the second challenge, nobody would answer its
    // third request and no final response would come in time.
    let done = tokio::time::timeout(common::PATIENCE, rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.unwrap().status(), Some(401));
}
