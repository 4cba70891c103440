//! `--answer`: the far side of a measurement. A peer that answers every
//! request it receives on its address, standing in for phones:
//! - an INVITE with 100, 180 and 200 (with an answer SDP and the
//!   Record-Route echoed), all at once: a callee that picks up at once,
//!   so that the time from INVITE to 200 that the caller measures is the
//!   server's, not the callee's;
//! - an ACK with nothing;
//! - anything else (the OPTIONS of a qualify, a BYE) with `200 OK`.
//!
//! Over UDP, or over TCP, where it listens and answers on the connection
//! each request came on.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sipjet_message::{HeaderName, Message, Method};

use crate::wire::{is_timeout, read_frames};

/// How often a blocked receive or accept wakes to see whether the run is over.
const POLL: Duration = Duration::from_millis(50);

/// What was answered, shared by the connections.
#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    unanswerable: AtomicU64,
    /// For the To tags of the calls answered.
    calls: AtomicU64,
}

/// Answers for `duration`; returns how many requests were answered and how
/// many messages were not requests it could answer. The counts so far are
/// printed every second, so that a script may stop it at any time.
pub fn answer(bind: SocketAddr, tcp: bool, duration: Duration) -> io::Result<(u64, u64)> {
    let counts = Arc::new(Counts::default());
    let end = Instant::now() + duration;
    if tcp {
        answer_tcp(bind, end, &counts)?;
    } else {
        answer_udp(bind, end, &counts)?;
    }
    Ok((
        counts.answered.load(Ordering::Relaxed),
        counts.unanswerable.load(Ordering::Relaxed),
    ))
}

fn show(counts: &Counts) {
    println!(
        "answered={} unanswerable={}",
        counts.answered.load(Ordering::Relaxed),
        counts.unanswerable.load(Ordering::Relaxed)
    );
}

fn answer_udp(bind: SocketAddr, end: Instant, counts: &Counts) -> io::Result<()> {
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(POLL))?;
    let contact = format!("<sip:{};transport=udp>", socket.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    let mut shown = Instant::now();
    while Instant::now() < end {
        if shown.elapsed() >= Duration::from_secs(1) {
            show(counts);
            shown = Instant::now();
        }
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        };
        for response in responses(&buf[..n], &contact, counts) {
            socket.send_to(&response, from)?;
        }
    }
    Ok(())
}

fn answer_tcp(bind: SocketAddr, end: Instant, counts: &Arc<Counts>) -> io::Result<()> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::STREAM,
        None,
    )?;
    // The address may have just registered from this port over a
    // connection now in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&bind.into())?;
    socket.listen(1024)?;
    let listener: TcpListener = socket.into();
    listener.set_nonblocking(true)?;
    let contact = format!("<sip:{};transport=tcp>", listener.local_addr()?);
    let closed = Arc::new(AtomicBool::new(false));
    let mut shown = Instant::now();
    while Instant::now() < end {
        if shown.elapsed() >= Duration::from_secs(1) {
            show(counts);
            shown = Instant::now();
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let (counts, closed, contact) =
                    (Arc::clone(counts), Arc::clone(&closed), contact.clone());
                std::thread::spawn(move || serve(stream, &contact, &counts, &closed));
            }
            Err(e) if is_timeout(&e) => std::thread::sleep(POLL / 5),
            Err(e) => return Err(e),
        }
    }
    closed.store(true, Ordering::Relaxed);
    Ok(())
}

/// Answers the requests of one connection.
fn serve(stream: TcpStream, contact: &str, counts: &Counts, closed: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    read_frames(&stream, closed, &mut |bytes| {
        for response in responses(bytes, contact, counts) {
            if writer.write_all(&response).is_err() {
                return;
            }
        }
    });
}

