//! Parses arbitrary bytes as a datagram, then exercises everything a server
//! does with a parsed message: validation, every typed header, a response,
//! serialization. None of it may panic; an unchanged message must serialize
//! to a prefix of its input, and a serialized message must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipjet_message::{HeaderName, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::parse(data.to_vec()) else {
        return;
    };
    let _ = msg.validate();
    let _ = msg
        .request_uri_parsed()
        .map(|u| u.map(|u| u.equivalent(&u)));
    for via in msg.vias().flatten() {
        let _ = (via.branch(), via.rport(), via.received(), via.check());
    }
    let _ = msg.from_header().map(|a| a.tag());
    let _ = msg.to_header().map(|a| a.display_name_unquoted());
    let _ = (
        msg.call_id(),
        msg.cseq(),
        msg.max_forwards(),
        msg.expires(),
        msg.min_expires(),
    );
    for c in msg.contacts().flatten() {
        let _ = (c.expires(), c.q(), c.check());
    }
    let _ = msg.routes().count() + msg.record_routes().count();
    for a in msg.authorizations().flatten() {
        let _ = (a.param("username"), a.check());
    }
    if let Ok(Some(ct)) = msg.content_type() {
        if let Some(b) = ct.boundary() {
            let _ = sipjet_message::multipart::decode(msg.body(), &b);
        }
    }
    let _ = msg.tokens(HeaderName::Supported).count();
    let bytes = msg.to_bytes();
    let skipped = data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    assert!(data[skipped..].starts_with(&bytes));
    if let Ok(resp) = Message::response_to(&msg, 400) {
        Message::parse(resp.to_bytes()).expect("a response we built parses");
    }
    let mut changed = msg.clone();
    if changed.add_header("X-Fuzz", "1").is_ok() {
        Message::parse(changed.to_bytes()).expect("a changed message parses again");
    }
});