/// The responses owed to one message, counted.
fn responses(bytes: &[u8], contact: &str, counts: &Counts) -> Vec<Vec<u8>> {
    let request = Message::parse(bytes.to_vec())
        .ok()
        .filter(|m| m.is_request());
    let answers = match &request {
        Some(r) if r.method() == Some(&Method::Ack) => Some(Vec::new()),
        Some(r) if r.method() == Some(&Method::Invite) => {
            let tag = format!("a{}", counts.calls.fetch_add(1, Ordering::Relaxed));
            pick_up(r, contact, &tag)
        }
        Some(r) => Message::response_to(r, 200).ok().map(|ok| vec![ok]),
        None => None,
    };
    match answers {
        Some(answers) => {
            counts.answered.fetch_add(1, Ordering::Relaxed);
            answers.iter().map(|m| m.to_bytes().to_vec()).collect()
        }
        None => {
            counts.unanswerable.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        }
    }
}

/// 100, 180 and 200 to an INVITE: the 180 and the 200 carry the dialog's
/// To tag, the Record-Route of the INVITE (RFC 3261 §12.1.1) and a
/// Contact; the 200 answers the offer.
fn pick_up(invite: &Message, contact: &str, tag: &str) -> Option<Vec<Message>> {
    let trying = Message::response_to(invite, 100).ok()?;
    let mut out = vec![trying];
    for code in [180, 200] {
        let mut r = Message::response_to_with(invite, code, None, Some(tag)).ok()?;
        for rr in invite.headers(HeaderName::RecordRoute) {
            r.add_header("Record-Route", rr).ok()?;
        }
        r.add_header("Contact", contact).ok()?;
        if code == 200 {
            r.set_body("application/sdp", ANSWER_SDP.as_bytes().to_vec())
                .ok()?;
        }
        out.push(r);
    }
    Some(out)
}

/// What the callee offers back; no media flows in a signalling measurement.
const ANSWER_SDP: &str = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@127.0.0.1:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5064;branch=z9hG4bKc1\r\n\
Record-Route: <sip:127.0.0.1:5060;lr>\r\n\
From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: c1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";

    fn parse(bytes: &[u8]) -> Message {
        Message::parse(bytes.to_vec()).unwrap()
    }

    #[test]
    fn an_invite_is_picked_up_in_one_dialog() {
        let counts = Counts::default();
        let out: Vec<Message> = responses(INVITE, "<sip:127.0.0.1:5062>", &counts)
            .iter()
            .map(|b| parse(b))
            .collect();
        let codes: Vec<u16> = out.iter().filter_map(|m| m.status()).collect();
        assert_eq!(codes, [100, 180, 200]);
        let tags: Vec<String> = out[1..]
            .iter()
            .map(|m| m.to_header().unwrap().tag().unwrap().to_string())
            .collect();
        assert_eq!(tags[0], tags[1]);
        for m in &out[1..] {
            assert_eq!(
                m.header(HeaderName::RecordRoute),
                Some("<sip:127.0.0.1:5060;lr>")
            );
            assert_eq!(m.header(HeaderName::Contact), Some("<sip:127.0.0.1:5062>"));
            assert_eq!(m.vias().count(), 2);
        }
        assert!(out[2].body().starts_with(b"v=0"));
        assert_eq!(counts.answered.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_ack_gets_nothing_and_a_bye_200() {
        let counts = Counts::default();
        let ack = String::from_utf8(INVITE.to_vec())
            .unwrap()
            .replace("INVITE", "ACK");
        assert!(responses(ack.as_bytes(), "<sip:h>", &counts).is_empty());
        let bye = String::from_utf8(INVITE.to_vec())
            .unwrap()
            .replace("INVITE", "BYE");
        let out = responses(bye.as_bytes(), "<sip:h>", &counts);
        assert_eq!(parse(&out[0]).status(), Some(200));
        assert!(responses(b"SIP/2.0 200 OK\r\n\r\n", "<sip:h>", &counts).is_empty());
        assert_eq!(counts.answered.load(Ordering::Relaxed), 2);
        assert_eq!(counts.unanswerable.load(Ordering::Relaxed), 1);
    }
}
